/* xe-flows.h: the two halves of a migration, each on workers of its own, given
 * the engine's services (xe-services.h): the source side of a job (xe-source.c)
 * and the destination side of an incoming (xe-destination.c).
 *
 * Every entry point is called on the services' main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-incoming.h"
#include "xe-job.h"
#include "xe-journal.h"
#include "xe-services.h"
#include "xe-vm.h"

G_BEGIN_DECLS

/* xe-source.c: runs @job for @vm on a new worker. */
void migration_start(XeServices *svc, XeJob *job, XeVm *vm, const char *host);
/* After a restart: finishes the job of @entry, whose daemon died under it: where the
 * VM is (the source QEMU's state, the destination's incoming) decides. @vm is NULL when
 * its QEMU ended meanwhile. Runs on a worker; @done (may be NULL) returns once the
 * first attempt to decide is over, whether or not the job could be finished then. */
void migration_resume(XeServices *svc, XeJob *job, XeVm *vm, const XeJobEntry *entry, GTask *done);

/* xe-destination.c: Prepare (the result is the a{sv} of xe_peer_prepare_incoming()),
 * Finish and Abort of @incoming, each returned on @task; they run on the incoming's
 * worker in turn. */
void incoming_prepare(XeServices *svc, XeIncoming *incoming, const char *profile, GVariant *options,
                      const char *host, GTask *task);
void incoming_finish(XeServices *svc, XeIncoming *incoming, guint timeout_ms, GTask *task);
void incoming_abort(XeServices *svc, XeIncoming *incoming, const char *why, GTask *task);
/* After a restart, from a worker: an incoming the journal has, not over. A committed one
 * is this host's VM (recorded in STATE_DIR/vms, to be re-adopted); any other is
 * aborted (its QEMU killed, its VF reset and released). Updates @entry. */
void incoming_reconcile(XeServices *svc, const XeEngineSettings *s, XeIncomingEntry *entry);

G_END_DECLS
