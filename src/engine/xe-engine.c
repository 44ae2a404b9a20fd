/* xe-engine.c: the registry of VMs, jobs and incoming migrations, and the
 * bridge between worker threads and the daemon's main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-engine"

#include "xe-engine-private.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

#include "xe-error.h"
#include "xe-log.h"
#include "xe-qmp-commands.h"
#include "xe-systemd.h"

enum {
    SIGNAL_VM_ADDED,
    SIGNAL_VM_REMOVED,
    SIGNAL_JOB_ADDED,
    SIGNAL_JOB_REMOVED,
    SIGNAL_INCOMING_ADDED,
    SIGNAL_INCOMING_REMOVED,
    SIGNAL_METRICS_CHANGED,
    SIGNAL_LAST
};
static guint signals[SIGNAL_LAST];

static void xe_engine_services_init(XeServicesInterface *iface);

G_DEFINE_TYPE_WITH_CODE(XeEngine, xe_engine, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(XE_TYPE_SERVICES, xe_engine_services_init))

static void
xe_engine_finalize(GObject *object)
{
    XeEngine *self = XE_ENGINE(object);

    g_hash_table_unref(self->workers);
    g_hash_table_unref(self->domain_jobs);
    g_hash_table_unref(self->arriving);
    xe_metrics_free(self->metrics);
    g_hash_table_unref(self->vms);
    g_hash_table_unref(self->jobs);
    g_hash_table_unref(self->incomings);
    g_clear_object(&self->agent);
    g_clear_pointer(&self->watch, xe_libvirt_watch_free);
    g_clear_pointer(&self->libvirt, xe_libvirt_free);
    g_clear_object(&self->stopping);
    g_main_context_unref(self->main);
    G_OBJECT_CLASS(xe_engine_parent_class)->finalize(object);
}

static void
xe_engine_init(XeEngine *self)
{
    self->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->incomings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->workers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->domain_jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    self->arriving = engine_arrivals_new();
    self->metrics = xe_metrics_new();
    self->stopping = g_cancellable_new();
}

static void
xe_engine_class_init(XeEngineClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = xe_engine_finalize;
    signals[SIGNAL_VM_ADDED] = g_signal_new("vm-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 1, XE_TYPE_VM);
    signals[SIGNAL_VM_REMOVED] =
        g_signal_new("vm-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, XE_TYPE_VM);
    signals[SIGNAL_JOB_ADDED] =
        g_signal_new("job-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, XE_TYPE_JOB);
    signals[SIGNAL_JOB_REMOVED] =
        g_signal_new("job-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, XE_TYPE_JOB);
    signals[SIGNAL_INCOMING_ADDED] =
        g_signal_new("incoming-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, XE_TYPE_INCOMING);
    signals[SIGNAL_INCOMING_REMOVED] =
        g_signal_new("incoming-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, XE_TYPE_INCOMING);
    /* a job ended: xe_engine_metrics() says more */
    signals[SIGNAL_METRICS_CHANGED] =
        g_signal_new("metrics-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 0);
}

XeEngine *
xe_engine_new(XeAgent *agent)
{
    XeEngine *self = g_object_new(XE_TYPE_ENGINE, NULL);

    self->agent = g_object_ref(agent);
    self->main = g_main_context_ref_thread_default();
    self->libvirt = xe_libvirt_new();
    return self;
}

XeAgent *
xe_engine_get_agent(XeEngine *self)
{
    return self->agent;
}

XeVm *
xe_engine_lookup_vm(XeEngine *self, const char *name)
{
    return g_hash_table_lookup(self->vms, name);
}

XeJob *
xe_engine_lookup_job(XeEngine *self, const char *id)
{
    return g_hash_table_lookup(self->jobs, id);
}

XeIncoming *
xe_engine_lookup_incoming(XeEngine *self, const char *id)
{
    return g_hash_table_lookup(self->incomings, id);
}

static int
xe_compare_job_ids(const char *a, const char *b)
{
    guint64 x = g_ascii_strtoull(a, NULL, 10), y = g_ascii_strtoull(b, NULL, 10);

    return (x > y) - (x < y);
}

/* settings and policies */

XeEngineSettings *
engine_settings(XeEngine *self)
{
    const XeConfig *c = xe_agent_get_config(self->agent);
    const XeEngineSettings from = { c->state_dir, c->run_dir,           c->policy_dir,
                                    c->transport, c->migration_address, c->peer_timeout_ms };

    return engine_settings_copy(&from);
}

/* Only a configured emulator may run, never a program a D-Bus caller (or a peer) names; and
 * its sandbox is the daemon's to set (xe_qemu_process_spawn()), not the spec's. */
static gboolean
engine_check_emulator(XeEngine *self, const XeVmSpec *spec, GError **error)
{
    const XeConfig *c = xe_agent_get_config(self->agent);
    g_autofree char *allowed = NULL;

    for (guint i = 1; spec->argv[i] != NULL; i++)
        if (g_str_equal(spec->argv[i], "-sandbox") ||
            g_str_has_prefix(spec->argv[i], "-sandbox=")) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "VM '%s': -sandbox is xe-migrated's to set (QEMU runs in its seccomp "
                        "sandbox, as qemu-user): remove it from the VM's arguments",
                        spec->name);
            return FALSE;
        }
    if (g_strv_contains((const char *const *)c->emulators, spec->argv[0]))
        return TRUE;
    allowed = g_strjoinv(", ", c->emulators);
    g_set_error(error, XE_ERROR, XE_ERROR_ACCESS_DENIED,
                "VM '%s': '%s' is not an emulator this host runs (its [daemon] emulators: %s)",
                spec->name, spec->argv[0], allowed);
    return FALSE;
}

/* main-context bridges for workers */

typedef struct {
    XeEngine *engine;
    XeAgentOp op;
    const char *target, *arg, *caller, *profile, *owner, *reservation, *phase;
    gboolean reset;
    JsonNode *document;
} Call;

static void
start_run(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Call *c = data;

    xe_agent_run_async(c->engine->agent, c->op, c->target, c->arg, 0, c->caller, NULL, cb,
                       user_data);
}

gboolean
engine_agent_run(XeEngine *self, XeAgentOp op, const char *target, const char *arg,
                 const char *caller, char **out, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    Call c = { .engine = self, .op = op, .target = target, .arg = arg, .caller = caller };

    /* a read-only query runs here, under the agent's host lock: one thread, not four hops */
    if (op == XE_AGENT_OP_READ_PROFILE || op == XE_AGENT_OP_MIGRATION_SIZE)
        return xe_agent_query_sync(self->agent, op, target, out, error);
    return xe_agent_run_finish(self->agent, xe_await_main(&w, self->main, start_run, &c), out,
                               error);
}

/* The engine's owners: "vm:NAME", "incoming:ID:NAME", "domain:NAME" (a libvirt domain). */
static XeReservationOwner
owner_kind(const char *owner)
{
    return g_str_has_prefix(owner, "vm:")         ? XE_RESERVATION_OWNER_VM
           : g_str_has_prefix(owner, "incoming:") ? XE_RESERVATION_OWNER_INCOMING
           : g_str_has_prefix(owner, "domain:")   ? XE_RESERVATION_OWNER_DOMAIN
                                                  : XE_RESERVATION_OWNER_CALLER;
}

static void
start_reserve(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Call *c = data;

    if (c->target != NULL)
        xe_agent_reserve_vf_async(c->engine->agent, c->target, c->profile, owner_kind(c->owner),
                                  c->owner, NULL, cb, user_data);
    else
        xe_agent_reserve_async(c->engine->agent, c->profile, NULL, owner_kind(c->owner), c->owner,
                               NULL, cb, user_data);
}

/* Releases a reservation of the engine's (a VM's or an incoming's). */
static void
release_async(XeEngine *self, const char *reservation, gboolean reset, const char *caller,
              GAsyncReadyCallback cb, gpointer user_data)
{
    xe_agent_release_async(self->agent, reservation, reset,
                           xe_agent_reservation_owner_kind(self->agent, reservation), caller, NULL,
                           cb, user_data);
}

gboolean
engine_reserve(XeEngine *self, const char *profile, const char *vf, const char *owner,
               char **vf_out, char **reservation, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    Call c = { .engine = self, .profile = profile, .target = vf, .owner = owner };

    return xe_agent_reserve_finish(self->agent, xe_await_main(&w, self->main, start_reserve, &c),
                                   vf_out, reservation, error);
}

static void
start_release(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Call *c = data;

    release_async(c->engine, c->reservation, c->reset, c->caller, cb, user_data);
}

gboolean
engine_release(XeEngine *self, const char *reservation, gboolean reset, const char *caller,
               GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    Call c = { .engine = self, .reservation = reservation, .reset = reset, .caller = caller };

    if (reservation == NULL || *reservation == '\0')
        return TRUE;
    return xe_agent_release_finish(self->agent, xe_await_main(&w, self->main, start_release, &c),
                                   error);
}

static void
start_hooks(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Call *c = data;

    xe_agent_run_hooks_async(c->engine->agent, c->phase, c->document, NULL, cb, user_data);
}

gboolean
engine_hooks(XeEngine *self, const char *phase, JsonNode *document, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    Call c = { .engine = self, .phase = phase, .document = document };

    return xe_agent_run_hooks_finish(self->agent, xe_await_main(&w, self->main, start_hooks, &c),
                                     error);
}

typedef struct {
    XeEngine *engine;
    const char *const *argv;
    const char *qmp_socket, *log_path;
    gboolean incoming;
    XeQemuUser user;
    gboolean as_user; /* the daemon is root: QEMU runs as user */
    char *user_name;
    XeQemuLauncher launcher;
    XeQemuProcess *process;
    GError **error;
} Spawn;

static gboolean
main_spawn_user(gpointer data)
{
    Spawn *s = data;
    const XeConfig *c = xe_agent_get_config(s->engine->agent);

    s->user = c->qemu;
    s->user_name = g_strdup(c->qemu_user);
    s->launcher = c->qemu_launcher;
    return G_SOURCE_REMOVE;
}

static gboolean
main_spawn(gpointer data)
{
    Spawn *s = data;

    s->process = xe_qemu_process_spawn(s->argv, s->qmp_socket, s->incoming, s->log_path,
                                       s->as_user ? &s->user : NULL, s->error);
    return G_SOURCE_REMOVE;
}

typedef struct {
    guint pid;
    guint64 start_time;
    const char *qmp;
    gboolean owns_socket;
    XeQemuProcess *process;
    GError **error;
} Attach;

static gboolean
main_attach(gpointer data)
{
    Attach *t = data;

    t->process = xe_qemu_process_attach(t->pid, t->start_time, t->qmp, t->owns_socket, t->error);
    return G_SOURCE_REMOVE;
}

static gboolean
main_unref(gpointer data)
{
    g_object_unref(data);
    return G_SOURCE_REMOVE;
}

/* On the worker: QEMU started by systemd, then watched (a pidfd, on the main loop). A QEMU
 * that cannot be watched is stopped: none runs unaccounted for. */
static XeQemuProcess *
spawn_service(XeEngine *self, const char *const *argv, const char *qmp_socket, gboolean incoming,
              const char *log_path, const char *user, const char *node, GError **error)
{
    const char *devices[] = { node, NULL };
    Attach t = { .qmp = qmp_socket, .owns_socket = TRUE, .error = error };
    g_autoptr(GError) stop_error = NULL;

    t.pid = xe_qemu_start_service(argv, qmp_socket, incoming, log_path, user, devices, error);
    if (t.pid == 0)
        return NULL;
    xe_call_main(self->main, main_attach, &t);
    /* the pidfd holds the process now: still the service's, it is the one started */
    if (t.process != NULL && !xe_qemu_service_has_pid(qmp_socket, t.pid)) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "%s (%u) ended as soon as it started",
                    argv[0], t.pid);
        /* its pidfd source runs on the main loop: dropped there */
        xe_call_main(self->main, main_unref, t.process);
        t.process = NULL;
    }
    if (t.process == NULL && !xe_qemu_stop_service(qmp_socket, &stop_error)) {
        g_autofree char *unit = xe_qemu_unit_name(qmp_socket);

        xe_systemd_unconfirmed(error, unit, stop_error);
    }
    return t.process;
}

XeQemuProcess *
engine_spawn(XeEngine *self, const char *const *argv, const char *qmp_socket, const char *vf,
             gboolean incoming, const char *log_path, GError **error)
{
    Spawn s = { .engine = self,
                .argv = argv,
                .qmp_socket = qmp_socket,
                .log_path = log_path,
                .incoming = incoming,
                .error = error };
    XeHost *host = xe_agent_get_host(self->agent);
    g_autofree char *user_name = NULL, *group = NULL, *node = NULL;

    /* QEMU never runs as root: a daemon that is root starts it as qemu-user; one that is
     * not starts it as itself */
    s.as_user = geteuid() == 0;
    xe_call_main(self->main, main_spawn_user, &s);
    user_name = g_steal_pointer(&s.user_name);
    if (s.as_user) {
        if (!s.user.found) {
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                        "the user QEMU runs as (qemu-user=%s) does not exist on this host: "
                        "systemd-sysusers creates it from xe-migrated's sysusers.d entry",
                        user_name);
            return NULL;
        }
        if (vf != NULL && !xe_host_vfio_node_share(host, vf, s.user.gid, &group, error))
            return NULL;
    }
    /* the node as QEMU opens it (the host's /dev, whatever root the daemon sees sysfs in) */
    if (group != NULL)
        node = g_strdup_printf("/dev/vfio/%s", group);
    if (s.launcher == XE_QEMU_LAUNCHER_SYSTEMD) {
        s.process =
            spawn_service(self, argv, qmp_socket, incoming, log_path, user_name, node, error);
    } else {
        xe_call_main(self->main, main_spawn, &s);
    }
    /* A QEMU that did not start closes the node at once (one that may still run keeps it
     * with the VF, which stays reserved). One that ran leaves it with the VF: every release
     * of a VF a QEMU had resets it, and a reset closes the node (xe_host_reset_vf()). */
    if (group != NULL && s.process == NULL &&
        !g_error_matches(*error, XE_ERROR, XE_ERROR_UNCONFIRMED)) {
        g_autoptr(GError) local = NULL;

        if (!xe_host_vfio_node_share(host, vf, 0, NULL, &local))
            g_warning("%s", local->message);
    }
    return s.process;
}

/* Ending a QEMU: its "exited" arrives on the main context, where this runs. */
typedef struct {
    XeQemuProcess *process;
    guint grace_ms;
    GTask *task;
    gulong exited_id;
    guint timer;
    gboolean killed;
} End;

static void
end_done(End *e)
{
    g_signal_handler_disconnect(e->process, e->exited_id);
    if (e->timer != 0)
        g_source_remove(e->timer);
    g_task_return_boolean(e->task, TRUE);
    g_object_unref(e->task);
    g_object_unref(e->process);
    g_free(e);
}

static void
end_exited(XeQemuProcess *process, int status, gpointer data)
{
    end_done(data);
}

static gboolean
end_timeout(gpointer data)
{
    End *e = data;

    e->timer = 0;
    if (e->killed) {
        /* SIGKILL did not end it (stuck in the kernel, a VFIO release?): stop waiting */
        g_warning("QEMU %d did not exit after SIGKILL", (int)xe_qemu_process_get_pid(e->process));
        end_done(e);
        return G_SOURCE_REMOVE;
    }
    e->killed = TRUE;
    xe_qemu_process_kill(e->process);
    e->timer = g_timeout_add(10000, end_timeout, e);
    return G_SOURCE_REMOVE;
}

static void
start_end(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    End *e = data;

    e->task = g_task_new(NULL, NULL, cb, user_data);
    if (xe_qemu_process_has_exited(e->process)) {
        g_task_return_boolean(e->task, TRUE);
        g_object_unref(e->task);
        g_object_unref(e->process);
        g_free(e);
        return;
    }
    e->exited_id = g_signal_connect(e->process, "exited", G_CALLBACK(end_exited), e);
    e->timer = g_timeout_add(e->grace_ms, end_timeout, e);
}

void
engine_end_qemu(XeEngine *self, XeQemuProcess *process, guint grace_ms)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    End *e = g_new0(End, 1);

    e->process = g_object_ref(process);
    e->grace_ms = grace_ms;
    (void)xe_await_main(&w, self->main, start_end, e);
}

typedef struct {
    XeEngine *engine;
    const char *vf;
    char *driver, *migration;
    gboolean found;
} Facts;

static gboolean
main_facts(gpointer data)
{
    Facts *f = data;
    GPtrArray *vfs = xe_agent_get_vfs(f->engine->agent);
    GPtrArray *pfs = xe_agent_get_pfs(f->engine->agent);

    for (guint i = 0; i < vfs->len && !f->found; i++) {
        XeAgentVf *vf = vfs->pdata[i];

        if (!g_str_equal(vf->info.bdf, f->vf))
            continue;
        f->found = TRUE;
        f->driver = g_strdup(vf->info.driver != NULL ? vf->info.driver : "");
        for (guint j = 0; j < pfs->len; j++) {
            XePfInfo *pf = pfs->pdata[j];

            if (g_str_equal(pf->bdf, vf->info.pf_bdf))
                f->migration = g_strdup(xe_migration_support_to_string(pf->migration));
        }
    }
    return G_SOURCE_REMOVE;
}

gboolean
engine_vf_facts(XeEngine *self, const char *vf, char **driver, char **migration)
{
    Facts f = { .engine = self, .vf = vf };

    xe_call_main(self->main, main_facts, &f);
    *driver = f.driver;
    *migration = f.migration != NULL ? f.migration : g_strdup("unknown");
    return f.found;
}

/* workers */

XeWorker *
engine_worker(XeEngine *self, const char *id)
{
    g_autofree char *name = g_strdup_printf("xe-%s", id);
    XeWorker *w = xe_worker_new(name);

    g_assert(!g_hash_table_contains(self->workers, id));
    g_hash_table_insert(self->workers, g_strdup(id), w);
    self->live_workers++;
    return w;
}

static gboolean
worker_exited(gpointer data)
{
    XeEngine *self = data;

    self->live_workers--;
    g_object_unref(self);
    return G_SOURCE_REMOVE;
}

void
engine_thread_exited(XeEngine *self)
{
    xe_context_post(self->main, worker_exited, g_object_ref(self), NULL);
}

typedef struct {
    XeEngine *engine;
    char *id;
} WorkerDone;

static gboolean
worker_done_main(gpointer data)
{
    WorkerDone *d = data;
    XeWorker *w = g_hash_table_lookup(d->engine->workers, d->id);

    if (w != NULL) {
        g_hash_table_remove(d->engine->workers, d->id);
        /* never joined: the thread tells worker_exited() when it is gone */
        xe_worker_stop(w, d->engine->main, worker_exited, g_object_ref(d->engine));
    }
    g_object_unref(d->engine);
    g_free(d->id);
    g_free(d);
    return G_SOURCE_REMOVE;
}

void
engine_worker_done(XeEngine *self, const char *id)
{
    WorkerDone *d = g_new0(WorkerDone, 1);

    d->engine = g_object_ref(self);
    d->id = g_strdup(id);
    xe_context_post(self->main, worker_done_main, d, NULL);
}

/* registry */

void
engine_vm_add(XeEngine *self, XeVm *vm)
{
    g_object_set_data(G_OBJECT(vm), "xe-engine", self);
    g_hash_table_replace(self->vms, g_strdup(xe_vm_get_name(vm)), g_object_ref(vm));
    g_signal_emit(self, signals[SIGNAL_VM_ADDED], 0, vm);
}

void
engine_vm_remove(XeEngine *self, XeVm *vm)
{
    g_autoptr(XeVm) keep = g_object_ref(vm);
    g_autoptr(GError) error = NULL;

    if (g_hash_table_lookup(self->vms, xe_vm_get_name(vm)) != vm)
        return;
    g_hash_table_remove(self->vms, xe_vm_get_name(vm));
    if (!xe_journal_drop_vm(xe_agent_get_config(self->agent)->state_dir, xe_vm_get_name(vm),
                            &error))
        g_warning("forgetting VM %s: %s", xe_vm_get_name(vm), error->message);
    g_signal_emit(self, signals[SIGNAL_VM_REMOVED], 0, vm);
}

static gboolean
incoming_is_over(XeIncoming *incoming)
{
    g_autofree char *state = NULL;
    XeIncomingState s;

    g_object_get(incoming, "state", &state, NULL);
    return xe_incoming_state_from_string(state, &s) && xe_incoming_state_is_final(s);
}

void
engine_incoming_ended(XeEngine *self, XeIncoming *incoming)
{
    g_autoptr(GList) ids = g_hash_table_get_keys(self->incomings);
    guint over = 0;

    ids = g_list_sort(ids, (GCompareFunc)xe_compare_job_ids);
    for (GList *l = ids; l != NULL; l = l->next)
        over += incoming_is_over(g_hash_table_lookup(self->incomings, l->data));
    for (GList *l = ids; l != NULL && over > XE_ENGINE_KEEP_FINISHED; l = l->next) {
        g_autoptr(XeIncoming) old = g_object_ref(g_hash_table_lookup(self->incomings, l->data));

        if (!incoming_is_over(old))
            continue;
        g_hash_table_remove(self->incomings, l->data);
        g_signal_emit(self, signals[SIGNAL_INCOMING_REMOVED], 0, old);
        over--;
    }
}

gboolean
engine_name_taken(XeEngine *self, const char *name, GError **error)
{
    GHashTableIter iter;
    gpointer value;

    if (g_hash_table_contains(self->vms, name)) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "a VM named '%s' exists already on this host",
                    name);
        return TRUE;
    }
    g_hash_table_iter_init(&iter, self->incomings);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        if (!incoming_is_over(value) && g_str_equal(xe_incoming_get_spec(value)->name, name)) {
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "VM '%s' is arriving on this host (incoming %s)", name,
                        xe_incoming_get_id(value));
            return TRUE;
        }
    return FALSE;
}

void
engine_reservation_to_vm(XeEngine *self, const char *id, const char *name)
{
    g_autofree char *owner = g_strdup_printf("vm:%s", name);
    g_autoptr(GError) error = NULL;

    if (!xe_agent_transfer_reservation(self->agent, id, XE_RESERVATION_OWNER_VM, owner, &error))
        g_warning("reservation %s stays with its incoming: %s", id, error->message);
}

/* VMs: start or adopt */

static void vm_process_exited(XeQemuProcess *process, int status, gpointer user_data);

typedef struct {
    XeEngine *engine;
    XeVm *vm;
    gboolean start;
    gboolean restoring; /* re-adopting after a restart: whatever the QEMU's state */
    char *caller;
    char *existing; /* the VM's own reservation of its VF, kept from before a restart */
    guint pid;      /* restoring: the QEMU recorded, and its start time */
    guint64 start_time;
    gboolean adopted; /* its QEMU is somebody else's: removing the VM leaves it running */
    XeEngineSettings *settings;
} AddVm;

static void
add_vm_free(AddVm *a)
{
    g_object_unref(a->engine);
    g_object_unref(a->vm);
    g_free(a->caller);
    g_free(a->existing);
    engine_settings_free(a->settings);
    g_free(a);
}

/* The QEMU at @address answers; unless @any_state, it is running or paused. */
static gboolean
check_qmp(const char *address, gboolean any_state, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autoptr(XeQmpClient) client = engine_qmp_connect(address, NULL, error);
    g_autoptr(XeQmpStatus) status = NULL;

    if (client == NULL)
        return FALSE;
    status = XE_AWAIT_CALL(&w, xe_qmp_query_status_async(client, NULL, xe_await_cb, &w),
                           xe_qmp_query_status_finish(client, xe_await(&w), error));
    xe_qmp_client_close(client);
    if (status == NULL)
        return FALSE;
    if (!any_state && !g_str_equal(status->status, "running") &&
        !g_str_equal(status->status, "paused")) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "the QEMU at %s is '%s', not running or paused", address, status->status);
        return FALSE;
    }
    return TRUE;
}

void
engine_vm_watch(XeEngine *self, XeVm *vm)
{
    GObject *process = xe_vm_get_process(vm);

    if (process != NULL)
        g_signal_connect_object(process, "exited", G_CALLBACK(vm_process_exited), vm, 0);
}

static gboolean
main_vm_add(gpointer data)
{
    AddVm *a = data;

    engine_vm_add(a->engine, a->vm);
    engine_vm_watch(a->engine, a->vm);
    /* it may have ended before the watch: its exit is not to be missed */
    if (xe_vm_get_process(a->vm) != NULL &&
        xe_qemu_process_has_exited(XE_QEMU_PROCESS(xe_vm_get_process(a->vm))))
        vm_process_exited(XE_QEMU_PROCESS(xe_vm_get_process(a->vm)), -1, a->vm);
    return G_SOURCE_REMOVE;
}

/* On the worker: reserve (or claim the adopted VF), start QEMU or attach to it, check
 * its monitor. */
static gboolean
add_vm_thread(gpointer data)
{
    g_autoptr(GTask) task = data;
    AddVm *a = g_task_get_task_data(task);
    XeEngine *self = a->engine;
    const XeVmSpec *spec = xe_vm_get_spec(a->vm);
    g_autofree char *owner = g_strdup_printf("vm:%s", spec->name);
    g_autofree char *vf = NULL;
    g_autofree char *reservation = NULL;
    g_autofree char *qmp = NULL;
    g_autofree char *address = NULL;
    g_autoptr(XeQemuProcess) process = NULL;
    GError *error = NULL;

    if (a->existing != NULL) {
        vf = g_strdup(spec->vf);
        reservation = g_strdup(a->existing);
    } else if (!engine_reserve(self, spec->profile, a->start ? NULL : spec->vf, owner, &vf,
                               &reservation, &error)) {
        goto fail;
    }
    if (a->start) {
        g_autofree char *log = NULL;
        g_autofree char *token = g_uuid_string_random();
        g_auto(GStrv) argv = xe_vm_spec_expand_argv(spec, vf);

        if (g_mkdir_with_parents(a->settings->run_dir, 0750) < 0) {
            int e = errno;

            g_set_error(&error, XE_ERROR, XE_ERROR_FAILED, "cannot create run-dir %s: %s",
                        a->settings->run_dir, g_strerror(e));
            goto fail_release;
        }
        /* never the name of a socket whose QEMU may live on */
        token[8] = '\0';
        qmp = g_strdup_printf("%s/vm-%s-%s.qmp", a->settings->run_dir, spec->name, token);
        log = g_strdup_printf("%s/vm-%s.log", a->settings->run_dir, spec->name);
        /* on record before its QEMU starts: a restart finds the QEMU by its socket */
        if (!engine_vm_store(a->settings, spec, qmp, vf, NULL, FALSE, &error))
            goto fail_release;
        process = engine_spawn(self, (const char *const *)argv, qmp, vf, FALSE, log, &error);
        if (process == NULL)
            goto fail_release;
        address = g_strdup(xe_qemu_process_get_qmp_address(process));
    } else {
        Attach t = { a->pid, a->start_time, spec->qmp, a->restoring, NULL, &error };

        qmp = g_strdup(spec->qmp);
        address = g_strdup_printf("unix:%s", qmp);
        if (t.pid == 0)
            t.pid = xe_qmp_socket_server_pid(qmp);
        xe_call_main(self->main, main_attach, &t);
        process = t.process;
        if (process == NULL) {
            /* its QEMU is gone (a restart found it ended), or cannot be watched */
            if (a->restoring)
                g_clear_error(&error),
                    g_set_error(&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                "QEMU %u of VM '%s' has exited", a->pid, spec->name);
            else
                g_prefix_error(&error, "VM '%s': ", spec->name);
            goto fail_release;
        }
    }
    if (!check_qmp(address, a->restoring, &error)) {
        g_prefix_error(&error, "VM '%s': ", spec->name);
        if (a->start) /* gone before its VF is reset */
            engine_end_qemu(self, process, 0);
        goto fail_release;
    }
    xe_vm_set_process(a->vm, G_OBJECT(process));
    xe_record_post(a->vm, "vf", vf, "reservation", reservation, "qmp-socket", qmp, "pid",
                   (guint)xe_qemu_process_get_pid(process), "state",
                   xe_vm_state_to_string(XE_VM_RUNNING), NULL);
    if (!engine_vm_store(a->settings, spec, qmp, vf, process, a->adopted, &error)) {
        g_warning("%s; it will not be re-adopted after a restart", error->message);
        g_clear_error(&error);
    }
    xe_call_main(self->main, main_vm_add, a);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, vf, a->caller, "VM %s %s on %s",
                 spec->name,
                 a->start       ? "started"
                 : a->restoring ? "re-adopted"
                                : "adopted",
                 vf);
    g_task_return_pointer(task, g_object_ref(a->vm), g_object_unref);
    engine_worker_done(self, owner);
    return G_SOURCE_REMOVE;

fail_release:
    /* A VF a QEMU we started may have touched gets a reset; an adopted one is left as it was;
     * one kept from before a restart stays reserved (the caller decides), and so does one a
     * QEMU may still hold (Unconfirmed: the error says how to clear it). */
    if (a->existing == NULL && !g_error_matches(error, XE_ERROR, XE_ERROR_UNCONFIRMED))
        (void)engine_release(self, reservation, a->start, a->caller, NULL);
    if (a->start) {
        g_autoptr(GError) local = NULL;

        if (!xe_journal_drop_vm(a->settings->state_dir, spec->name, &local))
            g_warning("%s", local->message);
    }
fail:
    g_task_return_error(task, error);
    engine_worker_done(self, owner);
    return G_SOURCE_REMOVE;
}

/* The socket's path as the kernel resolves it, to tell two spellings of one socket. */
static char *
canonical_socket(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *real = realpath(dir, NULL);

    return g_build_filename(real != NULL ? real : dir, base, NULL);
}

static gboolean
socket_adopted(XeEngine *self, const char *qmp, GError **error)
{
    g_autofree char *want = canonical_socket(qmp);
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->vms);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_autofree char *theirs = NULL;
        g_autofree char *canonical = NULL;

        g_object_get(value, "qmp-socket", &theirs, NULL);
        if (theirs == NULL || *theirs == '\0')
            continue;
        canonical = canonical_socket(theirs);
        if (g_str_equal(canonical, want)) {
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "the QEMU at %s is VM '%s' already: one QEMU is adopted once", qmp,
                        xe_vm_get_name(value));
            return TRUE;
        }
    }
    return FALSE;
}

static void
add_vm(XeEngine *self, const XeVmSpec *spec, gboolean start, gboolean restoring, guint pid,
       guint64 start_time, gboolean adopted, const char *caller, GTask *task)
{
    g_autoptr(GTask) owned = task; /* returned (and dropped) here on every early refusal */
    g_autofree char *owner = g_strdup_printf("vm:%s", spec->name);
    GError *error = NULL;
    AddVm *a;

    if (engine_name_taken(self, spec->name, &error) ||
        g_hash_table_contains(self->workers, owner)) {
        if (error == NULL)
            g_set_error(&error, XE_ERROR, XE_ERROR_BUSY, "VM '%s' is being added or removed",
                        spec->name);
        g_task_return_error(task, error);
        return;
    }
    if (start && !engine_check_emulator(self, spec, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (!start && spec->qmp == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                                "VM '%s': adopting needs its 'qmp' socket and 'vf'; or start it",
                                spec->name);
        return;
    }
    if (!start && socket_adopted(self, spec->qmp, &error)) {
        g_task_return_error(task, error);
        return;
    }
    a = g_new0(AddVm, 1);
    a->engine = g_object_ref(self);
    a->vm = xe_vm_new(spec, self->main);
    a->start = start;
    a->restoring = restoring;
    a->pid = pid;
    a->start_time = start_time;
    a->adopted = !start && adopted;
    g_object_set(a->vm, "adopted", a->adopted, NULL);
    if (!start) {
        /* After a restart the VM's reservation is still on disk: it is the VM's, or the
         * incoming's that brought it here (which then hands it over). */
        g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(self->agent));
        g_autofree char *arrived = g_strdup_printf(":%s", spec->name);
        g_autofree char *before_kinds = g_strdup_printf("caller:%s", owner); /* an upgrade */
        GVariantIter iter;
        const char *id, *vf, *profile, *res_owner;
        gint64 created;

        g_variant_iter_init(&iter, list);
        while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &res_owner, &created))
            if (g_str_equal(vf, spec->vf) && a->existing == NULL &&
                (g_str_equal(res_owner, owner) ||
                 (restoring && g_str_equal(res_owner, before_kinds)) ||
                 (restoring && g_str_has_prefix(res_owner, "incoming:") &&
                  g_str_has_suffix(res_owner, arrived)))) {
                a->existing = g_strdup(id);
                if (!g_str_equal(res_owner, owner))
                    engine_reservation_to_vm(self, id, spec->name);
            }
    }
    a->caller = g_strdup(caller);
    a->settings = engine_settings(self);
    g_task_set_task_data(task, a, (GDestroyNotify)add_vm_free);
    xe_worker_invoke(engine_worker(self, owner), add_vm_thread, g_steal_pointer(&owned), NULL);
}

void
xe_engine_add_vm_async(XeEngine *self, const XeVmSpec *spec, gboolean start, const char *caller,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    add_vm(self, spec, start, FALSE, 0, 0, !start, caller,
           g_task_new(self, cancellable, callback, user_data));
}

XeVm *
xe_engine_add_vm_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* A VM's QEMU ended on its own (a guest shutdown, a crash, a kill): its VF is reset and
 * released, and the VM forgotten. One in a migration is its job's to account for. */
static void
vm_released(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *vf = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_agent_release_finish(XE_AGENT(source), result, &error))
        g_warning("releasing %s after its VM ended: %s", vf, error->message);
}

static void
vm_process_exited(XeQemuProcess *process, int status, gpointer user_data)
{
    XeVm *vm = user_data;
    g_autofree char *reservation = NULL;
    g_autofree char *vf = NULL;
    XeVmState state = xe_vm_get_state(vm);
    XeEngine *self;

    g_object_get(vm, "reservation", &reservation, "vf", &vf, NULL);
    if (state == XE_VM_MIGRATING || state == XE_VM_MIGRATED || state == XE_VM_STOPPING)
        return; /* whoever is moving or stopping it accounts for it */
    self = g_object_get_data(G_OBJECT(vm), "xe-engine");
    if (self == NULL || g_hash_table_lookup(self->vms, xe_vm_get_name(vm)) != vm)
        return;
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, vf, NULL,
                 "VM %s: its QEMU exited (%d); resetting and releasing %s", xe_vm_get_name(vm),
                 status, vf);
    xe_vm_set_state(vm, XE_VM_STOPPED);
    release_async(self, reservation, TRUE, "xe-migrated", vm_released, g_strdup(vf));
    engine_vm_remove(self, vm);
}

void
engine_vm_settle(XeEngine *self, XeVm *vm)
{
    XeQemuProcess *process = (XeQemuProcess *)xe_vm_get_process(vm);

    if (process != NULL && xe_qemu_process_has_exited(process))
        vm_process_exited(process, xe_qemu_process_get_exit_status(process), vm);
}

/* VMs: removal */

typedef struct {
    XeEngine *engine;
    XeVm *vm;
    char *caller;
    char *reservation;
    char *qmp;
    char *name;
    XeQemuProcess *process;
    gboolean adopted;
} RemoveVm;

static void
remove_vm_free(RemoveVm *r)
{
    g_object_unref(r->engine);
    g_object_unref(r->vm);
    g_free(r->caller);
    g_free(r->reservation);
    g_free(r->qmp);
    g_free(r->name);
    g_clear_object(&r->process);
    g_free(r);
}

static gboolean
main_vm_remove(gpointer data)
{
    RemoveVm *r = data;

    xe_vm_set_state(r->vm, XE_VM_STOPPED);
    engine_vm_remove(r->engine, r->vm);
    return G_SOURCE_REMOVE;
}

static gboolean
remove_vm_thread(gpointer data)
{
    g_autoptr(GTask) task = data;
    RemoveVm *r = g_task_get_task_data(task);
    XeQemuProcess *process = r->process;
    g_autofree char *id = g_strdup_printf("vm:%s", r->name);
    gboolean alive = process != NULL && !xe_qemu_process_has_exited(process);
    gboolean reset;
    GError *error = NULL;

    if (alive && !r->adopted) {
        g_autofree char *address = g_strdup_printf("unix:%s", r->qmp);
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        g_autoptr(XeQmpClient) client = engine_qmp_connect(address, NULL, NULL);

        /* quit, else kill: the VF is reset next either way */
        if (client != NULL)
            (void)XE_AWAIT_CALL(&w, xe_qmp_quit_async(client, NULL, xe_await_cb, &w),
                                xe_qmp_quit_finish(client, xe_await(&w), NULL));
        engine_end_qemu(r->engine, process, 5000);
        alive = FALSE;
    }
    /* An adopted QEMU that runs on keeps its VF as it is: no reset under it. */
    reset = !alive;
    if (!engine_release(r->engine, r->reservation, reset, r->caller, &error)) {
        g_task_return_error(task, error);
    } else {
        xe_call_main(r->engine->main, main_vm_remove, r);
        g_task_return_boolean(task, TRUE);
    }
    engine_worker_done(r->engine, id);
    return G_SOURCE_REMOVE;
}

void
xe_engine_remove_vm_async(XeEngine *self, const char *name, const char *caller,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    XeVm *vm = g_hash_table_lookup(self->vms, name);
    g_autofree char *id = g_strdup_printf("vm:%s", name);
    g_autofree char *job = NULL;
    gboolean adopted = FALSE;
    RemoveVm *r;

    if (vm == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_FOUND, "no VM '%s' on this host",
                                name);
        return;
    }
    g_object_get(vm, "job", &job, "adopted", &adopted, NULL);
    if (xe_vm_get_state(vm) == XE_VM_MIGRATING) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "VM '%s' is migrating (job %s): cancel the job first", name, job);
        return;
    }
    if (g_hash_table_contains(self->workers, id)) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "VM '%s' is being added or removed already", name);
        return;
    }
    r = g_new0(RemoveVm, 1);
    r->engine = g_object_ref(self);
    r->vm = g_object_ref(vm);
    r->caller = g_strdup(caller);
    r->adopted = adopted;
    g_object_get(vm, "reservation", &r->reservation, "qmp-socket", &r->qmp, NULL);
    r->name = g_strdup(name);
    if (xe_vm_get_process(vm) != NULL)
        r->process = g_object_ref(XE_QEMU_PROCESS(xe_vm_get_process(vm)));
    /* Before QEMU is told to quit, so that its exit is not taken for a crash. */
    xe_vm_set_state(vm, XE_VM_STOPPING);
    g_task_set_task_data(task, r, (GDestroyNotify)remove_vm_free);
    xe_worker_invoke(engine_worker(self, id), remove_vm_thread, g_steal_pointer(&task), NULL);
}

gboolean
xe_engine_remove_vm_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* migration jobs */

/* Finished jobs stay for their clients to read, the newest XE_ENGINE_KEEP_FINISHED. */
static void
prune_jobs(XeEngine *self)
{
    g_autoptr(GList) ids = g_hash_table_get_keys(self->jobs);
    guint finished = 0;

    ids = g_list_sort(ids, (GCompareFunc)xe_compare_job_ids);
    for (GList *l = ids; l != NULL; l = l->next)
        finished += xe_job_is_finished(g_hash_table_lookup(self->jobs, l->data));
    for (GList *l = ids; l != NULL && finished > XE_ENGINE_KEEP_FINISHED; l = l->next) {
        g_autoptr(XeJob) job = g_object_ref(g_hash_table_lookup(self->jobs, l->data));

        if (!xe_job_is_finished(job))
            continue;
        g_hash_table_remove(self->jobs, l->data);
        g_signal_emit(self, signals[SIGNAL_JOB_REMOVED], 0, job);
        finished--;
    }
}

/* a job's end, once: its figures for Prometheus, and a word to whoever exports them */
static void
on_job_finished(XeJob *job, GParamSpec *pspec, XeEngine *self)
{
    gint64 finished = 0;

    g_object_get(job, "finished", &finished, NULL);
    if (finished == 0)
        return;
    xe_metrics_job_ended(self->metrics, job);
    g_signal_emit(self, signals[SIGNAL_METRICS_CHANGED], 0);
}

void
engine_job_watch(XeEngine *self, XeJob *job)
{
    g_signal_connect_object(job, "notify::finished", G_CALLBACK(on_job_finished), self, 0);
}

char *
xe_engine_metrics(XeEngine *self)
{
    return xe_metrics_render(self->metrics, self->agent);
}

static XeJob *
job_add(XeEngine *self, const char *name, const char *host, const char *policy, const char *caller)
{
    g_autofree char *id = NULL;
    XeJob *job;

    prune_jobs(self);
    id = g_strdup_printf("%u", ++self->next_job);
    job = xe_job_new(self->main, id, name, host, policy, caller);
    g_hash_table_replace(self->jobs, g_strdup(id), job);
    engine_job_watch(self, job);
    return job;
}

static gboolean
migrate_refused(XeEngine *self, const char *host, const char *policy, GError **error)
{
    if (host == NULL || *host == '\0' || g_str_has_prefix(host, "-")) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "'%s' is not a host name to migrate to", host != NULL ? host : "");
        return TRUE;
    }
    if (policy != NULL && *policy != '\0' && !xe_vm_name_is_valid(policy)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "bad policy name '%s'", policy);
        return TRUE;
    }
    if (self->shutting_down) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "xe-migrated is stopping");
        return TRUE;
    }
    return FALSE;
}

static XeJob *
migrate_vm(XeEngine *self, XeVm *vm, const char *host, const char *policy, const char *caller,
           GError **error)
{
    g_autofree char *state = NULL;
    g_autofree char *vm_policy = NULL;
    XeJob *job;

    g_object_get(vm, "state", &state, "policy", &vm_policy, NULL);
    if (xe_vm_get_state(vm) != XE_VM_RUNNING) {
        /* One migration per VM, and so per VF: the VF of a VM in a migration
         * stays reserved to it, so nobody binds, provisions or resets it. */
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "VM '%s' is %s, not running",
                    xe_vm_get_spec(vm)->name, state);
        return NULL;
    }
    job = job_add(self, xe_vm_get_spec(vm)->name, host,
                  policy != NULL && *policy != '\0' ? policy : vm_policy, caller);
    g_object_set(vm, "state", xe_vm_state_to_string(XE_VM_MIGRATING), "job", xe_job_get_id(job),
                 NULL);
    g_signal_emit(self, signals[SIGNAL_JOB_ADDED], 0, job);
    migration_start(XE_SERVICES(self), job, vm, host);
    return job;
}

typedef struct {
    char *name, *host, *policy, *caller, *uri;
} MigrateRequest;

static void
migrate_request_free(MigrateRequest *r)
{
    g_free(r->name);
    g_free(r->host);
    g_free(r->policy);
    g_free(r->caller);
    g_free(r->uri);
    g_free(r);
}

/* a thread of its own: is there such a domain, running here? */
static void
domain_lookup_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    MigrateRequest *r = data;
    GError *error = NULL;
    gboolean active = FALSE;

    if (!engine_libvirt_domain_active(self, r->uri, r->name, &active, &error))
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, active);
    engine_thread_exited(self);
}

static void
domain_lookup_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeEngine *self = XE_ENGINE(source);
    g_autoptr(GTask) task = user_data;
    MigrateRequest *r = g_task_get_task_data(task);
    GError *error = NULL;
    gboolean active = g_task_propagate_boolean(G_TASK(result), &error);
    const char *busy;
    XeJob *job;

    if (error != NULL) {
        g_prefix_error(&error, "no VM '%s' on this host, and ", r->name);
        g_task_return_error(task, error);
        return;
    }
    if (!active) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_FOUND,
                                "no VM '%s' on this host, nor a running libvirt domain of that "
                                "name (%s)",
                                r->name, r->uri);
        return;
    }
    /* checked again: main ran other requests while libvirt answered */
    if (migrate_refused(self, r->host, r->policy, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if ((busy = g_hash_table_lookup(self->domain_jobs, r->name)) != NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "domain '%s' is migrating already (job %s)", r->name, busy);
        return;
    }
    job = job_add(self, r->name, r->host,
                  r->policy != NULL && *r->policy != '\0' ? r->policy : "default", r->caller);
    g_hash_table_insert(self->domain_jobs, g_strdup(r->name), g_strdup(xe_job_get_id(job)));
    g_signal_emit(self, signals[SIGNAL_JOB_ADDED], 0, job);
    domain_migration_start(self, job, r->name, r->host, r->uri);
    g_task_return_pointer(task, g_object_ref(job), g_object_unref);
}

void
engine_domain_job_done(XeEngine *self, const char *name)
{
    g_hash_table_remove(self->domain_jobs, name);
}

void
xe_engine_migrate_async(XeEngine *self, const char *name, const char *host, const char *policy,
                        const char *caller, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    const char *uri = xe_agent_get_config(self->agent)->libvirt_uri;
    XeVm *vm = g_hash_table_lookup(self->vms, name);
    GError *error = NULL;
    MigrateRequest *r;
    XeJob *job;

    if (migrate_refused(self, host, policy, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (vm != NULL) {
        job = migrate_vm(self, vm, host, policy, caller, &error);
        if (job == NULL)
            g_task_return_error(task, error);
        else
            g_task_return_pointer(task, g_object_ref(job), g_object_unref);
        return;
    }
    if (uri == NULL || *uri == '\0' || !xe_vm_name_is_valid(name)) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_FOUND, "no VM '%s' on this host",
                                name);
        return;
    }
    /* a libvirt domain of that name? (libvirt's API blocks: asked on a thread) */
    r = g_new0(MigrateRequest, 1);
    r->name = g_strdup(name);
    r->host = g_strdup(host);
    r->policy = g_strdup(policy);
    r->caller = g_strdup(caller);
    r->uri = g_strdup(uri);
    {
        GTask *lookup = g_task_new(self, cancellable, domain_lookup_done, g_object_ref(task));

        g_task_set_task_data(task, r, (GDestroyNotify)migrate_request_free);
        g_task_set_task_data(lookup, r, NULL);
        self->live_workers++;
        g_task_run_in_thread(lookup, domain_lookup_thread);
        g_object_unref(lookup);
    }
}

XeJob *
xe_engine_migrate_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
xe_engine_resolve_job(XeEngine *self, const char *id, const char *where, const char *caller,
                      GError **error)
{
    XeJob *job = g_hash_table_lookup(self->jobs, id);

    if (job == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no job %s", id);
        return FALSE;
    }
    if (!xe_job_resolve(job, where, error))
        return FALSE;
    xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_MIGRATION_FAILED, NULL, NULL, caller,
                 "job %s: %s says the VM runs on the %s", id, caller, where);
    return TRUE;
}

/* destination side */

void
xe_engine_prepare_incoming_async(XeEngine *self, GVariant *spec_variant, const char *profile,
                                 GVariant *options, const char *owner, const char *host,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(XeVmSpec) spec = NULL;
    g_autofree char *id = NULL;
    g_autofree char *vm_worker = NULL;
    XeIncoming *incoming;
    GError *error = NULL;

    spec = xe_vm_spec_from_variant(spec_variant, &error);
    if (spec == NULL) {
        g_task_return_error(task, error);
        return;
    }
    vm_worker = g_strdup_printf("vm:%s", spec->name);
    /* The destination gets its own VF: an adopted source's socket and VF mean nothing here. */
    g_clear_pointer(&spec->qmp, g_free);
    g_clear_pointer(&spec->vf, g_free);
    if (!engine_check_emulator(self, spec, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (engine_name_taken(self, spec->name, &error) ||
        g_hash_table_contains(self->workers, vm_worker)) {
        if (error == NULL)
            g_set_error(&error, XE_ERROR, XE_ERROR_BUSY, "VM '%s' is being added on this host",
                        spec->name);
        g_task_return_error(task, error);
        return;
    }
    if (self->shutting_down) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY, "xe-migrated is stopping");
        return;
    }
    id = g_strdup_printf("%u", ++self->next_incoming);
    incoming = xe_incoming_new(self->main, id, spec, owner);
    g_hash_table_replace(self->incomings, g_strdup(id), incoming);
    g_signal_emit(self, signals[SIGNAL_INCOMING_ADDED], 0, incoming);
    incoming_prepare(XE_SERVICES(self), incoming, profile, options, host, g_steal_pointer(&task));
}

GVariant *
xe_engine_prepare_incoming_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* The incoming @id, or NULL with @task returned NotFound. */
static XeIncoming *
incoming_or_error(XeEngine *self, const char *id, GTask *task)
{
    XeIncoming *incoming = g_hash_table_lookup(self->incomings, id);

    if (incoming == NULL)
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_FOUND, "no incoming migration %s", id);
    return incoming;
}

void
xe_engine_incoming_finish_async(XeEngine *self, const char *id, guint timeout_ms,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    XeIncoming *incoming = incoming_or_error(self, id, task);

    if (incoming != NULL)
        incoming_finish(XE_SERVICES(self), incoming, timeout_ms, g_steal_pointer(&task));
}

gboolean
xe_engine_incoming_finish_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
xe_engine_incoming_abort_async(XeEngine *self, const char *id, const char *why,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    XeIncoming *incoming = incoming_or_error(self, id, task);

    if (incoming != NULL)
        incoming_abort(XE_SERVICES(self), incoming, why, g_steal_pointer(&task));
}

gboolean
xe_engine_incoming_abort_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
xe_engine_owner_vanished(XeEngine *self, const char *owner)
{
    GHashTableIter iter;
    gpointer value;
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_object_unref);

    g_hash_table_iter_init(&iter, self->incomings);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_autofree char *o = NULL;

        g_object_get(value, "owner", &o, NULL);
        if (g_strcmp0(o, owner) == 0 && !incoming_is_over(value))
            g_ptr_array_add(gone, g_object_ref(value));
    }
    for (guint i = 0; i < gone->len; i++) {
        /* Before completion: abort. After: the VM lives here now; Finish adopts it. */
        incoming_abort(XE_SERVICES(self), gone->pdata[i], "the source daemon went away",
                       g_task_new(self, NULL, NULL, NULL));
    }
}

void
xe_engine_shutdown(XeEngine *self)
{
    GHashTableIter iter;
    gpointer value;

    self->shutting_down = TRUE;
    g_cancellable_cancel(self->stopping);
    g_hash_table_iter_init(&iter, self->jobs);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        xe_job_cancel(value);
    /* Incoming QEMUs are paused until Finish: none runs a VM yet, so none is lost; a
     * committed one refuses, and becomes a VM of this host on its own. */
    {
        g_autoptr(GList) incomings = g_hash_table_get_values(self->incomings);

        for (GList *l = incomings; l != NULL; l = l->next)
            if (!incoming_is_over(l->data))
                incoming_abort(XE_SERVICES(self), l->data, "xe-migrated is stopping",
                               g_task_new(self, NULL, NULL, NULL));
    }
    /* Until every worker thread has exited: jobs put their source VM back in running
     * order. (This iterates the main context; no thread is joined.) */
    while (self->live_workers > 0)
        g_main_context_iteration(self->main, TRUE);
}

guint
xe_engine_get_draining(XeEngine *self)
{
    return self->live_workers;
}

gboolean
xe_engine_is_stopping(XeEngine *self)
{
    return self->shutting_down;
}

/* restart: reconciling with what the journal recorded
 *
 * In this order, before the daemon takes its bus name: the incomings (a committed one is
 * a VM of this host, any other is aborted), then the VMs (re-adopted by their QMP
 * sockets, or released when their QEMU ended), then the source jobs (each decided from its
 * VM's QEMU and the destination's incoming; one the peer cannot answer for goes on
 * trying on its worker). */

typedef struct {
    XeEngine *engine;
    XeVmSpec *spec;
    guint pid;
    guint64 start_time;
    GHashTable *handled; /* names of the VMs on record, re-adopted or not */
    gboolean found;
    gboolean adopted;
    XeIncomingEntry *entry;
    XeJobEntry *job_entry;
    XeJob *job;
    guint max_incoming, max_job;
} Restore;

static void
drop_released(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *what = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_agent_release_finish(XE_AGENT(source), result, &error))
        g_warning("%s: releasing its VF: %s", what, error->message);
}

/* Releases (with a reset) the reservations of @vf owned as @prefix... (or any owner
 * ending in @suffix); both NULL-able. */
static void
release_owned(XeEngine *self, const char *vf, const char *prefix, const char *suffix,
              const char *what)
{
    g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(self->agent));
    GVariantIter iter;
    const char *id, *res_vf, *profile, *owner;
    gint64 created;

    g_variant_iter_init(&iter, list);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &res_vf, &profile, &owner, &created))
        if ((vf == NULL || g_strcmp0(vf, res_vf) == 0) &&
            (prefix == NULL || g_str_has_prefix(owner, prefix)) &&
            (suffix == NULL || g_str_has_suffix(owner, suffix)))
            release_async(self, id, TRUE, "xe-migrated (restart)", drop_released, g_strdup(what));
}

/* The VM's QEMU is gone: reset and release its VF, forget it. */
static gboolean
main_restore_drop(gpointer data)
{
    Restore *r = data;
    g_autofree char *owner = g_strdup_printf("vm:%s", r->spec->name);
    g_autofree char *arrived = g_strdup_printf(":%s", r->spec->name);
    g_autofree char *what = g_strdup_printf("VM %s, gone", r->spec->name);
    g_autoptr(GError) error = NULL;

    release_owned(r->engine, r->spec->vf, owner, NULL, what);
    release_owned(r->engine, r->spec->vf, "incoming:", arrived, what);
    if (!xe_journal_drop_vm(xe_agent_get_config(r->engine->agent)->state_dir, r->spec->name,
                            &error))
        g_warning("forgetting VM %s: %s", r->spec->name, error->message);
    return G_SOURCE_REMOVE;
}

static void
start_readopt(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Restore *r = data;

    add_vm(r->engine, r->spec, FALSE, TRUE, r->pid, r->start_time, r->adopted,
           "xe-migrated (restart)", g_task_new(r->engine, NULL, cb, user_data));
}

/* An incoming over, as a tombstone a source can ask about. */
static gboolean
main_tombstone(gpointer data)
{
    Restore *r = data;
    g_autoptr(XeVmSpec) spec = xe_vm_spec_load_from_data(r->entry->spec, r->entry->id, NULL);
    XeVmSpec fallback = { .name = r->entry->vm };
    XeIncoming *incoming;

    incoming = xe_incoming_new(r->engine->main, r->entry->id, spec != NULL ? spec : &fallback,
                               r->entry->owner != NULL ? r->entry->owner : "");
    g_object_set(incoming, "state", xe_incoming_state_to_string(r->entry->state), "vf",
                 r->entry->vf != NULL ? r->entry->vf : "", "reservation",
                 r->entry->reservation != NULL ? r->entry->reservation : "", "error",
                 r->entry->error != NULL ? r->entry->error : "", "exited", TRUE, NULL);
    g_hash_table_replace(r->engine->incomings, g_strdup(r->entry->id), incoming);
    g_signal_emit(r->engine, signals[SIGNAL_INCOMING_ADDED], 0, incoming);
    return G_SOURCE_REMOVE;
}

static gboolean
main_release_stray_incomings(gpointer data)
{
    Restore *r = data;
    g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(r->engine->agent));
    GVariantIter iter;
    const char *id, *vf, *profile, *owner;
    gint64 created;

    /* An incoming's reservation outlives it only while it is committed (its VM then takes
     * the reservation over as it is re-adopted). */
    g_variant_iter_init(&iter, list);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &owner, &created)) {
        g_auto(GStrv) parts = g_strsplit(owner, ":", 3);
        XeIncoming *incoming;
        g_autofree char *state = NULL;

        if (!g_str_has_prefix(owner, "incoming:") || g_strv_length(parts) < 2)
            continue;
        incoming = g_hash_table_lookup(r->engine->incomings, parts[1]);
        if (incoming != NULL)
            g_object_get(incoming, "state", &state, NULL);
        /* a committed one's VM holds it (its record may yet be written: never reset it) */
        if (g_strcmp0(state, "running") != 0 && g_strcmp0(state, "committed") != 0)
            release_async(r->engine, id, TRUE, "xe-migrated (restart)", drop_released,
                          g_strdup_printf("incoming %s", parts[1]));
    }
    return G_SOURCE_REMOVE;
}

/* A VM's reservation without its VM: the daemon died between the two (a VM being
 * started, its record not yet written); nothing runs on it. */
static gboolean
main_release_stray_vms(gpointer data)
{
    Restore *r = data;
    g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(r->engine->agent));
    GVariantIter iter;
    const char *id, *vf, *profile, *owner;
    gint64 created;

    g_variant_iter_init(&iter, list);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &owner, &created))
        if (g_str_has_prefix(owner, "vm:") &&
            !g_hash_table_contains(r->handled, owner + strlen("vm:")))
            release_async(r->engine, id, TRUE, "xe-migrated (restart)", drop_released,
                          g_strdup_printf("reservation %s of %s", id, owner));
    return G_SOURCE_REMOVE;
}

static gboolean
main_ids(gpointer data)
{
    Restore *r = data;

    r->engine->next_incoming = MAX(r->engine->next_incoming, r->max_incoming);
    r->engine->next_job = MAX(r->engine->next_job, r->max_job);
    return G_SOURCE_REMOVE;
}

static gboolean
main_has_vm(gpointer data)
{
    Restore *r = data;

    r->found = g_hash_table_contains(r->engine->vms, r->job_entry->vm);
    return G_SOURCE_REMOVE;
}

static gboolean
main_restore_job(gpointer data)
{
    Restore *r = data;
    XeJobEntry *e = r->job_entry;
    XeVm *vm = g_hash_table_lookup(r->engine->vms, e->vm);

    r->job =
        xe_job_new(r->engine->main, e->id, e->vm, e->host,
                   e->policy != NULL ? e->policy : "default", e->caller != NULL ? e->caller : "");
    g_object_set(r->job, "state", xe_job_state_to_string(XE_JOB_RUNNING), "phase",
                 xe_job_phase_to_string(XE_JOB_PHASE_VERIFYING), "attempt", MAX(e->attempt, 1u),
                 "started", e->started, NULL);
    g_hash_table_replace(r->engine->jobs, g_strdup(e->id), g_object_ref(r->job));
    engine_job_watch(r->engine, r->job);
    if (vm != NULL)
        g_object_set(vm, "state", xe_vm_state_to_string(XE_VM_MIGRATING), "job", e->id, NULL);
    g_signal_emit(r->engine, signals[SIGNAL_JOB_ADDED], 0, r->job);
    return G_SOURCE_REMOVE;
}

static void
start_resume(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Restore *r = data;
    XeVm *vm = g_hash_table_lookup(r->engine->vms, r->job_entry->vm);

    migration_resume(XE_SERVICES(r->engine), r->job, vm, r->job_entry,
                     g_task_new(r->engine, NULL, cb, user_data));
}

static void
restore_vms(XeEngine *self, const XeEngineSettings *s, GHashTable *handled, guint *adopted,
            guint *gone, guint *kept)
{
    g_autofree char *dir = g_build_filename(s->state_dir, "vms", NULL);
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    const char *name;

    while (listing != NULL && (name = g_dir_read_name(listing)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(XeVmSpec) spec = NULL;
        g_autoptr(XeVm) vm = NULL;
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        Restore r = { self };

        if (!g_str_has_suffix(name, ".vm"))
            continue;
        /* on record, even unreadable: its VF's reservation is not a stray */
        g_hash_table_add(handled, g_strndup(name, strlen(name) - strlen(".vm")));
        spec = xe_journal_load_vm(path, &r.pid, &r.start_time, &r.adopted, &error);
        if (spec == NULL || spec->qmp == NULL) {
            g_warning("not re-adopting %s: %s", path,
                      error != NULL ? error->message : "it names no QMP socket");
            (*kept)++;
            continue;
        }
        r.spec = spec;
        vm =
            xe_engine_add_vm_finish(self, xe_await_main(&w, self->main, start_readopt, &r), &error);
        if (vm != NULL) {
            (*adopted)++;
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
                   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
            /* its QEMU ended while we were away */
            xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, spec->vf, NULL,
                         "VM %s ended while xe-migrated was down (%s); releasing %s", spec->name,
                         error->message, spec->vf);
            xe_call_main(self->main, main_restore_drop, &r);
            (*gone)++;
        } else {
            /* alive but not answering as expected: leave it, and its VF, as they are */
            g_warning("not re-adopting VM %s: %s; its record stays in %s", spec->name,
                      error->message, path);
            (*kept)++;
        }
    }
}

static gboolean
restore_thread(gpointer data)
{
    g_autoptr(GTask) task = data;
    XeEngine *self = g_task_get_source_object(task);
    XeEngineSettings *s = g_task_get_task_data(task);
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) incomings = xe_journal_load_incomings(s->state_dir, warnings);
    g_autoptr(GPtrArray) jobs = NULL;
    guint adopted = 0, gone = 0, kept = 0, aborted = 0, arrived = 0, resolved = 0;
    Restore ids = { self };

    /* 1. incomings: each ends now (committed ones as VMs); all stay as tombstones */
    for (guint i = 0; i < incomings->len; i++) {
        XeIncomingEntry *e = incomings->pdata[i];
        Restore r = { self, .entry = e };

        if (!xe_incoming_state_is_final(e->state)) {
            incoming_reconcile(XE_SERVICES(self), s, e);
            if (e->state == XE_INCOMING_RUNNING)
                arrived++;
            else
                aborted++;
        }
        xe_call_main(self->main, main_tombstone, &r);
    }
    ids.max_incoming = xe_journal_max_id(incomings, TRUE);
    xe_journal_prune_incomings(s->state_dir, XE_ENGINE_KEEP_FINISHED);
    xe_call_main(self->main, main_release_stray_incomings, &ids);

    /* 2. VMs (a VM on record, or committed here, is no stray even if not re-adopted) */
    ids.handled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < incomings->len; i++) {
        XeIncomingEntry *e = incomings->pdata[i];

        if (e->state == XE_INCOMING_COMMITTED)
            g_hash_table_add(ids.handled, g_strdup(e->vm));
    }
    restore_vms(self, s, ids.handled, &adopted, &gone, &kept);
    xe_call_main(self->main, main_release_stray_vms, &ids);

    /* 3. source jobs a dead daemon left */
    jobs = xe_journal_load_jobs(s->state_dir, warnings);
    ids.max_job = xe_journal_max_id(jobs, FALSE);
    xe_call_main(self->main, main_ids, &ids);
    for (guint i = 0; i < jobs->len; i++) {
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        g_autoptr(GError) error = NULL;
        Restore r = { self, .job_entry = jobs->pdata[i] };
        g_autofree char *record = g_strconcat(r.job_entry->vm, ".vm", NULL);
        g_autofree char *record_path = g_build_filename(s->state_dir, "vms", record, NULL);
        gboolean adopted_vm = FALSE;

        /* its VM on record but not re-adopted (alive, not answering): nothing can be
         * decided about it; the job waits in the journal for a start that can */
        xe_call_main(self->main, main_has_vm, &r);
        adopted_vm = r.found;
        if (!adopted_vm && g_file_test(record_path, G_FILE_TEST_EXISTS)) {
            g_warning("job %s stays in the journal: VM %s is on record but was not re-adopted",
                      r.job_entry->id, r.job_entry->vm);
            continue;
        }

        xe_call_main(self->main, main_restore_job, &r);
        /* the first try to decide is waited for; a peer that cannot answer yet is asked
         * again by the job's own worker */
        resolved += g_task_propagate_boolean(
            G_TASK(xe_await_main(&w, self->main, start_resume, &r)), &error);
        g_clear_object(&r.job);
    }
    g_clear_pointer(&ids.handled, g_hash_table_unref);
    for (guint i = 0; i < warnings->len; i++)
        g_warning("journal: %s", (char *)warnings->pdata[i]);
    if (adopted + gone + kept + aborted + arrived + jobs->len > 0)
        g_message("after the restart: %u VM(s) re-adopted, %u gone (VFs released), %u left as "
                  "they were; %u incoming(s) aborted, %u arrived; %u of %u job(s) decided",
                  adopted, gone, kept, aborted, arrived, resolved, jobs->len);
    g_task_return_boolean(task, TRUE);
    engine_worker_done(self, "restore");
    return G_SOURCE_REMOVE;
}

void
xe_engine_restore_async(XeEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_task_data(task, engine_settings(self), (GDestroyNotify)engine_settings_free);
    xe_worker_invoke(engine_worker(self, "restore"), restore_thread, task, NULL);
}

gboolean
xe_engine_restore_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* the flows' services (xe-services.h) */

static GMainContext *
services_get_main(XeServices *svc)
{
    return XE_ENGINE(svc)->main;
}

static GCancellable *
services_get_stopping(XeServices *svc)
{
    return XE_ENGINE(svc)->stopping;
}

static XeEngineSettings *
services_get_settings(XeServices *svc)
{
    return engine_settings(XE_ENGINE(svc));
}

static XeWorker *
services_worker_new(XeServices *svc, const char *id)
{
    return engine_worker(XE_ENGINE(svc), id);
}

static XeWorker *
services_worker_lookup(XeServices *svc, const char *id)
{
    return g_hash_table_lookup(XE_ENGINE(svc)->workers, id);
}

static void
services_worker_done(XeServices *svc, const char *id)
{
    engine_worker_done(XE_ENGINE(svc), id);
}

static void
services_vm_left(XeServices *svc, XeVm *vm)
{
    engine_vm_remove(XE_ENGINE(svc), vm);
}

static void
services_vm_kept(XeServices *svc, XeVm *vm)
{
    engine_vm_settle(XE_ENGINE(svc), vm);
}

static void
services_vm_arrived(XeServices *svc, XeVm *vm)
{
    XeEngine *self = XE_ENGINE(svc);
    g_autofree char *reservation = NULL;

    g_object_get(vm, "reservation", &reservation, NULL);
    engine_reservation_to_vm(self, reservation, xe_vm_get_name(vm));
    engine_vm_add(self, vm);
    engine_vm_watch(self, vm);
    engine_vm_settle(self, vm); /* an exit before the watch is not missed */
}

static void
services_incoming_ended(XeServices *svc, XeIncoming *incoming)
{
    engine_incoming_ended(XE_ENGINE(svc), incoming);
}

static gboolean
services_vf_facts(XeServices *svc, const char *vf, char **driver, char **migration)
{
    return engine_vf_facts(XE_ENGINE(svc), vf, driver, migration);
}

static gboolean
services_agent_run(XeServices *svc, XeAgentOp op, const char *target, const char *arg,
                   const char *caller, char **out, GError **error)
{
    return engine_agent_run(XE_ENGINE(svc), op, target, arg, caller, out, error);
}

static gboolean
services_reserve(XeServices *svc, const char *profile, const char *owner, char **vf,
                 char **reservation, GError **error)
{
    return engine_reserve(XE_ENGINE(svc), profile, NULL, owner, vf, reservation, error);
}

static gboolean
services_release(XeServices *svc, const char *reservation, gboolean reset, const char *caller,
                 GError **error)
{
    return engine_release(XE_ENGINE(svc), reservation, reset, caller, error);
}

static gboolean
services_hooks(XeServices *svc, const char *phase, JsonNode *document, GError **error)
{
    return engine_hooks(XE_ENGINE(svc), phase, document, error);
}

static XeQemuProcess *
services_spawn(XeServices *svc, const char *const *argv, const char *qmp_socket, const char *vf,
               gboolean incoming, const char *log_path, GError **error)
{
    return engine_spawn(XE_ENGINE(svc), argv, qmp_socket, vf, incoming, log_path, error);
}

static void
services_end_qemu(XeServices *svc, XeQemuProcess *process, guint grace_ms)
{
    engine_end_qemu(XE_ENGINE(svc), process, grace_ms);
}

static void
xe_engine_services_init(XeServicesInterface *iface)
{
    iface->get_main = services_get_main;
    iface->get_stopping = services_get_stopping;
    iface->get_settings = services_get_settings;
    iface->worker_new = services_worker_new;
    iface->worker_lookup = services_worker_lookup;
    iface->vm_left = services_vm_left;
    iface->vm_kept = services_vm_kept;
    iface->vm_arrived = services_vm_arrived;
    iface->incoming_ended = services_incoming_ended;
    iface->worker_done = services_worker_done;
    iface->vf_facts = services_vf_facts;
    iface->agent_run = services_agent_run;
    iface->reserve = services_reserve;
    iface->release = services_release;
    iface->hooks = services_hooks;
    iface->spawn = services_spawn;
    iface->end_qemu = services_end_qemu;
}
