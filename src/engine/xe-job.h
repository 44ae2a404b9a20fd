/* xe-job.h: XeJob, one migration of a VM from this host to another, owned
 * by the source daemon and living on after its client left: state, phase,
 * attempt, progress, downtimes, timings and the result with a failure class.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-record.h"
#include "xe-vm-spec.h"

G_BEGIN_DECLS

/* XeJob properties (state, phase and failure-class as strings: the D-Bus API's):
 *   id, vm, destination, policy, caller (s)
 *   state: queued, running, completed, failed, cancelled
 *   phase: preflight, preparing-destination, migrating, switchover, verifying, cleanup,
 *          backoff, done
 *   attempt, max-attempts (u)
 *   ram-transferred, ram-total, ram-remaining, device-bytes, throughput (t; bytes, bytes/s)
 *   device-state (s): the source VF's migration state, as QEMU's VFIO_MIGRATION events say
 *   downtime-limit, expected-downtime (t, ms)
 *   downtime (t, ms): guest stopped on the source until it ran on the destination
 *   qemu-downtime, total-time (t, ms): as QEMU reports them
 *   time-to-running (t, ms): from the request to the VM running on the destination
 *   timings (a{st}: ms spent per phase, all attempts)
 *   attempts (a(ussst): attempt, class, reason, destination VF, ms) of failed attempts
 *   failure-class, failure-reason (s; "" unless failed or cancelled)
 *   started, finished (x, µs since the epoch; finished 0 while running) */
typedef enum {
    XE_JOB_QUEUED,
    XE_JOB_RUNNING,
    XE_JOB_COMPLETED,
    XE_JOB_FAILED,
    XE_JOB_CANCELLED,
} XeJobState;

typedef enum {
    XE_JOB_PHASE_PREFLIGHT,
    XE_JOB_PHASE_PREPARING_DESTINATION,
    XE_JOB_PHASE_MIGRATING,
    XE_JOB_PHASE_SWITCHOVER,
    XE_JOB_PHASE_VERIFYING,
    XE_JOB_PHASE_CLEANUP,
    XE_JOB_PHASE_BACKOFF,
    XE_JOB_PHASE_DONE,
} XeJobPhase;

/* Their names: the D-Bus State and Phase. */
const char *xe_job_state_to_string(XeJobState state);
const char *xe_job_phase_to_string(XeJobPhase phase);

#define XE_TYPE_JOB (xe_job_get_type())
G_DECLARE_FINAL_TYPE(XeJob, xe_job, XE, JOB, XeRecord)

XeJob *xe_job_new(GMainContext *context, const char *id, const char *vm, const char *destination,
                  const char *policy, const char *caller);
const char *xe_job_get_id(XeJob *job);
GCancellable *xe_job_get_cancellable(XeJob *job);
/* Asks the job to stop: the source VM keeps running, the destination is released. */
void xe_job_cancel(XeJob *job);

/* An operator's word on where the VM runs, for a job that waits for its destination's
 * (Job.Resolve). The job sets itself awaiting while it waits, and waits on its wake
 * cancellable, which a resolution cancels. */
typedef enum {
    XE_JOB_UNRESOLVED,
    XE_JOB_VM_ON_SOURCE,      /* "source": it never ran on the destination */
    XE_JOB_VM_ON_DESTINATION, /* "destination": it runs there */
} XeJobResolution;

gboolean xe_job_resolve(XeJob *job, const char *where, GError **error);
void xe_job_set_awaiting(XeJob *job, gboolean awaiting);
/* The operator's word, if any, consumed: the next wait waits again. */
XeJobResolution xe_job_take_resolution(XeJob *job);
GCancellable *xe_job_get_wake(XeJob *job);
gboolean xe_job_is_finished(XeJob *job);
/* The job as JSON, what hooks get on stdin. */
JsonNode *xe_job_to_json(XeJob *job);

G_END_DECLS
