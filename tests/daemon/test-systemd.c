/* test-systemd.c: suite "daemon-systemd": xe-migrated with the privileges its unit leaves it
 * (root's uid, no capability, no new privileges, in qemu-user's group) starting QEMU through
 * the real systemd (PID 1 of a namespace of the test's own, boot-systemd) in a transient
 * service of its own: QEMU's user, sandbox and cgroup, its VF's node, a kill the daemon may
 * not send itself, and a daemon crash the VM outlives; and the shipped unit itself, hardened
 * as it is, run by that systemd, running a VM. Everything is checked from outside: /proc,
 * the node, systemd's view.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "xe-test-bus.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define SYSTEMD "org.freedesktop.systemd1"
#define VF1     "0000:03:00.1"

static XeTestSim *sim;
static XeTestBus *bus;
static XeTestDaemon *daemon_;
static GPid unshare_pid; /* boot-systemd: unshare, whose child is systemd */
static char *dir;

static void
name_appeared(GDBusConnection *c, const char *name, const char *owner, gpointer data)
{
    *(gboolean *)data = TRUE;
}

/* A test that fails ends at once, without its teardown: systemd's namespace goes with it
 * (unshare --kill-child passes the SIGKILL on to PID 1). */
static void
die_with_test(gpointer data)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The real systemd, on the test's bus once it owns org.freedesktop.systemd1; with @share,
 * the test's directory and xe-sim's are /srv/NAME in its namespace (srv_path()). */
static void
boot_systemd_sharing(gboolean share)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_autofree char *sock = g_build_filename(bus->dir, "bus", NULL);
    const char *argv[] = { g_getenv("XE_BOOT_SYSTEMD"), dir,       sock,
                           share ? dir : NULL,          sim->root, NULL };
    gboolean up = FALSE;
    guint watch;

    ck_assert_msg(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_test,
                                NULL, &unshare_pid, &error),
                  "boot-systemd: %s", error ? error->message : "");
    conn = xe_test_bus_connect(bus->address);
    watch = g_bus_watch_name_on_connection(conn, SYSTEMD, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                           name_appeared, NULL, &up, NULL);
    xe_test_wait_flag(&up, 30000, "systemd on the test bus");
    g_bus_unwatch_name(watch);
}

static void
boot_systemd(void)
{
    boot_systemd_sharing(FALSE);
}

/* The only child of @pid (unshare's is systemd, nsenter's the daemon), as this test sees it. */
static GPid
only_child(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/children", pid, pid);
    g_autofree char *children = NULL;

    ck_assert_msg(g_file_get_contents(path, &children, NULL, NULL), "%s", path);
    ck_assert_msg(atoi(children) > 0, "process %d has no child", pid);
    return (GPid)atoi(children);
}

static GPid
systemd_pid(void)
{
    return only_child(unshare_pid);
}

/* The daemon itself: nsenter's child. */
static GPid
daemon_pid(void)
{
    return only_child(daemon_->pid);
}

/* Waits (30 s at most) for process @pid to end. */
static void
wait_gone(GPid pid, const char *what)
{
    int fd = pidfd_open(pid, 0);
    struct pollfd p = { .fd = fd, .events = POLLIN };

    if (fd < 0)
        return; /* gone already */
    ck_assert_msg(poll(&p, 1, 30000) == 1, "%s (%d) still runs after 30 s", what, pid);
    close(fd);
}

/* @signo to the daemon (not to nsenter, which does not pass signals on), then nsenter
 * reaped once the daemon has ended. */
static void
end_daemon(int signo)
{
    GPid pid = daemon_pid();

    ck_assert_int_eq(kill(pid, signo), 0);
    wait_gone(pid, "xe-migrated");
    (void)xe_test_daemon_stop(daemon_);
    g_clear_pointer(&daemon_, xe_test_daemon_free);
}

static void
write_file(const char *name, const char *text, int mode)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);

    ck_assert(g_file_set_contents(path, text, -1, NULL));
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* The daemon as its unit runs it: in systemd's namespaces (its pids are systemd's), root's
 * uid with no capability, no new privileges, qemu-user's group among its groups. */
static void
start_daemon(void)
{
    g_autofree char *conf = g_build_filename(dir, "xe.conf", NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *hooks = g_build_filename(dir, "hooks", NULL);
    g_autofree char *wrapper = g_build_filename(dir, "xe-migrated", NULL);
    g_autofree char *real = g_strdup(g_getenv("XE_MIGRATED"));
    const char *argv[] = { "--sysfs-root", sim->root,     "--config", conf, "--state-dir",
                           state,          "--hooks-dir", hooks,      NULL };

    g_setenv("XE_MIGRATED", wrapper, TRUE);
    g_setenv("DBUS_SYSTEM_BUS_ADDRESS", bus->address, TRUE);
    daemon_ = xe_test_daemon_start(bus, argv);
    g_setenv("XE_MIGRATED", real, TRUE);
    /* the layout applied: its two VFs enabled */
    ck_assert_msg(xe_test_daemon_wait_notify(daemon_, ", 2 VFs", 20000), "no VFs enabled");
}

/* The host's files, as the daemon and QEMU see them: @at is the test's directory and @sim_root
 * xe-sim's in their mount namespace. QEMU under the VFIO emulation (qemu-vfio), the
 * configuration (@launcher: its qemu-launcher line, or "" for the default) and the VM. */
static void
write_host_files(const char *at, const char *sim_root, const char *launcher)
{
    g_autofree char *text = NULL;

    text = g_strdup_printf("#!/bin/sh\n"
                           "# QEMU on the test's simulated VF (the VFIO emulation preloaded)\n"
                           "LD_PRELOAD=%s XE_VFIO_SIM_ROOT=%s exec qemu-system-x86_64 \"$@\"\n",
                           g_getenv("XE_VFIO_PRELOAD"), sim_root);
    write_file("qemu-vfio", text, 0755);
    g_clear_pointer(&text, g_free);
    text = g_strdup_printf("[daemon]\n"
                           "%s"
                           "emulators=%s/qemu-vfio;%s/qemu-locked\n"
                           "run-dir=%s/run\n"
                           "[profile standard]\n"
                           "exec_quantum_ms=20\n"
                           "vram_quota=512M\n"
                           "ggtt_quota=256M\n"
                           "[layout 0000:03:00.0]\n"
                           "vfs=2\n",
                           launcher, at, at, at);
    write_file("xe.conf", text, 0644);
    g_clear_pointer(&text, g_free);
    text = g_strdup_printf("[vm]\nname=gpu\nprofile=standard\ncommand=%s/qemu-vfio -machine q35 "
                           "-accel kvm -accel tcg -m 64M -nodefaults -no-user-config -display "
                           "none -device vfio-pci,host={vf},id=xe-vf\n",
                           at);
    write_file("gpu.vm", text, 0644);
    g_clear_pointer(&text, g_free);
    /* a QEMU the user it runs as may not execute (root's, 0700) */
    write_file("qemu-locked", "#!/bin/sh\nexec qemu-system-x86_64 \"$@\"\n", 0700);
    text = g_strdup_printf("[vm]\nname=locked\nprofile=standard\ncommand=%s/qemu-locked "
                           "-machine q35 -accel kvm -accel tcg -m 64M -nodefaults "
                           "-no-user-config -display none -device vfio-pci,host={vf},id=xe-vf\n",
                           at);
    write_file("locked.vm", text, 0644);
}

static void
setup(void)
{
    struct group *gr = getgrnam("xe-qemu");
    g_autofree char *hooks = NULL, *text = NULL;

    ck_assert_msg(gr != NULL, "no group xe-qemu (scripts/setup-deps creates it)");
    dir = xe_test_mkdtemp("xe-systemd");
    ck_assert_int_eq(chmod(dir, 0755), 0); /* QEMU, as xe-qemu, runs the wrapper from here */
    hooks = g_build_filename(dir, "hooks", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(hooks, 0755), 0);
    sim = xe_test_sim_start(NULL); /* before systemd: its namespace sees the mount */
    bus = xe_test_bus_start();
    boot_systemd();

    write_host_files(dir, sim->root, "qemu-launcher=systemd\n");
    /* nsenter forks into the PID namespace: the daemon is its child (daemon_pid()) */
    text = g_strdup_printf("#!/bin/sh\n"
                           "exec nsenter --target=%d --pid --mount -- setpriv --groups=%u "
                           "--bounding-set=-all --inh-caps=-all --no-new-privs -- %s \"$@\"\n",
                           systemd_pid(), (guint)gr->gr_gid, g_getenv("XE_MIGRATED"));
    write_file("xe-migrated", text, 0755);
    g_clear_pointer(&text, g_free);
    start_daemon();
}

static void
teardown(void)
{
    if (daemon_ != NULL)
        end_daemon(SIGTERM);
    if (unshare_pid != 0) {
        GPid pid1 = systemd_pid();

        /* its child, PID 1, goes with it, and the QEMUs with PID 1: gone before the mounts */
        kill(unshare_pid, SIGKILL);
        (void)waitpid(unshare_pid, NULL, 0);
        wait_gone(pid1, "systemd (PID 1 of the test's namespace)");
        unshare_pid = 0;
    }
    g_clear_pointer(&bus, xe_test_bus_stop);
    g_clear_pointer(&sim, xe_test_sim_stop);
    xe_test_rmtree(dir);
    g_clear_pointer(&dir, g_free);
}

/* xe-migratectl ARGS... on the test bus: its exit status, its output in *@out */
static int
ctl(char **out, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    va_list ap;
    const char *arg;
    g_autofree char *err = NULL;
    char *tmp;
    int status = 0;

    g_ptr_array_add(argv, (char *)g_getenv("XE_MIGRATECTL"));
    g_ptr_array_add(argv, (char *)"--bus");
    g_ptr_array_add(argv, bus->address);
    va_start(ap, out);
    while ((arg = va_arg(ap, const char *)) != NULL)
        g_ptr_array_add(argv, (char *)arg);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               &err, &status, &error),
                  "xe-migratectl: %s", error ? error->message : "");
    /* what it said, on either stream */
    tmp = g_strconcat(*out, err, NULL);
    g_free(*out);
    *out = tmp;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
add_vm(void)
{
    g_autofree char *spec = g_build_filename(dir, "gpu.vm", NULL);
    g_autofree char *out = NULL;

    ck_assert_msg(ctl(&out, "vm-add", spec, "--start", NULL) == 0, "vm-add: %s", out);
}

static char *
proc_field(GPid pid, const char *file, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/%s", pid, file);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
        if (key == NULL ? strstr(lines[i], ":name=systemd:") != NULL
                        : g_str_has_prefix(lines[i], key) && lines[i][strlen(key)] == ':')
            return g_strdup(g_strstrip(strchr(lines[i], ':') + 1));
    return NULL;
}

/* /proc/@pid/status says @key: @want. */
static void
assert_status(GPid pid, const char *key, const char *want)
{
    g_autofree char *have = proc_field(pid, "status", key);

    ck_assert_msg(g_strcmp0(have, want) == 0, "process %d: %s is %s, not %s", pid, key, have, want);
}

/* Process @pid runs with no capability, none to gain, and a seccomp filter. */
static void
assert_confined(GPid pid)
{
    assert_status(pid, "CapEff", "0000000000000000");
    assert_status(pid, "NoNewPrivs", "1");
    assert_status(pid, "Seccomp", "2");
}

/* QEMU @pid is in a service of its own, xe-qemu-ID.service. */
static void
assert_in_qemu_service(GPid pid)
{
    g_autofree char *cgroup = proc_field(pid, "cgroup", NULL);

    ck_assert_msg(cgroup != NULL && strstr(cgroup, "/xe-qemu-") != NULL &&
                      g_str_has_suffix(cgroup, ".service"),
                  "QEMU's cgroup: %s", cgroup);
}

/* The VF's group node: its group and mode (root owns it). */
static gid_t
node_group(const char *vf, mode_t *mode)
{
    g_autofree char *link = g_strdup_printf("%s/sys/bus/pci/devices/%s/iommu_group", sim->root, vf);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *node = NULL, *group = NULL;
    struct stat st;

    ck_assert_msg(target != NULL, "%s", link);
    group = g_path_get_basename(target);
    node = g_strdup_printf("%s/dev/vfio/%s", sim->root, group);
    ck_assert_msg(stat(node, &st) == 0, "%s: %s", node, g_strerror(errno));
    ck_assert_uint_eq(st.st_uid, 0);
    *mode = st.st_mode & 07777;
    return st.st_gid;
}

/* The process systemd started as @comm (15 characters at most): its child. */
static GPid
systemd_child(const char *comm)
{
    GPid pid1 = systemd_pid();
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/children", pid1, pid1);
    g_autofree char *children = NULL;
    g_auto(GStrv) pids = NULL;

    ck_assert(g_file_get_contents(path, &children, NULL, NULL));
    pids = g_strsplit(g_strstrip(children), " ", -1);
    for (guint i = 0; pids[i] != NULL; i++) {
        g_autofree char *name = NULL, *name_path = g_strdup_printf("/proc/%s/comm", pids[i]);

        if (g_file_get_contents(name_path, &name, NULL, NULL) && g_str_has_prefix(name, comm))
            return (GPid)atoi(pids[i]);
    }
    ck_abort_msg("no %s among systemd's children (%s)", comm, children);
    return 0;
}

START_TEST(test_qemu_runs_in_its_own_service)
{
    struct passwd *pw = getpwnam("xe-qemu");
    g_autofree char *want = NULL, *ppid = NULL;
    mode_t mode;
    GPid q;

    ck_assert(pw != NULL);
    /* the daemon has nothing to give: no capability at all */
    assert_status(daemon_pid(), "CapEff", "0000000000000000");
    add_vm();
    q = systemd_child("qemu-system");
    /* systemd's child, in a service of its own, not the daemon's */
    ppid = proc_field(q, "status", "PPid");
    ck_assert_int_eq(atoi(ppid), systemd_pid());
    assert_in_qemu_service(q);
    want = g_strdup_printf("%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid, pw->pw_uid, pw->pw_uid);
    assert_status(q, "Uid", want);
    assert_confined(q);
    /* its VF's node is open to its group, and only while it has the VF */
    ck_assert_uint_eq(node_group(VF1, &mode), pw->pw_gid);
    ck_assert_int_eq(mode, 0660);
    {
        g_autofree char *out = NULL;

        ck_assert_msg(ctl(&out, "vm-remove", "gpu", NULL) == 0, "vm-remove: %s", out);
    }
    wait_gone(q, "QEMU after vm-remove");
    ck_assert_uint_eq(node_group(VF1, &mode), 0);
    ck_assert_int_eq(mode, 0600);
}
END_TEST

/* A QEMU that does not answer: the daemon, which may not signal another user's process,
 * has systemd kill it. */
START_TEST(test_killed_through_systemd)
{
    g_autofree char *out = NULL;
    mode_t mode;
    GPid q;

    add_vm();
    q = systemd_child("qemu-system");
    ck_assert_int_eq(kill(q, SIGSTOP), 0);
    ck_assert_msg(ctl(&out, "vm-remove", "gpu", NULL) == 0, "vm-remove: %s", out);
    wait_gone(q, "a stopped QEMU after vm-remove");
    ck_assert_uint_eq(node_group(VF1, &mode), 0);
}
END_TEST

/* The units systemd has named xe-qemu-*.service, loaded in any state. */
static char *
qemu_units(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = xe_test_bus_connect(bus->address);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariantIter) units = NULL;
    g_autoptr(GString) names = g_string_new("");
    const char *name;

    reply = g_dbus_connection_call_sync(
        conn, SYSTEMD, "/org/freedesktop/systemd1", SYSTEMD ".Manager", "ListUnitsByPatterns",
        g_variant_new("(@as@as)", g_variant_new_strv(NULL, 0),
                      g_variant_new_strv((const char *const[]){ "xe-qemu-*", NULL }, -1)),
        NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
    ck_assert_msg(reply != NULL, "ListUnitsByPatterns: %s", error ? error->message : "");
    g_variant_get(reply, "(a(ssssssouso))", &units);
    while (g_variant_iter_next(units, "(&sssssso@us@o)", &name, NULL, NULL, NULL, NULL, NULL, NULL,
                               NULL, NULL, NULL))
        g_string_append_printf(names, "%s ", name);
    return g_string_free(g_steal_pointer(&names), FALSE);
}

/* A QEMU systemd cannot start (its user may not execute it): AddVM fails saying so, and
 * nothing is left: no service, no monitor socket, the node closed, the VF free again. */
START_TEST(test_qemu_that_cannot_start_leaves_nothing)
{
    g_autofree char *spec = g_build_filename(dir, "locked.vm", NULL);
    g_autofree char *out = NULL, *units = NULL;
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_autoptr(GDir) listing = NULL;
    const char *name;
    mode_t mode;

    ck_assert_int_ne(ctl(&out, "vm-add", spec, "--start", NULL), 0);
    ck_assert_msg(strstr(out, "did not run") != NULL, "vm-add: %s", out);
    units = qemu_units();
    ck_assert_msg(*units == '\0', "services left: %s", units);
    listing = g_dir_open(run, 0, NULL);
    while (listing != NULL && (name = g_dir_read_name(listing)) != NULL)
        ck_assert_msg(!g_str_has_suffix(name, ".qmp"), "monitor socket left: %s/%s", run, name);
    ck_assert_uint_eq(node_group(VF1, &mode), 0);
    ck_assert_int_eq(mode, 0600);
    /* and the VF serves the next VM */
    g_clear_pointer(&out, g_free);
    add_vm();
}
END_TEST

/* A QEMU whose service neither starts nor stops in time (its drop-in sleeps before and
 * after): the daemon cannot tell that nothing runs, and says so (Error.Unconfirmed), keeping
 * the VF reserved and its node open rather than handing it to the next VM. */
START_TEST(test_unconfirmed_start_keeps_the_vf)
{
    g_autoptr(GDBusConnection) conn = xe_test_bus_connect(bus->address);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = g_build_filename(dir, "gpu.vm", NULL);
    g_autofree char *dropins = g_build_filename(dir, "units", "xe-qemu-.service.d", NULL);
    g_autofree char *out = NULL;
    mode_t mode;

    ck_assert_int_eq(g_mkdir_with_parents(dropins, 0755), 0);
    write_file("units/xe-qemu-.service.d/slow.conf",
               "[Service]\nExecStartPre=/bin/sleep 45\nExecStopPost=/bin/sleep 45\n", 0644);
    reply = g_dbus_connection_call_sync(conn, SYSTEMD, "/org/freedesktop/systemd1",
                                        SYSTEMD ".Manager", "Reload", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
    ck_assert_msg(reply != NULL, "Reload: %s", error ? error->message : "");
    ck_assert_int_ne(ctl(&out, "vm-add", spec, "--start", NULL), 0);
    ck_assert_msg(strstr(out, "may still run") != NULL, "vm-add: %s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl(&out, "reservations", NULL) == 0, "reservations: %s", out);
    ck_assert_msg(strstr(out, VF1) != NULL, "the VF was released: %s", out);
    ck_assert_uint_ne(node_group(VF1, &mode), 0);
}
END_TEST

/* The daemon dies: the VM, in its own service, runs on; the next daemon takes it back. */
START_TEST(test_vm_outlives_a_daemon_crash)
{
    g_autofree char *out = NULL, *state = NULL;
    GPid q;

    add_vm();
    q = systemd_child("qemu-system");
    end_daemon(SIGKILL);
    state = proc_field(q, "status", "State");
    ck_assert_msg(state != NULL && state[0] != 'Z', "QEMU %d did not outlive the daemon", q);
    start_daemon();
    ck_assert_msg(ctl(&out, "vms", NULL) == 0, "vms: %s", out);
    ck_assert_msg(strstr(out, "gpu") != NULL && strstr(out, "running") != NULL, "vms: %s", out);
    ck_assert_int_eq(systemd_child("qemu-system"), q);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl(&out, "vm-remove", "gpu", NULL) == 0, "vm-remove: %s", out);
    wait_gone(q, "QEMU after vm-remove");
}
END_TEST

typedef struct {
    gboolean over;
    char result[32]; /* systemd's word for how xe-migrated.service's job ended */
} JobResult;

static void
job_removed(GDBusConnection *c, const char *sender, const char *path, const char *interface,
            const char *signal, GVariant *parameters, gpointer data)
{
    JobResult *r = data;
    const char *unit = NULL, *result = NULL;

    g_variant_get(parameters, "(u&o&s&s)", NULL, NULL, &unit, &result);
    if (g_str_equal(unit, "xe-migrated.service")) {
        g_strlcpy(r->result, result, sizeof(r->result));
        r->over = TRUE;
    }
}

static gboolean
set_flag(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* What the daemon last told systemd (STATUS=), systemd's StatusText. */
static char *
unit_status(GDBusConnection *conn)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL, v = NULL;

    reply = g_dbus_connection_call_sync(
        conn, SYSTEMD, "/org/freedesktop/systemd1/unit/xe_2dmigrated_2eservice",
        "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", SYSTEMD ".Service", "StatusText"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
    ck_assert_msg(reply != NULL, "StatusText: %s", error ? error->message : "");
    g_variant_get(reply, "(v)", &v);
    return g_variant_dup_string(v, NULL);
}

static void
status_changed(GDBusConnection *c, const char *sender, const char *path, const char *interface,
               const char *signal, GVariant *parameters, gpointer data)
{
    g_autoptr(GVariant) changed = NULL;
    const char *status = NULL;

    g_variant_get(parameters, "(&s@a{sv}@as)", NULL, &changed, NULL);
    if (g_variant_lookup(changed, "StatusText", "&s", &status) && strstr(status, ", 2 VFs") != NULL)
        *(gboolean *)data = TRUE;
}

/* The shipped unit, as built, run by systemd: only what a host's paths need changes (a
 * drop-in: the program, the simulated sysfs and the state where the test has them). */
static void
setup_unit(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *text = NULL, *units = NULL, *unit = NULL, *binary = NULL, *sim_root = NULL;
    g_autofree char *hooks = NULL, *srv = NULL;
    gsize len = 0;
    JobResult result = { 0 };
    gboolean vfs = FALSE;
    g_autofree char *status = NULL;
    guint watch;

    dir = xe_test_mkdtemp("xe-unit");
    ck_assert_int_eq(chmod(dir, 0755), 0);
    hooks = g_build_filename(dir, "hooks", NULL);
    units = g_build_filename(dir, "units", "xe-migrated.service.d", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(hooks, 0755), 0);
    ck_assert_int_eq(g_mkdir_with_parents(units, 0755), 0);
    sim = xe_test_sim_start(NULL);
    /* where systemd's namespace shows the test's directory and xe-sim's */
    srv = g_strdup_printf("/srv/%s", strrchr(dir, '/') + 1);
    sim_root = g_strdup_printf("/srv/%s", strrchr(sim->root, '/') + 1);
    bus = xe_test_bus_start();

    ck_assert(g_file_get_contents(g_getenv("XE_UNIT"), &text, &len, NULL));
    unit = g_build_filename(dir, "units", "xe-migrated.service", NULL);
    ck_assert(g_file_set_contents(unit, text, (gssize)len, NULL));
    g_clear_pointer(&text, g_free);
    ck_assert(g_file_get_contents(g_getenv("XE_MIGRATED"), &text, &len, NULL));
    binary = g_build_filename(dir, "xe-migrated", NULL);
    ck_assert(g_file_set_contents(binary, text, (gssize)len, NULL));
    ck_assert_int_eq(chmod(binary, 0755), 0);
    g_clear_pointer(&text, g_free);
    text = g_strdup_printf("[Service]\n"
                           "ExecStart=\n"
                           "ExecStart=%s/xe-migrated --sysfs-root %s --config %s/xe.conf "
                           "--state-dir %s/state --hooks-dir %s/hooks\n"
                           "StateDirectory=\n"
                           "ConfigurationDirectory=\n"
                           "ReadWritePaths=/srv\n",
                           srv, sim_root, srv, srv, srv);
    write_file("units/xe-migrated.service.d/paths.conf", text, 0644);
    g_clear_pointer(&text, g_free);
    /* no qemu-launcher: auto finds systemd the init system */
    write_host_files(srv, sim_root, "");
    boot_systemd_sharing(TRUE);

    conn = xe_test_bus_connect(bus->address);
    /* started once systemd's job is done: Type=notify, the daemon said READY=1 */
    watch = g_dbus_connection_signal_subscribe(conn, SYSTEMD, SYSTEMD ".Manager", "JobRemoved",
                                               NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, job_removed,
                                               &result, NULL);
    g_clear_pointer(&reply, g_variant_unref);
    reply = g_dbus_connection_call_sync(conn, SYSTEMD, "/org/freedesktop/systemd1",
                                        SYSTEMD ".Manager", "Subscribe", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
    ck_assert_msg(reply != NULL, "Subscribe: %s", error ? error->message : "");
    g_clear_pointer(&reply, g_variant_unref);
    reply = g_dbus_connection_call_sync(conn, SYSTEMD, "/org/freedesktop/systemd1",
                                        SYSTEMD ".Manager", "StartUnit",
                                        g_variant_new("(ss)", "xe-migrated.service", "replace"),
                                        NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
    ck_assert_msg(reply != NULL, "StartUnit: %s", error ? error->message : "");
    xe_test_wait_flag(&result.over, 30000, "systemd's job starting xe-migrated.service");
    ck_assert_msg(g_str_equal(result.result, "done"), "starting xe-migrated.service: %s",
                  result.result);
    g_dbus_connection_signal_unsubscribe(conn, watch);
    /* the layout applied: its two VFs enabled, as the daemon tells systemd (StatusText) */
    watch = g_dbus_connection_signal_subscribe(
        conn, SYSTEMD, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        "/org/freedesktop/systemd1/unit/xe_2dmigrated_2eservice", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
        status_changed, &vfs, NULL);
    g_clear_pointer(&status, g_free);
    status = unit_status(conn);
    vfs = strstr(status, ", 2 VFs") != NULL;
    {
        gboolean expired = FALSE;
        g_autoptr(GSource) timer = g_timeout_source_new(20000);

        g_source_set_callback(timer, set_flag, &expired, NULL);
        g_source_attach(timer, NULL);
        while (!vfs && !expired)
            g_main_context_iteration(NULL, TRUE);
        g_source_destroy(timer);
    }
    g_clear_pointer(&status, g_free);
    status = unit_status(conn);
    ck_assert_msg(vfs, "xe-migrated's status, after 20 s: %s", status);
    g_dbus_connection_signal_unsubscribe(conn, watch);
}

START_TEST(test_shipped_unit_runs_a_vm)
{
    g_autofree char *out = NULL;
    g_autofree char *spec = g_build_filename(dir, "gpu.vm", NULL); /* xe-migratectl reads it */
    GPid d = systemd_child("xe-migrated"), q;

    /* the daemon as its unit leaves it: no capability, none to gain, a seccomp filter */
    assert_confined(d);
    assert_status(d, "CapBnd", "0000000000000000");
    ck_assert_msg(ctl(&out, "vm-add", spec, "--start", NULL) == 0, "vm-add: %s", out);
    q = systemd_child("qemu-system");
    assert_in_qemu_service(q);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl(&out, "vm-remove", "gpu", NULL) == 0, "vm-remove: %s", out);
    wait_gone(q, "QEMU after vm-remove");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("daemon-systemd");
    TCase *tc = tcase_create("systemd");

    xe_test_require_peer(geteuid() == 0, "root (namespaces, setns, a FUSE mount for systemd)");
    xe_test_require_peer(g_file_test("/lib/systemd/systemd", G_FILE_TEST_IS_EXECUTABLE),
                         "systemd (/lib/systemd/systemd)");
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (xe-sim)");
    xe_test_require_peer(xe_test_have("qemu-system-x86_64"), "qemu-system-x86_64");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_qemu_runs_in_its_own_service);
    tcase_add_test(tc, test_killed_through_systemd);
    tcase_add_test(tc, test_qemu_that_cannot_start_leaves_nothing);
    tcase_add_test(tc, test_unconfirmed_start_keeps_the_vf);
    tcase_add_test(tc, test_vm_outlives_a_daemon_crash);
    suite_add_tcase(s, tc);
    tc = tcase_create("unit");
    tcase_add_checked_fixture(tc, setup_unit, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_shipped_unit_runs_a_vm);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
