/* test-daemon.c: suite "daemon", the real xe-migrated process on a private
 * dbus-daemon over a live xe-sim mount: its objects and properties, every
 * kind of error as a named D-Bus error, reservations (concurrent, refused
 * rebinds, persistence across a restart, reconciliation, a failed write of the
 * state file, a VM's reservation refused to callers), the declared layout and
 * warm pool (pool VFs not provisionable by hand, written behind the daemon's
 * back: drift), authorization of an unprivileged caller, options of the wrong
 * type, errors of other domains as named errors, a configuration refused at
 * start and on reload, hooks, sd_notify, and xe-migratectl's table, JSON and
 * exit codes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "xe-fake-qmp.h"
#include "xe-test-bus.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define NAME    "org.xemigrated.XeMigrated1"
#define ROOT    "/org/xemigrated/XeMigrated1"
#define IFACE   "org.xemigrated.XeMigrated1."
#define PF_PATH ROOT "/pf/0000_03_00_0"
#define VF(n)   ROOT "/vf/0000_03_00_" #n
#define ERR     "org.xemigrated.XeMigrated1.Error."

static XeTestSim *sim;
static XeTestBus *bus;
static XeTestDaemon *daemon_;
static GDBusConnection *conn;
static char *dir; /* config, state, hooks */

static const char layout_conf[] = "[profile small]\n"
                                  "exec_quantum_ms=20\n"
                                  "vram_quota=1G\n"
                                  "ggtt_quota=256M\n"
                                  "[layout 0000:03:00.0]\n"
                                  "vfs=4\n"
                                  "pool=small:2\n";

static void
start_daemon(void)
{
    g_autofree char *conf = g_build_filename(dir, "xe.conf", NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *hooks = g_build_filename(dir, "hooks", NULL);
    const char *argv[] = { "--sysfs-root", sim->root,     "--config", conf, "--state-dir",
                           state,          "--hooks-dir", hooks,      NULL };

    /* as the unit's WatchdogSec= would (1 s: a ping every 500 ms) */
    g_setenv("WATCHDOG_USEC", "1000000", TRUE);
    daemon_ = xe_test_daemon_start(bus, argv);
    g_unsetenv("WATCHDOG_USEC");
}

static void
write_config(const char *text)
{
    g_autofree char *conf = g_build_filename(dir, "xe.conf", NULL);

    ck_assert(g_file_set_contents(conf, text, -1, NULL));
}

static void
setup_with(const char *config)
{
    g_autoptr(GError) error = NULL;

    dir = xe_test_mkdtemp("xe-daemon");
    {
        g_autofree char *hooks = g_build_filename(dir, "hooks", NULL);
        ck_assert_int_eq(g_mkdir_with_parents(hooks, 0755), 0);
    }
    write_config(config);
    sim = xe_test_sim_start(NULL);
    bus = xe_test_bus_start();
    start_daemon();
    conn =
        g_dbus_connection_new_for_address_sync(bus->address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    ck_assert_msg(conn != NULL, "%s", error ? error->message : "");
}

static void
setup(void)
{
    setup_with("");
}

static void
setup_layout(void)
{
    setup_with(layout_conf);
}

static void
teardown(void)
{
    g_clear_object(&conn);
    g_clear_pointer(&daemon_, xe_test_daemon_free);
    g_clear_pointer(&bus, xe_test_bus_stop);
    g_clear_pointer(&sim, xe_test_sim_stop);
    xe_test_rmtree(dir);
    g_clear_pointer(&dir, g_free);
}

static GVariant *
call(const char *path, const char *iface, const char *method, GVariant *args, GError **error)
{
    g_autofree char *full = g_strconcat(IFACE, iface, NULL);

    return g_dbus_connection_call_sync(conn, NAME, path, full, method, args, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, 60000, NULL, error);
}

static void
call_ok(const char *path, const char *iface, const char *method, GVariant *args)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) r = call(path, iface, method, args, &error);

    ck_assert_msg(r != NULL, "%s.%s: %s", iface, method, error ? error->message : "");
}

static void
assert_dbus_error(GError *error, const char *name, const char *part)
{
    g_autofree char *remote = NULL;

    ck_assert_msg(error != NULL, "expected %s", name);
    remote = g_dbus_error_get_remote_error(error);
    ck_assert_msg(g_strcmp0(remote, name) == 0, "got %s: %s", remote, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

static GVariant *
prop(const char *path, const char *iface, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *full = g_strconcat(IFACE, iface, NULL);
    g_autoptr(GVariant) r =
        g_dbus_connection_call_sync(conn, NAME, path, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new("(ss)", full, name), G_VARIANT_TYPE("(v)"),
                                    G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
    GVariant *v;

    ck_assert_msg(r != NULL, "%s %s: %s", path, name, error ? error->message : "");
    g_variant_get(r, "(v)", &v);
    return v;
}

static char *
prop_string(const char *path, const char *iface, const char *name)
{
    g_autoptr(GVariant) v = prop(path, iface, name);

    return g_variant_dup_string(v, NULL);
}

/* Runs xe-migratectl; returns its exit status. @user: run as uid/gid 65534. */
static int
cli(char **out, char **err, gboolean unprivileged, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    int status = 0;

    if (unprivileged) {
        g_ptr_array_add(argv, (char *)"setpriv");
        g_ptr_array_add(argv, (char *)"--reuid=65534");
        g_ptr_array_add(argv, (char *)"--regid=65534");
        g_ptr_array_add(argv, (char *)"--clear-groups");
    }
    g_ptr_array_add(argv, (char *)g_getenv("XE_MIGRATECTL"));
    g_ptr_array_add(argv, (char *)"--bus");
    g_ptr_array_add(argv, bus->address);
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               out, err, &status, &error),
                  "running xe-migratectl: %s", error ? error->message : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define CLI(out, err, ...) cli((out), (err), FALSE, (const char *const[]){ __VA_ARGS__, NULL })

/* Polls a property until it equals @want (a deadline, not a sleep). */
static void
wait_prop_string(const char *path, const char *iface, const char *name, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *v = prop_string(path, iface, name);

        if (g_str_equal(v, want))
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline, "%s %s stayed '%s', want '%s'", path, name,
                      v, want);
        g_main_context_iteration(NULL, FALSE);
    }
}

/* start, objects, sd_notify */

START_TEST(test_ready_status_and_objects)
{
    g_autofree char *version = prop_string(ROOT, "Manager", "Version");
    g_autofree char *root = prop_string(ROOT, "Manager", "SysfsRoot");
    g_autofree char *addr = prop_string(PF_PATH, "PF", "Address");
    g_autoptr(GVariant) total = prop(PF_PATH, "PF", "TotalVFs");
    g_autofree char *mig = prop_string(PF_PATH, "PF", "MigrationSupported");

    ck_assert_str_eq(version, "0.1.0");
    ck_assert_str_eq(root, sim->root);
    ck_assert_str_eq(addr, "0000:03:00.0");
    ck_assert_uint_eq(g_variant_get_uint32(total), 12);
    ck_assert_str_eq(mig, "yes");
    ck_assert(xe_test_daemon_wait_notify(daemon_, "STATUS=1 PFs, 0 VFs", 5000));
    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
    ck_assert(xe_test_daemon_wait_notify(daemon_, "STOPPING=1", 5000));
}
END_TEST

/* A stop that must wait for work in flight tells systemd to wait longer (EXTEND_TIMEOUT_USEC,
 * past TimeoutStopSec=) for as long as it drains, and ends once the work did. The work here:
 * DomainState on a libvirt that accepts the connection and never answers (a socket the test
 * listens on and never serves), until the test closes it. */
static void
ignore_reply(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GVariant) reply =
        g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
}

START_TEST(test_stop_extends_timeout_while_draining)
{
    g_autofree char *sock = g_build_filename(dir, "libvirt-sock", NULL);
    g_autofree char *conf =
        g_strdup_printf("[daemon]\nlibvirt-uri=qemu+unix:///system?socket=%s\n", sock);
    g_autoptr(GSocket) listener =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(sock);
    struct pollfd p;
    int status = -1, pidfd;

    ck_assert(g_socket_bind(listener, address, TRUE, NULL) && g_socket_listen(listener, NULL));
    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
    g_clear_pointer(&daemon_, xe_test_daemon_free);
    write_config(conf);
    start_daemon();
    /* (with a callback: without one GDBus would send it as needing no reply) */
    g_dbus_connection_call(conn, NAME, ROOT, IFACE "Manager", "DomainState",
                           g_variant_new("(s)", "web"), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                           ignore_reply, NULL);
    /* the daemon handles a connection's calls in order: once a later call is answered,
     * DomainState is in a worker */
    g_free(prop_string(ROOT, "Manager", "Version"));
    pidfd = pidfd_open(daemon_->pid, 0);
    ck_assert_int_ge(pidfd, 0);
    kill(daemon_->pid, SIGTERM);
    ck_assert(xe_test_daemon_wait_notify(daemon_, "STOPPING=1", 5000));
    ck_assert_msg(xe_test_daemon_wait_notify(daemon_, "EXTEND_TIMEOUT_USEC=20000000", 5000),
                  "no EXTEND_TIMEOUT_USEC while draining; notified:\n%s", daemon_->notified->str);
    ck_assert(xe_test_daemon_wait_notify(daemon_, "STATUS=stopping: ", 5000));
    /* draining: still there, and taking nothing new */
    p = (struct pollfd){ .fd = pidfd, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    {
        g_autoptr(GError) error = NULL;

        ck_assert_ptr_null(call(ROOT, "Manager", "Reload", NULL, &error));
        assert_dbus_error(error, ERR "Busy",
                          "Reload: xe-migrated is stopping; call again once it has restarted");
    }
    /* libvirt goes away: the worker ends, and so does the daemon, cleanly */
    g_socket_close(listener, NULL);
    ck_assert_msg(poll(&p, 1, 30000) == 1, "the daemon did not stop once the work ended");
    ck_assert_int_eq(waitpid(daemon_->pid, &status, 0), daemon_->pid);
    daemon_->pid = 0;
    close(pidfd);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}
END_TEST

/* systemd's watchdog, when the unit asks for it (WATCHDOG_USEC): pinged at half the
 * interval, from the main loop, for as long as the daemon runs */
START_TEST(test_watchdog_pinged)
{
    gint64 t0;

    ck_assert_msg(xe_test_daemon_wait_notify(daemon_, "WATCHDOG=1", 5000), "no watchdog ping");
    /* four more at half the 1 s interval take 2 s; at the whole interval they would take 4 */
    t0 = g_get_monotonic_time();
    ck_assert_msg(xe_test_daemon_wait_notify_count(daemon_, "WATCHDOG=1", 5, 2800),
                  "fewer than 4 watchdog pings in 2.8 s (1 s interval: one every 0.5 s)");
    printf("4 more watchdog pings within %.0f ms of a 1 s interval\n",
           (g_get_monotonic_time() - t0) / 1000.0);
    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
}
END_TEST

/* the acceptance walk: enable, provision, reserve, refused rebind, release */

START_TEST(test_enable_provision_reserve_release_with_cli)
{
    g_autofree char *out = NULL, *err = NULL, *id = NULL, *res = NULL, *prof = NULL;
    g_autofree char *o2 = NULL, *e2 = NULL, *o3 = NULL, *e3 = NULL, *o4 = NULL, *e4 = NULL;
    g_autofree char *o5 = NULL, *e5 = NULL;

    ck_assert_int_eq(CLI(&out, &err, "enable", "0000:03:00.0", "4"), 0);
    wait_prop_string(VF(4), "VF", "Address", "0000:03:00.4");
    ck_assert_int_eq(CLI(NULL, NULL, "provision", "0000:03:00.1", "exec_quantum_ms=25",
                         "vram_quota=1G", "ggtt_quota=256M"),
                     0);
    prof = prop_string(VF(1), "VF", "Profile");
    ck_assert_ptr_nonnull(strstr(prof, "exec_quantum_ms=25"));
    ck_assert_int_eq(CLI(&o2, &e2, "reserve", "exec_quantum_ms=25,vram_quota=1G,ggtt_quota=256M"),
                     0);
    ck_assert_msg(g_str_has_prefix(o2, "reserved 0000:03:00.1: "), "%s", o2);
    id = g_strstrip(g_strdup(o2 + strlen("reserved 0000:03:00.1: ")));
    res = prop_string(VF(1), "VF", "Reservation");
    ck_assert_str_eq(res, id);
    ck_assert_int_eq(CLI(&o3, &e3, "bind", "0000:03:00.1", "xe"), 5);
    ck_assert_msg(strstr(e3, "xe-migratectl: bind: refusing to bind VF 0000:03:00.1: it is "
                             "reserved (reservation ") != NULL,
                  "%s", e3);
    ck_assert_ptr_nonnull(strstr(e3, "release it first"));
    ck_assert_int_eq(CLI(&o4, &e4, "release", id), 0);
    ck_assert_int_eq(CLI(&o5, &e5, "bind", "0000:03:00.1", "xe"), 0);
    wait_prop_string(VF(1), "VF", "Driver", "xe");
}
END_TEST

/* errors cross the bus by name and keep their detail */

START_TEST(test_error_mapping)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL, e6 = NULL;
    g_autoptr(GVariant) r = NULL;
    gboolean ok = TRUE;
    g_autofree char *reason = NULL;

    xe_test_sim_control(sim, "fail", "sys/bus/pci/devices/0000:03:00.0/sriov_numvfs EIO");
    ck_assert_ptr_null(call(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 2), &e1));
    assert_dbus_error(e1, ERR "Kernel", "/sriov_numvfs: Input/output error (EIO)");
    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 2));
    wait_prop_string(VF(2), "VF", "Address", "0000:03:00.2");
    ck_assert_ptr_null(call(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 3), &e2));
    assert_dbus_error(e2, ERR "Busy", "SR-IOV cannot resize");
    ck_assert_ptr_null(call(VF(1), "VF", "ApplyProfile", g_variant_new("(s)", "colour=red"), &e3));
    assert_dbus_error(e3, ERR "InvalidArgument", "unknown key 'colour'");
    ck_assert_ptr_null(call(VF(1), "VF", "ApplyProfile", g_variant_new("(s)", "large"), &e4));
    assert_dbus_error(e4, ERR "NotFound", "no profile named 'large'");
    ck_assert_ptr_null(call(VF(1), "VF", "Bind", g_variant_new("(s)", "vfio-pci"), &e5));
    assert_dbus_error(e5, ERR "InvalidArgument", "a VF goes to xe-vfio-pci or xe");
    ck_assert_ptr_null(call(ROOT, "Manager", "Release", g_variant_new("(s)", "nope"), &e6));
    assert_dbus_error(e6, ERR "NotFound", "no reservation 'nope'");
    r = call(VF(1), "VF", "CheckCompatibility", g_variant_new("(s)", "ggtt_quota=1G"), NULL);
    ck_assert_ptr_nonnull(r);
    g_variant_get(r, "(bs)", &ok, &reason);
    ck_assert(!ok);
    ck_assert_msg(g_str_has_prefix(reason, "ggtt: source 1073741824, destination "), "%s", reason);
}
END_TEST

/* the remaining methods, each observed through sysfs or its reply */

START_TEST(test_unbind_reset_read_disable)
{
    g_autoptr(GVariant) profile = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *audit = NULL, *text = NULL;
    const char *p;
    int err;

    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 2));
    wait_prop_string(VF(1), "VF", "Address", "0000:03:00.1");
    call_ok(VF(1), "VF", "Bind", g_variant_new("(s)", "xe-vfio-pci"));
    wait_prop_string(VF(1), "VF", "Driver", "xe-vfio-pci");
    call_ok(VF(1), "VF", "Unbind", NULL);
    wait_prop_string(VF(1), "VF", "Driver", "");
    xe_test_sim_control(sim, "audit", "clear");
    call_ok(VF(1), "VF", "Reset", NULL);
    audit = xe_test_sim_read(sim, "sim/audit", &err);
    ck_assert_str_eq(audit, "1 sys/bus/pci/devices/0000:03:00.1/reset 1\\n ok\n");
    call_ok(VF(1), "VF", "ApplyProfile", g_variant_new("(s)", "exec_quantum_ms=33"));
    profile = call(VF(1), "VF", "ReadProfile", NULL, &error);
    ck_assert_ptr_nonnull(profile);
    g_variant_get(profile, "(&s)", &p);
    ck_assert_msg(g_str_has_prefix(p, "exec_quantum_ms=33,"), "%s", p);
    call_ok(PF_PATH, "PF", "DisableVFs", NULL);
    text = xe_test_sim_read(sim, "sys/bus/pci/devices/0000:03:00.0/sriov_numvfs", &err);
    ck_assert_str_eq(text, "0\n");
}
END_TEST

/* concurrent reservations: never the same VF twice */

typedef struct {
    const char *address;
    char *vf;
    char *error;
} Racer;

static gpointer
race_reserve(gpointer data)
{
    Racer *r = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) c =
        g_dbus_connection_new_for_address_sync(r->address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    g_autoptr(GVariant) res = NULL;

    if (c != NULL)
        res = g_dbus_connection_call_sync(
            c, NAME, ROOT, IFACE "Manager", "Reserve",
            g_variant_new("(s@a{sv})", "vram_quota=512M",
                          g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
            NULL, G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
    if (res != NULL)
        g_variant_get(res, "(os)", &r->vf, NULL);
    else
        r->error = g_strdup(error->message);
    return NULL;
}

START_TEST(test_concurrent_reservations)
{
    Racer racers[8] = { 0 };
    GThread *threads[8];
    g_autoptr(GHashTable) got = g_hash_table_new(g_str_hash, g_str_equal);
    guint won = 0, busy = 0;

    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 4));
    wait_prop_string(VF(4), "VF", "Address", "0000:03:00.4");
    for (guint i = 0; i < 8; i++) {
        racers[i].address = bus->address;
        threads[i] = g_thread_new("racer", race_reserve, &racers[i]);
    }
    for (guint i = 0; i < 8; i++) {
        g_thread_join(threads[i]);
        if (racers[i].vf != NULL) {
            ck_assert_msg(!g_hash_table_contains(got, racers[i].vf), "%s reserved twice",
                          racers[i].vf);
            g_hash_table_add(got, racers[i].vf);
            won++;
        } else {
            ck_assert_msg(strstr(racers[i].error, "no free VF") != NULL, "%s", racers[i].error);
            busy++;
        }
    }
    ck_assert_uint_eq(won, 4);
    ck_assert_uint_eq(busy, 4);
    for (guint i = 0; i < 8; i++) {
        g_free(racers[i].vf);
        g_free(racers[i].error);
    }
}
END_TEST

/* the declared layout and the warm pool */

static guint
count_in_pool(void)
{
    guint n = 0;
    const char *paths[] = { VF(1), VF(2), VF(3), VF(4) };

    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autoptr(GVariant) v = prop(paths[i], "VF", "InPool");
        n += g_variant_get_boolean(v);
    }
    return n;
}

START_TEST(test_layout_pool_and_reserved_vfs_left_alone)
{
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *vf_path = NULL, *id = NULL, *audit = NULL, *name = NULL, *driver = NULL;
    g_autoptr(GVariant) in_pool = NULL;
    gint64 deadline;

    /* At start: 4 VFs, 2 kept ready with profile "small". */
    ck_assert_uint_eq(count_in_pool(), 2);
    driver = prop_string(VF(1), "VF", "Driver");
    name = prop_string(VF(1), "VF", "ProfileName");
    ck_assert_str_eq(driver, "xe-vfio-pci");
    ck_assert_str_eq(name, "small");

    /* Served from the pool: a VF that was ready. */
    xe_test_sim_control(sim, "audit", "clear");
    r = call(
        ROOT, "Manager", "Reserve",
        g_variant_new("(s@a{sv})", "small", g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
        &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    g_variant_get(r, "(os)", &vf_path, &id);
    ck_assert_str_eq(vf_path, VF(1));

    /* Reload with a bigger pool: the reserved VF is not touched. */
    write_config("[profile small]\nexec_quantum_ms=20\nvram_quota=1G\nggtt_quota=256M\n"
                 "[layout 0000:03:00.0]\nvfs=4\npool=small:3\n");
    xe_test_sim_control(sim, "audit", "clear");
    call_ok(ROOT, "Manager", "Reload", NULL);
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (count_in_pool() < 3) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "the pool never reached 3");
        g_main_context_iteration(NULL, FALSE);
    }
    in_pool = prop(VF(1), "VF", "InPool");
    ck_assert(!g_variant_get_boolean(in_pool));
    {
        int err;
        audit = xe_test_sim_read(sim, "sim/audit", &err);
    }
    ck_assert_msg(strstr(audit, "0000:03:00.1") == NULL && strstr(audit, "/vf1/") == NULL,
                  "the reserved VF was written to:\n%s", audit);
    ck_assert_ptr_nonnull(strstr(audit, "0000:03:00.4")); /* the new pool member was prepared */
}
END_TEST

START_TEST(test_layout_drift_is_reported)
{
    g_autoptr(GVariant) drift = NULL;
    g_autofree char *out = NULL, *err = NULL;

    write_config("[profile huge]\nvram_quota=1T\n"
                 "[layout 0000:03:00.0]\nvfs=2\npool=huge:1\n"
                 "[layout 0000:09:00.0]\nvfs=1\n");
    call_ok(ROOT, "Manager", "Reload", NULL);
    ck_assert_int_eq(CLI(&out, &err, "drift"), 0);
    ck_assert_msg(strstr(out, "layout 0000:09:00.0: 0000:09:00.0 is not an Intel SR-IOV physical "
                              "function on this host") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "pool huge on 0000:03:00.0: provisioning") != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "not enough unprovisioned resources"));
}
END_TEST

/* restarts */

START_TEST(test_restart_keeps_reservations_and_reports_mismatch)
{
    g_autoptr(GVariant) r = NULL, list = NULL, drift = NULL;
    g_autofree char *vf_path = NULL, *id = NULL, *after = NULL;
    g_autofree char *out = NULL, *err = NULL;

    r = call(
        ROOT, "Manager", "Reserve",
        g_variant_new("(s@a{sv})", "small", g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
        NULL);
    g_variant_get(r, "(os)", &vf_path, &id);
    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
    g_clear_pointer(&daemon_, xe_test_daemon_free);

    start_daemon();
    after = prop_string(vf_path, "VF", "Reservation");
    ck_assert_str_eq(after, id);
    ck_assert_int_eq(CLI(&out, &err, "--json", "reservations"), 0);
    ck_assert_ptr_nonnull(strstr(out, id));

    /* Behind the daemon's back, while it is down, the VF leaves xe-vfio-pci. */
    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
    g_clear_pointer(&daemon_, xe_test_daemon_free);
    ck_assert_int_eq(
        xe_test_sim_write(sim, "sys/bus/pci/drivers/xe-vfio-pci/unbind", "0000:03:00.1"), 0);
    start_daemon();
    drift = prop(ROOT, "Manager", "Drift");
    {
        g_autofree char *text = g_variant_print(drift, FALSE);
        ck_assert_msg(
            strstr(text, "VF 0000:03:00.1 is bound to no driver, not xe-vfio-pci (kept") != NULL,
            "%s", text);
    }
    after = (g_free(after), prop_string(vf_path, "VF", "Reservation"));
    ck_assert_str_eq(after, id); /* reported, not guessed away */
}
END_TEST

/* authorization */

START_TEST(test_unprivileged_caller_refused)
{
    g_autofree char *out = NULL, *err = NULL, *o2 = NULL, *e2 = NULL;

    ck_assert_int_eq(
        cli(&out, &err, TRUE, (const char *const[]){ "enable", "0000:03:00.0", "2", NULL }), 4);
    /* no polkitd on this bus: only root may (tests/daemon/test-polkit.c runs one) */
    ck_assert_msg(strstr(err, "EnableVFs: uid 65534 (") != NULL &&
                      strstr(err, "may not enable, bind, provision and reset VFs: polkit "
                                  "(org.freedesktop.PolicyKit1) is not running, so only root "
                                  "may (action org.xemigrated.XeMigrated1.provision-vf)") != NULL,
                  "%s", err);
    ck_assert_int_eq(cli(&o2, &e2, TRUE, (const char *const[]){ "list", NULL }), 0);
    ck_assert_ptr_nonnull(strstr(o2, "0000:03:00.0"));
    {
        g_autoptr(GVariant) n = prop(PF_PATH, "PF", "EnabledVFs");
        ck_assert_uint_eq(g_variant_get_uint32(n), 0); /* nothing happened */
    }
}
END_TEST

/* hooks */

START_TEST(test_hooks_see_reservations)
{
    g_autofree char *hooks = g_build_filename(dir, "hooks", NULL);
    g_autofree char *hook = g_build_filename(hooks, "10-log", NULL);
    g_autofree char *log = g_build_filename(dir, "hook.log", NULL);
    g_autofree char *script = g_strdup_printf("#!/bin/sh\necho \"$1 $(cat)\" >> %s\n", log);
    g_autofree char *text = NULL;
    gint64 deadline;

    g_mkdir_with_parents(hooks, 0755);
    ck_assert(g_file_set_contents(hook, script, -1, NULL));
    chmod(hook, 0755);
    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 1));
    wait_prop_string(VF(1), "VF", "Address", "0000:03:00.1");
    call_ok(ROOT, "Manager", "Reserve",
            g_variant_new("(s@a{sv})", "vram_quota=1G",
                          g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)));
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (text == NULL || strstr(text, "vf-reserved") == NULL) {
        g_clear_pointer(&text, g_free);
        g_file_get_contents(log, &text, NULL, NULL);
        ck_assert_msg(g_get_monotonic_time() < deadline, "the vf-reserved hook never ran");
        g_main_context_iteration(NULL, FALSE);
    }
    ck_assert_msg(strstr(text, "vf-reserved {\"phase\":\"vf-reserved\",\"pf\":\"0000:03:00.0\","
                               "\"vf\":\"0000:03:00.1\",\"reservation\":\"") != NULL,
                  "%s", text);
}
END_TEST

/* the CLI */

/* What bash offers for @line (the cursor at its end) from cli/xe-migratectl.bash-completion,
 * called as bash calls it: COMP_LINE and COMP_POINT, and COMP_WORDS split where bash splits
 * (at blanks and at COMP_WORDBREAKS' ':' and '='); one value a line. */
static char *
completions(const char *line)
{
    g_autofree char *script =
        g_strdup_printf("source \"$XE_BASH_COMPLETION\"\n"
                        "COMP_LINE=\"$XE_MIGRATECTL\"' %s'\n"
                        "COMP_POINT=${#COMP_LINE}\n"
                        "read -r -a COMP_WORDS <<<\"${COMP_LINE//[:=]/ : }\"\n"
                        "[ \"${COMP_LINE: -1}\" = ' ' ] && COMP_WORDS+=('')\n"
                        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                        "_xe_migratectl\n"
                        "printf '%%s\\n' \"${COMPREPLY[@]}\"\n",
                        line);
    const char *argv[] = { "bash", "-c", script, NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error),
                  "bash: %s", error != NULL ? error->message : "");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bash: %s", err);
    return g_steal_pointer(&out);
}

static char *G_GNUC_PRINTF(1, 2) words(const char *format, ...)
{
    va_list ap;
    char *text;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    return text;
}

/* What bash offers for @line (taken: words() makes it) is @want. */
static void
assert_completes(char *line, const char *want)
{
    g_autofree char *got = completions(line);

    ck_assert_msg(g_str_equal(got, want), "completing '%s': got\n%s\nwanted\n%s", line, got, want);
    g_free(line);
}

/* bash completion: commands, options, and live values asked from the daemon (VFs, PFs,
 * profiles, reservations) on the bus the command line names (--bus ADDRESS, --bus=ADDRESS);
 * addresses with ':' offered as bash inserts them (after its word break); values never
 * expanded, offered quoted */
START_TEST(test_bash_completion)
{
    g_autofree char *bus_words = g_strdup_printf("--bus %s", bus->address);
    g_autofree char *line = NULL, *got = NULL, *out = NULL, *planted = NULL;
    g_autofree char *script = NULL, *quoted = NULL, *err = NULL;
    int status = 0;

    assert_completes(words("re"), "reserve\nrelease\nreservations\nreset\nresolve\n");
    assert_completes(words("--js"), "--json\n");
    assert_completes(words("%s reset ", bus_words),
                     "0000:03:00.1\n0000:03:00.2\n0000:03:00.3\n0000:03:00.4\n");
    /* bash's current word is what follows the last ':' */
    assert_completes(words("%s enable 0000:03:00", bus_words), "00.0\n");
    assert_completes(words("--bus=%s reset 0000:03:00.", bus->address), "00.1\n00.2\n00.3\n00.4\n");
    assert_completes(words("%s reserve ", bus_words), "small\n");
    assert_completes(words("%s bind 0000:03:00.3 ", bus_words), "xe-vfio-pci\nxe\n");
    /* a reservation made now is offered to release */
    ck_assert_int_eq(CLI(&out, NULL, "reserve", "small"), 0);
    line = g_strdup_printf("%s release ", bus_words);
    got = completions(line);
    ck_assert_msg(strlen(got) == 37 && got[36] == '\n', "%s", got);
    ck_assert_ptr_nonnull(strstr(out, g_strstrip(got)));
    /* somebody else's text (a domain's name) is offered, quoted, never run */
    planted = g_build_filename(dir, "planted", NULL);
    script = g_strdup_printf("source \"$XE_BASH_COMPLETION\"\n"
                             "_xe_migratectl_offer '' < <(printf '%%s\\n' '$(touch %s)' 'my vm')\n"
                             "printf '%%s\\n' \"${COMPREPLY[@]}\"\n",
                             planted);
    {
        const char *argv[] = { "bash", "-c", script, NULL };

        ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &quoted,
                               &err, &status, NULL));
    }
    ck_assert_msg(!g_file_test(planted, G_FILE_TEST_EXISTS), "a completion ran a value");
    ck_assert_ptr_nonnull(strstr(quoted, "my\\ vm\n"));
    ck_assert_ptr_nonnull(strstr(quoted, "\\$\\(touch\\ "));
}
END_TEST

/* Prometheus: the metrics file the daemon keeps (metrics-file) and `xe-migratectl metrics`
 * say the same, pass promtool, count the VFs per state, and a reservation shows in its
 * latency histogram and the VF counts */
START_TEST(test_metrics)
{
    g_autofree char *path = g_build_filename(dir, "xe-migrated.prom", NULL);
    g_autofree char *config = g_strdup_printf("[daemon]\nmetrics-file=%s\n%s", path, layout_conf);
    g_autofree char *text = NULL, *out = NULL, *complaints = NULL, *reserved = NULL;
    gint64 deadline;

    mode_t umask_before;
    GStatBuf st;

    ck_assert_int_eq(xe_test_daemon_stop(daemon_), 0);
    g_clear_pointer(&daemon_, xe_test_daemon_free);
    write_config(config);
    /* as the unit's UMask=0077: the collector, another user, must read the file all the same */
    umask_before = umask(0077);
    start_daemon();
    umask(umask_before);
    /* the file comes a second after the daemon is ready */
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (!g_file_get_contents(path, &text, NULL, NULL)) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "no %s", path);
        g_usleep(50000);
    }
    complaints = xe_test_promtool_check(text);
    ck_assert_msg(*complaints == '\0', "promtool: %s\n%s", complaints, text);
    ck_assert_int_eq(g_stat(path, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0644, "%s is %o", path, st.st_mode & 0777);
    ck_assert_ptr_nonnull(strstr(text, "xe_migrated_vfs{pf=\"0000:03:00.0\",state=\"pool\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "xe_migrated_vfs{pf=\"0000:03:00.0\",state=\"free\"} 2\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "xe_migrated_vfs{pf=\"0000:03:00.0\",state=\"reserved\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE xe_migrated_migration_downtime_seconds histogram"));
    ck_assert_int_eq(CLI(&out, NULL, "metrics"), 0);
    ck_assert_str_eq(out, text);

    /* a reservation: the file follows */
    ck_assert_int_eq(CLI(&reserved, NULL, "reserve", "small"), 0);
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        g_clear_pointer(&text, g_free);
        ck_assert(g_file_get_contents(path, &text, NULL, NULL));
        if (strstr(text, "xe_migrated_reservation_seconds_count 1\n") != NULL &&
            strstr(text, "xe_migrated_vfs{pf=\"0000:03:00.0\",state=\"reserved\"} 1\n") != NULL)
            break;
        ck_assert_msg(g_get_monotonic_time() < deadline, "the file did not follow: %s", text);
        g_usleep(50000);
    }
    g_free(complaints);
    complaints = xe_test_promtool_check(text);
    ck_assert_msg(*complaints == '\0', "promtool: %s\n%s", complaints, text);
    printf("%s", text);
}
END_TEST

START_TEST(test_cli_table_json_and_exit_codes)
{
    g_autofree char *out = NULL, *err = NULL, *jo = NULL, *je = NULL, *uo = NULL, *ue = NULL;
    g_autofree char *no = NULL, *ne = NULL, *co = NULL, *ce = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonObject *vf;

    ck_assert_int_eq(CLI(&out, &err, "list"), 0);
    ck_assert_msg(
        g_str_has_prefix(out, "PF             DEVICE   DRIVER        VFS  TOTAL MIGRATION STATUS\n"
                              "0000:03:00.0   0xe20b   xe              4     12 yes       ok\n"),
        "%s", out);
    ck_assert_ptr_nonnull(
        strstr(out, "0000:03:00.1   0000:03:00.0     1 xe-vfio-pci  small      yes"));
    ck_assert_int_eq(CLI(&jo, &je, "--json", "list"), 0);
    root = json_from_string(jo, NULL);
    ck_assert_ptr_nonnull(root);
    vf = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(root), "vfs"), 0);
    ck_assert_str_eq(json_object_get_string_member(vf, "Address"), "0000:03:00.1");
    ck_assert(json_object_get_boolean_member(vf, "InPool"));
    ck_assert_int_eq(CLI(&uo, &ue, "frobnicate"), 2);
    ck_assert_ptr_nonnull(strstr(ue, "unknown command 'frobnicate'"));
    ck_assert_int_eq(CLI(&no, &ne, "reset", "0000:03:00.9"), 6);
    ck_assert_ptr_nonnull(strstr(ne, "0000:03:00.9 is not an enabled VF"));
    ck_assert_int_eq(CLI(&co, &ce, "check", "0000:03:00.1", "ggtt_quota=1G"), 7);
    ck_assert_ptr_nonnull(strstr(co, "ggtt: source"));
}
END_TEST

/* the configuration checked against the host, at start and on reload */

START_TEST(test_start_refused_with_clear_message)
{
    g_autofree char *d = xe_test_mkdtemp("xe-daemon-conf");
    g_autofree char *conf = g_build_filename(d, "xe.conf", NULL);
    g_autofree char *text = g_strdup_printf("[daemon]\nhooks-dir=%s/hoks.d\nstate-dir=%s/state\n"
                                            "run-dir=%s/run\n",
                                            d, d, d);
    g_autofree char *out = NULL, *err = NULL, *want = NULL;
    const char *argv[] = {
        g_getenv("XE_MIGRATED"),      "--config", conf, "--sysfs-root", "/nonexistent", "--bus",
        "unix:path=/nonexistent/bus", NULL
    };
    g_autoptr(GError) error = NULL;
    int status = 0;

    ck_assert(g_file_set_contents(conf, text, -1, NULL));
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error),
                  "%s", error ? error->message : "");
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    want = g_strdup_printf("xe-migrated: refusing to start: %s: [daemon] hooks-dir=%s/hoks.d: the "
                           "hooks directory is not there: No such file or directory (ENOENT); a "
                           "wrong path would silently turn off every hook, pre-migrate vetoes "
                           "included",
                           conf, d);
    ck_assert_msg(strstr(err, want) != NULL, "stderr:\n%s\nwanted:\n%s", err, want);
    xe_test_rmtree(d);
}
END_TEST

START_TEST(test_reload_refused_keeps_configuration)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = g_build_filename(dir, "xe.conf", NULL);
    g_autofree char *want = NULL;

    write_config("[daemon]\nversion=2\n");
    ck_assert_ptr_null(call(ROOT, "Manager", "Reload", NULL, &error));
    want = g_strdup_printf("reload refused, the configuration in force is kept: %s: [daemon] "
                           "version=2: this xe-migrated reads version 1",
                           conf);
    assert_dbus_error(error, ERR "InvalidArgument", want);
    /* the daemon runs on as it was */
    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 1));
}
END_TEST

/* options are checked: type and name */

static const struct {
    const char *method;
    const char *args;
    const char *error;
} bad_options[] = {
    { "Reserve", "('small', {'pf': <int32 3>})",
      "Reserve: option 'pf' must be a string (type 's'), not type 'i'" },
    { "Reserve", "('small', {'colour': <'red'>})",
      "Reserve: unknown option 'colour' (it takes pf)" },
    { "AddVM", "(@a{sv} {}, {'start': <'yes'>})",
      "AddVM: option 'start' must be a boolean (type 'b'), not type 's'" },
    { "Migrate", "('web', 'b', {'policy': <uint32 1>})",
      "Migrate: option 'policy' must be a string (type 's'), not type 'u'" },
};

START_TEST(test_options_of_wrong_type_refused)
{
    g_autoptr(GError) error = NULL;
    GVariant *args = g_variant_parse(NULL, bad_options[_i].args, NULL, NULL, &error);

    ck_assert_msg(args != NULL, "%s", error ? error->message : "");
    ck_assert_ptr_null(call(ROOT, "Manager", bad_options[_i].method, args, &error));
    assert_dbus_error(error, ERR "InvalidArgument", bad_options[_i].error);
}
END_TEST

/* errors of other domains (GIO, QMP) reach callers as named errors */

static GVariant *
adopt_args(const char *qmp)
{
    GVariantBuilder spec;
    const char *argv[] = { "qemu-system-x86_64", NULL };

    g_variant_builder_init(&spec, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&spec, "{sv}", "name", g_variant_new_string("web"));
    g_variant_builder_add(&spec, "{sv}", "argv", g_variant_new_strv(argv, -1));
    g_variant_builder_add(&spec, "{sv}", "profile", g_variant_new_string("vram_quota=512M"));
    g_variant_builder_add(&spec, "{sv}", "qmp", g_variant_new_string(qmp));
    g_variant_builder_add(&spec, "{sv}", "vf", g_variant_new_string("0000:03:00.1"));
    return g_variant_new("(@a{sv}@a{sv})", g_variant_builder_end(&spec),
                         g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

START_TEST(test_foreign_error_is_named)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) list = NULL;

    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 1));
    wait_prop_string(VF(1), "VF", "Address", "0000:03:00.1");
    /* Nobody at the QMP socket: GIO's "not found" (or whatever the engine makes of it), which
     * used to cross the bus as an unmapped GError quark, arrives as a named error with its
     * words kept. (Which name, and the daemon's context before GIO's words: test-dispatch.) */
    ck_assert_ptr_null(call(ROOT, "Manager", "AddVM", adopt_args("/nonexistent/web.qmp"), &error));
    {
        g_autofree char *remote = g_dbus_error_get_remote_error(error);

        ck_assert_msg(remote != NULL && g_str_has_prefix(remote, ERR), "got %s: %s", remote,
                      error->message);
        ck_assert_msg(strstr(error->message, "VM 'web'") != NULL, "%s", error->message);
    }
    /* the VF it held for the VM meanwhile is free again */
    list = call(ROOT, "Manager", "ListReservations", NULL, NULL);
    {
        g_autofree char *text = g_variant_print(list, FALSE);
        ck_assert_str_eq(text, "([],)");
    }
}
END_TEST

/* reservations: owners and a failed write */

START_TEST(test_vm_reservation_refused_to_callers)
{
    g_autoptr(XeFakeQmp) fake = xe_fake_qmp_new(FALSE);
    const char *address = xe_fake_qmp_get_address(fake);
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) vm = NULL;
    g_autofree char *id = NULL, *out = NULL, *err = NULL;

    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 1));
    wait_prop_string(VF(1), "VF", "Address", "0000:03:00.1");
    xe_fake_qmp_negotiate(fake);
    xe_fake_qmp_expect(fake, "query-status", NULL, "{'running': true, 'status': 'running'}");
    xe_fake_qmp_wait_eof(fake);
    xe_fake_qmp_start(fake);
    ck_assert(g_str_has_prefix(address, "unix:"));
    vm = call(ROOT, "Manager", "AddVM", adopt_args(address + strlen("unix:")), &error);
    ck_assert_msg(vm != NULL, "%s", error ? error->message : "");
    xe_fake_qmp_assert_done(fake);
    id = prop_string(VF(1), "VF", "Reservation");
    ck_assert_str_ne(id, "");
    ck_assert_ptr_null(call(ROOT, "Manager", "Release", g_variant_new("(s)", id), &error));
    assert_dbus_error(error, ERR "Busy",
                      "is held by VM 'web', not by a caller: remove the VM instead");
    ck_assert_int_eq(CLI(&out, &err, "reservations"), 0);
    ck_assert_msg(strstr(out, id) != NULL && strstr(out, "vm:web") != NULL, "%s", out);
    g_free(id);
    id = prop_string(VF(1), "VF", "Reservation");
    ck_assert_str_ne(id, "");
}
END_TEST

START_TEST(test_failed_state_write_keeps_reservation_id)
{
    g_autoptr(GVariant) r = NULL, list = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *vf_path = NULL, *id = NULL, *after = NULL;
    g_autofree char *file = g_build_filename(dir, "state", "reservations.json", NULL);
    g_autofree char *inside = g_build_filename(file, "x", NULL);

    call_ok(PF_PATH, "PF", "EnableVFs", g_variant_new("(u)", 1));
    wait_prop_string(VF(1), "VF", "Address", "0000:03:00.1");
    r = call(ROOT, "Manager", "Reserve",
             g_variant_new("(s@a{sv})", "vram_quota=512M",
                           g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
             &error);
    ck_assert_msg(r != NULL, "%s", error ? error->message : "");
    g_variant_get(r, "(os)", &vf_path, &id);
    /* the state file cannot be replaced any more: a non-empty directory stands there */
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(g_mkdir_with_parents(file, 0700), 0);
    ck_assert(g_file_set_contents(inside, "", 0, NULL));
    ck_assert_ptr_null(call(ROOT, "Manager", "Release", g_variant_new("(s)", id), &error));
    assert_dbus_error(error, ERR "Failed", "it stays reserved, with its id, until the state file");
    after = prop_string(vf_path, "VF", "Reservation");
    ck_assert_str_eq(after, id);
    list = call(ROOT, "Manager", "ListReservations", NULL, NULL);
    {
        g_autofree char *text = g_variant_print(list, FALSE);
        ck_assert_msg(strstr(text, id) != NULL, "%s", text);
    }
    /* writable again: the release completes by itself */
    ck_assert_int_eq(unlink(inside), 0);
    ck_assert_int_eq(rmdir(file), 0);
    wait_prop_string(vf_path, "VF", "Reservation", "");
}
END_TEST

/* the warm pool is the layout's */

START_TEST(test_pool_vf_refuses_provisioning_and_reports_drift)
{
    g_autofree char *out = NULL, *err = NULL, *dout = NULL, *derr = NULL;
    g_autoptr(GError) error = NULL;

    ck_assert_ptr_null(
        call(VF(1), "VF", "ApplyProfile", g_variant_new("(s)", "exec_quantum_ms=5"), &error));
    assert_dbus_error(error, ERR "Busy",
                      "0000:03:00.1 is in the warm pool of profile 'small' (the layout of "
                      "0000:03:00.0 keeps it ready): to take it out, reserve it");
    ck_assert_int_eq(CLI(&out, &err, "provision", "0000:03:00.2", "exec_quantum_ms=5"), 5);
    ck_assert_msg(strstr(err, "in the warm pool of profile 'small'") != NULL, "%s", err);

    /* behind the daemon's back; the next snapshot (after any change) sees it */
    ck_assert_int_eq(xe_test_sim_write(sim,
                                       "sys/bus/pci/devices/0000:03:00.0/sriov_admin/vf2/profile/"
                                       "exec_quantum_ms",
                                       "77"),
                     0);
    call_ok(VF(4), "VF", "Reset", NULL);
    {
        g_autoptr(GVariant) in_pool = prop(VF(2), "VF", "InPool");
        ck_assert(!g_variant_get_boolean(in_pool));
    }
    ck_assert_int_eq(CLI(&dout, &derr, "drift"), 0);
    ck_assert_msg(
        strstr(dout, "pool small on 0000:03:00.0: 0000:03:00.2 holds exec_quantum_ms=77,") != NULL,
        "%s", dout);
}
END_TEST

static Suite *
daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("api");
    TCase *tl = tcase_create("layout");
    TCase *tn = tcase_create("config");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ready_status_and_objects);
    tcase_add_test(tc, test_watchdog_pinged);
    tcase_add_test(tc, test_stop_extends_timeout_while_draining);
    tcase_add_test(tc, test_enable_provision_reserve_release_with_cli);
    tcase_add_test(tc, test_error_mapping);
    tcase_add_test(tc, test_unbind_reset_read_disable);
    tcase_add_test(tc, test_concurrent_reservations);
    tcase_add_test(tc, test_hooks_see_reservations);
    tcase_add_test(tc, test_reload_refused_keeps_configuration);
    tcase_add_loop_test(tc, test_options_of_wrong_type_refused, 0, G_N_ELEMENTS(bad_options));
    tcase_add_test(tc, test_foreign_error_is_named);
    tcase_add_test(tc, test_vm_reservation_refused_to_callers);
    tcase_add_test(tc, test_failed_state_write_keeps_reservation_id);
    if (geteuid() == 0)
        tcase_add_test(tc, test_unprivileged_caller_refused);
    else if (xe_test_in_ci())
        tcase_add_test(tc, test_unprivileged_caller_refused); /* fails loudly: CI must be root */
    else
        fprintf(stderr, "note: test_unprivileged_caller_refused needs root to switch uid\n");
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tl, setup_layout, teardown);
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_layout_pool_and_reserved_vfs_left_alone);
    tcase_add_test(tl, test_layout_drift_is_reported);
    tcase_add_test(tl, test_restart_keeps_reservations_and_reports_mismatch);
    tcase_add_test(tl, test_cli_table_json_and_exit_codes);
    tcase_add_test(tl, test_bash_completion);
    tcase_add_test(tl, test_metrics);
    tcase_add_test(tl, test_pool_vf_refuses_provisioning_and_reports_drift);
    suite_add_tcase(s, tl);

    tcase_add_test(tn, test_start_refused_with_clear_message);
    suite_add_tcase(s, tn);
    return s;
}

int
main(void)
{
    g_autofree char *dbus = g_find_program_in_path("dbus-daemon");

    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    xe_test_require_peer(dbus != NULL, "dbus-daemon");
    return xe_test_run_suite(daemon_suite());
}
