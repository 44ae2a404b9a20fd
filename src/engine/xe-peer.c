/* xe-peer.c: D-Bus to another host's daemon over a transport command.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-peer"

#include "xe-peer.h"

#include "xe-bus.h"
#include "xe-error.h"

#define IFACE_MANAGER  XE_BUS_NAME ".Manager"
#define IFACE_INCOMING XE_BUS_NAME ".Incoming"

struct _XePeer {
    char *host;
    GSubprocess *process;
    GDBusConnection *connection;
};

void
xe_peer_free(XePeer *peer)
{
    if (peer == NULL)
        return;
    xe_peer_close(peer);
    g_clear_object(&peer->connection);
    g_clear_object(&peer->process);
    g_free(peer->host);
    g_free(peer);
}

void
xe_peer_close(XePeer *peer)
{
    if (peer->connection != NULL && !g_dbus_connection_is_closed(peer->connection))
        (void)g_dbus_connection_close_sync(peer->connection, NULL, NULL);
    if (peer->process != NULL)
        g_subprocess_force_exit(peer->process);
}

const char *
xe_peer_get_host(XePeer *peer)
{
    return peer->host;
}

gboolean
xe_peer_is_connected(XePeer *peer)
{
    return peer->connection != NULL && !g_dbus_connection_is_closed(peer->connection);
}

static void
connect_timed_out(GCancellable *cancellable, gpointer data)
{
    g_cancellable_cancel(data);
}

XePeer *
xe_peer_connect(const char *const *transport, const char *host, guint timeout_ms,
                GCancellable *cancellable, GError **error)
{
    g_autoptr(XePeer) peer = g_new0(XePeer, 1);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GCancellable) attempt = g_cancellable_new();
    g_autoptr(GSource) timer = NULL;
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
    GError *local = NULL;
    gulong id = 0;

    peer->host = g_strdup(host);
    for (guint i = 0; transport[i] != NULL; i++) {
        g_auto(GStrv) parts = g_strsplit(transport[i], "{host}", -1);
        g_autofree char *joined = g_strjoinv(host, parts);

        g_strv_builder_add(b, joined);
    }
    argv = g_strv_builder_end(b);
    peer->process =
        g_subprocess_newv((const char *const *)argv,
                          G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &local);
    if (peer->process == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "cannot run the transport to %s (%s): %s",
                    host, argv[0], local->message);
        g_error_free(local);
        return NULL;
    }
    stream = g_simple_io_stream_new(g_subprocess_get_stdout_pipe(peer->process),
                                    g_subprocess_get_stdin_pipe(peer->process));
    /* The handshake may hang on a transport that never answers: bound it. */
    if (cancellable != NULL)
        id = g_cancellable_connect(cancellable, G_CALLBACK(connect_timed_out),
                                   g_object_ref(attempt), g_object_unref);
    timer = g_timeout_source_new(timeout_ms);
    g_source_set_callback(timer, (GSourceFunc)(void (*)(void))g_cancellable_cancel, attempt, NULL);
    g_source_attach(timer, context);
    peer->connection =
        g_dbus_connection_new_sync(stream, NULL,
                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                   NULL, attempt, &local);
    g_source_destroy(timer);
    g_cancellable_disconnect(cancellable, id);
    if (peer->connection == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "cannot reach xe-migrated on %s via '%s': %s",
                    host, argv[0],
                    g_cancellable_is_cancelled(attempt) && !g_cancellable_is_cancelled(cancellable)
                        ? "no D-Bus handshake in time"
                        : local->message);
        g_error_free(local);
        return NULL;
    }
    g_dbus_connection_set_exit_on_close(peer->connection, FALSE);
    return g_steal_pointer(&peer);
}

static GVariant *
peer_call(XePeer *peer, const char *path, const char *iface, const char *method, GVariant *args,
          const char *reply_type, guint timeout_ms, GCancellable *cancellable, GError **error)
{
    GError *local = NULL;
    GVariant *reply;

    if (!xe_peer_is_connected(peer)) {
        if (args != NULL)
            g_variant_unref(g_variant_ref_sink(args));
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "the transport to %s is closed", peer->host);
        return NULL;
    }
    reply = g_dbus_connection_call_sync(peer->connection, XE_BUS_NAME, path, iface, method, args,
                                        G_VARIANT_TYPE(reply_type), G_DBUS_CALL_FLAGS_NONE,
                                        (int)timeout_ms, cancellable, &local);
    if (reply == NULL) {
        /* A named xe-migrated error comes back as XE_ERROR; keep the peer's words. */
        g_dbus_error_strip_remote_error(local);
        g_prefix_error(&local, "%s on %s: ", method, peer->host);
        g_propagate_error(error, local);
    }
    return reply;
}

GVariant *
xe_peer_prepare_incoming(XePeer *peer, GVariant *spec, const char *profile, GVariant *options,
                         guint timeout_ms, GCancellable *cancellable, GError **error)
{
    g_autoptr(GVariant) reply = peer_call(peer, XE_OBJECT_ROOT, IFACE_MANAGER, "PrepareIncoming",
                                          g_variant_new("(@a{sv}s@a{sv})", spec, profile, options),
                                          "(a{sv})", timeout_ms, cancellable, error);
    GVariant *out;

    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(@a{sv})", &out);
    return out;
}

gboolean
xe_peer_incoming_finish(XePeer *peer, const char *incoming, guint timeout_ms,
                        GCancellable *cancellable, GError **error)
{
    g_autoptr(GVariant) reply =
        peer_call(peer, incoming, IFACE_INCOMING, "Finish", g_variant_new("(u)", timeout_ms), "()",
                  timeout_ms + 5000, cancellable, error);

    return reply != NULL;
}

gboolean
xe_peer_incoming_abort(XePeer *peer, const char *incoming, guint timeout_ms, GError **error)
{
    g_autoptr(GVariant) reply =
        peer_call(peer, incoming, IFACE_INCOMING, "Abort", NULL, "()", timeout_ms, NULL, error);

    return reply != NULL;
}

gboolean
xe_peer_runs_vm(XePeer *peer, const char *name, guint timeout_ms, GError **error)
{
    g_autofree char *path = xe_bus_object_path("vm", name);
    g_autoptr(GError) local = NULL;
    g_autoptr(GVariant) reply = peer_call(peer, path, "org.freedesktop.DBus.Properties", "Get",
                                          g_variant_new("(ss)", XE_BUS_NAME ".VM", "State"), "(v)",
                                          timeout_ms, NULL, &local);
    g_autoptr(GVariant) state = NULL;

    if (reply == NULL) {
        /* no such object: no such VM there */
        if (g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE) ||
            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS))
            return FALSE;
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_variant_get(reply, "(v)", &state);
    return g_str_equal(g_variant_get_string(state, NULL), "running");
}

GVariant *
xe_peer_incoming_properties(XePeer *peer, const char *incoming, guint timeout_ms, GError **error)
{
    g_autoptr(GVariant) reply =
        peer_call(peer, incoming, "org.freedesktop.DBus.Properties", "GetAll",
                  g_variant_new("(s)", IFACE_INCOMING), "(a{sv})", timeout_ms, NULL, error);
    GVariant *out;

    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(@a{sv})", &out);
    return out;
}

char *
xe_peer_prepare_incoming_domain(XePeer *peer, const char *xml, guint timeout_ms,
                                GCancellable *cancellable, char **libvirt_uri, GError **error)
{
    GVariantBuilder options;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) info = NULL;
    char *out = NULL;

    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&options, "{sv}", "timeout-ms", g_variant_new_uint32(timeout_ms));
    /* the peer gives up (and gives back) a second before this call would */
    reply = peer_call(peer, XE_OBJECT_ROOT, IFACE_MANAGER, "PrepareIncomingDomain",
                      g_variant_new("(s@a{sv})", xml, g_variant_builder_end(&options)), "(sa{sv})",
                      timeout_ms, cancellable, error);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(s@a{sv})", &out, &info);
    if (!g_variant_lookup(info, "libvirt-uri", "s", libvirt_uri))
        *libvirt_uri = g_strdup("");
    return out;
}

gboolean
xe_peer_abort_incoming_domain(XePeer *peer, const char *xml, guint timeout_ms, GError **error)
{
    g_autoptr(GVariant) reply =
        peer_call(peer, XE_OBJECT_ROOT, IFACE_MANAGER, "AbortIncomingDomain",
                  g_variant_new("(s)", xml), "()", timeout_ms, NULL, error);

    return reply != NULL;
}

char *
xe_peer_domain_state(XePeer *peer, const char *name, guint timeout_ms, GError **error)
{
    g_autoptr(GVariant) reply =
        peer_call(peer, XE_OBJECT_ROOT, IFACE_MANAGER, "DomainState", g_variant_new("(s)", name),
                  "(s)", timeout_ms, NULL, error);
    char *state;

    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(s)", &state);
    return state;
}
