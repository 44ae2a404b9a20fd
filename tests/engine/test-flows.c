/* test-flows.c: suite "flows": the source and destination halves of a migration,
 * run alone (no lab, no daemon) on fake services (xe-test-services.h), against a
 * scripted QMP peer that fails on any command it did not expect (so a `cont` on a
 * source whose VM runs elsewhere fails the test) and a fake destination daemon on a
 * private bus (xe-fake-peer.h), reached the way a real one is: a transport command.
 *
 * The faults: Finish slower than the source's timeout, Finish's answer lost, a
 * destination that refuses or vanishes at Finish, `cont` accepted on the destination
 * and its reply lost, the source QEMU dying in each phase, two VMs whose names differ
 * only in '-' and '_', a reserved VF re-provisioned under the incoming (a reload's
 * layout convergence) before its check, and a VM migrated back after it arrived.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <check.h>
#include <glib/gstdio.h>

#include "xe-fake-peer.h"
#include "xe-fake-qmp.h"
#include "xe-flows.h"
#include "xe-test-bus.h"
#include "xe-test-services.h"
#include "xe-test-util.h"

#define URI      "tcp:127.0.0.1:4444"
#define DEADLINE 20000
#define CAPS \
    "[{'capability': 'events', 'state': false}, {'capability': 'return-path', 'state': false}]"
#define ACTIVE                                                                                 \
    "{'status': 'active', 'total-time': 300, 'ram': {'transferred': 1000, 'remaining': 1000, " \
    "'total': 2000, 'mbps': 100.0}}"
#define COMPLETED                                                                              \
    "{'status': 'completed', 'total-time': 500, 'downtime': 20, 'ram': {'transferred': 2000, " \
    "'remaining': 0, 'total': 2000, 'mbps': 100.0}}"
#define RUNNING "{'status': 'running', 'running': true}"
#define POLICY                                                                                 \
    "[policy]\nname=flows\ndowntime-budget-ms=5000\nswitchover-bandwidth=1G\n"                 \
    "max-bandwidth=0\nsetup-overhead-ms=10\ndowntime-steps=1\nstep-interval-ms=1000\n"         \
    "auto-converge=false\ncompletion-timeout-ms=30000\nstall-timeout-ms=20000\n"               \
    "switchover-ack-timeout-ms=30000\nretries=0\nbackoff-initial-ms=100\nbackoff-max-ms=200\n" \
    "backoff-jitter=0\nmultifd=false\nmultifd-channels=2\nvfio-multifd=false\n"

/* One host's flows and its peer: a private bus, the fake destination daemon on it,
 * and the services that reach it through systemd-stdio-bridge. */
typedef struct {
    XeTestBus *bus;
    XeFakePeer *peer;
    XeTestServices *svc;
    char *state_dir;
    XeVm *vm;   /* the source's VM */
    XeJob *job; /* its job */
} Host;

static void
host_init(Host *h)
{
    g_autofree char *bridge = NULL;

    h->bus = xe_test_bus_start();
    h->peer = xe_fake_peer_new(h->bus->address);
    bridge = g_strdup_printf("--bus-path=%s", h->bus->address);
    {
        const char *transport[] = { "systemd-stdio-bridge", bridge, NULL };

        h->svc = xe_test_services_new(transport);
    }
    xe_test_services_add_policy(h->svc, "flows", POLICY);
    h->state_dir = g_strdup(xe_test_services_get_settings(h->svc)->state_dir);
}

static void
host_clear(Host *h)
{
    xe_test_services_drain(h->svc, DEADLINE);
    g_clear_object(&h->job);
    g_clear_object(&h->vm);
    g_clear_object(&h->svc);
    g_clear_pointer(&h->peer, xe_fake_peer_free);
    g_clear_pointer(&h->bus, xe_test_bus_stop);
    g_free(h->state_dir);
}

static gboolean
journal_has(Host *h, const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(h->state_dir, dir, file, NULL);

    return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* the source QEMU's monitor */

#define NO_OBJECTS "[{'name': 'type', 'type': 'string'}]"

/* Pre-flight on a guest of @ram (a QMP size) whose user-created objects are @objects. */
static void
script_preflight_with(XeFakeQmp *q, const char *ram, const char *objects)
{
    g_autofree char *size = g_strdup_printf("{'base-memory': %s}", ram);

    xe_fake_qmp_negotiate(q);
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_expect(q, "query-migrate", "{}", "{}");
    xe_fake_qmp_expect(q, "query-migrate-capabilities", "{}", CAPS);
    xe_fake_qmp_expect(q, "query-migrate-parameters", "{}", "{'downtime-limit': 300}");
    xe_fake_qmp_expect(q, "query-memory-size-summary", "{}", size);
    xe_fake_qmp_expect(q, "qom-list", "{'path': '/objects'}", objects);
}

static void
script_preflight(XeFakeQmp *q)
{
    script_preflight_with(q, "134217728", NO_OBJECTS);
}

static void
script_migrating(XeFakeQmp *q)
{
    xe_fake_qmp_expect(q, "migrate-set-capabilities", NULL, "{}");
    xe_fake_qmp_expect(q, "migrate-set-parameters", NULL, "{}");
    xe_fake_qmp_standing(q, "query-migrate", ACTIVE);
    xe_fake_qmp_expect(q, "migrate", "{'uri': '" URI "'}", "{}");
    xe_fake_qmp_event(q, "MIGRATION", "{'status': 'active'}");
    xe_fake_qmp_pause(q, 300); /* a poll or so */
}

static void
script_completed(XeFakeQmp *q)
{
    xe_fake_qmp_event(q, "STOP", NULL);
    xe_fake_qmp_standing(q, "query-migrate", COMPLETED);
    xe_fake_qmp_event(q, "MIGRATION", "{'status': 'completed'}");
}

/* The whole migration on the source's monitor. */
static void
script_to_completion(XeFakeQmp *q)
{
    script_preflight(q);
    script_migrating(q);
    script_completed(q);
}

/* ... and then the source QEMU told to quit, its monitor closed. */
static void
script_quit(XeFakeQmp *q)
{
    xe_fake_qmp_expect(q, "quit", "{}", "{}");
    xe_fake_qmp_wait_eof(q);
}

/* jobs */

static XeJob *
start_job(Host *h, XeVm *vm)
{
    XeJob *job =
        xe_job_new(g_main_context_default(), "1", xe_vm_get_name(vm), "peer", "flows", "test");

    g_object_set(vm, "state", xe_vm_state_to_string(XE_VM_MIGRATING), "job", "1", NULL);
    migration_start(XE_SERVICES(h->svc), job, vm, "peer");
    return job;
}

/* Plays @q as the monitor of VM "demo" (VF 0000:00:02.1, reservation src-1), and
 * starts its job. */
static void
start_demo(Host *h, XeFakeQmp *q)
{
    xe_fake_qmp_start(q);
    h->vm =
        xe_test_services_add_vm(h->svc, "demo", "0000:00:02.1", "src-1", xe_fake_qmp_get_path(q));
    h->job = start_job(h, h->vm);
}

static gboolean
job_over(gpointer job)
{
    return xe_job_is_finished(job);
}

static gboolean
expired(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates the main context until @done(@data), the test failing after @timeout_ms. */
static void
wait_until(GSourceFunc done, gpointer data, guint timeout_ms, const char *what)
{
    gboolean late = FALSE;
    guint timer = g_timeout_add(timeout_ms, expired, &late);

    while (!done(data) && !late)
        g_main_context_iteration(NULL, TRUE);
    if (!late)
        g_source_remove(timer);
    ck_assert_msg(done(data), "no %s within %u ms", what, timeout_ms);
}

/* (Waits iterate the main context: the flows need it.) */
static gboolean
finish_called(gpointer peer)
{
    return xe_fake_peer_count(peer, "Finish") > 0;
}

/* The job says it waits for its destination's word, the source paused. */
static gboolean
job_awaits(gpointer job)
{
    g_autofree char *reason = NULL;

    g_object_get(job, "failure-reason", &reason, NULL);
    return reason != NULL && strstr(reason, "stays paused here") != NULL;
}

static void
assert_job(XeJob *job, const char *state, const char *klass)
{
    g_autofree char *got = NULL;
    g_autofree char *got_class = NULL;
    g_autofree char *reason = NULL;

    wait_until(job_over, job, DEADLINE, "end of the job");
    g_object_get(job, "state", &got, "failure-class", &got_class, "failure-reason", &reason, NULL);
    ck_assert_msg(g_str_equal(got, state) && g_str_equal(got_class, klass),
                  "job %s (%s), expected %s (%s): %s", got, got_class, state, klass, reason);
}

static void
assert_log(Host *h, const char *line, gboolean present)
{
    g_autofree char *log = xe_test_services_log(h->svc);

    ck_assert_msg(xe_test_services_saw(h->svc, line) == present, "'%s' %s in the log: %s", line,
                  present ? "missing" : "unexpected", log);
}

/* A migration of VM "demo" whose source QEMU's monitor plays @q; the VM went with the
 * job: its QEMU quit, its VF reset and released, the VM forgotten here, no `cont`. */
static void
assert_moved(Host *h, XeJob *job, XeFakeQmp *q)
{
    assert_job(job, "completed", "");
    xe_test_services_wait(h->svc, "vm-left demo", DEADLINE);
    assert_log(h, "release src-1 reset", TRUE);
    assert_log(h, "vm-kept demo running", FALSE);
    ck_assert(!journal_has(h, "jobs", "1.job"));
    xe_test_services_drain(h->svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
}

START_TEST(test_source_completes)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);

    host_init(&h);
    script_to_completion(q);
    script_quit(q);
    start_demo(&h, q);
    assert_moved(&h, h.job, q);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "PrepareIncoming"), 1);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "Finish"), 1);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "Abort"), 0);
    assert_log(&h, "hooks pre-migrate", TRUE);
    assert_log(&h, "hooks completed", TRUE);
    host_clear(&h);
}
END_TEST

/* Finish's answer does not come in time (slower than the source's timeout), or never
 * (lost): the destination's incoming says it committed, so the VM is there. The source
 * must not resume: the strict monitor fails on a `cont`. */
static const struct {
    const char *name;
    XeFakeFinish mode;
    guint delay_ms;
} late_finishes[] = {
    { "slower than the source's timeout", XE_FAKE_FINISH_SLOW, 9000 },
    { "answer lost", XE_FAKE_FINISH_LOST, 0 },
};

START_TEST(test_finish_late_or_lost)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);

    host_init(&h);
    xe_test_services_get_settings(h.svc)->peer_timeout_ms = 1000;
    xe_fake_peer_set_finish(h.peer, late_finishes[_i].mode, late_finishes[_i].delay_ms);
    script_to_completion(q);
    script_quit(q);
    start_demo(&h, q);
    assert_moved(&h, h.job, q);
    ck_assert_msg(xe_fake_peer_count(h.peer, "Abort") == 0, "%s: the destination was aborted",
                  late_finishes[_i].name);
    host_clear(&h);
}
END_TEST

/* QEMU blocks the migration (the VF's device without enable-migration=on): pre-flight
 * refuses before the destination is asked for anything, and says how to fix it. */
START_TEST(test_preflight_explains_blocker)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);
    g_autofree char *reason = NULL;

    host_init(&h);
    xe_fake_qmp_negotiate(q);
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_expect(q, "query-migrate", "{}",
                       "{'blocked-reasons': ['0000:00:02.1: VFIO device doesn\\u0027t support "
                       "device and IOMMU dirty tracking']}");
    xe_fake_qmp_wait_eof(q);
    start_demo(&h, q);
    assert_job(h.job, "failed", "incompatible");
    g_object_get(h.job, "failure-reason", &reason, NULL);
    ck_assert_msg(strstr(reason, "dirty tracking") != NULL &&
                      strstr(reason, "enable-migration=on") != NULL,
                  "the reason does not say the fix: %s", reason);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "PrepareIncoming"), 0);
    xe_test_services_wait(h.svc, "vm-kept demo running", DEADLINE);
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
    host_clear(&h);
}
END_TEST

/* An 8 GiB guest under the legacy VFIO container: type1 reports all of its RAM dirty, so
 * the switchover resends it; at the policy's 1 GiB/s that alone is over the 5 s budget, and
 * pre-flight refuses, saying why, before the destination is asked for anything. Under
 * iommufd (the IOMMU tracks dirty pages) the same guest is admitted and migrates. */
static const struct {
    const char *name;
    const char *objects;
    gboolean admitted;
} ram_cases[] = {
    { "legacy container", NO_OBJECTS, FALSE },
    { "iommufd",
      "[{'name': 'type', 'type': 'string'}, {'name': 'iommufd0', 'type': 'child<iommufd>'}]",
      TRUE },
};

START_TEST(test_preflight_counts_ram_resent)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);
    g_autofree char *reason = NULL;

    host_init(&h);
    script_preflight_with(q, "8589934592", ram_cases[_i].objects);
    if (ram_cases[_i].admitted) {
        script_migrating(q);
        script_completed(q);
        script_quit(q);
    } else {
        xe_fake_qmp_wait_eof(q);
    }
    start_demo(&h, q);
    if (ram_cases[_i].admitted) {
        assert_moved(&h, h.job, q);
        host_clear(&h);
        return;
    }
    assert_job(h.job, "failed", "incompatible");
    g_object_get(h.job, "failure-reason", &reason, NULL);
    ck_assert_msg(strstr(reason, "every page of the guest's RAM dirty") != NULL &&
                      strstr(reason, "8.00 GiB of dirty RAM") != NULL,
                  "%s: the reason does not say why: %s", ram_cases[_i].name, reason);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "PrepareIncoming"), 0);
    xe_test_services_wait(h.svc, "vm-kept demo running", DEADLINE);
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
    host_clear(&h);
}
END_TEST

/* The destination refuses Finish (it failed before its commit): the VM never ran there,
 * so the source resumes (`cont`) and keeps it; the destination is aborted. */
START_TEST(test_finish_refused_source_resumes)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);

    host_init(&h);
    xe_fake_peer_set_finish(h.peer, XE_FAKE_FINISH_REFUSE, 0);
    script_to_completion(q);
    xe_fake_qmp_expect(q, "cont", "{}", "{}");
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_wait_eof(q);
    start_demo(&h, q);
    assert_job(h.job, "failed", "unknown");
    xe_test_services_wait(h.svc, "vm-kept demo running", DEADLINE);
    assert_log(&h, "vm-left demo", FALSE);
    ck_assert_uint_eq(xe_test_services_count(h.svc, "release "), 0);
    ck_assert_uint_eq(xe_fake_peer_count(h.peer, "Abort"), 1);
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
    host_clear(&h);
}
END_TEST

/* The destination daemon goes away inside Finish: nobody can say where the VM runs, so
 * the source stays paused and asks again; once the daemon is back and says its incoming
 * runs the VM, the job completes, without a `cont` here. */
START_TEST(test_destination_vanishes_in_finish)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);

    host_init(&h);
    xe_fake_peer_set_finish(h.peer, XE_FAKE_FINISH_VANISH, 0);
    script_to_completion(q);
    script_quit(q);
    start_demo(&h, q);
    wait_until(finish_called, h.peer, DEADLINE, "Finish on the destination");
    wait_until(job_awaits, h.job, DEADLINE, "the job saying it waits for the destination");
    ck_assert(!xe_job_is_finished(h.job));
    xe_fake_peer_set_state(h.peer, 1, "running"); /* it committed after all */
    xe_fake_peer_return(h.peer);
    assert_moved(&h, h.job, q);
    host_clear(&h);
}
END_TEST

/* The source QEMU dies (its monitor resets) in each phase. Before it completed, the VM
 * is gone with it, unless the destination loaded all of it: then the destination runs
 * it. After it completed, the destination has it. */
static const struct {
    const char *phase;
    const char *state; /* the job's end */
    gboolean loaded;   /* the destination's incoming loaded everything first */
} source_deaths[] = {
    { "preflight", "failed", FALSE },
    { "migrating", "failed", FALSE },
    { "migrating, destination loaded", "completed", TRUE },
    { "completed", "completed", FALSE },
};

static void
destination_loaded(gpointer peer)
{
    xe_fake_peer_set_state(peer, 1, "completed");
}

START_TEST(test_source_qemu_dies)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);
    const char *phase = source_deaths[_i].phase;

    host_init(&h);
    if (_i == 0) {
        xe_fake_qmp_greeting(q);
        xe_fake_qmp_reset(q);
    } else {
        script_preflight(q);
        script_migrating(q);
        if (g_str_equal(source_deaths[_i].state, "completed") && !source_deaths[_i].loaded)
            script_completed(q);
        xe_fake_qmp_expect(q, "query-migrate", "{}", ACTIVE); /* the next poll: then it dies */
        xe_fake_qmp_reset(q);
    }
    if (source_deaths[_i].loaded)
        xe_test_services_on_hook(h.svc, "migration-started", destination_loaded, h.peer);
    start_demo(&h, q);
    if (g_str_equal(source_deaths[_i].state, "completed")) {
        assert_moved(&h, h.job, q);
        ck_assert_msg(xe_fake_peer_count(h.peer, "Finish") == 1, "%s: no Finish", phase);
        ck_assert_msg(xe_fake_peer_count(h.peer, "Abort") == 0, "%s: aborted", phase);
    } else {
        assert_job(h.job, "failed", "unknown");
        if (_i == 0) {
            /* nothing held yet: the VM stays, and the engine finds its QEMU's end */
            xe_test_services_wait(h.svc, "vm-kept demo running", DEADLINE);
            ck_assert_uint_eq(xe_fake_peer_count(h.peer, "PrepareIncoming"), 0);
        } else {
            /* the VM died with its QEMU: VF reset and released, destination undone */
            xe_test_services_wait(h.svc, "vm-left demo", DEADLINE);
            assert_log(&h, "release src-1 reset", TRUE);
            ck_assert_msg(xe_fake_peer_count(h.peer, "Abort") == 1, "%s: not aborted", phase);
            ck_assert_uint_eq(xe_fake_peer_count(h.peer, "Finish"), 0);
        }
        xe_test_services_drain(h.svc, DEADLINE);
        xe_fake_qmp_assert_done(q);
    }
    host_clear(&h);
}
END_TEST

/* the destination */

static void
script_incoming(XeFakeQmp *q)
{
    xe_fake_qmp_negotiate(q);
    xe_fake_qmp_expect(q, "query-migrate-capabilities", "{}", CAPS);
    xe_fake_qmp_expect(q, "migrate-set-capabilities", NULL, "{}");
    xe_fake_qmp_expect(q, "migrate-incoming", NULL, "{}");
    xe_fake_qmp_expect(q, "query-migrate", "{}",
                       "{'socket-address': [{'type': 'inet', 'host': '127.0.0.1', 'port': "
                       "'4444'}]}");
    xe_fake_qmp_event(q, "MIGRATION", "{'status': 'active'}");
    xe_fake_qmp_event(q, "MIGRATION", "{'status': 'completed'}");
}

static XeIncoming *
prepare(Host *h, const char *id, const char *name, GError **error)
{
    g_autoptr(XeVmSpec) spec = g_new0(XeVmSpec, 1);
    XeTestResult r = { NULL };
    XeIncoming *incoming;
    g_autoptr(GVariant) out = NULL;

    spec->name = g_strdup(name);
    spec->argv = g_strsplit("qemu-system-x86_64 -device vfio-pci,host={vf}", " ", -1);
    spec->profile = g_strdup("test");
    spec->policy = g_strdup("default");
    incoming = xe_incoming_new(g_main_context_default(), id, spec, ":1.99");
    incoming_prepare(XE_SERVICES(h->svc), incoming, "lmem=1073741824", g_variant_new("a{sv}", NULL),
                     "127.0.0.1", g_task_new(NULL, NULL, xe_test_result_cb, &r));
    out = g_task_propagate_pointer(G_TASK(xe_test_result_wait(&r, DEADLINE, "Prepare")), error);
    xe_test_result_clear(&r);
    if (out != NULL) {
        const char *uri = NULL;

        ck_assert(g_variant_lookup(out, "uri", "&s", &uri));
        ck_assert_str_eq(uri, "tcp:127.0.0.1:4444");
    }
    return incoming;
}

static gboolean
finish(Host *h, XeIncoming *incoming, GError **error)
{
    XeTestResult r = { NULL };
    gboolean ok;

    incoming_finish(XE_SERVICES(h->svc), incoming, 10000,
                    g_task_new(NULL, NULL, xe_test_result_cb, &r));
    ok = g_task_propagate_boolean(G_TASK(xe_test_result_wait(&r, DEADLINE, "Finish")), error);
    xe_test_result_clear(&r);
    return ok;
}

static void
assert_incoming(XeIncoming *incoming, const char *state)
{
    g_autofree char *got = NULL;

    g_object_get(incoming, "state", &got, NULL);
    ck_assert_msg(g_str_equal(got, state), "incoming %s is %s, expected %s",
                  xe_incoming_get_id(incoming), got, state);
}

/* `cont` accepted and its reply lost (the monitor went away): the destination asks
 * again over a fresh connection; the VM is this host's, running. */
START_TEST(test_cont_reply_lost)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);
    g_autoptr(XeIncoming) incoming = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *vm_file = NULL;

    host_init(&h);
    script_incoming(q);
    xe_fake_qmp_expect_deferred(q, "cont", "{}");
    xe_fake_qmp_accept(q); /* the reply never comes: the connection goes */
    xe_fake_qmp_negotiate(q);
    xe_fake_qmp_expect(q, "cont", "{}", "{}");
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_wait_eof(q);
    xe_fake_qmp_start(q);
    xe_test_services_push_monitor(h.svc, xe_fake_qmp_get_path(q));
    incoming = prepare(&h, "1", "demo", &error);
    ck_assert_msg(error == NULL, "Prepare: %s", error ? error->message : "");
    ck_assert_msg(finish(&h, incoming, &error), "Finish: %s", error ? error->message : "");
    xe_test_services_wait(h.svc, "vm-arrived demo dest-1", DEADLINE);
    xe_test_services_wait(h.svc, "incoming-ended 1", DEADLINE);
    assert_incoming(incoming, "running");
    ck_assert(journal_has(&h, "vms", "demo.vm"));
    assert_log(&h, "release dest-1 reset", FALSE);
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
    host_clear(&h);
}
END_TEST

/* "web-1" and "web_1" are two VMs: two incomings, two VFs, two records. */
START_TEST(test_names_differ_in_dash_underscore)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q1 = xe_fake_qmp_new(FALSE);
    g_autoptr(XeFakeQmp) q2 = xe_fake_qmp_new(FALSE);
    g_autoptr(XeIncoming) a = NULL;
    g_autoptr(XeIncoming) b = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *qa = NULL;
    g_autofree char *qb = NULL;

    host_init(&h);
    for (guint i = 0; i < 2; i++) {
        XeFakeQmp *q = i == 0 ? q1 : q2;

        script_incoming(q);
        xe_fake_qmp_expect(q, "cont", "{}", "{}");
        xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
        xe_fake_qmp_wait_eof(q);
        xe_fake_qmp_start(q);
        xe_test_services_push_monitor(h.svc, xe_fake_qmp_get_path(q));
    }
    a = prepare(&h, "1", "web-1", &error);
    ck_assert_msg(error == NULL, "Prepare web-1: %s", error ? error->message : "");
    b = prepare(&h, "2", "web_1", &error);
    ck_assert_msg(error == NULL, "Prepare web_1: %s", error ? error->message : "");
    ck_assert_msg(finish(&h, b, &error), "Finish web_1: %s", error ? error->message : "");
    ck_assert_msg(finish(&h, a, &error), "Finish web-1: %s", error ? error->message : "");
    xe_test_services_wait(h.svc, "incoming-ended 1", DEADLINE);
    xe_test_services_wait(h.svc, "incoming-ended 2", DEADLINE);
    xe_test_services_wait(h.svc, "vm-arrived web-1 dest-1", DEADLINE);
    xe_test_services_wait(h.svc, "vm-arrived web_1 dest-2", DEADLINE);
    g_object_get(xe_test_services_get_vm(h.svc, "web-1"), "qmp-socket", &qa, NULL);
    g_object_get(xe_test_services_get_vm(h.svc, "web_1"), "qmp-socket", &qb, NULL);
    ck_assert_str_eq(qa, xe_fake_qmp_get_path(q1));
    ck_assert_str_eq(qb, xe_fake_qmp_get_path(q2));
    ck_assert(journal_has(&h, "vms", "web-1.vm"));
    ck_assert(journal_has(&h, "vms", "web_1.vm"));
    assert_incoming(a, "running");
    assert_incoming(b, "running");
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q1);
    xe_fake_qmp_assert_done(q2);
    host_clear(&h);
}
END_TEST

/* A reload converges the layout while an incoming holds its reservation, and the VF
 * is provisioned otherwise by the time it is checked: the check refuses it before any
 * QEMU starts, the VF is reset and released, the incoming failed. */
START_TEST(test_reload_reprovisions_reserved_vf)
{
    Host h = { 0 };
    g_autoptr(XeIncoming) incoming = NULL;
    g_autoptr(GError) error = NULL;

    host_init(&h);
    xe_test_services_set_check(h.svc, "lmem is 536870912, the source has 1073741824");
    incoming = prepare(&h, "1", "demo", &error);
    ck_assert(g_error_matches(error, XE_ERROR, XE_ERROR_INCOMPATIBLE));
    ck_assert_msg(strstr(error->message, "0000:03:00.1") != NULL &&
                      strstr(error->message, "lmem is 536870912") != NULL,
                  "the refusal says what and why: %s", error->message);
    xe_test_services_wait(h.svc, "incoming-ended 1", DEADLINE);
    assert_log(&h, "release dest-1 reset", TRUE);
    ck_assert_uint_eq(xe_test_services_count(h.svc, "spawn "), 0);
    assert_incoming(incoming, "failed");
    ck_assert(journal_has(&h, "incomings", "1.in"));
    host_clear(&h);
}
END_TEST

/* A VM arrives, then migrates back: the job takes the VM the incoming made, the
 * reservation it was given goes back (reset), and its record here goes. One fake QEMU
 * plays both: the destination's, then the source's. */
START_TEST(test_vm_migrated_back)
{
    Host h = { 0 };
    g_autoptr(XeFakeQmp) q = xe_fake_qmp_new(FALSE);
    g_autoptr(XeIncoming) incoming = NULL;
    g_autoptr(XeJob) job = NULL;
    g_autoptr(GError) error = NULL;
    XeVm *vm;

    host_init(&h);
    script_incoming(q);
    xe_fake_qmp_expect(q, "cont", "{}", "{}");
    xe_fake_qmp_expect(q, "query-status", "{}", RUNNING);
    xe_fake_qmp_accept(q); /* the incoming lets go of the monitor; the job connects */
    script_to_completion(q);
    script_quit(q);
    xe_fake_qmp_start(q);
    xe_test_services_push_monitor(h.svc, xe_fake_qmp_get_path(q));
    incoming = prepare(&h, "1", "demo", &error);
    ck_assert_msg(error == NULL, "Prepare: %s", error ? error->message : "");
    ck_assert_msg(finish(&h, incoming, &error), "Finish: %s", error ? error->message : "");
    xe_test_services_wait(h.svc, "vm-arrived demo dest-1", DEADLINE);
    xe_test_services_wait(h.svc, "incoming-ended 1", DEADLINE);
    ck_assert(journal_has(&h, "vms", "demo.vm"));
    vm = xe_test_services_get_vm(h.svc, "demo");
    job = start_job(&h, vm);
    assert_job(job, "completed", "");
    xe_test_services_wait(h.svc, "vm-left demo", DEADLINE);
    assert_log(&h, "release dest-1 reset", TRUE);
    ck_assert(!journal_has(&h, "vms", "demo.vm"));
    assert_incoming(incoming, "running"); /* the tombstone says how it ended */
    xe_test_services_drain(h.svc, DEADLINE);
    xe_fake_qmp_assert_done(q);
    host_clear(&h);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("flows");
    TCase *src = tcase_create("source");
    TCase *dst = tcase_create("destination");

    tcase_add_test(src, test_source_completes);
    tcase_add_test(src, test_preflight_explains_blocker);
    tcase_add_loop_test(src, test_preflight_counts_ram_resent, 0, G_N_ELEMENTS(ram_cases));
    tcase_add_loop_test(src, test_finish_late_or_lost, 0, G_N_ELEMENTS(late_finishes));
    tcase_add_test(src, test_finish_refused_source_resumes);
    tcase_add_test(src, test_destination_vanishes_in_finish);
    tcase_add_loop_test(src, test_source_qemu_dies, 0, G_N_ELEMENTS(source_deaths));
    suite_add_tcase(s, src);
    tcase_add_test(dst, test_cont_reply_lost);
    tcase_add_test(dst, test_names_differ_in_dash_underscore);
    tcase_add_test(dst, test_reload_reprovisions_reserved_vf);
    tcase_add_test(dst, test_vm_migrated_back);
    suite_add_tcase(s, dst);
    return xe_test_run_suite(s);
}
