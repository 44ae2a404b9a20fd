/* xe-qmp-client.h: an asynchronous QMP client on the GLib main loop.
 *
 * Connects to QEMU's monitor (unix:PATH or tcp:HOST:PORT, or any GIOStream),
 * reads the greeting, negotiates capabilities, then runs commands matched to
 * their replies by id (replies may come in any order), each with a timeout and
 * a GCancellable, and delivers events to "event" handlers. Nothing blocks: all
 * I/O is asynchronous, and the peer is untrusted: see xe-qmp-stream.h for the
 * bounds on what it may send.
 *
 * A connected client keeps itself alive until the peer goes away or
 * xe_qmp_client_close() is called; either way "disconnected" is emitted once
 * with the reason, and every pending command fails with that reason.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-qmp-error.h"

G_BEGIN_DECLS

#define XE_QMP_DEFAULT_COMMAND_TIMEOUT_MS  30000u
#define XE_QMP_DEFAULT_GREETING_TIMEOUT_MS 10000u

#define XE_TYPE_QMP_CLIENT (xe_qmp_client_get_type())
G_DECLARE_FINAL_TYPE(XeQmpClient, xe_qmp_client, XE, QMP_CLIENT, GObject)

/* QEMU's version, from the greeting or query-version. */
typedef struct {
    int major;
    int minor;
    int micro;
    char *package;
} XeQmpVersion;

XeQmpClient *xe_qmp_client_new(void);

/* Opens a connection to @address, "unix:/path/to/socket" or "tcp:HOST:PORT"
 * ("tcp:[::1]:4444" for IPv6), and completes once capabilities are negotiated. */
void xe_qmp_client_connect_async(XeQmpClient *self, const char *address, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
/* Same over an already connected stream (a socketpair end, say). */
void xe_qmp_client_connect_stream_async(XeQmpClient *self, GIOStream *stream,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean xe_qmp_client_connect_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* Closes the connection: pending commands fail with XE_QMP_ERROR_DISCONNECTED
 * and "disconnected" is emitted (once per connection). Safe to call twice.
 * While connecting (socket connect, greeting or qmp_capabilities in flight),
 * the connect fails at once with XE_QMP_ERROR_DISCONNECTED ("closed by the
 * client") and the client stays closed, whatever the peer does next. */
void xe_qmp_client_close(XeQmpClient *self);

gboolean xe_qmp_client_is_connected(XeQmpClient *self);
/* Valid once connected: the greeting's version and capabilities ("oob"). */
const XeQmpVersion *xe_qmp_client_get_version(XeQmpClient *self);
const char *const *xe_qmp_client_get_greeting_capabilities(XeQmpClient *self);

/* Runs @command with @arguments (may be NULL; not modified). @timeout_ms 0
 * uses the "command-timeout" property. The result is QMP's "return" value. */
void xe_qmp_client_execute_async(XeQmpClient *self, const char *command, JsonObject *arguments,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
JsonNode *xe_qmp_client_execute_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* Number of commands sent and not yet answered, timed out or cancelled.
 * A command that timed out or was cancelled is forgotten, and its late reply
 * dropped: the client remembers the last 1024 such commands, and drops a late
 * reply to an older one as well. */
guint xe_qmp_client_get_n_pending(XeQmpClient *self);

void xe_qmp_version_clear(XeQmpVersion *version);

G_END_DECLS
