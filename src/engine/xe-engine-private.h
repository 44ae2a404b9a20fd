/* xe-engine-private.h: what xe-engine.c shares with the two halves of a
 * migration, xe-migration.c (source) and xe-incoming.c (destination).
 *
 * The engine_*() calls below are made from worker threads: each runs its
 * work on the daemon's main context and waits for it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-engine.h"
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
    GHashTable *incomings; /* id -> XeIncoming */
    GHashTable *workers;   /* job or incoming id -> XeWorker */
    guint next_job;
    guint next_incoming;
    gboolean shutting_down;
};

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

/* Records @vm (as the spec that adopts it: its QMP socket and VF) in
 * STATE_DIR/vms, durably; from a worker. */
gboolean engine_vm_store(const XeEngineSettings *s, XeVm *vm, GError **error);

/* Registry changes, on the main context (called through xe_call_main by workers). */
void engine_vm_add(XeEngine *self, XeVm *vm);
void engine_vm_remove(XeEngine *self, XeVm *vm);
/* Releases its VF and forgets it when the QEMU the daemon started for it ends. */
void engine_vm_watch(XeEngine *self, XeVm *vm);
void engine_incoming_remove(XeEngine *self, XeIncoming *incoming);

/* xe-migration.c: runs @job for @vm on a new worker. */
void migration_start(XeEngine *self, XeJob *job, XeVm *vm, const char *host);
/* xe-incoming.c */
void incoming_prepare(XeEngine *self, XeIncoming *incoming, const char *profile, GVariant *options,
                      const char *host, GTask *task);
void incoming_finish(XeEngine *self, XeIncoming *incoming, guint timeout_ms, GTask *task);
void incoming_abort(XeEngine *self, XeIncoming *incoming, const char *why, GTask *task);

G_END_DECLS
