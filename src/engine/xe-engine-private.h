/* xe-engine-private.h: the engine's state and its operations for its own
 * workers (adding and removing VMs, restoring after a restart). The flows
 * (xe-flows.h) see none of it: they get the same operations through the
 * XeServices interface (xe-services.h), which XeEngine implements.
 *
 * The threading rule: records (XeVm, XeJob, XeIncoming) and the registry
 * live on the engine's main context. A worker gets, when it starts, a copy of
 * what it needs (a snapshot taken on main), changes records only with
 * xe_record_post(), and reaches main only through the engine_*() calls below
 * (or the services), which run their work there and wait for it. Nothing on
 * main ever waits for a worker: workers are stopped, never joined.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-engine.h"
#include "xe-flows.h"
#include "xe-journal.h"
#include "xe-metrics.h"
#include "xe-services.h"

G_BEGIN_DECLS

/* xe-libvirt.c: the connection to this host's libvirt (any thread, blocking) */
typedef struct _XeLibvirt XeLibvirt;
XeLibvirt *xe_libvirt_new(void);
void xe_libvirt_free(XeLibvirt *lv);
/* xe-libvirt-watch.c: libvirt's domain events, on main */
typedef struct _XeLibvirtWatch XeLibvirtWatch;
void xe_libvirt_watch_free(XeLibvirtWatch *watch);

struct _XeEngine {
    GObject parent_instance;
    XeAgent *agent;
    XeLibvirt *libvirt;
    XeLibvirtWatch *watch; /* NULL until xe_engine_libvirt_watch() */
    GMainContext *main;
    GHashTable *vms;         /* name -> XeVm */
    GHashTable *jobs;        /* id -> XeJob */
    GHashTable *incomings;   /* id -> XeIncoming, the finished ones kept as tombstones */
    GHashTable *workers;     /* job or incoming id -> XeWorker, while its work runs */
    GHashTable *domain_jobs; /* libvirt domain name -> id of the job migrating it */
    GHashTable *arriving;    /* libvirt domain name -> its arrival (xe-libvirt-watch.c) */
    XeMetrics *metrics;      /* what Prometheus is told (xe-metrics.h) */
    guint live_workers;      /* threads not yet exited (stopped ones included) */
    guint next_job;
    guint next_incoming;
    gboolean shutting_down;
    GCancellable *stopping; /* cancelled by xe_engine_shutdown(): waits that outlast a
                             * stop give up, leaving their journal for the next start */
};

/* A copy of the settings the flows need, from the configuration. */
XeEngineSettings *engine_settings(XeEngine *self);

/* From a worker: agent operations, reservations, hooks, QEMU processes. */
gboolean engine_agent_run(XeEngine *self, XeAgentOp op, const char *target, const char *arg,
                          const char *caller, char **out, GError **error);
gboolean engine_reserve(XeEngine *self, const char *profile, const char *vf, const char *owner,
                        char **vf_out, char **reservation, GError **error);
gboolean engine_release(XeEngine *self, const char *reservation, gboolean reset, const char *caller,
                        GError **error);
gboolean engine_hooks(XeEngine *self, const char *phase, JsonNode *document, GError **error);
/* Spawned on the main context (so it is supervised there); its "exited" runs there. A daemon
 * running as root starts it as qemu-user, with VF @vf's VFIO group node handed to that user
 * until the VF is reset (NULL: no VF). */
XeQemuProcess *engine_spawn(XeEngine *self, const char *const *argv, const char *qmp_socket,
                            const char *vf, gboolean incoming, const char *log_path,
                            GError **error);
/* From a worker: waits up to @grace_ms for @process to exit (after a quit), then
 * kills it and waits for that; the exit is watched on the main context. */
void engine_end_qemu(XeEngine *self, XeQemuProcess *process, guint grace_ms);
/* A VF's snapshot facts, read on the main context: its driver, and its PF's
 * migration support ("yes", "no", "unknown"). FALSE when no such VF. */
gboolean engine_vf_facts(XeEngine *self, const char *vf, char **driver, char **migration);

/* The worker of a job or an incoming, and its end. */
XeWorker *engine_worker(XeEngine *self, const char *id);
void engine_worker_done(XeEngine *self, const char *id);
/* xe-domain-migration.c: migrating libvirt domain @name (running on the libvirt at @uri)
 * to @host, on the job's worker; its end calls engine_domain_job_done() on main. */
void domain_migration_start(XeEngine *self, XeJob *job, const char *name, const char *host,
                            const char *uri);
void engine_domain_job_done(XeEngine *self, const char *name);

/* xe-libvirt-watch.c, on main: libvirt brings domain @name in (its hook's migrate or
 * restore ran here), each VF of @moved (source address -> this host's VF, taken) in place of
 * the source's: its definition is to name this host's VFs. */
void engine_domain_arriving(XeEngine *self, const char *name, GHashTable *moved);
GHashTable *engine_arrivals_new(void);

/* From a thread counted in live_workers (a GTask thread of the hook's or libvirt's), as it
 * ends: main counts it gone. */
void engine_thread_exited(XeEngine *self);

/* xe-libvirt.c, from a worker (blocking): whether domain @name is active on the libvirt at
 * @uri. FALSE with @error when libvirt cannot say. */
gboolean engine_libvirt_domain_active(XeEngine *self, const char *uri, const char *name,
                                      gboolean *active, GError **error);
/* xe-libvirt.c, from a worker (blocking): the persistent definition of running domain @name
 * with each Xe VF that names a source address of @fix->moved (source -> the VF that took
 * its place here) pointed at that VF. changed: it had to be; settled: the domain runs and is
 * defined here, so no later definition of libvirt's will name the source's addresses. */
typedef struct {
    GHashTable *moved;
    gboolean changed;
    gboolean settled;
} XeDefinitionFix;
gboolean engine_libvirt_fix_definition(XeEngine *self, const char *uri, const char *name,
                                       XeDefinitionFix *fix, GError **error);

/* On main: @job's end is counted for Prometheus (xe-metrics.h). */
void engine_job_watch(XeEngine *self, XeJob *job);

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

G_END_DECLS
