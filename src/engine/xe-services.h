/* xe-services.h: what the two halves of a migration (xe-source.c and
 * xe-destination.c, declared in xe-flows.h) need of the engine around them,
 * as an interface they are given: the host (VF facts, reservations, agent
 * operations, hooks), QEMU processes, workers, and the registry of records.
 *
 * XeEngine implements it over the host agent, supervised QEMU processes and
 * its tables; tests/engine/test-flows.c implements it with fakes, so the flows
 * run alone against a scripted QMP peer and a fake peer daemon.
 *
 * Threading (xe-engine-private.h has the rule): the calls marked "main" are
 * made on the context xe_services_get_main() returns; the others from a
 * flow's worker, and they return once their work is done there.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-agent.h"
#include "xe-incoming.h"
#include "xe-policy.h"
#include "xe-qemu.h"
#include "xe-vm.h"
#include "xe-worker.h"

G_BEGIN_DECLS

/* Finished jobs and incomings kept (the incomings also on disk, as tombstones). */
#define XE_ENGINE_KEEP_FINISHED 64

/* What a flow needs from the configuration, copied on the main thread. */
typedef struct {
    char *state_dir; /* STATE_DIR/vms/NAME.vm: the VMs of this host, to re-adopt after a restart */
    char *run_dir;
    char *policy_dir;
    GStrv transport;
    char *migration_address;
    guint peer_timeout_ms; /* one call to the peer daemon (PrepareIncoming, Finish) */
} XeEngineSettings;

XeEngineSettings *engine_settings_copy(const XeEngineSettings *s);
void engine_settings_free(XeEngineSettings *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeEngineSettings, engine_settings_free)

/* Loads policy NAME from the policy directory ("default" falls back to the built-in). */
XePolicy *engine_load_policy(const XeEngineSettings *s, const char *name, GError **error);

/* From a worker: a QMP client on the worker's context, connected and negotiated. */
XeQmpClient *engine_qmp_connect(const char *address, GCancellable *cancellable, GError **error);

/* Records a VM of this host (as the spec that adopts it: @qmp and @vf) and its QEMU in
 * STATE_DIR/vms, durably. */
gboolean engine_vm_store(const XeEngineSettings *s, const XeVmSpec *spec, const char *qmp,
                         const char *vf, XeQemuProcess *process, gboolean adopted, GError **error);

#define XE_TYPE_SERVICES (xe_services_get_type())
G_DECLARE_INTERFACE(XeServices, xe_services, XE, SERVICES, GObject)

struct _XeServicesInterface {
    GTypeInterface parent_iface;

    /* main */
    GMainContext *(*get_main)(XeServices *self);
    GCancellable *(*get_stopping)(XeServices *self);
    XeEngineSettings *(*get_settings)(XeServices *self);
    XeWorker *(*worker_new)(XeServices *self, const char *id);
    XeWorker *(*worker_lookup)(XeServices *self, const char *id);
    void (*vm_left)(XeServices *self, XeVm *vm);
    void (*vm_kept)(XeServices *self, XeVm *vm);
    void (*vm_arrived)(XeServices *self, XeVm *vm);
    void (*incoming_ended)(XeServices *self, XeIncoming *incoming);

    /* worker */
    void (*worker_done)(XeServices *self, const char *id);
    gboolean (*vf_facts)(XeServices *self, const char *vf, char **driver, char **migration);
    gboolean (*agent_run)(XeServices *self, XeAgentOp op, const char *target, const char *arg,
                          const char *caller, char **out, GError **error);
    gboolean (*reserve)(XeServices *self, const char *profile, const char *owner, char **vf,
                        char **reservation, GError **error);
    gboolean (*release)(XeServices *self, const char *reservation, gboolean reset,
                        const char *caller, GError **error);
    gboolean (*hooks)(XeServices *self, const char *phase, JsonNode *document, GError **error);
    XeQemuProcess *(*spawn)(XeServices *self, const char *const *argv, const char *qmp_socket,
                            const char *vf, gboolean incoming, const char *log_path,
                            GError **error);
    void (*end_qemu)(XeServices *self, XeQemuProcess *process, guint grace_ms);
};

/* main: the context the records live on; cancelled when the daemon stops (waits that
 * outlast a stop give up, leaving their journal for the next start); a copy of the
 * settings. */
GMainContext *xe_services_get_main(XeServices *self);
GCancellable *xe_services_get_stopping(XeServices *self);
XeEngineSettings *xe_services_get_settings(XeServices *self);

/* main: a new worker for job or incoming @id (none may run under that id), or the one
 * running. From its worker: @id's work is over, the worker goes. */
XeWorker *xe_services_worker_new(XeServices *self, const char *id);
XeWorker *xe_services_worker_lookup(XeServices *self, const char *id);
void xe_services_worker_done(XeServices *self, const char *id);

/* main: after a job let go of @vm: it left this host (forgotten, its record in
 * STATE_DIR/vms too), or it stays here (should its QEMU have ended meanwhile, it is
 * accounted for now: VF reset and released, VM forgotten). A VM that arrived (its
 * "reservation" is the incoming's, given to it now): it is this host's, watched. An
 * incoming is over: it stays as a tombstone (the newest XE_ENGINE_KEEP_FINISHED). */
void xe_services_vm_left(XeServices *self, XeVm *vm);
void xe_services_vm_kept(XeServices *self, XeVm *vm);
void xe_services_vm_arrived(XeServices *self, XeVm *vm);
void xe_services_incoming_ended(XeServices *self, XeIncoming *incoming);

/* worker: a VF's facts: its driver, and its PF's migration support ("yes", "no",
 * "unknown"); FALSE when no such VF. */
gboolean xe_services_vf_facts(XeServices *self, const char *vf, char **driver, char **migration);
/* worker: an agent operation (XeAgentOp) on @target. */
gboolean xe_services_agent_run(XeServices *self, XeAgentOp op, const char *target, const char *arg,
                               const char *caller, char **out, GError **error);
/* worker: a VF provisioned as @profile (the warm pool first), reserved for @owner
 * ("incoming:ID:NAME"); released (reset first with @reset). An empty or NULL
 * @reservation is nothing to release. */
gboolean xe_services_reserve(XeServices *self, const char *profile, const char *owner, char **vf,
                             char **reservation, GError **error);
gboolean xe_services_release(XeServices *self, const char *reservation, gboolean reset,
                             const char *caller, GError **error);
/* worker: the hooks of @phase with @document; FALSE when one vetoes. */
gboolean xe_services_hooks(XeServices *self, const char *phase, JsonNode *document, GError **error);
/* worker: a QEMU (xe_qemu_process_spawn()), supervised on main, where its "exited" runs;
 * not as root (qemu-user), with VF @vf's VFIO node its own until the VF is reset. */
XeQemuProcess *xe_services_spawn(XeServices *self, const char *const *argv, const char *qmp_socket,
                                 const char *vf, gboolean incoming, const char *log_path,
                                 GError **error);
/* worker: waits up to @grace_ms for @process to exit (after a quit), then kills it and
 * waits for that. */
void xe_services_end_qemu(XeServices *self, XeQemuProcess *process, guint grace_ms);

G_END_DECLS
