/* xe-job-run.h: what a migration job's worker keeps while the job runs, whichever backend
 * moves the VM (QMP, libvirt): the phase and the time spent in each, the failed attempts,
 * both posted to the job's record; and the job as the phase hooks see it.
 *
 * Worker side only: the record changes through xe_record_post(), the hooks run from the
 * worker (xe_services_hooks()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-failure.h"
#include "xe-job.h"
#include "xe-policy.h"
#include "xe-services.h"

G_BEGIN_DECLS

typedef struct {
    XeServices *svc;
    XeJob *job;
    XeJobPhase phase;
    gboolean in_phase; /* FALSE until the first phase */
    gint64 phase_started;
    GHashTable *timings; /* phase name -> ms, all attempts */
    GPtrArray *attempts; /* GVariant (ussst): the failed attempts so far */
} XeJobRun;

void xe_job_run_init(XeJobRun *run, XeServices *svc, XeJob *job);
void xe_job_run_clear(XeJobRun *run);
/* Enters @phase: the time of the one before is added to its timing. */
void xe_job_run_phase(XeJobRun *run, XeJobPhase phase);
/* Attempt @attempt, begun at @started (monotonic µs), failed as @klass. */
void xe_job_run_attempt_failed(XeJobRun *run, guint attempt, XeFailureClass klass,
                               const char *reason, const char *destination_vf, gint64 started);
/* The phase hooks for @hook_phase (pre-migrate, migration-started, switchover, retrying,
 * completed, failed) with the job as JSON (what D-Bus shows, after every change posted so
 * far), its current phase (job-phase) and the VFs (vf, destination-vf). FALSE when a
 * vetoing hook refused. */
gboolean xe_job_run_hooks(XeJobRun *run, const char *hook_phase, const char *vf,
                          const char *destination_vf, GError **error);
/* The same, for the hooks that cannot veto (failures are logged by xe-hooks). */
void xe_job_run_inform(XeJobRun *run, const char *hook_phase, const char *vf,
                       const char *destination_vf);

/* Before another attempt after failed attempt @attempt (@klass, @reason): the backoff phase,
 * the journal's word, the retrying hooks, then the policy's backoff (jittered). FALSE when
 * @cancellable ended the wait. */
gboolean xe_job_run_backoff(XeJobRun *run, const XePolicy *policy, guint attempt,
                            XeFailureClass klass, const char *reason, const char *vf,
                            const char *destination_vf, GCancellable *cancellable);

G_END_DECLS
