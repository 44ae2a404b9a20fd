/* xe-service-engine.c: the migration engine on D-Bus: Manager.AddVM,
 * RemoveVM, Migrate and PrepareIncoming, and one object per VM, Job and
 * Incoming whose properties are bound to the engine's records, so every
 * change is a PropertiesChanged signal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migrated"

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

    if (vm == NULL) {
        g_dbus_method_invocation_take_error(c->invocation, error);
    } else {
        g_autofree char *path = xe_bus_object_path("vm", xe_vm_get_name(vm));

        xe_dbus_manager_complete_add_vm(c->service->manager_iface, c->invocation, path);
    }
    call_free(c);
}

static void
add_vm_authorized(Call *c)
{
    g_autoptr(XeVmSpec) spec = NULL;
    GVariant *spec_variant = NULL;
    gboolean start = FALSE;
    GError *error = NULL;

    g_variant_get_child(c->options, 0, "@a{sv}", &spec_variant);
    g_variant_lookup(g_variant_get_child_value(c->options, 1), "start", "b", &start);
    spec = xe_vm_spec_from_variant(spec_variant, &error);
    g_variant_unref(spec_variant);
    if (spec == NULL) {
        g_dbus_method_invocation_take_error(c->invocation, error);
        call_free(c);
        return;
    }
    xe_engine_add_vm_async(c->service->engine, spec, start, c->caller, NULL, add_vm_done, c);
}

static gboolean
handle_add_vm(XeDBusManager *iface, GDBusMethodInvocation *inv, GVariant *spec, GVariant *options,
              XeService *service)
{
    g_autoptr(GVariant) both = g_variant_ref_sink(g_variant_new("(@a{sv}@a{sv})", spec, options));

    return call_start_then(service, inv, iface, "AddVM", NULL, NULL, 0, both, add_vm_authorized);
}

static void
remove_vm_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_remove_vm_finish(XE_ENGINE(source), result, &error))
        g_dbus_method_invocation_take_error(c->invocation, error);
    else
        xe_dbus_manager_complete_remove_vm(c->service->manager_iface, c->invocation);
    call_free(c);
}

static void
remove_vm_authorized(Call *c)
{
    xe_engine_remove_vm_async(c->service->engine, c->arg, c->caller, NULL, remove_vm_done, c);
}

static gboolean
handle_remove_vm(XeDBusManager *iface, GDBusMethodInvocation *inv, const char *name,
                 XeService *service)
{
    return call_start_then(service, inv, iface, "RemoveVM", NULL, name, 0, NULL,
                           remove_vm_authorized);
}

/* jobs */

static void
cancel_authorized(Call *c)
{
    XeJob *job = xe_engine_lookup_job(c->service->engine, c->target);

    if (job == NULL) {
        g_dbus_method_invocation_return_error(c->invocation, XE_ERROR, XE_ERROR_NOT_FOUND,
                                              "no job %s", c->target);
    } else if (xe_job_is_finished(job)) {
        g_dbus_method_invocation_return_error(c->invocation, XE_ERROR, XE_ERROR_BUSY,
                                              "job %s is over already", c->target);
    } else {
        xe_job_cancel(job);
        xe_dbus_job_complete_cancel(XE_DBUS_JOB(c->iface), c->invocation);
    }
    call_free(c);
}

static gboolean
handle_cancel(XeDBusJob *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start_then(service, inv, iface, "Cancel", xe_dbus_job_get_id(iface), NULL, 0, NULL,
                           cancel_authorized);
}

static void
on_job_added(XeEngine *engine, XeJob *job, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("job", xe_job_get_id(job));
    XeDBusObjectSkeleton *object = xe_dbus_object_skeleton_new(path);
    g_autoptr(XeDBusJob) iface = xe_dbus_job_skeleton_new();

    bind_record(job, iface);
    g_signal_connect(iface, "handle-cancel", G_CALLBACK(handle_cancel), service);
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
migrate_authorized(Call *c)
{
    const char *policy = NULL;
    GError *error = NULL;
    XeJob *job;

    g_variant_lookup(c->options, "policy", "&s", &policy);
    job = xe_engine_migrate(c->service->engine, c->target, c->arg, policy, c->caller, &error);
    if (job == NULL) {
        g_dbus_method_invocation_take_error(c->invocation, error);
    } else {
        g_autofree char *path = xe_bus_object_path("job", xe_job_get_id(job));

        xe_dbus_manager_complete_migrate(c->service->manager_iface, c->invocation, path);
    }
    call_free(c);
}

static gboolean
handle_migrate(XeDBusManager *iface, GDBusMethodInvocation *inv, const char *vm, const char *host,
               GVariant *options, XeService *service)
{
    return call_start_then(service, inv, iface, "Migrate", vm, host, 0, options,
                           migrate_authorized);
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

    if (info == NULL) {
        g_dbus_method_invocation_take_error(c->invocation, error);
    } else {
        GVariantBuilder b;
        GVariantIter iter;
        const char *key;
        GVariant *value;

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
    }
    call_free(c);
}

static void
prepare_authorized(Call *c)
{
    const char *sender = g_dbus_method_invocation_get_sender(c->invocation);
    GVariant *spec = g_variant_get_child_value(c->options, 0);
    GVariant *options = g_variant_get_child_value(c->options, 1);
    const char *host = NULL;

    if (!g_variant_lookup(options, "host", "&s", &host))
        host = "localhost";
    /* Watch first: a source that vanishes mid-prepare still gets its incoming aborted. */
    watch_owner(c->service, sender);
    xe_engine_prepare_incoming_async(c->service->engine, spec, c->arg, options, sender, host, NULL,
                                     prepare_done, c);
    g_variant_unref(spec);
    g_variant_unref(options);
}

static gboolean
handle_prepare_incoming(XeDBusManager *iface, GDBusMethodInvocation *inv, GVariant *spec,
                        const char *profile, GVariant *options, XeService *service)
{
    g_autoptr(GVariant) both = g_variant_ref_sink(g_variant_new("(@a{sv}@a{sv})", spec, options));

    return call_start_then(service, inv, iface, "PrepareIncoming", NULL, profile, 0, both,
                           prepare_authorized);
}

static void
finish_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_incoming_finish_finish(XE_ENGINE(source), result, &error))
        g_dbus_method_invocation_take_error(c->invocation, error);
    else
        xe_dbus_incoming_complete_finish(XE_DBUS_INCOMING(c->iface), c->invocation);
    call_free(c);
}

static void
finish_authorized(Call *c)
{
    xe_engine_incoming_finish_async(c->service->engine, c->target, c->count, NULL, finish_done, c);
}

static gboolean
handle_finish(XeDBusIncoming *iface, GDBusMethodInvocation *inv, guint timeout_ms,
              XeService *service)
{
    return call_start_then(service, inv, iface, "Finish", xe_dbus_incoming_get_id(iface), NULL,
                           timeout_ms, NULL, finish_authorized);
}

static void
abort_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_engine_incoming_abort_finish(XE_ENGINE(source), result, &error))
        g_dbus_method_invocation_take_error(c->invocation, error);
    else
        xe_dbus_incoming_complete_abort(XE_DBUS_INCOMING(c->iface), c->invocation);
    call_free(c);
}

static void
abort_authorized(Call *c)
{
    xe_engine_incoming_abort_async(c->service->engine, c->target, "aborted by the source", NULL,
                                   abort_done, c);
}

static gboolean
handle_abort(XeDBusIncoming *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start_then(service, inv, iface, "Abort", xe_dbus_incoming_get_id(iface), NULL, 0,
                           NULL, abort_authorized);
}

static void
on_incoming_added(XeEngine *engine, XeIncoming *incoming, XeService *service)
{
    g_autofree char *path = xe_bus_object_path("incoming", xe_incoming_get_id(incoming));
    XeDBusObjectSkeleton *object = xe_dbus_object_skeleton_new(path);
    g_autoptr(XeDBusIncoming) iface = xe_dbus_incoming_skeleton_new();

    bind_record(incoming, iface);
    g_signal_connect(iface, "handle-finish", G_CALLBACK(handle_finish), service);
    g_signal_connect(iface, "handle-abort", G_CALLBACK(handle_abort), service);
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
    g_signal_connect(service->manager_iface, "handle-add-vm", G_CALLBACK(handle_add_vm), service);
    g_signal_connect(service->manager_iface, "handle-remove-vm", G_CALLBACK(handle_remove_vm),
                     service);
    g_signal_connect(service->manager_iface, "handle-migrate", G_CALLBACK(handle_migrate), service);
    g_signal_connect(service->manager_iface, "handle-prepare-incoming",
                     G_CALLBACK(handle_prepare_incoming), service);
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
