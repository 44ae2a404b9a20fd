/* xe-domain-migration.c: a libvirt domain's migration job, source side, on its own worker:
 * the same job (phases, progress, hooks, failure classes, retries) as a QMP-mode one
 * (xe-source.c), with libvirt moving the domain.
 *
 *   pre-flight   the domain runs (or is paused) on this host's libvirt; each of its Xe VFs
 *                (those xe-migrated's metadata names) is bound to xe-vfio-pci on a PF that
 *                supports migration, provisioned as the metadata says, and has the
 *                enable-migration override (without it QEMU blocks and libvirt refuses);
 *                the VFs' state and the guest's RAM against the policy's budget (libvirt's
 *                legacy VFIO container reports all of the RAM dirty: the switchover resends
 *                it); pre-migrate hooks
 *   attempt      the destination's daemon reserves a VF like each of the source's before
 *                anything stops (Manager.PrepareIncomingDomain); virDomainMigrateToURI3,
 *                peer-to-peer, live, persistent on the destination, never post-copy, with
 *                the destination XML naming those VFs (the hook there keeps them) and the
 *                policy's bandwidths and connections; libvirt's job statistics every 250 ms
 *                give the progress (RAM and VFIO bytes); the downtime is stepped within the
 *                budget; a stall, the completion timeout and Cancel abort libvirt's job
 *                (a lost peer daemon does not: libvirt runs both ends)
 *   completion   libvirt's: the destination runs the domain before the source's QEMU
 *                ends, and the source's release hook resets the old VFs and returns them to
 *                the pool; libvirt's JOB_COMPLETED event (libvirt-glib dispatches it on the
 *                daemon's main loop) gives the guest's downtime
 *   failure      libvirt resumes the source; where the domain runs is asked from libvirt on
 *                both hosts (the peer daemon lists its domains); the class comes from
 *                libvirt's error (QEMU's text carried through); what the destination
 *                reserved is given back (AbortIncomingDomain, refused there while the
 *                domain runs); retryable classes get another attempt with fresh VFs
 *
 * Nothing here is journaled: libvirt records where the domain runs (its status XML on both
 * hosts) and finishes or undoes its own migration whether this daemon lives or not. A daemon
 * that dies under a job leaves at most reservations whose domain runs elsewhere, which each
 * host's libvirt reconcile releases (xe-libvirt.c).
 *
 * libvirt's calls block: they run on the job's worker, the migration itself on a thread of
 * its own while the worker follows it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <string.h>

#include "xe-engine-private.h"
#include "xe-error.h"
#include "xe-failure.h"
#include "xe-host.h"
#include "xe-job-run.h"
#include "xe-libvirt-xml.h"
#include "xe-log.h"
#include "xe-peer.h"

#define PROGRESS_INTERVAL_MS 250
#define CONNECT_TIMEOUT_MS   20000
#define EVENT_WAIT_MS        5000 /* JOB_COMPLETED after the API returned */
#define CALLER               "xe-migrated (libvirt job)"

/* JOB_COMPLETED, from the main loop (libvirt-glib's event loop) to the worker */
typedef struct {
    gint ref;
    GMutex lock;
    GCond cond;
    gboolean seen;
    guint64 downtime_ms, total_ms, vfio_bytes;
} Completed;

static Completed *
completed_ref(Completed *c)
{
    g_atomic_int_inc(&c->ref);
    return c;
}

static void
completed_unref(gpointer data)
{
    Completed *c = data;

    if (!g_atomic_int_dec_and_test(&c->ref))
        return;
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->cond);
    g_free(c);
}

typedef struct {
    XeEngine *self;
    XeJob *job;
    char *name;
    char *host;
    char *uri; /* this host's libvirt */
    char *policy_name;
    XeEngineSettings *settings;
    GCancellable *cancellable;
    GCancellable *stopping; /* the daemon stops: settling is left to the next start */
    XePolicy *policy;
    guint64 budget_ms;
    XeJobRun run;
    gint64 created;

    virConnectPtr conn;
    virDomainPtr dom;
    char *xml;      /* migratable, live */
    char *inactive; /* the persistent definition, migratable; NULL for a transient domain */
    char *vfs;      /* the source VFs, ", "-joined (hooks, log) */
    gboolean persistent;
    gboolean was_running;
    guint64 vf_bytes, ram_bytes, estimate_ms, limit_ms;

    /* this attempt */
    guint attempt;
    XePeer *peer;
    char *dest_xml;
    char *dest_persist_xml; /* the definition for the destination, pointing at its VFs */
    char *dest_vfs;
    Completed *completed;
    int event_id;
} DomainMigration;

static void
domain_migration_free(DomainMigration *m)
{
    if (m->event_id >= 0 && m->conn != NULL)
        virConnectDomainEventDeregisterAny(m->conn, m->event_id);
    if (m->dom != NULL)
        virDomainFree(m->dom);
    if (m->conn != NULL)
        virConnectClose(m->conn);
    g_object_unref(m->self);
    g_object_unref(m->job);
    g_free(m->name);
    g_free(m->host);
    g_free(m->uri);
    g_free(m->policy_name);
    engine_settings_free(m->settings);
    g_object_unref(m->cancellable);
    g_object_unref(m->stopping);
    xe_policy_free(m->policy);
    xe_job_run_clear(&m->run);
    g_free(m->xml);
    g_free(m->inactive);
    g_free(m->vfs);
    xe_peer_free(m->peer);
    g_free(m->dest_xml);
    g_free(m->dest_persist_xml);
    g_free(m->dest_vfs);
    if (m->completed != NULL)
        completed_unref(m->completed);
    g_free(m);
}

static gboolean
libvirt_failed(GError **error, XeErrorCode code, const char *what)
{
    const char *message = virGetLastErrorMessage();

    g_set_error(error, XE_ERROR, code, "%s: %s", what,
                message != NULL ? message : "unknown libvirt error");
    return FALSE;
}

static void
inform(DomainMigration *m, const char *phase)
{
    xe_job_run_inform(&m->run, phase, m->vfs, m->dest_vfs);
}

/* "running", "paused" (with libvirt's reason), "other", or NULL when the domain is not
 * active here; "unknown" when libvirt cannot say (its error logged). */
static char *
local_state(DomainMigration *m, int *reason_out)
{
    int state = VIR_DOMAIN_NOSTATE, reason = 0;
    int active = virDomainIsActive(m->dom);

    if (active == 0)
        return NULL;
    if (active < 0 || virDomainGetState(m->dom, &state, &reason, 0) < 0) {
        g_message("job %s: libvirt cannot say what domain %s does here: %s", xe_job_get_id(m->job),
                  m->name, virGetLastErrorMessage());
        return g_strdup("unknown");
    }
    if (reason_out != NULL)
        *reason_out = reason;
    return g_strdup(state == VIR_DOMAIN_RUNNING  ? "running"
                    : state == VIR_DOMAIN_PAUSED ? "paused"
                                                 : "other");
}

/* pre-flight */

static gboolean
check_vf(DomainMigration *m, const XeLibvirtVf *vf, const char *domain_xml, GError **error)
{
    g_autofree char *driver = NULL, *support = NULL, *reason = NULL, *size = NULL;
    g_auto(GStrv) missing = NULL;
    g_autoptr(GError) local = NULL;

    if (!engine_vf_facts(m->self, vf->host, &driver, &support)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "the domain's VF %s is not a VF of this host's Xe PFs", vf->host);
        return FALSE;
    }
    if (!g_str_equal(driver, XE_DRIVER_VFIO)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "VF %s is bound to '%s', not " XE_DRIVER_VFIO ": its state cannot migrate",
                    vf->host, *driver != '\0' ? driver : "nothing");
        return FALSE;
    }
    if (g_str_equal(support, "no")) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "the PF of %s does not support VF migration (GuC firmware or platform)",
                    vf->host);
        return FALSE;
    }
    missing = xe_libvirt_xml_missing(domain_xml, vf->host, &local);
    if (local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (missing != NULL) {
        g_autofree char *all = g_strjoinv("; ", missing);

        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "QEMU would block the migration of VF %s: %s (xe-migratectl domain-prepare "
                    "%s adds it to the definition; it applies from the domain's next start)",
                    vf->host, all, m->name);
        return FALSE;
    }
    /* the destination provisions what the metadata says: the VF must hold it */
    if (!engine_agent_run(m->self, XE_AGENT_OP_CHECK, vf->host, vf->profile, CALLER, &reason,
                          error))
        return FALSE;
    if (*reason != '\0') {
        g_set_error(error, XE_ERROR, XE_ERROR_INCOMPATIBLE,
                    "VF %s is not provisioned as xe-migrated's metadata says (%s): %s", vf->host,
                    vf->profile, reason);
        return FALSE;
    }
    if (!engine_agent_run(m->self, XE_AGENT_OP_MIGRATION_SIZE, vf->host, NULL, CALLER, &size,
                          error))
        return FALSE;
    m->vf_bytes += g_ascii_strtoull(size, NULL, 10);
    return TRUE;
}

static gboolean
preflight(DomainMigration *m, GError **error)
{
    g_autoptr(XeLibvirtDomain) d = NULL;
    g_autoptr(GString) vfs = g_string_new(NULL);
    g_autofree char *state = NULL;
    GPtrArray *list;
    virDomainInfo info;
    XePolicy budgeted;

    m->policy = engine_load_policy(m->settings, m->policy_name, error);
    if (m->policy == NULL)
        return FALSE;
    m->budget_ms = m->policy->downtime_budget_ms;
    xe_record_post(m->job, "max-attempts", m->policy->retries + 1, NULL);

    m->conn = virConnectOpen(m->uri);
    if (m->conn == NULL) {
        g_autofree char *what = g_strdup_printf("cannot connect to libvirt at %s", m->uri);

        return libvirt_failed(error, XE_ERROR_FAILED, what);
    }
    m->dom = virDomainLookupByName(m->conn, m->name);
    if (m->dom == NULL || (state = local_state(m, NULL)) == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "libvirt domain '%s' does not run on this host", m->name);
        return FALSE;
    }
    if (g_str_equal(state, "other") || g_str_equal(state, "unknown")) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "domain '%s' is neither running nor paused: it migrates from either", m->name);
        return FALSE;
    }
    m->was_running = g_str_equal(state, "running");
    m->persistent = virDomainIsPersistent(m->dom) == 1;
    /* (secure: what the destination defines keeps the domain's passwords) */
    m->xml = virDomainGetXMLDesc(m->dom, VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);
    if (m->xml == NULL)
        return libvirt_failed(error, XE_ERROR_FAILED, "reading the domain's XML");
    if (m->persistent && (m->inactive = virDomainGetXMLDesc(
                              m->dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_MIGRATABLE |
                                          VIR_DOMAIN_XML_SECURE)) == NULL)
        return libvirt_failed(error, XE_ERROR_FAILED, "reading the domain's definition");
    d = xe_libvirt_domain_parse(m->xml, error);
    if (d == NULL)
        return FALSE;
    list = xe_libvirt_domain_get_vfs(d);
    if (list->len == 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "domain '%s' has no Xe VF in xe-migrated's metadata: virsh migrate moves "
                    "it, or xe-migratectl domain-prepare %s adds the metadata",
                    m->name, m->name);
        return FALSE;
    }
    for (guint i = 0; i < list->len; i++) {
        const XeLibvirtVf *vf = list->pdata[i];

        if (!check_vf(m, vf, m->xml, error))
            return FALSE;
        g_string_append_printf(vfs, "%s%s", i > 0 ? ", " : "", vf->host);
    }
    m->vfs = g_strdup(vfs->str);

    /* the budget: the VFs' state, and the RAM resent, move while the guest is stopped */
    if (virDomainGetInfo(m->dom, &info) < 0)
        return libvirt_failed(error, XE_ERROR_FAILED, "reading the domain's memory size");
    m->ram_bytes = (guint64)info.memory * 1024;
    budgeted = *m->policy;
    if (budgeted.switchover_bandwidth > 0) {
        m->estimate_ms = xe_policy_estimate_downtime_ms(&budgeted, m->vf_bytes, m->ram_bytes, 0);
        xe_record_post(m->job, "expected-downtime", m->estimate_ms, NULL);
        if (!xe_policy_check_budget(&budgeted, m->vf_bytes, m->ram_bytes, 0, error)) {
            g_prefix_error(error,
                           "libvirt's legacy VFIO container reports every page of the guest's "
                           "RAM dirty (xe-vfio-pci has no DMA logging), so the switchover "
                           "resends all of it: ");
            return FALSE;
        }
    } else {
        m->estimate_ms = budgeted.setup_overhead_ms;
    }
    return TRUE;
}

/* one attempt */

typedef struct {
    gboolean timed_out;
    gboolean cancelled;
    char *error; /* libvirt's */
    XeFailureClass forced;
    char *forced_reason;
} Evidence;

static void
evidence_clear(Evidence *e)
{
    g_free(e->error);
    g_free(e->forced_reason);
    memset(e, 0, sizeof(*e));
}

/* virDomainMigrateToURI3 on a thread of its own, the worker following it */
typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done;
    int ret;
    char *error;
    virDomainPtr dom;
    char *dconnuri;
    virTypedParameterPtr params;
    int nparams;
    unsigned int flags;
} Perform;

static gpointer
perform_thread(gpointer data)
{
    Perform *p = data;
    int ret =
        virDomainMigrateToURI3(p->dom, p->dconnuri, p->params, (unsigned)p->nparams, p->flags);
    char *error = ret < 0 ? g_strdup(virGetLastErrorMessage()) : NULL;

    g_mutex_lock(&p->lock);
    p->ret = ret;
    p->error = error;
    p->done = TRUE;
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
    return NULL;
}

static void
perform_wake(GCancellable *cancellable, gpointer data)
{
    Perform *p = data;

    g_mutex_lock(&p->lock);
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
}

static void
on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params, int nparams,
                 void *opaque)
{
    Completed *c = opaque;
    unsigned long long v;

    g_mutex_lock(&c->lock);
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DOWNTIME, &v) == 1)
        c->downtime_ms = v;
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_TIME_ELAPSED, &v) == 1)
        c->total_ms = v;
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_VFIO_DATA_TRANSFERRED, &v) == 1)
        c->vfio_bytes = v;
    c->seen = TRUE;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void
progress(DomainMigration *m, guint64 *last_bytes, gint64 *last_time, guint64 *throughput,
         gboolean *ram_sent)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0, type = VIR_DOMAIN_JOB_NONE;
    unsigned long long processed = 0, total = 0, remaining = 0, vfio = 0, bps = 0;

    if (virDomainGetJobStats(m->dom, &type, &params, &nparams, 0) < 0 ||
        type == VIR_DOMAIN_JOB_NONE) {
        virTypedParamsFree(params, nparams);
        return;
    }
    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_PROCESSED, &processed);
    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_TOTAL, &total);
    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_REMAINING, &remaining);
    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_VFIO_DATA_TRANSFERRED, &vfio);
    virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_MEMORY_BPS, &bps);
    virTypedParamsFree(params, nparams);
    /* QEMU counts the VFIO bytes in the RAM it transferred too (they share its stream) */
    processed -= MIN(processed, vfio);
    if (processed + vfio != *last_bytes) {
        *last_bytes = processed + vfio;
        *last_time = g_get_monotonic_time();
    }
    *throughput = bps;
    /* the RAM is sent: what is left moves in the switchover (QEMU's own count of it too) */
    *ram_sent = processed > 0 && remaining == 0;
    xe_record_post(m->job, "ram-transferred", (guint64)processed, "ram-total", (guint64)total,
                   "ram-remaining", (guint64)remaining, "device-bytes", (guint64)vfio, "throughput",
                   (guint64)bps, NULL);
}

static void
set_downtime(DomainMigration *m, guint64 ms)
{
    if (virDomainMigrateSetMaxDowntime(m->dom, ms, 0) < 0) {
        g_debug("job %s: downtime %" G_GUINT64_FORMAT " ms not set: %s", xe_job_get_id(m->job), ms,
                virGetLastErrorMessage());
        return;
    }
    m->limit_ms = ms;
    xe_record_post(m->job, "downtime-limit", ms, NULL);
}

/* With switchover-bandwidth=auto: the estimate from the bandwidth libvirt measured in the
 * live phase. FALSE (with *@why) when it exceeds the budget. */
static gboolean
measured_estimate(DomainMigration *m, guint64 bps, gint64 elapsed_us, char **why)
{
    XePolicy budgeted = *m->policy;
    guint64 estimate;

    if (m->policy->switchover_bandwidth > 0 || bps == 0 || elapsed_us < G_USEC_PER_SEC)
        return TRUE;
    estimate = xe_policy_estimate_downtime_ms(&budgeted, m->vf_bytes, m->ram_bytes, bps);
    m->estimate_ms = estimate;
    xe_record_post(m->job, "expected-downtime", estimate, NULL);
    if (estimate <= m->budget_ms)
        return TRUE;
    *why = g_strdup_printf("the switchover would stop the guest for about %" G_GUINT64_FORMAT
                           " ms (VF state %.1f MiB and RAM %.1f MiB at the measured %.1f MB/s), "
                           "over the budget of %" G_GUINT64_FORMAT " ms: raise the policy's "
                           "downtime-budget-ms or the bandwidth",
                           estimate, m->vf_bytes / 1048576.0, m->ram_bytes / 1048576.0, bps / 1e6,
                           m->budget_ms);
    return FALSE;
}

/* Follows libvirt's job until the API returns: progress, the downtime steps, the phase
 * (switchover once libvirt paused the guest for it), and an abort on a stall in the live
 * phase (the switchover moves the VF's state with no count until its end), the completion
 * timeout or Cancel. */
/* libvirt aborts QEMU's migration and resumes the source; a switchover that already
 * completed is not abortable and ends as it would have. FALSE when libvirt did not take it
 * (no job yet, a lost answer): asked again at the next interval. */
static gboolean
abort_job(DomainMigration *m)
{
    if (virDomainAbortJob(m->dom) == 0)
        return TRUE;
    g_message("job %s: libvirt did not abort (yet): %s", xe_job_get_id(m->job),
              virGetLastErrorMessage());
    return FALSE;
}

static void
follow(DomainMigration *m, Perform *p, Evidence *e)
{
    const XePolicy *pol = m->policy;
    gint64 start = g_get_monotonic_time(), moving = 0, last_time = start, last_step = start;
    guint64 last_bytes = 0, bps = 0;
    guint step = 0;
    gboolean switchover = FALSE, aborting = FALSE, aborted = FALSE, ram_sent = FALSE;
    gulong cancel_id = g_cancellable_connect(m->cancellable, G_CALLBACK(perform_wake), p, NULL);

    for (;;) {
        gboolean done;
        gint64 now;
        int reason = 0;
        g_autofree char *state = NULL;
        g_autofree char *why = NULL;

        g_mutex_lock(&p->lock);
        /* a Cancel not acted on yet wakes the wait; otherwise one interval */
        if (!p->done && (aborting || !g_cancellable_is_cancelled(m->cancellable)))
            g_cond_wait_until(&p->cond, &p->lock,
                              g_get_monotonic_time() + PROGRESS_INTERVAL_MS * 1000);
        done = p->done;
        g_mutex_unlock(&p->lock);
        if (done)
            break;
        now = g_get_monotonic_time();
        if (aborting) {
            if (!aborted)
                aborted = abort_job(m);
            continue;
        }
        if (g_cancellable_is_cancelled(m->cancellable))
            e->cancelled = TRUE;
        else if (pol->completion_timeout_ms > 0 &&
                 (guint64)(now - start) / 1000 > pol->completion_timeout_ms)
            e->timed_out = TRUE;
        /* a stall counts once data moves (libvirt's Begin and Prepare, a destination QEMU
         * pinning the guest's RAM, come first) and until the RAM is sent or the switchover
         * began (the VF's state moves with no count until its end) */
        else if (pol->stall_timeout_ms > 0 && moving > 0 && !switchover && !ram_sent &&
                 (guint64)(now - last_time) / 1000 > pol->stall_timeout_ms)
            e->timed_out = TRUE;
        /* (a lost peer daemon is no reason to stop: libvirt runs both ends, and the peer's
         * part, the reservation, is done and on its record) */
        if (e->cancelled || e->timed_out) {
            aborting = TRUE;
            aborted = abort_job(m);
            continue;
        }
        progress(m, &last_bytes, &last_time, &bps, &ram_sent);
        if (moving == 0 && last_bytes > 0) {
            /* QEMU's downtime-limit exists once libvirt's job does */
            moving = now;
            last_time = now;
            last_step = now;
            set_downtime(m, xe_policy_downtime_step_ms(pol, m->estimate_ms, 0));
        }
        if (!switchover && m->was_running && (state = local_state(m, &reason)) != NULL &&
            g_str_equal(state, "paused") && reason == VIR_DOMAIN_PAUSED_MIGRATION) {
            switchover = TRUE;
            xe_job_run_phase(&m->run, XE_JOB_PHASE_SWITCHOVER);
            inform(m, "switchover");
        }
        if (!switchover && moving > 0 && !measured_estimate(m, bps, now - moving, &why)) {
            e->forced = XE_FAILURE_INCOMPATIBLE;
            e->forced_reason = g_steal_pointer(&why);
            aborting = TRUE;
            aborted = abort_job(m);
            continue;
        }
        if (moving > 0 && !switchover && pol->downtime_steps > 1 &&
            step + 1 < pol->downtime_steps &&
            (guint64)(now - last_step) / 1000 >= pol->step_interval_ms) {
            step++;
            last_step = now;
            set_downtime(m, xe_policy_downtime_step_ms(pol, m->estimate_ms, step));
        }
    }
    g_cancellable_disconnect(m->cancellable, cancel_id);
}

static virTypedParameterPtr
migrate_params(DomainMigration *m, int *nparams, unsigned int *flags)
{
    const XePolicy *p = m->policy;
    virTypedParameterPtr params = NULL;
    int max = 0;

    *nparams = 0;
    *flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;
    /* never VIR_MIGRATE_POSTCOPY: a destination that dies in post-copy loses the guest */
    virTypedParamsAddString(&params, nparams, &max, VIR_MIGRATE_PARAM_DEST_XML, m->dest_xml);
    if (m->dest_persist_xml != NULL) {
        /* the definition moves too, pointing at the destination's VFs (libvirt would send
         * the source's, naming this host's addresses); a transient domain stays transient */
        *flags |= VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
        virTypedParamsAddString(&params, nparams, &max, VIR_MIGRATE_PARAM_PERSIST_XML,
                                m->dest_persist_xml);
    }
    if (p->max_bandwidth > 0) /* libvirt's unit: MiB/s */
        virTypedParamsAddULLong(&params, nparams, &max, VIR_MIGRATE_PARAM_BANDWIDTH,
                                MAX(p->max_bandwidth / 1048576, 1));
    if (p->switchover_bandwidth > 0) /* MiB/s too */
        virTypedParamsAddULLong(&params, nparams, &max,
                                VIR_MIGRATE_PARAM_BANDWIDTH_AVAIL_SWITCHOVER,
                                MAX(p->switchover_bandwidth / 1048576, 1));
    if (p->auto_converge)
        *flags |= VIR_MIGRATE_AUTO_CONVERGE;
    if (p->multifd) {
        *flags |= VIR_MIGRATE_PARALLEL;
        virTypedParamsAddInt(&params, nparams, &max, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
                             (int)p->multifd_channels);
    }
    return params;
}

/* The destination's VFs, from the XML its daemon sent back. */
static char *
vfs_of(const char *xml)
{
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(xml, NULL);
    g_autoptr(GString) out = g_string_new(NULL);
    GPtrArray *vfs;

    if (d == NULL)
        return g_strdup("");
    vfs = xe_libvirt_domain_get_vfs(d);
    for (guint i = 0; i < vfs->len; i++)
        g_string_append_printf(out, "%s%s", i > 0 ? ", " : "",
                               ((XeLibvirtVf *)vfs->pdata[i])->host);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* The definition for the destination: the source's, each VF the live domain holds pointed at
 * the VF the destination reserved in its place. */
static char *
persist_xml(DomainMigration *m, GError **error)
{
    g_autoptr(XeLibvirtDomain) live = xe_libvirt_domain_parse(m->xml, error);
    g_autoptr(XeLibvirtDomain) dest = NULL;
    g_autoptr(XeLibvirtDomain) def = NULL;
    GPtrArray *from, *to, *mine;

    if (live == NULL || (dest = xe_libvirt_domain_parse(m->dest_xml, error)) == NULL ||
        (def = xe_libvirt_domain_parse(m->inactive, error)) == NULL)
        return NULL;
    from = xe_libvirt_domain_get_vfs(live);
    to = xe_libvirt_domain_get_vfs(dest);
    mine = xe_libvirt_domain_get_vfs(def);
    if (from->len != to->len) {
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA,
                    "%s's daemon answered with %u VFs for the domain's %u", m->host, to->len,
                    from->len);
        return NULL;
    }
    for (guint i = 0; i < mine->len; i++) {
        const char *host = ((XeLibvirtVf *)mine->pdata[i])->host;
        guint j = 0;

        while (j < from->len && !g_str_equal(((XeLibvirtVf *)from->pdata[j])->host, host))
            j++;
        if (j == from->len) {
            g_set_error(error, XE_ERROR, XE_ERROR_INCOMPATIBLE,
                        "the definition of domain %s names VF %s, which the running domain "
                        "does not hold: its definition cannot move with it (virsh edit %s, or "
                        "restart the domain from its definition)",
                        m->name, host, m->name);
            return NULL;
        }
        if (!xe_libvirt_domain_retarget(def, i, ((XeLibvirtVf *)to->pdata[j])->host, NULL, error))
            return NULL;
    }
    return xe_libvirt_domain_to_xml(def);
}

/* libvirt words a hook's refusal "Hook script execution failed: internal error: Child
 * process (ENVIRONMENT... /etc/libvirt/hooks/qemu.d/...) unexpected exit status 1: LINE":
 * the hook's line is what says what, where and why. Takes @error. */
static char *
hook_refusal(char *error)
{
    const char *line = error != NULL && strstr(error, "Hook script execution failed") != NULL
                           ? strstr(error, "xe-migrated: domain ")
                           : NULL;
    char *out;

    if (line == NULL)
        return error;
    out = g_strdup_printf("a libvirt hook refused: %s", line);
    g_free(error);
    return out;
}

typedef enum {
    ATTEMPT_COMPLETED,
    ATTEMPT_FAILED, /* the domain runs here */
} AttemptOutcome;

static AttemptOutcome
attempt(DomainMigration *m, Evidence *e)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *peer_uri = NULL, *dconnuri = NULL;
    Perform p = { 0 };
    GThread *thread;

    xe_job_run_phase(&m->run, XE_JOB_PHASE_PREPARING_DESTINATION);
    g_clear_pointer(&m->dest_vfs, g_free);
    m->peer = xe_peer_connect((const char *const *)m->settings->transport, m->host,
                              CONNECT_TIMEOUT_MS, m->cancellable, &error);
    if (m->peer == NULL) {
        e->forced = g_cancellable_is_cancelled(m->cancellable) ? XE_FAILURE_CANCELLED
                                                               : XE_FAILURE_TRANSPORT;
        e->forced_reason = g_strdup(error->message);
        return ATTEMPT_FAILED;
    }
    m->dest_xml = xe_peer_prepare_incoming_domain(m->peer, m->xml, m->settings->peer_timeout_ms,
                                                  m->cancellable, &peer_uri, &error);
    if (m->dest_xml == NULL) {
        /* the destination's refusal (no VF like the source's, a domain of that name there)
         * says what, where and why */
        e->forced = g_cancellable_is_cancelled(m->cancellable) ? XE_FAILURE_CANCELLED
                    : g_error_matches(error, XE_ERROR, XE_ERROR_NOT_FOUND) ||
                            g_error_matches(error, XE_ERROR, XE_ERROR_INCOMPATIBLE) ||
                            g_error_matches(error, XE_ERROR, XE_ERROR_BUSY)
                        ? XE_FAILURE_INCOMPATIBLE
                        : XE_FAILURE_TRANSPORT;
        e->forced_reason = g_strdup_printf("the destination's daemon: %s", error->message);
        return ATTEMPT_FAILED;
    }
    m->dest_vfs = vfs_of(m->dest_xml);
    if (m->persistent) {
        /* as it is now: an operator's edit while the job waited moves with the domain */
        g_autofree char *now = virDomainGetXMLDesc(
            m->dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);

        if (now != NULL) {
            g_free(m->inactive);
            m->inactive = g_steal_pointer(&now);
        }
    }
    if (m->inactive != NULL && (m->dest_persist_xml = persist_xml(m, &error)) == NULL) {
        e->forced = g_error_matches(error, XE_ERROR, XE_ERROR_INCOMPATIBLE)
                        ? XE_FAILURE_INCOMPATIBLE
                        : XE_FAILURE_UNKNOWN;
        e->forced_reason = g_strdup(error->message);
        return ATTEMPT_FAILED;
    }
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_STARTED, NULL, m->vfs, NULL,
                 "job %s: domain %s to %s (VF %s), attempt %u", xe_job_get_id(m->job), m->name,
                 m->host, m->dest_vfs, m->attempt);
    dconnuri =
        *peer_uri != '\0' ? g_strdup(peer_uri) : g_strdup_printf("qemu+tls://%s/system", m->host);

    xe_job_run_phase(&m->run, XE_JOB_PHASE_MIGRATING);
    inform(m, "migration-started");
    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    p.dom = m->dom;
    p.dconnuri = dconnuri;
    p.params = migrate_params(m, &p.nparams, &p.flags);
    thread = g_thread_new("xe-libvirt-migrate", perform_thread, &p);
    follow(m, &p, e);
    g_thread_join(thread);
    virTypedParamsFree(p.params, p.nparams);
    g_mutex_clear(&p.lock);
    g_cond_clear(&p.cond);
    if (p.ret == 0)
        return ATTEMPT_COMPLETED;
    e->error = hook_refusal(p.error);
    return ATTEMPT_FAILED;
}

/* after a successful API call: libvirt's downtime, from its JOB_COMPLETED event */
static void
record_downtime(DomainMigration *m)
{
    Completed *c = m->completed;
    gint64 until = g_get_monotonic_time() + EVENT_WAIT_MS * 1000;

    if (m->event_id < 0)
        return;
    g_mutex_lock(&c->lock);
    while (!c->seen && g_cond_wait_until(&c->cond, &c->lock, until))
        ;
    if (c->seen)
        xe_record_post(m->job, "downtime", c->downtime_ms, "qemu-downtime", c->downtime_ms,
                       "total-time", c->total_ms, "device-bytes", c->vfio_bytes, NULL);
    else
        g_message("job %s: libvirt sent no job-completed event within %u ms: the downtime is "
                  "not known",
                  xe_job_get_id(m->job), EVENT_WAIT_MS);
    g_mutex_unlock(&c->lock);
}

#define SETTLE_MS      30000 /* libvirt tearing down an incoming, restarting, answering */
#define SETTLE_POLL_MS 500

/* The peer daemon, connected again when the link went. NULL with @error when it cannot be. */
static XePeer *
peer(DomainMigration *m, GError **error)
{
    if (m->peer != NULL && !xe_peer_is_connected(m->peer))
        g_clear_pointer(&m->peer, xe_peer_free);
    if (m->peer == NULL)
        m->peer = xe_peer_connect((const char *const *)m->settings->transport, m->host,
                                  CONNECT_TIMEOUT_MS, NULL, error);
    return m->peer;
}

/* the destination's reservations of a failed attempt, given back. Its daemon refuses while
 * the domain is active on its libvirt (libvirt may still be tearing down the incoming, whose
 * release hook then gives them back itself): asked again until it settles. What cannot be
 * given back now is the destination's reconcile's once the domain is known not to run there. */
static void
drop_destination(DomainMigration *m)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_MS * 1000;

    while (m->dest_xml != NULL) {
        g_autoptr(GError) error = NULL;

        if (peer(m, &error) != NULL &&
            xe_peer_abort_incoming_domain(m->peer, m->dest_xml, m->settings->peer_timeout_ms,
                                          &error))
            break;
        if (g_get_monotonic_time() >= deadline) {
            g_warning("job %s: %s (the reconcile on %s releases them once the domain is known "
                      "not to run there)",
                      xe_job_get_id(m->job), error->message, m->host);
            break;
        }
        if (!xe_sleep(SETTLE_POLL_MS, m->stopping)) {
            g_warning("job %s: xe-migrated stops: what %s reserved for the domain is its "
                      "reconcile's",
                      xe_job_get_id(m->job), m->host);
            break;
        }
    }
    g_clear_pointer(&m->peer, xe_peer_free);
    g_clear_pointer(&m->dest_xml, g_free);
    g_clear_pointer(&m->dest_persist_xml, g_free);
}

typedef enum {
    WHERE_SOURCE,      /* runs here */
    WHERE_DESTINATION, /* runs there: the migration did happen */
    WHERE_NOWHERE,     /* neither host's libvirt runs it */
    WHERE_BOTH,        /* both run it: libvirt broke its promise */
    WHERE_UNKNOWN,     /* not known within SETTLE_MS: left as it is */
} Where;

typedef enum {
    THERE_ABSENT,   /* not defined there, or shut off, or crashed */
    THERE_INCOMING, /* libvirt's incoming, paused for the migration: not a running copy */
    THERE_RUNS,     /* active there: running, paused by somebody, ... */
    THERE_UNKNOWN,  /* the peer cannot say */
} There;

static There
there_now(DomainMigration *m, char **state, GError **error)
{
    g_free(*state);
    *state = peer(m, error) != NULL
                 ? xe_peer_domain_state(m->peer, m->name, m->settings->peer_timeout_ms, error)
                 : NULL;
    if (*state == NULL || g_str_equal(*state, "unknown") || g_str_equal(*state, "no state"))
        return THERE_UNKNOWN;
    /* (a crashed domain is a preserved QEMU: a copy) */
    if (**state == '\0' || g_str_equal(*state, "shut off"))
        return THERE_ABSENT;
    if (g_str_equal(*state, "paused (migration)") || g_str_equal(*state, "paused (starting up)"))
        return THERE_INCOMING;
    return THERE_RUNS;
}

/* Where the domain runs after libvirt's API failed, asked of both libvirts until both say
 * something definite (or SETTLE_MS). A source left paused that ran before the job is resumed
 * only once the destination is known to have no copy of it. */
static Where
where_now(DomainMigration *m, char **why)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_MS * 1000;
    g_autofree char *state = NULL;

    for (;;) {
        g_autofree char *here = local_state(m, NULL);
        g_autoptr(GError) error = NULL;
        There there = there_now(m, &state, &error);
        gboolean here_runs = here != NULL && (g_str_equal(here, "running") ||
                                              (g_str_equal(here, "paused") && !m->was_running));

        if (here_runs && there == THERE_RUNS) {
            *why = g_strdup_printf("domain %s runs on this host and on %s (%s there): stop the "
                                   "copy that must not run (virsh destroy on that host)",
                                   m->name, m->host, state);
            return WHERE_BOTH;
        }
        if (here_runs && there != THERE_UNKNOWN)
            return WHERE_SOURCE;
        if (here == NULL && there == THERE_RUNS)
            return WHERE_DESTINATION;
        if (here == NULL && there == THERE_ABSENT) {
            *why = g_strdup("the domain runs on neither host");
            return WHERE_NOWHERE;
        }
        if (here != NULL && g_str_equal(here, "paused") && there == THERE_ABSENT) {
            if (virDomainResume(m->dom) == 0)
                return WHERE_SOURCE;
            g_message("job %s: domain %s did not resume here: %s", xe_job_get_id(m->job), m->name,
                      virGetLastErrorMessage());
        }
        if (g_get_monotonic_time() >= deadline || !xe_sleep(SETTLE_POLL_MS, m->stopping)) {
            *why = g_strdup_printf(
                "the domain is %s here and %s on %s%s%s: it is left as it is (virsh domstate on "
                "both hosts; virsh resume on the one that should run it)",
                here != NULL ? here : "not active", state != NULL ? state : "unknown", m->host,
                error != NULL ? ": " : "", error != NULL ? error->message : "");
            return WHERE_UNKNOWN;
        }
    }
}

static gboolean
main_job_done(gpointer data)
{
    DomainMigration *m = data;

    engine_domain_job_done(m->self, m->name);
    return G_SOURCE_REMOVE;
}

static void
finish_job(DomainMigration *m, XeJobState state, XeFailureClass klass, const char *reason)
{
    xe_job_run_phase(&m->run, XE_JOB_PHASE_DONE);
    xe_record_post(m->job, "state", xe_job_state_to_string(state), "failure-class",
                   klass == XE_FAILURE_NONE ? "" : xe_failure_to_string(klass), "failure-reason",
                   reason != NULL ? reason : "", "finished", g_get_real_time(), NULL);
    if (state == XE_JOB_COMPLETED) {
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vfs, NULL,
                     "job %s: domain %s now runs on %s (%s), attempt %u", xe_job_get_id(m->job),
                     m->name, m->host, m->dest_vfs != NULL ? m->dest_vfs : "?", m->attempt);
        inform(m, "completed");
    } else {
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vfs, NULL,
                     "job %s: domain %s not migrated to %s: %s (%s)", xe_job_get_id(m->job),
                     m->name, m->host, xe_failure_to_string(klass), reason);
        inform(m, "failed");
    }
    xe_call_main(m->self->main, main_job_done, m);
}

static XeFailureClass
classify(DomainMigration *m, Evidence *e, char **reason)
{
    XeFailureEvidence ev = {
        .cancelled = e->cancelled,
        .timed_out = e->timed_out,
        .source_error = e->error,
    };

    if (e->forced != XE_FAILURE_NONE) {
        *reason = g_strdup(e->forced_reason);
        return e->forced;
    }
    return xe_failure_classify(&ev, reason);
}

static gboolean
job_thread(gpointer data)
{
    DomainMigration *m = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(m->job));
    XeFailureClass klass = XE_FAILURE_NONE;
    g_autofree char *reason = NULL;

    xe_record_post(m->job, "state", xe_job_state_to_string(XE_JOB_RUNNING), NULL);
    xe_job_run_phase(&m->run, XE_JOB_PHASE_PREFLIGHT);
    if (!preflight(m, &error)) {
        klass = g_error_matches(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED) ||
                        g_error_matches(error, XE_ERROR, XE_ERROR_INCOMPATIBLE)
                    ? XE_FAILURE_INCOMPATIBLE
                    : XE_FAILURE_UNKNOWN;
        reason = g_strdup_printf("pre-flight: %s", error->message);
        goto failed;
    }
    if (!xe_job_run_hooks(&m->run, "pre-migrate", m->vfs, NULL, &error)) {
        klass = XE_FAILURE_VETOED;
        reason = g_strdup_printf("vetoed: %s", error->message);
        goto failed;
    }
    m->completed = g_new0(Completed, 1);
    m->completed->ref = 1;
    g_mutex_init(&m->completed->lock);
    g_cond_init(&m->completed->cond);
    m->event_id = virConnectDomainEventRegisterAny(
        m->conn, m->dom, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
        VIR_DOMAIN_EVENT_CALLBACK(on_job_completed), completed_ref(m->completed), completed_unref);
    if (m->event_id < 0) {
        /* (the callback's reference stays: libvirt may or may not have dropped it) */
        g_message("job %s: no libvirt events (%s): the downtime will not be known",
                  xe_job_get_id(m->job), virGetLastErrorMessage());
    }

    for (m->attempt = 1;; m->attempt++) {
        Evidence e = { 0 };
        gint64 started = g_get_monotonic_time();
        g_autofree char *why = NULL;
        Where where;

        xe_record_post(m->job, "attempt", m->attempt, NULL);
        if (attempt(m, &e) == ATTEMPT_COMPLETED) {
            xe_record_post(m->job, "time-to-running",
                           (guint64)(g_get_monotonic_time() - m->created) / 1000, NULL);
            xe_job_run_phase(&m->run, XE_JOB_PHASE_CLEANUP);
            record_downtime(m);
            g_clear_pointer(&m->peer, xe_peer_free);
            evidence_clear(&e);
            finish_job(m, XE_JOB_COMPLETED, XE_FAILURE_NONE, NULL);
            goto out;
        }
        g_clear_pointer(&reason, g_free);
        klass = classify(m, &e, &reason);
        evidence_clear(&e);
        xe_job_run_phase(&m->run, XE_JOB_PHASE_VERIFYING);
        where = where_now(m, &why);
        if (where == WHERE_DESTINATION) {
            /* libvirt's answer was lost, not its migration */
            xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_COMPLETED, NULL, m->vfs, NULL,
                         "job %s: %s runs domain %s although libvirt reported: %s",
                         xe_job_get_id(m->job), m->host, m->name, reason);
            xe_record_post(m->job, "time-to-running",
                           (guint64)(g_get_monotonic_time() - m->created) / 1000, NULL);
            g_clear_pointer(&m->peer, xe_peer_free);
            finish_job(m, XE_JOB_COMPLETED, XE_FAILURE_NONE, NULL);
            goto out;
        }
        if (where != WHERE_SOURCE) {
            g_autofree char *more = g_strdup_printf("%s; %s", reason, why);

            g_free(reason);
            reason = g_steal_pointer(&more);
            if (where == WHERE_BOTH)
                xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, m->vfs, NULL,
                             "job %s: %s", xe_job_get_id(m->job), why);
            /* nothing of the destination is touched unless it is known not to run it */
            if (where == WHERE_NOWHERE)
                drop_destination(m);
            else
                g_clear_pointer(&m->peer, xe_peer_free);
            xe_job_run_attempt_failed(&m->run, m->attempt, klass, reason, m->dest_vfs, started);
            goto failed;
        }
        drop_destination(m);
        xe_job_run_attempt_failed(&m->run, m->attempt, klass, reason, m->dest_vfs, started);
        if (!xe_failure_is_retryable(klass) || m->attempt > m->policy->retries ||
            g_cancellable_is_cancelled(m->cancellable))
            goto failed;
        if (!xe_job_run_backoff(&m->run, m->policy, m->attempt, klass, reason, m->vfs, m->dest_vfs,
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
    engine_worker_done(m->self, worker);
    domain_migration_free(m);
    return G_SOURCE_REMOVE;
}

void
domain_migration_start(XeEngine *self, XeJob *job, const char *name, const char *host,
                       const char *uri)
{
    DomainMigration *m = g_new0(DomainMigration, 1);
    g_autofree char *worker = g_strdup_printf("job:%s", xe_job_get_id(job));

    m->self = g_object_ref(self);
    m->job = g_object_ref(job);
    m->name = g_strdup(name);
    m->host = g_strdup(host);
    m->uri = g_strdup(uri);
    g_object_get(job, "policy", &m->policy_name, NULL);
    m->settings = engine_settings(self);
    m->cancellable = g_object_ref(xe_job_get_cancellable(job));
    m->stopping = g_object_ref(self->stopping);
    m->created = g_get_monotonic_time();
    m->event_id = -1;
    xe_job_run_init(&m->run, XE_SERVICES(self), job);
    xe_worker_invoke(engine_worker(self, worker), job_thread, m, NULL);
}
