/* xe-qmp-stream.h: splits the byte stream from a QMP peer into JSON messages.
 *
 * This is the boundary where untrusted bytes from QEMU's monitor enter the
 * process. The framer looks at every byte exactly once (linear time, whatever
 * the split of the input into chunks), keeps at most one message's bytes
 * (bounded by max_message_size), refuses nesting deeper than max_depth before
 * any JSON parser sees it, and refuses NUL bytes, control characters inside
 * strings, invalid UTF-8 and top-level values that are not objects. The first
 * violation poisons the stream: every later feed fails with the same error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define XE_QMP_STREAM_DEFAULT_MAX_MESSAGE_SIZE (16u * 1024 * 1024)
#define XE_QMP_STREAM_DEFAULT_MAX_DEPTH        64u

typedef struct _XeQmpStream XeQmpStream;

/* Called once for each complete message, a JSON object (transfer none).
 * Return FALSE to stop feeding; the rest of the chunk is then dropped. */
typedef gboolean (*XeQmpStreamMessageFunc)(JsonObject *message, gpointer user_data);

XeQmpStream *xe_qmp_stream_new(gsize max_message_size, guint max_depth);
void xe_qmp_stream_free(XeQmpStream *stream);

/* Feeds @len bytes. Returns FALSE with XE_QMP_ERROR_PROTOCOL or
 * XE_QMP_ERROR_TOO_LARGE on a violation, TRUE otherwise. The error says
 * "QMP stream: message N at byte OFFSET: what": the message's number (from
 * 1), the offset in the stream of the byte at fault (of the message's first
 * byte when the message is refused whole: malformed JSON), and what is wrong. */
gboolean xe_qmp_stream_feed(XeQmpStream *stream, const guint8 *data, gsize len,
                            XeQmpStreamMessageFunc func, gpointer user_data, GError **error);

/* Bytes of an incomplete message held right now, and the most ever held. */
gsize xe_qmp_stream_get_buffered(const XeQmpStream *stream);
gsize xe_qmp_stream_get_peak_buffered(const XeQmpStream *stream);

/* Number of messages delivered so far (during the callback: the number of
 * the message being delivered). */
guint64 xe_qmp_stream_get_n_messages(const XeQmpStream *stream);
/* Bytes consumed since the start of the stream. */
guint64 xe_qmp_stream_get_offset(const XeQmpStream *stream);
/* Offset of the first byte of the message being delivered (during the
 * callback) or of the incomplete one, for messages about it. */
guint64 xe_qmp_stream_get_message_offset(const XeQmpStream *stream);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpStream, xe_qmp_stream_free)

G_END_DECLS
