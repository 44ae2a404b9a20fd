/* xe-qmp-client.c: the QMP connection: greeting, negotiation, ids, timeouts,
 * events and disconnection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-client"

#include "xe-qmp-client.h"
#include "xe-qmp-private.h"

#include <gio/gunixsocketaddress.h>

#include "xe-qmp-stream.h"

/* utilities */
static void client_disconnect(XeQmpClient *self, GError *reason);
static void client_read_next(XeQmpClient *self);
static void client_write_next(XeQmpClient *self);
static void client_send(XeQmpClient *self, const char *command, JsonObject *arguments,
                        guint timeout_ms, GCancellable *cancellable, GTask *task);
static gboolean client_on_message(JsonObject *message, gpointer user_data);

#define READ_CHUNK  (64u * 1024)
#define TRACE_LIMIT 512
#define ID_PREFIX   "xe-"

typedef enum {
    STATE_IDLE,        /* never connected */
    STATE_CONNECTING,  /* socket connect in progress */
    STATE_GREETING,    /* waiting for the QMP greeting */
    STATE_NEGOTIATING, /* qmp_capabilities sent */
    STATE_CONNECTED,
    STATE_CLOSED,
} ClientState;

typedef struct {
    XeQmpClient *client; /* unowned: the client outlives its pending table */
    char *id;
    char *command;
    GTask *task;
    guint timeout_ms;
    GSource *timeout_source;
    GSource *cancel_source;
} PendingCommand;

struct _XeQmpClient {
    GObject parent_instance;

    /* properties */
    gsize max_message_size;
    guint max_depth;
    guint command_timeout_ms;
    guint greeting_timeout_ms;

    ClientState state;
    GIOStream *io;
    GInputStream *in;
    GOutputStream *out;
    GCancellable *io_cancellable; /* cancels our own reads and writes on close */
    gboolean reading;
    gboolean writing;
    guint8 *read_buf;
    XeQmpStream *stream;
    GQueue write_queue; /* GBytes, oldest first */

    GTask *connect_task;
    GSource *connect_cancel_source; /* watches the connect_async() cancellable */
    GSource *greeting_timeout;

    guint64 next_id;
    GHashTable *pending; /* id -> PendingCommand */
    /* Commands whose caller gave up (timed out, cancelled), answered late or
     * never: their late replies are dropped. Bounded by XE_QMP_MAX_ABANDONED,
     * oldest forgotten first, so that a QEMU that never answers cannot grow us. */
    GHashTable *abandoned;  /* id (borrowed from the queue) -> its link in abandoned_order */
    GQueue abandoned_order; /* the ids (owned), oldest first */
    guint64 forgotten_max;  /* highest id number forgotten (0: none) */

    XeQmpVersion version;
    GStrv greeting_caps;
};

enum {
    PROP_0,
    PROP_MAX_MESSAGE_SIZE,
    PROP_MAX_DEPTH,
    PROP_COMMAND_TIMEOUT,
    PROP_GREETING_TIMEOUT,
    PROP_CONNECTED,
    PROP_LAST
};
static GParamSpec *props[PROP_LAST];

enum { SIGNAL_EVENT, SIGNAL_DISCONNECTED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(XeQmpClient, xe_qmp_client, G_TYPE_OBJECT)

/* GObject */

static void
source_clear(GSource **source)
{
    if (*source == NULL)
        return;
    g_source_destroy(*source);
    g_clear_pointer(source, g_source_unref);
}

static void
pending_command_free(PendingCommand *pending)
{
    source_clear(&pending->timeout_source);
    source_clear(&pending->cancel_source);
    g_clear_object(&pending->task);
    g_free(pending->id);
    g_free(pending->command);
    g_free(pending);
}

void
xe_qmp_version_clear(XeQmpVersion *version)
{
    g_clear_pointer(&version->package, g_free);
    version->major = version->minor = version->micro = 0;
}

static void
xe_qmp_client_dispose(GObject *object)
{
    XeQmpClient *self = XE_QMP_CLIENT(object);

    if (self->state != STATE_CLOSED && self->state != STATE_IDLE) {
        g_autoptr(GError) reason =
            g_error_new_literal(XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED, "client disposed");
        client_disconnect(self, reason);
    }
    G_OBJECT_CLASS(xe_qmp_client_parent_class)->dispose(object);
}

static void
xe_qmp_client_finalize(GObject *object)
{
    XeQmpClient *self = XE_QMP_CLIENT(object);

    g_clear_object(&self->io);
    g_clear_object(&self->io_cancellable);
    g_queue_clear_full(&self->write_queue, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&self->stream, xe_qmp_stream_free);
    g_clear_pointer(&self->read_buf, g_free);
    g_clear_pointer(&self->pending, g_hash_table_unref);
    g_clear_pointer(&self->abandoned, g_hash_table_unref);
    g_queue_clear_full(&self->abandoned_order, g_free);
    xe_qmp_version_clear(&self->version);
    g_clear_pointer(&self->greeting_caps, g_strfreev);
    G_OBJECT_CLASS(xe_qmp_client_parent_class)->finalize(object);
}

static void
xe_qmp_client_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
    XeQmpClient *self = XE_QMP_CLIENT(object);

    switch (prop_id) {
    case PROP_MAX_MESSAGE_SIZE:
        g_value_set_uint64(value, self->max_message_size);
        break;
    case PROP_MAX_DEPTH:
        g_value_set_uint(value, self->max_depth);
        break;
    case PROP_COMMAND_TIMEOUT:
        g_value_set_uint(value, self->command_timeout_ms);
        break;
    case PROP_GREETING_TIMEOUT:
        g_value_set_uint(value, self->greeting_timeout_ms);
        break;
    case PROP_CONNECTED:
        g_value_set_boolean(value, self->state == STATE_CONNECTED);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void
xe_qmp_client_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
    XeQmpClient *self = XE_QMP_CLIENT(object);

    switch (prop_id) {
    case PROP_MAX_MESSAGE_SIZE:
        self->max_message_size = g_value_get_uint64(value);
        break;
    case PROP_MAX_DEPTH:
        self->max_depth = g_value_get_uint(value);
        break;
    case PROP_COMMAND_TIMEOUT:
        self->command_timeout_ms = g_value_get_uint(value);
        break;
    case PROP_GREETING_TIMEOUT:
        self->greeting_timeout_ms = g_value_get_uint(value);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    }
}

static void
xe_qmp_client_init(XeQmpClient *self)
{
    self->max_message_size = XE_QMP_STREAM_DEFAULT_MAX_MESSAGE_SIZE;
    self->max_depth = XE_QMP_STREAM_DEFAULT_MAX_DEPTH;
    self->command_timeout_ms = XE_QMP_DEFAULT_COMMAND_TIMEOUT_MS;
    self->greeting_timeout_ms = XE_QMP_DEFAULT_GREETING_TIMEOUT_MS;
    self->state = STATE_IDLE;
    self->next_id = 1;
    g_queue_init(&self->write_queue);
    self->pending =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)pending_command_free);
    self->abandoned = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&self->abandoned_order);
}

static void
xe_qmp_client_class_init(XeQmpClientClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = xe_qmp_client_dispose;
    object_class->finalize = xe_qmp_client_finalize;
    object_class->get_property = xe_qmp_client_get_property;
    object_class->set_property = xe_qmp_client_set_property;

    props[PROP_MAX_MESSAGE_SIZE] = g_param_spec_uint64(
        "max-message-size", NULL, "Largest message accepted from the peer, in bytes", 1024,
        G_MAXSIZE, XE_QMP_STREAM_DEFAULT_MAX_MESSAGE_SIZE,
        G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
    props[PROP_MAX_DEPTH] = g_param_spec_uint(
        "max-depth", NULL, "Deepest nesting of objects and arrays accepted from the peer", 2, 1024,
        XE_QMP_STREAM_DEFAULT_MAX_DEPTH,
        G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
    props[PROP_COMMAND_TIMEOUT] =
        g_param_spec_uint("command-timeout", NULL, "Default command timeout in milliseconds", 1,
                          G_MAXUINT, XE_QMP_DEFAULT_COMMAND_TIMEOUT_MS,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
    props[PROP_GREETING_TIMEOUT] = g_param_spec_uint(
        "greeting-timeout", NULL, "How long to wait for the QMP greeting, in milliseconds", 1,
        G_MAXUINT, XE_QMP_DEFAULT_GREETING_TIMEOUT_MS,
        G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
    props[PROP_CONNECTED] =
        g_param_spec_boolean("connected", NULL, "Negotiated and not yet disconnected", FALSE,
                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, PROP_LAST, props);

    /* XeQmpClient::event: (name, data, timestamp in microseconds since the
     * epoch or -1). Detailed by event name: "event::MIGRATION". data is an
     * empty object when the event has none. */
    signals[SIGNAL_EVENT] =
        g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0,
                     NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                     JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT64);
    /* XeQmpClient::disconnected: (reason), emitted once per connection. */
    signals[SIGNAL_DISCONNECTED] =
        g_signal_new("disconnected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

/* public methods */

XeQmpClient *
xe_qmp_client_new(void)
{
    return g_object_new(XE_TYPE_QMP_CLIENT, NULL);
}

/* utilities */

static gboolean
trace_enabled(void)
{
    return !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
}

static void
trace_message(const char *direction, const char *text, gsize len)
{
    if (len > TRACE_LIMIT)
        g_debug("%s %.*s... (%" G_GSIZE_FORMAT " bytes)", direction, TRACE_LIMIT, text, len);
    else
        g_debug("%s %.*s", direction, (int)len, text);
}

/* Fails every pending command with @reason and forgets them. */
static void
client_fail_pending(XeQmpClient *self, const GError *reason)
{
    GHashTableIter iter;
    PendingCommand *pending;
    g_autoptr(GPtrArray) failed =
        g_ptr_array_new_with_free_func((GDestroyNotify)pending_command_free);

    /* Take them all out first: a task's callback may call back into the client. */
    g_hash_table_iter_init(&iter, self->pending);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pending)) {
        g_hash_table_iter_steal(&iter);
        g_ptr_array_add(failed, pending);
    }
    for (guint i = 0; i < failed->len; i++) {
        pending = failed->pdata[i];
        source_clear(&pending->timeout_source);
        source_clear(&pending->cancel_source);
        g_task_return_new_error(pending->task, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED,
                                "%s: connection lost: %s", pending->command, reason->message);
    }
}

/* Completes the connect task, successfully when @error is NULL (taken). */
static void
client_connect_complete(XeQmpClient *self, GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&self->connect_task);

    source_clear(&self->connect_cancel_source);
    if (task == NULL)
        return;
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

static void
client_close_finished(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;

    if (!g_io_stream_close_finish(G_IO_STREAM(source), result, &error))
        g_debug("closing the QMP stream: %s", error->message);
}

/* Closes the stream once no read or write is outstanding on it. */
static void
client_maybe_close_stream(XeQmpClient *self)
{
    if (self->state != STATE_CLOSED || self->io == NULL || self->reading || self->writing)
        return;
    if (!g_io_stream_is_closed(self->io))
        g_io_stream_close_async(self->io, G_PRIORITY_DEFAULT, NULL, client_close_finished, NULL);
}

/* The one way out of a connection: every path that ends it comes here. */
static void
client_disconnect(XeQmpClient *self, GError *reason)
{
    g_autoptr(XeQmpClient) keep G_GNUC_UNUSED = g_object_ref(self); /* handlers may drop theirs */
    ClientState old_state = self->state;

    if (old_state == STATE_CLOSED)
        return;
    self->state = STATE_CLOSED;
    g_debug("disconnected: %s", reason->message);

    source_clear(&self->greeting_timeout);
    if (self->io_cancellable != NULL)
        g_cancellable_cancel(self->io_cancellable);
    /* Tell the peer at once, even while a read is still being cancelled. */
    if (G_IS_SOCKET_CONNECTION(self->io))
        (void)g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(self->io)), TRUE,
                                TRUE, NULL);
    g_queue_clear_full(&self->write_queue, (GDestroyNotify)g_bytes_unref);
    client_maybe_close_stream(self);

    client_fail_pending(self, reason);
    if (self->connect_task != NULL)
        client_connect_complete(self, g_error_copy(reason));
    if (old_state != STATE_IDLE && old_state != STATE_CONNECTING)
        g_signal_emit(self, signals[SIGNAL_DISCONNECTED], 0, reason);
    if (old_state == STATE_CONNECTED)
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_CONNECTED]);
}

static void G_GNUC_PRINTF(3, 4)
    client_disconnect_printf(XeQmpClient *self, XeQmpErrorCode code, const char *fmt, ...)
{
    va_list ap;
    g_autoptr(GError) reason = NULL;
    g_autofree char *message = NULL;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    reason = g_error_new_literal(XE_QMP_ERROR, code, message);
    client_disconnect(self, reason);
}

/* reading */

static void
client_read_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(XeQmpClient) self = user_data; /* the ref taken by client_read_next() */
    g_autoptr(GError) error = NULL;
    gssize n;

    n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
    self->reading = FALSE;

    if (self->state == STATE_CLOSED) {
        client_maybe_close_stream(self);
        return;
    }
    if (n < 0) {
        client_disconnect_printf(self, XE_QMP_ERROR_DISCONNECTED, "reading from QEMU: %s",
                                 error->message);
        return;
    }
    if (n == 0) {
        gsize partial = xe_qmp_stream_get_buffered(self->stream);

        if (partial > 0)
            client_disconnect_printf(
                self, XE_QMP_ERROR_DISCONNECTED,
                "QEMU closed the monitor connection in the middle of QMP message %" G_GUINT64_FORMAT
                " at byte %" G_GUINT64_FORMAT " (%" G_GSIZE_FORMAT " bytes of it received)%s",
                xe_qmp_stream_get_n_messages(self->stream) + 1,
                xe_qmp_stream_get_message_offset(self->stream), partial,
                self->state == STATE_GREETING ? ", before its greeting" : "");
        else
            client_disconnect_printf(self, XE_QMP_ERROR_DISCONNECTED,
                                     self->state == STATE_GREETING
                                         ? "QEMU closed the monitor before its greeting"
                                         : "QEMU closed the monitor connection");
        return;
    }
    if (!xe_qmp_stream_feed(self->stream, self->read_buf, (gsize)n, client_on_message, self,
                            &error)) {
        client_disconnect(self, error);
        return;
    }
    client_read_next(self);
}

static void
client_read_next(XeQmpClient *self)
{
    if (self->state == STATE_CLOSED || self->reading)
        return;
    self->reading = TRUE;
    g_input_stream_read_async(self->in, self->read_buf, READ_CHUNK, G_PRIORITY_DEFAULT,
                              self->io_cancellable, client_read_done, g_object_ref(self));
}

/* writing */

static void
client_write_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(XeQmpClient) self = user_data;
    g_autoptr(GError) error = NULL;

    self->writing = FALSE;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        if (self->state != STATE_CLOSED)
            client_disconnect_printf(self, XE_QMP_ERROR_DISCONNECTED, "writing to QEMU: %s",
                                     error->message);
        else
            client_maybe_close_stream(self);
        return;
    }
    g_bytes_unref(g_queue_pop_head(&self->write_queue));
    if (self->state == STATE_CLOSED)
        client_maybe_close_stream(self);
    else
        client_write_next(self);
}

static void
client_write_next(XeQmpClient *self)
{
    GBytes *bytes;
    gsize len;
    const void *data;

    if (self->writing || self->state == STATE_CLOSED)
        return;
    bytes = g_queue_peek_head(&self->write_queue);
    if (bytes == NULL)
        return;
    data = g_bytes_get_data(bytes, &len);
    self->writing = TRUE;
    g_output_stream_write_all_async(self->out, data, len, G_PRIORITY_DEFAULT, self->io_cancellable,
                                    client_write_done, g_object_ref(self));
}

/* commands */

static void
client_finish_pending(XeQmpClient *self, const char *id, JsonNode *ret, GError *error)
{
    PendingCommand *pending = g_hash_table_lookup(self->pending, id);
    g_autoptr(GTask) task = g_steal_pointer(&pending->task);

    g_hash_table_remove(self->pending, id);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, json_node_copy(ret), (GDestroyNotify)json_node_unref);
}

/* The number N of one of our ids, "xe-N"; 0 for any other string. */
static guint64
id_number(const char *id)
{
    guint64 n = 0;

    if (!g_str_has_prefix(id, ID_PREFIX) ||
        !g_ascii_string_to_unsigned(id + strlen(ID_PREFIX), 10, 1, G_MAXUINT64, &n, NULL))
        return 0;
    return n;
}

/* Remembers that the caller of @id gave up, so that its late reply is
 * dropped. Past XE_QMP_MAX_ABANDONED the oldest is forgotten; a reply to a
 * forgotten id is dropped as well (see client_on_reply()). */
static void
client_abandon(XeQmpClient *self, const char *id)
{
    if (g_queue_get_length(&self->abandoned_order) >= XE_QMP_MAX_ABANDONED) {
        g_autofree char *oldest = g_queue_pop_head(&self->abandoned_order);

        g_hash_table_remove(self->abandoned, oldest);
        self->forgotten_max = MAX(self->forgotten_max, id_number(oldest));
    }
    g_queue_push_tail(&self->abandoned_order, g_strdup(id));
    g_hash_table_insert(self->abandoned, self->abandoned_order.tail->data,
                        self->abandoned_order.tail);
}

/* TRUE when @id was abandoned (and is forgotten now: a reply comes once). */
static gboolean
client_take_abandoned(XeQmpClient *self, const char *id)
{
    GList *link = g_hash_table_lookup(self->abandoned, id);

    if (link == NULL)
        return FALSE;
    g_hash_table_remove(self->abandoned, id);
    g_free(link->data);
    g_queue_delete_link(&self->abandoned_order, link);
    return TRUE;
}

static gboolean
pending_timed_out(gpointer user_data)
{
    PendingCommand *pending = user_data;
    XeQmpClient *self = pending->client;
    GError *error =
        g_error_new(XE_QMP_ERROR, XE_QMP_ERROR_TIMEOUT, "%s: no reply from QEMU within %u ms",
                    pending->command, pending->timeout_ms);

    client_abandon(self, pending->id);
    client_finish_pending(self, pending->id, NULL, error);
    return G_SOURCE_REMOVE;
}

static gboolean
pending_cancelled(GCancellable *cancellable, gpointer user_data)
{
    PendingCommand *pending = user_data;
    XeQmpClient *self = pending->client;
    GError *error =
        g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: cancelled", pending->command);

    client_abandon(self, pending->id);
    client_finish_pending(self, pending->id, NULL, error);
    return G_SOURCE_REMOVE;
}

static void
client_send(XeQmpClient *self, const char *command, JsonObject *arguments, guint timeout_ms,
            GCancellable *cancellable, GTask *task)
{
    g_autoptr(JsonObject) message = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    PendingCommand *pending = g_new0(PendingCommand, 1);
    char *text;
    gsize len;

    pending->client = self;
    pending->id = g_strdup_printf(ID_PREFIX "%" G_GUINT64_FORMAT, self->next_id++);
    pending->command = g_strdup(command);
    pending->task = g_object_ref(task);

    json_object_set_string_member(message, "execute", command);
    if (arguments != NULL)
        json_object_set_object_member(message, "arguments", json_object_ref(arguments));
    json_object_set_string_member(message, "id", pending->id);
    json_node_set_object(node, message);
    text = json_to_string(node, FALSE);
    len = strlen(text);
    if (trace_enabled())
        trace_message("->", text, len);
    text = g_realloc(text, len + 1);
    text[len] = '\n';

    pending->timeout_ms = timeout_ms != 0 ? timeout_ms : self->command_timeout_ms;
    pending->timeout_source = g_timeout_source_new(pending->timeout_ms);
    g_source_set_callback(pending->timeout_source, pending_timed_out, pending, NULL);
    g_source_attach(pending->timeout_source, g_task_get_context(task));
    if (cancellable != NULL) {
        pending->cancel_source = g_cancellable_source_new(cancellable);
        g_source_set_callback(pending->cancel_source, G_SOURCE_FUNC(pending_cancelled), pending,
                              NULL);
        g_source_attach(pending->cancel_source, g_task_get_context(task));
    }
    g_hash_table_insert(self->pending, pending->id, pending);

    g_queue_push_tail(&self->write_queue, g_bytes_new_take(text, len + 1));
    client_write_next(self);
}

void
xe_qmp_client_execute_async(XeQmpClient *self, const char *command, JsonObject *arguments,
                            guint timeout_ms, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(XE_IS_QMP_CLIENT(self));
    g_return_if_fail(command != NULL);

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, XE_QMP_TAG(xe_qmp_client_execute_async));
    g_task_set_name(task, command);

    if (g_task_return_error_if_cancelled(task))
        return;
    if (self->state != STATE_CONNECTED) {
        g_task_return_new_error(task, XE_QMP_ERROR, XE_QMP_ERROR_NOT_CONNECTED,
                                "%s: not connected to QEMU", command);
        return;
    }
    client_send(self, command, arguments, timeout_ms, cancellable, task);
}

JsonNode *
xe_qmp_client_execute_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

guint
xe_qmp_client_get_n_pending(XeQmpClient *self)
{
    return g_hash_table_size(self->pending);
}

guint
xe_qmp_client_get_n_abandoned(XeQmpClient *self)
{
    return g_hash_table_size(self->abandoned);
}

/* incoming messages */

/* Ends the connection over the message being delivered: "QMP message N at
 * byte OFFSET: what", numbered and placed as the stream's own errors are. */
static void G_GNUC_PRINTF(2, 3) client_message_error(XeQmpClient *self, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    client_disconnect_printf(self, XE_QMP_ERROR_PROTOCOL,
                             "QMP message %" G_GUINT64_FORMAT " at byte %" G_GUINT64_FORMAT ": %s",
                             xe_qmp_stream_get_n_messages(self->stream),
                             xe_qmp_stream_get_message_offset(self->stream), what);
}

/* Why the "error" member of a reply is not {"class": string, "desc": string},
 * or NULL when it is. */
static char *
error_member_problem(JsonNode *err)
{
    JsonObject *eobj;

    if (!JSON_NODE_HOLDS_OBJECT(err))
        return g_strdup_printf("'error' is %s, expected an object", xe_qmp_node_kind(err));
    eobj = json_node_get_object(err);
    for (guint i = 0; i < 2; i++) {
        static const char *const names[] = { "class", "desc" };
        JsonNode *member = json_object_get_member(eobj, names[i]);

        if (member == NULL)
            return g_strdup_printf("'error' lacks '%s'", names[i]);
        if (json_node_get_value_type(member) != G_TYPE_STRING)
            return g_strdup_printf("'error.%s' is %s, expected a string", names[i],
                                   xe_qmp_node_kind(member));
    }
    return NULL;
}

static gboolean
client_on_reply(XeQmpClient *self, JsonObject *message)
{
    JsonNode *id_node = json_object_get_member(message, "id");
    JsonNode *ret = json_object_get_member(message, "return");
    JsonNode *err = json_object_get_member(message, "error");
    g_autofree char *problem = NULL;
    PendingCommand *pending;
    JsonObject *eobj;
    const char *id;

    if (id_node == NULL) {
        const char *desc = NULL;
        if (err != NULL && JSON_NODE_HOLDS_OBJECT(err))
            desc =
                json_object_get_string_member_with_default(json_node_get_object(err), "desc", NULL);
        client_message_error(self,
                             "reply without an id (QEMU sends those only for input it "
                             "could not parse)%s%s",
                             desc != NULL ? ": " : "", desc != NULL ? desc : "");
        return FALSE;
    }
    if (json_node_get_value_type(id_node) != G_TYPE_STRING) {
        client_message_error(self, "reply id is %s, not a string: we never send such ids",
                             xe_qmp_node_kind(id_node));
        return FALSE;
    }
    id = json_node_get_string(id_node);

    pending = g_hash_table_lookup(self->pending, id);
    if (pending == NULL) {
        guint64 n = id_number(id);

        if (client_take_abandoned(self, id)) {
            g_debug("late reply to %s, which timed out or was cancelled: ignored", id);
            return TRUE;
        }
        if (n != 0 && n <= self->forgotten_max) {
            g_debug("late reply to %s, one of more than %u abandoned commands: ignored", id,
                    XE_QMP_MAX_ABANDONED);
            return TRUE;
        }
        if (n != 0 && n < self->next_id)
            client_message_error(self, "duplicate reply: command '%s' was already answered", id);
        else
            client_message_error(self, "reply to '%.64s', a command that was never sent", id);
        return FALSE;
    }

    if (ret != NULL && err != NULL) {
        client_message_error(self,
                             "reply to '%s' (%s) is malformed: it has both 'return' and "
                             "'error'",
                             id, pending->command);
        return FALSE;
    }
    if (ret != NULL) {
        client_finish_pending(self, id, ret, NULL);
        return TRUE;
    }
    problem = error_member_problem(err);
    if (problem != NULL) {
        client_message_error(self, "reply to '%s' (%s) is malformed: %s", id, pending->command,
                             problem);
        return FALSE;
    }
    eobj = json_node_get_object(err);
    client_finish_pending(self, id, NULL,
                          xe_qmp_error_new_command_failed(
                              pending->command, json_object_get_string_member(eobj, "class"),
                              json_object_get_string_member(eobj, "desc")));
    return TRUE;
}

static gboolean
client_on_event(XeQmpClient *self, JsonObject *message)
{
    JsonNode *name_node = json_object_get_member(message, "event");
    JsonNode *data_node = json_object_get_member(message, "data");
    JsonNode *ts_node = json_object_get_member(message, "timestamp");
    g_autoptr(JsonObject) empty = NULL;
    JsonObject *data;
    const char *name;
    gint64 timestamp = -1;

    if (json_node_get_value_type(name_node) != G_TYPE_STRING) {
        client_message_error(self, "malformed event: 'event' is %s, expected a string",
                             xe_qmp_node_kind(name_node));
        return FALSE;
    }
    name = json_node_get_string(name_node);
    if (data_node != NULL && !JSON_NODE_HOLDS_OBJECT(data_node)) {
        client_message_error(self, "malformed event '%.64s': 'data' is %s, expected an object",
                             name, xe_qmp_node_kind(data_node));
        return FALSE;
    }
    if (ts_node != NULL && !JSON_NODE_HOLDS_OBJECT(ts_node)) {
        client_message_error(self, "malformed event '%.64s': 'timestamp' is %s, expected an object",
                             name, xe_qmp_node_kind(ts_node));
        return FALSE;
    }
    if (self->state != STATE_CONNECTED && self->state != STATE_NEGOTIATING) {
        client_message_error(self, "event before the greeting");
        return FALSE;
    }
    if (ts_node != NULL) {
        JsonObject *ts = json_node_get_object(ts_node);
        JsonNode *sec = json_object_get_member(ts, "seconds");
        JsonNode *usec = json_object_get_member(ts, "microseconds");

        /* A timestamp QEMU never sends is no reason to hang up: -1, unknown. */
        if (sec != NULL && usec != NULL && json_node_get_value_type(sec) == G_TYPE_INT64 &&
            json_node_get_value_type(usec) == G_TYPE_INT64 && json_node_get_int(sec) >= 0 &&
            json_node_get_int(sec) < G_MAXINT64 / G_USEC_PER_SEC - 1)
            timestamp = json_node_get_int(sec) * G_USEC_PER_SEC + json_node_get_int(usec);
    }
    if (data_node != NULL) {
        data = json_node_get_object(data_node);
    } else {
        empty = json_object_new();
        data = empty;
    }
    /* g_quark_try_string: a peer must not grow the quark table with invented
     * names; nobody can be subscribed to a name that has no quark yet. */
    g_signal_emit(self, signals[SIGNAL_EVENT], g_quark_try_string(name), name, data, timestamp);
    return self->state != STATE_CLOSED;
}

/* Member @name of @obj (at @path, for the message) when it is an object;
 * else NULL with *why set. */
static JsonObject *
greeting_object(JsonObject *obj, const char *path, const char *name, char **why)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (node == NULL) {
        *why = g_strdup_printf("'%s%s' is missing", path, name);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        *why =
            g_strdup_printf("'%s%s' is %s, expected an object", path, name, xe_qmp_node_kind(node));
        return NULL;
    }
    return json_node_get_object(node);
}

/* Reads the greeting into self->version and self->greeting_caps; NULL, or
 * why @message is not a greeting. */
static char *
greeting_parse(XeQmpClient *self, JsonObject *message)
{
    JsonObject *qmp, *version, *qemu;
    JsonNode *package, *caps;
    char *why = NULL;
    g_autoptr(GPtrArray) cap_names = g_ptr_array_new_with_free_func(g_free);

    if ((qmp = greeting_object(message, "", "QMP", &why)) == NULL ||
        (version = greeting_object(qmp, "QMP.", "version", &why)) == NULL ||
        (qemu = greeting_object(version, "QMP.version.", "qemu", &why)) == NULL)
        return why;
    for (guint i = 0; i < 3; i++) {
        static const char *const parts[] = { "major", "minor", "micro" };
        JsonNode *part = json_object_get_member(qemu, parts[i]);
        gint64 v;

        if (part == NULL)
            return g_strdup_printf("'QMP.version.qemu.%s' is missing", parts[i]);
        if (json_node_get_value_type(part) != G_TYPE_INT64)
            return g_strdup_printf("'QMP.version.qemu.%s' is %s, expected an integer", parts[i],
                                   xe_qmp_node_kind(part));
        v = json_node_get_int(part);
        if (v < 0 || v > G_MAXINT)
            return g_strdup_printf("'QMP.version.qemu.%s' is %" G_GINT64_FORMAT ", out of range",
                                   parts[i], v);
        (&self->version.major)[i] = (int)v;
    }
    package = json_object_get_member(version, "package");
    if (package != NULL && json_node_get_value_type(package) != G_TYPE_STRING)
        return g_strdup_printf("'QMP.version.package' is %s, expected a string",
                               xe_qmp_node_kind(package));
    g_free(self->version.package);
    self->version.package = g_strdup(package != NULL ? json_node_get_string(package) : "");
    caps = json_object_get_member(qmp, "capabilities");
    if (caps != NULL) {
        JsonArray *arr;

        if (!JSON_NODE_HOLDS_ARRAY(caps))
            return g_strdup_printf("'QMP.capabilities' is %s, expected an array",
                                   xe_qmp_node_kind(caps));
        arr = json_node_get_array(caps);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *cap = json_array_get_element(arr, i);
            if (json_node_get_value_type(cap) == G_TYPE_STRING)
                g_ptr_array_add(cap_names, g_strdup(json_node_get_string(cap)));
        }
    }
    g_ptr_array_add(cap_names, NULL);
    g_strfreev(self->greeting_caps);
    self->greeting_caps = (GStrv)g_ptr_array_steal(cap_names, NULL);
    return NULL;
}

static gboolean
client_on_greeting(XeQmpClient *self, JsonObject *message)
{
    g_autofree char *why = greeting_parse(self, message);

    if (why == NULL)
        return TRUE;
    client_message_error(self,
                         "the first message is not a QMP greeting "
                         "({\"QMP\": {\"version\": {\"qemu\": {major, minor, micro}}}}): %s",
                         why);
    return FALSE;
}

static void client_negotiated(GObject *source, GAsyncResult *result, gpointer user_data);

static gboolean
client_on_message(JsonObject *message, gpointer user_data)
{
    XeQmpClient *self = user_data;

    if (trace_enabled()) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), message);
        g_autofree char *text = json_to_string(node, FALSE);
        trace_message("<-", text, strlen(text));
    }

    if (self->state == STATE_CLOSED)
        return FALSE;
    if (self->state == STATE_GREETING) {
        g_autoptr(GTask) task = NULL;

        if (!client_on_greeting(self, message))
            return FALSE;
        source_clear(&self->greeting_timeout);
        self->state = STATE_NEGOTIATING;
        task = g_task_new(self, NULL, client_negotiated, NULL);
        g_task_set_source_tag(task, XE_QMP_TAG(client_on_message));
        client_send(self, "qmp_capabilities", NULL, 0, NULL, task);
        return TRUE;
    }
    if (json_object_has_member(message, "event"))
        return client_on_event(self, message);
    if (json_object_has_member(message, "return") || json_object_has_member(message, "error"))
        return client_on_reply(self, message);
    if (json_object_has_member(message, "QMP"))
        client_message_error(self, "a second QMP greeting");
    else
        client_message_error(self, "neither a reply ('return' or 'error') nor an event ('event')");
    return FALSE;
}

/* connecting */

static void
client_negotiated(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeQmpClient *self = XE_QMP_CLIENT(source);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = g_task_propagate_pointer(G_TASK(result), &error);

    if (self->state == STATE_CLOSED)
        return; /* the connect task already failed with the reason */
    if (ret == NULL) {
        g_prefix_error(&error, "QMP capabilities negotiation failed: ");
        client_disconnect(self, error);
        return;
    }
    self->state = STATE_CONNECTED;
    g_debug("connected to QEMU %d.%d.%d%s%s", self->version.major, self->version.minor,
            self->version.micro, *self->version.package ? " " : "", self->version.package);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_CONNECTED]);
    client_connect_complete(self, NULL);
}

static gboolean
client_greeting_timed_out(gpointer user_data)
{
    XeQmpClient *self = user_data;

    g_clear_pointer(&self->greeting_timeout, g_source_unref);
    if (xe_qmp_stream_get_buffered(self->stream) > 0)
        client_disconnect_printf(
            self, XE_QMP_ERROR_TIMEOUT,
            "no QMP greeting within %u ms (%" G_GSIZE_FORMAT " bytes of one received)",
            self->greeting_timeout_ms, xe_qmp_stream_get_buffered(self->stream));
    else
        client_disconnect_printf(self, XE_QMP_ERROR_TIMEOUT, "no QMP greeting within %u ms",
                                 self->greeting_timeout_ms);
    return G_SOURCE_REMOVE;
}

static void
client_start_stream(XeQmpClient *self, GIOStream *io)
{
    self->io = g_object_ref(io);
    self->in = g_io_stream_get_input_stream(io);
    self->out = g_io_stream_get_output_stream(io);
    self->stream = xe_qmp_stream_new(self->max_message_size, self->max_depth);
    self->read_buf = g_malloc(READ_CHUNK);
    self->state = STATE_GREETING;

    self->greeting_timeout = g_timeout_source_new(self->greeting_timeout_ms);
    g_source_set_callback(self->greeting_timeout, client_greeting_timed_out, self, NULL);
    g_source_attach(self->greeting_timeout, g_task_get_context(self->connect_task));
    client_read_next(self);
}

static gboolean
client_connect_cancelled(GCancellable *cancellable, gpointer user_data)
{
    XeQmpClient *self = user_data;
    g_autoptr(GError) reason =
        g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "connecting to QEMU: cancelled");

    g_clear_pointer(&self->connect_cancel_source, g_source_unref);
    /* At any stage: the socket connect watches io_cancellable, which this cancels. */
    client_disconnect(self, reason);
    return G_SOURCE_REMOVE;
}

static void
client_socket_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(XeQmpClient) self = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    /* Closed or cancelled meanwhile: the connect has already failed with the
     * reason; a connection made all the same goes away with @conn. */
    if (self->state == STATE_CLOSED)
        return;
    if (conn == NULL) {
        self->state = STATE_CLOSED;
        g_prefix_error(&error, "connecting to QEMU at %s: ",
                       (const char *)g_task_get_task_data(self->connect_task));
        client_connect_complete(self, g_steal_pointer(&error));
        return;
    }
    client_start_stream(self, G_IO_STREAM(conn));
}

static GTask *
client_connect_task_new(XeQmpClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, XE_QMP_TAG(xe_qmp_client_connect_async));
    if (self->state != STATE_IDLE) {
        g_task_return_new_error(task, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                                "a QMP client connects only once; create a new one");
        g_object_unref(task);
        return NULL;
    }
    self->connect_task = g_object_ref(task);
    self->io_cancellable = g_cancellable_new();
    if (cancellable != NULL) {
        self->connect_cancel_source = g_cancellable_source_new(cancellable);
        g_source_set_callback(self->connect_cancel_source, G_SOURCE_FUNC(client_connect_cancelled),
                              self, NULL);
        g_source_attach(self->connect_cancel_source, g_task_get_context(task));
    }
    return task;
}

/* Parses "unix:PATH" or "tcp:HOST:PORT". */
static GSocketConnectable *
address_parse(const char *address, GError **error)
{
    if (g_str_has_prefix(address, "unix:") && address[5] != '\0')
        return G_SOCKET_CONNECTABLE(g_unix_socket_address_new(address + 5));
    if (g_str_has_prefix(address, "tcp:")) {
        GSocketConnectable *conn = g_network_address_parse(address + 4, 0, error);
        if (conn == NULL)
            g_prefix_error(error, "QMP address '%s': ", address);
        return conn;
    }
    g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                "QMP address '%s': expected unix:PATH or tcp:HOST:PORT", address);
    return NULL;
}

void
xe_qmp_client_connect_async(XeQmpClient *self, const char *address, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GSocketConnectable) connectable = NULL;
    g_autoptr(GSocketClient) socket_client = NULL;
    GError *error = NULL;

    g_return_if_fail(XE_IS_QMP_CLIENT(self));
    g_return_if_fail(address != NULL);

    task = client_connect_task_new(self, cancellable, callback, user_data);
    if (task == NULL)
        return;
    g_task_set_task_data(task, g_strdup(address), g_free);
    connectable = address_parse(address, &error);
    if (connectable == NULL) {
        self->state = STATE_CLOSED;
        client_connect_complete(self, error);
        return;
    }
    self->state = STATE_CONNECTING;
    socket_client = g_socket_client_new();
    /* io_cancellable, not @cancellable: xe_qmp_client_close() must stop it too. */
    g_socket_client_connect_async(socket_client, connectable, self->io_cancellable,
                                  client_socket_connected, g_object_ref(self));
}

void
xe_qmp_client_connect_stream_async(XeQmpClient *self, GIOStream *stream, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(XE_IS_QMP_CLIENT(self));
    g_return_if_fail(G_IS_IO_STREAM(stream));

    task = client_connect_task_new(self, cancellable, callback, user_data);
    if (task != NULL)
        client_start_stream(self, stream);
}

gboolean
xe_qmp_client_connect_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
xe_qmp_client_close(XeQmpClient *self)
{
    g_autoptr(GError) reason = NULL;

    g_return_if_fail(XE_IS_QMP_CLIENT(self));
    if (self->state == STATE_CLOSED)
        return;
    if (self->state == STATE_IDLE) {
        self->state = STATE_CLOSED;
        return;
    }
    reason = g_error_new_literal(XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED, "closed by the client");
    client_disconnect(self, reason);
}

gboolean
xe_qmp_client_is_connected(XeQmpClient *self)
{
    g_return_val_if_fail(XE_IS_QMP_CLIENT(self), FALSE);
    return self->state == STATE_CONNECTED;
}

const XeQmpVersion *
xe_qmp_client_get_version(XeQmpClient *self)
{
    g_return_val_if_fail(XE_IS_QMP_CLIENT(self), NULL);
    return &self->version;
}

const char *const *
xe_qmp_client_get_greeting_capabilities(XeQmpClient *self)
{
    static const char *const none[] = { NULL };

    g_return_val_if_fail(XE_IS_QMP_CLIENT(self), NULL);
    return self->greeting_caps != NULL ? (const char *const *)self->greeting_caps : none;
}
