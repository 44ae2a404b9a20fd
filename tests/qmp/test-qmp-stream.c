/* test-qmp-stream.c: suite "qmp", the stream framer on its own: every split
 * of the input gives the same messages, and each class of bad input is
 * refused with the right error, without reading past the bound.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "xe-qmp.h"
#include "xe-test-util.h"

typedef struct {
    GPtrArray *messages; /* serialized, in order */
    guint stop_after;    /* 0: never stop */
} Collector;

static gboolean
collect(JsonObject *message, gpointer user_data)
{
    Collector *c = user_data;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), message);

    g_ptr_array_add(c->messages, json_to_string(node, FALSE));
    return c->stop_after == 0 || c->messages->len < c->stop_after;
}

static Collector *
collector_new(void)
{
    Collector *c = g_new0(Collector, 1);

    c->messages = g_ptr_array_new_with_free_func(g_free);
    return c;
}

static void
collector_free(Collector *c)
{
    g_ptr_array_unref(c->messages);
    g_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Collector, collector_free)

/* Feeds @text in one go; returns the error (or NULL). */
static GError *
feed_all(XeQmpStream *stream, const char *text, gsize len, Collector *c)
{
    GError *error = NULL;

    xe_qmp_stream_feed(stream, (const guint8 *)text, len, collect, c, &error);
    return error;
}

static const char sample[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}}, "
    "\"capabilities\": [\"oob\"]}}\r\n"
    "{\"return\": {\"s\": \"}{][\\\"\\\\\\u00e9 \xc3\xa9\"}, \"id\": \"xe-1\"}\n"
    "  {\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}";

START_TEST(test_every_split_gives_the_same_messages)
{
    g_autoptr(Collector) whole = collector_new();
    g_autoptr(XeQmpStream) ref = xe_qmp_stream_new(0, 0);
    gsize len = strlen(sample);

    ck_assert_ptr_null(feed_all(ref, sample, len, whole));
    ck_assert_uint_eq(whole->messages->len, 3);
    ck_assert_uint_eq(xe_qmp_stream_get_buffered(ref), 0);

    for (gsize a = 0; a <= len; a++) {
        for (gsize b = a; b <= len; b += 7) {
            g_autoptr(Collector) c = collector_new();
            g_autoptr(XeQmpStream) s = xe_qmp_stream_new(0, 0);

            ck_assert_ptr_null(feed_all(s, sample, a, c));
            ck_assert_ptr_null(feed_all(s, sample + a, b - a, c));
            ck_assert_ptr_null(feed_all(s, sample + b, len - b, c));
            ck_assert_uint_eq(c->messages->len, 3);
            for (guint i = 0; i < 3; i++)
                ck_assert_str_eq(c->messages->pdata[i], whole->messages->pdata[i]);
        }
    }
}
END_TEST

START_TEST(test_byte_by_byte)
{
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s = xe_qmp_stream_new(0, 0);

    for (gsize i = 0; i < strlen(sample); i++)
        ck_assert_ptr_null(feed_all(s, sample + i, 1, c));
    ck_assert_uint_eq(c->messages->len, 3);
    ck_assert_uint_eq(xe_qmp_stream_get_n_messages(s), 3);
}
END_TEST

START_TEST(test_callback_can_stop)
{
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s = xe_qmp_stream_new(0, 0);

    c->stop_after = 1;
    ck_assert_ptr_null(feed_all(s, sample, strlen(sample), c));
    ck_assert_uint_eq(c->messages->len, 1);
}
END_TEST

typedef struct {
    const char *name;
    const char *input;
    gsize len; /* 0: strlen */
    XeQmpErrorCode code;
    const char *message_part;
} BadCase;

/* Each error says which message, at which byte (the one at fault, or the
 * first byte of a message refused whole), and what is wrong. */
static const BadCase bad_cases[] = {
    { "garbage", "hello", 0, XE_QMP_ERROR_PROTOCOL,
      "QMP stream: message 1 at byte 0: unexpected byte 0x68" },
    { "array", "[1, 2]", 0, XE_QMP_ERROR_PROTOCOL, "message 1 at byte 0: unexpected byte 0x5b" },
    { "scalar", "42", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 0: unexpected byte 0x34 where a message should start" },
    { "nul between", " \0{}", 4, XE_QMP_ERROR_PROTOCOL, "message 1 at byte 1: NUL byte" },
    { "nul in string", "{\"a\": \"x\0y\"}", 12, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 8: NUL byte" },
    { "raw newline in string", "{\"a\": \"x\ny\"}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 8: control character 0x0a inside a string" },
    { "control outside string", "{\"a\": \x01}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 6: control character 0x01" },
    { "control after escape", "{\"a\": \"\\\x02\"}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 8: control character 0x02 inside a string" },
    { "invalid utf-8", "{\"a\": \"\xc3\x28\"}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 7: invalid UTF-8 (byte 0xc3)" },
    { "overlong utf-8", "{\"a\": \"\xc0\xaf\"}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 7: invalid UTF-8 (byte 0xc0)" },
    { "malformed json", "{\"a\" 1}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 1 at byte 0: malformed JSON in this 7-byte message: <data>:1:" },
    { "trailing comma", "{\"a\": 1,}", 0, XE_QMP_ERROR_PROTOCOL, "malformed JSON" },
    { "mismatched bracket", "{\"a\": [1}]", 0, XE_QMP_ERROR_PROTOCOL, "malformed JSON" },
    /* After good messages: the count and the offset run on. */
    { "control in message 3", "{} {\"b\": 2}\r\n{\"a\": \x01}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 3 at byte 19: control character 0x01" },
    { "malformed message 2", "{}\n {\"a\" 1}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 2 at byte 4: malformed JSON in this 7-byte message" },
    { "invalid utf-8 in message 2", "{}{\"\xff\": 1}", 0, XE_QMP_ERROR_PROTOCOL,
      "message 2 at byte 4: invalid UTF-8 (byte 0xff)" },
};

START_TEST(test_bad_input)
{
    const BadCase *bc = &bad_cases[_i];
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s = xe_qmp_stream_new(0, 0);
    gsize len = bc->len ? bc->len : strlen(bc->input);
    g_autoptr(GError) error = feed_all(s, bc->input, len, c);
    g_autoptr(GError) again = NULL;

    ck_assert_msg(error != NULL, "%s: accepted", bc->name);
    ck_assert_msg(g_error_matches(error, XE_QMP_ERROR, bc->code), "%s: %s", bc->name,
                  error->message);
    ck_assert_msg(strstr(error->message, bc->message_part) != NULL, "%s: '%s' lacks '%s'", bc->name,
                  error->message, bc->message_part);
    /* Poisoned: even a good message is refused now, with the same error. */
    again = feed_all(s, "{}", 2, c);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(again->message, error->message);
}
END_TEST

static char *
nested(guint depth)
{
    GString *s = g_string_new("{\"a\": ");

    for (guint i = 1; i < depth; i++)
        g_string_append_c(s, '[');
    g_string_append_c(s, '1');
    for (guint i = 1; i < depth; i++)
        g_string_append_c(s, ']');
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

START_TEST(test_depth_bound_is_exact)
{
    g_autofree char *ok = nested(16);
    g_autofree char *deep = nested(17);
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s1 = xe_qmp_stream_new(0, 16);
    g_autoptr(XeQmpStream) s2 = xe_qmp_stream_new(0, 16);
    g_autoptr(GError) error = NULL;

    ck_assert_ptr_null(feed_all(s1, ok, strlen(ok), c));
    ck_assert_uint_eq(c->messages->len, 1);
    error = feed_all(s2, deep, strlen(deep), c);
    ck_assert(g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_TOO_LARGE));
    /* {"a": then 16 brackets: the 16th, at byte 21, is the 17th level. */
    ck_assert_str_eq(error->message,
                     "QMP stream: message 1 at byte 21: nesting deeper than 16 levels");
}
END_TEST

START_TEST(test_size_bound_is_exact)
{
    /* {"a": "xxxx"} of exactly 1024 bytes passes a 1024-byte bound; 1025 does not. */
    g_autofree char *fill = g_strnfill(1024 - 9, 'x');
    g_autofree char *exact = g_strdup_printf("{\"a\": \"%s\"}", fill);
    g_autofree char *over = g_strdup_printf("{\"a\": \"%sy\"}", fill);
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s1 = xe_qmp_stream_new(1024, 0);
    g_autoptr(XeQmpStream) s2 = xe_qmp_stream_new(1024, 0);
    g_autoptr(GError) error = NULL;

    ck_assert_uint_eq(strlen(exact), 1024);
    ck_assert_ptr_null(feed_all(s1, exact, strlen(exact), c));
    ck_assert_uint_eq(c->messages->len, 1);
    /* Fed in two halves: the bound counts what is buffered plus the new part. */
    ck_assert_ptr_null(feed_all(s2, "{}\n", 3, c));
    ck_assert_ptr_null(feed_all(s2, over, 600, c));
    ck_assert_uint_eq(xe_qmp_stream_get_offset(s2), 603);
    ck_assert_uint_eq(xe_qmp_stream_get_message_offset(s2), 3);
    error = feed_all(s2, over + 600, strlen(over) - 600, c);
    ck_assert(g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_TOO_LARGE));
    ck_assert_str_eq(error->message, "QMP stream: message 2 at byte 1027: message larger than "
                                     "1024 bytes (it starts at byte 3)");
    ck_assert_uint_le(xe_qmp_stream_get_peak_buffered(s2), 1024);
    ck_assert_uint_eq(xe_qmp_stream_get_buffered(s2), 0);
}
END_TEST

START_TEST(test_large_message_memory_is_returned)
{
    g_autofree char *fill = g_strnfill(2 * 1024 * 1024, 'x');
    g_autofree char *big = g_strdup_printf("{\"a\": \"%s\"}", fill);
    g_autoptr(Collector) c = collector_new();
    g_autoptr(XeQmpStream) s = xe_qmp_stream_new(0, 0);

    ck_assert_ptr_null(feed_all(s, big, strlen(big), c));
    ck_assert_ptr_null(feed_all(s, big, strlen(big) / 2, c));
    ck_assert_uint_eq(xe_qmp_stream_get_buffered(s), strlen(big) / 2);
    ck_assert_ptr_null(feed_all(s, big + strlen(big) / 2, strlen(big) - strlen(big) / 2, c));
    ck_assert_uint_eq(c->messages->len, 2);
    ck_assert_uint_eq(xe_qmp_stream_get_buffered(s), 0);
}
END_TEST

static Suite *
stream_suite(void)
{
    Suite *suite = suite_create("qmp-stream");
    TCase *tc = tcase_create("stream");

    tcase_add_test(tc, test_every_split_gives_the_same_messages);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_callback_can_stop);
    tcase_add_loop_test(tc, test_bad_input, 0, G_N_ELEMENTS(bad_cases));
    tcase_add_test(tc, test_depth_bound_is_exact);
    tcase_add_test(tc, test_size_bound_is_exact);
    tcase_add_test(tc, test_large_message_memory_is_returned);
    suite_add_tcase(suite, tc);
    return suite;
}

int
main(void)
{
    return xe_test_run_suite(stream_suite());
}
