/* test-polkit.c: suite "daemon", authorization through a real polkitd. The
 * daemon runs on a private bus over xe-sim; polkitd joins that bus (as its
 * system bus) from a mount namespace of its own that shows it the shipped
 * actions (daemon/org.xemigrated.XeMigrated1.policy), the shipped rule
 * (daemon/50-xe-migrated.rules), one test rule that takes read-vf from a user,
 * and a passwd/group with two users: xe-test-member, in the group
 * xe-migrated, and xe-test-outsider. The whole test runs in a mount namespace
 * of its own that shows those files in place of the machine's (dbus-daemon
 * too must know the callers' uids). For every action a method that needs it
 * is called as each of them (setpriv + gdbus: other uids, real bus
 * credentials): the member gets past authorization, the outsider gets
 * AccessDenied naming the action, and nothing changed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "xe-test-bus.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define NAME    "org.xemigrated.XeMigrated1"
#define ROOT    "/org/xemigrated/XeMigrated1"
#define PF_PATH ROOT "/pf/0000_03_00_0"
#define VF_PATH ROOT "/vf/0000_03_00_1"
#define ERR     "org.xemigrated.XeMigrated1.Error."
#define POLKITD "/usr/lib/polkit-1/polkitd"

#define MEMBER_UID   64001
#define OUTSIDER_UID 64002

static XeTestSim *sim;
static XeTestBus *bus;
static XeTestDaemon *daemon_;
static GPid polkitd;
static char *dir;   /* the daemon's configuration and state */
static char *world; /* what polkitd and everyone see: users, actions, rules */

/* A copy of /etc/@file without the lines of the test's names, then @extra. */
static void
write_db(const char *file, const char *extra)
{
    g_autofree char *text = NULL;
    g_autofree char *out = g_build_filename(world, file, NULL);
    g_autofree char *src = g_build_filename("/etc", file, NULL);
    g_autoptr(GString) copy = g_string_new(NULL);
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(src, &text, NULL, NULL))
        g_error("cannot read %s", src);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
        if (*lines[i] != '\0' && !g_str_has_prefix(lines[i], "xe-migrated:") &&
            !g_str_has_prefix(lines[i], "xe-test-"))
            g_string_append_printf(copy, "%s\n", lines[i]);
    g_string_append(copy, extra);
    if (!g_file_set_contents(out, copy->str, -1, NULL) || chmod(out, 0644) < 0)
        g_error("cannot write %s", out);
}

/* A file of polkitd's (it runs as the user polkitd): readable by all. */
static void
write_public(const char *sub, const char *name, const char *text)
{
    g_autofree char *d = g_build_filename(world, sub, NULL);
    g_autofree char *out = g_build_filename(d, name, NULL);

    if (g_mkdir_with_parents(d, 0755) < 0 || !g_file_set_contents(out, text, -1, NULL) ||
        chmod(out, 0644) < 0)
        g_error("cannot write %s", out);
}

static char *
read_text(const char *path)
{
    char *text = NULL;

    if (path == NULL || !g_file_get_contents(path, &text, NULL, NULL))
        g_error("cannot read %s (XE_POLKIT_POLICY, XE_POLKIT_RULES)", path);
    return text;
}

static void
bind(const char *sub, const char *target)
{
    g_autofree char *src = g_build_filename(world, sub, NULL);

    if (mount(src, target, NULL, MS_BIND, NULL) < 0)
        g_error("bind %s on %s: %s", src, target, g_strerror(errno));
}

/* This process and its children, from now on, in a mount namespace where the machine's users,
 * polkit actions and rules are the test's. Before any thread exists (unshare needs it). */
static void
enter_world(void)
{
    g_autofree char *policy = read_text(g_getenv("XE_POLKIT_POLICY"));
    g_autofree char *rules = read_text(g_getenv("XE_POLKIT_RULES"));

    world = xe_test_mkdtemp("xe-polkit-world");
    if (chmod(world, 0755) < 0)
        g_error("chmod %s: %s", world, g_strerror(errno));
    write_public("actions", "org.xemigrated.XeMigrated1.policy", policy);
    write_public("rules", "50-xe-migrated.rules", rules);
    /* an operator's rule, evaluated first: reading VFs taken from one user */
    write_public("rules", "40-xe-test.rules",
                 "polkit.addRule(function(action, subject) {\n"
                 "    if (action.id == \"org.xemigrated.XeMigrated1.read-vf\" &&\n"
                 "        subject.user == \"xe-test-outsider\")\n"
                 "        return polkit.Result.NO;\n"
                 "});\n");
    write_public("empty", ".keep", "");
    write_db("passwd", "xe-test-member:x:64001:64001::/nonexistent:/usr/sbin/nologin\n"
                       "xe-test-outsider:x:64002:64002::/nonexistent:/usr/sbin/nologin\n"
                       "xe-test-third:x:64003:64003::/nonexistent:/usr/sbin/nologin\n");
    write_db("group", "xe-test-member:x:64001:\nxe-test-outsider:x:64002:\n"
                      "xe-test-third:x:64003:\nxe-migrated:x:64010:xe-test-member\n");
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        g_error("a mount namespace of the test's own: %s", g_strerror(errno));
    bind("actions", "/usr/share/polkit-1/actions");
    bind("rules", "/usr/share/polkit-1/rules.d");
    bind("empty", "/etc/polkit-1/rules.d");
    bind("passwd", "/etc/passwd");
    bind("group", "/etc/group");
}

static void
on_name(GDBusConnection *c, const char *name, const char *owner, gpointer data)
{
    *(gboolean *)data = TRUE;
}

static gboolean
on_deadline(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* polkitd on the test bus (its system bus), as the machine's would run. */
static void
start_polkitd(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_auto(GStrv) env =
        g_environ_setenv(g_get_environ(), "DBUS_SYSTEM_BUS_ADDRESS", bus->address, TRUE);
    const char *argv[] = { POLKITD, "--no-debug", NULL };
    gboolean owned = FALSE, late = FALSE;
    guint watch, timer;

    ck_assert_msg(g_spawn_async(NULL, (char **)argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                &polkitd, &error),
                  "starting polkitd: %s", error ? error->message : "");
    conn =
        g_dbus_connection_new_for_address_sync(bus->address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    ck_assert_msg(conn != NULL, "%s", error ? error->message : "");
    watch =
        g_bus_watch_name_on_connection(conn, "org.freedesktop.PolicyKit1",
                                       G_BUS_NAME_WATCHER_FLAGS_NONE, on_name, NULL, &owned, NULL);
    timer = g_timeout_add_seconds(20, on_deadline, &late);
    while (!owned && !late)
        g_main_context_iteration(NULL, TRUE);
    g_bus_unwatch_name(watch);
    if (!late)
        g_source_remove(timer);
    ck_assert_msg(owned, "polkitd did not take org.freedesktop.PolicyKit1 within 20 s");
}

/* Runs `gdbus call` as @uid; returns its exit status, stdout and stderr. */
static int
call_as(guint uid, const char *path, const char *method, const char *const *args, char **out,
        char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_ptr_array_add(argv, g_strdup("setpriv"));
    g_ptr_array_add(argv, g_strdup_printf("--reuid=%u", uid));
    g_ptr_array_add(argv, g_strdup_printf("--regid=%u", uid));
    g_ptr_array_add(argv, g_strdup("--clear-groups"));
    g_ptr_array_add(argv, g_strdup("gdbus"));
    g_ptr_array_add(argv, g_strdup("call"));
    g_ptr_array_add(argv, g_strdup("--address"));
    g_ptr_array_add(argv, g_strdup(bus->address));
    g_ptr_array_add(argv, g_strdup("--dest=" NAME));
    g_ptr_array_add(argv, g_strdup_printf("--object-path=%s", path));
    g_ptr_array_add(argv, g_strdup_printf("--method=" NAME ".%s", method));
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(args[i]));
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               out, err, &status, &error),
                  "running gdbus: %s", error ? error->message : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
setup(void)
{
    g_autofree char *conf = NULL, *state = NULL, *hooks = NULL, *out = NULL, *err = NULL;

    dir = xe_test_mkdtemp("xe-polkit");
    conf = g_build_filename(dir, "xe.conf", NULL);
    state = g_build_filename(dir, "state", NULL);
    hooks = g_build_filename(dir, "hooks", NULL);
    ck_assert(g_file_set_contents(conf, "", -1, NULL));
    ck_assert_int_eq(g_mkdir(hooks, 0755), 0);
    sim = xe_test_sim_start(NULL);
    bus = xe_test_bus_start();
    {
        const char *argv[] = { "--sysfs-root", sim->root,     "--config", conf, "--state-dir",
                               state,          "--hooks-dir", hooks,      NULL };

        daemon_ = xe_test_daemon_start(bus, argv);
    }
    start_polkitd();
    /* VFs to act on, enabled by root (authorized without asking polkit) */
    ck_assert_msg(
        call_as(0, PF_PATH, "PF.EnableVFs", (const char *const[]){ "2", NULL }, &out, &err) == 0,
        "root's EnableVFs: %s", err);
}

static void
teardown(void)
{
    if (polkitd > 0) {
        kill(polkitd, SIGTERM);
        (void)waitpid(polkitd, NULL, 0);
        polkitd = 0;
    }
    g_clear_pointer(&daemon_, xe_test_daemon_free);
    g_clear_pointer(&bus, xe_test_bus_stop);
    g_clear_pointer(&sim, xe_test_sim_stop);
    xe_test_rmtree(dir);
    g_clear_pointer(&dir, g_free);
}

/* One action: the method that needs it and its arguments (chosen to fail harmlessly past
 * authorization, or to change nothing that matters). */
typedef struct {
    const char *action;
    const char *path;
    const char *method;
    const char *args[3];
    const char *purpose;
} ActionCase;

static const ActionCase reserve = {
    "reserve-vf", ROOT, "Manager.Release", { "no-such-reservation" }, "reserve and release VFs"
};
static const ActionCase provision = { "provision-vf",
                                      VF_PATH,
                                      "VF.ApplyProfile",
                                      { "no-such-profile" },
                                      "enable, bind, provision and reset VFs" };
static const ActionCase manage = {
    "manage-vm", ROOT, "Manager.RemoveVM", { "no-such-vm" }, "manage VMs"
};
static const ActionCase migrate = {
    "migrate", ROOT, "Manager.AbortIncomingDomain", { "not a domain's XML" }, "migrate VMs"
};
static const ActionCase reload = {
    "reload", ROOT, "Manager.Reload", { NULL }, "reload the configuration"
};
static const ActionCase read_vf = {
    "read-vf", VF_PATH, "VF.ReadProfile", { NULL }, "read a VF's provisioning"
};

static void
check_action(const ActionCase *a)
{
    g_autofree char *out = NULL, *err = NULL, *o2 = NULL, *e2 = NULL, *want = NULL;
    g_autofree char *who = g_strdup_printf("uid %u (", OUTSIDER_UID);
    int status;

    /* the member: past authorization (it may fail on its own merits, never AccessDenied) */
    status = call_as(MEMBER_UID, a->path, a->method, a->args, &out, &err);
    ck_assert_msg(strstr(err, ERR "AccessDenied") == NULL,
                  "%s: the member of xe-migrated was refused: %s", a->action, err);
    ck_assert_msg(status == 0 || strstr(err, ERR) != NULL, "%s: %s", a->action, err);
    /* the outsider: refused, the action named */
    want = g_strdup_printf("may not %s: polkit refused org.xemigrated.XeMigrated1.%s", a->purpose,
                           a->action);
    status = call_as(OUTSIDER_UID, a->path, a->method, a->args, &o2, &e2);
    ck_assert_msg(status != 0, "%s: the outsider got through: %s", a->action, o2);
    ck_assert_msg(strstr(e2, ERR "AccessDenied") != NULL && strstr(e2, who) != NULL &&
                      strstr(e2, want) != NULL,
                  "%s: wanted AccessDenied saying '%s%s', got: %s", a->action, who, want, e2);
}

START_TEST(test_reserve_vf)
{
    check_action(&reserve);
}
END_TEST

START_TEST(test_provision_vf)
{
    int e = 0;
    g_autofree char *before =
        xe_test_sim_read(sim, "bus/pci/devices/0000:03:00.1/driver_override", &e);

    check_action(&provision);
    /* the refused call wrote nothing */
    {
        g_autofree char *after =
            xe_test_sim_read(sim, "bus/pci/devices/0000:03:00.1/driver_override", &e);

        ck_assert_str_eq(after != NULL ? after : "", before != NULL ? before : "");
    }
}
END_TEST

START_TEST(test_manage_vm)
{
    check_action(&manage);
}
END_TEST

START_TEST(test_migrate)
{
    check_action(&migrate);
}
END_TEST

START_TEST(test_reload)
{
    check_action(&reload);
}
END_TEST

START_TEST(test_read_vf_granted_by_default_taken_by_a_rule)
{
    g_autofree char *out = NULL, *err = NULL;

    /* the shipped default grants read-vf to anyone; the test's rule takes it from the
     * outsider alone: a third uid reads */
    check_action(&read_vf);
    ck_assert_msg(
        call_as(64003, VF_PATH, "VF.ReadProfile", (const char *const[]){ NULL }, &out, &err) == 0 ||
            strstr(err, ERR "AccessDenied") == NULL,
        "a user with no rule could not read: %s", err);
}
END_TEST

START_TEST(test_reads_of_the_host_need_no_polkit)
{
    g_autofree char *out = NULL, *err = NULL;

    /* polkitd gone: the host's reads still answer anyone, changes only root */
    kill(polkitd, SIGTERM);
    (void)waitpid(polkitd, NULL, 0);
    polkitd = 0;
    ck_assert_msg(call_as(OUTSIDER_UID, ROOT, "Manager.ListReservations",
                          (const char *const[]){ NULL }, &out, &err) == 0,
                  "%s", err);
    g_clear_pointer(&err, g_free);
    g_clear_pointer(&out, g_free);
    ck_assert_int_ne(
        call_as(MEMBER_UID, ROOT, "Manager.Reload", (const char *const[]){ NULL }, &out, &err), 0);
    ck_assert_msg(strstr(err, "polkit (org.freedesktop.PolicyKit1) is not running, so only root "
                              "may (action org.xemigrated.XeMigrated1.reload)") != NULL,
                  "%s", err);
    g_clear_pointer(&err, g_free);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(call_as(0, ROOT, "Manager.Reload", (const char *const[]){ NULL }, &out, &err) ==
                      0,
                  "root: %s", err);
}
END_TEST

static Suite *
polkit_suite(void)
{
    Suite *s = suite_create("polkit");
    TCase *tc = tcase_create("polkit");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reserve_vf);
    tcase_add_test(tc, test_provision_vf);
    tcase_add_test(tc, test_manage_vm);
    tcase_add_test(tc, test_migrate);
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_read_vf_granted_by_default_taken_by_a_rule);
    tcase_add_test(tc, test_reads_of_the_host_need_no_polkit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    g_autofree char *dbus = g_find_program_in_path("dbus-daemon");
    int status;

    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    xe_test_require_peer(dbus != NULL, "dbus-daemon");
    xe_test_require_peer(g_file_test(POLKITD, G_FILE_TEST_IS_EXECUTABLE), "polkitd");
    /* other uids, mount namespaces: root only (CI is root) */
    xe_test_require_peer(geteuid() == 0, "root");
    enter_world();
    status = xe_test_run_suite(polkit_suite());
    xe_test_rmtree(world);
    return status;
}
