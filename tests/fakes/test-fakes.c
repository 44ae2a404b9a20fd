/* test-fakes.c: suite "fakes": the fake destination daemon (xe-fake-peer.h)
 * as the source's xe-peer sees it, on a private bus through
 * systemd-stdio-bridge: PrepareIncoming, each Finish mode, Abort before and
 * after the commit, refusals, the daemon going away and coming back, and the
 * source leaving the bus.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "xe-bus.h"
#include "xe-error.h"
#include "xe-fake-peer.h"
#include "xe-peer.h"
#include "xe-test-bus.h"
#include "xe-test-util.h"

#define WAIT_MS 10000

typedef struct {
    XeTestBus *bus;
    XeFakePeer *fake;
    XePeer *peer;
} Ctx;

static XePeer *
connect_peer(Ctx *ctx)
{
    g_autofree char *bus_path = g_strdup_printf("--bus-path=unix:path=%s/bus", ctx->bus->dir);
    const char *transport[] = { "systemd-stdio-bridge", bus_path, NULL };
    g_autoptr(GError) error = NULL;
    XePeer *peer = xe_peer_connect(transport, "dest", WAIT_MS, NULL, &error);

    ck_assert_msg(peer != NULL, "xe_peer_connect: %s", error ? error->message : "");
    return peer;
}

static Ctx *
ctx_new(void)
{
    Ctx *ctx = g_new0(Ctx, 1);

    ctx->bus = xe_test_bus_start();
    ctx->fake = xe_fake_peer_new(ctx->bus->address);
    ctx->peer = connect_peer(ctx);
    return ctx;
}

static void
ctx_free(Ctx *ctx)
{
    xe_peer_free(ctx->peer);
    xe_fake_peer_free(ctx->fake);
    xe_test_bus_stop(ctx->bus);
    g_free(ctx);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ctx, ctx_free)

static GVariant *
test_spec(void)
{
    const char *argv[] = { "qemu-system-x86_64", "-device", "vfio-pci,host={vf}", NULL };
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string("web-1"));
    g_variant_builder_add(&b, "{sv}", "argv", g_variant_new_strv(argv, -1));
    g_variant_builder_add(&b, "{sv}", "profile", g_variant_new_string("standard"));
    g_variant_builder_add(&b, "{sv}", "policy", g_variant_new_string("default"));
    g_variant_builder_add(&b, "{sv}", "downtime-budget-ms", g_variant_new_uint64(1500));
    return g_variant_builder_end(&b);
}

/* PrepareIncoming through xe-peer; returns the incoming's object path. */
static char *
prepare(Ctx *ctx, GVariant **info_out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) info = NULL;
    GVariantBuilder options;
    const char *incoming = NULL;

    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&options, "{sv}", "switchover-ack", g_variant_new_boolean(TRUE));
    g_variant_builder_add(&options, "{sv}", "multifd", g_variant_new_boolean(FALSE));
    g_variant_builder_add(&options, "{sv}", "host", g_variant_new_string("dest"));
    info = xe_peer_prepare_incoming(ctx->peer, test_spec(), "ggtt=1024,contexts=64",
                                    g_variant_builder_end(&options), WAIT_MS, NULL, &error);
    ck_assert_msg(info != NULL, "PrepareIncoming: %s", error ? error->message : "");
    ck_assert(g_variant_lookup(info, "incoming", "&o", &incoming));
    if (info_out != NULL)
        *info_out = g_variant_ref(info);
    return g_strdup(incoming);
}

/* The incoming's State as xe-peer reads it (GetAll). */
static char *
remote_state(Ctx *ctx, const char *incoming)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) props = xe_peer_incoming_properties(ctx->peer, incoming, WAIT_MS, &error);
    const char *state = NULL;

    ck_assert_msg(props != NULL, "GetAll: %s", error ? error->message : "");
    ck_assert(g_variant_lookup(props, "State", "&s", &state));
    return g_strdup(state);
}

static void
assert_state(Ctx *ctx, const char *incoming, guint n, const char *state)
{
    g_autofree char *local = xe_fake_peer_get_state(ctx->fake, n);
    g_autofree char *remote = remote_state(ctx, incoming);

    ck_assert_str_eq(local, state);
    ck_assert_str_eq(remote, state);
}

static void
assert_error(const GError *error, GQuark domain, int code, const char *part)
{
    ck_assert_msg(error != NULL, "expected an error containing '%s'", part);
    ck_assert_msg(error->domain == domain && error->code == code, "wrong error %s:%d: %s",
                  g_quark_to_string(error->domain), error->code, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

START_TEST(test_peer_prepare_and_finish_ok)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GVariant) info = NULL;
    g_autoptr(GVariant) spec = NULL;
    g_autoptr(GVariant) options = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expected_path = xe_bus_object_path("incoming", "1");
    g_autofree char *incoming = NULL;
    g_autofree char *profile = NULL;
    const char *text = NULL;
    gboolean flag = FALSE;

    xe_fake_peer_set_uri(ctx->fake, "tcp:127.0.0.1:5555", "0000:03:00.2");
    incoming = prepare(ctx, &info);
    ck_assert_str_eq(incoming, expected_path);
    ck_assert(g_variant_lookup(info, "uri", "&s", &text));
    ck_assert_str_eq(text, "tcp:127.0.0.1:5555");
    ck_assert(g_variant_lookup(info, "vf", "&s", &text));
    ck_assert_str_eq(text, "0000:03:00.2");
    ck_assert(g_variant_lookup(info, "id", "&s", &text));
    ck_assert_str_eq(text, "1");
    ck_assert(g_variant_lookup(info, "switchover-ack", "b", &flag) && flag);
    ck_assert(g_variant_lookup(info, "multifd", "b", &flag) && !flag);
    spec = xe_fake_peer_get_spec(ctx->fake, 1);
    ck_assert(g_variant_lookup(spec, "name", "&s", &text));
    ck_assert_str_eq(text, "web-1");
    profile = xe_fake_peer_get_profile(ctx->fake, 1);
    ck_assert_str_eq(profile, "ggtt=1024,contexts=64");
    options = xe_fake_peer_get_options(ctx->fake, 1);
    ck_assert(g_variant_lookup(options, "host", "&s", &text));
    ck_assert_str_eq(text, "dest");
    ck_assert_ptr_null(xe_fake_peer_get_spec(ctx->fake, 2));
    assert_state(ctx, incoming, 1, "listening");
    /* no VM there before the commit */
    ck_assert(!xe_peer_runs_vm(ctx->peer, "web-1", WAIT_MS, &error));
    ck_assert_ptr_null(error);

    ck_assert_msg(xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error), "Finish: %s",
                  error ? error->message : "");
    assert_state(ctx, incoming, 1, "running");
    ck_assert(xe_peer_runs_vm(ctx->peer, "web-1", WAIT_MS, &error));
    /* a second Finish on a running incoming succeeds; Abort cannot undo it */
    ck_assert(xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error));
    ck_assert(!xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, &error));
    assert_error(error, XE_ERROR, XE_ERROR_COMMITTED, "cannot be aborted");

    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "PrepareIncoming"), 1);
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "Finish"), 2);
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "Abort"), 1);
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "GetAll"), 2);
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "Get"), 1); /* the VM's State, once there */
    ck_assert(xe_fake_peer_wait(ctx->fake, "Finish", 2, 0));
    ck_assert(!xe_fake_peer_wait(ctx->fake, "Finish", 3, 50));
}
END_TEST

START_TEST(test_peer_finish_lost_times_out)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *incoming = prepare(ctx, NULL);

    xe_fake_peer_set_finish(ctx->fake, XE_FAKE_FINISH_LOST, 0);
    /* xe-peer waits timeout_ms + 5 s for the answer */
    ck_assert(!xe_peer_incoming_finish(ctx->peer, incoming, 100, NULL, &error));
    ck_assert_msg(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT), "%s: %s",
                  g_quark_to_string(error->domain), error->message);
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "Finish"), 1);
    /* it committed all the same; asked again, Finish succeeds */
    assert_state(ctx, incoming, 1, "running");
    g_clear_error(&error);
    ck_assert_msg(xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error), "%s",
                  error ? error->message : "");
}
END_TEST

typedef struct {
    XePeer *peer;
    const char *incoming;
    gboolean ok;
    GError *error;
} FinishThread;

static gpointer
finish_thread(gpointer data)
{
    FinishThread *t = data;

    t->ok = xe_peer_incoming_finish(t->peer, t->incoming, 5000, NULL, &t->error);
    return NULL;
}

START_TEST(test_peer_finish_slow_abort_committed)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *incoming = prepare(ctx, NULL);
    FinishThread t = { ctx->peer, incoming, FALSE, NULL };
    GThread *thread;

    xe_fake_peer_set_finish(ctx->fake, XE_FAKE_FINISH_SLOW, 1000);
    thread = g_thread_new("finish", finish_thread, &t);
    ck_assert(xe_fake_peer_wait(ctx->fake, "Finish", 1, WAIT_MS));
    /* committed while Finish is under way: the VM is the destination's */
    assert_state(ctx, incoming, 1, "committed");
    ck_assert(!xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, &error));
    assert_error(error, XE_ERROR, XE_ERROR_COMMITTED, "cannot be aborted");
    g_thread_join(thread);
    ck_assert_msg(t.ok, "Finish: %s", t.error ? t.error->message : "");
    assert_state(ctx, incoming, 1, "running");
}
END_TEST

START_TEST(test_peer_abort_before_commit)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) props = NULL;
    g_autofree char *incoming = prepare(ctx, NULL);
    gboolean exited = FALSE;

    ck_assert(xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, &error));
    assert_state(ctx, incoming, 1, "aborted");
    props = xe_peer_incoming_properties(ctx->peer, incoming, WAIT_MS, &error);
    ck_assert(g_variant_lookup(props, "Exited", "b", &exited) && exited);
    /* again: succeeds; Finish: Failed */
    ck_assert(xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, &error));
    ck_assert(!xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error));
    assert_error(error, XE_ERROR, XE_ERROR_FAILED, "aborted before it ran");
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "Abort"), 2);
}
END_TEST

START_TEST(test_peer_finish_refused)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) props = NULL;
    g_autofree char *incoming = prepare(ctx, NULL);
    const char *why = NULL;
    gboolean exited = FALSE;

    xe_fake_peer_set_finish(ctx->fake, XE_FAKE_FINISH_REFUSE, 0);
    ck_assert(!xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error));
    assert_error(error, XE_ERROR, XE_ERROR_FAILED, "failed before it ran");
    props = xe_peer_incoming_properties(ctx->peer, incoming, WAIT_MS, NULL);
    ck_assert(g_variant_lookup(props, "Exited", "b", &exited) && exited);
    ck_assert(g_variant_lookup(props, "Error", "&s", &why) && *why != '\0');
    assert_state(ctx, incoming, 1, "failed");
    /* over before it ran: Abort succeeds and it stays failed */
    ck_assert(xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, NULL));
    assert_state(ctx, incoming, 1, "failed");
}
END_TEST

START_TEST(test_peer_prepare_refused)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) info = NULL;
    g_autofree char *incoming = NULL;

    xe_fake_peer_refuse_prepare(ctx->fake, XE_ERROR_INCOMPATIBLE, "vram: 4096 MiB > 2048 MiB");
    info = xe_peer_prepare_incoming(ctx->peer, test_spec(), "vram=4096",
                                    g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0), WAIT_MS,
                                    NULL, &error);
    ck_assert_ptr_null(info);
    assert_error(error, XE_ERROR, XE_ERROR_INCOMPATIBLE, "vram: 4096 MiB > 2048 MiB");
    ck_assert_ptr_null(xe_fake_peer_get_state(ctx->fake, 1));
    /* and prepares again */
    xe_fake_peer_refuse_prepare(ctx->fake, XE_ERROR_FAILED, NULL);
    incoming = prepare(ctx, NULL);
    assert_state(ctx, incoming, 1, "listening");
    ck_assert_uint_eq(xe_fake_peer_count(ctx->fake, "PrepareIncoming"), 2);
}
END_TEST

START_TEST(test_peer_vanish_and_return)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *incoming = prepare(ctx, NULL);

    /* Finish makes the daemon go away unanswered and uncommitted */
    xe_fake_peer_set_finish(ctx->fake, XE_FAKE_FINISH_VANISH, 0);
    ck_assert(!xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error));
    ck_assert_msg(!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT), "%s", error->message);
    g_clear_error(&error);
    ck_assert(xe_peer_is_connected(ctx->peer)); /* the bus is still there */
    ck_assert(xe_peer_incoming_properties(ctx->peer, incoming, WAIT_MS, &error) == NULL);
    g_clear_error(&error);

    /* back, with its incomings as they were */
    xe_fake_peer_return(ctx->fake);
    assert_state(ctx, incoming, 1, "listening");
    xe_fake_peer_set_finish(ctx->fake, XE_FAKE_FINISH_OK, 0);
    ck_assert_msg(xe_peer_incoming_finish(ctx->peer, incoming, 1000, NULL, &error), "%s",
                  error ? error->message : "");

    /* gone on demand, and back */
    xe_fake_peer_vanish(ctx->fake);
    ck_assert(!xe_peer_incoming_abort(ctx->peer, incoming, WAIT_MS, &error));
    g_clear_error(&error);
    xe_fake_peer_return(ctx->fake);
    assert_state(ctx, incoming, 1, "running");
    ck_assert(xe_peer_runs_vm(ctx->peer, "web-1", WAIT_MS, NULL));
}
END_TEST

START_TEST(test_peer_source_leaves)
{
    g_autoptr(Ctx) ctx = ctx_new();
    g_autofree char *first = prepare(ctx, NULL);
    g_autofree char *second = NULL;

    /* the source's transport goes before Finish: the incoming is aborted */
    xe_peer_close(ctx->peer);
    ck_assert(xe_fake_peer_wait_state(ctx->fake, 1, "aborted", WAIT_MS));

    /* past the commit it stays */
    xe_peer_free(ctx->peer);
    ctx->peer = connect_peer(ctx);
    second = prepare(ctx, NULL);
    xe_fake_peer_set_state(ctx->fake, 2, "running");
    assert_state(ctx, second, 2, "running");
    xe_peer_close(ctx->peer);
    xe_peer_free(ctx->peer);
    ctx->peer = connect_peer(ctx);
    assert_state(ctx, second, 2, "running");
    assert_state(ctx, first, 1, "aborted");
}
END_TEST

int
main(void)
{
    g_autofree char *dbus = g_find_program_in_path("dbus-daemon");
    g_autofree char *bridge = g_find_program_in_path("systemd-stdio-bridge");
    Suite *s = suite_create("fakes");
    TCase *tc = tcase_create("fake-peer");

    xe_test_require_peer(dbus != NULL, "dbus-daemon");
    xe_test_require_peer(bridge != NULL, "systemd-stdio-bridge");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_peer_prepare_and_finish_ok);
    tcase_add_test(tc, test_peer_finish_lost_times_out);
    tcase_add_test(tc, test_peer_finish_slow_abort_committed);
    tcase_add_test(tc, test_peer_abort_before_commit);
    tcase_add_test(tc, test_peer_finish_refused);
    tcase_add_test(tc, test_peer_prepare_refused);
    tcase_add_test(tc, test_peer_vanish_and_return);
    tcase_add_test(tc, test_peer_source_leaves);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
