/* xe-job.h: the observable records of the migration engine.
 *
 * XeVm: a VM the daemon knows (started from its spec, or adopted by its QMP
 * socket), with the VF it holds. XeJob: one migration of a VM from this host
 * to another, owned by the source daemon and living on after its client
 * left: state, phase, attempt, progress, downtimes, timings and the result
 * with a failure class. XeIncoming: the destination side of one attempt.
 *
 * Each is an XeRecord: its properties are what the D-Bus objects show, and
 * every change is a "notify" (PropertiesChanged on the bus).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-record.h"
#include "xe-vm-spec.h"

G_BEGIN_DECLS

/* XeVm properties: name, state (starting, running, migrating, migrated, stopped), vf,
 * reservation, qmp-socket, pid (u), profile, policy, downtime-budget (t, ms), adopted (b),
 * job (the id of its migration job, or ""). */
#define XE_TYPE_VM (xe_vm_get_type())
G_DECLARE_FINAL_TYPE(XeVm, xe_vm, XE, VM, XeRecord)

XeVm *xe_vm_new(const XeVmSpec *spec);
const XeVmSpec *xe_vm_get_spec(XeVm *vm);
const char *xe_vm_get_name(XeVm *vm);
/* The QEMU the daemon started for it, or NULL when adopted. */
GObject *xe_vm_get_process(XeVm *vm);
void xe_vm_set_process(XeVm *vm, GObject *process);

/* XeJob properties:
 *   id, vm, destination, policy, caller (s)
 *   state: queued, running, completed, failed, cancelled
 *   phase: preflight, preparing-destination, migrating, switchover, verifying, cleanup,
 *          backoff, done
 *   attempt, max-attempts (u)
 *   ram-transferred, ram-total, ram-remaining, device-bytes, throughput (t; bytes, bytes/s)
 *   downtime-limit, expected-downtime (t, ms)
 *   downtime (t, ms): guest stopped on the source until it ran on the destination
 *   qemu-downtime, total-time (t, ms): as QEMU reports them
 *   timings (a{st}: ms spent per phase, all attempts)
 *   attempts (a(ussst): attempt, class, reason, destination VF, ms) of failed attempts
 *   failure-class, failure-reason (s; "" unless failed or cancelled)
 *   started, finished (x, µs since the epoch; finished 0 while running) */
#define XE_TYPE_JOB (xe_job_get_type())
G_DECLARE_FINAL_TYPE(XeJob, xe_job, XE, JOB, XeRecord)

XeJob *xe_job_new(const char *id, const char *vm, const char *destination, const char *policy,
                  const char *caller);
const char *xe_job_get_id(XeJob *job);
GCancellable *xe_job_get_cancellable(XeJob *job);
/* Asks the job to stop: the source VM keeps running, the destination is released. */
void xe_job_cancel(XeJob *job);
gboolean xe_job_is_finished(XeJob *job);
/* The job as JSON, what hooks get on stdin. */
JsonNode *xe_job_to_json(XeJob *job);

/* XeIncoming properties: id, vm, vf, reservation, uri, state (preparing, listening,
 * active, completed, running, failed, aborted), error (s), pid (u), exited (b), owner (s:
 * the bus name of the source daemon's connection) */
#define XE_TYPE_INCOMING (xe_incoming_get_type())
G_DECLARE_FINAL_TYPE(XeIncoming, xe_incoming, XE, INCOMING, XeRecord)

XeIncoming *xe_incoming_new(const char *id, const XeVmSpec *spec, const char *owner);
const char *xe_incoming_get_id(XeIncoming *incoming);
const XeVmSpec *xe_incoming_get_spec(XeIncoming *incoming);

G_END_DECLS
