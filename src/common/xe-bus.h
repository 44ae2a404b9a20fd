/* xe-bus.h: the bus xe-migrated and xe-migratectl talk on: "system" (the
 * default), "session", or a bus address (a test's private dbus-daemon).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define XE_BUS_NAME    "org.xemigrated.XeMigrated1"
#define XE_OBJECT_ROOT "/org/xemigrated/XeMigrated1"

/* @bus: NULL or "system", "session", or an address like unix:path=/run/x. */
GDBusConnection *xe_bus_connect(const char *bus, GError **error);

/* The object of a PF, VF, VM, job or incoming, one per name: ("vf", "0000:03:00.1") ->
 * XE_OBJECT_ROOT/vf/0000_03_00_1; ("vm", "web-1") -> XE_OBJECT_ROOT/vm/web_2d1 (outside
 * PCI addresses, every byte a path element cannot hold, and '_', becomes _XX). */
char *xe_bus_object_path(const char *kind, const char *id);

G_END_DECLS
