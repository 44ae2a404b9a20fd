/* xe-service-engine.c: the migration engine on D-Bus: the handlers of
 * Manager.AddVM, RemoveVM, Migrate and PrepareIncoming, Job.Cancel and
 * Incoming.Finish and Abort (dispatched and authorized through the method
 * table of xe-service.c), and one object per VM, Job and Incoming whose
 * properties are bound to the engine's records, so every change is a
 * PropertiesChanged signal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-service-engine"

#include "xe-error.h"
#include "xe-service-private.h"

/* Binds every record property to the skeleton property of the same name. */
static void
bind_record(gpointer record, gpointer skeleton)
{
    g_autofree GParamSpec **props = NULL;
    guint n = 0;

    props = g_object_class_list_properties(G_OBJECT_GET_CLASS(record), &n);
    for (guint i = 0; i < n; i++)
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(skeleton), props[i]->name) != NULL)
            g_object_bind_property(record, props[i]->name, skeleton, props[i]->name,
                                   G_BINDING_SYNC_CREATE);
}

static void export(XeService *service, const char *path, XeDBusObjectSkeleton *object)
{
    g_hash_table_replace(service->engine_objects, g_strdup(path), object);
    g_dbus_object_manager_server_export(service->manager, G_DBUS_OBJECT_SKELETON(object));
}

static void
unexport(XeService *service, const char *path)
{
    g_dbus_object_manager_server_unexport(service->manager, path);
    g_hash_table_remove(service->engine_objects, path);
}

/* VMs */

static void
on_vm_added(XeEngine *engine, XeVm *vm, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("vm", xe_vm_get_name(vm));
    XeDBusObjectSkeleton *object = xe_dbus_object_skeleton_new(path);
    g_autoptr(XeDBusVM) iface = xe_dbus_vm_skeleton_new();

    bind_record(vm, iface);
    xe_dbus_object_skeleton_set_vm(object, iface);
    export(service, path, object);
}

static void
on_vm_removed(XeEngine *engine, XeVm *vm, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("vm", xe_vm_get_name(vm));

    unexport(service, path);
}

static void
add_vm_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autoptr(XeVm) vm = xe_engine_add_vm_finish(XE_ENGINE(source), result, &error);
    g_autofree char *path = NULL;

    if (vm == NULL) {
        call_fail(c, error);
        return;
    }
    path = xe_bus_object_path("vm", xe_vm_get_name(vm));
    xe_dbus_manager_complete_add_vm(c->service->manager_iface, c->invocation, path);
    call_free(c);
}

void
service_engine_add_vm(Call *c)
{
    g_autoptr(GVariant) spec_variant = g_variant_get_child_value(c->params, 0);
    g_autoptr(XeVmSpec) spec = NULL;
    gboolean start = FALSE;
    GError *error = NULL;

    g_variant_lookup(c->options, "start", "b", &start);
    spec = xe_vm_spec_from_variant(spec_variant, &error);
    if (spec == NULL) {
        call_fail(c, error);
        return;
    }
    c->context = start ? g_strdup_printf("AddVM: starting VM '%s'", spec->name)
                       : g_strdup_printf("AddVM: adopting VM '%s' (QMP socket %s)", spec->name,
                                         spec->qmp != NULL ? spec->qmp : "none");
    xe_engine_add_vm_async(c->service->engine, spec, start, c->caller, NULL, add_vm_done, c);
}

static void
remove_vm_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_remove_vm_finish(XE_ENGINE(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_remove_vm(c->service->manager_iface, c->invocation);
    call_free(c);
}

void
service_engine_remove_vm(Call *c)
{
    const char *name = NULL;

    g_variant_get_child(c->params, 0, "&s", &name);
    c->context = g_strdup_printf("RemoveVM: VM '%s'", name);
    xe_engine_remove_vm_async(c->service->engine, name, c->caller, NULL, remove_vm_done, c);
}

/* jobs */

void
service_engine_cancel(Call *c)
{
    const char *id = xe_dbus_job_get_id(XE_DBUS_JOB(c->iface));
    XeJob *job = xe_engine_lookup_job(c->service->engine, id);

    if (job == NULL) {
        call_fail(c, g_error_new(XE_ERROR, XE_ERROR_NOT_FOUND, "no job %s", id));
        return;
    }
    if (xe_job_is_finished(job)) {
        call_fail(c, g_error_new(XE_ERROR, XE_ERROR_BUSY, "job %s is over already", id));
        return;
    }
    xe_job_cancel(job);
    xe_dbus_job_complete_cancel(XE_DBUS_JOB(c->iface), c->invocation);
    call_free(c);
}

void
service_engine_resolve(Call *c)
{
    const char *id = xe_dbus_job_get_id(XE_DBUS_JOB(c->iface));
    const char *where = NULL;
    GError *error = NULL;

    g_variant_get_child(c->params, 0, "&s", &where);
    if (!xe_engine_resolve_job(c->service->engine, id, where, c->caller, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_job_complete_resolve(XE_DBUS_JOB(c->iface), c->invocation);
    call_free(c);
}

static void
on_job_added(XeEngine *engine, XeJob *job, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("job", xe_job_get_id(job));
    XeDBusObjectSkeleton *object = xe_dbus_object_skeleton_new(path);
    g_autoptr(XeDBusJob) iface = xe_dbus_job_skeleton_new();

    bind_record(job, iface);
    xe_service_dispatch(service, iface);
    xe_dbus_object_skeleton_set_job(object, iface);
    export(service, path, object);
}

static void
on_job_removed(XeEngine *engine, XeJob *job, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("job", xe_job_get_id(job));

    unexport(service, path);
}

static void
migrate_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autoptr(XeJob) job = xe_engine_migrate_finish(XE_ENGINE(source), result, &error);
    g_autofree char *path = NULL;

    if (job == NULL) {
        call_fail(c, error);
        return;
    }
    path = xe_bus_object_path("job", xe_job_get_id(job));
    xe_dbus_manager_complete_migrate(c->service->manager_iface, c->invocation, path);
    call_free(c);
}

void
service_engine_migrate(Call *c)
{
    const char *vm = NULL, *host = NULL, *policy = NULL;

    g_variant_get_child(c->params, 0, "&s", &vm);
    g_variant_get_child(c->params, 1, "&s", &host);
    g_variant_lookup(c->options, "policy", "&s", &policy);
    c->context = g_strdup_printf("Migrate: VM '%s' to %s", vm, host);
    xe_engine_migrate_async(c->service->engine, vm, host, policy, c->caller, NULL, migrate_done, c);
}

/* incoming migrations */

static void
owner_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
    XeService *service = user_data;

    xe_engine_owner_vanished(service->engine, name);
    g_hash_table_remove(service->watches, name);
}

static void
watch_owner(XeService *service, const char *name)
{
    guint id;

    if (g_hash_table_contains(service->watches, name))
        return;
    id = g_bus_watch_name_on_connection(service->connection, name, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        NULL, owner_vanished, service, NULL);
    g_hash_table_insert(service->watches, g_strdup(name), GUINT_TO_POINTER(id));
}

static void
prepare_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autoptr(GVariant) info = xe_engine_prepare_incoming_finish(XE_ENGINE(source), result, &error);
    GVariantBuilder b;
    GVariantIter iter;
    const char *key;
    GVariant *value;

    if (info == NULL) {
        call_fail(c, error);
        return;
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_iter_init(&iter, info);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        if (g_str_equal(key, "id")) {
            g_autofree char *path =
                xe_bus_object_path("incoming", g_variant_get_string(value, NULL));

            g_variant_builder_add(&b, "{sv}", "incoming", g_variant_new_object_path(path));
        }
        g_variant_builder_add(&b, "{sv}", key, value);
        g_variant_unref(value);
    }
    xe_dbus_manager_complete_prepare_incoming(c->service->manager_iface, c->invocation,
                                              g_variant_builder_end(&b));
    call_free(c);
}

void
service_engine_prepare_incoming(Call *c)
{
    const char *sender = g_dbus_method_invocation_get_sender(c->invocation);
    g_autoptr(GVariant) spec = g_variant_get_child_value(c->params, 0);
    const char *profile = NULL;
    const char *host = NULL;

    g_variant_get_child(c->params, 1, "&s", &profile);
    if (!g_variant_lookup(c->options, "host", "&s", &host))
        host = "localhost";
    /* Watch first: a source that vanishes mid-prepare still gets its incoming aborted. */
    watch_owner(c->service, sender);
    xe_engine_prepare_incoming_async(c->service->engine, spec, profile, c->options, sender, host,
                                     NULL, prepare_done, c);
}

/* libvirt's qemu hook */

static void
libvirt_hook_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *xml = xe_engine_libvirt_hook_finish(XE_ENGINE(source), result, &error);

    if (xml == NULL) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_libvirt_hook(c->service->manager_iface, c->invocation, xml);
    call_free(c);
}

void
service_engine_libvirt_hook(Call *c)
{
    const char *domain = NULL, *operation = NULL, *sub = NULL, *extra = NULL, *xml = NULL;
    gint64 deadline = 0;

    g_variant_get(c->params, "(&s&s&s&s&s@a{sv})", &domain, &operation, &sub, &extra, &xml, NULL);
    if (c->options != NULL)
        g_variant_lookup(c->options, "deadline", "x", &deadline);
    c->context =
        g_strdup_printf("LibvirtHook: domain '%s' %s %s %s", domain, operation, sub, extra);
    xe_engine_libvirt_hook_async(c->service->engine, domain, operation, sub, extra, xml, deadline,
                                 NULL, libvirt_hook_done, c);
}

/* a daemon-driven libvirt migration's destination */

static void
prepare_incoming_domain_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *xml = xe_engine_domain_incoming_finish(XE_ENGINE(source), result, &error);
    GVariantBuilder info;

    if (xml == NULL) {
        call_fail(c, error);
        return;
    }
    g_variant_builder_init(&info, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(
        &info, "{sv}", "libvirt-uri",
        g_variant_new_string(xe_agent_get_config(c->service->agent)->libvirt_migration_uri));
    xe_dbus_manager_complete_prepare_incoming_domain(c->service->manager_iface, c->invocation, xml,
                                                     g_variant_builder_end(&info));
    call_free(c);
}

void
service_engine_prepare_incoming_domain(Call *c)
{
    const char *xml = NULL;
    guint timeout_ms = 0;

    g_variant_get(c->params, "(&s@a{sv})", &xml, NULL);
    if (*xe_agent_get_config(c->service->agent)->libvirt_uri == '\0') {
        /* what it reserves would be nobody's to give back: neither the abort nor the
         * reconcile can ask libvirt whether the domain runs here */
        call_fail(c, g_error_new(XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                                 "libvirt-uri is empty in this host's configuration: "
                                 "xe-migrated does not take libvirt domains here"));
        return;
    }
    if (c->options != NULL)
        g_variant_lookup(c->options, "timeout-ms", "u", &timeout_ms);
    if (timeout_ms == 0)
        timeout_ms = xe_agent_get_config(c->service->agent)->peer_timeout_ms;
    c->context = g_strdup("PrepareIncomingDomain");
    xe_engine_domain_incoming_async(c->service->engine, xml, timeout_ms, c->caller, NULL,
                                    prepare_incoming_domain_done, c);
}

static void
abort_incoming_domain_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_domain_abort_finish(XE_ENGINE(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_abort_incoming_domain(c->service->manager_iface, c->invocation);
    call_free(c);
}

void
service_engine_abort_incoming_domain(Call *c)
{
    const char *xml = NULL;

    g_variant_get(c->params, "(&s)", &xml);
    c->context = g_strdup("AbortIncomingDomain");
    xe_engine_domain_abort_async(c->service->engine, xml, c->caller, NULL,
                                 abort_incoming_domain_done, c);
}

/* libvirt domains */

static void
list_domains_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autoptr(GVariant) domains = xe_engine_list_domains_finish(XE_ENGINE(source), result, &error);

    if (domains == NULL) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_list_domains(c->service->manager_iface, c->invocation, domains);
    call_free(c);
}

void
service_engine_list_domains(Call *c)
{
    xe_engine_list_domains_async(c->service->engine, NULL, list_domains_done, c);
}

static void
domain_state_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *state = xe_engine_domain_state_finish(XE_ENGINE(source), result, &error);

    if (state == NULL) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_domain_state(c->service->manager_iface, c->invocation, state);
    call_free(c);
}

void
service_engine_domain_state(Call *c)
{
    const char *name = NULL;

    g_variant_get_child(c->params, 0, "&s", &name);
    c->context = g_strdup_printf("DomainState: domain '%s'", name);
    xe_engine_domain_state_async(c->service->engine, name, NULL, domain_state_done, c);
}

static void
prepare_domain_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_auto(GStrv) changes = xe_engine_prepare_domain_finish(XE_ENGINE(source), result, &error);

    if (changes == NULL) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_prepare_domain(c->service->manager_iface, c->invocation,
                                            (const char *const *)changes);
    call_free(c);
}

void
service_engine_prepare_domain(Call *c)
{
    const char *name = NULL;

    g_variant_get_child(c->params, 0, "&s", &name);
    c->context = g_strdup_printf("PrepareDomain: domain '%s'", name);
    xe_engine_prepare_domain_async(c->service->engine, name, NULL, prepare_domain_done, c);
}

static void
finish_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_incoming_finish_finish(XE_ENGINE(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_incoming_complete_finish(XE_DBUS_INCOMING(c->iface), c->invocation);
    call_free(c);
}

void
service_engine_finish(Call *c)
{
    const char *id = xe_dbus_incoming_get_id(XE_DBUS_INCOMING(c->iface));
    guint32 timeout_ms = 0;

    g_variant_get_child(c->params, 0, "u", &timeout_ms);
    c->context = g_strdup_printf("Finish: incoming %s", id);
    xe_engine_incoming_finish_async(c->service->engine, id, timeout_ms, NULL, finish_done, c);
}

static void
abort_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_incoming_abort_finish(XE_ENGINE(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_incoming_complete_abort(XE_DBUS_INCOMING(c->iface), c->invocation);
    call_free(c);
}

void
service_engine_abort(Call *c)
{
    const char *id = xe_dbus_incoming_get_id(XE_DBUS_INCOMING(c->iface));

    c->context = g_strdup_printf("Abort: incoming %s", id);
    xe_engine_incoming_abort_async(c->service->engine, id, "aborted by the source", NULL,
                                   abort_done, c);
}

static void
on_incoming_added(XeEngine *engine, XeIncoming *incoming, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("incoming", xe_incoming_get_id(incoming));
    XeDBusObjectSkeleton *object = xe_dbus_object_skeleton_new(path);
    g_autoptr(XeDBusIncoming) iface = xe_dbus_incoming_skeleton_new();

    bind_record(incoming, iface);
    xe_service_dispatch(service, iface);
    xe_dbus_object_skeleton_set_incoming(object, iface);
    export(service, path, object);
}

static void
on_incoming_removed(XeEngine *engine, XeIncoming *incoming, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("incoming", xe_incoming_get_id(incoming));

    unexport(service, path);
}

static void
unwatch(gpointer data)
{
    g_bus_unwatch_name(GPOINTER_TO_UINT(data));
}

void
service_engine_attach(XeService *service)
{
    XeEngine *engine = service->engine;

    service->engine_objects =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    service->watches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, unwatch);
    service->engine_ids[0] = g_signal_connect(engine, "vm-added", G_CALLBACK(on_vm_added), service);
    service->engine_ids[1] =
        g_signal_connect(engine, "vm-removed", G_CALLBACK(on_vm_removed), service);
    service->engine_ids[2] =
        g_signal_connect(engine, "job-added", G_CALLBACK(on_job_added), service);
    service->engine_ids[3] =
        g_signal_connect(engine, "incoming-added", G_CALLBACK(on_incoming_added), service);
    service->engine_ids[4] =
        g_signal_connect(engine, "incoming-removed", G_CALLBACK(on_incoming_removed), service);
    service->engine_ids[5] =
        g_signal_connect(engine, "job-removed", G_CALLBACK(on_job_removed), service);
}

void
service_engine_detach(XeService *service)
{
    GHashTableIter iter;
    gpointer path;

    for (guint i = 0; i < G_N_ELEMENTS(service->engine_ids); i++)
        if (service->engine_ids[i] != 0)
            g_signal_handler_disconnect(service->engine, service->engine_ids[i]);
    g_hash_table_iter_init(&iter, service->engine_objects);
    while (g_hash_table_iter_next(&iter, &path, NULL))
        g_dbus_object_manager_server_unexport(service->manager, path);
    g_hash_table_unref(service->engine_objects);
    g_hash_table_unref(service->watches);
}
