/* test-qmp-qemu.c: suite "qmp", the client against real QEMU (KVM, else TCG):
 * negotiation, typed queries, schema probing, QEMU's own error replies, a
 * QEMU that dies under a pending command, and a real local live migration of
 * a 512 MiB guest between two QEMU processes driven only through the library.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include "xe-qmp.h"
#include "xe-test-qemu.h"
#include "xe-test-util.h"

#define WAIT_MS 30000

/* Runs an _async call and waits for it: r is a local XeTestResult. */
#define AWAIT(r, call, what)                      \
    __extension__({                               \
        xe_test_result_clear(&(r));               \
        call;                                     \
        xe_test_result_wait(&(r), WAIT_MS, what); \
    })

static XeQmpClient *
connect_qemu(XeTestQemu *qemu)
{
    g_autoptr(GError) error = NULL;
    XeQmpClient *client = xe_test_qemu_connect(qemu, &error);

    ck_assert_msg(client != NULL, "%s", error ? error->message : "?");
    return client;
}

static XeTestQemu *
start_qemu(const char *name, const char *memory, gboolean incoming)
{
    g_autoptr(GError) error = NULL;
    XeTestQemu *qemu = xe_test_qemu_start(name, memory, incoming, &error);

    ck_assert_msg(qemu != NULL, "starting QEMU: %s", error ? error->message : "?");
    return qemu;
}

START_TEST(test_connect_and_query)
{
    g_autoptr(XeTestQemu) qemu = start_qemu("query", "128M", FALSE);
    g_autoptr(XeQmpClient) client = connect_qemu(qemu);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpVersion) version = NULL;
    g_autoptr(XeQmpStatus) status = NULL;
    g_autoptr(XeQmpSchema) schema = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autofree XeQmpMemorySize *size = NULL;
    g_autoptr(GPtrArray) objects = NULL;
    g_autofree char *features = NULL;
    XeTestResult r = { 0 };
    const XeQmpVersion *greeting = xe_qmp_client_get_version(client);

    ck_assert_int_ge(greeting->major, 10);
    version = xe_qmp_query_version_finish(
        client, AWAIT(r, xe_qmp_query_version_async(client, NULL, xe_test_result_cb, &r), "ver"),
        &error);
    ck_assert_msg(version != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(version->major, greeting->major);
    ck_assert_int_eq(version->minor, greeting->minor);
    ck_assert_str_eq(version->package, greeting->package);

    status = xe_qmp_query_status_finish(
        client, AWAIT(r, xe_qmp_query_status_async(client, NULL, xe_test_result_cb, &r), "st"),
        &error);
    ck_assert_msg(status != NULL, "%s", error ? error->message : "");
    ck_assert(status->running);
    ck_assert_str_eq(status->status, "running");

    schema = xe_qmp_query_schema_finish(
        client, AWAIT(r, xe_qmp_query_schema_async(client, NULL, xe_test_result_cb, &r), "sch"),
        &error);
    ck_assert_msg(schema != NULL, "%s", error ? error->message : "");
    features = xe_qmp_features_to_string(schema->features);
    printf("QEMU %d.%d.%d features: %s\n", version->major, version->minor, version->micro,
           features);
    ck_assert(schema->features & XE_QMP_FEATURE_SWITCHOVER_ACK);
    ck_assert(schema->features & XE_QMP_FEATURE_VFIO_MIGRATION_EVENT);
    ck_assert(schema->features & XE_QMP_FEATURE_AVAIL_SWITCHOVER_BANDWIDTH);
    ck_assert(schema->features & XE_QMP_FEATURE_MIGRATE_CHANNELS);
    ck_assert(schema->features & XE_QMP_FEATURE_INCOMING_EXIT_ON_ERROR);
    ck_assert(schema->features & XE_QMP_FEATURE_MULTIFD);

    /* Idle: QEMU reports blocked-reasons maybe, no status or "none"-like. */
    info = xe_qmp_query_migrate_finish(
        client, AWAIT(r, xe_qmp_query_migrate_async(client, NULL, xe_test_result_cb, &r), "qm"),
        &error);
    ck_assert_msg(info != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(info->status, XE_QMP_MIGRATION_STATUS_NONE);

    /* the guest's RAM, and the user-created objects (no iommufd here) */
    size = xe_qmp_query_memory_size_summary_finish(
        client,
        AWAIT(r, xe_qmp_query_memory_size_summary_async(client, NULL, xe_test_result_cb, &r),
              "mem"),
        &error);
    ck_assert_msg(size != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(size->base_memory, 128u << 20);
    ck_assert_uint_eq(size->plugged_memory, 0);
    objects = xe_qmp_qom_list_finish(
        client,
        AWAIT(r, xe_qmp_qom_list_async(client, "/objects", NULL, xe_test_result_cb, &r), "qom"),
        &error);
    ck_assert_msg(objects != NULL, "%s", error ? error->message : "");
    for (guint i = 0; i < objects->len; i++)
        ck_assert_str_ne(((XeQmpObjectProperty *)objects->pdata[i])->type, "child<iommufd>");

    ck_assert(xe_qmp_quit_finish(
        client, AWAIT(r, xe_qmp_quit_async(client, NULL, xe_test_result_cb, &r), "quit"), &error));
    xe_test_result_clear(&r);
}
END_TEST

START_TEST(test_capabilities_and_parameters_round_trip)
{
    g_autoptr(XeTestQemu) qemu = start_qemu("params", "128M", FALSE);
    g_autoptr(XeQmpClient) client = connect_qemu(qemu);
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) caps = NULL;
    g_autofree XeQmpMigrationParameters *got = NULL;
    static const XeQmpCapability set[] = { { "events", TRUE },
                                           { "return-path", TRUE },
                                           { "switchover-ack", TRUE } };
    static const XeQmpCapability bad[] = { { "switchover-ack", TRUE }, { "return-path", FALSE } };
    XeQmpMigrationParameters params = { .has_downtime_limit = TRUE,
                                        .downtime_limit_ms = 2500,
                                        .has_max_bandwidth = TRUE,
                                        .max_bandwidth = 1u << 30,
                                        .has_avail_switchover_bandwidth = TRUE,
                                        .avail_switchover_bandwidth = 500000000 };
    XeTestResult r = { 0 };

    ck_assert(xe_qmp_migrate_set_capabilities_finish(
        client,
        AWAIT(r, xe_qmp_migrate_set_capabilities_async(client, set, 3, NULL, xe_test_result_cb, &r),
              "caps"),
        &error));
    caps = xe_qmp_query_migrate_capabilities_finish(
        client,
        AWAIT(r, xe_qmp_query_migrate_capabilities_async(client, NULL, xe_test_result_cb, &r),
              "qcaps"),
        &error);
    ck_assert_ptr_nonnull(caps);
    ck_assert(GPOINTER_TO_INT(g_hash_table_lookup(caps, "events")));
    ck_assert(GPOINTER_TO_INT(g_hash_table_lookup(caps, "return-path")));
    ck_assert(GPOINTER_TO_INT(g_hash_table_lookup(caps, "switchover-ack")));
    ck_assert(!GPOINTER_TO_INT(g_hash_table_lookup(caps, "postcopy-ram")));

    /* QEMU's own refusal arrives as COMMAND_FAILED with its class and text. */
    ck_assert(!xe_qmp_migrate_set_capabilities_finish(
        client,
        AWAIT(r, xe_qmp_migrate_set_capabilities_async(client, bad, 2, NULL, xe_test_result_cb, &r),
              "bad caps"),
        &error));
    ck_assert(g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_COMMAND_FAILED));
    ck_assert_str_eq(xe_qmp_error_get_class(error), "GenericError");
    ck_assert_msg(strstr(error->message, "return-path") != NULL, "%s", error->message);
    g_clear_error(&error);

    ck_assert(xe_qmp_migrate_set_parameters_finish(
        client,
        AWAIT(r, xe_qmp_migrate_set_parameters_async(client, &params, NULL, xe_test_result_cb, &r),
              "params"),
        &error));
    got = xe_qmp_query_migrate_parameters_finish(
        client,
        AWAIT(r, xe_qmp_query_migrate_parameters_async(client, NULL, xe_test_result_cb, &r),
              "qparams"),
        &error);
    ck_assert_msg(got != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(got->downtime_limit_ms, 2500);
    ck_assert_uint_eq(got->max_bandwidth, 1u << 30);
    ck_assert_uint_eq(got->avail_switchover_bandwidth, 500000000);
    ck_assert(got->has_multifd_channels && got->multifd_channels == 2);

    /* Out of range: QEMU refuses downtime-limit above 2000 s. */
    params = (XeQmpMigrationParameters){ .has_downtime_limit = TRUE, .downtime_limit_ms = 2000001 };
    ck_assert(!xe_qmp_migrate_set_parameters_finish(
        client,
        AWAIT(r, xe_qmp_migrate_set_parameters_async(client, &params, NULL, xe_test_result_cb, &r),
              "bad params"),
        &error));
    ck_assert_msg(strstr(error->message, "downtime_limit") != NULL ||
                      strstr(error->message, "downtime-limit") != NULL,
                  "%s", error->message);
    g_clear_error(&error);

    /* migrate-incoming without -incoming defer. */
    ck_assert(!xe_qmp_migrate_incoming_finish(
        client,
        AWAIT(r,
              xe_qmp_migrate_incoming_async(client, "tcp:127.0.0.1:0", FALSE,
                                            XE_QMP_EXIT_ON_ERROR_DEFAULT, NULL, xe_test_result_cb,
                                            &r),
              "incoming"),
        &error));
    ck_assert_msg(strstr(error->message, "'-incoming' was not specified") != NULL, "%s",
                  error->message);
    xe_test_result_clear(&r);
}
END_TEST

typedef struct {
    GPtrArray *migration; /* MIGRATION statuses, in order */
    GPtrArray *other;     /* other event names, in order */
    gboolean completed;
    gboolean final;
} EventLog;

static void
log_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 ts, gpointer user_data)
{
    EventLog *log = user_data;
    XeQmpMigrationStatus status;

    ck_assert_int_gt(ts, 0);
    if (g_str_equal(name, XE_QMP_EVENT_MIGRATION)) {
        ck_assert(xe_qmp_event_migration_decode(data, &status, NULL));
        g_ptr_array_add(log->migration, g_strdup(xe_qmp_migration_status_to_string(status)));
        log->completed |= status == XE_QMP_MIGRATION_STATUS_COMPLETED;
        log->final |= xe_qmp_migration_status_is_final(status);
    } else if (!g_str_equal(name, XE_QMP_EVENT_MIGRATION_PASS)) {
        g_ptr_array_add(log->other, g_strdup(name));
    }
}

static char *
joined(GPtrArray *items)
{
    g_ptr_array_add(items, NULL);
    g_autofree char *text = g_strjoinv(",", (char **)items->pdata);
    g_ptr_array_remove_index(items, items->len - 1);
    return g_steal_pointer(&text);
}

static void
migrate_once(gboolean use_channels)
{
    g_autoptr(XeTestQemu) src_qemu = start_qemu("src", "512M", FALSE);
    g_autoptr(XeTestQemu) dst_qemu = start_qemu("dst", "512M", TRUE);
    g_autoptr(XeQmpClient) src = connect_qemu(src_qemu);
    g_autoptr(XeQmpClient) dst = connect_qemu(dst_qemu);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(XeQmpStatus) src_status = NULL, dst_status = NULL;
    g_autofree char *uri = g_strdup_printf("unix:%s/migrate.sock", dst_qemu->dir);
    g_autofree char *src_seq = NULL, *dst_seq = NULL, *src_other = NULL, *dst_other = NULL;
    EventLog src_log = { g_ptr_array_new_with_free_func(g_free),
                         g_ptr_array_new_with_free_func(g_free) };
    EventLog dst_log = { g_ptr_array_new_with_free_func(g_free),
                         g_ptr_array_new_with_free_func(g_free) };
    static const XeQmpCapability caps[] = { { "events", TRUE }, { "return-path", TRUE } };
    XeTestResult r = { 0 };
    gint64 start;

    g_signal_connect(src, "event", G_CALLBACK(log_event), &src_log);
    g_signal_connect(dst, "event", G_CALLBACK(log_event), &dst_log);

    ck_assert(xe_qmp_migrate_set_capabilities_finish(
        dst,
        AWAIT(r, xe_qmp_migrate_set_capabilities_async(dst, caps, 2, NULL, xe_test_result_cb, &r),
              "dst caps"),
        &error));
    ck_assert(xe_qmp_migrate_set_capabilities_finish(
        src,
        AWAIT(r, xe_qmp_migrate_set_capabilities_async(src, caps, 2, NULL, xe_test_result_cb, &r),
              "src caps"),
        &error));
    ck_assert_msg(
        xe_qmp_migrate_incoming_finish(
            dst,
            AWAIT(r,
                  xe_qmp_migrate_incoming_async(dst, uri, use_channels, XE_QMP_EXIT_ON_ERROR_FALSE,
                                                NULL, xe_test_result_cb, &r),
                  "incoming"),
            &error),
        "migrate-incoming: %s", error ? error->message : "");

    start = g_get_monotonic_time();
    ck_assert_msg(
        xe_qmp_migrate_finish(
            src,
            AWAIT(r, xe_qmp_migrate_async(src, uri, use_channels, NULL, xe_test_result_cb, &r),
                  "migrate"),
            &error),
        "migrate: %s", error ? error->message : "");
    xe_test_wait_flag(&src_log.final, 120000, "the source's final MIGRATION event");
    xe_test_wait_flag(&dst_log.final, 30000, "the destination's final MIGRATION event");

    src_seq = joined(src_log.migration);
    dst_seq = joined(dst_log.migration);
    src_other = joined(src_log.other);
    dst_other = joined(dst_log.other);
    ck_assert_str_eq(src_seq, "setup,active,device,completed");
    ck_assert_str_eq(dst_seq, "setup,active,completed");
    ck_assert_str_eq(src_other, "STOP");
    /* Started with -S (as xe-migrated starts destinations): loaded, but not running. */
    ck_assert_str_eq(dst_other, "");

    info = xe_qmp_query_migrate_finish(
        src, AWAIT(r, xe_qmp_query_migrate_async(src, NULL, xe_test_result_cb, &r), "qm"), &error);
    ck_assert_msg(info != NULL, "%s", error ? error->message : "");
    ck_assert_int_eq(info->status, XE_QMP_MIGRATION_STATUS_COMPLETED);
    ck_assert(info->has_total_time && info->total_time_ms > 0);
    ck_assert(info->has_downtime);
    ck_assert(info->has_setup_time);
    ck_assert(info->has_ram);
    ck_assert_uint_ge(info->ram.total, 512u * 1024 * 1024);
    ck_assert_uint_gt(info->ram.transferred, 0);
    ck_assert_uint_gt(info->ram.duplicate, 0); /* an idle guest is mostly zero pages */
    ck_assert(!info->has_vfio);                /* no VFIO device */
    ck_assert_ptr_null(info->error_desc);
    printf("live migration (%s, %s, 512 MiB): total %" G_GUINT64_FORMAT
           " ms, downtime %" G_GUINT64_FORMAT " ms, setup %" G_GUINT64_FORMAT
           " ms, %.2f MiB sent, %.0f Mbit/s; "
           "wall %.1f ms\n",
           xe_test_qemu_accel(), use_channels ? "channels" : "uri", info->total_time_ms,
           info->downtime_ms, info->setup_time_ms, info->ram.transferred / 1048576.0,
           info->ram.mbps, (g_get_monotonic_time() - start) / 1000.0);

    /* The source completed: now the destination may run (cont), and only it. */
    dst_status = xe_qmp_query_status_finish(
        dst, AWAIT(r, xe_qmp_query_status_async(dst, NULL, xe_test_result_cb, &r), "dst st0"),
        &error);
    ck_assert_str_eq(dst_status->status, "paused");
    xe_qmp_status_free(dst_status);
    ck_assert(xe_qmp_cont_finish(
        dst, AWAIT(r, xe_qmp_cont_async(dst, NULL, xe_test_result_cb, &r), "dst cont"), &error));

    /* The guest runs on the destination only; the source must never be resumed. */
    dst_status = xe_qmp_query_status_finish(
        dst, AWAIT(r, xe_qmp_query_status_async(dst, NULL, xe_test_result_cb, &r), "dst st"),
        &error);
    src_status = xe_qmp_query_status_finish(
        src, AWAIT(r, xe_qmp_query_status_async(src, NULL, xe_test_result_cb, &r), "src st"),
        &error);
    ck_assert(dst_status->running);
    ck_assert_str_eq(dst_status->status, "running");
    ck_assert(!src_status->running);
    ck_assert_str_eq(src_status->status, "postmigrate");

    ck_assert(xe_qmp_quit_finish(
        src, AWAIT(r, xe_qmp_quit_async(src, NULL, xe_test_result_cb, &r), "q1"), &error));
    ck_assert(xe_qmp_quit_finish(
        dst, AWAIT(r, xe_qmp_quit_async(dst, NULL, xe_test_result_cb, &r), "q2"), &error));
    xe_test_result_clear(&r);
    g_ptr_array_unref(src_log.migration);
    g_ptr_array_unref(src_log.other);
    g_ptr_array_unref(dst_log.migration);
    g_ptr_array_unref(dst_log.other);
}

START_TEST(test_live_migration_uri)
{
    migrate_once(FALSE);
}
END_TEST

START_TEST(test_live_migration_channels)
{
    migrate_once(TRUE);
}
END_TEST

static void
count_disconnect(XeQmpClient *client, GError *reason, gpointer user_data)
{
    GError **out = user_data;

    ck_assert_ptr_null(*out); /* once only */
    *out = g_error_copy(reason);
}

START_TEST(test_qemu_dies_under_a_pending_command)
{
    g_autoptr(XeTestQemu) qemu = start_qemu("dies", "128M", TRUE);
    g_autoptr(XeQmpClient) client = connect_qemu(qemu);
    g_autoptr(GError) reason = NULL;
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };
    gboolean gone = FALSE;

    g_signal_connect(client, "disconnected", G_CALLBACK(count_disconnect), &reason);
    /* query-qmp-schema is the biggest reply; kill QEMU before it is read. */
    xe_qmp_client_execute_async(client, "query-status", NULL, 0, NULL, xe_test_result_cb, &r);
    xe_qemu_process_kill(qemu->process); /* SIGKILL */
    /* The reply may or may not have been written before the kill. */
    xe_qmp_client_execute_finish(client, xe_test_result_wait(&r, WAIT_MS, "status"), &error);
    xe_test_result_clear(&r);
    while (!gone) {
        gone = reason != NULL;
        if (!gone)
            g_main_context_iteration(NULL, TRUE);
    }
    ck_assert(g_error_matches(reason, XE_QMP_ERROR, XE_QMP_ERROR_DISCONNECTED));
    ck_assert(!xe_qmp_client_is_connected(client));
    g_clear_error(&error);
    ck_assert_ptr_null(xe_qmp_client_execute_finish(
        client,
        AWAIT(r, xe_qmp_client_execute_async(client, "cont", NULL, 0, NULL, xe_test_result_cb, &r),
              "after"),
        &error));
    ck_assert(g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_NOT_CONNECTED));
    xe_test_result_clear(&r);
}
END_TEST

static void
on_exited(XeQemuProcess *process, int status, gpointer user_data)
{
    *(int *)user_data = status;
}

START_TEST(test_process_supervision)
{
    g_autoptr(XeTestQemu) qemu = start_qemu("supervised", "128M", TRUE);
    g_autoptr(XeQmpClient) client = connect_qemu(qemu);
    g_autoptr(XeQmpStatus) status = NULL;
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };
    int exit_status = -1000;

    g_signal_connect(qemu->process, "exited", G_CALLBACK(on_exited), &exit_status);
    ck_assert(!xe_qemu_process_has_exited(qemu->process));
    ck_assert_int_gt(xe_qemu_process_get_pid(qemu->process), 0);
    status = xe_qmp_query_status_finish(
        client, AWAIT(r, xe_qmp_query_status_async(client, NULL, xe_test_result_cb, &r), "st"),
        &error);
    ck_assert_str_eq(status->status, "inmigrate"); /* -incoming defer */
    ck_assert(xe_qmp_quit_finish(
        client, AWAIT(r, xe_qmp_quit_async(client, NULL, xe_test_result_cb, &r), "quit"), &error));
    xe_test_result_clear(&r);
    while (exit_status == -1000)
        g_main_context_iteration(NULL, TRUE);
    ck_assert_int_eq(exit_status, 0);
    ck_assert(xe_qemu_process_has_exited(qemu->process));
    ck_assert_int_eq(xe_qemu_process_get_exit_status(qemu->process), 0);
}
END_TEST

/* After a restart the daemon finds the QEMU it started by its monitor socket. Under the unit
 * it may not read another user's fds, so the QEMU's command line names the socket. */
START_TEST(test_found_by_its_monitor)
{
    g_autoptr(XeTestQemu) qemu = start_qemu("found", "64M", TRUE);
    const char *sock = qemu->qmp_address + strlen("unix:");
    guint pid = (guint)xe_qemu_process_get_pid(qemu->process);
    g_autofree char *other = g_strconcat(sock, ".other", NULL);

    ck_assert_uint_eq(xe_qemu_pid_by_monitor(sock), pid);
    ck_assert_uint_eq(xe_qmp_socket_server_pid(sock), pid);
    ck_assert_uint_eq(xe_qemu_pid_by_monitor(other), 0);
    ck_assert_uint_eq(xe_qmp_socket_server_pid(other), 0);
}
END_TEST

static gboolean
second_over(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* The dirtying guest (tests/guest) runs, on KVM or else TCG: its passes over its RAM go up. */
START_TEST(test_dirtying_guest_makes_progress)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(XeTestQemu) qemu =
        xe_test_qemu_start_dirtying("dirtying", "128M", NULL, NULL, &client, &error);
    guint32 before = 0, after = 0;
    gboolean over = FALSE;

    ck_assert_msg(qemu != NULL, "%s", error ? error->message : "");
    ck_assert(xe_test_qemu_guest_passes(client, &before, &error));
    g_timeout_add(500, second_over, &over);
    while (!over)
        g_main_context_iteration(NULL, TRUE);
    ck_assert(xe_test_qemu_guest_passes(client, &after, &error));
    ck_assert_msg(after > before, "passes %u then %u", before, after);
    printf("dirtying guest (128 MiB): %u passes over its RAM in 0.5 s\n", after - before);
}
END_TEST

/* -append 4: the guest rewrites only 4 MiB from 2 MiB on; the page past them stays zero. */
START_TEST(test_dirtying_guest_bounded)
{
    const char *args[] = { "-append", "4", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(XeTestQemu) qemu =
        xe_test_qemu_start_dirtying("bounded", "128M", NULL, args, &client, &error);
    guint32 first = 0, last = 0, past = 0;

    ck_assert_msg(qemu != NULL, "%s", error ? error->message : "");
    ck_assert(xe_test_qemu_guest_word(client, 0x200000, &first, &error));
    ck_assert(xe_test_qemu_guest_word(client, 0x5ff000, &last, &error));
    ck_assert(xe_test_qemu_guest_word(client, 0x600000, &past, &error));
    ck_assert_msg(first > 0 && last > 0, "the 4 MiB are not rewritten: %u, %u", first, last);
    ck_assert_msg(past == 0, "the page past 4 MiB was written %u times", past);
}
END_TEST

static Suite *
qemu_suite(void)
{
    Suite *suite = suite_create("qmp-qemu");
    TCase *tc = tcase_create("real-qemu");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_connect_and_query);
    tcase_add_test(tc, test_capabilities_and_parameters_round_trip);
    tcase_add_test(tc, test_live_migration_uri);
    tcase_add_test(tc, test_live_migration_channels);
    tcase_add_test(tc, test_qemu_dies_under_a_pending_command);
    tcase_add_test(tc, test_process_supervision);
    tcase_add_test(tc, test_found_by_its_monitor);
    tcase_add_test(tc, test_dirtying_guest_makes_progress);
    tcase_add_test(tc, test_dirtying_guest_bounded);
    suite_add_tcase(suite, tc);
    return suite;
}

int
main(void)
{
    xe_test_require_peer(xe_test_qemu_binary() != NULL, "qemu-system-x86_64 (QEMU >= 10.0)");
    printf("QEMU: %s, accelerator: %s\n", xe_test_qemu_binary(), xe_test_qemu_accel());
    return xe_test_run_suite(qemu_suite());
}
