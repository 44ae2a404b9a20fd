/* test-migration.c: suite "migration": VMs moved between two simulated
 * hosts (scripts/lab: two network namespaces, each with its xe-sim mount,
 * bus and xe-migrated), through the daemons' D-Bus API and xe-migratectl.
 *
 * Where QEMU's behaviour matters the VMs are real QEMU with the host's VF attached
 * (-device vfio-pci under the lab's VFIO emulation, tests/vfio): the happy path (the
 * device bytes are the VF's whole stream), a VF reset in stop-copy and in resuming,
 * the destination QEMU killed, the transport cut, cancel, an incompatible destination,
 * and QEMU's dirty-tracking blocker explained. The rest (daemon restarts, hooks, jobs,
 * names) runs xe-fake-qemu, whose start and stop are instant. Every test ends by
 * accounting for the VM (on exactly one host, running there) and for the VFs of both
 * hosts.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xe-qemu.h"
#include "xe-qmp-commands.h"
#include "xe-qmp-migration.h"
#include "xe-test-qemu.h"
#include "xe-test-util.h"

#define DEADLINE_MS 90000

static char *lab_dir;
static GHashTable *lab; /* the lab's env file */

static const char *
env(const char *key)
{
    const char *v = g_hash_table_lookup(lab, key);

    ck_assert_msg(v != NULL, "the lab has no %s", key);
    return v;
}

static const char *
bus_of(char host)
{
    return env(host == 'a' ? "XE_LAB_A_BUS" : "XE_LAB_B_BUS");
}

static const char *
sim_of(char host)
{
    return env(host == 'a' ? "XE_LAB_A_SIM" : "XE_LAB_B_SIM");
}

/* DIR/env, what scripts/lab says of the lab (buses, mounts, namespaces, daemon pids) */
static void
lab_read_env(void)
{
    g_autofree char *env_path = g_build_filename(lab_dir, "env", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    ck_assert(g_file_get_contents(env_path, &text, NULL, NULL));
    g_clear_pointer(&lab, g_hash_table_unref);
    lab = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        char *eq = strchr(lines[i], '=');

        if (eq != NULL)
            g_hash_table_insert(lab, g_strndup(lines[i], (gsize)(eq - lines[i])), g_strdup(eq + 1));
    }
}

static void
lab_up_with(const char *sim_config_b)
{
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) envp = g_get_environ();
    const char *argv[] = { g_getenv("XE_LAB"), "up", lab_dir, g_getenv("XE_BUILD_ROOT"), NULL };
    int status;

    if (sim_config_b != NULL)
        envp = g_environ_setenv(envp, "XE_LAB_SIM_CONFIG_B", sim_config_b, TRUE);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error),
                  "lab: %s", error ? error->message : "");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "lab up failed:\n%s%s", out, err);
    lab_read_env();
}

static void
lab_up(void)
{
    lab_up_with(NULL);
}

static void
lab_down(void)
{
    const char *argv[] = { g_getenv("XE_LAB"), "down", lab_dir, NULL };

    (void)g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL,
                       NULL);
    g_clear_pointer(&lab, g_hash_table_unref);
}

/* xe-migratectl on @host; returns its exit code, stdout in *out. */
static int
ctl(char host, char **out, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *stdout_text = NULL, *stderr_text = NULL;
    g_autoptr(GError) error = NULL;
    va_list ap;
    int status;

    g_ptr_array_add(argv, (char *)g_getenv("XE_MIGRATECTL"));
    g_ptr_array_add(argv, (char *)"--bus");
    g_ptr_array_add(argv, (char *)bus_of(host));
    va_start(ap, out);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &stdout_text, &stderr_text, &status, &error),
                  "xe-migratectl: %s", error ? error->message : "");
    if (stderr_text != NULL && *stderr_text != '\0')
        fprintf(stderr, "[xe-migratectl %c] %s", host, stderr_text);
    if (out != NULL)
        *out = g_strconcat(stdout_text, stderr_text, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static JsonNode *
ctl_json(char host, const char *cmd, const char *arg)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    int code = ctl(host, &out, "--json", cmd, arg, NULL);

    ck_assert_msg(code == 0, "xe-migratectl --json %s on %c: exit %d: %s", cmd, host, code, out);
    ck_assert_msg(json_parser_load_from_data(parser, out, -1, NULL), "not JSON: %s", out);
    return json_node_copy(json_parser_get_root(parser));
}

/* VM specs */

static char *
write_spec(const char *name, const char *command, const char *policy)
{
    g_autofree char *path = g_strdup_printf("%s/%s.vm", lab_dir, name);
    g_autofree char *text = g_strdup_printf(
        "[vm]\nname=%s\ncommand=%s\nprofile=standard\npolicy=%s\n", name, command, policy);

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    return g_steal_pointer(&path);
}

static void
start_real_vm(const char *name, const char *memory)
{
    g_autofree char *command =
        g_strdup_printf("qemu-system-x86_64 -machine q35 -accel kvm -accel tcg -m %s -nodefaults "
                        "-no-user-config -display none -fw_cfg name=opt/xe-vf,string={vf}",
                        memory);
    g_autofree char *spec = write_spec(name, command, "default");
    g_autofree char *out = NULL;

    ck_assert_msg(ctl('a', &out, "vm-add", spec, "--start", NULL) == 0, "vm-add: %s", out);
}

/* Real QEMU with the host's simulated VF attached, under the VFIO emulation (the lab's
 * qemu-vfio): the VF's state moves through QEMU's own VFIO migration. */
/* A file of @mib MiB of random bytes, the RAM of a guest whose live phase must last: QEMU
 * sends zero pages as headers only, so an idle guest's RAM moves at once. Mapped private
 * (share=off), it is never written back. */
static char *
random_ram(guint mib)
{
    char *path = g_strdup_printf("%s/guest-ram-%uM", lab_dir, mib);
    g_autofree guint8 *buf = g_malloc(1 << 20);
    FILE *f;

    /* QEMU opens its memory file read-write, as the user it runs as: the operator's part */
    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        xe_test_give_to_qemu_user(path);
        return path;
    }
    f = fopen(path, "w");
    ck_assert(f != NULL);
    for (guint i = 0; i < mib; i++) {
        for (guint j = 0; j < (1 << 20) / 4; j++)
            ((guint32 *)buf)[j] = g_random_int();
        ck_assert(fwrite(buf, 1, 1 << 20, f) == 1 << 20);
    }
    ck_assert(fclose(f) == 0);
    xe_test_give_to_qemu_user(path);
    return path;
}

static void
start_vf_vm_with(const char *name, guint mib, const char *policy, gboolean busy)
{
    g_autofree char *ram = busy ? random_ram(mib) : NULL;
    g_autofree char *backend =
        busy ? g_strdup_printf(",memory-backend=ram0 -object memory-backend-file,id=ram0,"
                               "size=%uM,mem-path=%s,share=off",
                               mib, ram)
             : g_strdup("");
    g_autofree char *command = g_strdup_printf(
        "%s/qemu-vfio -machine q35%s -accel kvm -accel tcg -m %uM -nodefaults -no-user-config "
        "-display none -device vfio-pci,host={vf},id=xe-vf",
        lab_dir, backend, mib);
    g_autofree char *spec = write_spec(name, command, policy);
    g_autofree char *out = NULL;

    ck_assert_msg(ctl('a', &out, "vm-add", spec, "--start", NULL) == 0, "vm-add: %s", out);
}

static void
start_vf_vm(const char *name, const char *memory, const char *policy)
{
    start_vf_vm_with(name, (guint)g_ascii_strtoull(memory, NULL, 10), policy, FALSE);
}

/* The VF's migration_size on @host, from debugfs: what its save stream holds. */
static guint64
vf_stream_size(char host, const char *vf)
{
    guint n = (guint)g_ascii_strtoull(strrchr(vf, '.') + 1, NULL, 10);
    g_autofree char *path = g_strdup_printf(
        "%s/sys/kernel/debug/dri/0000:03:00.0/sriov/vf%u/migration_size", sim_of(host), n);
    g_autofree char *text = NULL;

    ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "%s", path);
    return g_ascii_strtoull(text, NULL, 10);
}

static void
start_fake_vm(const char *name, const char *memory)
{
    g_autofree char *command = g_strdup_printf("%s -m %s -device vfio-pci,host={vf},id=xe-vf",
                                               g_getenv("XE_FAKE_QEMU"), memory);
    g_autofree char *spec = write_spec(name, command, "lab");
    g_autofree char *out = NULL;

    ck_assert_msg(ctl('a', &out, "vm-add", spec, "--start", NULL) == 0, "vm-add: %s", out);
}

/* The VMs of @host, as JSON objects (D-Bus property names). */
static JsonArray *
vms_of(char host, JsonNode **keep)
{
    *keep = ctl_json(host, "vms", NULL);
    return json_node_get_array(*keep);
}

static JsonObject *
vm_on(char host, const char *name, JsonNode **keep)
{
    JsonArray *vms = vms_of(host, keep);

    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);

        if (g_str_equal(json_object_get_string_member(vm, "Name"), name))
            return vm;
    }
    return NULL;
}

/* The run state of the QEMU behind @qmp (a socket path). */
static char *
qemu_status(const char *qmp)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autofree char *address = g_strdup_printf("unix:%s", qmp);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };
    g_autoptr(XeQmpStatus) status = NULL;

    xe_qmp_client_connect_async(client, address, NULL, xe_test_result_cb, &r);
    ck_assert_msg(
        xe_qmp_client_connect_finish(client, xe_test_result_wait(&r, 10000, "connect"), &error),
        "QMP %s: %s", qmp, error ? error->message : "");
    xe_test_result_clear(&r);
    xe_qmp_query_status_async(client, NULL, xe_test_result_cb, &r);
    status = xe_qmp_query_status_finish(client, xe_test_result_wait(&r, 10000, "status"), &error);
    xe_test_result_clear(&r);
    ck_assert_msg(status != NULL, "query-status: %s", error ? error->message : "");
    xe_qmp_client_close(client);
    return g_strdup(status->status);
}

/* The VM runs on @host only, and its QEMU says running. */
static void
assert_vm_only_on(char host, const char *name)
{
    g_autoptr(JsonNode) here = NULL, there = NULL;
    JsonObject *vm = vm_on(host, name, &here);
    g_autofree char *status = NULL;

    ck_assert_msg(vm != NULL, "VM %s is not on host %c", name, host);
    ck_assert_ptr_null(vm_on(host == 'a' ? 'b' : 'a', name, &there));
    ck_assert_str_eq(json_object_get_string_member(vm, "State"), "running");
    status = qemu_status(json_object_get_string_member(vm, "QmpSocket"));
    ck_assert_str_eq(status, "running");
}

/* Reservations on @host: exactly one per VM there; nothing left by migrations. */
static void
assert_vfs_accounted(char host)
{
    g_autoptr(JsonNode) vms_node = NULL;
    g_autoptr(JsonNode) res_node = ctl_json(host, "reservations", NULL);
    JsonArray *vms = vms_of(host, &vms_node);
    JsonArray *res = json_node_get_array(res_node);

    ck_assert_uint_eq(json_array_get_length(res), json_array_get_length(vms));
    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);
        const char *vf = json_object_get_string_member(vm, "VF");
        gboolean found = FALSE;

        for (guint j = 0; j < json_array_get_length(res); j++) {
            g_autofree char *text = json_to_string(json_array_get_element(res, j), FALSE);

            found |= strstr(text, vf) != NULL;
        }
        ck_assert_msg(found, "VM's VF %s on %c has no reservation", vf, host);
    }
}

/* jobs */

static char *
migrate_detached(const char *vm)
{
    g_autofree char *out = NULL;
    char *slash;

    ck_assert_msg(ctl('a', &out, "migrate", vm, "--to", "b", "--detach", NULL) == 0, "migrate: %s",
                  out);
    g_strstrip(out);
    slash = strrchr(out, '/');
    ck_assert_ptr_nonnull(slash);
    return g_strdup(slash + 1);
}

static JsonNode *
job(const char *id)
{
    return ctl_json('a', "job", id);
}

static const char *
job_state(JsonNode *j)
{
    return json_object_get_string_member(json_node_get_object(j), "State");
}

static gboolean
job_over(JsonNode *j)
{
    const char *s = job_state(j);

    return g_str_equal(s, "completed") || g_str_equal(s, "failed") || g_str_equal(s, "cancelled");
}

/* Polls the job (a deadline, not a sleep) until @ready says so. */
static JsonNode *
wait_job(const char *id, gboolean (*ready)(JsonNode *j))
{
    gint64 deadline = g_get_monotonic_time() + DEADLINE_MS * 1000;

    for (;;) {
        JsonNode *j = job(id);

        if (ready(j))
            return j;
        ck_assert_msg(g_get_monotonic_time() < deadline, "job %s: no progress in time (%s)", id,
                      job_state(j));
        json_node_unref(j);
        g_usleep(20000);
    }
}

static gboolean
ram_moving(JsonNode *j)
{
    JsonObject *o = json_node_get_object(j);

    return job_over(j) || (g_str_equal(json_object_get_string_member(o, "Phase"), "migrating") &&
                           json_object_get_int_member(o, "RamTransferred") > 0);
}

static guint64
jint(JsonNode *j, const char *member)
{
    return (guint64)json_object_get_int_member(json_node_get_object(j), member);
}

static const char *
jstr(JsonNode *j, const char *member)
{
    return json_object_get_string_member(json_node_get_object(j), member);
}

/* The failure class of failed attempt @i (0-based). */
static const char *
attempt_class(JsonNode *j, guint i)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(j), "Attempts");

    ck_assert_uint_gt(json_array_get_length(a), i);
    return json_array_get_string_element(json_array_get_array_element(a, i), 1);
}

static void
print_job(const char *test, JsonNode *j)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(j), "Attempts");
    gint64 started = json_object_get_int_member(json_node_get_object(j), "Started");
    gint64 finished = json_object_get_int_member(json_node_get_object(j), "Finished");

    printf("%s: %s after %u attempt(s), %.1f ms in all, downtime %" G_GUINT64_FORMAT
           " ms (QEMU %" G_GUINT64_FORMAT " ms)\n",
           test, jstr(j, "State"), (guint)jint(j, "Attempt"), (finished - started) / 1000.0,
           jint(j, "Downtime"), jint(j, "QemuDowntime"));
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonArray *e = json_array_get_array_element(a, i);

        printf("  attempt %" G_GINT64_FORMAT ": %s after %" G_GINT64_FORMAT " ms: %s\n",
               json_array_get_int_element(e, 0), json_array_get_string_element(e, 1),
               json_array_get_int_element(e, 4), json_array_get_string_element(e, 2));
    }
    {
        JsonObject *timings = json_object_get_object_member(json_node_get_object(j), "Timings");

        if (timings != NULL && json_object_has_member(timings, "backoff"))
            printf("  backoff before retrying: %" G_GINT64_FORMAT " ms\n",
                   json_object_get_int_member(timings, "backoff"));
    }
    if (*jstr(j, "FailureReason") != '\0')
        printf("  reason: %s\n", jstr(j, "FailureReason"));
    fflush(stdout);
}

/* A QEMU started by hand in a host's namespace (what an adopted VM is). */
static XeQemuProcess *
qemu_in(const char *ns, const char *sock, gboolean incoming, const char *memory)
{
    g_autofree char *net = g_strdup_printf("--net=/run/netns/%s", ns);
    const char *argv[] = { "nsenter",     net,
                           "--",          "qemu-system-x86_64",
                           "-machine",    "q35",
                           "-accel",      "kvm",
                           "-accel",      "tcg",
                           "-m",          memory,
                           "-nodefaults", "-no-user-config",
                           "-display",    "none",
                           NULL };
    g_autoptr(GError) error = NULL;
    XeQemuProcess *p = xe_qemu_process_spawn(argv, sock, incoming, NULL, NULL, &error);

    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    return p;
}

/* Somebody else's QEMU with VF @vf attached, under the VFIO emulation, in a's namespace,
 * started without enable-migration=on (what libvirt does): QEMU blocks its migration. */
static XeQemuProcess *
vf_qemu_in_a(const char *sock, const char *vf)
{
    g_autofree char *net = g_strdup_printf("--net=/run/netns/%s", env("XE_LAB_A_NS"));
    g_autofree char *root = g_strdup_printf("XE_VFIO_SIM_ROOT=%s", sim_of('a'));
    g_autofree char *wrapper = g_strdup_printf("%s/qemu-vfio", lab_dir);
    g_autofree char *device = g_strdup_printf("vfio-pci,host=%s,id=xe-vf", vf);
    const char *argv[] = {
        "nsenter",  net,    "--",      "env",  root, wrapper, "-machine",    "q35",
        "-accel",   "kvm",  "-accel",  "tcg",  "-m", "64M",   "-nodefaults", "-no-user-config",
        "-display", "none", "-device", device, NULL
    };
    g_autoptr(GError) error = NULL;
    XeQemuProcess *p = xe_qemu_process_spawn(argv, sock, FALSE, NULL, NULL, &error);

    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    return p;
}

/* The value of @field in /proc/@pid/status ("Uid", "CapEff", ...). */
static char *
proc_status(guint pid, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%u/status", pid);
    g_autofree char *text = NULL;
    g_autofree char *key = g_strdup_printf("\n%s:", field);
    const char *at, *end;

    ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "%s", path);
    at = strstr(text, key);
    ck_assert_msg(at != NULL, "%s has no %s", path, field);
    at += strlen(key);
    end = strchr(at, '\n');
    return g_strstrip(g_strndup(at, end != NULL ? (gsize)(end - at) : strlen(at)));
}

/* The group VF @vf's VFIO group node on @host (xe-sim's dev/vfio/<G>) is open to: root
 * owns it, with mode 0660 for a group, 0600 for none (0). */
static gid_t
vfio_node_group(char host, const char *vf)
{
    g_autofree char *link =
        g_strdup_printf("%s/sys/bus/pci/devices/%s/iommu_group", sim_of(host), vf);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *group = NULL, *node = NULL;
    struct stat st;

    ck_assert_msg(target != NULL, "%s", link);
    group = g_path_get_basename(target);
    node = g_strdup_printf("%s/dev/vfio/%s", sim_of(host), group);
    ck_assert_msg(stat(node, &st) == 0, "%s: %s", node, g_strerror(errno));
    ck_assert_uint_eq(st.st_uid, 0);
    ck_assert_int_eq(st.st_mode & 07777, st.st_gid != 0 ? 0660 : 0600);
    return st.st_gid;
}

/* QEMU @pid runs as the unprivileged qemu-user (xe-qemu): not root, no capability, no way to
 * gain one, inside its seccomp filter; the VF's node is open to that user's group alone. Seen
 * from outside: /proc and the node's owner, group and mode. */
static void
assert_qemu_confined(char host, guint pid, const char *vf)
{
    struct passwd *pw = getpwnam("xe-qemu");
    g_autofree char *want = NULL;
    g_autofree char *uid = proc_status(pid, "Uid"), *gid = proc_status(pid, "Gid");
    g_autofree char *cap_eff = proc_status(pid, "CapEff"), *cap_prm = proc_status(pid, "CapPrm");
    g_autofree char *nnp = proc_status(pid, "NoNewPrivs"), *seccomp = proc_status(pid, "Seccomp");

    ck_assert_msg(pw != NULL, "no user xe-qemu (scripts/setup-deps creates it)");
    want = g_strdup_printf("%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid, pw->pw_uid, pw->pw_uid);
    ck_assert_msg(g_str_equal(uid, want), "QEMU %u runs as uid %s, not xe-qemu's %s", pid, uid,
                  want);
    g_free(want);
    want = g_strdup_printf("%u\t%u\t%u\t%u", pw->pw_gid, pw->pw_gid, pw->pw_gid, pw->pw_gid);
    ck_assert_str_eq(gid, want);
    ck_assert_str_eq(cap_eff, "0000000000000000");
    ck_assert_str_eq(cap_prm, "0000000000000000");
    ck_assert_str_eq(nnp, "1");
    ck_assert_msg(g_str_equal(seccomp, "2"), "QEMU %u has no seccomp filter (Seccomp: %s)", pid,
                  seccomp);
    ck_assert_uint_eq(vfio_node_group(host, vf), pw->pw_gid);
}

/* the tests */

START_TEST(test_happy_path_real_qemu)
{
    g_autoptr(JsonNode) before = NULL;
    g_autofree char *src_vf = NULL;
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;
    JsonObject *vm;

    start_vf_vm("happy", "256M", "default");
    vm = vm_on('a', "happy", &before);
    src_vf = g_strdup(json_object_get_string_member(vm, "VF"));
    assert_vm_only_on('a', "happy");
    assert_qemu_confined('a', (guint)json_object_get_int_member(vm, "Pid"), src_vf);

    id = migrate_detached("happy");
    j = wait_job(id, job_over);
    print_job("happy path (real QEMU with the VF, 256 MiB)", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_eq(jint(j, "Attempt"), 1);
    ck_assert_uint_gt(jint(j, "RamTransferred"), 0);
    /* the VF's whole state moved through QEMU: its device bytes are the VF's stream */
    ck_assert_uint_eq(jint(j, "DeviceBytes"), vf_stream_size('a', src_vf));
    assert_vm_only_on('b', "happy");
    /* the source VF is back, unreserved, its node closed again; the destination holds one
     * for the VM, run as confined as on a */
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
    ck_assert_uint_eq(vfio_node_group('a', src_vf), 0);
    {
        g_autoptr(JsonNode) after = NULL;
        JsonObject *moved = vm_on('b', "happy", &after);

        assert_qemu_confined('b', (guint)json_object_get_int_member(moved, "Pid"),
                             json_object_get_string_member(moved, "VF"));
    }
    /* and Prometheus is told: one migration completed, with its downtime and device bytes */
    {
        g_autofree char *metrics = NULL, *complaints = NULL;
        g_autofree char *device =
            g_strdup_printf("xe_migrated_migration_device_bytes_total %" G_GUINT64_FORMAT "\n",
                            jint(j, "DeviceBytes"));

        ck_assert_int_eq(ctl('a', &metrics, "metrics", NULL), 0);
        complaints = xe_test_promtool_check(metrics);
        ck_assert_msg(*complaints == '\0', "promtool: %s", complaints);
        ck_assert_ptr_nonnull(strstr(
            metrics, "xe_migrated_migrations_total{result=\"completed\",class=\"none\"} 1\n"));
        ck_assert_ptr_nonnull(strstr(metrics, "xe_migrated_migration_downtime_seconds_count 1\n"));
        ck_assert_ptr_nonnull(strstr(metrics, "xe_migrated_migration_attempts_total 1\n"));
        ck_assert_ptr_nonnull(strstr(metrics, device));
    }
}
END_TEST

/* With multifd on, the VF's state takes the channels (vfio-multifd=true) or the main
 * channel (false): the engine sets the VF device's x-migration-multifd-transfer on both
 * QEMUs, which must agree or the destination refuses the stream. Either way the VF's whole
 * stream arrives; through the channels it travels in packets (QEMU counts their headers),
 * which is how the test tells the two paths apart. */
static const gboolean vfio_multifd[] = { TRUE, FALSE };

START_TEST(test_vf_state_with_multifd)
{
    g_autofree char *name = g_strdup_printf("mfd-%s", vfio_multifd[_i] ? "on" : "off");
    g_autofree char *path = g_strdup_printf("%s/policies/%s.policy", lab_dir, name);
    g_autofree char *policy = g_strdup_printf(
        "[policy]\nname=%s\nmultifd=true\nmultifd-channels=2\nvfio-multifd=%s\nretries=0\n", name,
        vfio_multifd[_i] ? "true" : "false");
    g_autoptr(JsonNode) before = NULL;
    g_autofree char *src_vf = NULL;
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;
    guint64 stream;

    ck_assert(g_file_set_contents(path, policy, -1, NULL));
    start_vf_vm(name, "256M", name);
    src_vf = g_strdup(json_object_get_string_member(vm_on('a', name, &before), "VF"));
    id = migrate_detached(name);
    j = wait_job(id, job_over);
    print_job(name, j);
    ck_assert_msg(g_str_equal(jstr(j, "State"), "completed"), "%s: %s", name,
                  jstr(j, "FailureReason"));
    /* through the channels, QEMU counts its packets' headers too (a few bytes per MiB) */
    stream = vf_stream_size('a', src_vf);
    if (vfio_multifd[_i])
        ck_assert_msg(jint(j, "DeviceBytes") > stream &&
                          jint(j, "DeviceBytes") < stream + stream / 1000,
                      "%s: %" G_GUINT64_FORMAT " device bytes for a stream of %" G_GUINT64_FORMAT,
                      name, jint(j, "DeviceBytes"), stream);
    else
        ck_assert_uint_eq(jint(j, "DeviceBytes"), stream);
    assert_vm_only_on('b', name);
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

/* A write to the simulator's control interface (in place: no temporary file). */
static void
sim_control(char host, const char *file, const char *value)
{
    g_autofree char *path = g_strdup_printf("%s/sim/%s", sim_of(host), file);
    int fd = open(path, O_WRONLY);

    ck_assert_msg(fd >= 0, "%s: %s", path, g_strerror(errno));
    ck_assert_msg(write(fd, value, strlen(value)) == (ssize_t)strlen(value), "%s <- %s: %s", path,
                  value, g_strerror(errno));
    close(fd);
}

/* Arms an FLR on every VF of @host for when it enters @state (once each). */
static void
arm_reset(char host, const char *state)
{
    for (int f = 1; f <= 4; f++) {
        g_autofree char *value = g_strdup_printf("0000:03:00.%d %s", f, state);

        sim_control(host, "flr_on_state", value);
    }
}

static void
disarm_reset(char host)
{
    for (int f = 1; f <= 4; f++) {
        g_autofree char *value = g_strdup_printf("0000:03:00.%d", f);

        sim_control(host, "flr_on_state", value);
    }
}

START_TEST(test_source_reset_during_save_is_retried)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;

    g_autofree char *stream = NULL;
    g_auto(GStrv) lines = NULL;
    guint changes = 0;
    gboolean saw_switchover = FALSE, saw_retry = FALSE;

    start_vf_vm("reset-src", "64M", "lab");
    arm_reset('a', "stop_copy"); /* fires once, on the VM's VF as its save starts */
    /* followed with --json: one object per change of the job, then the job */
    ck_assert_int_eq(ctl('a', &stream, "--json", "migrate", "reset-src", "--to", "b", NULL), 0);
    disarm_reset('a');
    lines = g_strsplit(stream, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        if (!g_str_has_prefix(lines[i], "{\"job\""))
            continue;
        changes++;
        saw_switchover |= strstr(lines[i], "\"Phase\":\"switchover\"") != NULL;
        saw_retry |= strstr(lines[i], "\"Phase\":\"backoff\"") != NULL;
    }
    ck_assert_uint_gt(changes, 5);
    ck_assert(saw_switchover && saw_retry);
    ck_assert_ptr_nonnull(strstr(stream, "\"State\" : \"completed\""));
    id = g_strdup("1");
    j = wait_job(id, job_over);
    print_job("VF reset on the source during save", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_eq(jint(j, "Attempt"), 2);
    ck_assert_str_eq(attempt_class(j, 0), "vf-reset");
    ck_assert_uint_gt(jint(j, "DeviceBytes"), 0);
    assert_vm_only_on('b', "reset-src");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_destination_reset_during_resume_is_retried)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;

    start_vf_vm("reset-dst", "64M", "lab");
    arm_reset('b', "resuming"); /* each of b's VFs fails its first restore */
    id = migrate_detached("reset-dst");
    j = wait_job(id, job_over);
    disarm_reset('b');
    print_job("VF reset on the destination during resume", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_ge(jint(j, "Attempt"), 2);
    ck_assert_str_eq(attempt_class(j, 0), "vf-reset");
    assert_vm_only_on('b', "reset-dst");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

/* The pid of b's incoming QEMU, once there is one. */
static GPid
incoming_pid(void)
{
    g_autoptr(GDBusConnection) c =
        g_dbus_connection_new_for_address_sync(bus_of('b'),
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, NULL);
    gint64 deadline = g_get_monotonic_time() + DEADLINE_MS * 1000;

    ck_assert_ptr_nonnull(c);
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
            c, "org.xemigrated.XeMigrated1", "/org/xemigrated/XeMigrated1",
            "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, NULL,
            G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
        g_autoptr(GVariantIter) objects = NULL;
        GVariant *ifaces;
        const char *path;

        ck_assert_ptr_nonnull(reply);
        g_variant_get(reply, "(a{oa{sa{sv}}})", &objects);
        while (g_variant_iter_next(objects, "{&o@a{sa{sv}}}", &path, &ifaces)) {
            g_autoptr(GVariant) props = g_variant_lookup_value(
                ifaces, "org.xemigrated.XeMigrated1.Incoming", G_VARIANT_TYPE_VARDICT);
            guint32 pid = 0;
            const char *state = NULL;

            g_variant_unref(ifaces);
            if (props != NULL && g_variant_lookup(props, "Pid", "u", &pid) &&
                g_variant_lookup(props, "State", "&s", &state) && pid > 0 &&
                g_str_equal(state, "active"))
                return (GPid)pid;
        }
        g_usleep(20000);
    }
    ck_abort_msg("no active incoming QEMU on b");
    return 0;
}

START_TEST(test_destination_qemu_killed_is_retried)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;
    GPid pid;

    start_vf_vm_with("killed", 256, "faults",
                     TRUE); /* paced: RAM and VF at 64 MiB/s, the bandwidth measured */
    id = migrate_detached("killed");
    pid = incoming_pid();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    j = wait_job(id, job_over);
    print_job("destination QEMU killed mid-migration", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_eq(jint(j, "Attempt"), 2);
    ck_assert_str_eq(attempt_class(j, 0), "destination-died");
    assert_vm_only_on('b', "killed");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

/* Kills the transport commands (systemd-stdio-bridge) host a's daemon runs. */
static guint
cut_transport(void)
{
    GPid daemon = (GPid)g_ascii_strtoll(env("XE_LAB_A_DAEMON_PID"), NULL, 10);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint killed = 0;

    while ((name = g_dir_read_name(proc)) != NULL) {
        g_autofree char *stat_path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *stat = NULL;
        char comm[64];
        int ppid;

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(stat_path, &stat, NULL, NULL))
            continue;
        if (sscanf(stat, "%*d (%63[^)]) %*c %d", comm, &ppid) == 2 && ppid == daemon &&
            g_str_has_prefix(comm, "systemd-stdio"))
            killed += kill((pid_t)atoi(name), SIGKILL) == 0;
    }
    return killed;
}

START_TEST(test_transport_cut_is_retried)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) moving = NULL;
    g_autoptr(JsonNode) j = NULL;

    start_vf_vm_with("cut", 256, "faults",
                     TRUE); /* paced: RAM and VF at 64 MiB/s, the bandwidth measured */
    id = migrate_detached("cut");
    moving = wait_job(id, ram_moving);
    ck_assert_uint_ge(cut_transport(), 1);
    j = wait_job(id, job_over);
    print_job("transport to the destination daemon cut", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_eq(jint(j, "Attempt"), 2);
    ck_assert_str_eq(attempt_class(j, 0), "transport");
    assert_vm_only_on('b', "cut");
    /* b aborted the orphaned incoming on its own: one reservation, the VM's */
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_incompatible_destination_refused)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    g_autoptr(JsonNode) res_b = NULL;
    JsonObject *j;
    int code;

    /* b's PF is another device: a VF state saved on a's cannot restore there. */
    lab_down();
    {
        g_autofree char *config = g_strdup_printf("%s/sim-b.conf", lab_dir);

        ck_assert(g_file_set_contents(config,
                                      "[pf 0000:03:00.0]\ndevice-id=0xe211\n"
                                      "vf-device-id=0xe211\ntotal-vfs=12\n",
                                      -1, NULL));
        lab_up_with(config);
    }
    start_vf_vm("incompat", "64M", "lab");
    code = ctl('a', &out, "migrate", "incompat", "--to", "b", NULL);
    printf("incompatible destination: exit %d\n%s", code, out);
    ck_assert_int_eq(code, 7);
    jobs = ctl_json('a', "jobs", NULL);
    j = json_array_get_object_element(json_node_get_array(jobs), 0);
    ck_assert_str_eq(json_object_get_string_member(j, "State"), "failed");
    ck_assert_str_eq(json_object_get_string_member(j, "FailureClass"), "incompatible");
    ck_assert_int_eq(json_object_get_int_member(j, "Attempt"), 1);
    ck_assert_ptr_nonnull(strstr(json_object_get_string_member(j, "FailureReason"), "device-id"));
    ck_assert_int_eq(json_object_get_int_member(j, "RamTransferred"), 0);
    assert_vm_only_on('a', "incompat");
    res_b = ctl_json('b', "reservations", NULL);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(res_b)), 0);
    assert_vfs_accounted('a');
}
END_TEST

START_TEST(test_cancel_keeps_the_vm_on_the_source)
{
    g_autofree char *id = NULL;
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) moving = NULL;
    g_autoptr(JsonNode) j = NULL;

    start_vf_vm_with("cancelled", 256, "faults", TRUE);
    id = migrate_detached("cancelled");
    moving = wait_job(id, ram_moving);
    /* a VF in a migration is off limits: no reset, no rebind, no provisioning */
    {
        g_autoptr(JsonNode) keep = NULL;
        const char *vf = json_object_get_string_member(vm_on('a', "cancelled", &keep), "VF");
        g_autofree char *o1 = NULL, *o2 = NULL, *o3 = NULL;

        ck_assert_int_eq(ctl('a', &o1, "reset", vf, NULL), 5);
        ck_assert_int_eq(ctl('a', &o2, "bind", vf, "xe", NULL), 5);
        ck_assert_int_eq(ctl('a', &o3, "provision", vf, "exec_quantum_ms=5", NULL), 5);
        ck_assert_ptr_nonnull(strstr(o1, "reserved"));
    }
    ck_assert_msg(ctl('a', &out, "cancel", id, NULL) == 0, "cancel: %s", out);
    j = wait_job(id, job_over);
    print_job("cancelled mid-migration", j);
    ck_assert_str_eq(jstr(j, "State"), "cancelled");
    ck_assert_str_eq(jstr(j, "FailureClass"), "cancelled");
    assert_vm_only_on('a', "cancelled");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
    /* and it can go again */
    g_free(id);
    id = migrate_detached("cancelled");
    json_node_unref(j);
    j = wait_job(id, job_over);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    assert_vm_only_on('b', "cancelled");
}
END_TEST

START_TEST(test_pre_migrate_hook_vetoes)
{
    g_autofree char *hook = g_strdup_printf("%s/a/hooks/10-window", lab_dir);
    g_autofree char *log = g_strdup_printf("%s/a/hooks.log", lab_dir);
    g_autofree char *script = g_strdup_printf(
        "#!/bin/sh\n"
        "echo \"$1\" >> %s\n"
        "[ \"$1\" = pre-migrate ] && { cat > %s.json; echo 'maintenance window closed' >&2; "
        "exit 1; }\n"
        "exit 0\n",
        log, log);
    g_autofree char *out = NULL;
    g_autofree char *phases = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    g_autoptr(JsonNode) res_b = NULL;
    JsonObject *j;
    int code;

    ck_assert(g_file_set_contents(hook, script, -1, NULL));
    ck_assert_int_eq(chmod(hook, 0755), 0);
    start_fake_vm("vetoed", "64M");
    code = ctl('a', &out, "migrate", "vetoed", "--to", "b", NULL);
    printf("pre-migrate veto: exit %d\n%s", code, out);
    ck_assert_int_eq(code, 5);
    jobs = ctl_json('a', "jobs", NULL);
    j = json_array_get_object_element(json_node_get_array(jobs), 0);
    ck_assert_str_eq(json_object_get_string_member(j, "State"), "failed");
    ck_assert_str_eq(json_object_get_string_member(j, "FailureClass"), "vetoed");
    ck_assert_ptr_nonnull(
        strstr(json_object_get_string_member(j, "FailureReason"), "maintenance window closed"));
    ck_assert(g_file_get_contents(log, &phases, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(phases, "pre-migrate"));
    ck_assert_ptr_nonnull(strstr(phases, "failed"));
    ck_assert_ptr_null(strstr(phases, "migration-started"));
    {
        g_autofree char *json_path = g_strconcat(log, ".json", NULL);
        g_autofree char *doc = NULL;

        ck_assert(g_file_get_contents(json_path, &doc, NULL, NULL));
        ck_assert_ptr_nonnull(strstr(doc, "\"vm\":\"vetoed\""));
        ck_assert_ptr_nonnull(strstr(doc, "\"destination\":\"b\""));
        ck_assert_ptr_nonnull(strstr(doc, "\"phase\":\"pre-migrate\""));
    }
    assert_vm_only_on('a', "vetoed");
    res_b = ctl_json('b', "reservations", NULL);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(res_b)), 0);
}
END_TEST

/* bench: a 1 GiB idle guest, via xe-migrated and via bare QMP (median of 5 each) */

/* One migration by hand, as an operator would without xe-migrated: the
 * destination QEMU started (paused, -incoming defer) in b's namespace, events
 * and return-path on both sides, migrate-incoming, migrate, completed, cont.
 * total: from starting the destination to the VM running there. */
static void
bare_qmp_once(guint i, double *total_ms, double *downtime_ms, double *qemu_downtime_ms)
{
    g_autofree char *src_sock = g_strdup_printf("%s/bare-src-%u.qmp", lab_dir, i);
    g_autofree char *dst_sock = g_strdup_printf("%s/bare-dst-%u.qmp", lab_dir, i);
    g_autoptr(XeQemuProcess) src = qemu_in(env("XE_LAB_A_NS"), src_sock, FALSE, "1G");
    g_autoptr(XeQemuProcess) dst = NULL;
    gint64 t0 = g_get_monotonic_time();

    dst = qemu_in(env("XE_LAB_B_NS"), dst_sock, TRUE, "1G");
    xe_test_qemu_bare_migrate(src, dst, env("XE_LAB_B_ADDR"), t0, total_ms, downtime_ms,
                              qemu_downtime_ms);
    xe_qemu_process_kill(src);
    xe_qemu_process_kill(dst);
}

static void
daemon_once(guint i, double *total_ms, double *running_ms, double *downtime_ms,
            double *qemu_downtime_ms)
{
    g_autofree char *name = g_strdup_printf("bench%u", i);
    g_autofree char *id = NULL;
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) j = NULL;

    start_real_vm(name, "1G");
    id = migrate_detached(name);
    j = wait_job(id, job_over);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    *total_ms = (json_object_get_int_member(json_node_get_object(j), "Finished") -
                 json_object_get_int_member(json_node_get_object(j), "Started")) /
                1000.0;
    *running_ms = (double)jint(j, "TimeToRunning");
    *downtime_ms = (double)jint(j, "Downtime");
    *qemu_downtime_ms = (double)jint(j, "QemuDowntime");
    ck_assert_msg(ctl('b', &out, "vm-remove", name, NULL) == 0, "vm-remove: %s", out);
}

/* P2, downtime prediction: an idle guest with a VF of @vram bytes, migrated under a policy that
 * knows the device's rate (the simulated VF saves and restores at sim/vfio_rate). The
 * engine's VF-aware estimate (ExpectedDowntime) against the guest-visible downtime. */
static void
predict_once(guint64 vram, gboolean dirtying, guint i, double *predicted, double *measured,
             double *device_mib)
{
    g_autofree char *name =
        g_strdup_printf("p2-%" G_GUINT64_FORMAT "m-%s%u", vram >> 20, dirtying ? "d" : "", i);
    g_autofree char *path = g_strdup_printf("%s/%s.vm", lab_dir, name);
    /* the dirtying guest (tests/guest) rewrites all of its 256 MiB over and over; under TCG
     * (KVM may not run guests on this kind of machine): hundreds of passes a second */
    g_autofree char *guest = dirtying
                                 ? g_strdup_printf("-accel tcg -kernel %s", g_getenv("XE_DIRTIER"))
                                 : g_strdup("-accel kvm -accel tcg");
    g_autofree char *text = g_strdup_printf(
        "[vm]\nname=%s\ncommand=%s/qemu-vfio -machine q35 %s -m 256M "
        "-nodefaults -no-user-config -display none -device vfio-pci,host={vf},id=xe-vf\n"
        "profile=exec_quantum_ms=20,preempt_timeout_us=64000,vram_quota=%" G_GUINT64_FORMAT
        ",ggtt_quota=268435456,contexts_quota=1024,doorbells_quota=16\npolicy=p2\n",
        name, lab_dir, guest, vram);
    g_autofree char *out = NULL;
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_msg(ctl('a', &out, "vm-add", path, "--start", NULL) == 0, "vm-add: %s", out);
    id = migrate_detached(name);
    j = wait_job(id, job_over);
    ck_assert_msg(g_str_equal(jstr(j, "State"), "completed"), "%s: %s", name,
                  jstr(j, "FailureReason"));
    *predicted = (double)jint(j, "ExpectedDowntime");
    *measured = (double)jint(j, "Downtime");
    *device_mib = jint(j, "DeviceBytes") / 1048576.0;
    g_free(out);
    ck_assert_msg(ctl('b', &out, "vm-remove", name, NULL) == 0, "vm-remove: %s", out);
}

START_TEST(bench_downtime_prediction)
{
    enum { RUNS = 3 };
    static const guint64 sizes[] = { 256ull << 20, 1ull << 30, 4ull << 30 };
    const guint64 rate = 512ull << 20;
    g_autofree char *policy = g_strdup_printf("%s/policies/p2.policy", lab_dir);
    g_autofree char *rate_text = g_strdup_printf("%" G_GUINT64_FORMAT, rate);

    /* the link is assumed faster than the device, which sets the pace */
    ck_assert(g_file_set_contents(policy,
                                  "[policy]\nname=p2\ndowntime-budget-ms=30000\n"
                                  "switchover-bandwidth=4G\ndevice-bandwidth=512M\n"
                                  "setup-overhead-ms=50\ndowntime-steps=1\nretries=0\n",
                                  -1, NULL));
    sim_control('a', "vfio_rate", rate_text);
    sim_control('b', "vfio_rate", rate_text);
    printf("P2, downtime prediction: 256 MiB guests, idle or dirtying all their RAM, device "
           "saving and restoring at %" G_GUINT64_FORMAT " MiB/s (median of %d)\n",
           rate >> 20, RUNS);
    printf("%-10s %-9s %12s %12s %12s %10s\n", "VF VRAM", "guest", "device MiB", "predicted",
           "measured", "|p-m|/m");
    for (guint g = 0; g < 2; g++)
        for (guint s = 0; s < G_N_ELEMENTS(sizes); s++) {
            double p[RUNS], m[RUNS], d[RUNS], pm, mm;

            for (guint i = 0; i < RUNS; i++)
                predict_once(sizes[s], g == 1, i, &p[i], &m[i], &d[i]);
            pm = xe_test_median(p, RUNS);
            mm = xe_test_median(m, RUNS);
            printf("%-10s %-9s %12.1f %9.0f ms %9.0f ms %9.1f%%\n",
                   sizes[s] >= 1ull << 30 ? (sizes[s] == 1ull << 30 ? "1 GiB" : "4 GiB")
                                          : "256 MiB",
                   g == 1 ? "dirtying" : "idle", xe_test_median(d, RUNS), pm, mm,
                   mm > 0 ? fabs(pm - mm) / mm * 100 : 0);
        }
    sim_control('a', "vfio_rate", "0");
    sim_control('b', "vfio_rate", "0");
}
END_TEST

/* P3, convergence: a 1 GiB guest rewriting 512 MiB (tests/guest, TCG) with a 1 GiB VF,
 * 128 MiB/s in the live phase, no postcopy, no auto-converge (the guest is never paused or
 * throttled): xe-migrated against QEMU's own knobs, each run once, for the 2 s budget and
 * for a budget the link can meet. Each migration starts once the guest has rewritten its
 * 512 MiB twice. */
#define P3_PROFILE                                                                            \
    "exec_quantum_ms=20,preempt_timeout_us=64000,vram_quota=1073741824,ggtt_quota=268435456," \
    "contexts_quota=1024,doorbells_quota=16"
#define P3_CAP       (128ull << 20)
#define P3_GIVE_UP_S 30

typedef struct {
    gboolean converged;
    double total_ms;         /* to running on b: from the destination's start (QEMU's knobs), or
                              * the request (xe-migrated); or to giving up */
    double downtime_ms;      /* guest-visible: STOP on a to RESUME on b */
    double qemu_downtime_ms; /* QEMU's own count */
    double mbps;             /* QEMU's rate once completed */
} P3Run;

/* A QEMU running the dirtier on @vf in @host's namespace, under the VFIO emulation. */
static XeQemuProcess *
p3_qemu(char host, const char *sock, const char *vf, gboolean incoming)
{
    g_autofree char *net =
        g_strdup_printf("--net=/run/netns/%s", env(host == 'a' ? "XE_LAB_A_NS" : "XE_LAB_B_NS"));
    g_autofree char *root = g_strdup_printf("XE_VFIO_SIM_ROOT=%s", sim_of(host));
    g_autofree char *wrapper = g_strdup_printf("%s/qemu-vfio", lab_dir);
    g_autofree char *device =
        g_strdup_printf("vfio-pci,host=%s,id=xe-vf,enable-migration=on,migration-events=on", vf);
    const char *argv[] = { "nsenter",     net,
                           "--",          "env",
                           root,          wrapper,
                           "-machine",    "q35",
                           "-accel",      "tcg",
                           "-m",          "1G",
                           "-nodefaults", "-no-user-config",
                           "-display",    "none",
                           "-kernel",     g_getenv("XE_DIRTIER"),
                           "-append",     "512",
                           "-device",     device,
                           NULL };
    g_autoptr(GError) error = NULL;
    XeQemuProcess *p = xe_qemu_process_spawn(argv, sock, incoming, NULL, NULL, &error);

    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    return p;
}

static XeQmpMigrationInfo *
p3_query(XeQmpClient *c)
{
    XeTestResult r = { 0 };
    g_autoptr(GError) error = NULL;
    XeQmpMigrationInfo *info;

    xe_qmp_query_migrate_async(c, NULL, xe_test_result_cb, &r);
    info = xe_qmp_query_migrate_finish(c, xe_test_result_wait(&r, 30000, "query-migrate"), &error);
    xe_test_result_clear(&r);
    ck_assert_msg(info != NULL, "query-migrate: %s", error ? error->message : "");
    return info;
}

static gboolean
p3_tick(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static void
p3_wait_tick(guint ms)
{
    gboolean tick = FALSE;

    g_timeout_add(ms, p3_tick, &tick);
    while (!tick)
        g_main_context_iteration(NULL, TRUE);
}

/* The guest's passes over its RAM, asked by @ask; waits (with a deadline) for two more. */
static void
p3_wait_guest(gboolean (*ask)(gpointer, guint32 *), gpointer data)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    guint32 first = 0, now = 0;

    ck_assert_msg(ask(data, &first), "the guest's pass counter cannot be read");
    do {
        ck_assert_msg(g_get_monotonic_time() < deadline, "the guest made %u passes in 60 s",
                      now - first);
        p3_wait_tick(100);
        ck_assert(ask(data, &now));
    } while (now - first < 2);
}

static gboolean
p3_ask_qmp(gpointer client, guint32 *passes)
{
    return xe_test_qemu_guest_passes(client, passes, NULL);
}

/* The daemon's VM has a human monitor at @data (a socket path): "xp /1wx 0x7000". */
static gboolean
p3_ask_hmp(gpointer data, guint32 *passes)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(data);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GString) text = g_string_new(NULL);
    const char *hit;
    char buf[512];
    gssize n;

    g_socket_client_set_timeout(client, 10);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, NULL);
    if (conn == NULL || !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
                                                   "xp /1wx 0x7000\n", 15, NULL, NULL, NULL))
        return FALSE;
    /* the greeting, the echo, then "0000000000007000: 0x........" */
    while ((hit = strstr(text->str, "7000: 0x")) == NULL || strchr(hit, '\n') == NULL) {
        n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf, sizeof(buf),
                                NULL, NULL);
        if (n <= 0 || text->len > 65536)
            return FALSE;
        g_string_append_len(text, buf, n);
    }
    *passes = (guint32)g_ascii_strtoull(hit + 8, NULL, 16);
    return TRUE;
}

/* One migration by QEMU's knobs alone: @params on the source (QEMU's defaults for what
 * it leaves unset), the VF of each host reserved with the same profile. */
static void
p3_knobs_once(const char *label, const XeQmpMigrationParameters *params, P3Run *run)
{
    g_autoptr(JsonNode) res_a = ctl_json('a', "reserve", P3_PROFILE);
    g_autoptr(JsonNode) res_b = ctl_json('b', "reserve", P3_PROFILE);
    g_autofree char *src_sock = g_strdup_printf("%s/p3-src-%s.qmp", lab_dir, label);
    g_autofree char *dst_sock = g_strdup_printf("%s/p3-dst-%s.qmp", lab_dir, label);
    g_autofree char *listen = g_strdup_printf("tcp:%s:0", env("XE_LAB_B_ADDR"));
    g_autofree char *uri = NULL;
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) src_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) dst_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(XeQemuProcess) src = p3_qemu('a', src_sock, jstr(res_a, "vf"), FALSE);
    g_autoptr(XeQemuProcess) dst = NULL;
    g_autoptr(XeQmpClient) s = xe_test_qemu_connect_seeing(src, src_seen);
    g_autoptr(XeQmpClient) d = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };
    gint64 t0, give_up;

    p3_wait_guest(p3_ask_qmp, s);
    t0 = g_get_monotonic_time();
    give_up = t0 + P3_GIVE_UP_S * G_USEC_PER_SEC;
    dst = p3_qemu('b', dst_sock, jstr(res_b, "vf"), TRUE);
    d = xe_test_qemu_connect_seeing(dst, dst_seen);
    xe_qmp_migrate_set_parameters_async(s, params, NULL, xe_test_result_cb, &r);
    ck_assert_msg(
        xe_qmp_migrate_set_parameters_finish(s, xe_test_result_wait(&r, 10000, "params"), &error),
        "%s: %s", label, error ? error->message : "");
    xe_test_result_clear(&r);
    xe_qmp_migrate_incoming_async(d, listen, FALSE, XE_QMP_EXIT_ON_ERROR_DEFAULT, NULL,
                                  xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_incoming_finish(d, xe_test_result_wait(&r, 10000, "incoming"), NULL));
    xe_test_result_clear(&r);
    info = p3_query(d);
    ck_assert(info->socket_port != NULL);
    uri = g_strdup_printf("tcp:%s:%s", env("XE_LAB_B_ADDR"), info->socket_port);
    g_clear_pointer(&info, xe_qmp_migration_info_free);
    xe_qmp_migrate_async(s, uri, FALSE, NULL, xe_test_result_cb, &r);
    ck_assert(xe_qmp_migrate_finish(s, xe_test_result_wait(&r, 10000, "migrate"), NULL));
    xe_test_result_clear(&r);
    for (;;) {
        p3_wait_tick(250);
        info = p3_query(s);
        if (xe_qmp_migration_status_is_final(info->status) || g_get_monotonic_time() > give_up)
            break;
        g_clear_pointer(&info, xe_qmp_migration_info_free);
    }
    run->converged = info->status == XE_QMP_MIGRATION_STATUS_COMPLETED;
    run->total_ms = (g_get_monotonic_time() - t0) / 1000.0;
    run->qemu_downtime_ms = info->has_downtime ? (double)info->downtime_ms : 0;
    run->mbps = info->has_ram ? info->ram.mbps : 0;
    if (run->converged) {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        xe_qmp_cont_async(d, NULL, xe_test_result_cb, &r);
        ck_assert(xe_qmp_cont_finish(d, xe_test_result_wait(&r, 10000, "cont"), NULL));
        xe_test_result_clear(&r);
        while (!g_hash_table_contains(dst_seen, "RESUME")) {
            ck_assert(g_get_monotonic_time() < deadline);
            g_main_context_iteration(NULL, TRUE);
        }
        run->downtime_ms = (*(gint64 *)g_hash_table_lookup(dst_seen, "RESUME") -
                            *(gint64 *)g_hash_table_lookup(src_seen, "STOP")) /
                           1000.0;
        run->total_ms = (g_get_monotonic_time() - t0) / 1000.0; /* RESUME just arrived */
    } else {
        /* still iterating: QEMU would go on for ever; cancelled, the guest runs on a */
        ck_assert_msg(!g_hash_table_contains(src_seen, "STOP"), "%s: the guest was stopped", label);
        xe_qmp_migrate_cancel_async(s, NULL, xe_test_result_cb, &r);
        ck_assert(xe_qmp_migrate_cancel_finish(s, xe_test_result_wait(&r, 10000, "cancel"), NULL));
        xe_test_result_clear(&r);
    }
    g_clear_object(&s);
    g_clear_object(&d);
    xe_qemu_process_kill(src);
    xe_qemu_process_kill(dst);
    ck_assert_msg(ctl('a', &out, "release", jstr(res_a, "reservation"), NULL) == 0, "release: %s",
                  out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('b', &out, "release", jstr(res_b, "reservation"), NULL) == 0, "release: %s",
                  out);
}

/* The same guest migrated by xe-migrated, under a policy with the same cap, @budget_ms and
 * the link's rate as its switchover bandwidth. */
static void
p3_daemon_once(guint64 budget_ms, guint64 link_rate, P3Run *run, char **refusal)
{
    g_autofree char *policy_path = g_strdup_printf("%s/policies/p3.policy", lab_dir);
    g_autofree char *policy = g_strdup_printf(
        "[policy]\nname=p3\ndowntime-budget-ms=%" G_GUINT64_FORMAT
        "\nswitchover-bandwidth=%" G_GUINT64_FORMAT "\nmax-bandwidth=%llu\nauto-converge=false\n"
        "retries=0\ncompletion-timeout-ms=%d000\n",
        budget_ms, link_rate, P3_CAP, P3_GIVE_UP_S);
    g_autofree char *path = g_strdup_printf("%s/p3.vm", lab_dir);
    g_autofree char *hmp = g_strdup_printf("%s/p3.hmp", lab_dir);
    g_autofree char *text = g_strdup_printf(
        "[vm]\nname=p3\ncommand=%s/qemu-vfio -machine q35 -accel tcg -m 1G -nodefaults "
        "-no-user-config -display none -kernel %s -append 512 -monitor unix:%s,server=on,wait=off "
        "-device vfio-pci,host={vf},id=xe-vf\nprofile=" P3_PROFILE "\npolicy=p3\n",
        lab_dir, g_getenv("XE_DIRTIER"), hmp);
    g_autofree char *out = NULL;
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;

    ck_assert(g_file_set_contents(policy_path, policy, -1, NULL));
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_msg(ctl('a', &out, "vm-add", path, "--start", NULL) == 0, "vm-add: %s", out);
    p3_wait_guest(p3_ask_hmp, hmp);
    id = migrate_detached("p3");
    j = wait_job(id, job_over);
    run->converged = g_str_equal(jstr(j, "State"), "completed");
    run->total_ms = (double)jint(j, "TimeToRunning");
    run->downtime_ms = run->converged ? (double)jint(j, "Downtime") : 0;
    run->qemu_downtime_ms = run->converged ? (double)jint(j, "QemuDowntime") : 0;
    *refusal = run->converged ? NULL : g_strdup(jstr(j, "FailureReason"));
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl(run->converged ? 'b' : 'a', &out, "vm-remove", "p3", NULL) == 0,
                  "vm-remove: %s", out);
}

static void
p3_row(const char *label, const P3Run *run, guint64 budget_ms)
{
    if (run->converged)
        printf("  %-48s %8.0f ms %8.0f ms (QEMU %.0f ms)%s\n", label, run->total_ms,
               run->downtime_ms, run->qemu_downtime_ms,
               run->downtime_ms <= budget_ms ? "" : "  over the budget");
    else
        printf("  %-48s %11s %11s  not converged in %d s: cancelled, runs on a\n", label, "-", "-",
               P3_GIVE_UP_S);
}

START_TEST(bench_convergence)
{
    XeQmpMigrationParameters calibrate = { .has_max_bandwidth = TRUE,
                                           .max_bandwidth = 0,
                                           .has_downtime_limit = TRUE,
                                           .downtime_limit_ms = 60000 };
    XeQmpMigrationParameters defaults = { 0 };
    P3Run link = { 0 }, qemu_defaults = { 0 };
    guint64 rate, budgets[2] = { 2000, 0 };

    /* the link's real rate: the guest and its VF at once, uncapped */
    p3_knobs_once("calibrate", &calibrate, &link);
    ck_assert_msg(link.converged && link.mbps > 0, "the uncapped migration did not complete");
    rate = (guint64)(link.mbps * 1e6 / 8);
    /* a budget the link can meet: the whole RAM and the VF at its rate, and half again */
    budgets[1] = ((guint64)(3.0 * (1ull << 30) * 1000 / rate) + 999) / 1000 * 1000;
    p3_knobs_once("defaults", &defaults, &qemu_defaults);

    printf("P3, convergence: 1 GiB guest rewriting 512 MiB (TCG), 1 GiB VF, %llu MiB/s live "
           "phase, no postcopy, no auto-converge; the link's real rate %.0f MB/s (an uncapped "
           "migration: %.0f ms to running, downtime %.0f ms); to running: from the request "
           "(xe-migrated) or the destination QEMU's start (QEMU's knobs) to the guest running "
           "on b\n",
           P3_CAP >> 20, rate / 1e6, link.total_ms, link.downtime_ms);
    for (guint b = 0; b < G_N_ELEMENTS(budgets); b++) {
        XeQmpMigrationParameters limit = { .has_downtime_limit = TRUE,
                                           .downtime_limit_ms = budgets[b] };
        XeQmpMigrationParameters limit_bw = limit;
        P3Run qemu[2] = { 0 }, xe = { 0 };
        g_autofree char *refusal = NULL;
        const P3Run *best = qemu_defaults.converged && qemu_defaults.downtime_ms <= budgets[b]
                                ? &qemu_defaults
                                : NULL;

        limit_bw.has_avail_switchover_bandwidth = TRUE;
        limit_bw.avail_switchover_bandwidth = rate;
        p3_knobs_once("limit", &limit, &qemu[0]);
        p3_knobs_once("limit-bw", &limit_bw, &qemu[1]);
        p3_daemon_once(budgets[b], rate, &xe, &refusal);
        printf("budget %" G_GUINT64_FORMAT " ms%-38s %11s %11s\n", budgets[b], "", "to running",
               "downtime");
        p3_row("QEMU defaults (downtime-limit 300 ms)", &qemu_defaults, budgets[b]);
        p3_row("QEMU downtime-limit = budget", &qemu[0], budgets[b]);
        p3_row("QEMU downtime-limit = budget, switchover bw", &qemu[1], budgets[b]);
        if (refusal != NULL)
            printf("  %-48s refused before starting: %s\n", "xe-migrated", refusal);
        else
            p3_row("xe-migrated", &xe, budgets[b]);
        for (guint i = 0; i < G_N_ELEMENTS(qemu); i++)
            if (qemu[i].converged && qemu[i].downtime_ms <= budgets[b] &&
                (best == NULL || qemu[i].total_ms < best->total_ms))
                best = &qemu[i];
        if (xe.converged && best != NULL)
            printf("  xe-migrated's total time / the fastest knob within the budget: %.2f\n",
                   xe.total_ms / best->total_ms);
        else
            printf("  xe-migrated's total time / the fastest knob within the budget: n/a (%s)\n",
                   best == NULL ? "no knob stayed within the budget" : "xe-migrated did not run");
    }
}
END_TEST

START_TEST(bench_one_gib_idle_guest)
{
    enum { RUNS = 5 };
    double dt[RUNS], dr[RUNS], dd[RUNS], dq[RUNS], bt[RUNS], bd[RUNS], bq[RUNS];

    /* time to running: xe-migrated, from the request to the VM running on b (the source's
     * cleanup follows); bare QMP, from starting the destination QEMU to its cont (all of it) */
    for (guint i = 0; i < RUNS; i++) {
        daemon_once(i, &dt[i], &dr[i], &dd[i], &dq[i]);
        bare_qmp_once(i, &bt[i], &bd[i], &bq[i]);
        printf("run %u: xe-migrated to running %.1f ms, total %.1f ms, downtime %.0f ms (QEMU "
               "%.0f); bare QMP to running %.1f ms, downtime %.1f ms (QEMU %.0f)\n",
               i + 1, dr[i], dt[i], dd[i], dq[i], bt[i], bd[i], bq[i]);
    }
    printf("1 GiB idle guest, median of %d (%s): xe-migrated time to running %.1f ms, total "
           "%.1f ms, downtime %.0f ms (QEMU-reported %.0f ms); bare QMP time to running %.1f ms, "
           "downtime %.1f ms (QEMU-reported %.0f ms)\n",
           RUNS, g_file_test("/dev/kvm", G_FILE_TEST_EXISTS) ? "KVM" : "TCG",
           xe_test_median(dr, RUNS), xe_test_median(dt, RUNS), xe_test_median(dd, RUNS),
           xe_test_median(dq, RUNS), xe_test_median(bt, RUNS), xe_test_median(bd, RUNS),
           xe_test_median(bq, RUNS));
}
END_TEST

/* An adopted QEMU whose VF device lacks enable-migration=on: QEMU blocks the migration, and
 * pre-flight says so with the fix before the destination is asked for anything. */
START_TEST(test_dirty_tracking_blocker_explained)
{
    g_autofree char *sock = g_strdup_printf("%s/blocked.qmp", lab_dir);
    g_autofree char *spec = g_strdup_printf("%s/blocked.vm", lab_dir);
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    g_autoptr(XeQemuProcess) qemu = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    g_autoptr(JsonNode) res_b = NULL;
    JsonObject *j;
    int code;

    ck_assert_msg(ctl('a', &out, "bind", "0000:03:00.4", "xe-vfio-pci", NULL) == 0, "bind: %s",
                  out);
    qemu = vf_qemu_in_a(sock, "0000:03:00.4");
    text = g_strdup_printf("[vm]\nname=blocked\ncommand=qemu-system-x86_64 -m 64M\n"
                           "profile=standard\nqmp=%s\nvf=0000:03:00.4\n",
                           sock);
    ck_assert(g_file_set_contents(spec, text, -1, NULL));
    g_free(out);
    ck_assert_msg(ctl('a', &out, "vm-add", spec, NULL) == 0, "vm-add: %s", out);
    g_free(out);
    code = ctl('a', &out, "migrate", "blocked", "--to", "b", NULL);
    printf("dirty-tracking blocker: exit %d\n%s", code, out);
    ck_assert_int_eq(code, 7);
    jobs = ctl_json('a', "jobs", NULL);
    j = json_array_get_object_element(json_node_get_array(jobs), 0);
    ck_assert_str_eq(json_object_get_string_member(j, "FailureClass"), "incompatible");
    ck_assert_msg(strstr(json_object_get_string_member(j, "FailureReason"),
                         "doesn't support device and IOMMU dirty tracking") != NULL &&
                      strstr(json_object_get_string_member(j, "FailureReason"),
                             "enable-migration=on") != NULL,
                  "the reason: %s", json_object_get_string_member(j, "FailureReason"));
    assert_vm_only_on('a', "blocked");
    res_b = ctl_json('b', "reservations", NULL);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(res_b)), 0);
}
END_TEST

START_TEST(test_adopted_vm_migrates)
{
    g_autofree char *sock = g_strdup_printf("%s/adopted.qmp", lab_dir);
    g_autoptr(XeQemuProcess) qemu = qemu_in(env("XE_LAB_A_NS"), sock, FALSE, "256M");
    g_autofree char *spec = g_strdup_printf("%s/adopted.vm", lab_dir);
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) j = NULL;
    g_autoptr(JsonNode) vms = NULL;
    JsonObject *vm;

    /* Somebody else's QEMU, holding VF 4 (outside a's pool): adopted by its QMP socket. */
    text = g_strdup_printf("[vm]\nname=adopted\ncommand=qemu-system-x86_64 -machine q35 -accel "
                           "kvm -accel tcg -m 256M -nodefaults -no-user-config -display none\n"
                           "profile=standard\nqmp=%s\nvf=0000:03:00.4\n",
                           sock);
    ck_assert(g_file_set_contents(spec, text, -1, NULL));
    ck_assert_msg(ctl('a', &out, "bind", "0000:03:00.4", "xe-vfio-pci", NULL) == 0, "bind: %s",
                  out);
    g_free(out);
    ck_assert_msg(ctl('a', &out, "vm-add", spec, NULL) == 0, "vm-add: %s", out);
    vm = vm_on('a', "adopted", &vms);
    ck_assert_ptr_nonnull(vm);
    ck_assert(json_object_get_boolean_member(vm, "Adopted"));
    ck_assert_str_eq(json_object_get_string_member(vm, "VF"), "0000:03:00.4");
    /* watched by its pid: the QEMU holding the monitor socket, not whoever bound it */
    ck_assert_int_eq(json_object_get_int_member(vm, "Pid"), xe_qemu_process_get_pid(qemu));
    /* adopting it twice is refused, under its name or another one */
    g_free(out);
    ck_assert_int_eq(ctl('a', &out, "vm-add", spec, NULL), 5);
    {
        g_autofree char *again = g_strdup_printf("%s/adopted-again.vm", lab_dir);
        g_autofree char *renamed = g_strdup(text);

        memcpy(strstr(renamed, "name=adopted") + strlen("name="), "ADOPTED", 7);
        ck_assert(g_file_set_contents(again, renamed, -1, NULL));
        g_free(out);
        ck_assert_int_eq(ctl('a', &out, "vm-add", again, NULL), 5);
        ck_assert_ptr_nonnull(strstr(out, "adopted once"));
    }

    id = migrate_detached("adopted");
    j = wait_job(id, job_over);
    print_job("adopted VM", j);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    assert_vm_only_on('b', "adopted");
    /* the source QEMU was told to quit once b ran the VM */
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (!xe_qemu_process_has_exited(qemu)) {
            ck_assert(g_get_monotonic_time() < deadline);
            g_main_context_iteration(NULL, TRUE);
        }
        ck_assert_int_eq(xe_qemu_process_get_exit_status(qemu), 0);
    }
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

/* scripts/lab stop|start DIR HOST: one host's daemon goes down or comes back */
static void
lab_daemon(const char *what, char host)
{
    g_autofree char *out = NULL, *err = NULL;
    const char *argv[] = { g_getenv("XE_LAB"),        what, lab_dir, host == 'a' ? "a" : "b",
                           g_getenv("XE_BUILD_ROOT"), NULL };
    int status;

    ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                           &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "lab %s: %s%s", what, out, err);
    if (g_str_equal(what, "start")) {
        /* the env file has the new daemon's pid */
        lab_read_env();
    }
}

START_TEST(test_daemon_restart_keeps_vms)
{
    g_autoptr(JsonNode) before = NULL, after = NULL, gone = NULL;
    g_autofree char *vf = NULL, *id = NULL;
    g_autoptr(JsonNode) j = NULL;
    JsonObject *vm;
    GPid victim;

    start_fake_vm("stays", "64M");
    start_fake_vm("ends", "64M");
    vm = vm_on('a', "stays", &before);
    vf = g_strdup(json_object_get_string_member(vm, "VF"));
    {
        g_autoptr(JsonNode) keep = NULL;

        victim = (GPid)json_object_get_int_member(vm_on('a', "ends", &keep), "Pid");
    }
    /* the daemon goes down; one VM's QEMU ends meanwhile */
    lab_daemon("stop", 'a');
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    lab_daemon("start", 'a');
    /* the survivor is back, on its VF, with its reservation; the other's VF is free */
    vm = vm_on('a', "stays", &after);
    ck_assert_ptr_nonnull(vm);
    ck_assert_str_eq(json_object_get_string_member(vm, "VF"), vf);
    /* started by the daemon, it is still its own: not an adopted stranger */
    ck_assert(!json_object_get_boolean_member(vm, "Adopted"));
    ck_assert_ptr_null(vm_on('a', "ends", &gone));
    assert_vm_only_on('a', "stays");
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        /* the released VF's reset runs after the restart says ready */
        for (;;) {
            g_autoptr(JsonNode) r = ctl_json('a', "reservations", NULL);

            if (json_array_get_length(json_node_get_array(r)) == 1)
                break;
            ck_assert(g_get_monotonic_time() < deadline);
            g_usleep(20000);
        }
    }
    assert_vfs_accounted('a');
    /* and it migrates */
    id = migrate_detached("stays");
    j = wait_job(id, job_over);
    ck_assert_msg(g_str_equal(jstr(j, "State"), "completed"), "stays: %s",
                  jstr(j, "FailureReason"));
    assert_vm_only_on('b', "stays");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_finished_jobs_are_pruned)
{
    g_autofree char *out = NULL;
    g_autofree char *last = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    g_autoptr(JsonNode) j = NULL;

    start_fake_vm("many", "64M");
    for (guint i = 0; i < 70; i++) {
        g_autofree char *o = NULL;

        /* fails at once, in pre-flight: there is no such policy */
        ck_assert_int_eq(
            ctl('a', &o, "migrate", "many", "--to", "b", "--policy", "missing", "--detach", NULL),
            0);
        g_free(last);
        last = g_strdup(strrchr(g_strstrip(o), '/') + 1);
        json_node_unref(wait_job(last, job_over));
    }
    j = job(last);
    ck_assert_str_eq(jstr(j, "State"), "failed");
    ck_assert_ptr_nonnull(strstr(jstr(j, "FailureReason"), "missing.policy"));
    jobs = ctl_json('a', "jobs", NULL);
    ck_assert_uint_eq(json_array_get_length(json_node_get_array(jobs)), 65);
    ck_assert_int_eq(ctl('a', &out, "job", "1", NULL), 6);
    assert_vm_only_on('a', "many");
}
END_TEST

/* kill -9 at a phase: a hook of host a's that kills @victim when the job reaches @phase */
static char *
kill_at_phase(const char *phase, GPid victim)
{
    g_autofree char *hooks = g_strdup_printf("%s/a/hooks", lab_dir);

    return xe_test_hook_kill_at_phase(hooks, phase, victim);
}

static void
wait_dead(GPid pid)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (kill(pid, 0) == 0) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "process %d did not die", (int)pid);
        g_usleep(20000);
    }
}

static GPid
daemon_pid(char host)
{
    return (GPid)g_ascii_strtoll(env(host == 'a' ? "XE_LAB_A_DAEMON_PID" : "XE_LAB_B_DAEMON_PID"),
                                 NULL, 10);
}

/* The VM runs on exactly one host (QEMU says running), and each host holds one
 * reservation per VM: what every fault must end in. */
static char
assert_vm_somewhere(const char *name)
{
    g_autoptr(JsonNode) on_a = NULL, on_b = NULL;
    gboolean a = vm_on('a', name, &on_a) != NULL, b = vm_on('b', name, &on_b) != NULL;

    ck_assert_msg(a != b, "VM %s is on %s", name, a ? "both hosts" : "neither host");
    assert_vm_only_on(a ? 'a' : 'b', name);
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
    return a ? 'a' : 'b';
}

/* kill -9 of @host's daemon as the job of a 64 MiB VM reaches its switchover; the daemon
 * comes back, and the job ends with the VM on exactly one host. */
static void
daemon_killed_at_switchover(char host, const char *vm, const char *what)
{
    g_autofree char *id = NULL;
    g_autofree char *hook = NULL;
    g_autoptr(JsonNode) j = NULL;
    GPid victim = daemon_pid(host);

    start_fake_vm(vm, "64M");
    hook = kill_at_phase("switchover", victim);
    id = migrate_detached(vm);
    wait_dead(victim);
    ck_assert_int_eq(unlink(hook), 0);
    /* a's job goes on from its journal; b's incoming is undone or kept by its commit */
    lab_daemon("start", host);
    j = wait_job(id, job_over);
    print_job(what, j);
    printf("  the VM is on %c\n", assert_vm_somewhere(vm));
}

START_TEST(test_source_daemon_killed_at_switchover)
{
    daemon_killed_at_switchover('a', "srckill", "source daemon killed at switchover");
}
END_TEST

START_TEST(test_destination_daemon_killed_at_switchover)
{
    /* meanwhile the source completes, and asks b (down) whether the VM runs there */
    daemon_killed_at_switchover('b', "dstkill", "destination daemon killed at switchover");
}
END_TEST

static gboolean
waits_for_destination(JsonNode *j)
{
    return strstr(jstr(j, "FailureReason"), "xe-migratectl resolve") != NULL;
}

/* The destination's host is gone for good: the source waits, paused, for its word, until
 * an operator gives it. */
START_TEST(test_operator_resolves_a_waiting_job)
{
    g_autofree char *id = NULL, *hook = NULL, *out = NULL;
    g_autoptr(JsonNode) waiting = NULL, j = NULL;
    GPid victim = daemon_pid('b');

    start_fake_vm("resolved", "64M");
    hook = kill_at_phase("switchover", victim);
    id = migrate_detached("resolved");
    wait_dead(victim);
    ck_assert_int_eq(unlink(hook), 0);
    waiting = wait_job(id, waits_for_destination);
    ck_assert_str_eq(jstr(waiting, "State"), "running");
    printf("waiting: %s\n", jstr(waiting, "FailureReason"));
    /* a word that is no place is refused */
    ck_assert_int_eq(ctl('a', &out, "resolve", id, "elsewhere", NULL), 2);
    g_free(out);
    ck_assert_msg(ctl('a', &out, "resolve", id, "source", NULL) == 0, "resolve: %s", out);
    j = wait_job(id, job_over);
    print_job("resolved by an operator", j);
    {
        JsonArray *attempts = json_object_get_array_member(json_node_get_object(j), "Attempts");
        JsonArray *first = json_array_get_array_element(attempts, 0);

        ck_assert_ptr_nonnull(strstr(json_array_get_string_element(first, 2), "an operator said"));
    }
    /* a finished job has nothing to resolve */
    g_free(out);
    ck_assert_int_eq(ctl('a', &out, "resolve", id, "destination", NULL), 5);
    /* b comes back: its incoming, never committed, is undone */
    lab_daemon("start", 'b');
    assert_vm_only_on('a', "resolved");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_source_qemu_killed_mid_migration)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonNode) moving = NULL, j = NULL, vms = NULL, res = NULL;
    GPid qemu;

    start_fake_vm("qkill", "256M");
    qemu = (GPid)json_object_get_int_member(vm_on('a', "qkill", &vms), "Pid");
    id = migrate_detached("qkill");
    moving = wait_job(id, ram_moving);
    ck_assert_int_eq(kill(qemu, SIGKILL), 0);
    j = wait_job(id, job_over);
    print_job("source QEMU killed", j);
    ck_assert_str_eq(jstr(j, "State"), "failed");
    /* the VM died with its QEMU: its VF is reset and released, nothing is left on b */
    json_node_unref(vms);
    ck_assert_ptr_null(vm_on('a', "qkill", &vms));
    json_node_unref(vms);
    ck_assert_ptr_null(vm_on('b', "qkill", &vms));
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_arrived_vm_survives_restart_and_goes_back)
{
    g_autofree char *id = NULL, *out = NULL, *back = NULL;
    g_autoptr(JsonNode) j = NULL, res = NULL;
    JsonArray *list;

    start_fake_vm("arrived", "64M");
    id = migrate_detached("arrived");
    j = wait_job(id, job_over);
    ck_assert_str_eq(jstr(j, "State"), "completed");
    ck_assert_uint_gt(jint(j, "TimeToRunning"), 0);
    /* b's VM now, like any other: its reservation is the VM's */
    res = ctl_json('b', "reservations", NULL);
    list = json_node_get_array(res);
    ck_assert_uint_eq(json_array_get_length(list), 1);
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(list, 0), "owner"),
                     "vm:arrived");
    /* a graceful restart re-adopts it */
    lab_daemon("stop", 'b');
    lab_daemon("start", 'b');
    assert_vm_only_on('b', "arrived");
    assert_vfs_accounted('b');
    /* and it migrates onward, back to a */
    ck_assert_msg(ctl('b', &out, "migrate", "arrived", "--to", "a", "--detach", NULL) == 0,
                  "migrate back: %s", out);
    back = g_strdup(strrchr(g_strstrip(out), '/') + 1);
    {
        gint64 deadline = g_get_monotonic_time() + DEADLINE_MS * 1000;

        for (;;) {
            g_autoptr(JsonNode) jb = ctl_json('b', "job", back);

            if (job_over(jb)) {
                ck_assert_str_eq(jstr(jb, "State"), "completed");
                break;
            }
            ck_assert(g_get_monotonic_time() < deadline);
            g_usleep(50000);
        }
    }
    assert_vm_only_on('a', "arrived");
    assert_vfs_accounted('a');
    assert_vfs_accounted('b');
}
END_TEST

START_TEST(test_names_differing_in_dash_and_underscore)
{
    g_autoptr(JsonNode) vms = NULL;
    g_autofree char *out = NULL;

    start_fake_vm("web-1", "64M");
    start_fake_vm("web_1", "64M");
    ck_assert_uint_eq(json_array_get_length(vms_of('a', &vms)), 2);
    ck_assert_msg(ctl('a', &out, "vm-remove", "web-1", NULL) == 0, "vm-remove: %s", out);
    assert_vm_only_on('a', "web_1");
    assert_vfs_accounted('a');
}
END_TEST

static void
setup(void)
{
    lab_up();
}

/* A sanitizer build's daemons and QEMU stand-ins report to their logs: none may. */
static void
assert_no_sanitizer_reports(void)
{
    const char *logs[] = { "a/daemon.log", "b/daemon.log", "a/run", "b/run" };

    for (guint i = 0; i < G_N_ELEMENTS(logs); i++) {
        g_autofree char *path = g_build_filename(lab_dir, logs[i], NULL);
        g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);

        if (dir != NULL) {
            const char *name;

            while ((name = g_dir_read_name(dir)) != NULL)
                if (g_str_has_suffix(name, ".log"))
                    g_ptr_array_add(files, g_build_filename(path, name, NULL));
        } else {
            g_ptr_array_add(files, g_strdup(path));
        }
        for (guint f = 0; f < files->len; f++) {
            g_autofree char *text = NULL;

            if (g_file_get_contents(files->pdata[f], &text, NULL, NULL))
                ck_assert_msg(strstr(text, "Sanitizer") == NULL &&
                                  strstr(text, "runtime error:") == NULL,
                              "%s reports:\n%s", (char *)files->pdata[f], text);
        }
    }
}

static void
teardown(void)
{
    lab_down();
    assert_no_sanitizer_reports();
}

int
main(int argc, char **argv)
{
    gboolean bench = argc > 1 && g_str_equal(argv[1], "bench");
    Suite *s = suite_create(bench ? "migration-bench" : "migration");
    TCase *tc = tcase_create("two-hosts");
    gboolean ready = getuid() == 0 && g_file_test("/dev/fuse", G_FILE_TEST_EXISTS) &&
                     xe_test_have("qemu-system-x86_64") && xe_test_have("systemd-stdio-bridge") &&
                     xe_test_have("nsenter") && xe_test_have("ip");

    xe_test_require_peer(ready, "root, /dev/fuse, QEMU, nsenter and systemd-stdio-bridge");
    lab_dir = g_strdup(g_getenv("XE_LAB_DIR"));
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    if (bench) {
        tcase_set_timeout(tc, 900);
        tcase_add_test(tc, bench_one_gib_idle_guest);
        tcase_add_test(tc, bench_downtime_prediction);
        tcase_add_test(tc, bench_convergence);
        suite_add_tcase(s, tc);
        return xe_test_run_suite(s);
    }
    tcase_add_test(tc, test_happy_path_real_qemu);
    tcase_add_loop_test(tc, test_vf_state_with_multifd, 0, G_N_ELEMENTS(vfio_multifd));
    tcase_add_test(tc, test_source_reset_during_save_is_retried);
    tcase_add_test(tc, test_destination_reset_during_resume_is_retried);
    tcase_add_test(tc, test_destination_qemu_killed_is_retried);
    tcase_add_test(tc, test_transport_cut_is_retried);
    tcase_add_test(tc, test_incompatible_destination_refused);
    tcase_add_test(tc, test_cancel_keeps_the_vm_on_the_source);
    tcase_add_test(tc, test_pre_migrate_hook_vetoes);
    tcase_add_test(tc, test_adopted_vm_migrates);
    tcase_add_test(tc, test_dirty_tracking_blocker_explained);
    tcase_add_test(tc, test_finished_jobs_are_pruned);
    tcase_add_test(tc, test_daemon_restart_keeps_vms);
    tcase_add_test(tc, test_source_daemon_killed_at_switchover);
    tcase_add_test(tc, test_destination_daemon_killed_at_switchover);
    tcase_add_test(tc, test_operator_resolves_a_waiting_job);
    tcase_add_test(tc, test_source_qemu_killed_mid_migration);
    tcase_add_test(tc, test_arrived_vm_survives_restart_and_goes_back);
    tcase_add_test(tc, test_names_differing_in_dash_and_underscore);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
