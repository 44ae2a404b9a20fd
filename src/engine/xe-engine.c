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

enum {
    SIGNAL_VM_ADDED,
    SIGNAL_VM_REMOVED,
    SIGNAL_JOB_ADDED,
    SIGNAL_JOB_REMOVED,
    SIGNAL_INCOMING_ADDED,
    SIGNAL_INCOMING_REMOVED,
    SIGNAL_LAST
};
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(XeEngine, xe_engine, G_TYPE_OBJECT)

static void
xe_engine_finalize(GObject *object)
{
    XeEngine *self = XE_ENGINE(object);

    g_hash_table_unref(self->workers);
    g_hash_table_unref(self->vms);
    g_hash_table_unref(self->jobs);
    g_hash_table_unref(self->incomings);
    g_clear_object(&self->agent);
    g_main_context_unref(self->main);
    G_OBJECT_CLASS(xe_engine_parent_class)->finalize(object);
}

static void
xe_engine_init(XeEngine *self)
{
    self->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->incomings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->workers =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)xe_worker_free);
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
}

XeEngine *
xe_engine_new(XeAgent *agent)
{
    XeEngine *self = g_object_new(XE_TYPE_ENGINE, NULL);

    self->agent = g_object_ref(agent);
    self->main = g_main_context_ref_thread_default();
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
    const XeEngineSettings from = { c->state_dir, c->run_dir, c->policy_dir, c->transport,
                                    c->migration_address };

    return engine_settings_copy(&from);
}

XeEngineSettings *
engine_settings_copy(const XeEngineSettings *s)
{
    XeEngineSettings *c = g_new0(XeEngineSettings, 1);

    c->state_dir = g_strdup(s->state_dir);
    c->run_dir = g_strdup(s->run_dir);
    c->policy_dir = g_strdup(s->policy_dir);
    c->transport = g_strdupv(s->transport);
    c->migration_address = g_strdup(s->migration_address);
    return c;
}

void
engine_settings_free(XeEngineSettings *s)
{
    if (s == NULL)
        return;
    g_free(s->state_dir);
    g_free(s->run_dir);
    g_free(s->policy_dir);
    g_strfreev(s->transport);
    g_free(s->migration_address);
    g_free(s);
}

XePolicy *
engine_load_policy(const XeEngineSettings *s, const char *name, GError **error)
{
    g_autofree char *file = g_strconcat(name, ".policy", NULL);
    g_autofree char *path = g_build_filename(s->policy_dir, file, NULL);

    if (g_str_equal(name, "default") && !g_file_test(path, G_FILE_TEST_EXISTS))
        return xe_policy_new_default();
    return xe_policy_load(path, error);
}

/* A spec runs as the daemon's user: only a configured emulator may run,
 * never a program a D-Bus caller (or a peer) names. */
static gboolean
engine_check_emulator(XeEngine *self, const XeVmSpec *spec, GError **error)
{
    const XeConfig *c = xe_agent_get_config(self->agent);
    g_autofree char *allowed = NULL;

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

    return xe_agent_run_finish(self->agent, xe_await_main(&w, self->main, start_run, &c), out,
                               error);
}

static void
start_reserve(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Call *c = data;

    if (c->target != NULL)
        xe_agent_reserve_vf_async(c->engine->agent, c->target, c->profile, c->owner, NULL, cb,
                                  user_data);
    else
        xe_agent_reserve_async(c->engine->agent, c->profile, NULL, c->owner, NULL, cb, user_data);
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

    xe_agent_release_async(c->engine->agent, c->reservation, c->reset, c->caller, NULL, cb,
                           user_data);
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
    const char *const *argv;
    const char *qmp_socket, *log_path;
    gboolean incoming;
    XeQemuProcess *process;
    GError **error;
} Spawn;

static gboolean
main_spawn(gpointer data)
{
    Spawn *s = data;

    s->process = xe_qemu_process_spawn(s->argv, s->qmp_socket, s->incoming, s->log_path, s->error);
    return G_SOURCE_REMOVE;
}

XeQemuProcess *
engine_spawn(XeEngine *self, const char *const *argv, const char *qmp_socket, gboolean incoming,
             const char *log_path, GError **error)
{
    Spawn s = { argv, qmp_socket, log_path, incoming, NULL, error };

    xe_call_main(self->main, main_spawn, &s);
    return s.process;
}

XeQmpClient *
engine_qmp_connect(const char *address, GCancellable *cancellable, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();

    if (!XE_AWAIT_CALL(&w,
                       xe_qmp_client_connect_async(client, address, cancellable, xe_await_cb, &w),
                       xe_qmp_client_connect_finish(client, xe_await(&w), error)))
        return NULL;
    return g_steal_pointer(&client);
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

    g_hash_table_replace(self->workers, g_strdup(id), w);
    return w;
}

typedef struct {
    XeEngine *engine;
    char *id;
} WorkerDone;

static gboolean
worker_done_main(gpointer data)
{
    WorkerDone *d = data;

    g_hash_table_remove(d->engine->workers, d->id); /* joins the thread */
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
    /* Never from the worker itself: joining it there would deadlock. */
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, worker_done_main, d, NULL);
    g_main_context_wakeup(self->main);
}

/* the VMs on disk */

static char *
vm_file(const char *state_dir, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".vm", NULL);

    return g_build_filename(state_dir, "vms", file, NULL);
}

gboolean
engine_vm_store(const XeEngineSettings *s, XeVm *vm, GError **error)
{
    g_autoptr(XeVmSpec) spec = xe_vm_spec_copy(xe_vm_get_spec(vm));
    g_autofree char *dir = g_build_filename(s->state_dir, "vms", NULL);
    g_autofree char *path = vm_file(s->state_dir, spec->name);
    g_autofree char *data = NULL;
    GError *local = NULL;

    g_free(spec->qmp);
    g_free(spec->vf);
    g_object_get(vm, "qmp-socket", &spec->qmp, "vf", &spec->vf, NULL);
    data = xe_vm_spec_to_data(spec);
    if (g_mkdir_with_parents(dir, 0700) < 0 ||
        !g_file_set_contents_full(path, data, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0600, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "recording VM %s in %s: %s", spec->name, path,
                    local != NULL ? local->message : g_strerror(errno));
        g_clear_error(&local);
        return FALSE;
    }
    return TRUE;
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

    if (g_hash_table_lookup(self->vms, xe_vm_get_name(vm)) != vm)
        return;
    g_hash_table_remove(self->vms, xe_vm_get_name(vm));
    {
        g_autofree char *path =
            vm_file(xe_agent_get_config(self->agent)->state_dir, xe_vm_get_name(vm));

        if (unlink(path) < 0 && errno != ENOENT)
            g_warning("forgetting VM %s: %s: %s", xe_vm_get_name(vm), path, g_strerror(errno));
    }
    g_signal_emit(self, signals[SIGNAL_VM_REMOVED], 0, vm);
}

void
engine_incoming_remove(XeEngine *self, XeIncoming *incoming)
{
    g_autoptr(XeIncoming) keep = g_object_ref(incoming);

    if (!g_hash_table_remove(self->incomings, xe_incoming_get_id(incoming)))
        return;
    g_signal_emit(self, signals[SIGNAL_INCOMING_REMOVED], 0, incoming);
}

/* VMs: start or adopt */

static void vm_process_exited(XeQemuProcess *process, int status, gpointer user_data);

typedef struct {
    XeEngine *engine;
    XeVm *vm;
    gboolean start;
    char *caller;
    char *existing; /* adopt: the VM's own reservation of its VF, kept from before a restart */
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

static gboolean
check_qmp(const char *address, GError **error)
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
    if (!g_str_equal(status->status, "running") && !g_str_equal(status->status, "paused")) {
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
    GTask *task = data;
    AddVm *a = g_task_get_task_data(task);

    engine_vm_watch(a->engine, a->vm);
    engine_vm_add(a->engine, a->vm);
    return G_SOURCE_REMOVE;
}

/* On the worker: reserve (or claim the adopted VF), start QEMU, check its monitor. */
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
        g_auto(GStrv) argv = xe_vm_spec_expand_argv(spec, vf);

        if (g_mkdir_with_parents(a->settings->run_dir, 0750) < 0) {
            int e = errno;

            g_set_error(&error, XE_ERROR, XE_ERROR_FAILED, "cannot create run-dir %s: %s",
                        a->settings->run_dir, g_strerror(e));
            goto fail_release;
        }
        qmp = g_strdup_printf("%s/vm-%s.qmp", a->settings->run_dir, spec->name);
        log = g_strdup_printf("%s/vm-%s.log", a->settings->run_dir, spec->name);
        process = engine_spawn(self, (const char *const *)argv, qmp, FALSE, log, &error);
        if (process == NULL)
            goto fail_release;
        address = g_strdup(xe_qemu_process_get_qmp_address(process));
        xe_vm_set_process(a->vm, G_OBJECT(process));
    } else {
        qmp = g_strdup(spec->qmp);
        address = g_strdup_printf("unix:%s", qmp);
    }
    if (!check_qmp(address, &error)) {
        g_prefix_error(&error, "VM '%s': ", spec->name);
        if (process != NULL)
            xe_qemu_process_kill(process);
        goto fail_release;
    }
    xe_record_post(a->vm, "vf", vf, "reservation", reservation, "qmp-socket", qmp, "pid",
                   process != NULL ? (guint)xe_qemu_process_get_pid(process) : 0u, "state",
                   "running", NULL);
    xe_call_main(self->main, main_vm_add, task);
    if (!engine_vm_store(a->settings, a->vm, &error)) {
        g_warning("%s; it will not be re-adopted after a restart", error->message);
        g_clear_error(&error);
    }
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, vf, a->caller, "VM %s %s on %s",
                 spec->name,
                 a->start              ? "started"
                 : a->existing != NULL ? "re-adopted"
                                       : "adopted",
                 vf);
    g_task_return_pointer(task, g_object_ref(a->vm), g_object_unref);
    engine_worker_done(self, owner);
    return G_SOURCE_REMOVE;

fail_release:
    /* A VF a started QEMU touched gets a reset; an adopted one is left as it was; one kept
     * from before a restart stays reserved (the caller decides). */
    if (a->existing == NULL)
        (void)engine_release(self, reservation, a->start && process != NULL, a->caller, NULL);
fail:
    g_task_return_error(task, error);
    engine_worker_done(self, owner);
    return G_SOURCE_REMOVE;
}

void
xe_engine_add_vm_async(XeEngine *self, const XeVmSpec *spec, gboolean start, const char *caller,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autofree char *owner = g_strdup_printf("vm:%s", spec->name);
    AddVm *a;

    if (g_hash_table_contains(self->vms, spec->name) ||
        g_hash_table_contains(self->workers, owner)) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY, "a VM named '%s' exists already",
                                spec->name);
        return;
    }
    {
        GError *error = NULL;

        if (start && !engine_check_emulator(self, spec, &error)) {
            g_task_return_error(task, error);
            return;
        }
    }
    if (!start && spec->qmp == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                                "VM '%s': adopting needs its 'qmp' socket and 'vf'; or start it",
                                spec->name);
        return;
    }
    a = g_new0(AddVm, 1);
    a->engine = g_object_ref(self);
    a->vm = xe_vm_new(spec);
    a->start = start;
    if (!start) {
        /* after a restart the VM's reservation is still on disk: it is the VM's */
        g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(self->agent));
        GVariantIter iter;
        const char *id, *vf, *profile, *res_owner;
        gint64 created;

        g_variant_iter_init(&iter, list);
        while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &res_owner, &created))
            if (g_str_equal(vf, spec->vf) && g_str_equal(res_owner, owner) && a->existing == NULL)
                a->existing = g_strdup(id);
    }
    a->caller = g_strdup(caller);
    a->settings = engine_settings(self);
    g_task_set_task_data(task, a, (GDestroyNotify)add_vm_free);
    xe_worker_invoke(engine_worker(self, owner), add_vm_thread, g_steal_pointer(&task), NULL);
}

XeVm *
xe_engine_add_vm_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* A QEMU the daemon started ended on its own (a guest shutdown, a crash):
 * its VF is reset and released, and the VM is forgotten. One that migrated
 * away was quit by the job, which does that itself. */
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
    g_autofree char *state = NULL;
    g_autofree char *reservation = NULL;
    g_autofree char *vf = NULL;
    XeEngine *self;

    g_object_get(vm, "state", &state, "reservation", &reservation, "vf", &vf, NULL);
    if (g_strcmp0(state, "migrating") == 0 || g_strcmp0(state, "migrated") == 0 ||
        g_strcmp0(state, "stopping") == 0)
        return; /* whoever is moving or stopping it accounts for it */
    self = g_object_get_data(G_OBJECT(vm), "xe-engine");
    if (self == NULL)
        return;
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, vf, NULL,
                 "VM %s: its QEMU exited (%d); releasing %s", xe_vm_get_name(vm), status, vf);
    xe_record_post(vm, "state", "stopped", NULL);
    xe_agent_release_async(self->agent, reservation, TRUE, "xe-migrated", NULL, vm_released,
                           g_strdup(vf));
    engine_vm_remove(self, vm);
}

/* VMs: removal */

typedef struct {
    XeEngine *engine;
    XeVm *vm;
    char *caller;
} RemoveVm;

static void
remove_vm_free(RemoveVm *r)
{
    g_object_unref(r->engine);
    g_object_unref(r->vm);
    g_free(r->caller);
    g_free(r);
}

static gboolean
main_vm_stopping(gpointer data)
{
    g_object_set(data, "state", "stopping", NULL);
    return G_SOURCE_REMOVE;
}

static gboolean
main_vm_remove(gpointer data)
{
    RemoveVm *r = data;

    xe_record_post(r->vm, "state", "stopped", NULL);
    engine_vm_remove(r->engine, r->vm);
    return G_SOURCE_REMOVE;
}

static gboolean
remove_vm_thread(gpointer data)
{
    g_autoptr(GTask) task = data;
    RemoveVm *r = g_task_get_task_data(task);
    XeQemuProcess *process = (XeQemuProcess *)xe_vm_get_process(r->vm);
    g_autofree char *reservation = NULL;
    g_autofree char *qmp = NULL;
    g_autofree char *id = g_strdup_printf("vm:%s", xe_vm_get_name(r->vm));
    GError *error = NULL;

    g_object_get(r->vm, "reservation", &reservation, "qmp-socket", &qmp, NULL);
    /* Applied before QEMU is told to quit, so that its exit is not taken for a crash. */
    xe_call_main(r->engine->main, main_vm_stopping, r->vm);
    if (process != NULL && !xe_qemu_process_has_exited(process)) {
        g_autofree char *address = g_strdup_printf("unix:%s", qmp);
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        g_autoptr(XeQmpClient) client = engine_qmp_connect(address, NULL, NULL);

        /* quit, else kill: the VF is reset next either way */
        if (client != NULL)
            (void)XE_AWAIT_CALL(&w, xe_qmp_quit_async(client, NULL, xe_await_cb, &w),
                                xe_qmp_quit_finish(client, xe_await(&w), NULL));
        engine_end_qemu(r->engine, process, 5000);
    }
    /* An adopted QEMU runs on with its VF: no reset under it. */
    if (!engine_release(r->engine, reservation, process != NULL, r->caller, &error)) {
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
    g_autofree char *state = NULL;
    RemoveVm *r;

    if (vm == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_FOUND, "no VM '%s' on this host",
                                name);
        return;
    }
    g_object_get(vm, "state", &state, NULL);
    if (!g_str_equal(state, "running") || g_hash_table_contains(self->workers, id)) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "VM '%s' is %s; it can be removed once running", name, state);
        return;
    }
    r = g_new0(RemoveVm, 1);
    r->engine = g_object_ref(self);
    r->vm = g_object_ref(vm);
    r->caller = g_strdup(caller);
    g_task_set_task_data(task, r, (GDestroyNotify)remove_vm_free);
    xe_worker_invoke(engine_worker(self, id), remove_vm_thread, g_steal_pointer(&task), NULL);
}

gboolean
xe_engine_remove_vm_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* migration jobs */

/* Finished jobs stay for their clients to read, the newest XE_ENGINE_KEEP_JOBS of them. */
#define XE_ENGINE_KEEP_JOBS 64

static void
prune_jobs(XeEngine *self)
{
    g_autoptr(GList) ids = g_hash_table_get_keys(self->jobs);
    guint finished = 0;

    ids = g_list_sort(ids, (GCompareFunc)xe_compare_job_ids);
    for (GList *l = ids; l != NULL; l = l->next)
        finished += xe_job_is_finished(g_hash_table_lookup(self->jobs, l->data));
    for (GList *l = ids; l != NULL && finished > XE_ENGINE_KEEP_JOBS; l = l->next) {
        g_autoptr(XeJob) job = g_object_ref(g_hash_table_lookup(self->jobs, l->data));

        if (!xe_job_is_finished(job))
            continue;
        g_hash_table_remove(self->jobs, l->data);
        g_signal_emit(self, signals[SIGNAL_JOB_REMOVED], 0, job);
        finished--;
    }
}

XeJob *
xe_engine_migrate(XeEngine *self, const char *name, const char *host, const char *policy,
                  const char *caller, GError **error)
{
    XeVm *vm = g_hash_table_lookup(self->vms, name);
    g_autofree char *state = NULL;
    g_autofree char *id = NULL;
    g_autofree char *vm_policy = NULL;
    XeJob *job;

    if (vm == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no VM '%s' on this host", name);
        return NULL;
    }
    if (host == NULL || *host == '\0' || g_str_has_prefix(host, "-")) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "'%s' is not a host name to migrate to", host != NULL ? host : "");
        return NULL;
    }
    if (policy != NULL && *policy != '\0' && !xe_vm_name_is_valid(policy)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "bad policy name '%s'", policy);
        return NULL;
    }
    g_object_get(vm, "state", &state, "policy", &vm_policy, NULL);
    if (!g_str_equal(state, "running")) {
        /* One migration per VM, and so per VF: the VF of a VM in a migration
         * stays reserved to it, so nobody binds, provisions or resets it. */
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "VM '%s' is %s, not running", name, state);
        return NULL;
    }
    if (self->shutting_down) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "xe-migrated is stopping");
        return NULL;
    }
    prune_jobs(self);
    id = g_strdup_printf("%u", ++self->next_job);
    job =
        xe_job_new(id, name, host, policy != NULL && *policy != '\0' ? policy : vm_policy, caller);
    g_hash_table_replace(self->jobs, g_strdup(id), job);
    g_object_set(vm, "state", "migrating", "job", id, NULL);
    g_signal_emit(self, signals[SIGNAL_JOB_ADDED], 0, job);
    migration_start(self, job, vm, host);
    return job;
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
    XeIncoming *incoming;
    XeVm *existing;
    GError *error = NULL;

    spec = xe_vm_spec_from_variant(spec_variant, &error);
    if (spec == NULL) {
        g_task_return_error(task, error);
        return;
    }
    /* The destination gets its own VF: an adopted source's socket and VF mean nothing here. */
    g_clear_pointer(&spec->qmp, g_free);
    g_clear_pointer(&spec->vf, g_free);
    if (!engine_check_emulator(self, spec, &error)) {
        g_task_return_error(task, error);
        return;
    }
    existing = g_hash_table_lookup(self->vms, spec->name);
    if (existing != NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "a VM named '%s' already runs on this host", spec->name);
        return;
    }
    if (self->shutting_down) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY, "xe-migrated is stopping");
        return;
    }
    id = g_strdup_printf("%u", ++self->next_incoming);
    incoming = xe_incoming_new(id, spec, owner);
    g_hash_table_replace(self->incomings, g_strdup(id), incoming);
    g_signal_emit(self, signals[SIGNAL_INCOMING_ADDED], 0, incoming);
    g_task_set_task_data(task, engine_settings(self), (GDestroyNotify)engine_settings_free);
    incoming_prepare(self, incoming, profile, options, host, g_steal_pointer(&task));
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
        incoming_finish(self, incoming, timeout_ms, g_steal_pointer(&task));
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
        incoming_abort(self, incoming, why, g_steal_pointer(&task));
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
        if (g_strcmp0(o, owner) == 0)
            g_ptr_array_add(gone, g_object_ref(value));
    }
    for (guint i = 0; i < gone->len; i++) {
        /* Before completion: abort. After: the VM lives here now; Finish adopts it. */
        incoming_abort(self, gone->pdata[i], "the source daemon went away",
                       g_task_new(self, NULL, NULL, NULL));
    }
}

void
xe_engine_shutdown(XeEngine *self)
{
    GHashTableIter iter;
    gpointer value;

    self->shutting_down = TRUE;
    g_hash_table_iter_init(&iter, self->jobs);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        xe_job_cancel(value);
    /* Incoming QEMUs are paused until Finish: none runs a VM yet, so none is lost. */
    {
        g_autoptr(GList) incomings = g_hash_table_get_values(self->incomings);

        for (GList *l = incomings; l != NULL; l = l->next)
            incoming_abort(self, l->data, "xe-migrated is stopping",
                           g_task_new(self, NULL, NULL, NULL));
    }
    /* Wait for every worker: jobs put their source VM back in running order. */
    while (g_hash_table_size(self->workers) > 0)
        g_main_context_iteration(self->main, TRUE);
}

/* restart: re-adopting the VMs recorded in STATE_DIR/vms */

typedef struct {
    XeEngine *engine;
    XeVmSpec *spec;
} Drop;

static void
drop_released(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *name = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_agent_release_finish(XE_AGENT(source), result, &error))
        g_warning("VM %s is gone; releasing its VF: %s", name, error->message);
}

/* The VM's QEMU is gone: reset and release its VF, forget it. */
static gboolean
main_restore_drop(gpointer data)
{
    Drop *d = data;
    g_autoptr(GVariant) list = g_variant_ref_sink(xe_agent_list_reservations(d->engine->agent));
    g_autofree char *owner = g_strdup_printf("vm:%s", d->spec->name);
    g_autofree char *path =
        vm_file(xe_agent_get_config(d->engine->agent)->state_dir, d->spec->name);
    GVariantIter iter;
    const char *id, *vf, *profile, *res_owner;
    gint64 created;

    g_variant_iter_init(&iter, list);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &res_owner, &created))
        if (g_str_equal(res_owner, owner) && g_strcmp0(vf, d->spec->vf) == 0)
            xe_agent_release_async(d->engine->agent, id, TRUE, "xe-migrated (restart)", NULL,
                                   drop_released, g_strdup(d->spec->name));
    if (unlink(path) < 0 && errno != ENOENT)
        g_warning("forgetting VM %s: %s: %s", d->spec->name, path, g_strerror(errno));
    return G_SOURCE_REMOVE;
}

static void
start_readopt(gpointer data, GAsyncReadyCallback cb, gpointer user_data)
{
    Drop *d = data;

    xe_engine_add_vm_async(d->engine, d->spec, FALSE, "xe-migrated (restart)", NULL, cb, user_data);
}

static gboolean
restore_thread(gpointer data)
{
    g_autoptr(GTask) task = data;
    XeEngine *self = g_task_get_source_object(task);
    XeEngineSettings *s = g_task_get_task_data(task);
    g_autofree char *dir = g_build_filename(s->state_dir, "vms", NULL);
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    const char *name;
    guint adopted = 0, gone = 0, kept = 0;

    while (listing != NULL && (name = g_dir_read_name(listing)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(XeVmSpec) spec = NULL;
        g_autoptr(XeVm) vm = NULL;
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        Drop d = { self, NULL };

        if (!g_str_has_suffix(name, ".vm"))
            continue;
        spec = xe_vm_spec_load(path, &error);
        if (spec == NULL || spec->qmp == NULL) {
            g_warning("not re-adopting %s: %s", path,
                      error != NULL ? error->message : "it names no QMP socket");
            kept++;
            continue;
        }
        d.spec = spec;
        vm =
            xe_engine_add_vm_finish(self, xe_await_main(&w, self->main, start_readopt, &d), &error);
        if (vm != NULL) {
            adopted++;
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
                   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
            /* nobody listens on its monitor any more: its QEMU ended while we were away */
            xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VM, NULL, spec->vf, NULL,
                         "VM %s ended while xe-migrated was down (%s); releasing %s", spec->name,
                         error->message, spec->vf);
            xe_call_main(self->main, main_restore_drop, &d);
            gone++;
        } else {
            /* alive but not answering as expected: leave it, and its VF, as they are */
            g_warning("not re-adopting VM %s: %s; its record stays in %s", spec->name,
                      error->message, path);
            kept++;
        }
    }
    if (adopted + gone + kept > 0)
        g_message("after the restart: %u VM(s) re-adopted, %u gone (VFs released), %u left as "
                  "they were",
                  adopted, gone, kept);
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
