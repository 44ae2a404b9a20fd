/* xe-migration.c: the source side of a migration job, on its own worker.
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
 *                FLR and goes back to the pool. A completed source never gets cont.
 *   failure      evidence (QMP error-desc, RESET and VFIO_MIGRATION events,
 *                whether the destination QEMU exited, the transport) gives a
 *                class; the destination is torn down; the source runs on;
 *                retryable classes get another attempt after a backoff
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migration"

#include <string.h>

#include "xe-engine-private.h"
#include "xe-error.h"
#include "xe-failure.h"
#include "xe-log.h"
#include "xe-peer.h"
#include "xe-qmp-migration.h"

#define PROGRESS_INTERVAL_MS 250
#define PEER_TIMEOUT_MS      60000
#define CONNECT_TIMEOUT_MS   20000

typedef struct {
    XeEngine *engine;
    XeJob *job;
    XeVm *vm;
    XeVmSpec *spec;
    char *host;
    char *policy_name;
    XeEngineSettings *settings;
    GCancellable *cancellable;
    XePolicy *policy;
    guint64 budget_ms;

    /* source facts */
    char *vf;
    char *reservation;
    char *profile; /* key=value, what the destination must match */
    guint64 vf_bytes;
    guint64 estimate_ms;
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
    const char *vm_state_after_failure; /* "running", or why the source cannot run */

    /* timings */
    const char *phase;
    gint64 phase_started;
    GHashTable *timings; /* phase -> ms */
    GPtrArray *attempts; /* GVariant (ussst): the failed attempts so far */
} Migration;

static void
migration_free(Migration *m)
{
    g_object_unref(m->engine);
    g_object_unref(m->job);
    g_object_unref(m->vm);
    xe_vm_spec_free(m->spec);
    g_free(m->host);
    g_free(m->policy_name);
    engine_settings_free(m->settings);
    g_clear_object(&m->cancellable);
    xe_policy_free(m->policy);
    g_free(m->vf);
    g_free(m->reservation);
    g_free(m->profile);
    if (m->qmp != NULL) {
        g_signal_handlers_disconnect_matched(m->qmp, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, m);
        xe_qmp_client_close(m->qmp);
        g_object_unref(m->qmp);
    }
    xe_peer_free(m->peer);
    g_free(m->incoming);
    g_free(m->dest_vf);
    g_hash_table_unref(m->timings);
    g_ptr_array_unref(m->attempts);
    g_free(m);
}

/* phases and their timings */

static GVariant *
timings_variant(Migration *m)
{
    GVariantBuilder b;
    GHashTableIter iter;
    gpointer key, value;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
    g_hash_table_iter_init(&iter, m->timings);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_variant_builder_add(&b, "{st}", key, *(guint64 *)value);
    return g_variant_builder_end(&b);
}

static void
set_phase(Migration *m, const char *phase)
{
    gint64 now = g_get_monotonic_time();

    if (m->phase != NULL) {
        guint64 *ms = g_hash_table_lookup(m->timings, m->phase);

        if (ms == NULL) {
            ms = g_new0(guint64, 1);
            g_hash_table_insert(m->timings, (gpointer)m->phase, ms);
        }
        *ms += (guint64)(now - m->phase_started) / 1000;
    }
    m->phase = phase;
    m->phase_started = now;
    xe_record_post(m->job, "phase", phase, "timings", timings_variant(m), NULL);
}

/* hooks: the job as JSON (what D-Bus shows), plus the hook's phase and the VFs */

typedef struct {
    XeJob *job;
    JsonNode *doc;
} JobJson;

static gboolean
main_job_json(gpointer data)
{
    JobJson *j = data;

    j->doc = xe_job_to_json(j->job);
    return G_SOURCE_REMOVE;
}

static gboolean
run_hooks(Migration *m, const char *phase, GError **error)
{
    JobJson j = { m->job, NULL };
    g_autoptr(JsonNode) doc = NULL;
    JsonObject *obj;

    xe_call_main(m->engine->main, main_job_json, &j); /* after every change posted so far */
    doc = j.doc;
    obj = json_node_get_object(doc);
    json_object_set_string_member(obj, "phase", phase);
    json_object_set_string_member(obj, "job-phase", m->phase != NULL ? m->phase : "");
    json_object_set_string_member(obj, "vf", m->vf != NULL ? m->vf : "");
    json_object_set_string_member(obj, "destination-vf", m->dest_vf != NULL ? m->dest_vf : "");
    return engine_hooks(m->engine, phase, doc, error);
}

static void
inform(Migration *m, const char *phase)
{
    (void)run_hooks(m, phase, NULL); /* informative: xe-hooks logs failures */
}

/* QMP on the worker */

static void
on_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 timestamp,
         gpointer user_data)
{
    Migration *m = user_data;

    if (g_str_equal(name, XE_QMP_EVENT_MIGRATION)) {
        XeQmpMigrationStatus status;

        if (xe_qmp_event_migration_parse(data, &status))
            m->status = status;
    } else if (g_str_equal(name, XE_QMP_EVENT_RESET)) {
        m->saw_reset = TRUE;
    } else if (g_str_equal(name, XE_QMP_EVENT_RESUME)) {
        m->resumed = TRUE;
    } else if (g_str_equal(name, XE_QMP_EVENT_STOP)) {
        m->stop_time = g_get_monotonic_time();
    } else if (g_str_equal(name, XE_QMP_EVENT_VFIO_MIGRATION)) {
        const char *dev = NULL, *qom = NULL;
        XeQmpVfioState state;

        /* Logged for the record only: QEMU announces the states it sets, and after a
         * failure it sets RUNNING itself, so the event cannot tell a reset from a
         * recovery. The reset shows as ENODEV in the error (kernel-interfaces 3.3). */
        if (xe_qmp_event_vfio_migration_parse(data, &dev, &qom, &state))
            g_debug("job %s: %s is %s", xe_job_get_id(m->job), dev,
                    xe_qmp_vfio_state_to_string(state));
    }
}

static void
on_disconnected(XeQmpClient *client, GError *reason, gpointer user_data)
{
    Migration *m = user_data;

    m->qmp_gone = TRUE;
}

/* pre-flight */

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
    g_object_get(m->vm, "vf", &m->vf, "reservation", &m->reservation, "qmp-socket", &qmp, NULL);
    if (!engine_vf_facts(m->engine, m->vf, &driver, &support)) {
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
    if (!engine_agent_run(m->engine, XE_AGENT_OP_READ_PROFILE, m->vf, NULL, "xe-migrated (job)",
                          &m->profile, error) ||
        !engine_agent_run(m->engine, XE_AGENT_OP_MIGRATION_SIZE, m->vf, NULL, "xe-migrated (job)",
                          &size, error))
        return FALSE;
    m->vf_bytes = g_ascii_strtoull(size, NULL, 10);

    /* the budget: the VF's state moves while the guest is stopped */
    budgeted = *m->policy;
    budgeted.downtime_budget_ms = m->budget_ms;
    if (budgeted.switchover_bandwidth > 0) {
        m->estimate_ms = xe_policy_estimate_downtime_ms(&budgeted, m->vf_bytes, 0, 0);
        xe_record_post(m->job, "expected-downtime", m->estimate_ms, NULL);
        if (!xe_policy_check_budget(&budgeted, m->vf_bytes, 0, 0, error))
            return FALSE;
    } else {
        /* "auto": the budget is checked against the bandwidth QEMU measures once the
         * live phase runs (follow()); until then the limit starts from the overhead. */
        m->estimate_ms = budgeted.setup_overhead_ms;
    }

    /* the source QEMU */
    address = g_strdup_printf("unix:%s", qmp);
    m->qmp = engine_qmp_connect(address, m->cancellable, error);
    if (m->qmp == NULL) {
        g_prefix_error(error, "the VM's QEMU monitor: ");
        return FALSE;
    }
    g_signal_connect(m->qmp, "event", G_CALLBACK(on_event), m);
    g_signal_connect(m->qmp, "disconnected", G_CALLBACK(on_disconnected), m);
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
        g_autofree char *why = g_strjoinv("; ", info->blocked_reasons);

        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED, "QEMU blocks migration: %s", why);
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
    guint64 bw, estimate;

    /* A second of live phase first: the first chunks say little about the link. */
    if (m->policy->switchover_bandwidth > 0 || !info->has_ram || info->ram.mbps <= 0 ||
        m->switchover_seen || !info->has_total_time || info->total_time_ms < 1000)
        return TRUE;
    bw = (guint64)(info->ram.mbps * 1e6 / 8);
    budgeted.downtime_budget_ms = m->budget_ms;
    estimate = xe_policy_estimate_downtime_ms(
        &budgeted, m->vf_bytes, info->ram.has_remaining ? info->ram.remaining : 0, bw);
    m->estimate_ms = estimate;
    xe_record_post(m->job, "expected-downtime", estimate, NULL);
    if (estimate <= m->budget_ms)
        return TRUE;
    *why = g_strdup_printf("the switchover would stop the guest for about %" G_GUINT64_FORMAT
                           " ms (VF state %.1f MiB at the measured %.1f MB/s), over the budget of "
                           "%" G_GUINT64_FORMAT " ms: raise the VM's downtime-budget-ms or the "
                           "bandwidth",
                           estimate, m->vf_bytes / 1048576.0, bw / 1e6, m->budget_ms);
    return FALSE;
}

static void
progress(Migration *m, const XeQmpMigrationInfo *info, guint64 *last_bytes, gint64 *last_time)
{
    guint64 ram = info->has_ram ? info->ram.transferred : 0;
    guint64 dev = info->has_vfio ? info->vfio_transferred : 0;
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
    if (info->has_expected_downtime)
        xe_record_post(m->job, "expected-downtime", MAX(info->expected_downtime_ms, m->estimate_ms),
                       NULL);
}

static gboolean
set_downtime_limit(Migration *m, guint64 ms, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    XeQmpMigrationParameters p = { .has_downtime_limit = TRUE, .downtime_limit_ms = ms };

    xe_qmp_migrate_set_parameters_async(m->qmp, &p, NULL, xe_await_cb, &w);
    if (!xe_qmp_migrate_set_parameters_finish(m->qmp, xe_await(&w), error))
        return FALSE;
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
    xe_record_post(m->job, "downtime-limit", params.downtime_limit_ms, NULL);
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
            set_phase(m, "switchover");
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
    if (polling && g_atomic_pointer_get(&w.result) == NULL && !m->qmp_gone)
        (void)xe_await(&w);
    g_cancellable_disconnect(m->cancellable, cancel_id);
    g_source_destroy(timer);
    g_source_unref(timer);
    return m->qmp_gone ? XE_QMP_MIGRATION_STATUS_UNKNOWN : m->status;
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
        const char *text = NULL;
        gboolean exited = FALSE;

        if (props == NULL) {
            e->transport_down = e->transport_down || !xe_peer_is_connected(m->peer);
            return;
        }
        g_variant_lookup(props, "Exited", "b", &exited);
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
        !xe_peer_incoming_abort(m->peer, m->incoming, PEER_TIMEOUT_MS, NULL))
        xe_peer_close(m->peer);
    g_clear_pointer(&m->peer, xe_peer_free);
    g_clear_pointer(&m->incoming, g_free);
}

typedef enum {
    DESTINATION_RUNS, /* the peer runs the VM: Finish's answer was lost, the migration is done */
    DESTINATION_DEAD, /* its incoming is gone, never having run: the source is the only copy */
    DESTINATION_UNKNOWN,
} DestinationFate;

/* After the source completed but Finish failed: where is the VM? Asked over the
 * peer connection, or a fresh one; the incoming is aborted on the way if it is
 * still there, so that "dead" is true once this returns. */
static DestinationFate
destination_fate(Migration *m)
{
    g_autoptr(XePeer) fresh = NULL;
    g_autoptr(GError) error = NULL;
    XePeer *peer = m->peer;

    if (peer == NULL || !xe_peer_is_connected(peer)) {
        fresh = xe_peer_connect((const char *const *)m->settings->transport, m->host,
                                CONNECT_TIMEOUT_MS, NULL, &error);
        if (fresh == NULL)
            return DESTINATION_UNKNOWN;
        peer = fresh;
    }
    if (xe_peer_runs_vm(peer, m->spec->name, PEER_TIMEOUT_MS, &error))
        return DESTINATION_RUNS;
    if (error != NULL)
        return DESTINATION_UNKNOWN;
    if (m->incoming == NULL || xe_peer_incoming_abort(peer, m->incoming, PEER_TIMEOUT_MS, &error))
        return DESTINATION_DEAD;
    return g_error_matches(error, XE_ERROR, XE_ERROR_NOT_FOUND) ||
                   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
                   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD)
               ? DESTINATION_DEAD
               : DESTINATION_UNKNOWN;
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
    set_phase(m, "preparing-destination");
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
    g_variant_builder_add(&options, "{sv}", "multifd-channels",
                          g_variant_new_uint32(m->policy->multifd_channels));
    g_variant_builder_add(&options, "{sv}", "host", g_variant_new_string(m->host));
    spec = g_variant_ref_sink(xe_vm_spec_to_variant(m->spec));
    prepared = xe_peer_prepare_incoming(m->peer, spec, m->profile, g_variant_builder_end(&options),
                                        PEER_TIMEOUT_MS, m->cancellable, &local);
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

    /* the source */
    set_phase(m, "migrating");
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
    set_phase(m, "verifying");
    if (!xe_peer_incoming_finish(m->peer, m->incoming, PEER_TIMEOUT_MS, NULL, &local)) {
        gather_destination(m, e);
        e->forced = XE_FAILURE_UNKNOWN;
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
    XeQemuProcess *process = (XeQemuProcess *)xe_vm_get_process(m->vm);

    set_phase(m, "cleanup");
    xe_record_post(m->vm, "state", "migrated", NULL);
    (void)XE_AWAIT_CALL(&w, xe_qmp_quit_async(m->qmp, NULL, xe_await_cb, &w),
                        xe_qmp_quit_finish(m->qmp, xe_await(&w), NULL));
    if (process != NULL)
        engine_end_qemu(m->engine, process, 5000);
    else
        /* adopted: its monitor closing is all we see of its exit */
        wait_flag(&m->qmp_gone, 5000);
    if (!engine_release(m->engine, m->reservation, TRUE, "xe-migrated (job)", &error))
        g_warning("job %s: %s", xe_job_get_id(m->job), error->message);
}

typedef struct {
    Migration *m;
    const char *vm_state;
} Finish;

static gboolean
main_finish(gpointer data)
{
    Finish *f = data;

    if (f->vm_state != NULL && g_str_equal(f->vm_state, "migrated"))
        engine_vm_remove(f->m->engine, f->m->vm);
    else if (f->vm_state != NULL)
        g_object_set(f->m->vm, "state", f->vm_state, "job", "", NULL);
    return G_SOURCE_REMOVE;
}

static void
record_attempt(Migration *m, XeFailureClass klass, const char *reason, gint64 started)
{
    g_ptr_array_add(m->attempts, g_variant_ref_sink(g_variant_new(
                                     "(ussst)", m->attempt, xe_failure_to_string(klass), reason,
                                     m->dest_vf != NULL ? m->dest_vf : "",
                                     (guint64)(g_get_monotonic_time() - started) / 1000)));
    xe_record_post(m->job, "attempts",
                   g_variant_new_array(G_VARIANT_TYPE("(ussst)"), (GVariant **)m->attempts->pdata,
                                       m->attempts->len),
                   NULL);
}

static void
finish_job(Migration *m, const char *state, XeFailureClass klass, const char *reason)
{
    Finish f = { m, NULL };

    set_phase(m, "done");
    xe_record_post(m->job, "state", state, "failure-class",
                   klass == XE_FAILURE_NONE ? "" : xe_failure_to_string(klass), "failure-reason",
                   reason != NULL ? reason : "", "finished", g_get_real_time(), NULL);
    if (g_str_equal(state, "completed")) {
        f.vm_state = "migrated";
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vf, NULL,
                     "job %s: VM %s now runs on %s (%s), attempt %u", xe_job_get_id(m->job),
                     m->spec->name, m->host, m->dest_vf, m->attempt);
        inform(m, "completed");
    } else {
        f.vm_state = m->vm_state_after_failure;
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vf, NULL,
                     "job %s: VM %s not migrated to %s: %s (%s)", xe_job_get_id(m->job),
                     m->spec->name, m->host, xe_failure_to_string(klass), reason);
        inform(m, "failed");
    }
    xe_call_main(m->engine->main, main_finish, &f);
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

    xe_record_post(m->job, "state", "running", NULL);
    m->vm_state_after_failure = "running";
    set_phase(m, "preflight");
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
        klass = XE_FAILURE_CANCELLED;
        reason = g_strdup_printf("vetoed: %s", error->message);
        goto failed;
    }

    for (m->attempt = 1;; m->attempt++) {
        Evidence e = { 0 };
        gint64 started = g_get_monotonic_time();
        g_autoptr(GError) fatal = NULL;
        g_autofree char *state = NULL;
        Outcome outcome;
        guint64 delay;

        xe_record_post(m->job, "attempt", m->attempt, NULL);
        outcome = attempt(m, &e, &fatal);
        if (outcome == OUTCOME_COMPLETED) {
            g_clear_pointer(&m->peer, xe_peer_free);
            cleanup_source(m);
            evidence_clear(&e);
            finish_job(m, "completed", XE_FAILURE_NONE, NULL);
            goto out;
        }
        g_clear_pointer(&reason, g_free);
        if (fatal != NULL) {
            /* the source QEMU is gone: no VM to keep running, nothing to retry */
            klass = XE_FAILURE_UNKNOWN;
            reason = g_strdup(fatal->message);
            m->vm_state_after_failure = "stopped";
            drop_destination(m);
            evidence_clear(&e);
            record_attempt(m, klass, reason, started);
            goto failed;
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
        /* The source must run again before anything else; a completed source
         * (postmigrate) only once its destination is known dead. */
        if (m->status == XE_QMP_MIGRATION_STATUS_COMPLETED) {
            DestinationFate fate = destination_fate(m);

            if (fate == DESTINATION_RUNS) {
                /* Finish did its work; only its answer was lost. */
                xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vf, NULL,
                             "job %s: %s runs VM %s although Finish did not answer (%s)",
                             xe_job_get_id(m->job), m->host, m->spec->name, reason);
                g_clear_pointer(&m->peer, xe_peer_free);
                evidence_clear(&e);
                cleanup_source(m);
                finish_job(m, "completed", XE_FAILURE_NONE, NULL);
                goto out;
            }
            if (fate == DESTINATION_DEAD) {
                g_auto(XeAwait) w = XE_AWAIT_INIT;

                /* The destination never ran and is gone: the source is the VM. */
                (void)XE_AWAIT_CALL(&w, xe_qmp_cont_async(m->qmp, NULL, xe_await_cb, &w),
                                    xe_qmp_cont_finish(m->qmp, xe_await(&w), NULL));
            } else {
                g_autofree char *more = g_strdup_printf(
                    "%s; the destination could not be confirmed dead, so the source stays "
                    "paused (postmigrate): resume it only once the destination QEMU is gone",
                    reason);

                m->vm_state_after_failure = "postmigrate";
                g_free(reason);
                reason = g_steal_pointer(&more);
                record_attempt(m, klass, reason, started);
                evidence_clear(&e);
                klass = XE_FAILURE_UNKNOWN;
                goto failed;
            }
        }
        drop_destination(m);
        if (!source_runs(m, &state)) {
            g_autofree char *more =
                g_strdup_printf("%s; the source QEMU is '%s' and did not resume", reason,
                                state != NULL ? state : "unreachable");
            g_free(reason);
            reason = g_steal_pointer(&more);
            m->vm_state_after_failure = "paused";
        }
        record_attempt(m, klass, reason, started);
        evidence_clear(&e);
        if (!xe_failure_is_retryable(klass) || m->attempt > m->policy->retries ||
            g_cancellable_is_cancelled(m->cancellable) ||
            g_strcmp0(m->vm_state_after_failure, "running") != 0)
            goto failed;
        /* retry with a fresh destination, after a backoff */
        delay = xe_policy_backoff_ms(m->policy, m->attempt, g_random_double_range(-1, 1));
        set_phase(m, "backoff");
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_RETRYING, NULL, m->vf, NULL,
                     "job %s: attempt %u failed (%s: %s); retrying in %" G_GUINT64_FORMAT " ms",
                     xe_job_get_id(m->job), m->attempt, xe_failure_to_string(klass), reason, delay);
        inform(m, "retrying");
        if (!xe_sleep(delay, m->cancellable)) {
            klass = XE_FAILURE_CANCELLED;
            g_free(reason);
            reason = g_strdup("cancelled while waiting to retry");
            goto failed;
        }
    }

failed:
    finish_job(m, klass == XE_FAILURE_CANCELLED ? "cancelled" : "failed", klass, reason);
out:
    engine_worker_done(m->engine, worker);
    migration_free(m);
    return G_SOURCE_REMOVE;
}

void
migration_start(XeEngine *self, XeJob *job, XeVm *vm, const char *host)
{
    Migration *m = g_new0(Migration, 1);
    g_autofree char *policy = NULL;
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(job));

    m->engine = g_object_ref(self);
    m->job = g_object_ref(job);
    m->vm = g_object_ref(vm);
    m->spec = xe_vm_spec_copy(xe_vm_get_spec(vm));
    m->host = g_strdup(host);
    g_object_get(job, "policy", &m->policy_name, NULL);
    m->settings = engine_settings(self);
    m->cancellable = g_object_ref(xe_job_get_cancellable(job));
    m->timings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    m->attempts = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
    xe_worker_invoke(engine_worker(self, worker), job_thread, m, NULL);
}
