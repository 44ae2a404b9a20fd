/* xe-migrated-libvirt-hook: libvirt's qemu hook for domains with Xe VFs, installed in
 * /usr/sbin and linked as /etc/libvirt/hooks/qemu.d/xe-migrated-libvirt-hook
 * (xe-migrated-libvirt-hook(8)).
 *
 *   xe-migrated-libvirt-hook [--bus BUS] [--timeout-ms MS] DOMAIN OPERATION SUB EXTRA < XML
 *
 * libvirt runs it synchronously inside the domain's job, with the domain XML on stdin; for
 * migrate and restore what it prints replaces that XML. It never calls libvirt (that would
 * wait on the job it runs in); it asks the host's xe-migrated (Manager.LibvirtHook), within a
 * deadline, and prints the XML the daemon returns. A domain whose XML does not carry
 * xe-migrated's metadata is none of its business: the hook exits 0 at once, printing nothing,
 * whether the daemon runs or not. A refusal exits 1 with one line on stderr saying what,
 * where and why; libvirt shows it to the user and the operation stops (a migration before
 * anything moved: the domain keeps running on its source).
 *
 * Exit codes: 0 done (or nothing to do; and reconnect always, see refuse()), 1 refused or
 * the daemon unreachable, 2 usage.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "xe-bus.h"

#define XMLNS        "urn:xe-migrated:libvirt:1"
#define MAX_XML      (4u << 20) /* a domain's XML is a few KiB; refuse what is not */
#define DEFAULT_WAIT 10000

/* the operations that concern the daemon; the others (start, stopped, attach) do not */
static const char *const operations[] = { "migrate", "restore",   "prepare",
                                          "started", "reconnect", "release" };

static gboolean
concerns_daemon(const char *operation)
{
    for (guint i = 0; i < G_N_ELEMENTS(operations); i++)
        if (g_str_equal(operations[i], operation))
            return TRUE;
    return FALSE;
}

static char *
read_stdin(GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);
    char buf[65536];
    ssize_t n;

    while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        "cannot read the domain XML on stdin: %s", g_strerror(errno));
            return NULL;
        }
        if (text->len + (gsize)n > MAX_XML) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        "the domain XML on stdin is over %u bytes", MAX_XML);
            return NULL;
        }
        g_string_append_len(text, buf, n);
    }
    return g_string_free(g_steal_pointer(&text), FALSE);
}

/* One line: the daemon's words, without the D-Bus error name GIO puts in front. Returns the
 * exit status: 1, but 0 for reconnect (libvirt kills a domain whose reconnect hook fails, and
 * a running VM is never lost over bookkeeping). A failed release stays 1 (libvirt logs it and
 * goes on); the VF stays reserved, and the operator is told how to free it. */
static int
refuse(const char *domain, const char *operation, GError *error)
{
    g_dbus_error_strip_remote_error(error);
    g_strdelimit(error->message, "\r\n", ' ');
    if (g_str_equal(operation, "reconnect")) {
        fprintf(stderr,
                "xe-migrated: domain %s, reconnect: %s (the domain keeps running; its "
                "VFs are not guarded until xe-migrated sees it again)\n",
                domain, error->message);
        return 0;
    }
    if (g_str_equal(operation, "release")) {
        fprintf(stderr,
                "xe-migrated: domain %s, release: %s (its VFs stay reserved: "
                "xe-migratectl reservations, then xe-migratectl release ID)\n",
                domain, error->message);
        return 1;
    }
    fprintf(stderr, "xe-migrated: domain %s, %s: %s\n", domain, operation, error->message);
    return 1;
}

int
main(int argc, char **argv)
{
    g_autofree char *bus = NULL;
    gint timeout_ms = DEFAULT_WAIT;
    GOptionEntry entries[] = { { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
                                 "system (default), session, or an address", "BUS" },
                               { "timeout-ms", 0, 0, G_OPTION_ARG_INT, &timeout_ms,
                                 "the longest to wait for the daemon (10000)", "MS" },
                               { NULL } };
    g_autoptr(GOptionContext) options = g_option_context_new("DOMAIN OPERATION SUB EXTRA");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) connection = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *xml = NULL;
    GVariantBuilder opts;
    const char *out;

    g_option_context_add_main_entries(options, entries, NULL);
    if (!g_option_context_parse(options, &argc, &argv, &error) || argc != 5 || timeout_ms <= 0) {
        fprintf(stderr,
                "xe-migrated-libvirt-hook: %s\nusage: %s [--bus BUS] [--timeout-ms MS] "
                "DOMAIN OPERATION SUB-OPERATION EXTRA < DOMAIN-XML\n",
                error != NULL ? error->message : "wrong arguments", argv[0]);
        return 2;
    }
    if (!concerns_daemon(argv[2]))
        return 0;
    xml = read_stdin(&error);
    if (xml == NULL) {
        return refuse(argv[1], argv[2], error);
    }
    if (strstr(xml, XMLNS) == NULL)
        return 0; /* not a domain xe-migrated looks after */
    connection = xe_bus_connect(bus, &error);
    if (connection == NULL) {
        g_prefix_error(&error, "cannot reach xe-migrated: ");
        return refuse(argv[1], argv[2], error);
    }
    /* the daemon keeps nothing it finishes after we gave up */
    g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&opts, "{sv}", "deadline",
                          g_variant_new_int64(g_get_monotonic_time() + (gint64)timeout_ms * 1000));
    reply = g_dbus_connection_call_sync(
        connection, XE_BUS_NAME, XE_OBJECT_ROOT, XE_BUS_NAME ".Manager", "LibvirtHook",
        g_variant_new("(sssssa{sv})", argv[1], argv[2], argv[3], argv[4], xml, &opts),
        G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, timeout_ms, NULL, &error);
    if (reply == NULL) {
        g_dbus_error_strip_remote_error(error);
        if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
            g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
            g_clear_error(&error);
            g_set_error(&error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                        "xe-migrated is not running on this host (nothing owns " XE_BUS_NAME
                        " on its bus)%s",
                        g_str_equal(argv[2], "release")
                            ? ""
                            : ", so no VF can be prepared for the domain: start "
                              "xe-migrated.service and try again");
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
            g_prefix_error(&error, "xe-migrated did not answer within %d ms: ", timeout_ms);
        }
        return refuse(argv[1], argv[2], error);
    }
    g_variant_get(reply, "(&s)", &out);
    if (*out != '\0' && (fputs(out, stdout) == EOF || fflush(stdout) == EOF)) {
        fprintf(stderr, "xe-migrated: domain %s, %s: cannot write the XML: %s\n", argv[1], argv[2],
                g_strerror(errno));
        return 1;
    }
    return 0;
}
