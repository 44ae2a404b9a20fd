/* test-qmp-client.c: suite "qmp", the QMP client against a scripted fake
 * peer: negotiation, close at each stage of connecting, id matching,
 * timeouts, cancellation and the bound on abandoned commands, events, every
 * protocol edge case and every class of bad input from QEMU, each reported
 * with where and why; the typed reply parsers and event decoders, which
 * fail only with a reason; and the fake peer's own standing answers, pauses
 * and reconnects.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include <gio/gunixsocketaddress.h>

#include "xe-fake-qmp.h"
#include "xe-qmp.h"
#include "xe-qmp-private.h"
#include "xe-test-util.h"

#define WAIT_MS 10000

typedef struct {
    XeFakeQmp *fake;
    XeQmpClient *client;
    GPtrArray *events; /* "NAME data-json @timestamp" */
    guint n_disconnected;
    GError *reason;
} Ctx;

static void
on_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 ts, gpointer user_data)
{
    Ctx *ctx = user_data;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), data);
    g_autofree char *text = json_to_string(node, FALSE);

    g_ptr_array_add(ctx->events, g_strdup_printf("%s %s @%" G_GINT64_FORMAT, name, text, ts));
}

static void
on_disconnected(XeQmpClient *client, GError *reason, gpointer user_data)
{
    Ctx *ctx = user_data;

    ctx->n_disconnected++;
    g_clear_error(&ctx->reason);
    ctx->reason = g_error_copy(reason);
}

static Ctx *
ctx_new(gboolean tcp)
{
    Ctx *ctx = g_new0(Ctx, 1);

    ctx->fake = xe_fake_qmp_new(tcp);
    ctx->client = xe_qmp_client_new();
    ctx->events = g_ptr_array_new_with_free_func(g_free);
    g_signal_connect(ctx->client, "event", G_CALLBACK(on_event), ctx);
    g_signal_connect(ctx->client, "disconnected", G_CALLBACK(on_disconnected), ctx);
    return ctx;
}

static void
ctx_free(Ctx *ctx)
{
    if (ctx->client != NULL) {
        xe_qmp_client_close(ctx->client);
        g_object_unref(ctx->client);
    }
    xe_fake_qmp_free(ctx->fake);
    g_ptr_array_unref(ctx->events);
    g_clear_error(&ctx->reason);
    g_free(ctx);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ctx, ctx_free)

/* Starts the script and connects; returns the connect error or NULL. */
static GError *
ctx_connect(Ctx *ctx)
{
    XeTestResult r = { 0 };
    GError *error = NULL;

    xe_fake_qmp_start(ctx->fake);
    xe_qmp_client_connect_async(ctx->client, xe_fake_qmp_get_address(ctx->fake), NULL,
                                xe_test_result_cb, &r);
    xe_qmp_client_connect_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, "connect"), &error);
    xe_test_result_clear(&r);
    return error;
}

static void
ctx_connect_ok(Ctx *ctx)
{
    g_autoptr(GError) error = ctx_connect(ctx);

    ck_assert_msg(error == NULL, "connect: %s", error ? error->message : "");
    ck_assert(xe_qmp_client_is_connected(ctx->client));
}

/* Runs @command and waits; returns the "return" value or NULL with @error. */
static JsonNode *
run(Ctx *ctx, const char *command, const char *args_json, GError **error)
{
    XeTestResult r = { 0 };
    g_autoptr(JsonObject) args = NULL;
    JsonNode *ret;

    if (args_json != NULL) {
        g_autoptr(JsonNode) node = json_from_string(args_json, NULL);
        args = json_object_ref(json_node_get_object(node));
    }
    xe_qmp_client_execute_async(ctx->client, command, args, 0, NULL, xe_test_result_cb, &r);
    ret =
        xe_qmp_client_execute_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, command), error);
    xe_test_result_clear(&r);
    return ret;
}

static gboolean
set_expired(gpointer user_data)
{
    *(gboolean *)user_data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates the main loop until @client has @n commands pending; fails the
 * test with @what after WAIT_MS. */
static void
wait_n_pending(XeQmpClient *client, guint n, const char *what)
{
    gboolean expired = FALSE;
    guint id = g_timeout_add(WAIT_MS, set_expired, &expired);

    while (xe_qmp_client_get_n_pending(client) != n && !expired)
        g_main_context_iteration(NULL, TRUE);
    if (!expired)
        g_source_remove(id);
    ck_assert_msg(!expired, "timed out after %u ms waiting for %s", WAIT_MS, what);
}

static void
wait_disconnected(Ctx *ctx)
{
    gboolean done = FALSE;

    while (!done) {
        done = ctx->n_disconnected > 0;
        if (!done)
            g_main_context_iteration(NULL, TRUE);
    }
}

static void
assert_error_contains(const GError *error, GQuark domain, int code, const char *part)
{
    ck_assert_msg(error != NULL, "expected an error containing '%s'", part);
    ck_assert_msg(error->domain == domain && error->code == code, "wrong error %s:%d: %s",
                  g_quark_to_string(error->domain), error->code, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

/* negotiation */

START_TEST(test_negotiate_unix)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    const XeQmpVersion *v;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_wait_eof(ctx->fake);
    ctx_connect_ok(ctx);
    v = xe_qmp_client_get_version(ctx->client);
    ck_assert_int_eq(v->major, 10);
    ck_assert_int_eq(v->minor, 0);
    ck_assert_int_eq(v->micro, 2);
    ck_assert_str_eq(v->package, "Debian 1:10.0.2+ds-2");
    ck_assert(g_strv_contains(xe_qmp_client_get_greeting_capabilities(ctx->client), "oob"));
    xe_qmp_client_close(ctx->client);
    ck_assert_uint_eq(ctx->n_disconnected, 1);
    assert_error_contains(ctx->reason, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED,
                          "closed by the client");
    xe_qmp_client_close(ctx->client); /* twice is harmless */
    ck_assert_uint_eq(ctx->n_disconnected, 1);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_negotiate_tcp)
{
    g_autoptr(Ctx) ctx = ctx_new(TRUE);
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': true, 'status': 'running'}");
    ctx_connect_ok(ctx);
    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_ptr_nonnull(ret);
    ck_assert(json_object_get_boolean_member(json_node_get_object(ret), "running"));
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_bad_address)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_qmp_client_connect_async(client, "serial:/dev/ttyS0", NULL, xe_test_result_cb, &r);
    xe_qmp_client_connect_finish(client, xe_test_result_wait(&r, WAIT_MS, "connect"), &error);
    xe_test_result_clear(&r);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                          "expected unix:PATH or tcp:HOST:PORT");
}
END_TEST

START_TEST(test_connect_refused)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = xe_test_mkdtemp("xe-qmp-none");
    g_autofree char *address = g_strdup_printf("unix:%s/nobody.sock", dir);
    XeTestResult r = { 0 };

    xe_qmp_client_connect_async(client, address, NULL, xe_test_result_cb, &r);
    xe_qmp_client_connect_finish(client, xe_test_result_wait(&r, WAIT_MS, "connect"), &error);
    xe_test_result_clear(&r);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error->message, "connecting to QEMU at unix:"));
    xe_test_rmtree(dir);
}
END_TEST

START_TEST(test_no_greeting_times_out)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;

    g_object_set(ctx->client, "greeting-timeout", 200, NULL);
    xe_fake_qmp_wait_eof(ctx->fake);
    error = ctx_connect(ctx);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_TIMEOUT,
                          "no QMP greeting within 200 ms");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_partial_greeting_times_out)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;

    g_object_set(ctx->client, "greeting-timeout", 200, NULL);
    xe_fake_qmp_send(ctx->fake, "{\"QMP\": {\"version\": ");
    xe_fake_qmp_wait_eof(ctx->fake);
    error = ctx_connect(ctx);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_TIMEOUT,
                          "no QMP greeting within 200 ms (20 bytes of one received)");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* Each bad greeting is refused with what is wrong in it. */
static const struct {
    const char *greeting;
    const char *reason_part;
} bad_greetings[] = {
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"ten\"}}}}\n",
      "'QMP.version.qemu.major' is a string, expected an integer" },
    { "{\"qmp\": {}}\n", "'QMP' is missing" },
    { "{\"QMP\": []}\n", "'QMP' is an array, expected an object" },
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10, \"minor\": 0}}}}\n",
      "'QMP.version.qemu.micro' is missing" },
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": -1, \"minor\": 0, \"micro\": 0}}}}\n",
      "'QMP.version.qemu.major' is -1, out of range" },
    /* A package that is not a string once crashed the client after negotiation. */
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10, \"minor\": 0, \"micro\": 2}, "
      "\"package\": 5}, \"capabilities\": []}}\n",
      "'QMP.version.package' is an integer, expected a string" },
    { "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10, \"minor\": 0, \"micro\": 2}}, "
      "\"capabilities\": \"oob\"}}\n",
      "'QMP.capabilities' is a string, expected an array" },
};

START_TEST(test_bad_greeting)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;

    xe_fake_qmp_send(ctx->fake, bad_greetings[_i].greeting);
    xe_fake_qmp_wait_eof(ctx->fake);
    error = ctx_connect(ctx);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_PROTOCOL,
                          "QMP message 1 at byte 0: the first message is not a QMP greeting");
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_PROTOCOL,
                          bad_greetings[_i].reason_part);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_negotiation_refused)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;

    xe_fake_qmp_greeting(ctx->fake);
    xe_fake_qmp_expect_error(ctx->fake, "qmp_capabilities", "{}", "GenericError",
                             "Capabilities negotiation is already complete");
    xe_fake_qmp_wait_eof(ctx->fake);
    error = ctx_connect(ctx);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_COMMAND_FAILED,
                          "negotiation failed: qmp_capabilities: Capabilities negotiation");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_eof_before_greeting)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;

    xe_fake_qmp_close(ctx->fake);
    error = ctx_connect(ctx);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED, "before its greeting");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_connect_cancelled)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_wait_eof(ctx->fake); /* never greets */
    xe_fake_qmp_start(ctx->fake);
    xe_qmp_client_connect_async(ctx->client, xe_fake_qmp_get_address(ctx->fake), cancellable,
                                xe_test_result_cb, &r);
    g_cancellable_cancel(cancellable);
    xe_qmp_client_connect_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, "connect"), &error);
    xe_test_result_clear(&r);
    ck_assert(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
}
END_TEST

/* close while connecting: the connect fails, and the client stays closed
 * whatever the peer or the socket does next */

static void
set_flag(gpointer data, GObject *where_the_object_was)
{
    *(gboolean *)data = TRUE;
}

static void
count_notify(GObject *object, GParamSpec *pspec, gpointer user_data)
{
    (*(guint *)user_data)++;
}

/* Waits for the connect behind @r to fail as closed (or cancelled), checks
 * that @client never came up, then drops it and waits for it to be finalized:
 * nothing it started still runs, and nothing keeps it (or a revived
 * connection) alive. */
static void
assert_closed_while_connecting(XeQmpClient *client, XeTestResult *r, const guint *n_notify)
{
    g_autoptr(GError) error = NULL;
    gboolean finalized = FALSE;

    ck_assert(
        !xe_qmp_client_connect_finish(client, xe_test_result_wait(r, WAIT_MS, "connect"), &error));
    ck_assert_msg(g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED) ||
                      g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED),
                  "connect failed otherwise: %s", error->message);
    xe_test_result_clear(r);
    ck_assert(!xe_qmp_client_is_connected(client));
    g_object_weak_ref(G_OBJECT(client), set_flag, &finalized);
    g_object_unref(client);
    xe_test_wait_flag(&finalized, WAIT_MS, "the closed client to be finalized");
    ck_assert_uint_eq(*n_notify, 0);
}

START_TEST(test_close_during_socket_connect)
{
    g_autoptr(XeFakeQmp) fake = xe_fake_qmp_new(FALSE);
    XeQmpClient *client = xe_qmp_client_new();
    XeTestResult r = { 0 };
    guint n_notify = 0;

    /* A peer that would negotiate at once: a revived client would come up. */
    xe_fake_qmp_negotiate(fake);
    xe_fake_qmp_start(fake);
    g_signal_connect(client, "notify::connected", G_CALLBACK(count_notify), &n_notify);
    xe_qmp_client_connect_async(client, xe_fake_qmp_get_address(fake), NULL, xe_test_result_cb, &r);
    /* No main-loop iteration yet: the socket connect is still in flight. */
    xe_qmp_client_close(client);
    assert_closed_while_connecting(client, &r, &n_notify);
    /* Whether the socket connect got as far as the peer is the kernel's
     * business: the peer's script is not checked. */
}
END_TEST

START_TEST(test_close_before_greeting)
{
    g_autoptr(XeFakeQmp) fake = xe_fake_qmp_new(FALSE);
    g_autoptr(GSocketClient) socket_client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL;
    XeQmpClient *client = xe_qmp_client_new();
    XeTestResult r = { 0 };
    guint n_notify = 0;

    xe_fake_qmp_wait_eof(fake); /* connected, never greets: it sees the close */
    xe_fake_qmp_start(fake);
    address = g_unix_socket_address_new(xe_fake_qmp_get_address(fake) + strlen("unix:"));
    conn = g_socket_client_connect(socket_client, G_SOCKET_CONNECTABLE(address), NULL, &error);
    ck_assert_msg(conn != NULL, "%s", error ? error->message : "");
    g_signal_connect(client, "notify::connected", G_CALLBACK(count_notify), &n_notify);
    /* Over a connected stream the client waits for the greeting at once. */
    xe_qmp_client_connect_stream_async(client, G_IO_STREAM(conn), NULL, xe_test_result_cb, &r);
    xe_qmp_client_close(client);
    assert_closed_while_connecting(client, &r, &n_notify);
    xe_fake_qmp_assert_done(fake);
}
END_TEST

START_TEST(test_close_before_capabilities_reply)
{
    g_autoptr(XeFakeQmp) fake = xe_fake_qmp_new(FALSE);
    XeQmpClient *client = xe_qmp_client_new();
    XeTestResult r = { 0 };
    guint n_notify = 0;

    xe_fake_qmp_greeting(fake);
    xe_fake_qmp_expect_deferred(fake, "qmp_capabilities", "{}"); /* answered never */
    xe_fake_qmp_wait_eof(fake);
    xe_fake_qmp_start(fake);
    g_signal_connect(client, "notify::connected", G_CALLBACK(count_notify), &n_notify);
    xe_qmp_client_connect_async(client, xe_fake_qmp_get_address(fake), NULL, xe_test_result_cb, &r);
    /* The greeting is in once qmp_capabilities is pending. */
    wait_n_pending(client, 1, "qmp_capabilities to be sent");
    ck_assert_ptr_null(r.result);
    xe_qmp_client_close(client);
    ck_assert_uint_eq(xe_qmp_client_get_n_pending(client), 0);
    assert_closed_while_connecting(client, &r, &n_notify);
    xe_fake_qmp_assert_done(fake);
}
END_TEST

/* commands */

START_TEST(test_error_reply_keeps_class)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) copy = NULL;
    g_autoptr(JsonNode) ret = NULL;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_error(ctx->fake, "migrate-incoming", "{'uri': 'tcp:0:4444'}", "GenericError",
                             "'-incoming' was not specified on the command line");
    ctx_connect_ok(ctx);
    ret = run(ctx, "migrate-incoming", "{\"uri\": \"tcp:0:4444\"}", &error);
    ck_assert_ptr_null(ret);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_COMMAND_FAILED,
                          "migrate-incoming: '-incoming' was not specified");
    ck_assert_str_eq(xe_qmp_error_get_class(error), "GenericError");
    copy = g_error_copy(error);
    ck_assert_str_eq(xe_qmp_error_get_class(copy), "GenericError");
    ck_assert(xe_qmp_client_is_connected(ctx->client));
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

typedef struct {
    XeTestResult a, b;
} TwoResults;

START_TEST(test_out_of_order_replies)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    TwoResults t = { 0 };
    g_autoptr(JsonNode) ra = NULL, rb = NULL;
    g_autoptr(GError) error = NULL;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-version", "{}");
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    xe_fake_qmp_reply_deferred(ctx->fake, 1, "{\"return\": {\"which\": \"b\"}, \"id\": %ID%}\n");
    xe_fake_qmp_reply_deferred(ctx->fake, 0, "{\"id\": %ID%, \"return\": {\"which\": \"a\"}}\n");
    ctx_connect_ok(ctx);
    xe_qmp_client_execute_async(ctx->client, "query-version", NULL, 0, NULL, xe_test_result_cb,
                                &t.a);
    xe_qmp_client_execute_async(ctx->client, "query-status", NULL, 0, NULL, xe_test_result_cb,
                                &t.b);
    ck_assert_uint_eq(xe_qmp_client_get_n_pending(ctx->client), 2);
    /* b is answered first on the wire; each reply must reach its own command. */
    rb = xe_qmp_client_execute_finish(ctx->client, xe_test_result_wait(&t.b, WAIT_MS, "b"), &error);
    ra = xe_qmp_client_execute_finish(ctx->client, xe_test_result_wait(&t.a, WAIT_MS, "a"), &error);
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(ra), "which"), "a");
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(rb), "which"), "b");
    ck_assert_uint_eq(xe_qmp_client_get_n_pending(ctx->client), 0);
    xe_test_result_clear(&t.a);
    xe_test_result_clear(&t.b);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_timeout_then_late_reply_is_ignored)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-migrate", "{}");
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    /* The late reply to the timed-out command, then the live one. */
    xe_fake_qmp_reply_deferred(ctx->fake, 0, "{\"return\": {}, \"id\": %ID%}\n");
    xe_fake_qmp_reply_deferred(ctx->fake, 1,
                               "{\"return\": {\"status\": \"running\"}, \"id\": %ID%}\n");
    ctx_connect_ok(ctx);

    xe_qmp_client_execute_async(ctx->client, "query-migrate", NULL, 50, NULL, xe_test_result_cb,
                                &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "timeout"), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_TIMEOUT,
                          "query-migrate: no reply from QEMU within 50 ms");
    xe_test_result_clear(&r);
    g_clear_error(&error);

    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_msg(ret != NULL, "%s", error ? error->message : "");
    ck_assert(xe_qmp_client_is_connected(ctx->client));
    ck_assert_uint_eq(ctx->n_disconnected, 0);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_cancel_command)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-migrate", "{}");
    xe_fake_qmp_reply_deferred(ctx->fake, 0, "{\"return\": {}, \"id\": %ID%}\n");
    xe_fake_qmp_expect(ctx->fake, "stop", "{}", "{}");
    ctx_connect_ok(ctx);

    xe_qmp_client_execute_async(ctx->client, "query-migrate", NULL, 0, cancellable,
                                xe_test_result_cb, &r);
    g_cancellable_cancel(cancellable);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "cancel"), &error));
    ck_assert(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    xe_test_result_clear(&r);
    g_clear_error(&error);

    /* Already cancelled: fails at once and sends nothing. */
    xe_qmp_client_execute_async(ctx->client, "cont", NULL, 0, cancellable, xe_test_result_cb, &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "cancelled"), &error));
    ck_assert(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    xe_test_result_clear(&r);
    g_clear_error(&error);

    ck_assert(xe_qmp_stop_finish(ctx->client, __extension__({
                                     xe_qmp_stop_async(ctx->client, NULL, xe_test_result_cb, &r);
                                     xe_test_result_wait(&r, WAIT_MS, "stop");
                                 }),
                                 &error));
    xe_test_result_clear(&r);
    ck_assert_uint_eq(ctx->n_disconnected, 0);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* A QEMU that never answers, and a caller that keeps timing out: the ids
 * kept for late replies stay bounded, and every late reply, to an id still
 * kept or to one forgotten, is dropped without harm. */

typedef struct {
    guint n_done;
    guint n_timed_out;
} TimeoutCount;

static void
count_timeout(GObject *source, GAsyncResult *result, gpointer user_data)
{
    TimeoutCount *count = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = xe_qmp_client_execute_finish(XE_QMP_CLIENT(source), result, &error);

    count->n_done++;
    if (g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_TIMEOUT))
        count->n_timed_out++;
}

START_TEST(test_abandoned_ids_are_bounded)
{
    const guint n = XE_QMP_MAX_ABANDONED + 100;
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) gate = NULL, last = NULL;
    TimeoutCount count = { 0 };
    gboolean expired = FALSE;
    guint deadline;

    xe_fake_qmp_negotiate(ctx->fake);
    for (guint i = 0; i < n; i++)
        xe_fake_qmp_expect_deferred(ctx->fake, "query-migrate", "{}");
    /* Sent once every command above has timed out: then the late replies. */
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': true, 'status': 'running'}");
    for (guint i = 0; i < n; i++)
        xe_fake_qmp_reply_deferred(ctx->fake, i,
                                   "{\"return\": {\"status\": \"active\"}, \"id\": %ID%}\n");
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': true, 'status': 'running'}");
    ctx_connect_ok(ctx);

    for (guint i = 0; i < n; i++)
        xe_qmp_client_execute_async(ctx->client, "query-migrate", NULL, 1, NULL, count_timeout,
                                    &count);
    deadline = g_timeout_add(WAIT_MS, set_expired, &expired);
    while (count.n_done < n && !expired)
        g_main_context_iteration(NULL, TRUE);
    if (!expired)
        g_source_remove(deadline);
    ck_assert_msg(count.n_done == n, "only %u of %u commands done", count.n_done, n);
    ck_assert_uint_eq(count.n_timed_out, n);
    ck_assert_uint_eq(xe_qmp_client_get_n_pending(ctx->client), 0);
    ck_assert_uint_eq(xe_qmp_client_get_n_abandoned(ctx->client), XE_QMP_MAX_ABANDONED);

    gate = run(ctx, "query-status", NULL, &error);
    ck_assert_msg(gate != NULL, "%s", error ? error->message : "");
    /* Its reply comes after all the late ones: the connection outlived them. */
    last = run(ctx, "query-status", NULL, &error);
    ck_assert_msg(last != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(xe_qmp_client_get_n_abandoned(ctx->client), 0);
    ck_assert(xe_qmp_client_is_connected(ctx->client));
    ck_assert_uint_eq(ctx->n_disconnected, 0);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_execute_when_not_connected)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_qmp_client_execute_async(client, "query-status", NULL, 0, NULL, xe_test_result_cb, &r);
    ck_assert_ptr_null(
        xe_qmp_client_execute_finish(client, xe_test_result_wait(&r, WAIT_MS, "exec"), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_NOT_CONNECTED, "not connected");
    xe_test_result_clear(&r);
}
END_TEST

/* events */

static void
record_name(XeQmpClient *client, const char *name, JsonObject *data, gint64 ts, gpointer user_data)
{
    g_ptr_array_add(user_data, g_strdup(name));
}

START_TEST(test_events_in_order_with_detail)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GPtrArray) migration_only = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    XeQmpMigrationStatus status;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_event(ctx->fake, "MIGRATION", "{'status': 'setup'}");
    xe_fake_qmp_event(ctx->fake, "STOP", NULL);
    xe_fake_qmp_event(ctx->fake, "MIGRATION", "{'status': 'device'}");
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': false, 'status': 'paused'}");
    g_signal_connect(ctx->client, "event::MIGRATION", G_CALLBACK(record_name), migration_only);
    ctx_connect_ok(ctx);
    /* The reply comes after the events on the wire, so all three are in. */
    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_ptr_nonnull(ret);
    ck_assert_uint_eq(ctx->events->len, 3);
    ck_assert_str_eq(ctx->events->pdata[0], "MIGRATION {\"status\":\"setup\"} @1764000000123456");
    ck_assert_str_eq(ctx->events->pdata[1], "STOP {} @1764000000123456");
    ck_assert_str_eq(ctx->events->pdata[2], "MIGRATION {\"status\":\"device\"} @1764000000123456");
    /* The detailed handler saw MIGRATION only. */
    ck_assert_uint_eq(migration_only->len, 2);
    ck_assert_str_eq(migration_only->pdata[1], "MIGRATION");

    {
        g_autoptr(JsonNode) n = json_from_string("{\"status\": \"pre-switchover\"}", NULL);
        ck_assert(xe_qmp_event_migration_decode(json_node_get_object(n), &status, NULL));
        ck_assert_int_eq(status, XE_QMP_MIGRATION_STATUS_PRE_SWITCHOVER);
    }
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_event_flood_is_bounded)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;
    const guint n = 200000;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    xe_fake_qmp_event_flood(ctx->fake, "MIGRATION_PASS", n);
    xe_fake_qmp_reply_deferred(
        ctx->fake, 0, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": %ID%}\n");
    ctx_connect_ok(ctx);
    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_msg(ret != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(ctx->events->len, n);
    ck_assert_str_eq(ctx->events->pdata[n - 1], "MIGRATION_PASS {\"pass\":200000} @1000002");
    ck_assert(xe_qmp_client_is_connected(ctx->client));
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* disconnection */

START_TEST(test_eof_fails_pending_once)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "migrate", NULL);
    xe_fake_qmp_close(ctx->fake);
    ctx_connect_ok(ctx);
    xe_qmp_client_execute_async(ctx->client, "migrate", NULL, 0, NULL, xe_test_result_cb, &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "migrate"), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED,
                          "migrate: connection lost: QEMU closed the monitor connection");
    xe_test_result_clear(&r);
    ck_assert_uint_eq(ctx->n_disconnected, 1);
    assert_error_contains(ctx->reason, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED,
                          "QEMU closed the monitor connection");
    ck_assert(!xe_qmp_client_is_connected(ctx->client));
    g_clear_error(&error);
    ck_assert_ptr_null(run(ctx, "query-status", NULL, &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_NOT_CONNECTED, "not connected");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_connection_reset)
{
    g_autoptr(Ctx) ctx = ctx_new(TRUE);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-migrate", "{}");
    xe_fake_qmp_reset(ctx->fake);
    ctx_connect_ok(ctx);
    xe_qmp_client_execute_async(ctx->client, "query-migrate", NULL, 0, NULL, xe_test_result_cb, &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "query-migrate"), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED,
                          "Connection reset by peer");
    xe_test_result_clear(&r);
    ck_assert_uint_eq(ctx->n_disconnected, 1);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* protocol violations: each disconnects cleanly with a reason naming it */

typedef struct {
    const char *name;
    const char *raw; /* sent after negotiation, while query-status is pending */
    XeQmpErrorCode code;
    const char *reason_part;
    gsize len;        /* 0: strlen(raw) */
    gboolean hang_up; /* the peer closes after raw (else it waits for the client to) */
} Violation;

#define NUL_IN_REPLY "{\"return\": \0{}, \"id\": \"xe-2\"}\n"

/* Every reply or event arrives as message 3 (after the greeting and the
 * qmp_capabilities reply), at byte 161: the reason says so. */
#define AT3 "QMP message 3 at byte 161: "

static const Violation violations[] = {
    { "malformed json", "{\"return\": {,}}\n", XE_QMP_ERROR_PROTOCOL,
      "QMP stream: message 3 at byte 161: malformed JSON in this 15-byte message: <data>:1:" },
    { "garbage", "Hello, world\n", XE_QMP_ERROR_PROTOCOL,
      "QMP stream: message 3 at byte 161: unexpected byte 0x48" },
    { "nul byte", NUL_IN_REPLY, XE_QMP_ERROR_PROTOCOL, "message 3 at byte 172: NUL byte",
      sizeof(NUL_IN_REPLY) - 1 },
    { "invalid utf-8", "{\"event\": \"STOP\xff\"}\n", XE_QMP_ERROR_PROTOCOL,
      "message 3 at byte 176: invalid UTF-8 (byte 0xff)" },
    { "reply without id",
      "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n",
      XE_QMP_ERROR_PROTOCOL,
      AT3 "reply without an id (QEMU sends those only for input it could not parse): JSON parse "
          "error" },
    { "numeric id", "{\"return\": {}, \"id\": 2}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "reply id is an integer, not a string" },
    { "unknown id", "{\"return\": {}, \"id\": \"xe-99\"}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "reply to 'xe-99', a command that was never sent" },
    { "foreign id", "{\"return\": {}, \"id\": \"libvirt-7\"}\n", XE_QMP_ERROR_PROTOCOL,
      "never sent" },
    { "duplicate id", "{\"return\": {}, \"id\": \"xe-1\"}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "duplicate reply: command 'xe-1' was already answered" },
    { "error without desc", "{\"error\": {\"class\": \"GenericError\"}, \"id\": \"xe-2\"}\n",
      XE_QMP_ERROR_PROTOCOL,
      AT3 "reply to 'xe-2' (query-status) is malformed: 'error' lacks 'desc'" },
    { "error class not a string",
      "{\"error\": {\"class\": 1, \"desc\": \"x\"}, \"id\": \"xe-2\"}\n", XE_QMP_ERROR_PROTOCOL,
      "is malformed: 'error.class' is an integer, expected a string" },
    { "error not an object", "{\"error\": \"boom\", \"id\": \"xe-2\"}\n", XE_QMP_ERROR_PROTOCOL,
      "is malformed: 'error' is a string, expected an object" },
    { "return and error",
      "{\"return\": {}, \"error\": {\"class\": \"A\", \"desc\": \"B\"}, \"id\": \"xe-2\"}\n",
      XE_QMP_ERROR_PROTOCOL, "is malformed: it has both 'return' and 'error'" },
    { "event name not a string", "{\"event\": 5}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "malformed event: 'event' is an integer, expected a string" },
    { "event data not an object", "{\"event\": \"STOP\", \"data\": [1]}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "malformed event 'STOP': 'data' is an array, expected an object" },
    { "event timestamp not an object", "{\"event\": \"STOP\", \"timestamp\": 7}\n",
      XE_QMP_ERROR_PROTOCOL,
      "malformed event 'STOP': 'timestamp' is an integer, expected an object" },
    { "second greeting", XE_FAKE_QMP_GREETING, XE_QMP_ERROR_PROTOCOL, AT3 "a second QMP greeting" },
    { "neither reply nor event", "{\"hello\": 1}\n", XE_QMP_ERROR_PROTOCOL,
      AT3 "neither a reply ('return' or 'error') nor an event ('event')" },
    { "too deep",
      "{\"return\": "
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n",
      XE_QMP_ERROR_TOO_LARGE, "message 3 at byte 235: nesting deeper than 64 levels" },
    /* The connection ends in the middle of a message: how much of which. */
    { "eof mid-message", "{\"return\": {\"running\": tr", XE_QMP_ERROR_DISCONNECTED,
      "QEMU closed the monitor connection in the middle of QMP message 3 at byte 161 (25 bytes "
      "of it received)",
      0, TRUE },
};

START_TEST(test_protocol_violation)
{
    const Violation *v = &violations[_i];
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    xe_fake_qmp_send_bytes(ctx->fake, v->raw, v->len ? v->len : strlen(v->raw));
    if (v->hang_up)
        xe_fake_qmp_close(ctx->fake);
    else
        xe_fake_qmp_wait_eof(ctx->fake);
    ctx_connect_ok(ctx);
    xe_qmp_client_execute_async(ctx->client, "query-status", NULL, 0, NULL, xe_test_result_cb, &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, v->name), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED, "connection lost");
    xe_test_result_clear(&r);
    wait_disconnected(ctx);
    ck_assert_uint_eq(ctx->n_disconnected, 1);
    ck_assert_msg(ctx->reason->code == (int)v->code, "%s: %s", v->name, ctx->reason->message);
    ck_assert_msg(strstr(ctx->reason->message, v->reason_part) != NULL, "%s: '%s' lacks '%s'",
                  v->name, ctx->reason->message, v->reason_part);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_split_and_concatenated_messages)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };
    g_autoptr(JsonNode) ret = NULL;

    /* Greeting one byte per write; then reply + two events in one write. */
    xe_fake_qmp_send_trickle(ctx->fake, XE_FAKE_QMP_GREETING);
    xe_fake_qmp_expect_deferred(ctx->fake, "qmp_capabilities", "{}");
    xe_fake_qmp_reply_deferred(ctx->fake, 0, "{\"return\": {}, \"id\": %ID%}");
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    xe_fake_qmp_reply_deferred(ctx->fake, 1,
                               "{\"event\": \"RESUME\"}{\"return\": {\"a\": \"}\\\"{\"}, "
                               "\"id\": %ID%}{\"event\": \"STOP\"}\n");
    xe_fake_qmp_wait_eof(ctx->fake);
    ctx_connect_ok(ctx);
    xe_qmp_client_execute_async(ctx->client, "query-status", NULL, 0, NULL, xe_test_result_cb, &r);
    ret = xe_qmp_client_execute_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, "status"),
                                       &error);
    xe_test_result_clear(&r);
    ck_assert_ptr_nonnull(ret);
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(ret), "a"), "}\"{");
    while (ctx->events->len < 2)
        g_main_context_iteration(NULL, TRUE);
    ck_assert_str_eq(ctx->events->pdata[0], "RESUME {} @-1");
    ck_assert_str_eq(ctx->events->pdata[1], "STOP {} @-1");
    xe_qmp_client_close(ctx->client);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_64mib_line_is_refused)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    glong rss_before;
    gint64 start;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-qmp-schema", "{}");
    xe_fake_qmp_send_endless_string(ctx->fake, 64u * 1024 * 1024);
    ctx_connect_ok(ctx);
    rss_before = xe_test_max_rss_kib();
    start = g_get_monotonic_time();
    xe_qmp_client_execute_async(ctx->client, "query-qmp-schema", NULL, 0, NULL, xe_test_result_cb,
                                &r);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        ctx->client, xe_test_result_wait(&r, 60000, "schema"), &error));
    xe_test_result_clear(&r);
    wait_disconnected(ctx);
    printf("64 MiB line: refused after %.1f ms; the peer wrote %.1f MiB; max RSS grew %ld KiB\n",
           (g_get_monotonic_time() - start) / 1000.0,
           xe_fake_qmp_get_bytes_sent(ctx->fake) / 1048576.0, xe_test_max_rss_kib() - rss_before);
    assert_error_contains(ctx->reason, XE_QMP_ERROR, XE_QMP_ERROR_TOO_LARGE,
                          "message larger than 16777216 bytes");
    /* The client stopped reading: the peer could not push the whole line. */
    ck_assert_uint_lt(xe_fake_qmp_get_bytes_sent(ctx->fake), 64u * 1024 * 1024);
    /* Bounded memory: at most one bounded message (16 MiB) held, plus slack. */
    ck_assert_int_lt(xe_test_max_rss_kib() - rss_before, 40 * 1024);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* typed helpers: exact arguments on the wire, shapes checked on the way back */

static const char query_migrate_completed[] =
    "{'status': 'completed', 'setup-time': 1, 'downtime': 9, 'total-time': 282, "
    "'ram': {'total': 537403392, 'postcopy-requests': 0, 'dirty-sync-count': 3, "
    "'multifd-bytes': 0, 'pages-per-second': 38960, 'downtime-bytes': 10484, "
    "'page-size': 4096, 'remaining': 0, 'postcopy-bytes': 0, 'mbps': 48.72, "
    "'transferred': 1721593, 'dirty-sync-missed-zero-copy': 0, 'precopy-bytes': 1711109, "
    "'duplicate': 131061, 'normal-bytes': 1179648, 'normal': 288}, "
    "'vfio': {'transferred': 4096}, 'blocked-reasons': ['a', 'b']}";

START_TEST(test_typed_migration_commands)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(GHashTable) caps = NULL;
    g_autofree XeQmpMigrationParameters *got = NULL;
    static const XeQmpCapability want_caps[] = { { "events", TRUE }, { "return-path", TRUE } };
    XeQmpMigrationParameters params = { .has_downtime_limit = TRUE,
                                        .downtime_limit_ms = 1500,
                                        .has_avail_switchover_bandwidth = TRUE,
                                        .avail_switchover_bandwidth = 500000000 };
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect(ctx->fake, "migrate-set-capabilities",
                       "{'capabilities': [{'capability': 'events', 'state': true}, "
                       "{'capability': 'return-path', 'state': true}]}",
                       "{}");
    xe_fake_qmp_expect(ctx->fake, "query-migrate-capabilities", "{}",
                       "[{'capability': 'events', 'state': true}, "
                       "{'capability': 'postcopy-ram', 'state': false}]");
    xe_fake_qmp_expect(ctx->fake, "migrate-set-parameters",
                       "{'downtime-limit': 1500, 'avail-switchover-bandwidth': 500000000}", "{}");
    xe_fake_qmp_expect(ctx->fake, "query-migrate-parameters", "{}",
                       "{'downtime-limit': 1500, 'max-bandwidth': 134217728, 'tls-creds': ''}");
    xe_fake_qmp_expect(ctx->fake, "migrate-incoming",
                       "{'exit-on-error': false, 'channels': [{'channel-type': 'main', 'addr': "
                       "{'transport': 'socket', 'type': 'inet', 'host': '::1', 'port': '4444'}}]}",
                       "{}");
    xe_fake_qmp_expect(ctx->fake, "migrate", "{'uri': 'unix:/run/x.sock'}", "{}");
    xe_fake_qmp_expect(ctx->fake, "query-migrate", "{}", query_migrate_completed);
    xe_fake_qmp_expect(ctx->fake, "migrate-continue", "{'state': 'pre-switchover'}", "{}");
    xe_fake_qmp_expect(ctx->fake, "migrate_cancel", "{}", "{}");
    ctx_connect_ok(ctx);

#define WAIT(what) xe_test_result_wait(&r, WAIT_MS, what)
    xe_qmp_migrate_set_capabilities_async(ctx->client, want_caps, 2, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_set_capabilities_finish(ctx->client, WAIT("caps"), &error));
    xe_test_result_clear(&r);

    xe_qmp_query_migrate_capabilities_async(ctx->client, NULL, xe_test_result_cb, &r);
    caps = xe_qmp_query_migrate_capabilities_finish(ctx->client, WAIT("qcaps"), &error);
    xe_test_result_clear(&r);
    ck_assert_ptr_nonnull(caps);
    ck_assert(GPOINTER_TO_INT(g_hash_table_lookup(caps, "events")));
    ck_assert(g_hash_table_contains(caps, "postcopy-ram"));
    ck_assert(!GPOINTER_TO_INT(g_hash_table_lookup(caps, "postcopy-ram")));

    xe_qmp_migrate_set_parameters_async(ctx->client, &params, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_set_parameters_finish(ctx->client, WAIT("params"), &error));
    xe_test_result_clear(&r);

    xe_qmp_query_migrate_parameters_async(ctx->client, NULL, xe_test_result_cb, &r);
    got = xe_qmp_query_migrate_parameters_finish(ctx->client, WAIT("qparams"), &error);
    xe_test_result_clear(&r);
    ck_assert_ptr_nonnull(got);
    ck_assert(got->has_downtime_limit && got->downtime_limit_ms == 1500);
    ck_assert(got->has_max_bandwidth && got->max_bandwidth == 134217728);
    ck_assert(!got->has_avail_switchover_bandwidth);

    xe_qmp_migrate_incoming_async(ctx->client, "tcp:[::1]:4444", TRUE, XE_QMP_EXIT_ON_ERROR_FALSE,
                                  NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_incoming_finish(ctx->client, WAIT("incoming"), &error));
    xe_test_result_clear(&r);

    xe_qmp_migrate_async(ctx->client, "unix:/run/x.sock", FALSE, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_finish(ctx->client, WAIT("migrate"), &error));
    xe_test_result_clear(&r);

    xe_qmp_query_migrate_async(ctx->client, NULL, xe_test_result_cb, &r);
    info = xe_qmp_query_migrate_finish(ctx->client, WAIT("query-migrate"), &error);
    xe_test_result_clear(&r);
    ck_assert_msg(info != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(info->status, XE_QMP_MIGRATION_STATUS_COMPLETED);
    ck_assert(info->has_downtime && info->downtime_ms == 9);
    ck_assert(info->has_total_time && info->total_time_ms == 282);
    ck_assert(!info->has_expected_downtime);
    ck_assert(info->has_ram && info->ram.transferred == 1721593);
    ck_assert(info->ram.has_remaining && info->ram.remaining == 0);
    ck_assert(!info->ram.has_dirty_pages_rate);
    ck_assert(info->ram.mbps > 48.7 && info->ram.mbps < 48.8);
    ck_assert(info->has_vfio && info->vfio_transferred == 4096);
    ck_assert_uint_eq(g_strv_length(info->blocked_reasons), 2);
    ck_assert_ptr_null(info->error_desc);

    xe_qmp_migrate_continue_async(ctx->client, XE_QMP_MIGRATION_STATUS_PRE_SWITCHOVER, NULL,
                                  xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_continue_finish(ctx->client, WAIT("continue"), &error));
    xe_test_result_clear(&r);

    xe_qmp_migrate_cancel_async(ctx->client, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_cancel_finish(ctx->client, WAIT("cancel"), &error));
    xe_test_result_clear(&r);
#undef WAIT
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

typedef struct {
    const char *reply;
    const char *message_part;
} BadShape;

static const BadShape bad_shapes[] = {
    { "[]", "reply member 'return' is an array, expected an object" },
    { "{\"status\": 7}", "'status' is an integer, expected a string" },
    { "{\"status\": \"active\", \"total-time\": \"12\"}",
      "'total-time' is a string, expected an integer" },
    { "{\"status\": \"active\", \"total-time\": -5}", "'total-time' is -5, expected >= 0" },
    { "{\"status\": \"active\", \"ram\": 5}", "'ram' is an integer, expected an object" },
    { "{\"status\": \"active\", \"ram\": {\"mbps\": \"fast\"}}",
      "'mbps' is a string, expected a number" },
    { "{\"status\": \"active\", \"vfio\": {}}", "'transferred' is missing" },
    { "{\"status\": \"failed\", \"error-desc\": false}", "'error-desc' is a boolean" },
    { "{\"status\": \"active\", \"blocked-reasons\": [1]}",
      "'blocked-reasons[0]' is an integer, expected a string" },
    { "{\"status\": \"active\", \"blocked-reasons\": \"x\"}",
      "'blocked-reasons' is a string, expected an array" },
    /* Once returned NULL without a GError: the worker awaiting it hung. */
    { "{\"status\": \"setup\", \"socket-address\": [1]}",
      "'socket-address[0]' is an integer, expected an object" },
    { "{\"status\": \"setup\", \"socket-address\": {\"port\": \"1\"}}",
      "'socket-address' is an object, expected an array" },
    { "{\"status\": \"setup\", \"socket-address\": [{\"port\": 4444}]}",
      "'port' is an integer, expected a string" },
};

START_TEST(test_query_migrate_bad_shapes)
{
    const BadShape *b = &bad_shapes[_i];
    g_autoptr(JsonNode) node = json_from_string(b->reply, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpMigrationInfo) info = xe_qmp_migration_info_parse(node, &error);

    ck_assert_ptr_null(info);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY, b->message_part);
}
END_TEST

START_TEST(test_bad_reply_keeps_connection)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpStatus) status = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': 'yes', 'status': 'running'}");
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': true, 'status': 'running'}");
    ctx_connect_ok(ctx);
    xe_qmp_query_status_async(ctx->client, NULL, xe_test_result_cb, &r);
    ck_assert_ptr_null(
        xe_qmp_query_status_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, "s1"), &error));
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                          "query-status: reply member 'running' is a string, expected a boolean");
    xe_test_result_clear(&r);
    xe_qmp_query_status_async(ctx->client, NULL, xe_test_result_cb, &r);
    status =
        xe_qmp_query_status_finish(ctx->client, xe_test_result_wait(&r, WAIT_MS, "s2"), &error);
    xe_test_result_clear(&r);
    ck_assert(status != NULL && status->running);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

/* Every other reply parser: each failure names the command, the member and
 * what is wrong with it, in XE_QMP_ERROR_BAD_REPLY. */
static const struct {
    XeQmpReplyParser parse;
    const char *command;
    const char *reply;
    const char *message_part;
} parser_bad_shapes[] = {
    { xe_qmp_parse_version, "query-version", "[]",
      "query-version: reply member 'return' is an array, expected an object" },
    { xe_qmp_parse_version, "query-version", "{}",
      "query-version: reply member 'qemu' is missing" },
    { xe_qmp_parse_version, "query-version", "{\"qemu\": 1}",
      "'qemu' is an integer, expected an object" },
    { xe_qmp_parse_version, "query-version", "{\"qemu\": {\"major\": 10, \"minor\": 0}}",
      "'micro' is missing" },
    { xe_qmp_parse_version, "query-version",
      "{\"qemu\": {\"major\": 4294967296, \"minor\": 0, \"micro\": 0}}",
      "'major' is 4294967296, out of range" },
    { xe_qmp_parse_version, "query-version",
      "{\"qemu\": {\"major\": 10, \"minor\": 0, \"micro\": 0}, \"package\": 1}",
      "'package' is an integer, expected a string" },
    { xe_qmp_parse_status, "query-status", "null",
      "query-status: reply member 'return' is null, expected an object" },
    { xe_qmp_parse_status, "query-status", "{\"running\": true}", "'status' is missing" },
    { xe_qmp_parse_status, "query-status", "{\"running\": 1, \"status\": \"running\"}",
      "'running' is an integer, expected a boolean" },
    { xe_qmp_parse_migrate_capabilities, "query-migrate-capabilities", "{}",
      "query-migrate-capabilities: reply member 'return' is an object, expected an array" },
    { xe_qmp_parse_migrate_capabilities, "query-migrate-capabilities", "[1.5]",
      "reply element 0 is a number with a fraction, expected an object" },
    { xe_qmp_parse_migrate_capabilities, "query-migrate-capabilities",
      "[{\"capability\": \"events\"}]", "'state' is missing" },
    { xe_qmp_parse_migrate_parameters, "query-migrate-parameters", "\"x\"",
      "query-migrate-parameters: reply member 'return' is a string, expected an object" },
    { xe_qmp_parse_migrate_parameters, "query-migrate-parameters", "{\"downtime-limit\": -1}",
      "'downtime-limit' is -1, expected >= 0" },
    { xe_qmp_parse_memory_size, "query-memory-size-summary", "{\"plugged-memory\": 0}",
      "'base-memory' is missing" },
    { xe_qmp_parse_memory_size, "query-memory-size-summary",
      "{\"base-memory\": 268435456, \"plugged-memory\": \"0\"}",
      "'plugged-memory' is a string, expected an integer" },
    { xe_qmp_parse_qom_list, "qom-list", "{}",
      "qom-list: reply member 'return' is an object, expected an array" },
    { xe_qmp_parse_qom_list, "qom-list", "[{\"name\": \"iommufd0\"}]", "'type' is missing" },
};

START_TEST(test_reply_parsers_bad_shapes)
{
    g_autoptr(JsonNode) node = json_from_string(parser_bad_shapes[_i].reply, NULL);
    g_autoptr(GError) error = NULL;
    gpointer value = parser_bad_shapes[_i].parse(node, parser_bad_shapes[_i].command, &error);

    ck_assert_ptr_null(value);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                          parser_bad_shapes[_i].message_part);
}
END_TEST

static const struct {
    const char *reply;
    const char *message_part;
} schema_bad_shapes[] = {
    { "{}", "query-qmp-schema: reply member 'return' is an object, expected an array" },
    { "[true]", "query-qmp-schema: reply element 0 is a boolean, expected an object" },
    { "[{\"name\": \"x\"}]", "element 0 lacks a string 'name' or 'meta-type'" },
};

START_TEST(test_schema_bad_shapes)
{
    g_autoptr(JsonNode) node = json_from_string(schema_bad_shapes[_i].reply, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpSchema) schema = xe_qmp_schema_parse(node, &error);

    ck_assert_ptr_null(schema);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                          schema_bad_shapes[_i].message_part);
}
END_TEST

/* A caller's own parser that fails without a reason: the call still ends. */
static gpointer
parse_without_reason(JsonNode *ret, const char *command, GError **error)
{
    return NULL;
}

START_TEST(test_parser_without_reason_still_fails)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'running': true, 'status': 'running'}");
    ctx_connect_ok(ctx);
    xe_qmp_client_call_async(ctx->client, "query-status", NULL, parse_without_reason, NULL, 0, NULL,
                             xe_test_result_cb, &r);
    ck_assert_ptr_null(xe_qmp_client_call_finish(
        ctx->client, xe_test_result_wait(&r, WAIT_MS, "query-status"), &error));
    xe_test_result_clear(&r);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                          "query-status: reply refused by its parser, which gave no reason");
    ck_assert(xe_qmp_client_is_connected(ctx->client));
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_channels_from_uri)
{
    static const struct {
        const char *uri, *json;
    } cases[] = {
        { "unix:/tmp/m.sock", "[{\"channel-type\":\"main\",\"addr\":{\"transport\":\"socket\","
                              "\"type\":\"unix\",\"path\":\"/tmp/m.sock\"}}]" },
        { "tcp:10.0.0.2:4444", "[{\"channel-type\":\"main\",\"addr\":{\"transport\":\"socket\","
                               "\"type\":\"inet\",\"host\":\"10.0.0.2\",\"port\":\"4444\"}}]" },
        { "exec:cat > /dev/null", "[{\"channel-type\":\"main\",\"addr\":{\"transport\":\"exec\","
                                  "\"args\":[\"/bin/sh\",\"-c\",\"cat > /dev/null\"]}}]" },
        { "file:/var/tmp/vm.img,offset=4096",
          "[{\"channel-type\":\"main\",\"addr\":{\"transport\":\"file\",\"filename\":\"/var/tmp/"
          "vm.img\",\"offset\":4096}}]" },
    };
    static const char *const bad[] = { "tcp:nohost", "rdma:1.2.3.4:5",
                                       "unix:", "file:/x,offset=-1" };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = xe_qmp_migration_channels_from_uri(cases[i].uri, &error);
        g_autofree char *text = node ? json_to_string(node, FALSE) : NULL;

        ck_assert_msg(node != NULL, "%s: %s", cases[i].uri, error ? error->message : "");
        ck_assert_str_eq(text, cases[i].json);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        ck_assert_ptr_null(xe_qmp_migration_channels_from_uri(bad[i], &error));
        assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT, bad[i]);
    }
}
END_TEST

START_TEST(test_vfio_event_parse)
{
    g_autoptr(JsonNode) n = json_from_string(
        "{\"device-id\": \"hostdev0\", \"qom-path\": \"/machine/peripheral/hostdev0\", "
        "\"device-state\": \"stop-copy\"}",
        NULL);
    g_autoptr(JsonNode) bad = json_from_string("{\"device-id\": \"x\"}", NULL);
    const char *id, *path;
    XeQmpVfioState state;

    ck_assert(
        xe_qmp_event_vfio_migration_decode(json_node_get_object(n), &id, &path, &state, NULL));
    ck_assert_str_eq(id, "hostdev0");
    ck_assert_int_eq(state, XE_QMP_VFIO_STATE_STOP_COPY);
    ck_assert_str_eq(xe_qmp_vfio_state_to_string(state), "stop-copy");
    ck_assert(
        !xe_qmp_event_vfio_migration_decode(json_node_get_object(bad), &id, &path, &state, NULL));
}
END_TEST

/* The event decoders fail with the event, the member and what is wrong. */
typedef enum { EV_MIGRATION, EV_MIGRATION_PASS, EV_VFIO_MIGRATION } EventKind;

static const struct {
    EventKind kind;
    const char *data;
    const char *message_part; /* NULL: decodes */
} event_shapes[] = {
    { EV_MIGRATION, "{}", "MIGRATION event: data member 'status' is missing" },
    { EV_MIGRATION, "{\"status\": 1}", "'status' is an integer, expected a string" },
    { EV_MIGRATION, "{\"status\": \"from-the-future\"}", NULL },
    { EV_MIGRATION_PASS, "{\"pass\": \"1\"}",
      "MIGRATION_PASS event: data member 'pass' is a string, expected an integer" },
    { EV_MIGRATION_PASS, "{\"pass\": -2}", "'pass' is -2, expected >= 0" },
    { EV_MIGRATION_PASS, "{\"pass\": 2}", NULL },
    { EV_VFIO_MIGRATION, "{\"device-id\": \"x\"}",
      "VFIO_MIGRATION event: data member 'qom-path' is missing" },
    { EV_VFIO_MIGRATION, "{\"device-id\": \"x\", \"qom-path\": \"/p\", \"device-state\": true}",
      "'device-state' is a boolean, expected a string" },
    { EV_VFIO_MIGRATION, "{\"device-id\": \"x\", \"qom-path\": \"/p\", \"device-state\": \"new\"}",
      NULL },
};

START_TEST(test_event_decoders)
{
    g_autoptr(JsonNode) node = json_from_string(event_shapes[_i].data, NULL);
    JsonObject *data = json_node_get_object(node);
    g_autoptr(GError) error = NULL;
    XeQmpMigrationStatus status = XE_QMP_MIGRATION_STATUS_NONE;
    XeQmpVfioState state = XE_QMP_VFIO_STATE_STOP;
    const char *id = NULL, *path = NULL;
    guint64 pass = 0;
    gboolean ok = FALSE;

    switch (event_shapes[_i].kind) {
    case EV_MIGRATION:
        ok = xe_qmp_event_migration_decode(data, &status, &error);
        break;
    case EV_MIGRATION_PASS:
        ok = xe_qmp_event_migration_pass_decode(data, &pass, &error);
        break;
    case EV_VFIO_MIGRATION:
        ok = xe_qmp_event_vfio_migration_decode(data, &id, &path, &state, &error);
        break;
    }
    if (event_shapes[_i].message_part == NULL) {
        ck_assert_msg(ok && error == NULL, "%s: %s", event_shapes[_i].data,
                      error ? error->message : "failed");
        ck_assert(status == XE_QMP_MIGRATION_STATUS_UNKNOWN || pass == 2 ||
                  state == XE_QMP_VFIO_STATE_UNKNOWN);
        return;
    }
    ck_assert(!ok);
    assert_error_contains(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                          event_shapes[_i].message_part);
}
END_TEST

/* Schema probing on a recorded QEMU 10.0 schema and on a reduced 7.2-like one. */
static XeQmpSchema *
schema_from_file(const char *name)
{
    g_autofree char *path = g_build_filename(g_getenv("XE_TEST_DATA"), name, NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    XeQmpSchema *schema;

    ck_assert_msg(g_file_get_contents(path, &text, NULL, &error), "%s",
                  error ? error->message : "");
    node = json_from_string(text, &error);
    ck_assert_msg(node != NULL, "%s: %s", path, error ? error->message : "");
    schema = xe_qmp_schema_parse(node, &error);
    ck_assert_msg(schema != NULL, "%s: %s", path, error ? error->message : "");
    return schema;
}

START_TEST(test_schema_features)
{
    g_autoptr(XeQmpSchema) v10 = schema_from_file("qemu-10.0-schema.json");
    g_autoptr(XeQmpSchema) v72 = schema_from_file("qemu-7.2-like-schema.json");
    g_autofree char *s10 = xe_qmp_features_to_string(v10->features);
    g_autofree char *s72 = xe_qmp_features_to_string(v72->features);

    ck_assert_str_eq(s10, "events,return-path,switchover-ack,multifd,avail-switchover-bandwidth,"
                          "channels,exit-on-error,VFIO_MIGRATION,pause-before-switchover,"
                          "postcopy-ram");
    ck_assert_str_eq(s72, "events,return-path,multifd,pause-before-switchover,postcopy-ram");
    ck_assert(g_strv_contains((const char *const *)v10->events, "MIGRATION_PASS"));
    ck_assert(g_strv_contains((const char *const *)v10->migration_capabilities, "switchover-ack"));
}
END_TEST

/* the fake peer's own steps: standing answers, pauses, accepting again */

/* Runs @command and returns the "status" of its reply. */
static char *
run_status(Ctx *ctx, const char *command)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = run(ctx, command, NULL, &error);

    ck_assert_msg(ret != NULL, "%s: %s", command, error ? error->message : "");
    return g_strdup(json_object_get_string_member(json_node_get_object(ret), "status"));
}

static void
run_ok(Ctx *ctx, const char *command)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = run(ctx, command, NULL, &error);

    ck_assert_msg(ret != NULL, "%s: %s", command, error ? error->message : "");
}

START_TEST(test_fake_standing_answers_polls)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_standing(ctx->fake, "query-status", "{'status': 'running'}");
    xe_fake_qmp_expect(ctx->fake, "stop", "{}", "{}");
    xe_fake_qmp_standing(ctx->fake, "query-status", "{'status': 'paused'}");
    /* an expect step for the standing command itself takes it */
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'status': 'expected'}");
    xe_fake_qmp_expect(ctx->fake, "cont", "{}", "{}");
    ctx_connect_ok(ctx);

    for (guint i = 0; i < 3; i++) {
        g_autofree char *status = run_status(ctx, "query-status");
        ck_assert_str_eq(status, "running");
    }
    run_ok(ctx, "stop");
    {
        g_autofree char *expected = run_status(ctx, "query-status");
        g_autofree char *polled = run_status(ctx, "query-status");

        ck_assert_str_eq(expected, "expected");
        ck_assert_str_eq(polled, "paused");
    }
    run_ok(ctx, "cont");
    /* and after the script */
    for (guint i = 0; i < 2; i++) {
        g_autofree char *status = run_status(ctx, "query-status");
        ck_assert_str_eq(status, "paused");
    }
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_fake_standing_removed_fails)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *status = NULL;
    g_autofree char *failure = NULL;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_standing(ctx->fake, "query-status", "{'status': 'running'}");
    xe_fake_qmp_expect(ctx->fake, "stop", "{}", "{}");
    xe_fake_qmp_standing(ctx->fake, "query-status", NULL);
    xe_fake_qmp_expect(ctx->fake, "cont", "{}", "{}");
    ctx_connect_ok(ctx);

    status = run_status(ctx, "query-status");
    ck_assert_str_eq(status, "running");
    run_ok(ctx, "stop");
    /* no longer standing: the script fails and the peer hangs up */
    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_ptr_null(ret);
    ck_assert_ptr_nonnull(error);
    ck_assert(!xe_fake_qmp_finish(ctx->fake, &failure));
    ck_assert_msg(strstr(failure, "expected command 'cont'") != NULL &&
                      strstr(failure, "query-status") != NULL,
                  "%s", failure);
}
END_TEST

START_TEST(test_fake_pause_answers_standing)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autofree char *last = NULL;
    gint64 start, waited;
    guint polls = 0;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_standing(ctx->fake, "query-migrate", "{'status': 'active'}");
    xe_fake_qmp_pause(ctx->fake, 400);
    xe_fake_qmp_event(ctx->fake, "STOP", NULL);
    xe_fake_qmp_standing(ctx->fake, "query-migrate", "{'status': 'completed'}");
    xe_fake_qmp_expect(ctx->fake, "quit", "{}", "{}");
    ctx_connect_ok(ctx);
    start = g_get_monotonic_time();

    /* 'active' until the event (a poll in flight as the event went out may see
     * 'completed', but after the event) */
    while (ctx->events->len == 0) {
        g_autofree char *status = run_status(ctx, "query-migrate");

        polls++;
        ck_assert_msg(g_str_equal(status, "active") ||
                          (g_str_equal(status, "completed") && ctx->events->len == 1),
                      "poll %u: '%s' with %u events", polls, status, ctx->events->len);
        g_usleep(20000);
    }
    waited = g_get_monotonic_time() - start;
    ck_assert_msg(waited >= 300000, "the pause ended after %" G_GINT64_FORMAT " us", waited);
    ck_assert_uint_ge(polls, 3);
    last = run_status(ctx, "query-migrate");
    ck_assert_str_eq(last, "completed");
    run_ok(ctx, "quit");
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

START_TEST(test_fake_pause_refuses_others)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *status = NULL;
    g_autofree char *failure = NULL;
    gint64 start;

    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_standing(ctx->fake, "query-status", "{'status': 'running'}");
    xe_fake_qmp_pause(ctx->fake, 5000);
    xe_fake_qmp_expect(ctx->fake, "stop", "{}", "{}");
    ctx_connect_ok(ctx);
    start = g_get_monotonic_time();

    status = run_status(ctx, "query-status");
    ck_assert_str_eq(status, "running");
    ret = run(ctx, "stop", NULL, &error); /* before the pause is over */
    ck_assert_ptr_null(ret);
    ck_assert(!xe_fake_qmp_finish(ctx->fake, &failure));
    ck_assert_msg(g_get_monotonic_time() - start < 4000000, "the pause did not end at 'stop'");
    ck_assert_msg(strstr(failure, "unexpected command during a pause") != NULL &&
                      strstr(failure, "\"stop\"") != NULL,
                  "%s", failure);
}
END_TEST

START_TEST(test_fake_accept_reconnect)
{
    g_autoptr(Ctx) ctx = ctx_new(FALSE);
    g_autoptr(Ctx) again = ctx_new(FALSE); /* its own client, on ctx's fake */
    g_autoptr(XeFakeQmp) tcp = xe_fake_qmp_new(TRUE);
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *address = NULL;
    g_autofree char *status = NULL;
    XeTestResult r = { 0 };
    const char *path = xe_fake_qmp_get_path(ctx->fake);

    ck_assert_ptr_null(xe_fake_qmp_get_path(tcp));
    ck_assert_ptr_nonnull(path);
    address = g_strdup_printf("unix:%s", path);
    ck_assert_str_eq(xe_fake_qmp_get_address(ctx->fake), address);
    ck_assert(g_file_test(path, G_FILE_TEST_EXISTS));

    /* the reply to the first query-status is lost with the connection */
    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect_deferred(ctx->fake, "query-status", "{}");
    xe_fake_qmp_accept(ctx->fake);
    xe_fake_qmp_negotiate(ctx->fake);
    xe_fake_qmp_expect(ctx->fake, "query-status", "{}", "{'status': 'second'}");
    xe_fake_qmp_wait_eof(ctx->fake);
    ctx_connect_ok(ctx);
    ret = run(ctx, "query-status", NULL, &error);
    ck_assert_ptr_null(ret);
    ck_assert_ptr_nonnull(error);
    wait_disconnected(ctx);

    xe_qmp_client_connect_async(again->client, address, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_client_connect_finish(
        again->client, xe_test_result_wait(&r, WAIT_MS, "connect again"), NULL));
    xe_test_result_clear(&r);
    status = run_status(again, "query-status");
    ck_assert_str_eq(status, "second");
    xe_qmp_client_close(again->client);
    xe_fake_qmp_assert_done(ctx->fake);
}
END_TEST

static Suite *
client_suite(void)
{
    Suite *suite = suite_create("qmp-client");
    TCase *tc;

    tc = tcase_create("connect");
    tcase_add_test(tc, test_negotiate_unix);
    tcase_add_test(tc, test_negotiate_tcp);
    tcase_add_test(tc, test_bad_address);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_no_greeting_times_out);
    tcase_add_test(tc, test_partial_greeting_times_out);
    tcase_add_loop_test(tc, test_bad_greeting, 0, G_N_ELEMENTS(bad_greetings));
    tcase_add_test(tc, test_negotiation_refused);
    tcase_add_test(tc, test_eof_before_greeting);
    tcase_add_test(tc, test_connect_cancelled);
    tcase_add_test(tc, test_close_during_socket_connect);
    tcase_add_test(tc, test_close_before_greeting);
    tcase_add_test(tc, test_close_before_capabilities_reply);
    suite_add_tcase(suite, tc);

    tc = tcase_create("commands");
    tcase_add_test(tc, test_error_reply_keeps_class);
    tcase_add_test(tc, test_out_of_order_replies);
    tcase_add_test(tc, test_timeout_then_late_reply_is_ignored);
    tcase_add_test(tc, test_cancel_command);
    tcase_add_test(tc, test_abandoned_ids_are_bounded);
    tcase_add_test(tc, test_execute_when_not_connected);
    tcase_add_test(tc, test_bad_reply_keeps_connection);
    suite_add_tcase(suite, tc);

    tc = tcase_create("events");
    tcase_add_test(tc, test_events_in_order_with_detail);
    tcase_add_test(tc, test_event_flood_is_bounded);
    suite_add_tcase(suite, tc);

    tc = tcase_create("untrusted-peer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_eof_fails_pending_once);
    tcase_add_test(tc, test_connection_reset);
    tcase_add_loop_test(tc, test_protocol_violation, 0, G_N_ELEMENTS(violations));
    tcase_add_test(tc, test_split_and_concatenated_messages);
    tcase_add_test(tc, test_64mib_line_is_refused);
    suite_add_tcase(suite, tc);

    tc = tcase_create("typed");
    tcase_add_test(tc, test_typed_migration_commands);
    tcase_add_loop_test(tc, test_query_migrate_bad_shapes, 0, G_N_ELEMENTS(bad_shapes));
    tcase_add_test(tc, test_channels_from_uri);
    tcase_add_test(tc, test_vfio_event_parse);
    tcase_add_loop_test(tc, test_event_decoders, 0, G_N_ELEMENTS(event_shapes));
    tcase_add_loop_test(tc, test_reply_parsers_bad_shapes, 0, G_N_ELEMENTS(parser_bad_shapes));
    tcase_add_loop_test(tc, test_schema_bad_shapes, 0, G_N_ELEMENTS(schema_bad_shapes));
    tcase_add_test(tc, test_parser_without_reason_still_fails);
    tcase_add_test(tc, test_schema_features);
    suite_add_tcase(suite, tc);

    tc = tcase_create("fake-peer");
    tcase_add_test(tc, test_fake_standing_answers_polls);
    tcase_add_test(tc, test_fake_standing_removed_fails);
    tcase_add_test(tc, test_fake_pause_answers_standing);
    tcase_add_test(tc, test_fake_pause_refuses_others);
    tcase_add_test(tc, test_fake_accept_reconnect);
    suite_add_tcase(suite, tc);
    return suite;
}

int
main(void)
{
    return xe_test_run_suite(client_suite());
}
