/* xe-engine-private.h: what xe-engine.c shares with the two halves of a
 * migration, xe-source.c and xe-destination.c.
 *
 * The threading rule: records (XeVm, XeJob, XeIncoming) and the registry
 * live on the engine's main context. A worker gets, when it starts, a copy of
 * what it needs (a snapshot taken on main), changes records only with
 * xe_record_post(), and reaches main only through the engine_*() calls below,
 * which run their work there and wait for it. Nothing on main ever waits for
 * a worker: workers are stopped, never joined.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-engine.h"
#include "xe-journal.h"
#include "xe-policy.h"
#include "xe-qemu.h"
#include "xe-worker.h"

G_BEGIN_DECLS

struct _XeEngine {
    GObject parent_instance;
    XeAgent *agent;
    GMainContext *main;
    GHashTable *vms;       /* name -> XeVm */
    GHashTable *jobs;      /* id -> XeJob */
    GHashTable *incomings; /* id -> XeIncoming, the finished ones kept as tombstones */
    GHashTable *workers;   /* job or incoming id -> XeWorker, while its work runs */
    guint live_workers;    /* threads not yet exited (stopped ones included) */
    guint next_job;
    guint next_incoming;
    gboolean shutting_down;
    GCancellable *stopping; /* cancelled by xe_engine_shutdown(): waits that outlast a
                             * stop give up, leaving their journal for the next start */
};

/* Finished jobs and incomings kept (the incomings also on disk, as tombstones). */
#define XE_ENGINE_KEEP_FINISHED 64

/* What a worker needs from the configuration, copied on the main thread. */
typedef struct {
    char *state_dir; /* STATE_DIR/vms/NAME.vm: the VMs of this host, to re-adopt after a restart */
    char *run_dir;
    char *policy_dir;
    GStrv transport;
    char *migration_address;
} XeEngineSettings;

XeEngineSettings *engine_settings(XeEngine *self);
XeEngineSettings *engine_settings_copy(const XeEngineSettings *s);
void engine_settings_free(XeEngineSettings *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeEngineSettings, engine_settings_free)

/* Loads policy NAME from the policy directory ("default" falls back to the built-in). */
XePolicy *engine_load_policy(const XeEngineSettings *s, const char *name, GError **error);

/* From a worker: agent operations, reservations, hooks, QEMU processes. */
gboolean engine_agent_run(XeEngine *self, XeAgentOp op, const char *target, const char *arg,
                          const char *caller, char **out, GError **error);
gboolean engine_reserve(XeEngine *self, const char *profile, const char *vf, const char *owner,
                        char **vf_out, char **reservation, GError **error);
gboolean engine_release(XeEngine *self, const char *reservation, gboolean reset, const char *caller,
                        GError **error);
gboolean engine_hooks(XeEngine *self, const char *phase, JsonNode *document, GError **error);
/* Spawned on the main context (so it is supervised there); its "exited" runs there. */
XeQemuProcess *engine_spawn(XeEngine *self, const char *const *argv, const char *qmp_socket,
                            gboolean incoming, const char *log_path, GError **error);
/* From a worker: a QMP client on the worker's context, connected and negotiated. */
XeQmpClient *engine_qmp_connect(const char *address, GCancellable *cancellable, GError **error);
/* From a worker: waits up to @grace_ms for @process to exit (after a quit), then
 * kills it and waits for that; the exit is watched on the main context. */
void engine_end_qemu(XeEngine *self, XeQemuProcess *process, guint grace_ms);
/* A VF's snapshot facts, read on the main context: its driver, and its PF's
 * migration support ("yes", "no", "unknown"). FALSE when no such VF. */
gboolean engine_vf_facts(XeEngine *self, const char *vf, char **driver, char **migration);

/* The worker of a job or an incoming, and its end. */
XeWorker *engine_worker(XeEngine *self, const char *id);
void engine_worker_done(XeEngine *self, const char *id);

/* Records a VM of this host (as the spec that adopts it: @qmp and @vf) and its QEMU in
 * STATE_DIR/vms, durably; from a worker. */
gboolean engine_vm_store(const XeEngineSettings *s, const XeVmSpec *spec, const char *qmp,
                         const char *vf, XeQemuProcess *process, gboolean adopted, GError **error);

/* Registry changes, on the main context (workers call them through xe_call_main). */
void engine_vm_add(XeEngine *self, XeVm *vm);
/* Forgets @vm: its record in STATE_DIR/vms goes too. */
void engine_vm_remove(XeEngine *self, XeVm *vm);
/* When @vm's QEMU (xe_vm_get_process) ends outside a migration: its VF is reset
 * and released, and the VM forgotten. */
void engine_vm_watch(XeEngine *self, XeVm *vm);
/* After a migration let go of @vm: should its QEMU have ended meanwhile (the exit went
 * unheeded while the job held it), it is accounted for now, as engine_vm_watch() would. */
void engine_vm_settle(XeEngine *self, XeVm *vm);
/* An incoming is over: it stays as a tombstone (the newest XE_ENGINE_KEEP_FINISHED). */
void engine_incoming_ended(XeEngine *self, XeIncoming *incoming);
/* A VM (or an incoming in progress) named @name exists on this host. */
gboolean engine_name_taken(XeEngine *self, const char *name, GError **error);
/* Gives the reservation @id to VM @name (from the incoming that brought it). */
void engine_reservation_to_vm(XeEngine *self, const char *id, const char *name);

/* xe-source.c: runs @job for @vm on a new worker. */
void migration_start(XeEngine *self, XeJob *job, XeVm *vm, const char *host);
/* After a restart: finishes the job of @entry, whose daemon died under it: where the
 * VM is (the source QEMU's state, the destination's incoming) decides. @vm is NULL when
 * its QEMU ended meanwhile. Runs on a worker; @done (may be NULL) returns once the
 * first attempt to decide is over, whether or not the job could be finished then. */
void migration_resume(XeEngine *self, XeJob *job, XeVm *vm, const XeJobEntry *entry, GTask *done);

/* xe-destination.c */
void incoming_prepare(XeEngine *self, XeIncoming *incoming, const char *profile, GVariant *options,
                      const char *host, GTask *task);
void incoming_finish(XeEngine *self, XeIncoming *incoming, guint timeout_ms, GTask *task);
void incoming_abort(XeEngine *self, XeIncoming *incoming, const char *why, GTask *task);
/* After a restart, from a worker: an incoming the journal has, not over. A committed one
 * is this host's VM (recorded in STATE_DIR/vms, to be re-adopted); any other is
 * aborted (its QEMU killed, its VF reset and released). Updates @entry. */
void incoming_reconcile(XeEngine *self, const XeEngineSettings *s, XeIncomingEntry *entry);

G_END_DECLS
