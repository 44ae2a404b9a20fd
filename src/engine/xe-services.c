/* xe-services.c: the XeServices interface's dispatch, and the helpers over the
 * settings every flow shares (policies, QMP connections, VM records).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-services"

#include "xe-services.h"

#include "xe-journal.h"

G_DEFINE_INTERFACE(XeServices, xe_services, G_TYPE_OBJECT)

static void
xe_services_default_init(XeServicesInterface *iface)
{
}

#define IFACE(self) XE_SERVICES_GET_IFACE(self)

GMainContext *
xe_services_get_main(XeServices *self)
{
    return IFACE(self)->get_main(self);
}

GCancellable *
xe_services_get_stopping(XeServices *self)
{
    return IFACE(self)->get_stopping(self);
}

XeEngineSettings *
xe_services_get_settings(XeServices *self)
{
    return IFACE(self)->get_settings(self);
}

XeWorker *
xe_services_worker_new(XeServices *self, const char *id)
{
    return IFACE(self)->worker_new(self, id);
}

XeWorker *
xe_services_worker_lookup(XeServices *self, const char *id)
{
    return IFACE(self)->worker_lookup(self, id);
}

void
xe_services_worker_done(XeServices *self, const char *id)
{
    IFACE(self)->worker_done(self, id);
}

void
xe_services_vm_left(XeServices *self, XeVm *vm)
{
    IFACE(self)->vm_left(self, vm);
}

void
xe_services_vm_kept(XeServices *self, XeVm *vm)
{
    IFACE(self)->vm_kept(self, vm);
}

void
xe_services_vm_arrived(XeServices *self, XeVm *vm)
{
    IFACE(self)->vm_arrived(self, vm);
}

void
xe_services_incoming_ended(XeServices *self, XeIncoming *incoming)
{
    IFACE(self)->incoming_ended(self, incoming);
}

gboolean
xe_services_vf_facts(XeServices *self, const char *vf, char **driver, char **migration)
{
    return IFACE(self)->vf_facts(self, vf, driver, migration);
}

gboolean
xe_services_agent_run(XeServices *self, XeAgentOp op, const char *target, const char *arg,
                      const char *caller, char **out, GError **error)
{
    return IFACE(self)->agent_run(self, op, target, arg, caller, out, error);
}

gboolean
xe_services_reserve(XeServices *self, const char *profile, const char *owner, char **vf,
                    char **reservation, GError **error)
{
    return IFACE(self)->reserve(self, profile, owner, vf, reservation, error);
}

gboolean
xe_services_release(XeServices *self, const char *reservation, gboolean reset, const char *caller,
                    GError **error)
{
    if (reservation == NULL || *reservation == '\0')
        return TRUE;
    return IFACE(self)->release(self, reservation, reset, caller, error);
}

gboolean
xe_services_hooks(XeServices *self, const char *phase, JsonNode *document, GError **error)
{
    return IFACE(self)->hooks(self, phase, document, error);
}

XeQemuProcess *
xe_services_spawn(XeServices *self, const char *const *argv, const char *qmp_socket, const char *vf,
                  gboolean incoming, const char *log_path, GError **error)
{
    return IFACE(self)->spawn(self, argv, qmp_socket, vf, incoming, log_path, error);
}

void
xe_services_end_qemu(XeServices *self, XeQemuProcess *process, guint grace_ms)
{
    IFACE(self)->end_qemu(self, process, grace_ms);
}

/* settings */

XeEngineSettings *
engine_settings_copy(const XeEngineSettings *s)
{
    XeEngineSettings *c = g_new0(XeEngineSettings, 1);

    c->state_dir = g_strdup(s->state_dir);
    c->run_dir = g_strdup(s->run_dir);
    c->policy_dir = g_strdup(s->policy_dir);
    c->transport = g_strdupv(s->transport);
    c->migration_address = g_strdup(s->migration_address);
    c->peer_timeout_ms = s->peer_timeout_ms;
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

gboolean
engine_vm_store(const XeEngineSettings *s, const XeVmSpec *spec, const char *qmp, const char *vf,
                XeQemuProcess *process, gboolean adopted, GError **error)
{
    g_autoptr(XeVmSpec) copy = xe_vm_spec_copy(spec);

    g_free(copy->qmp);
    g_free(copy->vf);
    copy->qmp = g_strdup(qmp);
    copy->vf = g_strdup(vf);
    return xe_journal_put_vm(
        s->state_dir, copy, process != NULL ? (guint)xe_qemu_process_get_pid(process) : 0,
        process != NULL ? xe_qemu_process_get_start_time(process) : 0, adopted, error);
}
