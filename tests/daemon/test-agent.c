/* test-agent.c: suite "daemon", the host agent (src/agent/xe-agent.c) on
 * its own over a live xe-sim mount, driven from the test's main loop so
 * that interleavings are exact: who may release a reservation (owner kinds)
 * and its hand-over, a failed write of the state file (the reservation
 * keeps its id, its VF stays held), a reload whose convergence runs while a
 * reservation is served from the warm pool, and pool VFs written behind the
 * daemon's back (never handed out, reported as drift; provisioning a pool VF
 * by hand refused).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "xe-agent.h"
#include "xe-error.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define PF      "0000:03:00.0"
#define TIMEOUT 20000

static const char small_20[] = "[profile small]\n"
                               "exec_quantum_ms=20\n"
                               "vram_quota=1G\n"
                               "ggtt_quota=256M\n";

static XeTestSim *sim;
static XeAgent *agent;
static char *dir; /* state, hooks */

static XeConfig *
config_with(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *full =
        g_strdup_printf("[daemon]\nstate-dir=%s/state\nhooks-dir=%s/hooks\nrun-dir=%s/run\n%s", dir,
                        dir, dir, text);
    XeConfig *c = xe_config_load_from_data(full, "agent.conf", &error);

    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    return c;
}

static XeConfig *
layout_config(const char *profile, guint pool)
{
    g_autofree char *text =
        g_strdup_printf("%s[layout " PF "]\nvfs=4\npool=small:%u\n", profile, pool);

    return config_with(text);
}

static void
agent_start(XeConfig *config)
{
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    agent = xe_agent_new(sim->root, config, &error);
    ck_assert_msg(agent != NULL, "%s", error ? error->message : "");
    xe_agent_start_async(agent, NULL, xe_test_result_cb, &r);
    ck_assert_msg(xe_agent_start_finish(agent, xe_test_result_wait(&r, TIMEOUT, "start"), &error),
                  "%s", error ? error->message : "");
    xe_test_result_clear(&r);
}

static void
setup(void)
{
    g_autofree char *hooks = NULL;

    dir = xe_test_mkdtemp("xe-agent");
    hooks = g_build_filename(dir, "hooks", NULL);
    g_mkdir(hooks, 0755);
    sim = xe_test_sim_start(NULL);
    agent_start(layout_config(small_20, 2));
}

static void
teardown(void)
{
    g_clear_object(&agent);
    g_clear_pointer(&sim, xe_test_sim_stop);
    xe_test_rmtree(dir);
    g_clear_pointer(&dir, g_free);
}

static gboolean
reserve(const char *profile, XeReservationOwner kind, const char *owner, char **vf, char **id,
        GError **error)
{
    XeTestResult r = { 0 };
    gboolean ok;

    xe_agent_reserve_async(agent, profile, NULL, kind, owner, NULL, xe_test_result_cb, &r);
    ok = xe_agent_reserve_finish(agent, xe_test_result_wait(&r, TIMEOUT, "reserve"), vf, id, error);
    xe_test_result_clear(&r);
    return ok;
}

static gboolean
release(const char *id, XeReservationOwner as, GError **error)
{
    XeTestResult r = { 0 };
    gboolean ok;

    xe_agent_release_async(agent, id, FALSE, as, "test", NULL, xe_test_result_cb, &r);
    ok = xe_agent_release_finish(agent, xe_test_result_wait(&r, TIMEOUT, "release"), error);
    xe_test_result_clear(&r);
    return ok;
}

static void
assert_error(const GError *error, int code, const char *part)
{
    ck_assert_msg(error != NULL, "expected an error containing '%s'", part);
    ck_assert_msg(error->domain == XE_ERROR && error->code == code, "wrong error (%d): %s",
                  error->code, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

static const XeAgentVf *
find_vf(const char *bdf)
{
    GPtrArray *vfs = xe_agent_get_vfs(agent);

    for (guint i = 0; i < vfs->len; i++) {
        const XeAgentVf *vf = vfs->pdata[i];
        if (g_str_equal(vf->info.bdf, bdf))
            return vf;
    }
    ck_abort_msg("no VF %s in the snapshot", bdf);
    return NULL;
}

/* The VF's exec_quantum_ms as sysfs has it now. */
static guint
sysfs_quantum(const char *vf_bdf)
{
    g_autofree char *rel = g_strdup_printf("sys/bus/pci/devices/" PF "/sriov_admin/vf%c/profile/"
                                           "exec_quantum_ms",
                                           vf_bdf[strlen(vf_bdf) - 1]);
    int err = 0;
    g_autofree char *text = xe_test_sim_read(sim, rel, &err);

    ck_assert_msg(text != NULL, "reading %s: %s", rel, g_strerror(err));
    return (guint)g_ascii_strtoull(text, NULL, 10);
}

static void
write_quantum_behind_back(const char *vf_bdf, const char *value)
{
    g_autofree char *rel = g_strdup_printf("sys/bus/pci/devices/" PF "/sriov_admin/vf%c/profile/"
                                           "exec_quantum_ms",
                                           vf_bdf[strlen(vf_bdf) - 1]);

    ck_assert_int_eq(xe_test_sim_write(sim, rel, value), 0);
}

static char *
drift_text(void)
{
    return g_strjoinv("\n", xe_agent_get_drift(agent));
}

/* Waits (deadline) until the state file contains @part (writes are asynchronous). */
static void
wait_state_file(const char *part)
{
    g_autofree char *path = g_build_filename(dir, "state", XE_RESERVATIONS_FILE, NULL);
    gint64 deadline = g_get_monotonic_time() + TIMEOUT * G_TIME_SPAN_MILLISECOND;

    for (;;) {
        g_autofree char *text = NULL;

        if (g_file_get_contents(path, &text, NULL, NULL) && strstr(text, part) != NULL)
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline, "%s never got '%s':\n%s", path, part,
                      text != NULL ? text : "(none)");
        g_main_context_iteration(NULL, TRUE);
    }
}

/* owner kinds */

START_TEST(test_release_refused_to_another_kind)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *vf = NULL, *id = NULL;
    g_autoptr(GVariant) list = NULL;
    g_autofree char *shown = NULL;

    ck_assert_msg(reserve("small", XE_RESERVATION_OWNER_VM, "vm:web", &vf, &id, &error), "%s",
                  error ? error->message : "");
    ck_assert_int_eq(xe_agent_reservation_owner_kind(agent, id), XE_RESERVATION_OWNER_VM);
    /* Manager.Release releases as a caller: a VM's reservation is not the caller's */
    ck_assert(!release(id, XE_RESERVATION_OWNER_CALLER, &error));
    assert_error(error, XE_ERROR_BUSY, "is held by VM 'web', not by a caller: remove the VM");
    ck_assert_ptr_nonnull(strstr(error->message, id));
    g_clear_error(&error);
    ck_assert(!release(id, XE_RESERVATION_OWNER_INCOMING, &error));
    assert_error(error, XE_ERROR_BUSY, "not by an incoming migration");
    g_clear_error(&error);
    ck_assert_str_eq(find_vf(vf)->reservation, id); /* still held */
    list = g_variant_ref_sink(xe_agent_list_reservations(agent));
    shown = g_variant_print(list, FALSE);
    ck_assert_msg(strstr(shown, "'vm:web'") != NULL, "%s", shown);
    ck_assert_msg(release(id, XE_RESERVATION_OWNER_VM, &error), "%s", error ? error->message : "");
    ck_assert_str_eq(find_vf(vf)->reservation, "");
}
END_TEST

START_TEST(test_transfer_from_incoming_to_vm_is_persisted)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *vf = NULL, *id = NULL;

    ck_assert(reserve("small", XE_RESERVATION_OWNER_INCOMING, "incoming:1:web", &vf, &id, &error));
    wait_state_file("\"kind\" : \"incoming\"");
    /* the incoming arrived: its VM takes the reservation over */
    ck_assert_msg(
        xe_agent_transfer_reservation(agent, id, XE_RESERVATION_OWNER_VM, "vm:web", &error), "%s",
        error ? error->message : "");
    ck_assert_int_eq(xe_agent_reservation_owner_kind(agent, id), XE_RESERVATION_OWNER_VM);
    ck_assert(
        !xe_agent_transfer_reservation(agent, "nope", XE_RESERVATION_OWNER_VM, "vm:x", &error));
    assert_error(error, XE_ERROR_NOT_FOUND, "no reservation 'nope'");
    g_clear_error(&error);
    ck_assert(!release(id, XE_RESERVATION_OWNER_INCOMING, &error));
    assert_error(error, XE_ERROR_BUSY, "held by VM 'web'");
    g_clear_error(&error);
    wait_state_file("\"owner\" : \"vm:web\"");

    /* a restart reads the new owner back */
    g_clear_object(&agent);
    agent_start(layout_config(small_20, 2));
    ck_assert_int_eq(xe_agent_reservation_owner_kind(agent, id), XE_RESERVATION_OWNER_VM);
    ck_assert_str_eq(find_vf(vf)->reservation, id);
}
END_TEST

START_TEST(test_release_twice_at_once)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;
    g_autofree char *vf = NULL, *id = NULL;
    XeTestResult first = { 0 }, second = { 0 };

    ck_assert(reserve("small", XE_RESERVATION_OWNER_VM, "vm:web", &vf, &id, &error));
    /* as a restart may: the VM's QEMU is gone, and its VF released from two places */
    xe_agent_release_async(agent, id, TRUE, XE_RESERVATION_OWNER_VM, "one", NULL, xe_test_result_cb,
                           &first);
    xe_agent_release_async(agent, id, TRUE, XE_RESERVATION_OWNER_VM, "two", NULL, xe_test_result_cb,
                           &second);
    ck_assert(
        !xe_agent_release_finish(agent, xe_test_result_wait(&second, TIMEOUT, "second"), &again));
    assert_error(again, XE_ERROR_BUSY, "is being released already");
    ck_assert_msg(
        xe_agent_release_finish(agent, xe_test_result_wait(&first, TIMEOUT, "first"), &error), "%s",
        error ? error->message : "");
    xe_test_result_clear(&first);
    xe_test_result_clear(&second);
    ck_assert_str_eq(find_vf(vf)->reservation, "");
}
END_TEST

/* a failed write of the state file */

static char *
break_state_file(void)
{
    g_autofree char *path = g_build_filename(dir, "state", XE_RESERVATIONS_FILE, NULL);
    g_autofree char *inside = g_build_filename(path, "x", NULL);

    /* A non-empty directory where the file goes: the rename over it fails, root or not. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(g_mkdir(path, 0700), 0);
    ck_assert(g_file_set_contents(inside, "", 0, NULL));
    return g_steal_pointer(&path);
}

static void
mend_state_file(const char *path)
{
    g_autofree char *inside = g_build_filename(path, "x", NULL);

    ck_assert_int_eq(unlink(inside), 0);
    ck_assert_int_eq(rmdir(path), 0);
}

START_TEST(test_failed_persist_keeps_reservation_and_id)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) busy = NULL;
    g_autofree char *vf = NULL, *id = NULL, *broken = NULL;
    XeTestResult rel = { 0 }, steal = { 0 };
    g_autofree char *other_vf = NULL, *other_id = NULL;
    gint64 created;

    ck_assert(reserve("small", XE_RESERVATION_OWNER_CALLER, "uid 0", &vf, &id, &error));
    wait_state_file(id);
    created = 0;
    {
        g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(agent));
        g_variant_get_child(list, 0, "(&s&s&s&sx)", NULL, NULL, NULL, NULL, &created);
    }
    broken = break_state_file();

    /* The release is under way (its write not done) while someone asks for that very VF:
     * it is still held. */
    xe_agent_release_async(agent, id, FALSE, XE_RESERVATION_OWNER_CALLER, "test", NULL,
                           xe_test_result_cb, &rel);
    xe_agent_reserve_vf_async(agent, vf, "small", XE_RESERVATION_OWNER_VM, "vm:thief", NULL,
                              xe_test_result_cb, &steal);
    ck_assert(!xe_agent_reserve_finish(agent, xe_test_result_wait(&steal, TIMEOUT, "steal"),
                                       &other_vf, &other_id, &busy));
    assert_error(busy, XE_ERROR_BUSY, "already reserved");
    ck_assert(
        !xe_agent_release_finish(agent, xe_test_result_wait(&rel, TIMEOUT, "release"), &error));
    assert_error(error, XE_ERROR_FAILED,
                 "; it stays reserved, with its id, until the state file can be written: the "
                 "release completes then");
    ck_assert_ptr_nonnull(strstr(error->message, id));
    xe_test_result_clear(&rel);
    xe_test_result_clear(&steal);

    /* Same reservation as before: id, VF, owner, creation time. */
    ck_assert_str_eq(find_vf(vf)->reservation, id);
    ck_assert_int_eq(xe_agent_reservation_owner_kind(agent, id), XE_RESERVATION_OWNER_CALLER);
    {
        g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(agent));
        const char *lid, *lvf, *profile, *owner;
        gint64 lcreated;

        ck_assert_uint_eq(g_variant_n_children(list), 1);
        g_variant_get_child(list, 0, "(&s&s&s&sx)", &lid, &lvf, &profile, &owner, &lcreated);
        ck_assert_str_eq(lid, id);
        ck_assert_str_eq(lvf, vf);
        ck_assert_str_eq(owner, "caller:uid 0");
        ck_assert_int_eq(lcreated, created);
    }

    /* Asked again meanwhile: it is on its way out already. */
    g_clear_error(&error);
    ck_assert(!release(id, XE_RESERVATION_OWNER_CALLER, &error));
    assert_error(error, XE_ERROR_BUSY, "is being released already");

    /* Once the file can be written (the table is written again until then), the release
     * completes, and the VF is free. */
    mend_state_file(broken);
    {
        gint64 deadline = g_get_monotonic_time() + TIMEOUT * G_TIME_SPAN_MILLISECOND;

        while (*find_vf(vf)->reservation != '\0') {
            ck_assert_str_eq(find_vf(vf)->reservation, id); /* never another id */
            ck_assert_msg(g_get_monotonic_time() < deadline, "the release never completed");
            g_main_context_iteration(NULL, TRUE);
        }
    }
    wait_state_file("\"reservations\" : []");
}
END_TEST

START_TEST(test_failed_persist_of_a_reservation_reserves_nothing)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *vf = NULL, *id = NULL, *broken = NULL, *vf2 = NULL, *id2 = NULL;

    ck_assert(reserve("small", XE_RESERVATION_OWNER_CALLER, "uid 0", &vf, &id, &error));
    wait_state_file(id);
    broken = break_state_file();
    ck_assert(!reserve("small", XE_RESERVATION_OWNER_CALLER, "uid 0", &vf2, &id2, &error));
    assert_error(error, XE_ERROR_FAILED, "reserving 0000:03:00.");
    g_clear_error(&error);
    {
        g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(agent));

        ck_assert_uint_eq(g_variant_n_children(list), 1);
    }
    mend_state_file(broken);
    /* The first one is still there, with its id; the file follows memory again. */
    ck_assert_msg(release(id, XE_RESERVATION_OWNER_CALLER, &error), "%s",
                  error ? error->message : "");
    wait_state_file("\"reservations\" : []");
}
END_TEST

/* the warm pool and convergence */

START_TEST(test_reload_during_warm_reservation_never_hands_out_old_values)
{
    g_autoptr(GError) error = NULL;
    XeTestResult reloaded = { 0 }, reserved = { 0 };
    g_autofree char *vf = NULL, *id = NULL;
    GPtrArray *vfs;
    guint in_pool = 0;

    ck_assert_uint_eq(sysfs_quantum("0000:03:00.1"), 20);
    ck_assert(find_vf("0000:03:00.1")->in_pool);
    /* "small" changes; the convergence that provisions the pool anew starts, and a
     * reservation for "small" comes in before it is done: the pool map still shows VFs that
     * hold the old "small". */
    xe_agent_reload_async(agent,
                          layout_config("[profile small]\nexec_quantum_ms=30\nvram_quota=1G\n"
                                        "ggtt_quota=256M\n",
                                        2),
                          NULL, xe_test_result_cb, &reloaded);
    xe_agent_reserve_async(agent, "small", NULL, XE_RESERVATION_OWNER_CALLER, "uid 0", NULL,
                           xe_test_result_cb, &reserved);
    ck_assert_msg(xe_agent_reserve_finish(agent, xe_test_result_wait(&reserved, TIMEOUT, "reserve"),
                                          &vf, &id, &error),
                  "%s", error ? error->message : "");
    ck_assert(
        xe_agent_reload_finish(agent, xe_test_result_wait(&reloaded, TIMEOUT, "reload"), &error));
    xe_test_result_clear(&reserved);
    xe_test_result_clear(&reloaded);
    /* what was handed out holds what "small" means now */
    ck_assert_msg(sysfs_quantum(vf) == 30, "%s was handed out with exec_quantum_ms=%u", vf,
                  sysfs_quantum(vf));

    /* and once all is converged, the pool holds it too, the reserved VF untouched */
    xe_agent_reload_async(agent,
                          layout_config("[profile small]\nexec_quantum_ms=30\n"
                                        "vram_quota=1G\nggtt_quota=256M\n",
                                        2),
                          NULL, xe_test_result_cb, &reloaded);
    ck_assert(
        xe_agent_reload_finish(agent, xe_test_result_wait(&reloaded, TIMEOUT, "reload"), &error));
    xe_test_result_clear(&reloaded);
    vfs = xe_agent_get_vfs(agent);
    for (guint i = 0; i < vfs->len; i++) {
        const XeAgentVf *v = vfs->pdata[i];

        if (!v->in_pool)
            continue;
        in_pool++;
        ck_assert_str_ne(v->info.bdf, vf);
        ck_assert_uint_eq(sysfs_quantum(v->info.bdf), 30);
    }
    ck_assert_uint_eq(in_pool, 2);
    ck_assert_str_eq(find_vf(vf)->reservation, id);
}
END_TEST

START_TEST(test_pool_vf_written_behind_back_is_drift_and_not_handed_out)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *vf = NULL, *id = NULL, *drift = NULL;

    ck_assert(find_vf("0000:03:00.1")->in_pool);
    ck_assert(find_vf("0000:03:00.2")->in_pool);
    write_quantum_behind_back("0000:03:00.1", "99");
    /* The snapshot still says VF 1 holds "small": the pick reads it back first. */
    ck_assert_msg(reserve("small", XE_RESERVATION_OWNER_CALLER, "uid 0", &vf, &id, &error), "%s",
                  error ? error->message : "");
    ck_assert_str_ne(vf, "0000:03:00.1");
    ck_assert_uint_eq(sysfs_quantum(vf), 20);
    drift = drift_text();
    ck_assert_msg(strstr(drift, "pool small on " PF ": 0000:03:00.1 holds exec_quantum_ms=99,") !=
                      NULL,
                  "%s", drift);
    ck_assert_ptr_nonnull(strstr(drift, "out of the warm pool until the layout converges again"));
    ck_assert(!find_vf("0000:03:00.1")->in_pool);
}
END_TEST

START_TEST(test_pool_vf_changed_seen_in_a_snapshot_is_drift)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *drift = NULL;
    XeTestResult r = { 0 };

    write_quantum_behind_back("0000:03:00.2", "77");
    /* any operation that changes the host refreshes the snapshot */
    xe_agent_run_async(agent, XE_AGENT_OP_RESET, "0000:03:00.4", NULL, 0, "test", NULL,
                       xe_test_result_cb, &r);
    ck_assert(xe_agent_run_finish(agent, xe_test_result_wait(&r, TIMEOUT, "reset"), NULL, &error));
    xe_test_result_clear(&r);
    drift = drift_text();
    ck_assert_msg(strstr(drift, "0000:03:00.2 holds exec_quantum_ms=77,") != NULL, "%s", drift);
    ck_assert(!find_vf("0000:03:00.2")->in_pool);
    ck_assert(find_vf("0000:03:00.1")->in_pool);
}
END_TEST

START_TEST(test_provisioning_a_pool_vf_refused)
{
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_agent_run_async(agent, XE_AGENT_OP_APPLY_PROFILE, "0000:03:00.1", "exec_quantum_ms=5", 0,
                       "test", NULL, xe_test_result_cb, &r);
    ck_assert(!xe_agent_run_finish(agent, xe_test_result_wait(&r, TIMEOUT, "apply"), NULL, &error));
    xe_test_result_clear(&r);
    assert_error(error, XE_ERROR_BUSY,
                 "0000:03:00.1 is in the warm pool of profile 'small' (the layout of " PF
                 " keeps it ready): to take it out, reserve it (Reserve 'small'), or lower "
                 "pool=small:N in [layout " PF "] and reload");
    ck_assert_uint_eq(sysfs_quantum("0000:03:00.1"), 20);
    /* a VF outside the pool may be provisioned */
    g_clear_error(&error);
    xe_agent_run_async(agent, XE_AGENT_OP_APPLY_PROFILE, "0000:03:00.3", "exec_quantum_ms=5", 0,
                       "test", NULL, xe_test_result_cb, &r);
    ck_assert_msg(
        xe_agent_run_finish(agent, xe_test_result_wait(&r, TIMEOUT, "apply"), NULL, &error), "%s",
        error ? error->message : "");
    xe_test_result_clear(&r);
    ck_assert_uint_eq(sysfs_quantum("0000:03:00.3"), 5);
}
END_TEST

static Suite *
agent_suite(void)
{
    Suite *s = suite_create("daemon-agent");
    TCase *tc;

    tc = tcase_create("owners");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_release_refused_to_another_kind);
    tcase_add_test(tc, test_transfer_from_incoming_to_vm_is_persisted);
    tcase_add_test(tc, test_release_twice_at_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("persist");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_failed_persist_keeps_reservation_and_id);
    tcase_add_test(tc, test_failed_persist_of_a_reservation_reserves_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reload_during_warm_reservation_never_hands_out_old_values);
    tcase_add_test(tc, test_pool_vf_written_behind_back_is_drift_and_not_handed_out);
    tcase_add_test(tc, test_pool_vf_changed_seen_in_a_snapshot_is_drift);
    tcase_add_test(tc, test_provisioning_a_pool_vf_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    return xe_test_run_suite(agent_suite());
}
