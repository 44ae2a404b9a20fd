/* xe-test-services.c: the fake services: a log under a lock, workers in a
 * table, stand-in QEMUs (sleep) attached as XeQemuProcess.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-services.h"

#include <signal.h>
#include <glib/gstdio.h>

#include <check.h>

#include "xe-journal.h"
#include "xe-test-util.h"

struct _XeTestServices {
    GObject parent_instance;
    GMainContext *main;
    GCancellable *stopping;
    XeEngineSettings settings;
    char *dir;
    GHashTable *workers; /* id -> XeWorker (main) */
    guint live_workers;  /* main */
    GHashTable *vms;     /* name -> XeVm that arrived (main) */
    GArray *pids;        /* stand-in QEMUs (main) */
    GMutex lock;
    GPtrArray *log;   /* under lock */
    GQueue monitors;  /* under lock */
    char *check;      /* under lock */
    guint next_vf;    /* under lock */
    char *hook_phase; /* set before the flow starts */
    XeTestHookFunc hook_func;
    gpointer hook_data;
};

static void xe_test_services_iface_init(XeServicesInterface *iface);

G_DEFINE_TYPE_WITH_CODE(XeTestServices, xe_test_services, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(XE_TYPE_SERVICES, xe_test_services_iface_init))

static void G_GNUC_PRINTF(2, 3) note(XeTestServices *self, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_mutex_lock(&self->lock);
    g_ptr_array_add(self->log, g_strdup_vprintf(fmt, ap));
    g_mutex_unlock(&self->lock);
    va_end(ap);
    g_main_context_wakeup(self->main);
}

static void
xe_test_services_finalize(GObject *object)
{
    XeTestServices *self = XE_TEST_SERVICES(object);

    for (guint i = 0; i < self->pids->len; i++)
        (void)kill(g_array_index(self->pids, GPid, i), SIGKILL);
    g_array_unref(self->pids);
    g_hash_table_unref(self->workers);
    g_hash_table_unref(self->vms);
    g_ptr_array_unref(self->log);
    g_queue_clear_full(&self->monitors, g_free);
    g_free(self->check);
    g_free(self->hook_phase);
    g_free(self->settings.state_dir);
    g_free(self->settings.run_dir);
    g_free(self->settings.policy_dir);
    g_strfreev(self->settings.transport);
    g_free(self->settings.migration_address);
    xe_test_rmtree(self->dir);
    g_free(self->dir);
    g_object_unref(self->stopping);
    g_main_context_unref(self->main);
    g_mutex_clear(&self->lock);
    G_OBJECT_CLASS(xe_test_services_parent_class)->finalize(object);
}

static void
xe_test_services_init(XeTestServices *self)
{
    self->main = g_main_context_ref_thread_default();
    self->stopping = g_cancellable_new();
    self->workers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->pids = g_array_new(FALSE, FALSE, sizeof(GPid));
    self->log = g_ptr_array_new_with_free_func(g_free);
    self->check = g_strdup("");
    g_mutex_init(&self->lock);
    g_queue_init(&self->monitors);
}

static void
xe_test_services_class_init(XeTestServicesClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = xe_test_services_finalize;
}

XeTestServices *
xe_test_services_new(const char *const *transport)
{
    XeTestServices *self = g_object_new(XE_TYPE_TEST_SERVICES, NULL);

    self->dir = xe_test_mkdtemp("xe-flows");
    self->settings.state_dir = g_build_filename(self->dir, "state", NULL);
    self->settings.run_dir = g_build_filename(self->dir, "run", NULL);
    self->settings.policy_dir = g_build_filename(self->dir, "policies", NULL);
    self->settings.transport = g_strdupv((GStrv)transport);
    self->settings.migration_address = g_strdup("127.0.0.1");
    self->settings.peer_timeout_ms = 10000;
    g_assert(g_mkdir(self->settings.state_dir, 0700) == 0);
    g_assert(g_mkdir(self->settings.policy_dir, 0700) == 0);
    return self;
}

XeEngineSettings *
xe_test_services_get_settings(XeTestServices *self)
{
    return &self->settings;
}

void
xe_test_services_add_policy(XeTestServices *self, const char *name, const char *text)
{
    g_autofree char *file = g_strconcat(name, ".policy", NULL);
    g_autofree char *path = g_build_filename(self->settings.policy_dir, file, NULL);

    g_assert(g_file_set_contents(path, text, -1, NULL));
}

void
xe_test_services_set_check(XeTestServices *self, const char *reason)
{
    g_mutex_lock(&self->lock);
    g_free(self->check);
    self->check = g_strdup(reason);
    g_mutex_unlock(&self->lock);
}

void
xe_test_services_on_hook(XeTestServices *self, const char *phase, XeTestHookFunc func,
                         gpointer data)
{
    g_free(self->hook_phase);
    self->hook_phase = g_strdup(phase);
    self->hook_func = func;
    self->hook_data = data;
}

void
xe_test_services_push_monitor(XeTestServices *self, const char *qmp_path)
{
    g_mutex_lock(&self->lock);
    g_queue_push_tail(&self->monitors, g_strdup(qmp_path));
    g_mutex_unlock(&self->lock);
}

/* stand-in QEMUs: a sleep, reaped on main, watched as an XeQemuProcess */

static void
reap(GPid pid, gint status, gpointer data)
{
    g_spawn_close_pid(pid);
}

static XeQemuProcess *
stand_in(XeTestServices *self, const char *qmp_path, GError **error)
{
    const char *argv[] = { "sleep", "600", NULL };
    GPid pid;

    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                           G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                       NULL, NULL, &pid, error))
        return NULL;
    g_array_append_val(self->pids, pid);
    g_child_watch_add(pid, reap, NULL);
    return xe_qemu_process_attach((guint)pid, xe_process_start_time((guint)pid), qmp_path, FALSE,
                                  error);
}

XeVm *
xe_test_services_add_vm(XeTestServices *self, const char *name, const char *vf,
                        const char *reservation, const char *qmp_path)
{
    g_autoptr(XeVmSpec) spec = g_new0(XeVmSpec, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(XeQemuProcess) process = stand_in(self, qmp_path, &error);
    XeVm *vm;

    ck_assert_msg(process != NULL, "stand-in QEMU: %s", error ? error->message : "?");
    spec->name = g_strdup(name);
    spec->argv = g_strsplit("qemu-system-x86_64 -device vfio-pci,host={vf}", " ", -1);
    spec->profile = g_strdup("test");
    spec->policy = g_strdup("default");
    vm = xe_vm_new(spec, self->main);
    g_object_set(vm, "vf", vf, "reservation", reservation, "qmp-socket", qmp_path, "pid",
                 (guint)xe_qemu_process_get_pid(process), "state",
                 xe_vm_state_to_string(XE_VM_RUNNING), NULL);
    xe_vm_set_process(vm, G_OBJECT(process));
    return vm;
}

XeVm *
xe_test_services_get_vm(XeTestServices *self, const char *name)
{
    return g_hash_table_lookup(self->vms, name);
}

/* the log */

gboolean
xe_test_services_saw(XeTestServices *self, const char *line)
{
    gboolean found = FALSE;

    g_mutex_lock(&self->lock);
    for (guint i = 0; i < self->log->len && !found; i++)
        found = g_str_equal(self->log->pdata[i], line);
    g_mutex_unlock(&self->lock);
    return found;
}

guint
xe_test_services_count(XeTestServices *self, const char *prefix)
{
    guint n = 0;

    g_mutex_lock(&self->lock);
    for (guint i = 0; i < self->log->len; i++)
        n += g_str_has_prefix(self->log->pdata[i], prefix);
    g_mutex_unlock(&self->lock);
    return n;
}

char *
xe_test_services_log(XeTestServices *self)
{
    g_autoptr(GString) out = g_string_new(NULL);

    g_mutex_lock(&self->lock);
    for (guint i = 0; i < self->log->len; i++)
        g_string_append_printf(out, "%s%s", i > 0 ? "; " : "", (char *)self->log->pdata[i]);
    g_mutex_unlock(&self->lock);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
expired(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

void
xe_test_services_wait(XeTestServices *self, const char *line, guint timeout_ms)
{
    gboolean late = FALSE;
    GSource *timer = g_timeout_source_new(timeout_ms);

    g_source_set_callback(timer, expired, &late, NULL);
    g_source_attach(timer, self->main);
    while (!xe_test_services_saw(self, line) && !late)
        g_main_context_iteration(self->main, TRUE);
    g_source_destroy(timer);
    g_source_unref(timer);
    if (!xe_test_services_saw(self, line)) {
        g_autofree char *log = xe_test_services_log(self);

        ck_abort_msg("no '%s' within %u ms; the flow did: %s", line, timeout_ms, log);
    }
}

void
xe_test_services_drain(XeTestServices *self, guint timeout_ms)
{
    gboolean late = FALSE;
    GSource *timer = g_timeout_source_new(timeout_ms);

    g_source_set_callback(timer, expired, &late, NULL);
    g_source_attach(timer, self->main);
    while (self->live_workers > 0 && !late)
        g_main_context_iteration(self->main, TRUE);
    g_source_destroy(timer);
    g_source_unref(timer);
    ck_assert_msg(self->live_workers == 0, "%u workers still run after %u ms", self->live_workers,
                  timeout_ms);
}

void
xe_test_services_stop(XeTestServices *self)
{
    g_cancellable_cancel(self->stopping);
}

/* the interface */

static GMainContext *
get_main(XeServices *svc)
{
    return XE_TEST_SERVICES(svc)->main;
}

static GCancellable *
get_stopping(XeServices *svc)
{
    return XE_TEST_SERVICES(svc)->stopping;
}

static XeEngineSettings *
get_settings(XeServices *svc)
{
    return engine_settings_copy(&XE_TEST_SERVICES(svc)->settings);
}

static XeWorker *
worker_new(XeServices *svc, const char *id)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);
    XeWorker *w = xe_worker_new(id);

    ck_assert_msg(!g_hash_table_contains(self->workers, id), "two workers for %s", id);
    g_hash_table_insert(self->workers, g_strdup(id), w);
    self->live_workers++;
    return w;
}

static XeWorker *
worker_lookup(XeServices *svc, const char *id)
{
    return g_hash_table_lookup(XE_TEST_SERVICES(svc)->workers, id);
}

typedef struct {
    XeTestServices *self;
    char *id;
} Done;

static gboolean
worker_exited(gpointer data)
{
    XeTestServices *self = data;

    self->live_workers--;
    g_object_unref(self);
    return G_SOURCE_REMOVE;
}

static gboolean
main_worker_done(gpointer data)
{
    Done *d = data;
    XeWorker *w = g_hash_table_lookup(d->self->workers, d->id);

    if (w != NULL) {
        g_hash_table_remove(d->self->workers, d->id);
        xe_worker_stop(w, d->self->main, worker_exited, g_object_ref(d->self));
    }
    g_object_unref(d->self);
    g_free(d->id);
    g_free(d);
    return G_SOURCE_REMOVE;
}

static void
worker_done(XeServices *svc, const char *id)
{
    Done *d = g_new0(Done, 1);

    d->self = g_object_ref(XE_TEST_SERVICES(svc));
    d->id = g_strdup(id);
    xe_context_post(d->self->main, main_worker_done, d, NULL);
}

static void
vm_left(XeServices *svc, XeVm *vm)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);

    (void)xe_journal_drop_vm(self->settings.state_dir, xe_vm_get_name(vm), NULL);
    g_hash_table_remove(self->vms, xe_vm_get_name(vm));
    note(self, "vm-left %s", xe_vm_get_name(vm));
}

static void
vm_kept(XeServices *svc, XeVm *vm)
{
    g_autofree char *state = NULL;

    g_object_get(vm, "state", &state, NULL);
    note(XE_TEST_SERVICES(svc), "vm-kept %s %s", xe_vm_get_name(vm), state);
}

static void
vm_arrived(XeServices *svc, XeVm *vm)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);
    g_autofree char *reservation = NULL;

    g_object_get(vm, "reservation", &reservation, NULL);
    g_hash_table_replace(self->vms, g_strdup(xe_vm_get_name(vm)), g_object_ref(vm));
    note(self, "vm-arrived %s %s", xe_vm_get_name(vm), reservation);
}

static void
incoming_ended(XeServices *svc, XeIncoming *incoming)
{
    note(XE_TEST_SERVICES(svc), "incoming-ended %s", xe_incoming_get_id(incoming));
}

static gboolean
vf_facts(XeServices *svc, const char *vf, char **driver, char **migration)
{
    *driver = g_strdup("xe-vfio-pci");
    *migration = g_strdup("yes");
    return TRUE;
}

static gboolean
agent_run(XeServices *svc, XeAgentOp op, const char *target, const char *arg, const char *caller,
          char **out, GError **error)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);

    switch (op) {
    case XE_AGENT_OP_READ_PROFILE:
        *out = g_strdup("lmem=1073741824 ggtt=268435456 contexts=1024 doorbells=16");
        return TRUE;
    case XE_AGENT_OP_MIGRATION_SIZE:
        *out = g_strdup("1048576");
        return TRUE;
    case XE_AGENT_OP_CHECK:
        note(self, "check %s", target);
        g_mutex_lock(&self->lock);
        *out = g_strdup(self->check);
        g_mutex_unlock(&self->lock);
        return TRUE;
    default:
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "agent op %d in a flow", op);
        return FALSE;
    }
}

static gboolean
reserve(XeServices *svc, const char *profile, const char *owner, char **vf, char **reservation,
        GError **error)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);
    guint n;

    g_mutex_lock(&self->lock);
    n = ++self->next_vf;
    g_mutex_unlock(&self->lock);
    *vf = g_strdup_printf("0000:03:00.%u", n);
    *reservation = g_strdup_printf("dest-%u", n);
    note(self, "reserve %s -> %s %s", owner, *vf, *reservation);
    return TRUE;
}

static gboolean
release(XeServices *svc, const char *reservation, gboolean reset, const char *caller,
        GError **error)
{
    note(XE_TEST_SERVICES(svc), "release %s %s", reservation, reset ? "reset" : "keep");
    return TRUE;
}

static gboolean
hooks(XeServices *svc, const char *phase, JsonNode *document, GError **error)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);

    if (g_strcmp0(phase, self->hook_phase) == 0)
        self->hook_func(self->hook_data);
    note(self, "hooks %s", phase);
    return TRUE;
}

typedef struct {
    XeTestServices *self;
    char *qmp;
    XeQemuProcess *process;
    GError **error;
} Spawn;

static gboolean
main_spawn(gpointer data)
{
    Spawn *s = data;

    s->process = stand_in(s->self, s->qmp, s->error);
    return G_SOURCE_REMOVE;
}

static XeQemuProcess *
spawn(XeServices *svc, const char *const *argv, const char *qmp_socket, const char *vf,
      gboolean incoming, const char *log_path, GError **error)
{
    XeTestServices *self = XE_TEST_SERVICES(svc);
    g_autofree char *qmp = NULL;
    Spawn s = { self, NULL, NULL, error };

    g_mutex_lock(&self->lock);
    qmp = g_queue_pop_head(&self->monitors);
    g_mutex_unlock(&self->lock);
    ck_assert_msg(qmp != NULL, "a QEMU spawned that the test did not script");
    s.qmp = qmp;
    xe_call_main(self->main, main_spawn, &s);
    if (s.process != NULL)
        note(self, "spawn %d", (int)xe_qemu_process_get_pid(s.process));
    return s.process;
}

static void
end_qemu(XeServices *svc, XeQemuProcess *process, guint grace_ms)
{
    note(XE_TEST_SERVICES(svc), "end-qemu %d", (int)xe_qemu_process_get_pid(process));
    (void)kill(xe_qemu_process_get_pid(process), SIGKILL);
}

static void
xe_test_services_iface_init(XeServicesInterface *iface)
{
    iface->get_main = get_main;
    iface->get_stopping = get_stopping;
    iface->get_settings = get_settings;
    iface->worker_new = worker_new;
    iface->worker_lookup = worker_lookup;
    iface->vm_left = vm_left;
    iface->vm_kept = vm_kept;
    iface->vm_arrived = vm_arrived;
    iface->incoming_ended = incoming_ended;
    iface->worker_done = worker_done;
    iface->vf_facts = vf_facts;
    iface->agent_run = agent_run;
    iface->reserve = reserve;
    iface->release = release;
    iface->hooks = hooks;
    iface->spawn = spawn;
    iface->end_qemu = end_qemu;
}
