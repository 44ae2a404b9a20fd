/* xe-sysfs.h: the one root-aware helper through which every sysfs and
 * debugfs access goes (as power-profiles-daemon's ppd_utils_get_sysfs_path).
 *
 * A root of "/" is the real machine; any other root (a test's xe-sim mount)
 * is prefixed to every path, and nothing else differs. Reads are bounded;
 * a write is one write() call, as sysfs takes it, and a refusal becomes an
 * XE_ERROR_KERNEL with the errno, the file, the value and a hint.
 *
 * These calls block (sysfs writes can take long: unbinding waits for a
 * driver's remove): the daemon runs them off its main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_SYSFS_MAX_READ (64 * 1024)

typedef struct _XeSysfs XeSysfs;

XeSysfs *xe_sysfs_new(const char *root);
XeSysfs *xe_sysfs_ref(XeSysfs *sysfs);
void xe_sysfs_unref(XeSysfs *sysfs);
const char *xe_sysfs_get_root(XeSysfs *sysfs);

/* The host path for @rel ("sys/bus/pci/devices/..."), under the root. */
char *xe_sysfs_path(XeSysfs *sysfs, const char *rel);

gboolean xe_sysfs_exists(XeSysfs *sysfs, const char *rel);
/* The whole content without its trailing newline. */
char *xe_sysfs_read(XeSysfs *sysfs, const char *rel, GError **error);
/* A decimal or 0x-hex unsigned value. */
gboolean xe_sysfs_read_u64(XeSysfs *sysfs, const char *rel, guint64 *out, GError **error);
/* Writes @value (a newline is added unless present) in one write(). */
gboolean xe_sysfs_write(XeSysfs *sysfs, const char *rel, const char *value, GError **error);
gboolean xe_sysfs_write_u64(XeSysfs *sysfs, const char *rel, guint64 value, GError **error);
/* The last component of a symlink's target, or NULL (and no error) when the
 * link does not exist: "driver" -> "xe-vfio-pci". */
char *xe_sysfs_link_name(XeSysfs *sysfs, const char *rel, GError **error);
/* Names in a directory, sorted; NULL with @error if it cannot be listed. */
GStrv xe_sysfs_list(XeSysfs *sysfs, const char *rel, GError **error);

/* The hint for a refusal of a write to a file named @name with @errnum. */
const char *xe_sysfs_hint(const char *name, int errnum);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeSysfs, xe_sysfs_unref)

G_END_DECLS
