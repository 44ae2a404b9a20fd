/* xe-test-qemu.c: real QEMU processes for the qmp suite and benchmarks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-qemu.h"

#include <check.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xe-test-util.h"

const char *
xe_test_qemu_binary(void)
{
    static char *binary;

    if (binary == NULL) {
        const char *env = g_getenv("QEMU_BIN");
        binary = env != NULL ? g_strdup(env) : g_find_program_in_path("qemu-system-x86_64");
    }
    return binary;
}

const char *
xe_test_qemu_accel(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return "tcg";
    close(fd);
    return "kvm";
}

XeTestQemu *
xe_test_qemu_start(const char *name, const char *memory, gboolean incoming, GError **error)
{
    return xe_test_qemu_start_with(name, memory, incoming, NULL, NULL, error);
}

static XeTestQemu *start(const char *name, const char *memory, gboolean incoming, const char *accel,
                         const char *const *env, const char *const *args, GError **error);

XeTestQemu *
xe_test_qemu_start_with(const char *name, const char *memory, gboolean incoming,
                        const char *const *env, const char *const *args, GError **error)
{
    return start(name, memory, incoming, xe_test_qemu_accel(), env, args, error);
}

static XeTestQemu *
start(const char *name, const char *memory, gboolean incoming, const char *accel,
      const char *const *env, const char *const *args, GError **error)
{
    g_autoptr(XeTestQemu) qemu = g_new0(XeTestQemu, 1);
    g_autofree char *sock = NULL, *log = NULL, *machine = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    if (xe_test_qemu_binary() == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "qemu-system-x86_64 not found");
        return NULL;
    }
    qemu->name = g_strdup(name);
    qemu->dir = xe_test_mkdtemp("xe-qemu");
    sock = g_build_filename(qemu->dir, "qmp.sock", NULL);
    log = g_build_filename(qemu->dir, "qemu.log", NULL);
    machine = g_strdup_printf("q35,accel=%s", accel);
    if (env != NULL) {
        g_ptr_array_add(argv, (gpointer) "env"); /* execs QEMU: the pid stays QEMU's */
        for (const char *const *e = env; *e != NULL; e++)
            g_ptr_array_add(argv, (gpointer)*e);
    }
    for (const char *const *a =
             (const char *const[]){ xe_test_qemu_binary(), "-name", name, "-machine", machine, "-m",
                                    memory, "-nodefaults", "-no-user-config", "-display", "none",
                                    NULL };
         *a != NULL; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    for (const char *const *a = args; a != NULL && *a != NULL; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    qemu->process =
        xe_qemu_process_spawn((const char *const *)argv->pdata, sock, incoming, log, NULL, error);
    if (qemu->process == NULL)
        return NULL;
    qemu->qmp_address = g_strdup(xe_qemu_process_get_qmp_address(qemu->process));
    return g_steal_pointer(&qemu);
}

static void
store_result(GObject *source, GAsyncResult *result, gpointer user_data)
{
    *(GAsyncResult **)user_data = g_object_ref(result);
}

XeQmpClient *
xe_test_qemu_connect(XeTestQemu *qemu, GError **error)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autoptr(GAsyncResult) result = NULL;

    /* The connect has its own deadline: the client's greeting timeout. */
    xe_qmp_client_connect_async(client, qemu->qmp_address, NULL, store_result, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    if (!xe_qmp_client_connect_finish(client, result, error)) {
        g_prefix_error(error, "connecting to QEMU '%s': ", qemu->name);
        return NULL;
    }
    return g_steal_pointer(&client);
}

void
xe_test_qemu_free(XeTestQemu *qemu)
{
    if (qemu == NULL)
        return;
    if (qemu->process != NULL) {
        xe_qemu_process_kill(qemu->process);
        /* Reap it before its directory goes (a deadline: 10 s). */
        for (gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
             !xe_qemu_process_has_exited(qemu->process) && g_get_monotonic_time() < end;)
            g_main_context_iteration(NULL, TRUE);
        g_object_unref(qemu->process);
    }
    xe_test_rmtree(qemu->dir);
    g_free(qemu->dir);
    g_free(qemu->qmp_address);
    g_free(qemu->name);
    g_free(qemu);
}

/* the dirtying guest */

gboolean
xe_test_qemu_guest_word(XeQmpClient *client, guint64 address, guint32 *value, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(JsonNode) out = NULL;
    g_autofree char *line = g_strdup_printf("xp /1wx 0x%" G_GINT64_MODIFIER "x", address);
    const char *text, *colon;

    json_object_set_string_member(args, "command-line", line);
    xe_qmp_client_execute_async(client, "human-monitor-command", args, 0, NULL, store_result,
                                &result);
    while (result == NULL) /* the command's own timeout is the deadline */
        g_main_context_iteration(NULL, TRUE);
    out = xe_qmp_client_execute_finish(client, result, error);
    if (out == NULL)
        return FALSE;
    text = json_node_get_string(out);
    colon = text != NULL ? strchr(text, ':') : NULL;
    if (colon == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "xp said '%s'",
                    text != NULL ? text : "");
        return FALSE;
    }
    *value = (guint32)g_ascii_strtoull(colon + 1, NULL, 16);
    return TRUE;
}

gboolean
xe_test_qemu_guest_passes(XeQmpClient *client, guint32 *passes, GError **error)
{
    return xe_test_qemu_guest_word(client, 0x7000, passes, error);
}

static gboolean
expired(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

XeTestQemu *
xe_test_qemu_start_dirtying(const char *name, const char *memory, const char *const *env,
                            const char *const *args, XeQmpClient **client, GError **error)
{
    const char *kernel = g_getenv("XE_DIRTIER");
    const char *accels[] = { xe_test_qemu_accel(), "tcg" };

    if (kernel == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no $XE_DIRTIER");
        return NULL;
    }
    for (guint i = 0; i < G_N_ELEMENTS(accels); i++) {
        g_autoptr(GPtrArray) all = g_ptr_array_new();
        g_autoptr(XeTestQemu) qemu = NULL;
        g_autoptr(XeQmpClient) c = NULL;
        guint32 before = 0, after = 0;
        gboolean late = FALSE;

        if (i > 0 && g_str_equal(accels[i], accels[0]))
            break;
        g_ptr_array_add(all, (gpointer) "-kernel");
        g_ptr_array_add(all, (gpointer)kernel);
        for (const char *const *a = args; a != NULL && *a != NULL; a++)
            g_ptr_array_add(all, (gpointer)*a);
        g_ptr_array_add(all, NULL);
        qemu = start(name, memory, FALSE, accels[i], env, (const char *const *)all->pdata, error);
        if (qemu == NULL || (c = xe_test_qemu_connect(qemu, error)) == NULL ||
            !xe_test_qemu_guest_passes(c, &before, error))
            return NULL;
        /* a second of running: some passes over its RAM, unless its accelerator runs nothing */
        g_timeout_add(1000, expired, &late);
        while (!late)
            g_main_context_iteration(NULL, TRUE);
        if (!xe_test_qemu_guest_passes(c, &after, error))
            return NULL;
        if (after != before) {
            *client = g_steal_pointer(&c);
            return g_steal_pointer(&qemu);
        }
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "the dirtying guest makes no progress, with %s nor with tcg", accels[0]);
    return NULL;
}

/* a migration by hand */

static void
on_event_seen(XeQmpClient *client, const char *name, JsonObject *data, gint64 timestamp,
              gpointer user_data)
{
    GHashTable *seen = user_data;
    XeQmpMigrationStatus status;

    if (g_str_equal(name, "MIGRATION") && (!xe_qmp_event_migration_decode(data, &status, NULL) ||
                                           status != XE_QMP_MIGRATION_STATUS_COMPLETED))
        return;
    if (!g_hash_table_contains(seen, name))
        g_hash_table_insert(seen, g_strdup(name), g_memdup2(&timestamp, sizeof(timestamp)));
}

XeQmpClient *
xe_test_qemu_connect_seeing(XeQemuProcess *p, GHashTable *seen)
{
    XeQmpCapability caps[] = { { "events", TRUE }, { "return-path", TRUE } };
    XeTestResult r = { 0 };
    g_autoptr(GError) error = NULL;
    XeQmpClient *c;

    xe_qemu_process_connect_async(p, NULL, xe_test_result_cb, &r);
    c = xe_qemu_process_connect_finish(p, xe_test_result_wait(&r, 20000, "connect"), &error);
    xe_test_result_clear(&r);
    ck_assert_msg(c != NULL, "QMP: %s", error ? error->message : "");
    g_signal_connect(c, "event", G_CALLBACK(on_event_seen), seen);
    xe_qmp_migrate_set_capabilities_async(c, caps, G_N_ELEMENTS(caps), NULL, xe_test_result_cb, &r);
    ck_assert_msg(
        xe_qmp_migrate_set_capabilities_finish(c, xe_test_result_wait(&r, 10000, "caps"), &error),
        "caps: %s", error ? error->message : "");
    xe_test_result_clear(&r);
    return c;
}

static void
wait_seen(GHashTable *seen, const char *name, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    while (!g_hash_table_contains(seen, name)) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "no %s within %u s", name, timeout_s);
        g_main_context_iteration(NULL, TRUE);
    }
}

void
xe_test_qemu_bare_migrate(XeQemuProcess *src, XeQemuProcess *dst, const char *dst_addr, gint64 t0,
                          double *running_ms, double *downtime_ms, double *qemu_downtime_ms)
{
    g_autofree char *listen = g_strdup_printf("tcp:%s:0", dst_addr);
    g_autofree char *uri = NULL;
    g_autoptr(GHashTable) src_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) dst_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(XeQmpClient) s = xe_test_qemu_connect_seeing(src, src_seen);
    g_autoptr(XeQmpClient) d = xe_test_qemu_connect_seeing(dst, dst_seen);
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_qmp_migrate_incoming_async(d, listen, FALSE, XE_QMP_EXIT_ON_ERROR_DEFAULT, NULL,
                                  xe_test_result_cb, &r);
    ck_assert_msg(
        xe_qmp_migrate_incoming_finish(d, xe_test_result_wait(&r, 10000, "incoming"), &error),
        "migrate-incoming: %s", error ? error->message : "");
    xe_test_result_clear(&r);
    xe_qmp_query_migrate_async(d, NULL, xe_test_result_cb, &r);
    info = xe_qmp_query_migrate_finish(d, xe_test_result_wait(&r, 10000, "qm"), &error);
    xe_test_result_clear(&r);
    ck_assert(info != NULL && info->socket_port != NULL);
    uri = g_strdup_printf("tcp:%s:%s", dst_addr, info->socket_port);
    g_clear_pointer(&info, xe_qmp_migration_info_free);
    xe_qmp_migrate_async(s, uri, FALSE, NULL, xe_test_result_cb, &r);
    ck_assert_msg(xe_qmp_migrate_finish(s, xe_test_result_wait(&r, 10000, "migrate"), &error),
                  "migrate: %s", error ? error->message : "");
    xe_test_result_clear(&r);
    wait_seen(src_seen, "MIGRATION", 120);
    xe_qmp_cont_async(d, NULL, xe_test_result_cb, &r);
    ck_assert_msg(xe_qmp_cont_finish(d, xe_test_result_wait(&r, 10000, "cont"), &error), "cont: %s",
                  error ? error->message : "");
    xe_test_result_clear(&r);
    *running_ms = (g_get_monotonic_time() - t0) / 1000.0;
    wait_seen(dst_seen, "RESUME", 10);
    *downtime_ms = (*(gint64 *)g_hash_table_lookup(dst_seen, "RESUME") -
                    *(gint64 *)g_hash_table_lookup(src_seen, "STOP")) /
                   1000.0;
    xe_qmp_query_migrate_async(s, NULL, xe_test_result_cb, &r);
    info = xe_qmp_query_migrate_finish(s, xe_test_result_wait(&r, 10000, "qm src"), &error);
    xe_test_result_clear(&r);
    ck_assert(info != NULL && info->has_downtime);
    *qemu_downtime_ms = (double)info->downtime_ms;
}
