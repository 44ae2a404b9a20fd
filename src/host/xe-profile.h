/* xe-profile.h: a VF's provisioning profile: scheduling (exec quantum,
 * preemption timeout, priority) and resources (VRAM, GGTT, contexts,
 * doorbells), read from and applied to the PF's sriov_admin sysfs and
 * debugfs files, and compared between a source and a destination VF.
 *
 * Applying is all or nothing: every file is read first, each write is read
 * back, and on any failure the files already written get their old values
 * back before the error is returned.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-host.h"

G_BEGIN_DECLS

typedef enum {
    XE_PRIORITY_LOW = 0,
    XE_PRIORITY_NORMAL = 1,
    XE_PRIORITY_HIGH = 2, /* PF only */
} XePriority;

typedef enum {
    XE_PROFILE_EXEC_QUANTUM = 1 << 0,
    XE_PROFILE_PREEMPT_TIMEOUT = 1 << 1,
    XE_PROFILE_SCHED_PRIORITY = 1 << 2,
    XE_PROFILE_VRAM = 1 << 3,
    XE_PROFILE_GGTT = 1 << 4,
    XE_PROFILE_CONTEXTS = 1 << 5,
    XE_PROFILE_DOORBELLS = 1 << 6,
    XE_PROFILE_IDENTITY = 1 << 7, /* device_id and revision: read only */
} XeProfileField;

typedef struct {
    guint set; /* XeProfileField: the members that carry a value */
    guint64 exec_quantum_ms;
    guint64 preempt_timeout_us;
    XePriority sched_priority;
    guint64 vram_quota;      /* bytes, per tile */
    guint64 ggtt_quota;      /* bytes, per tile */
    guint64 contexts_quota;  /* per GT */
    guint64 doorbells_quota; /* per GT */
    guint device_id;
    guint revision;
} XeProfile;

/* A byte count: digits with an optional K, M, G or T (binary) suffix. */
gboolean xe_size_parse(const char *text, guint64 *out);

/* "exec_quantum_ms=20,preempt_timeout_us=64000,sched_priority=normal,vram_quota=2G,..."
 * (commas or white space between pairs; sizes take K, M, G suffixes). */
XeProfile *xe_profile_parse(const char *text, GError **error);
/* The same syntax, in a fixed order; identity included when set. */
char *xe_profile_to_string(const XeProfile *profile);
void xe_profile_free(XeProfile *profile);

/* Reads the whole profile of an enabled VF (identity included). A value that
 * differs across GTs is an XE_ERROR_BAD_DATA error. */
XeProfile *xe_host_read_profile(XeHost *host, const char *vf_bdf, GError **error);
/* Applies the members set in @profile; all or nothing (see above). */
gboolean xe_host_apply_profile(XeHost *host, const char *vf_bdf, const XeProfile *profile,
                               GError **error);

/* Whether VF state saved with @src can be restored into a VF provisioned as
 * @dst, as the kernel checks at restore: same device and revision, the same
 * GGTT size exactly, at least as much VRAM, contexts and doorbells. FALSE with
 * XE_ERROR_INCOMPATIBLE whose message starts with the reason code
 * ("device-id", "revision", "ggtt", "vram", "contexts", "doorbells",
 * "unknown") and says both values. Members missing from @src are not checked;
 * a member @src has and @dst lacks is "unknown". */
gboolean xe_profile_check_compatible(const XeProfile *src, const XeProfile *dst, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeProfile, xe_profile_free)

G_END_DECLS
