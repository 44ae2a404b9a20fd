/* bench-qmp.c: QMP figures, printed, never asserted.
 *
 * - round-trip latency of query-status against real QEMU (N sequential
 *   commands, default 1000): min, median, p90, p99, max;
 * - framer + JSON parse throughput on typical replies, and on pathological
 *   inputs at growing sizes, to show that time grows linearly with size.
 *
 * Run: meson test -C build --benchmark --verbose   (or the binary itself,
 * with an optional count: bench-qmp 5000)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xe-qmp.h"
#include "xe-test-qemu.h"
#include "xe-test-util.h"

/* Runs the main loop until *result is set: the bench has no Check runner. */
static GAsyncResult *
await_result(GAsyncResult **result)
{
    while (*result == NULL)
        g_main_context_iteration(NULL, TRUE);
    return *result;
}

static void
store_result(GObject *source, GAsyncResult *result, gpointer user_data)
{
    *(GAsyncResult **)user_data = g_object_ref(result);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void
bench_round_trip(guint n)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeTestQemu) qemu = xe_test_qemu_start("bench", "128M", FALSE, &error);
    g_autoptr(XeQmpClient) client = NULL;
    g_autofree double *us = g_new(double, n);

    if (qemu != NULL)
        client = xe_test_qemu_connect(qemu, &error);
    if (client == NULL) {
        fprintf(stderr, "bench: %s\n", error->message);
        exit(1);
    }
    for (guint i = 0; i < n; i++) {
        g_autoptr(XeQmpStatus) status = NULL;
        g_autoptr(GAsyncResult) result = NULL;
        gint64 t0 = g_get_monotonic_time();

        xe_qmp_query_status_async(client, NULL, store_result, &result);
        status = xe_qmp_query_status_finish(client, await_result(&result), &error);
        us[i] = (double)(g_get_monotonic_time() - t0);
        if (status == NULL) {
            fprintf(stderr, "bench: query-status: %s\n", error->message);
            exit(1);
        }
    }
    qsort(us, n, sizeof(double), cmp_double);
    printf("query-status round trip against QEMU %d.%d.%d (%s), %u commands: min %.1f us, "
           "median %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n",
           xe_qmp_client_get_version(client)->major, xe_qmp_client_get_version(client)->minor,
           xe_qmp_client_get_version(client)->micro, xe_test_qemu_accel(), n, us[0], us[n / 2],
           us[n * 9 / 10], us[n * 99 / 100], us[n - 1]);
    xe_qmp_client_close(client);
}

static gboolean
count_message(JsonObject *message, gpointer user_data)
{
    (*(guint64 *)user_data)++;
    return TRUE;
}

/* Feeds @input in 64 KiB chunks (as the client reads) and prints MB/s. */
static void
bench_feed(const char *what, const GString *input, gsize max_message)
{
    g_autoptr(XeQmpStream) stream = xe_qmp_stream_new(max_message, 64);
    g_autoptr(GError) error = NULL;
    guint64 messages = 0;
    gint64 t0 = g_get_monotonic_time();
    double secs;

    for (gsize off = 0; off < input->len && error == NULL; off += 65536)
        xe_qmp_stream_feed(stream, (const guint8 *)input->str + off, MIN(65536, input->len - off),
                           count_message, &messages, &error);
    secs = (g_get_monotonic_time() - t0) / 1e6;
    printf("  %-44s %8.2f MiB  %8.1f ms  %8.1f MiB/s  %" G_GUINT64_FORMAT " messages%s%s\n", what,
           input->len / 1048576.0, secs * 1000, input->len / 1048576.0 / secs, messages,
           error ? "  error: " : "", error ? error->message : "");
}

static void
bench_parser(void)
{
    static const char reply[] =
        "{\"return\": {\"status\": \"active\", \"setup-time\": 1, \"total-time\": 282, "
        "\"expected-downtime\": 300, \"ram\": {\"total\": 537403392, \"remaining\": 1048576, "
        "\"mbps\": 1082.4, \"transferred\": 1721593, \"duplicate\": 131061, \"normal\": 288, "
        "\"dirty-pages-rate\": 33000}}, \"id\": \"xe-3\"}\r\n";
    static const char event[] = "{\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 7}, "
                                "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n";

    printf("stream framer + json-glib parse, 64 KiB reads:\n");
    for (gsize mib = 8; mib <= 32; mib *= 2) {
        g_autoptr(GString) replies = g_string_new(NULL);
        g_autoptr(GString) events = g_string_new(NULL);
        g_autofree char *label1 = g_strdup_printf("query-migrate replies, %zu MiB", mib);
        g_autofree char *label2 = g_strdup_printf("MIGRATION_PASS events, %zu MiB", mib);

        while (replies->len < mib << 20)
            g_string_append(replies, reply);
        while (events->len < mib << 20)
            g_string_append(events, event);
        bench_feed(label1, replies, 0);
        bench_feed(label2, events, 0);
    }
    /* Pathological shapes inside one message: time must stay linear. */
    for (gsize mib = 2; mib <= 8; mib *= 2) {
        g_autoptr(GString) escapes = g_string_new("{\"return\": \"");
        g_autoptr(GString) nesting = g_string_new(NULL);
        g_autofree char *label1 = g_strdup_printf("one string of escapes, %zu MiB", mib);
        g_autofree char *label2 = g_strdup_printf("depth-60 arrays back to back, %zu MiB", mib);

        while (escapes->len < mib << 20)
            g_string_append(escapes, "\\\"\\\\\\u00e9");
        g_string_append(escapes, "\", \"id\": \"xe-1\"}");
        while (nesting->len < mib << 20) {
            g_string_append(nesting, "{\"a\":");
            for (int i = 0; i < 60; i++)
                g_string_append_c(nesting, '[');
            for (int i = 0; i < 60; i++)
                g_string_append_c(nesting, ']');
            g_string_append(nesting, "}");
        }
        bench_feed(label1, escapes, 16u << 20);
        bench_feed(label2, nesting, 0);
    }
}

int
main(int argc, char **argv)
{
    guint n = argc > 1 ? (guint)strtoul(argv[1], NULL, 10) : 1000;

    xe_test_require_peer(xe_test_qemu_binary() != NULL, "qemu-system-x86_64");
    bench_round_trip(n > 0 ? n : 1000);
    bench_parser();
    return 0;
}
