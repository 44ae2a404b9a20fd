/* xe-bus.c: connecting to the bus xe-migrated and xe-migratectl share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-bus.h"

GDBusConnection *
xe_bus_connect(const char *bus, GError **error)
{
    if (bus == NULL || g_str_equal(bus, "system"))
        return g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
    if (g_str_equal(bus, "session"))
        return g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
    return g_dbus_connection_new_for_address_sync(
        bus,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, error);
}

char *
xe_bus_object_path(const char *kind, const char *id)
{
    g_autofree char *mangled = g_strdup(id);

    /* An object path element is [A-Za-z0-9_]: "0000:03:00.1" -> "0000_03_00_1". */
    g_strcanon(mangled, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", '_');
    return g_strdup_printf(XE_OBJECT_ROOT "/%s/%s", kind, mangled);
}
