/* xe-source.c: the source side of a migration job, on its own worker.
 *
 *   pre-flight   VF on xe-vfio-pci with migration supported; its profile and
 *                migration_size; QEMU running and idle; what both QEMUs offer;
 *                the downtime estimate against the budget; pre-migrate hooks
 *   attempt      a fresh destination from the peer daemon (reserve, provision
 *                identically, QEMU paused with -incoming defer); capabilities
 *                and parameters from the policy; migrate; follow the events,
 *                poll query-migrate for progress; step downtime-limit within
 *                the budget; stall and completion timeouts count device bytes
 *   completion   the destination runs the VM (Finish) only once the source
 *                reported completed; then the source QEMU quits, its VF gets an
 *                FLR and goes back to the pool. A completed source gets `cont` only
 *                when the destination's incoming proves it never ran there
 *                (aborted or failed before its commit); when that cannot be
 *                known, the source stays paused and the job asks again until
 *                the destination's daemon answers
 *   journal      STATE_DIR/jobs/ID.job holds the job while it runs (its VM, the
 *                destination and the attempt's incoming): a daemon that died
 *                under a job finishes it at its next start (migration_resume)
 *   failure      evidence (QMP error-desc, RESET and VFIO_MIGRATION events,
 *                whether the destination QEMU exited, the transport) gives a
 *                class; the destination is torn down; the source runs on;
 *                retryable classes get another attempt after a backoff
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-source"

#include <string.h>

#include "xe-flows.h"
#include "xe-error.h"
#include "xe-failure.h"
#include "xe-job-run.h"
#include "xe-log.h"
#include "xe-peer.h"
#include "xe-qmp-migration.h"
#include "xe-vf-device.h"

#define PROGRESS_INTERVAL_MS 250
#define CONNECT_TIMEOUT_MS   20000
#define ASK_TIMEOUT_MS       5000  /* one question about the destination's incoming */
#define ASK_BACKOFF_MAX_MS   30000 /* between questions a peer could not answer */

/* What the job leaves of the VM here when it ends other than completed. */
typedef enum {
    SOURCE_RUNS,   /* running here */
    SOURCE_PAUSED, /* here, but its QEMU did not resume */
    SOURCE_GONE,   /* its QEMU is gone (or the VM runs elsewhere): forgotten here */
    SOURCE_NONE,   /* no VM to account for (it ended while the daemon was down) */
} SourceEnd;

typedef struct {
    XeServices *svc;
    XeJob *job;
    XeVm *vm;
    XeVmSpec *spec;
    char *host;
    char *policy_name;
    XeEngineSettings *settings;
    GCancellable *cancellable;
    XePolicy *policy;
    guint64 budget_ms;

    /* source facts, from the snapshot migration_start() took on main */
    char *vf;
    char *reservation;
    char *qmp_socket;
    XeQemuProcess *process; /* the VM's QEMU */
    char *profile;          /* key=value, what the destination must match */
    guint64 vf_bytes;
    guint64 estimate_ms;
    guint64 ram_resent; /* guest RAM the switchover resends however idle the guest */
    guint64 limit_ms;   /* the downtime-limit QEMU has now */
    XeQmpClient *qmp;
    gboolean src_ack, src_multifd, src_switchover_bw;

    /* this attempt */
    guint attempt;
    XePeer *peer;
    char *incoming;
    char *dest_vf;
    XeQmpMigrationStatus status;
    gboolean saw_reset; /* RESET from the source during the attempt */
    gboolean switchover_seen;
    gint64 stop_time; /* STOP event on the source: the guest stopped */
    gboolean qmp_gone;
    gboolean was_running; /* the guest ran when the job started: it must run after a failure */
    gboolean resumed;     /* RESUME from the source during the attempt */
    SourceEnd vm_after;   /* what becomes of the VM when the job ends other than completed */

    XeJobRun run;   /* phases, timings, failed attempts, hooks */
    gint64 created; /* monotonic: the job's request */

    XeJobEntry *entry;      /* STATE_DIR/jobs/ID.job */
    GCancellable *stopping; /* the daemon stops: a wait for the destination gives up */
    gboolean ruled;         /* an operator said where the VM runs: no further attempt */
    gulong stop_id;
    GTask *resume_task; /* migration_resume(): returned after the first try to decide */
} Migration;

/* The job lets go of the VM's monitor (which serves one client at a time). */
static void
close_source(Migration *m)
{
    if (m->qmp == NULL)
        return;
    g_signal_handlers_disconnect_matched(m->qmp, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, m);
    xe_qmp_client_close(m->qmp);
    g_clear_object(&m->qmp);
}

static void
migration_free(Migration *m)
{
    g_object_unref(m->svc);
    g_object_unref(m->job);
    g_clear_object(&m->vm); /* NULL for a job whose VM ended while the daemon was down */
    xe_vm_spec_free(m->spec);
    g_free(m->host);
    g_free(m->policy_name);
    engine_settings_free(m->settings);
    g_clear_object(&m->cancellable);
    xe_policy_free(m->policy);
    g_free(m->vf);
    g_free(m->reservation);
    g_free(m->qmp_socket);
    g_clear_object(&m->process);
    g_free(m->profile);
    close_source(m);
    xe_peer_free(m->peer);
    g_free(m->incoming);
    g_free(m->dest_vf);
    xe_job_run_clear(&m->run);
    xe_job_entry_free(m->entry);
    g_cancellable_disconnect(m->stopping, m->stop_id);
    g_clear_object(&m->stopping);
    g_clear_object(&m->resume_task);
    g_free(m);
}

/* The job on record, durably; FALSE when it cannot be (the job must not go on). */
static gboolean
journal(Migration *m, GError **error)
{
    m->entry->attempt = m->attempt;
    g_free(m->entry->incoming);
    m->entry->incoming = g_strdup(m->incoming != NULL ? m->incoming : "");
    g_free(m->entry->dest_vf);
    m->entry->dest_vf = g_strdup(m->dest_vf != NULL ? m->dest_vf : "");
    if (!xe_journal_put_job(m->settings->state_dir, m->entry, error)) {
        g_prefix_error(error, "the job cannot be recorded, so it would not survive a restart: ");
        return FALSE;
    }
    return TRUE;
}

static void
set_phase(Migration *m, XeJobPhase phase)
{
    xe_job_run_phase(&m->run, phase);
}

static gboolean
run_hooks(Migration *m, const char *phase, GError **error)
{
    return xe_job_run_hooks(&m->run, phase, m->vf, m->dest_vf, error);
}

static void
inform(Migration *m, const char *phase)
{
    xe_job_run_inform(&m->run, phase, m->vf, m->dest_vf);
}

/* QMP on the worker */

static void
on_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 timestamp,
         gpointer user_data)
{
    Migration *m = user_data;

    if (g_str_equal(name, XE_QMP_EVENT_MIGRATION)) {
        XeQmpMigrationStatus status;

        g_autoptr(GError) error = NULL;

        if (xe_qmp_event_migration_decode(data, &status, &error))
            m->status = status;
        else
            g_warning("job %s: %s", xe_job_get_id(m->job), error->message);
    } else if (g_str_equal(name, XE_QMP_EVENT_RESET)) {
        m->saw_reset = TRUE;
    } else if (g_str_equal(name, XE_QMP_EVENT_RESUME)) {
        m->resumed = TRUE;
    } else if (g_str_equal(name, XE_QMP_EVENT_STOP)) {
        m->stop_time = g_get_monotonic_time();
    } else if (g_str_equal(name, XE_QMP_EVENT_VFIO_MIGRATION)) {
        const char *dev = NULL, *qom = NULL;
        XeQmpVfioState state;

        /* Progress, not evidence: QEMU announces the states it sets, and after a failure
         * it sets RUNNING itself, so the event cannot tell a reset from a recovery. The
         * reset shows as ENODEV in the error (kernel-interfaces 3.3). */
        if (xe_qmp_event_vfio_migration_decode(data, &dev, &qom, &state, NULL)) {
            g_debug("job %s: %s is %s", xe_job_get_id(m->job), dev,
                    xe_qmp_vfio_state_to_string(state));
            xe_record_post(m->job, "device-state", xe_qmp_vfio_state_to_string(state), NULL);
        }
    }
}

static void
on_disconnected(XeQmpClient *client, GError *reason, gpointer user_data)
{
    Migration *m = user_data;

    m->qmp_gone = TRUE;
}

/* pre-flight */

#define RAM_RESENT_WHY                                                                        \
    "the legacy VFIO container reports every page of the guest's RAM dirty (xe-vfio-pci has " \
    "no DMA logging), so the switchover resends all of it: "

/* How much of the guest's RAM the switchover resends whatever the guest does. With the
 * legacy VFIO container, type1 reports every mapped page dirty at every sync when the
 * device pins nothing and logs no DMA (xe-vfio-pci): the stop-and-copy resends the whole
 * RAM. Under iommufd, the IOMMU's own dirty tracking (where it has one) is precise, and
 * QEMU's remaining count says what is left. */
static gboolean
guest_ram_resent(Migration *m, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autofree XeQmpMemorySize *size = NULL;
    g_autoptr(GPtrArray) objects = NULL;

    size = XE_AWAIT_CALL(
        &w, xe_qmp_query_memory_size_summary_async(m->qmp, m->cancellable, xe_await_cb, &w),
        xe_qmp_query_memory_size_summary_finish(m->qmp, xe_await(&w), error));
    if (size == NULL)
        return FALSE;
    objects = XE_AWAIT_CALL(
        &w, xe_qmp_qom_list_async(m->qmp, "/objects", m->cancellable, xe_await_cb, &w),
        xe_qmp_qom_list_finish(m->qmp, xe_await(&w), error));
    if (objects == NULL)
        return FALSE;
    for (guint i = 0; i < objects->len; i++)
        if (g_str_equal(((XeQmpObjectProperty *)objects->pdata[i])->type, "child<iommufd>")) {
            m->ram_resent = 0;
            return TRUE;
        }
    m->ram_resent = size->base_memory + size->plugged_memory;
    return TRUE;
}

static gboolean
preflight(Migration *m, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autofree char *driver = NULL;
    g_autofree char *support = NULL;
    g_autofree char *size = NULL;
    g_autofree char *qmp = NULL;
    g_autofree char *address = NULL;
    g_autoptr(XeQmpStatus) status = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    g_autoptr(GHashTable) caps = NULL;
    g_autofree XeQmpMigrationParameters *params = NULL;
    XePolicy budgeted;

    m->policy = engine_load_policy(m->settings, m->policy_name, error);
    if (m->policy == NULL)
        return FALSE;
    m->budget_ms = m->spec->downtime_budget_ms > 0 ? m->spec->downtime_budget_ms
                                                   : m->policy->downtime_budget_ms;
    xe_record_post(m->job, "max-attempts", m->policy->retries + 1, NULL);

    /* the VF */
    qmp = g_strdup(m->qmp_socket);
    if (!xe_services_vf_facts(m->svc, m->vf, &driver, &support)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "the VM's VF %s is not on this host",
                    m->vf);
        return FALSE;
    }
    if (g_strcmp0(driver, XE_DRIVER_VFIO) != 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "VF %s is bound to '%s', not " XE_DRIVER_VFIO ": its state cannot migrate",
                    m->vf, *driver != '\0' ? driver : "nothing");
        return FALSE;
    }
    if (g_str_equal(support, "no")) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "the PF of %s does not support VF migration (GuC firmware or platform)", m->vf);
        return FALSE;
    }
    if (!xe_services_agent_run(m->svc, XE_AGENT_OP_READ_PROFILE, m->vf, NULL, "xe-migrated (job)",
                               &m->profile, error) ||
        !xe_services_agent_run(m->svc, XE_AGENT_OP_MIGRATION_SIZE, m->vf, NULL, "xe-migrated (job)",
                               &size, error))
        return FALSE;
    m->vf_bytes = g_ascii_strtoull(size, NULL, 10);

    /* the source QEMU */
    address = g_strdup_printf("unix:%s", qmp);
    m->qmp = engine_qmp_connect(address, m->cancellable, error);
    if (m->qmp == NULL) {
        g_prefix_error(error, "the VM's QEMU monitor: ");
        return FALSE;
    }
    g_signal_connect(m->qmp, "event", G_CALLBACK(on_event), m);
    g_signal_connect(m->qmp, "disconnected", G_CALLBACK(on_disconnected), m);
    /* QEMU answers nothing while it reads the VF's state (under its big lock): a command
     * sent in the switchover waits out the whole save, which the budget bounds */
    g_object_set(
        m->qmp, "command-timeout",
        (guint)MIN(MAX(XE_QMP_DEFAULT_COMMAND_TIMEOUT_MS, 2 * m->budget_ms + 10000), G_MAXUINT),
        NULL);
    status = XE_AWAIT_CALL(&w, xe_qmp_query_status_async(m->qmp, m->cancellable, xe_await_cb, &w),
                           xe_qmp_query_status_finish(m->qmp, xe_await(&w), error));
    if (status == NULL)
        return FALSE;
    m->was_running = status->running;
    if (!g_str_equal(status->status, "running") && !g_str_equal(status->status, "paused")) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "the VM's QEMU is '%s'; it migrates from "
                    "running or paused",
                    status->status);
        return FALSE;
    }
    info = XE_AWAIT_CALL(&w, xe_qmp_query_migrate_async(m->qmp, m->cancellable, xe_await_cb, &w),
                         xe_qmp_query_migrate_finish(m->qmp, xe_await(&w), error));
    if (info == NULL)
        return FALSE;
    if (!xe_qmp_migration_status_is_final(info->status) &&
        info->status != XE_QMP_MIGRATION_STATUS_NONE) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "the VM's QEMU is already migrating (%s), not by this daemon",
                    info->status_text);
        return FALSE;
    }
    if (info->blocked_reasons != NULL) {
        g_autoptr(GString) why = g_string_new(NULL);

        for (guint i = 0; info->blocked_reasons[i] != NULL; i++) {
            g_autofree char *explained = xe_failure_explain_blocker(info->blocked_reasons[i]);

            g_string_append_printf(why, "%s%s", i > 0 ? "; " : "", explained);
        }
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED, "QEMU blocks migration: %s", why->str);
        return FALSE;
    }
    caps = XE_AWAIT_CALL(
        &w, xe_qmp_query_migrate_capabilities_async(m->qmp, m->cancellable, xe_await_cb, &w),
        xe_qmp_query_migrate_capabilities_finish(m->qmp, xe_await(&w), error));
    if (caps == NULL)
        return FALSE;
    if (!g_hash_table_contains(caps, "return-path") || !g_hash_table_contains(caps, "events")) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "the VM's QEMU lacks the return-path or events capability: without them "
                    "a failed load on the destination would lose the VM");
        return FALSE;
    }
    m->src_ack = g_hash_table_contains(caps, "switchover-ack");
    m->src_multifd = g_hash_table_contains(caps, "multifd");
    params = XE_AWAIT_CALL(
        &w, xe_qmp_query_migrate_parameters_async(m->qmp, m->cancellable, xe_await_cb, &w),
        xe_qmp_query_migrate_parameters_finish(m->qmp, xe_await(&w), error));
    if (params == NULL)
        return FALSE;
    m->src_switchover_bw = params->has_avail_switchover_bandwidth;
    if (!guest_ram_resent(m, error))
        return FALSE;

    /* the budget: the VF's state, and the RAM resent, move while the guest is stopped */
    budgeted = *m->policy;
    budgeted.downtime_budget_ms = m->budget_ms;
    if (budgeted.switchover_bandwidth > 0) {
        m->estimate_ms = xe_policy_estimate_downtime_ms(&budgeted, m->vf_bytes, m->ram_resent, 0);
        xe_record_post(m->job, "expected-downtime", m->estimate_ms, NULL);
        if (!xe_policy_check_budget(&budgeted, m->vf_bytes, m->ram_resent, 0, error)) {
            if (m->ram_resent > 0)
                g_prefix_error(error, "%s", RAM_RESENT_WHY);
            return FALSE;
        }
    } else {
        /* "auto": the budget is checked against the bandwidth QEMU measures once the
         * live phase runs (follow()); until then the limit starts from the overhead. */
        m->estimate_ms = budgeted.setup_overhead_ms;
    }
    return TRUE;
}

/* one attempt */

typedef enum {
    OUTCOME_COMPLETED,
    OUTCOME_FAILED,
} Outcome;

typedef struct {
    gboolean timed_out;
    gboolean transport_down;
    gboolean cancelled;
    gboolean destination_exited;
    char *source_error;
    char *destination_error;
    XeFailureClass forced; /* a class known without evidence (preparation refused) */
    char *forced_reason;
} Evidence;

static void
evidence_clear(Evidence *e)
{
    g_free(e->source_error);
    g_free(e->destination_error);
    g_free(e->forced_reason);
    memset(e, 0, sizeof(*e));
}

/* With switchover-bandwidth=auto: the estimate from the bandwidth QEMU
 * measured in the live phase. FALSE when it exceeds the budget. */
static gboolean
measured_estimate(Migration *m, const XeQmpMigrationInfo *info, char **why)
{
    XePolicy budgeted = *m->policy;
    guint64 bw, estimate, residual;

    /* A second of live phase first: the first chunks say little about the link. */
    if (m->policy->switchover_bandwidth > 0 || !info->has_ram || info->ram.mbps <= 0 ||
        m->switchover_seen || !info->has_total_time || info->total_time_ms < 1000)
        return TRUE;
    bw = (guint64)(info->ram.mbps * 1e6 / 8);
    budgeted.downtime_budget_ms = m->budget_ms;
    residual = MAX(m->ram_resent, info->ram.has_remaining ? info->ram.remaining : 0);
    estimate = xe_policy_estimate_downtime_ms(&budgeted, m->vf_bytes, residual, bw);
    m->estimate_ms = estimate;
    xe_record_post(m->job, "expected-downtime", estimate, NULL);
    if (estimate <= m->budget_ms)
        return TRUE;
    *why = g_strdup_printf("the switchover would stop the guest for about %" G_GUINT64_FORMAT
                           " ms (VF state %.1f MiB and RAM %.1f MiB at the measured %.1f MB/s), "
                           "over the budget of %" G_GUINT64_FORMAT " ms: raise the VM's "
                           "downtime-budget-ms or the bandwidth",
                           estimate, m->vf_bytes / 1048576.0, residual / 1048576.0, bw / 1e6,
                           m->budget_ms);
    return FALSE;
}

static void
progress(Migration *m, const XeQmpMigrationInfo *info, guint64 *last_bytes, gint64 *last_time)
{
    guint64 dev = info->has_vfio ? info->vfio_transferred : 0;
    /* QEMU counts the VFIO bytes in ram.transferred too (they share its stream) */
    guint64 ram = info->has_ram ? info->ram.transferred - MIN(info->ram.transferred, dev) : 0;
    gint64 now = g_get_monotonic_time();
    guint64 throughput = info->has_ram ? (guint64)(info->ram.mbps * 1e6 / 8) : 0;

    if (ram + dev != *last_bytes) {
        *last_bytes = ram + dev;
        *last_time = now;
    }
    xe_record_post(m->job, "ram-transferred", ram, "ram-total",
                   info->has_ram ? info->ram.total : (guint64)0, "ram-remaining",
                   info->has_ram ? info->ram.remaining : (guint64)0, "device-bytes", dev,
                   "throughput", throughput, NULL);
    /* (not QEMU's expected-downtime: it leaves the VF's state out, and reads the
     * downtime-limit until QEMU has measured a bandwidth) */
}

static gboolean
set_downtime_limit(Migration *m, guint64 ms, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    XeQmpMigrationParameters p = { .has_downtime_limit = TRUE, .downtime_limit_ms = ms };

    xe_qmp_migrate_set_parameters_async(m->qmp, &p, NULL, xe_await_cb, &w);
    if (!xe_qmp_migrate_set_parameters_finish(m->qmp, xe_await(&w), error))
        return FALSE;
    m->limit_ms = ms;
    xe_record_post(m->job, "downtime-limit", ms, NULL);
    return TRUE;
}

static gboolean
configure_source(Migration *m, gboolean dest_ack, gboolean dest_multifd, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    const XePolicy *p = m->policy;
    gboolean multifd = p->multifd && m->src_multifd && dest_multifd;
    XeQmpCapability caps[] = {
        { "events", TRUE },
        { "return-path", TRUE },
        { "switchover-ack", m->src_ack && dest_ack },
        { "multifd", multifd },
        { "auto-converge", p->auto_converge },
        /* never postcopy with a VF: a dead destination in postcopy loses the guest */
        { "postcopy-ram", FALSE },
    };
    XeQmpMigrationParameters params = {
        .has_downtime_limit = TRUE,
        .downtime_limit_ms = xe_policy_downtime_step_ms(p, m->estimate_ms, 0),
        .has_max_bandwidth = TRUE,
        .max_bandwidth = p->max_bandwidth > 0 ? p->max_bandwidth : G_MAXINT64,
        .has_avail_switchover_bandwidth = m->src_switchover_bw,
        .avail_switchover_bandwidth = p->switchover_bandwidth,
        .has_multifd_channels = multifd,
        .multifd_channels = p->multifd_channels,
    };
    gsize n = G_N_ELEMENTS(caps);

    if (!m->src_ack)
        caps[2] = caps[--n]; /* QEMU without it refuses even "false" */
    if (!XE_AWAIT_CALL(
            &w, xe_qmp_migrate_set_capabilities_async(m->qmp, caps, n, NULL, xe_await_cb, &w),
            xe_qmp_migrate_set_capabilities_finish(m->qmp, xe_await(&w), error)) ||
        !XE_AWAIT_CALL(&w,
                       xe_qmp_migrate_set_parameters_async(m->qmp, &params, NULL, xe_await_cb, &w),
                       xe_qmp_migrate_set_parameters_finish(m->qmp, xe_await(&w), error)))
        return FALSE;
    m->limit_ms = params.downtime_limit_ms;
    xe_record_post(m->job, "downtime-limit", params.downtime_limit_ms, NULL);
    /* with multifd, the VF's state takes the channels only when the policy says so (QEMU's
     * "auto" would); the destination set the same on its device */
    if (multifd &&
        !xe_vf_device_set_multifd_transfer(m->qmp, m->vf, p->vfio_multifd, m->cancellable, error))
        return FALSE;
    return TRUE;
}

static gboolean
tick(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_CONTINUE;
}

static void
cancel_wakeup(GCancellable *cancellable, gpointer data)
{
    g_main_context_wakeup(data);
}

/* Follows the migration until QEMU says it is over, stepping the downtime
 * limit and cancelling it on a stall, a timeout, a lost transport or Cancel. */
static XeQmpMigrationStatus
follow(Migration *m, Evidence *e, XeQmpMigrationInfo **final)
{
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
    const XePolicy *p = m->policy;
    gint64 start = g_get_monotonic_time(), last_time = start, last_step = start;
    guint64 last_bytes = 0;
    guint step = 0;
    gboolean due = FALSE, cancelling = FALSE, polling = FALSE, switchover_hook = FALSE;
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    GSource *timer = g_timeout_source_new(PROGRESS_INTERVAL_MS);
    gulong cancel_id;

    g_source_set_callback(timer, tick, &due, NULL);
    g_source_attach(timer, context);
    cancel_id =
        g_cancellable_connect(m->cancellable, G_CALLBACK(cancel_wakeup),
                              g_main_context_ref(context), (GDestroyNotify)g_main_context_unref);
    while (!m->qmp_gone) {
        gint64 now;

        g_main_context_iteration(context, TRUE);
        now = g_get_monotonic_time();
        if (m->status == XE_QMP_MIGRATION_STATUS_DEVICE ||
            m->status == XE_QMP_MIGRATION_STATUS_PRE_SWITCHOVER)
            m->switchover_seen = TRUE;
        if (m->switchover_seen && !switchover_hook) {
            switchover_hook = TRUE;
            set_phase(m, XE_JOB_PHASE_SWITCHOVER);
            inform(m, "switchover");
        }
        if (polling) {
            if (g_atomic_pointer_get(&w.result) == NULL)
                continue;
            {
                g_autoptr(XeQmpMigrationInfo) info =
                    xe_qmp_query_migrate_finish(m->qmp, w.result, NULL);

                xe_await_reset(&w);
                polling = FALSE;
                if (info != NULL) {
                    g_autofree char *why = NULL;

                    progress(m, info, &last_bytes, &last_time);
                    if (!cancelling && !measured_estimate(m, info, &why)) {
                        e->forced = XE_FAILURE_INCOMPATIBLE;
                        e->forced_reason = g_steal_pointer(&why);
                        cancelling = TRUE;
                        xe_qmp_migrate_cancel_async(m->qmp, NULL, NULL, NULL);
                    } else if (!cancelling && !m->switchover_seen &&
                               xe_policy_downtime_step_ms(p, m->estimate_ms, step) > m->limit_ms) {
                        /* QEMU switches over only once the pending bytes, the VF's state
                         * included, fit its downtime-limit at the bandwidth it measures: a
                         * limit below the measured estimate would never be met */
                        (void)set_downtime_limit(
                            m, xe_policy_downtime_step_ms(p, m->estimate_ms, step), NULL);
                    }
                    if (xe_qmp_migration_status_is_final(info->status)) {
                        m->status = info->status;
                        *final = g_steal_pointer(&info);
                        break;
                    }
                }
            }
        }
        if (xe_qmp_migration_status_is_final(m->status) && !polling) {
            /* one last query for the figures and the error */
            xe_qmp_query_migrate_async(m->qmp, NULL, xe_await_cb, &w);
            polling = TRUE;
            continue;
        }
        if (cancelling)
            continue;
        if (g_cancellable_is_cancelled(m->cancellable))
            e->cancelled = TRUE;
        else if (p->completion_timeout_ms > 0 &&
                 (guint64)(now - start) / 1000 > p->completion_timeout_ms)
            e->timed_out = TRUE;
        else if (p->stall_timeout_ms > 0 && (now - last_time) / 1000 > (gint64)p->stall_timeout_ms)
            e->timed_out = TRUE;
        else if (m->peer != NULL && !xe_peer_is_connected(m->peer))
            e->transport_down = TRUE;
        if (e->cancelled || e->timed_out || e->transport_down) {
            /* migrate_cancel: the source resumes; a completed one is not cancellable */
            cancelling = TRUE;
            xe_qmp_migrate_cancel_async(m->qmp, NULL, NULL, NULL);
            continue;
        }
        if (due && !polling) {
            due = FALSE;
            xe_qmp_query_migrate_async(m->qmp, NULL, xe_await_cb, &w);
            polling = TRUE;
        }
        if (!m->switchover_seen && p->downtime_steps > 1 && step + 1 < p->downtime_steps &&
            (guint64)(now - last_step) / 1000 >= p->step_interval_ms) {
            step++;
            last_step = now;
            (void)set_downtime_limit(m, xe_policy_downtime_step_ms(p, m->estimate_ms, step), NULL);
        }
    }
    /* A poll in flight answers into @w, on this stack: wait for it. A monitor that went
     * away fails it (the client fails every pending command when it disconnects). */
    if (polling && g_atomic_pointer_get(&w.result) == NULL)
        (void)xe_await(&w);
    g_cancellable_disconnect(m->cancellable, cancel_id);
    g_source_destroy(timer);
    g_source_unref(timer);
    /* a source that completed and then went away has done its part */
    return m->qmp_gone && m->status != XE_QMP_MIGRATION_STATUS_COMPLETED
               ? XE_QMP_MIGRATION_STATUS_UNKNOWN
               : m->status;
}

static gboolean
flag_up(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Iterates the worker's context until *@flag (set by an event handler) or @timeout_ms. */
static void
wait_flag(const gboolean *flag, guint timeout_ms)
{
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
    GSource *timer = g_timeout_source_new(timeout_ms);
    gboolean expired = FALSE;

    g_source_set_callback(timer, flag_up, &expired, NULL);
    g_source_attach(timer, context);
    while (!*flag && !expired)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(timer);
    g_source_unref(timer);
}

/* Where the source QEMU is after a failed attempt: it must run again (QEMU
 * resumes it after failed or cancelled), unless the guest was paused before. */
static gboolean
source_runs(Migration *m, char **state)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;

    for (guint round = 0; round < 2; round++) {
        g_autoptr(XeQmpStatus) status =
            XE_AWAIT_CALL(&w, xe_qmp_query_status_async(m->qmp, NULL, xe_await_cb, &w),
                          xe_qmp_query_status_finish(m->qmp, xe_await(&w), NULL));

        if (status == NULL)
            return FALSE;
        g_free(*state);
        *state = g_strdup(status->status);
        if (status->running || !m->was_running)
            return TRUE;
        wait_flag(&m->resumed, 2000); /* its RESUME may trail the MIGRATION event */
    }
    return FALSE;
}

/* What the destination saw. A destination that failed to load exits
 * (exit-on-error), and its last words are the best evidence there is; they
 * may trail the source's own failure by a moment, so this waits, with a
 * deadline, for the incoming to report the exit. */
static void
gather_destination(Migration *m, Evidence *e)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    if (m->peer == NULL || m->incoming == NULL)
        return;
    for (;;) {
        g_autoptr(GVariant) props = xe_peer_incoming_properties(m->peer, m->incoming, 5000, NULL);
        const char *text = NULL, *state = NULL;
        gboolean exited = FALSE;
        XeIncomingState st;

        if (props == NULL) {
            e->transport_down = e->transport_down || !xe_peer_is_connected(m->peer);
            return;
        }
        g_variant_lookup(props, "Exited", "b", &exited);
        /* one past its commit will not exit with last words: nothing to wait for */
        if (g_variant_lookup(props, "State", "&s", &state) &&
            xe_incoming_state_from_string(state, &st) && xe_incoming_state_is_committed(st))
            return;
        if (exited || g_get_monotonic_time() > deadline) {
            g_clear_pointer(&e->destination_error, g_free);
            if (g_variant_lookup(props, "Error", "&s", &text) && *text != '\0')
                e->destination_error = g_strdup(text);
            e->destination_exited = exited;
            return;
        }
        xe_sleep(20, NULL);
    }
}

/* Tears the destination of this attempt down, on its daemon. A daemon whose
 * caller vanished does the same on its own, so a dead transport is enough. */
static void
drop_destination(Migration *m)
{
    if (m->peer != NULL && m->incoming != NULL &&
        !xe_peer_incoming_abort(m->peer, m->incoming, 2 * ASK_TIMEOUT_MS, NULL))
        xe_peer_close(m->peer);
    g_clear_pointer(&m->peer, xe_peer_free);
    g_clear_pointer(&m->incoming, g_free);
}

typedef enum {
    DESTINATION_RUNS,    /* committed there: the VM is the destination's (Finish's answer lost) */
    DESTINATION_LOST,    /* committed there, and its QEMU then died: the VM is gone */
    DESTINATION_DEAD,    /* ended there before its commit: it never ran, the source is the VM */
    DESTINATION_UNKNOWN, /* nobody can say yet: the source stays as it is */
} DestinationFate;

/* Where is the VM, after the source completed but Finish did not say so? The
 * destination's incoming tells: its daemon never reports a committed incoming as not
 * run, and keeps the ones that are over as tombstones. One still in progress is aborted
 * on the way (which fails once it is committed), so that "dead" holds once this returns.
 * Never inferred from a timeout or a missing object: those are UNKNOWN. */
static DestinationFate
destination_fate(Migration *m, char **why)
{
    g_autoptr(XePeer) fresh = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) props = NULL;
    const char *state = "";
    XeIncomingState st;
    XePeer *peer = m->peer;

    g_clear_pointer(why, g_free);
    if (m->incoming == NULL || *m->incoming == '\0') {
        *why = g_strdup("no destination was prepared");
        return DESTINATION_DEAD;
    }
    if (peer == NULL || !xe_peer_is_connected(peer)) {
        fresh = xe_peer_connect((const char *const *)m->settings->transport, m->host,
                                CONNECT_TIMEOUT_MS, NULL, &error);
        if (fresh == NULL) {
            *why = g_strdup_printf("%s cannot be reached: %s", m->host, error->message);
            return DESTINATION_UNKNOWN;
        }
        peer = fresh;
    }
    props = xe_peer_incoming_properties(peer, m->incoming, ASK_TIMEOUT_MS, &error);
    if (props == NULL) {
        *why = g_strdup_printf("%s's daemon cannot say how incoming %s ended: %s", m->host,
                               m->incoming, error->message);
        return DESTINATION_UNKNOWN;
    }
    g_variant_lookup(props, "State", "&s", &state);
    if (!xe_incoming_state_from_string(state, &st)) {
        *why = g_strdup_printf("%s's incoming %s is in state '%s'", m->host, m->incoming, state);
        return DESTINATION_UNKNOWN;
    }
    if (st == XE_INCOMING_LOST) {
        *why = g_strdup_printf("the VM was started on %s, whose QEMU then died", m->host);
        return DESTINATION_LOST;
    }
    if (xe_incoming_state_is_committed(st))
        return DESTINATION_RUNS;
    if (st == XE_INCOMING_ABORTED || st == XE_INCOMING_FAILED) {
        *why = g_strdup_printf("incoming %s on %s %s before it ran", m->incoming, m->host, state);
        return DESTINATION_DEAD;
    }
    /* still there, never committed: end it (it is not to run now) */
    if (xe_peer_incoming_abort(peer, m->incoming, m->settings->peer_timeout_ms, &error)) {
        *why = g_strdup_printf("incoming %s on %s aborted before it ran", m->incoming, m->host);
        return DESTINATION_DEAD;
    }
    if (g_error_matches(error, XE_ERROR, XE_ERROR_COMMITTED))
        return DESTINATION_RUNS; /* Finish got there first */
    *why = g_strdup_printf("aborting incoming %s on %s: %s", m->incoming, m->host, error->message);
    return DESTINATION_UNKNOWN;
}

static Outcome
attempt(Migration *m, Evidence *e, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autoptr(GVariant) prepared = NULL;
    g_autoptr(GVariant) spec = NULL;
    g_autoptr(XeQmpMigrationInfo) final = NULL;
    g_autoptr(GError) local = NULL;
    GVariantBuilder options;
    const char *uri = NULL, *incoming = NULL, *vf = NULL;
    gboolean dest_ack = FALSE, dest_multifd = FALSE;
    XeQmpMigrationStatus status;

    m->status = XE_QMP_MIGRATION_STATUS_NONE;
    m->saw_reset = m->switchover_seen = m->resumed = FALSE;
    m->stop_time = 0;

    /* a fresh destination */
    set_phase(m, XE_JOB_PHASE_PREPARING_DESTINATION);
    m->peer = xe_peer_connect((const char *const *)m->settings->transport, m->host,
                              CONNECT_TIMEOUT_MS, m->cancellable, &local);
    if (m->peer == NULL) {
        e->transport_down = TRUE;
        e->forced = XE_FAILURE_TRANSPORT;
        e->forced_reason = g_strdup(local->message);
        return OUTCOME_FAILED;
    }
    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&options, "{sv}", "switchover-ack", g_variant_new_boolean(m->src_ack));
    g_variant_builder_add(&options, "{sv}", "multifd",
                          g_variant_new_boolean(m->policy->multifd && m->src_multifd));
    g_variant_builder_add(&options, "{sv}", "vfio-multifd",
                          g_variant_new_boolean(m->policy->vfio_multifd));
    g_variant_builder_add(&options, "{sv}", "multifd-channels",
                          g_variant_new_uint32(m->policy->multifd_channels));
    g_variant_builder_add(&options, "{sv}", "host", g_variant_new_string(m->host));
    spec = g_variant_ref_sink(xe_vm_spec_to_variant(m->spec));
    prepared = xe_peer_prepare_incoming(m->peer, spec, m->profile, g_variant_builder_end(&options),
                                        m->settings->peer_timeout_ms, m->cancellable, &local);
    if (prepared == NULL) {
        if (g_cancellable_is_cancelled(m->cancellable))
            e->cancelled = TRUE;
        else if (g_error_matches(local, XE_ERROR, XE_ERROR_INCOMPATIBLE))
            e->forced = XE_FAILURE_INCOMPATIBLE;
        else if (!xe_peer_is_connected(m->peer))
            e->transport_down = TRUE;
        else
            e->forced = XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup(local->message);
        return OUTCOME_FAILED;
    }
    g_variant_lookup(prepared, "incoming", "&o", &incoming);
    g_variant_lookup(prepared, "uri", "&s", &uri);
    g_variant_lookup(prepared, "vf", "&s", &vf);
    g_variant_lookup(prepared, "switchover-ack", "b", &dest_ack);
    g_variant_lookup(prepared, "multifd", "b", &dest_multifd);
    if (incoming == NULL || uri == NULL) {
        e->forced = XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup("the destination daemon's answer lacks 'incoming' or 'uri'");
        return OUTCOME_FAILED;
    }
    m->incoming = g_strdup(incoming);
    g_free(m->dest_vf);
    m->dest_vf = g_strdup(vf);
    /* the attempt's destination on record before any byte moves */
    if (!journal(m, &local)) {
        e->forced = XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup(local->message);
        return OUTCOME_FAILED;
    }

    /* the source */
    set_phase(m, XE_JOB_PHASE_MIGRATING);
    if (!configure_source(m, dest_ack, dest_multifd, &local)) {
        e->forced = XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup_printf("setting up the source QEMU: %s", local->message);
        return OUTCOME_FAILED;
    }
    inform(m, "migration-started");
    xe_log_event(
        G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_STARTED, NULL, m->vf, NULL,
        "job %s: VM %s from %s to %s (%s), attempt %u, downtime-limit from %" G_GUINT64_FORMAT
        " ms",
        xe_job_get_id(m->job), m->spec->name, m->vf, m->host, uri, m->attempt,
        xe_policy_downtime_step_ms(m->policy, m->estimate_ms, 0));
    if (!XE_AWAIT_CALL(&w, xe_qmp_migrate_async(m->qmp, uri, FALSE, NULL, xe_await_cb, &w),
                       xe_qmp_migrate_finish(m->qmp, xe_await(&w), &local))) {
        e->forced = XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup_printf("migrate: %s", local->message);
        return OUTCOME_FAILED;
    }
    status = follow(m, e, &final);
    if (final != NULL) {
        if (final->has_downtime)
            xe_record_post(m->job, "qemu-downtime", final->downtime_ms, NULL);
        if (final->has_total_time)
            xe_record_post(m->job, "total-time", final->total_time_ms, NULL);
        e->source_error = g_strdup(final->error_desc);
    }
    if (status == XE_QMP_MIGRATION_STATUS_UNKNOWN) {
        /* The source QEMU went away under us: nothing to retry from. */
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED,
                    "the source QEMU's monitor closed during the migration (QEMU exited?)");
        return OUTCOME_FAILED;
    }
    if (status != XE_QMP_MIGRATION_STATUS_COMPLETED) {
        gather_destination(m, e);
        return OUTCOME_FAILED;
    }

    /* completed on the source: now, and only now, the destination may run */
    set_phase(m, XE_JOB_PHASE_VERIFYING);
    if (!xe_peer_incoming_finish(m->peer, m->incoming, m->settings->peer_timeout_ms, NULL,
                                 &local)) {
        gather_destination(m, e);
        /* a destination daemon that is not there (killed, restarting) is the transport's
         * failure: should the VM turn out never to have run there, another attempt may go */
        e->forced = !xe_peer_is_connected(m->peer) ||
                            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
                            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
                            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
                            g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED)
                        ? XE_FAILURE_TRANSPORT
                        : XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup_printf("the source completed but the destination did not "
                                           "run the VM: %s",
                                           local->message);
        return OUTCOME_FAILED;
    }
    if (m->stop_time > 0)
        xe_record_post(m->job, "downtime", (guint64)(g_get_monotonic_time() - m->stop_time) / 1000,
                       NULL);
    return OUTCOME_COMPLETED;
}

/* After a completed attempt: quit the source QEMU, reset its VF, free it. */
static void
cleanup_source(Migration *m)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autoptr(GError) error = NULL;

    set_phase(m, XE_JOB_PHASE_CLEANUP);
    xe_record_post(m->vm, "state", xe_vm_state_to_string(XE_VM_MIGRATED), NULL);
    if (m->qmp != NULL && !m->qmp_gone)
        (void)XE_AWAIT_CALL(&w, xe_qmp_quit_async(m->qmp, NULL, xe_await_cb, &w),
                            xe_qmp_quit_finish(m->qmp, xe_await(&w), NULL));
    if (m->process != NULL)
        xe_services_end_qemu(m->svc, m->process, 5000);
    if (!xe_services_release(m->svc, m->reservation, TRUE, "xe-migrated (job)", &error))
        g_warning("job %s: %s", xe_job_get_id(m->job), error->message);
}

typedef struct {
    Migration *m;
    gboolean left; /* the VM left this host, or its QEMU is gone */
    XeVmState state;
} Finish;

static gboolean
main_finish(gpointer data)
{
    Finish *f = data;

    if (f->left) {
        xe_services_vm_left(f->m->svc, f->m->vm);
    } else {
        g_object_set(f->m->vm, "state", xe_vm_state_to_string(f->state), "job", "", NULL);
        xe_services_vm_kept(f->m->svc, f->m->vm);
    }
    return G_SOURCE_REMOVE;
}

static void
record_attempt(Migration *m, XeFailureClass klass, const char *reason, gint64 started)
{
    xe_job_run_attempt_failed(&m->run, m->attempt, klass, reason, m->dest_vf, started);
}

static void
finish_job(Migration *m, XeJobState state, XeFailureClass klass, const char *reason)
{
    Finish f = { m, FALSE, XE_VM_RUNNING };
    g_autoptr(GError) error = NULL;

    /* off the record first: once the job says it is over, a restart must not finish it
     * again; and the monitor is free for whoever reads the job's end */
    if (!xe_journal_drop_job(m->settings->state_dir, xe_job_get_id(m->job), &error)) {
        g_warning("job %s: %s", xe_job_get_id(m->job), error->message);
        g_clear_error(&error);
    }
    close_source(m);
    set_phase(m, XE_JOB_PHASE_DONE);
    xe_record_post(m->job, "state", xe_job_state_to_string(state), "failure-class",
                   klass == XE_FAILURE_NONE ? "" : xe_failure_to_string(klass), "failure-reason",
                   reason != NULL ? reason : "", "finished", g_get_real_time(), NULL);
    if (state == XE_JOB_COMPLETED) {
        f.left = TRUE;
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vf, NULL,
                     "job %s: VM %s now runs on %s (%s), attempt %u", xe_job_get_id(m->job),
                     m->spec->name, m->host, m->dest_vf, m->attempt);
        inform(m, "completed");
    } else {
        f.left = m->vm_after == SOURCE_GONE;
        f.state = m->vm_after == SOURCE_PAUSED ? XE_VM_PAUSED : XE_VM_RUNNING;
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vf, NULL,
                     "job %s: VM %s not migrated to %s: %s (%s)", xe_job_get_id(m->job),
                     m->spec->name, m->host, xe_failure_to_string(klass), reason);
        inform(m, "failed");
    }
    if (m->vm != NULL && m->vm_after != SOURCE_NONE)
        xe_call_main(xe_services_get_main(m->svc), main_finish, &f);
}

/* The VM left this host (it runs on the destination, or died there after its commit):
 * the source QEMU quits, its VF is reset and released. */
static void
source_gone(Migration *m, DestinationFate fate, const char *why)
{
    g_clear_pointer(&m->peer, xe_peer_free);
    cleanup_source(m);
    if (fate == DESTINATION_RUNS) {
        finish_job(m, XE_JOB_COMPLETED, XE_FAILURE_NONE, NULL);
    } else {
        m->vm_after = SOURCE_GONE;
        finish_job(m, XE_JOB_FAILED, XE_FAILURE_DESTINATION_DIED, why);
    }
}

/* The daemon stops while the job waits for the destination's word: the job stays in
 * the journal and the source as it is (paused); the next start takes it up. */
static void
suspend(Migration *m, const char *why)
{
    g_autofree char *reason = g_strdup_printf(
        "xe-migrated stopped while waiting for %s (%s); its next start decides", m->host, why);

    close_source(m);
    xe_record_post(m->job, "failure-reason", reason, NULL);
    xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vf, NULL, "job %s: %s",
                 xe_job_get_id(m->job), reason);
}

/* The destination's incoming loaded the whole stream (completed, not yet run). */
static gboolean
destination_loaded(Migration *m)
{
    g_autoptr(GVariant) props = NULL;
    const char *state = "";

    if (m->peer == NULL || m->incoming == NULL || !xe_peer_is_connected(m->peer))
        return FALSE;
    props = xe_peer_incoming_properties(m->peer, m->incoming, ASK_TIMEOUT_MS, NULL);
    return props != NULL && g_variant_lookup(props, "State", "&s", &state) &&
           g_str_equal(state, xe_incoming_state_to_string(XE_INCOMING_COMPLETED));
}

/* Tells migration_resume()'s caller that the first try to decide is over. */
static void
first_try_over(Migration *m, gboolean decided)
{
    if (m->resume_task != NULL) {
        g_task_return_boolean(m->resume_task, decided);
        g_clear_object(&m->resume_task);
    }
}

/* The source completed and the destination did not confirm it runs the VM: ask the
 * destination until it can say. Meanwhile the source stays paused (postmigrate): it is
 * resumed only on the destination's word that the VM never ran there. The job says
 * what it waits for. UNKNOWN only when the daemon stops: the job stays in the journal,
 * and the next start asks again. */
static DestinationFate
settle_fate(Migration *m, char **why)
{
    guint64 delay = 1000;

    for (;;) {
        DestinationFate fate = destination_fate(m, why);

        if (fate != DESTINATION_UNKNOWN || g_cancellable_is_cancelled(m->stopping))
            return fate;
        first_try_over(m, FALSE);
        g_clear_pointer(&m->peer, xe_peer_free); /* the next question on a fresh transport */
        {
            g_autofree char *text = g_strdup_printf(
                "%s; the VM stays paused here until %s's daemon can say whether it ran there; "
                "if that host is gone for good: xe-migratectl resolve %s source (it never ran "
                "there) or destination (it runs there)",
                *why != NULL ? *why : "the destination cannot say where the VM runs", m->host,
                xe_job_get_id(m->job));

            xe_record_post(m->job, "failure-reason", text, NULL);
        }
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vf, NULL,
                     "job %s: VM %s stays paused here until %s says whether it runs there "
                     "(%s); asking again in %" G_GUINT64_FORMAT " ms",
                     xe_job_get_id(m->job), m->spec->name, m->host, *why, delay);
        /* not cancellable by the job: a paused VM is not left to itself; an operator's
         * word, or the daemon stopping, ends the wait */
        xe_job_set_awaiting(m->job, TRUE);
        (void)xe_sleep(delay, xe_job_get_wake(m->job));
        xe_job_set_awaiting(m->job, FALSE);
        switch (xe_job_take_resolution(m->job)) {
        case XE_JOB_VM_ON_SOURCE:
            g_free(*why);
            *why = g_strdup_printf("an operator said the VM never ran on %s", m->host);
            m->ruled = TRUE; /* no further attempt on a host that cannot answer */
            return DESTINATION_DEAD;
        case XE_JOB_VM_ON_DESTINATION:
            g_free(*why);
            *why = g_strdup_printf("an operator said the VM runs on %s", m->host);
            m->ruled = TRUE;
            return DESTINATION_RUNS;
        case XE_JOB_UNRESOLVED:
            break;
        }
        delay = MIN(delay * 2, ASK_BACKOFF_MAX_MS);
    }
}

/* `cont` on a completed source whose destination is known never to have run the VM;
 * TRUE when it runs again. */
static gboolean
resume_source(Migration *m)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autofree char *state = NULL;

    if (m->qmp == NULL || m->qmp_gone)
        return FALSE;
    (void)XE_AWAIT_CALL(&w, xe_qmp_cont_async(m->qmp, NULL, xe_await_cb, &w),
                        xe_qmp_cont_finish(m->qmp, xe_await(&w), NULL));
    return source_runs(m, &state);
}

/* The source QEMU went away during the job: the VM went with it (unless the destination
 * took it over); its VF is reset and released, and it is forgotten. */
static void
source_died(Migration *m, const char *reason)
{
    g_autoptr(GError) error = NULL;

    if (m->process != NULL)
        xe_services_end_qemu(m->svc, m->process, 0);
    if (!xe_services_release(m->svc, m->reservation, TRUE, "xe-migrated (job)", &error))
        g_warning("job %s: %s", xe_job_get_id(m->job), error->message);
    m->vm_after = SOURCE_GONE;
    finish_job(m, XE_JOB_FAILED, XE_FAILURE_UNKNOWN, reason);
}

/* the job */

static gboolean
job_thread(gpointer data)
{
    Migration *m = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(m->job));
    XeFailureClass klass = XE_FAILURE_NONE;
    g_autofree char *reason = NULL;

    xe_record_post(m->job, "state", xe_job_state_to_string(XE_JOB_RUNNING), NULL);
    m->vm_after = SOURCE_RUNS;
    set_phase(m, XE_JOB_PHASE_PREFLIGHT);
    if (!journal(m, &error)) {
        klass = XE_FAILURE_UNKNOWN;
        reason = g_strdup_printf("pre-flight: %s", error->message);
        goto failed;
    }
    if (!preflight(m, &error)) {
        klass = g_cancellable_is_cancelled(m->cancellable) ? XE_FAILURE_CANCELLED
                : g_error_matches(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED) ||
                        g_error_matches(error, XE_ERROR, XE_ERROR_INCOMPATIBLE)
                    ? XE_FAILURE_INCOMPATIBLE
                    : XE_FAILURE_UNKNOWN;
        reason = g_strdup_printf("pre-flight: %s", error->message);
        goto failed;
    }
    if (!run_hooks(m, "pre-migrate", &error)) {
        klass = XE_FAILURE_VETOED;
        reason = g_strdup_printf("vetoed: %s", error->message);
        goto failed;
    }

    for (m->attempt = 1;; m->attempt++) {
        Evidence e = { 0 };
        gint64 started = g_get_monotonic_time();
        g_autoptr(GError) fatal = NULL;
        g_autofree char *state = NULL;
        Outcome outcome;

        xe_record_post(m->job, "attempt", m->attempt, NULL);
        outcome = attempt(m, &e, &fatal);
        if (outcome == OUTCOME_COMPLETED) {
            xe_record_post(m->job, "time-to-running",
                           (guint64)(g_get_monotonic_time() - m->created) / 1000, NULL);
            source_gone(m, DESTINATION_RUNS, NULL);
            evidence_clear(&e);
            goto out;
        }
        g_clear_pointer(&reason, g_free);
        if (fatal != NULL) {
            /* The source QEMU went away before it said completed: it never runs the VM
             * again. A destination that loaded all of it (its incoming completed) is the
             * only copy left: run it there; else the VM is gone. */
            reason = g_strdup(fatal->message);
            record_attempt(m, XE_FAILURE_UNKNOWN, reason, started);
            evidence_clear(&e);
            if (m->process != NULL)
                xe_services_end_qemu(m->svc, m->process, 0);
            if (destination_loaded(m) &&
                xe_peer_incoming_finish(m->peer, m->incoming, m->settings->peer_timeout_ms, NULL,
                                        NULL)) {
                xe_record_post(m->job, "time-to-running",
                               (guint64)(g_get_monotonic_time() - m->created) / 1000, NULL);
                source_gone(m, DESTINATION_RUNS, NULL);
                goto out;
            }
            drop_destination(m);
            source_died(m, reason);
            goto out;
        }
        if (e.forced != XE_FAILURE_NONE) {
            klass = e.forced;
            reason = g_strdup(e.forced_reason);
        } else {
            XeFailureEvidence ev = {
                .cancelled = e.cancelled,
                .timed_out = e.timed_out,
                .transport_down = e.transport_down,
                .destination_exited = e.destination_exited,
                .reset_event_source = m->saw_reset,
                .source_error = e.source_error,
                .destination_error = e.destination_error,
            };

            klass = xe_failure_classify(&ev, &reason);
        }
        /* A completed source (postmigrate) runs again only once its destination is known
         * never to have run the VM. */
        if (m->status == XE_QMP_MIGRATION_STATUS_COMPLETED) {
            g_autofree char *why = NULL;
            DestinationFate fate;

            set_phase(m, XE_JOB_PHASE_VERIFYING);
            fate = settle_fate(m, &why);
            if (fate == DESTINATION_UNKNOWN) {
                evidence_clear(&e);
                suspend(m, why);
                goto out;
            }
            if (fate == DESTINATION_RUNS || fate == DESTINATION_LOST) {
                /* Finish did its work; only its answer was lost (or the VM died there) */
                xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vf, NULL,
                             "job %s: %s has VM %s although Finish did not say so (%s)",
                             xe_job_get_id(m->job), m->host, m->spec->name, reason);
                evidence_clear(&e);
                if (fate == DESTINATION_RUNS)
                    xe_record_post(m->job, "time-to-running",
                                   (guint64)(g_get_monotonic_time() - m->created) / 1000, NULL);
                source_gone(m, fate, why);
                goto out;
            }
            /* the destination never ran it and is gone: the source is the VM */
            if (why != NULL) {
                g_autofree char *more = g_strdup_printf("%s; %s", reason, why);

                g_free(reason);
                reason = g_steal_pointer(&more);
            }
            if (!resume_source(m) && m->qmp_gone) {
                record_attempt(m, klass, reason, started);
                evidence_clear(&e);
                source_died(m, "the source QEMU exited while its destination was undone");
                goto out;
            }
        }
        drop_destination(m);
        if (m->qmp_gone) {
            record_attempt(m, klass, reason, started);
            evidence_clear(&e);
            source_died(m, "the source QEMU exited during the migration");
            goto out;
        }
        if (!source_runs(m, &state)) {
            g_autofree char *more =
                g_strdup_printf("%s; the source QEMU is '%s' and did not resume", reason,
                                state != NULL ? state : "unreachable");
            g_free(reason);
            reason = g_steal_pointer(&more);
            m->vm_after = SOURCE_PAUSED;
        }
        record_attempt(m, klass, reason, started);
        evidence_clear(&e);
        if (!xe_failure_is_retryable(klass) || m->attempt > m->policy->retries || m->ruled ||
            g_cancellable_is_cancelled(m->cancellable) || m->vm_after != SOURCE_RUNS)
            goto failed;
        /* retry with a fresh destination, after a backoff */
        if (!xe_job_run_backoff(&m->run, m->policy, m->attempt, klass, reason, m->vf, m->dest_vf,
                                m->cancellable)) {
            klass = XE_FAILURE_CANCELLED;
            g_free(reason);
            reason = g_strdup("cancelled while waiting to retry");
            goto failed;
        }
    }

failed:
    finish_job(m, klass == XE_FAILURE_CANCELLED ? XE_JOB_CANCELLED : XE_JOB_FAILED, klass, reason);
out:
    xe_services_worker_done(m->svc, worker);
    migration_free(m);
    return G_SOURCE_REMOVE;
}

static void
wake_job(GCancellable *stopping, gpointer job)
{
    g_cancellable_cancel(xe_job_get_wake(job));
}

/* On main: what the worker needs of the VM, so that it never reads the record. */
static Migration *
migration_new(XeServices *svc, XeJob *job, XeVm *vm, const char *host)
{
    Migration *m = g_new0(Migration, 1);

    m->svc = g_object_ref(svc);
    m->job = g_object_ref(job);
    m->vm = vm != NULL ? g_object_ref(vm) : NULL;
    m->host = g_strdup(host);
    g_object_get(job, "policy", &m->policy_name, NULL);
    if (vm != NULL) {
        m->spec = xe_vm_spec_copy(xe_vm_get_spec(vm));
        g_object_get(vm, "vf", &m->vf, "reservation", &m->reservation, "qmp-socket", &m->qmp_socket,
                     NULL);
        if (xe_vm_get_process(vm) != NULL)
            m->process = g_object_ref(XE_QEMU_PROCESS(xe_vm_get_process(vm)));
    }
    m->settings = xe_services_get_settings(svc);
    m->cancellable = g_object_ref(xe_job_get_cancellable(job));
    xe_job_run_init(&m->run, svc, job);
    m->created = g_get_monotonic_time();
    m->stopping = g_object_ref(xe_services_get_stopping(svc));
    /* the daemon stopping ends a wait for the destination as an operator's word would */
    m->stop_id =
        g_cancellable_connect(m->stopping, G_CALLBACK(wake_job), g_object_ref(job), g_object_unref);
    m->entry = g_new0(XeJobEntry, 1);
    m->entry->id = g_strdup(xe_job_get_id(job));
    g_object_get(job, "vm", &m->entry->vm, "caller", &m->entry->caller, "started",
                 &m->entry->started, NULL);
    m->entry->host = g_strdup(host);
    m->entry->policy = g_strdup(m->policy_name);
    if (m->process != NULL) {
        m->entry->source_pid = (guint)xe_qemu_process_get_pid(m->process);
        m->entry->source_start = xe_qemu_process_get_start_time(m->process);
    }
    return m;
}

void
migration_start(XeServices *svc, XeJob *job, XeVm *vm, const char *host)
{
    Migration *m = migration_new(svc, job, vm, host);
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(job));

    xe_worker_invoke(xe_services_worker_new(svc, worker), job_thread, m, NULL);
}

/* restart: a job the daemon died under */

static void
connect_source(Migration *m)
{
    g_autofree char *address = NULL;
    g_autoptr(GError) error = NULL;

    if (m->qmp_socket == NULL)
        return;
    address = g_strdup_printf("unix:%s", m->qmp_socket);
    m->qmp = engine_qmp_connect(address, NULL, &error);
    if (m->qmp == NULL) {
        g_warning("job %s: the VM's QEMU monitor: %s", xe_job_get_id(m->job), error->message);
        m->qmp_gone = TRUE;
        return;
    }
    g_signal_connect(m->qmp, "event", G_CALLBACK(on_event), m);
    g_signal_connect(m->qmp, "disconnected", G_CALLBACK(on_disconnected), m);
}

/* Where the source's own migration stands: a QEMU that went on migrating without the
 * daemon is cancelled (it may still complete first). */
static XeQmpMigrationStatus
source_status(Migration *m)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;

    for (guint round = 0; round < 600 && !m->qmp_gone; round++) {
        g_autoptr(XeQmpMigrationInfo) info =
            XE_AWAIT_CALL(&w, xe_qmp_query_migrate_async(m->qmp, NULL, xe_await_cb, &w),
                          xe_qmp_query_migrate_finish(m->qmp, xe_await(&w), NULL));

        if (info == NULL)
            break;
        if (info->status == XE_QMP_MIGRATION_STATUS_NONE ||
            xe_qmp_migration_status_is_final(info->status))
            return info->status;
        if (round == 0)
            xe_qmp_migrate_cancel_async(m->qmp, NULL, NULL, NULL);
        (void)xe_sleep(100, NULL);
    }
    return XE_QMP_MIGRATION_STATUS_UNKNOWN;
}

static gboolean
resume_thread(gpointer data)
{
    Migration *m = data;
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(m->job));
    g_autofree char *why = NULL;
    XeQmpMigrationStatus status = XE_QMP_MIGRATION_STATUS_UNKNOWN;
    DestinationFate fate;

    m->attempt = MAX(m->entry->attempt, 1u);
    m->incoming = *m->entry->incoming != '\0' ? g_strdup(m->entry->incoming) : NULL;
    /* a VM of that name whose QEMU is not the one the job moved (the record outlived its
     * job, and the VM came back since): the job is history, the VM is left alone */
    if (m->vm != NULL && m->process != NULL && m->entry->source_pid != 0 &&
        ((guint)xe_qemu_process_get_pid(m->process) != m->entry->source_pid ||
         xe_qemu_process_get_start_time(m->process) != m->entry->source_start)) {
        first_try_over(m, TRUE);
        m->vm_after = SOURCE_NONE;
        finish_job(m, XE_JOB_FAILED, XE_FAILURE_UNKNOWN,
                   "its record outlived it: VM's QEMU is another one now; nothing was done");
        {
            Finish f = { m, FALSE, XE_VM_RUNNING };

            /* the VM is not held any more */
            xe_call_main(xe_services_get_main(m->svc), main_finish, &f);
        }
        xe_services_worker_done(m->svc, worker);
        migration_free(m);
        return G_SOURCE_REMOVE;
    }
    m->dest_vf = g_strdup(m->entry->dest_vf);
    m->vm_after = SOURCE_RUNS;
    set_phase(m, XE_JOB_PHASE_VERIFYING);
    if (m->vm != NULL) {
        connect_source(m);
        if (!m->qmp_gone)
            status = source_status(m);
    }
    if (m->vm == NULL || m->qmp_gone) {
        /* its QEMU ended while the daemon was down: the VM is the destination's, or gone */
        fate = settle_fate(m, &why);
        first_try_over(m, fate != DESTINATION_UNKNOWN);
        if (fate == DESTINATION_UNKNOWN) {
            suspend(m, why);
        } else if (m->vm != NULL && fate != DESTINATION_RUNS) {
            source_died(m, "the source QEMU ended while xe-migrated was down");
        } else if (m->vm != NULL) {
            source_gone(m, fate, why);
        } else {
            m->vm_after = SOURCE_NONE;
            finish_job(m, fate == DESTINATION_RUNS ? XE_JOB_COMPLETED : XE_JOB_FAILED,
                       fate == DESTINATION_RUNS ? XE_FAILURE_NONE : XE_FAILURE_UNKNOWN,
                       fate == DESTINATION_RUNS
                           ? NULL
                           : "the source QEMU ended while xe-migrated was down");
        }
    } else if (status == XE_QMP_MIGRATION_STATUS_COMPLETED ||
               status == XE_QMP_MIGRATION_STATUS_UNKNOWN) {
        /* completed while nobody watched (or it cannot be told): the destination's
         * incoming decides */
        m->status = status;
        fate = settle_fate(m, &why);
        first_try_over(m, fate != DESTINATION_UNKNOWN);
        if (fate == DESTINATION_UNKNOWN)
            suspend(m, why);
        else if (fate == DESTINATION_RUNS || fate == DESTINATION_LOST)
            source_gone(m, fate, why);
        else if (resume_source(m))
            finish_job(m, XE_JOB_FAILED, XE_FAILURE_UNKNOWN,
                       "xe-migrated restarted during the migration; the VM runs here");
        else
            source_died(m, "the source QEMU did not resume after its destination was undone");
    } else {
        /* never completed: the VM did not leave; whatever the destination holds goes */
        g_autofree char *state = NULL;

        (void)destination_fate(m, &why); /* aborts an incoming still in progress */
        first_try_over(m, TRUE);
        if (!source_runs(m, &state))
            m->vm_after = SOURCE_PAUSED;
        finish_job(m, XE_JOB_FAILED, XE_FAILURE_UNKNOWN,
                   "xe-migrated restarted during the migration; the VM stayed here");
    }
    xe_services_worker_done(m->svc, worker);
    migration_free(m);
    return G_SOURCE_REMOVE;
}

void
migration_resume(XeServices *svc, XeJob *job, XeVm *vm, const XeJobEntry *entry, GTask *done)
{
    Migration *m = migration_new(svc, job, vm, entry->host);
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(job));

    if (m->spec == NULL) {
        m->spec = g_new0(XeVmSpec, 1);
        m->spec->name = g_strdup(entry->vm);
    }
    m->was_running = TRUE; /* it ran when the job started: a job needs a running VM */
    xe_job_entry_free(m->entry);
    m->entry = xe_job_entry_copy(entry);
    m->resume_task = done;
    xe_worker_invoke(xe_services_worker_new(svc, worker), resume_thread, m, NULL);
}
