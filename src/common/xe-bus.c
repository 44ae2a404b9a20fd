/* xe-bus.c: connecting to the bus xe-migrated and xe-migratectl share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-bus"

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
    g_autoptr(GString) element = g_string_new(NULL);
    gboolean bdf = g_str_equal(kind, "pf") || g_str_equal(kind, "vf");

    /* An object path element is [A-Za-z0-9_]. A PCI address has one fixed shape, so
     * "0000:03:00.1" -> "0000_03_00_1" is one to one; any other name escapes every byte
     * outside [A-Za-z0-9] as _XX ("web-1" -> "web_2d1", "web_1" -> "web_5f1"): two names
     * never share an object. */
    for (const char *c = id; *c != '\0'; c++) {
        if (g_ascii_isalnum(*c))
            g_string_append_c(element, *c);
        else if (bdf)
            g_string_append_c(element, '_');
        else
            g_string_append_printf(element, "_%02x", (guchar)*c);
    }
    if (element->len == 0)
        g_string_append_c(element, '_');
    return g_strdup_printf(XE_OBJECT_ROOT "/%s/%s", kind, element->str);
}
