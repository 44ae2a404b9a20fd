/* test-vfio.c: suite "vfio": unmodified QEMU runs `-device vfio-pci,host=VF` on an
 * xe-sim VF under the VFIO emulation (xe-vfio-emul.h), and migrates it with its own
 * hw/vfio code: the device realized with the VF's identity and BARs, its group
 * exclusive and released when QEMU dies (SIGKILL), a live migration between two QEMUs
 * whose device bytes are the VF's whole stream, a VF reset in stop-copy failing it as
 * the kernel's does, QEMU's dirty-tracking blocker, and the QEMU build still going
 * through the entry points the emulation interposes (none of its VFIO ioctls reaching
 * the kernel).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <json-glib/json-glib.h>

#include "xe-qmp-migration.h"
#include "xe-test-qemu.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define PF       "0000:03:00.0"
#define VF1      "0000:03:00.1"
#define VF2      "0000:03:00.2"
#define DEADLINE 30000

typedef struct {
    XeTestSim *sim;
    char *log; /* the emulation's log: one line per call it served */
    char *root_env, *log_env, *preload_env;
} Host;

static void
require_peers(void)
{
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse, fusermount3)");
    xe_test_require_peer(xe_test_qemu_binary() != NULL, "qemu-system-x86_64");
}

/* xe-sim with @vfs VFs, each bound to xe-vfio-pci. */
static void
host_up(Host *h, guint vfs)
{
    g_autofree char *dir = xe_test_mkdtemp("xe-vfio-test");
    g_autofree char *count = g_strdup_printf("%u", vfs);

    require_peers();
    h->sim = xe_test_sim_start(NULL);
    h->log = g_build_filename(dir, "emulation.log", NULL);
    h->root_env = g_strdup_printf("XE_VFIO_SIM_ROOT=%s", h->sim->root);
    h->log_env = g_strdup_printf("XE_VFIO_LOG=%s", h->log);
    h->preload_env = g_strdup_printf("LD_PRELOAD=%s", g_getenv("XE_VFIO_PRELOAD"));
    ck_assert_int_eq(
        xe_test_sim_write(h->sim, "sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", "0"), 0);
    ck_assert_int_eq(xe_test_sim_write(h->sim, "sys/bus/pci/devices/" PF "/sriov_numvfs", count),
                     0);
    for (guint i = 1; i <= vfs; i++) {
        g_autofree char *vf = g_strdup_printf("0000:03:00.%u", i);
        g_autofree char *override = g_strdup_printf("sys/bus/pci/devices/%s/driver_override", vf);
        g_autofree char *vram =
            g_strdup_printf("sys/kernel/debug/dri/" PF "/sriov/vf%u/tile0/vram_quota", i);

        /* 64 MiB of VRAM: the whole of it moves in a migration */
        ck_assert_int_eq(xe_test_sim_write(h->sim, vram, "67108864"), 0);
        ck_assert_int_eq(xe_test_sim_write(h->sim, override, "xe-vfio-pci"), 0);
        ck_assert_int_eq(xe_test_sim_write(h->sim, "sys/bus/pci/drivers/xe-vfio-pci/bind", vf), 0);
    }
}

static void
host_down(Host *h)
{
    g_clear_pointer(&h->sim, xe_test_sim_stop);
    if (h->log != NULL) {
        g_autofree char *dir = g_path_get_dirname(h->log);

        xe_test_rmtree(dir);
    }
    g_free(h->log);
    g_free(h->root_env);
    g_free(h->log_env);
    g_free(h->preload_env);
}

static char *
emulation_log(Host *h)
{
    g_autofree char *text = NULL;

    g_file_get_contents(h->log, &text, NULL, NULL);
    return g_strdup(text != NULL ? text : "");
}

/* QEMU with @vf attached (@options appended to the device's properties). */
static XeTestQemu *
start_qemu(Host *h, const char *name, const char *vf, const char *options, gboolean incoming)
{
    g_autofree char *device =
        g_strdup_printf("vfio-pci,host=%s,id=gpu%s%s", vf, options != NULL ? "," : "",
                        options != NULL ? options : "");
    const char *env[] = { h->preload_env, h->root_env, h->log_env, NULL };
    const char *args[] = { "-device", device, NULL };
    g_autoptr(GError) error = NULL;
    XeTestQemu *qemu = xe_test_qemu_start_with(name, "128M", incoming, env, args, &error);

    ck_assert_msg(qemu != NULL, "starting QEMU %s: %s", name, error ? error->message : "");
    return qemu;
}

static char *
qemu_log(XeTestQemu *qemu)
{
    g_autofree char *path = g_build_filename(qemu->dir, "qemu.log", NULL);
    g_autofree char *text = NULL;

    g_file_get_contents(path, &text, NULL, NULL);
    return g_strdup(text != NULL ? text : "");
}

/* QMP */

static void
got_result(GObject *source, GAsyncResult *result, gpointer data)
{
    *(GAsyncResult **)data = g_object_ref(result);
}

static gboolean
expired(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Runs @command (@args JSON, ' for ", may be NULL); NULL with @error on QEMU's error. */
static JsonNode *
qmp(XeQmpClient *client, const char *command, const char *args, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(JsonNode) node = NULL;
    JsonObject *obj = NULL;

    if (args != NULL) {
        g_autofree char *json = g_strdup(args);

        g_strdelimit(json, "'", '"');
        node = json_from_string(json, NULL);
        ck_assert_msg(node != NULL, "bad test JSON %s", args);
        obj = json_node_get_object(node);
    }
    xe_qmp_client_execute_async(client, command, obj, DEADLINE, NULL, got_result, &result);
    while (result == NULL) /* the command's own timeout is the deadline */
        g_main_context_iteration(NULL, TRUE);
    return xe_qmp_client_execute_finish(client, result, error);
}

static JsonNode *
qmp_ok(XeQmpClient *client, const char *command, const char *args)
{
    g_autoptr(GError) error = NULL;
    JsonNode *r = qmp(client, command, args, &error);

    ck_assert_msg(r != NULL, "%s: %s", command, error ? error->message : "");
    return r;
}

typedef struct {
    const char *name;
    const char *field; /* data member to match, or NULL */
    const char *value;
    gboolean seen;
    GString *all; /* every event, for failure messages */
} Wait;

static void
on_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 ts, gpointer user_data)
{
    Wait *w = user_data;
    g_autofree char *json = NULL;

    if (data != NULL) {
        g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), data);

        json = json_to_string(n, FALSE);
    }
    g_string_append_printf(w->all, "%s%s ", name, json != NULL ? json : "");
    if (w->seen || !g_str_equal(name, w->name))
        return;
    if (w->field == NULL ||
        (data != NULL &&
         g_strcmp0(json_object_get_string_member_with_default(data, w->field, ""), w->value) == 0))
        w->seen = TRUE;
}

/* Watches @client for event @name (with data @field = @value). */
static Wait *
watch(XeQmpClient *client, const char *name, const char *field, const char *value)
{
    Wait *w = g_new0(Wait, 1);

    w->name = name;
    w->field = field;
    w->value = value;
    w->all = g_string_new(NULL);
    g_signal_connect(client, "event", G_CALLBACK(on_event), w);
    return w;
}

static void
wait_event(XeQmpClient *client, Wait *w)
{
    gboolean late = FALSE;
    guint timer = g_timeout_add(DEADLINE, expired, &late);

    while (!w->seen && !late)
        g_main_context_iteration(NULL, TRUE);
    if (!late)
        g_source_remove(timer);
    ck_assert_msg(w->seen, "no %s %s=%s within %u ms; events: %s", w->name,
                  w->field ? w->field : "", w->value ? w->value : "", DEADLINE, w->all->str);
    g_signal_handlers_disconnect_by_data(client, w);
    g_string_free(w->all, TRUE);
    g_free(w);
}

static void
wait_exit(XeTestQemu *qemu)
{
    gboolean late = FALSE;
    guint timer = g_timeout_add(DEADLINE, expired, &late);

    while (!xe_qemu_process_has_exited(qemu->process) && !late)
        g_main_context_iteration(NULL, TRUE);
    if (!late)
        g_source_remove(timer);
    ck_assert_msg(xe_qemu_process_has_exited(qemu->process), "QEMU %s did not exit", qemu->name);
}

static XeQmpClient *
connect_qmp(XeTestQemu *qemu)
{
    g_autoptr(GError) error = NULL;
    XeQmpClient *client = xe_test_qemu_connect(qemu, &error);

    ck_assert_msg(client != NULL, "%s: %s; QEMU said: %s", qemu->name, error ? error->message : "",
                  qemu_log(qemu));
    return client;
}

static guint64
migration_size(Host *h, guint vfid)
{
    g_autofree char *rel =
        g_strdup_printf("sys/kernel/debug/dri/" PF "/sriov/vf%u/migration_size", vfid);
    int err = 0;
    g_autofree char *text = xe_test_sim_read(h->sim, rel, &err);

    ck_assert_msg(text != NULL, "%s: %s", rel, g_strerror(err));
    return g_ascii_strtoull(text, NULL, 10);
}

static char *
vfio_state(Host *h, const char *vf)
{
    g_autofree char *rel = g_strdup_printf("sim/vfio/%s/state", vf);
    int err = 0;
    char *text = xe_test_sim_read(h->sim, rel, &err);

    ck_assert_msg(text != NULL, "%s: %s", rel, g_strerror(err));
    return g_strstrip(text);
}

/* the cases */

START_TEST(test_realize)
{
    Host h = { 0 };
    g_autoptr(XeTestQemu) qemu = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(JsonNode) pci = NULL;
    g_autofree char *json = NULL;
    g_autofree char *log = NULL;
    g_autofree char *state = NULL;

    host_up(&h, 1);
    qemu = start_qemu(&h, "realize", VF1, "enable-migration=on", FALSE);
    client = connect_qmp(qemu);
    pci = qmp_ok(client, "query-pci", NULL);
    json = json_to_string(pci, FALSE);
    /* the VF's identity (vendor 0x8086 = 32902, device 0xe20b = 57867) and BAR sizes */
    ck_assert_msg(strstr(json, "\"vendor\":32902") != NULL && strstr(json, "\"device\":57867"),
                  "query-pci has no VF: %s", json);
    ck_assert_msg(strstr(json, "\"size\":16777216") != NULL, "no 16 MiB BAR0: %s", json);
    log = emulation_log(&h);
    ck_assert_msg(strstr(log, "ioctl VFIO_GROUP_GET_DEVICE_FD") != NULL &&
                      strstr(log, "ioctl VFIO_IOMMU_MAP_DMA") != NULL,
                  "the emulation served no device: %s", log);
    ck_assert_msg(strstr(log, "leak") == NULL, "a VFIO ioctl reached the kernel: %s", log);
    state = vfio_state(&h, VF1);
    ck_assert_str_eq(state, "running");
    host_down(&h);
}
END_TEST

/* A second QEMU on the same VF: the group is busy, as the kernel says. */
START_TEST(test_group_is_exclusive)
{
    Host h = { 0 };
    g_autoptr(XeTestQemu) first = NULL;
    g_autoptr(XeTestQemu) second = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autofree char *said = NULL;

    host_up(&h, 1);
    first = start_qemu(&h, "first", VF1, "enable-migration=on", FALSE);
    client = connect_qmp(first);
    second = start_qemu(&h, "second", VF1, "enable-migration=on", FALSE);
    wait_exit(second);
    said = qemu_log(second);
    ck_assert_msg(strstr(said, "Device or resource busy") != NULL, "second QEMU said: %s", said);
    ck_assert(!xe_qemu_process_has_exited(first->process));
    host_down(&h);
}
END_TEST

/* QEMU killed with SIGKILL: the kernel releases the device; so does the emulation (xe-sim
 * sees its hold go), and another QEMU takes the VF. */
START_TEST(test_released_on_sigkill)
{
    Host h = { 0 };
    g_autoptr(XeTestQemu) first = NULL;
    g_autoptr(XeTestQemu) second = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(XeQmpClient) client2 = NULL;

    host_up(&h, 1);
    first = start_qemu(&h, "first", VF1, "enable-migration=on", FALSE);
    client = connect_qmp(first);
    kill(xe_qemu_process_get_pid(first->process), SIGKILL);
    wait_exit(first);
    second = start_qemu(&h, "second", VF1, "enable-migration=on", FALSE);
    client2 = connect_qmp(second);
    g_autoptr(JsonNode) status = qmp_ok(client2, "query-status", NULL);
    ck_assert(!xe_qemu_process_has_exited(second->process));
    host_down(&h);
}
END_TEST

/* With enable-migration=auto, QEMU blocks migration: xe-vfio-pci has no DMA logging, and
 * type1's dirty-page tracking does not count. */
START_TEST(test_dirty_tracking_blocker)
{
    Host h = { 0 };
    g_autoptr(XeTestQemu) qemu = NULL;
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *json = NULL;

    host_up(&h, 1);
    qemu = start_qemu(&h, "auto", VF1, NULL, FALSE);
    client = connect_qmp(qemu);
    info = qmp_ok(client, "query-migrate", NULL);
    json = json_to_string(info, FALSE);
    ck_assert_msg(strstr(json, "VFIO device doesn't support device and IOMMU dirty tracking"),
                  "no blocker: %s", json);
    host_down(&h);
}
END_TEST

typedef struct {
    XeTestQemu *src, *dst;
    XeQmpClient *sc, *dc;
    char *uri;
} Pair;

static void
pair_start(Host *h, Pair *p)
{
    g_autofree char *dir = NULL;
    g_autofree char *args = NULL;

    p->src = start_qemu(h, "source", VF1, "enable-migration=on,migration-events=on", FALSE);
    p->dst = start_qemu(h, "destination", VF2, "enable-migration=on,migration-events=on", TRUE);
    p->sc = connect_qmp(p->src);
    p->dc = connect_qmp(p->dst);
    for (XeQmpClient **c = (XeQmpClient *[]){ p->sc, p->dc, NULL }; *c != NULL; c++)
        json_node_unref(qmp_ok(*c, "migrate-set-capabilities",
                               "{'capabilities': [{'capability': 'events', 'state': true}, "
                               "{'capability': 'return-path', 'state': true}]}"));
    p->uri = g_strdup_printf("unix:%s/migration.sock", p->dst->dir);
    args = g_strdup_printf("{'uri': '%s'}", p->uri);
    json_node_unref(qmp_ok(p->dc, "migrate-incoming", args));
}

static void
pair_clear(Pair *p)
{
    g_clear_object(&p->sc);
    g_clear_object(&p->dc);
    g_clear_pointer(&p->src, xe_test_qemu_free);
    g_clear_pointer(&p->dst, xe_test_qemu_free);
    g_free(p->uri);
}

static void
migrate(Pair *p)
{
    g_autofree char *args = g_strdup_printf("{'uri': '%s'}", p->uri);

    json_node_unref(qmp_ok(p->sc, "migrate", args));
}

static XeQmpMigrationInfo *
query_migrate(XeQmpClient *client)
{
    g_autoptr(JsonNode) node = qmp_ok(client, "query-migrate", NULL);
    g_autoptr(GError) error = NULL;
    XeQmpMigrationInfo *info = xe_qmp_migration_info_parse(node, &error);

    ck_assert_msg(info != NULL, "query-migrate: %s", error ? error->message : "");
    return info;
}

/* The VF's whole state moves through QEMU's own VFIO migration: QEMU's device bytes are
 * the VF's stream, and the destination VF is restored and runs. */
START_TEST(test_migrate)
{
    Host h = { 0 };
    Pair p = { 0 };
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autofree char *state = NULL;
    guint64 size;
    Wait *done, *running;

    host_up(&h, 2);
    pair_start(&h, &p);
    size = migration_size(&h, 1);
    done = watch(p.sc, "MIGRATION", "status", "completed");
    migrate(&p);
    wait_event(p.sc, done);
    info = query_migrate(p.sc);
    ck_assert_msg(info->has_vfio && info->vfio_transferred == size,
                  "device bytes %" G_GUINT64_FORMAT ", the VF's stream %" G_GUINT64_FORMAT,
                  info->vfio_transferred, size);
    running = watch(p.dc, "VFIO_MIGRATION", "device-state", "running");
    json_node_unref(qmp_ok(p.dc, "cont", NULL));
    wait_event(p.dc, running); /* restored: RESUMING, STOP, then RUNNING_P2P and RUNNING */
    state = vfio_state(&h, VF2);
    ck_assert_str_eq(state, "running");
    /* the destination VF was restored from a whole stream, every byte of it checked by
     * xe-sim against the seed the source's stream carries */
    {
        int err = 0;
        g_autofree char *restored = xe_test_sim_read(h.sim, "sim/vfio/" VF2 "/stream", &err);

        ck_assert_msg(restored != NULL && strstr(restored, "restored ") != NULL &&
                          strstr(restored, "restored -") == NULL,
                      "destination: %s", restored);
    }
    pair_clear(&p);
    host_down(&h);
}
END_TEST

/* A VF reset as the source enters stop-copy: the kernel disables the save stream, QEMU's
 * read fails with ENODEV, the migration fails and the source runs on; the destination
 * QEMU, its stream cut, exits. */
START_TEST(test_reset_in_stop_copy)
{
    Host h = { 0 };
    Pair p = { 0 };
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(JsonNode) status = NULL;
    Wait *failed, *resumed;

    host_up(&h, 2);
    pair_start(&h, &p);
    xe_test_sim_control(h.sim, "flr_on_state", VF1 " stop_copy");
    failed = watch(p.sc, "MIGRATION", "status", "failed");
    resumed = watch(p.sc, "RESUME", NULL, NULL);
    migrate(&p);
    wait_event(p.sc, failed);
    wait_event(p.sc, resumed);
    info = query_migrate(p.sc);
    ck_assert_msg(info->error_desc != NULL && strstr(info->error_desc, "No such device") != NULL,
                  "error-desc: %s", info->error_desc ? info->error_desc : "(none)");
    status = qmp_ok(p.sc, "query-status", NULL);
    ck_assert_msg(json_object_get_boolean_member(json_node_get_object(status), "running"),
                  "the source does not run after the failure");
    wait_exit(p.dst);
    pair_clear(&p);
    host_down(&h);
}
END_TEST

typedef struct {
    XeQmpClient *client;
    gint64 sent, answered;
    gboolean asked;
} Probe;

static void
probe_answered(GObject *source, GAsyncResult *result, gpointer data)
{
    Probe *p = data;
    g_autoptr(JsonNode) r = xe_qmp_client_execute_finish(p->client, result, NULL);

    p->answered = g_get_monotonic_time();
}

/* At the source's STOP (the switchover's start), one query-migrate. */
static void
probe_on_stop(XeQmpClient *client, const char *name, JsonObject *data, gint64 ts, gpointer d)
{
    Probe *p = d;

    if (p->asked || !g_str_equal(name, "STOP"))
        return;
    p->asked = TRUE;
    p->sent = g_get_monotonic_time();
    xe_qmp_client_execute_async(client, "query-migrate", NULL, DEADLINE, NULL, probe_answered, p);
}

/* QEMU reads the VF's state holding its big lock: QMP waits out the device's save. With
 * the device saving at 64 MiB/s, a query-migrate sent at the switchover's start is answered
 * once the save is over; the figure is printed, not asserted. */
START_TEST(test_qmp_waits_for_the_device_save)
{
    Host h = { 0 };
    Pair p = { 0 };
    Probe probe = { 0 };
    Wait *done;
    gboolean late = FALSE;
    guint timer;

    host_up(&h, 2);
    xe_test_sim_control(h.sim, "vfio_rate", "67108864");
    pair_start(&h, &p);
    probe.client = p.sc;
    g_signal_connect(p.sc, "event", G_CALLBACK(probe_on_stop), &probe);
    done = watch(p.sc, "MIGRATION", "status", "completed");
    migrate(&p);
    wait_event(p.sc, done);
    timer = g_timeout_add(DEADLINE, expired, &late);
    while (probe.answered == 0 && !late)
        g_main_context_iteration(NULL, TRUE);
    if (!late)
        g_source_remove(timer);
    ck_assert_msg(probe.asked && probe.answered > 0, "query-migrate at the switchover: no answer");
    printf("query-migrate sent at the switchover (VF stream %.1f MiB at 64 MiB/s): answered "
           "after %.0f ms\n",
           migration_size(&h, 1) / 1048576.0, (probe.answered - probe.sent) / 1000.0);
    g_signal_handlers_disconnect_by_data(p.sc, &probe);
    pair_clear(&p);
    host_down(&h);
}
END_TEST

/* The destination VF is provisioned otherwise (its GGTT differs): QEMU's own load of the
 * VF's state fails as the kernel's restore refuses it; the source runs on. */
START_TEST(test_destination_vf_differs)
{
    Host h = { 0 };
    Pair p = { 0 };
    g_autoptr(JsonNode) status = NULL;
    g_autofree char *said = NULL;
    Wait *failed, *resumed;

    host_up(&h, 2);
    ck_assert_int_eq(xe_test_sim_write(h.sim,
                                       "sys/kernel/debug/dri/" PF "/sriov/vf2/tile0/ggtt_quota",
                                       "134217728"),
                     0);
    pair_start(&h, &p);
    failed = watch(p.sc, "MIGRATION", "status", "failed");
    resumed = watch(p.sc, "RESUME", NULL, NULL);
    migrate(&p);
    wait_event(p.sc, failed);
    wait_event(p.sc, resumed);
    wait_exit(p.dst);
    said = qemu_log(p.dst);
    ck_assert_msg(strstr(said, "load of migration failed: Invalid argument") != NULL &&
                      strstr(said, "/vfio") != NULL,
                  "the destination QEMU said: %s", said);
    status = qmp_ok(p.sc, "query-status", NULL);
    ck_assert_msg(json_object_get_boolean_member(json_node_get_object(status), "running"),
                  "the source does not run after its destination refused the state");
    pair_clear(&p);
    host_down(&h);
}
END_TEST

/* The QEMU binary still imports every entry point QEMU reaches VFIO through (a build that
 * moved to other ones would bypass the emulation). */
START_TEST(test_qemu_entry_points)
{
    static const char *const needed[] = { "open64",        "ioctl",    "pread64",
                                          "__pread64_chk", "pwrite64", "close",
                                          "stat64",        "readlink", "realpath" };
    const char *argv[] = { "nm", "-D", "--undefined-only", NULL, NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    require_peers();
    argv[3] = xe_test_qemu_binary();
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error),
                  "nm: %s", error ? error->message : "");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "nm: %s", err);
    for (guint i = 0; i < G_N_ELEMENTS(needed); i++) {
        g_autofree char *pattern = g_strdup_printf(" %s@", needed[i]);

        ck_assert_msg(strstr(out, pattern) != NULL,
                      "%s no longer imports %s: the emulation would not see those calls", argv[3],
                      needed[i]);
    }
    /* entry points that would bypass it were they used for VFIO paths */
    for (const char *const *b = (const char *const[]){ " openat2@", " statx@", " __xstat64@",
                                                       " __readlink_chk@", NULL };
         *b != NULL; b++)
        ck_assert_msg(strstr(out, *b) == NULL,
                      "%s imports%s, which the emulation does not interpose", argv[3], *b);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vfio");
    TCase *tc = tcase_create("emulation");

    tcase_add_test(tc, test_qemu_entry_points);
    tcase_add_test(tc, test_realize);
    tcase_add_test(tc, test_group_is_exclusive);
    tcase_add_test(tc, test_released_on_sigkill);
    tcase_add_test(tc, test_dirty_tracking_blocker);
    tcase_add_test(tc, test_migrate);
    tcase_add_test(tc, test_reset_in_stop_copy);
    tcase_add_test(tc, test_destination_vf_differs);
    tcase_add_test(tc, test_qmp_waits_for_the_device_save);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
