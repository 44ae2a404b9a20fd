/* xe-qmp-stream.c: a linear-time, bounded framer for the QMP byte stream.
 *
 * A tiny state machine tracks strings, escapes and bracket depth so that it
 * knows where each top-level object ends without parsing it; only complete,
 * bounded, UTF-8-valid messages reach json-glib.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-stream"

#include "xe-qmp-stream.h"

#include <string.h>

#include "xe-qmp-error.h"

typedef enum {
    STATE_BETWEEN, /* between messages: only white space or '{' */
    STATE_VALUE,   /* inside a message, outside strings */
    STATE_STRING,  /* inside a string */
    STATE_ESCAPE,  /* after a backslash inside a string */
} StreamState;

/* A buffer that grew past this is given back once its message is done, so one
 * large reply (query-qmp-schema) does not pin memory for the connection's life. */
#define RETAIN_CAPACITY (256u * 1024)

struct _XeQmpStream {
    gsize max_message_size;
    guint max_depth;

    StreamState state;
    guint depth;
    GByteArray *buf; /* bytes of the incomplete message */
    gsize peak;      /* most bytes ever held in buf */
    guint64 offset;  /* bytes consumed since the start of the stream */
    guint64 start;   /* offset of the first byte ('{') of the current message */
    guint64 n_messages;
    JsonParser *parser;
    GError *poison; /* the first violation, returned by every later feed */
};

XeQmpStream *
xe_qmp_stream_new(gsize max_message_size, guint max_depth)
{
    XeQmpStream *stream = g_new0(XeQmpStream, 1);

    stream->max_message_size =
        max_message_size > 0 ? max_message_size : XE_QMP_STREAM_DEFAULT_MAX_MESSAGE_SIZE;
    stream->max_depth = max_depth > 0 ? max_depth : XE_QMP_STREAM_DEFAULT_MAX_DEPTH;
    stream->state = STATE_BETWEEN;
    stream->buf = g_byte_array_new();
    stream->parser = json_parser_new();
    return stream;
}

void
xe_qmp_stream_free(XeQmpStream *stream)
{
    if (stream == NULL)
        return;
    g_byte_array_unref(stream->buf);
    g_object_unref(stream->parser);
    g_clear_error(&stream->poison);
    g_free(stream);
}

gsize
xe_qmp_stream_get_buffered(const XeQmpStream *stream)
{
    return stream->buf->len;
}

gsize
xe_qmp_stream_get_peak_buffered(const XeQmpStream *stream)
{
    return stream->peak;
}

guint64
xe_qmp_stream_get_n_messages(const XeQmpStream *stream)
{
    return stream->n_messages;
}

guint64
xe_qmp_stream_get_offset(const XeQmpStream *stream)
{
    return stream->offset;
}

guint64
xe_qmp_stream_get_message_offset(const XeQmpStream *stream)
{
    return stream->start;
}

/* Poisons the stream with "QMP stream: message N at byte OFFSET: what", where
 * OFFSET is the byte at fault (or the first byte of a message refused whole). */
static gboolean G_GNUC_PRINTF(4, 5)
    stream_fail(XeQmpStream *stream, guint64 offset, XeQmpErrorCode code, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    stream->poison =
        g_error_new(XE_QMP_ERROR, code,
                    "QMP stream: message %" G_GUINT64_FORMAT " at byte %" G_GUINT64_FORMAT ": %s",
                    stream->n_messages + 1, offset, what);
    return FALSE;
}

static void
stream_reset_buffer(XeQmpStream *stream)
{
    if (stream->buf->len > RETAIN_CAPACITY) {
        g_byte_array_unref(stream->buf);
        stream->buf = g_byte_array_new();
    } else {
        g_byte_array_set_size(stream->buf, 0);
    }
}

static void
stream_append(XeQmpStream *stream, const guint8 *data, gsize len)
{
    g_byte_array_append(stream->buf, data, (guint)len);
    stream->peak = MAX(stream->peak, stream->buf->len);
}

/* Parses the complete message in stream->buf and hands it to @func.
 * Returns FALSE on a violation (stream poisoned) or when @func asked to stop
 * (*stop set). */
static gboolean
stream_deliver(XeQmpStream *stream, XeQmpStreamMessageFunc func, gpointer user_data, gboolean *stop)
{
    g_autoptr(GError) parse_error = NULL;
    const char *bytes = (const char *)stream->buf->data;
    gsize len = stream->buf->len;
    const char *bad;
    JsonNode *root;

    if (!g_utf8_validate_len(bytes, len, &bad))
        return stream_fail(stream, stream->start + (guint64)(bad - bytes), XE_QMP_ERROR_PROTOCOL,
                           "invalid UTF-8 (byte 0x%02x)", (guint8)*bad);
    /* json-glib says where within the message: "<data>:LINE:COLUMN: ...". */
    if (!json_parser_load_from_data(stream->parser, bytes, (gssize)len, &parse_error))
        return stream_fail(stream, stream->start, XE_QMP_ERROR_PROTOCOL,
                           "malformed JSON in this %" G_GSIZE_FORMAT "-byte message: %s", len,
                           parse_error->message);
    root = json_parser_get_root(stream->parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return stream_fail(stream, stream->start, XE_QMP_ERROR_PROTOCOL,
                           "top-level value is not an object");

    stream->n_messages++;
    stream_reset_buffer(stream);
    if (!func(json_node_get_object(root), user_data))
        *stop = TRUE;
    return TRUE;
}

static gboolean
is_json_space(guint8 c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

gboolean
xe_qmp_stream_feed(XeQmpStream *stream, const guint8 *data, gsize len, XeQmpStreamMessageFunc func,
                   gpointer user_data, GError **error)
{
    gsize start = 0; /* first byte of the current message within @data */
    gboolean stop = FALSE;

    if (stream->poison != NULL) {
        g_propagate_error(error, g_error_copy(stream->poison));
        return FALSE;
    }

    for (gsize i = 0; i < len; i++, stream->offset++) {
        guint8 c = data[i];

        if (c == '\0') {
            stream_fail(stream, stream->offset, XE_QMP_ERROR_PROTOCOL, "NUL byte");
            goto poisoned;
        }
        /* Every byte of a message counts against the bound, its last one too. */
        if (stream->state != STATE_BETWEEN &&
            stream->buf->len + (i + 1 - start) > stream->max_message_size) {
            stream_fail(stream, stream->offset, XE_QMP_ERROR_TOO_LARGE,
                        "message larger than %" G_GSIZE_FORMAT
                        " bytes (it starts at byte %" G_GUINT64_FORMAT ")",
                        stream->max_message_size, stream->start);
            goto poisoned;
        }

        switch (stream->state) {
        case STATE_BETWEEN:
            if (is_json_space(c))
                continue;
            if (c != '{') {
                stream_fail(stream, stream->offset, XE_QMP_ERROR_PROTOCOL,
                            "unexpected byte 0x%02x where a message should start", c);
                goto poisoned;
            }
            start = i;
            stream->start = stream->offset;
            stream->depth = 1;
            stream->state = STATE_VALUE;
            break;

        case STATE_VALUE:
            if (c == '"') {
                stream->state = STATE_STRING;
            } else if (c == '{' || c == '[') {
                if (++stream->depth > stream->max_depth) {
                    stream_fail(stream, stream->offset, XE_QMP_ERROR_TOO_LARGE,
                                "nesting deeper than %u levels", stream->max_depth);
                    goto poisoned;
                }
            } else if (c == '}' || c == ']') {
                if (--stream->depth == 0) {
                    stream->state = STATE_BETWEEN;
                    stream_append(stream, data + start, i + 1 - start);
                    if (!stream_deliver(stream, func, user_data, &stop))
                        goto poisoned;
                    if (stop) {
                        stream->offset++;
                        return TRUE;
                    }
                    continue;
                }
            } else if (c < 0x20 && !is_json_space(c)) {
                stream_fail(stream, stream->offset, XE_QMP_ERROR_PROTOCOL,
                            "control character 0x%02x", c);
                goto poisoned;
            }
            break;

        case STATE_STRING:
            if (c == '"')
                stream->state = STATE_VALUE;
            else if (c == '\\')
                stream->state = STATE_ESCAPE;
            else if (c < 0x20) {
                stream_fail(stream, stream->offset, XE_QMP_ERROR_PROTOCOL,
                            "control character 0x%02x inside a string", c);
                goto poisoned;
            }
            break;

        case STATE_ESCAPE:
            if (c < 0x20) {
                stream_fail(stream, stream->offset, XE_QMP_ERROR_PROTOCOL,
                            "control character 0x%02x inside a string", c);
                goto poisoned;
            }
            stream->state = STATE_STRING;
            break;
        }
    }

    if (stream->state != STATE_BETWEEN)
        stream_append(stream, data + start, len - start);
    return TRUE;

poisoned:
    stream_reset_buffer(stream);
    g_propagate_error(error, g_error_copy(stream->poison));
    return FALSE;
}
