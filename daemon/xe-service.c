/* xe-service.c: the D-Bus face of XeAgent.
 *
 * Objects come from gdbus-codegen (org.xemigrated.XeMigrated1.xml); this
 * file keeps them in step with the agent and answers their methods. Blocking
 * work (credentials from the bus, NSS group lookups) runs in GTask threads;
 * sysfs work runs in the agent's workers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migrated"

#include "xe-service.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xe-error.h"
#include "xe-service-private.h"

/* authorization: root, or a member of the configured group */

typedef struct {
    char *sender;
    char *group;
    char *caller; /* out: "uid N (:1.23)" */
} Auth;

static void
auth_free(Auth *a)
{
    g_free(a->sender);
    g_free(a->group);
    g_free(a->caller);
    g_free(a);
}

static gboolean
uid_in_group(uid_t uid, const char *group)
{
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char pwbuf[4096], grbuf[4096];
    gid_t groups[256];
    int n = G_N_ELEMENTS(groups);

    if (getgrnam_r(group, &gr, grbuf, sizeof(grbuf), &grp) != 0 || grp == NULL)
        return FALSE;
    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 || pwp == NULL)
        return FALSE;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return FALSE;
    for (int i = 0; i < n; i++)
        if (groups[i] == grp->gr_gid)
            return TRUE;
    return FALSE;
}

static void
auth_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    GDBusConnection *connection = source;
    Auth *a = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
        connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "GetConnectionUnixUser", g_variant_new("(s)", a->sender), G_VARIANT_TYPE("(u)"),
        G_DBUS_CALL_FLAGS_NONE, 10000, cancellable, &error);
    guint32 uid;

    if (reply == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_ACCESS_DENIED, "cannot tell who %s is: %s",
                                a->sender, error->message);
        return;
    }
    g_variant_get(reply, "(u)", &uid);
    a->caller = g_strdup_printf("uid %u (%s)", uid, a->sender);
    if (uid == 0 || uid == geteuid() || uid_in_group(uid, a->group)) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    g_task_return_new_error(task, XE_ERROR, XE_ERROR_ACCESS_DENIED,
                            "caller uid %u is neither root nor in group '%s'; ask an "
                            "administrator to add you to it",
                            uid, a->group);
}

void
call_free(Call *c)
{
    g_object_unref(c->invocation);
    g_clear_object(&c->iface);
    g_free(c->method);
    g_free(c->target);
    g_free(c->arg);
    g_free(c->caller);
    g_clear_pointer(&c->options, g_variant_unref);
    g_free(c);
}

static void call_authorized(Call *c);

static void
auth_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    Auth *a = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        g_prefix_error(&error, "%s: ", c->method);
        g_dbus_method_invocation_take_error(c->invocation, error);
        call_free(c);
        return;
    }
    c->caller = g_strdup(a->caller);
    call_authorized(c);
}

/* Starts authorization of @invocation for @method; the call continues in call_authorized(). */
static gboolean
call_start(XeService *service, GDBusMethodInvocation *invocation, gpointer iface,
           const char *method, const char *target, const char *arg, guint count)
{
    return call_start_then(service, invocation, iface, method, target, arg, count, NULL, NULL);
}

gboolean
call_start_then(XeService *service, GDBusMethodInvocation *invocation, gpointer iface,
                const char *method, const char *target, const char *arg, guint count,
                GVariant *options, void (*then)(Call *c))
{
    Call *c = g_new0(Call, 1);
    g_autoptr(GTask) task = g_task_new(service->connection, NULL, auth_done, c);
    Auth *a = g_new0(Auth, 1);

    c->service = service;
    c->invocation = g_object_ref(invocation);
    c->iface = iface != NULL ? g_object_ref(iface) : NULL;
    c->method = g_strdup(method);
    c->target = g_strdup(target);
    c->arg = g_strdup(arg);
    c->count = count;
    c->options = options != NULL ? g_variant_ref(options) : NULL;
    c->then = then;
    a->sender = g_strdup(g_dbus_method_invocation_get_sender(invocation));
    a->group = g_strdup(xe_agent_get_config(service->agent)->allowed_group);
    g_task_set_task_data(task, a, (GDestroyNotify)auth_free);
    g_task_run_in_thread(task, auth_thread);
    return TRUE; /* handled */
}

/* Each completion consumes the reference the handler was given; Call holds its own. */
static void
return_error(Call *c, GError *error)
{
    g_dbus_method_invocation_take_error(c->invocation, error);
}

static void
op_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *out = NULL;

    if (!xe_agent_run_finish(XE_AGENT(source), result, &out, &error)) {
        return_error(c, error);
    } else if (g_str_equal(c->method, "ReadProfile")) {
        xe_dbus_vf_complete_read_profile(XE_DBUS_VF(c->iface), c->invocation, out);
    } else if (g_str_equal(c->method, "CheckCompatibility")) {
        xe_dbus_vf_complete_check_compatibility(XE_DBUS_VF(c->iface), c->invocation, *out == '\0',
                                                out);
    } else {
        g_dbus_method_invocation_return_value(c->invocation, NULL);
    }
    call_free(c);
}

static void
reserve_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *vf = NULL, *id = NULL, *path = NULL;

    if (!xe_agent_reserve_finish(XE_AGENT(source), result, &vf, &id, &error)) {
        return_error(c, error);
    } else {
        path = xe_bus_object_path("vf", vf);
        xe_dbus_manager_complete_reserve(c->service->manager_iface, c->invocation, path, id);
    }
    call_free(c);
}

static void
release_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_agent_release_finish(XE_AGENT(source), result, &error))
        return_error(c, error);
    else
        xe_dbus_manager_complete_release(c->service->manager_iface, c->invocation);
    call_free(c);
}

static void
reload_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_agent_reload_finish(XE_AGENT(source), result, &error))
        return_error(c, error);
    else
        xe_dbus_manager_complete_reload(c->service->manager_iface, c->invocation);
    call_free(c);
}

static const struct {
    const char *method;
    XeAgentOp op;
} ops[] = {
    { "EnableVFs", XE_AGENT_OP_ENABLE_VFS },
    { "DisableVFs", XE_AGENT_OP_DISABLE_VFS },
    { "Bind", XE_AGENT_OP_BIND },
    { "Unbind", XE_AGENT_OP_UNBIND },
    { "ApplyProfile", XE_AGENT_OP_APPLY_PROFILE },
    { "ReadProfile", XE_AGENT_OP_READ_PROFILE },
    { "Reset", XE_AGENT_OP_RESET },
    { "CheckCompatibility", XE_AGENT_OP_CHECK },
};

static void
call_authorized(Call *c)
{
    XeAgent *agent = c->service->agent;

    if (c->then != NULL) {
        c->then(c);
        return;
    }
    if (g_str_equal(c->method, "Reserve")) {
        xe_agent_reserve_async(agent, c->arg, c->target, c->caller, NULL, reserve_done, c);
        return;
    }
    if (g_str_equal(c->method, "Release")) {
        xe_agent_release_async(agent, c->arg, FALSE, c->caller, NULL, release_done, c);
        return;
    }
    if (g_str_equal(c->method, "Reload")) {
        c->service->reload(c->service->reload_data, reload_done, c);
        return;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(ops); i++) {
        if (g_str_equal(c->method, ops[i].method)) {
            xe_agent_run_async(agent, ops[i].op, c->target, c->arg, c->count, c->caller, NULL,
                               op_done, c);
            return;
        }
    }
    g_assert_not_reached();
}

/* Read-only methods skip authorization but go through the same path. */
static void
call_open(XeService *service, GDBusMethodInvocation *invocation, gpointer iface, const char *method,
          const char *target, const char *arg)
{
    Call *c = g_new0(Call, 1);

    c->service = service;
    c->invocation = g_object_ref(invocation);
    c->iface = g_object_ref(iface);
    c->method = g_strdup(method);
    c->target = g_strdup(target);
    c->arg = g_strdup(arg);
    c->caller = g_strdup(g_dbus_method_invocation_get_sender(invocation));
    call_authorized(c);
}

/* handlers */

static gboolean
handle_reserve(XeDBusManager *iface, GDBusMethodInvocation *inv, const char *profile,
               GVariant *options, XeService *service)
{
    const char *pf = NULL;

    g_variant_lookup(options, "pf", "&s", &pf);
    return call_start(service, inv, iface, "Reserve", pf, profile, 0);
}

static gboolean
handle_release(XeDBusManager *iface, GDBusMethodInvocation *inv, const char *id, XeService *service)
{
    return call_start(service, inv, iface, "Release", NULL, id, 0);
}

static gboolean
handle_reload(XeDBusManager *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start(service, inv, iface, "Reload", NULL, NULL, 0);
}

static gboolean
handle_list_reservations(XeDBusManager *iface, GDBusMethodInvocation *inv, XeService *service)
{
    xe_dbus_manager_complete_list_reservations(iface, inv,
                                               xe_agent_list_reservations(service->agent));
    return TRUE;
}

static gboolean
handle_enable_vfs(XeDBusPF *iface, GDBusMethodInvocation *inv, guint count, XeService *service)
{
    return call_start(service, inv, iface, "EnableVFs", xe_dbus_pf_get_address(iface), NULL, count);
}

static gboolean
handle_disable_vfs(XeDBusPF *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start(service, inv, iface, "DisableVFs", xe_dbus_pf_get_address(iface), NULL, 0);
}

static gboolean
handle_bind(XeDBusVF *iface, GDBusMethodInvocation *inv, const char *driver, XeService *service)
{
    return call_start(service, inv, iface, "Bind", xe_dbus_vf_get_address(iface), driver, 0);
}

static gboolean
handle_unbind(XeDBusVF *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start(service, inv, iface, "Unbind", xe_dbus_vf_get_address(iface), NULL, 0);
}

static gboolean
handle_apply_profile(XeDBusVF *iface, GDBusMethodInvocation *inv, const char *profile,
                     XeService *service)
{
    return call_start(service, inv, iface, "ApplyProfile", xe_dbus_vf_get_address(iface), profile,
                      0);
}

static gboolean
handle_reset(XeDBusVF *iface, GDBusMethodInvocation *inv, XeService *service)
{
    return call_start(service, inv, iface, "Reset", xe_dbus_vf_get_address(iface), NULL, 0);
}

static gboolean
handle_read_profile(XeDBusVF *iface, GDBusMethodInvocation *inv, XeService *service)
{
    call_open(service, inv, iface, "ReadProfile", xe_dbus_vf_get_address(iface), NULL);
    return TRUE;
}

static gboolean
handle_check(XeDBusVF *iface, GDBusMethodInvocation *inv, const char *profile, XeService *service)
{
    call_open(service, inv, iface, "CheckCompatibility", xe_dbus_vf_get_address(iface), profile);
    return TRUE;
}

/* keeping objects in step with the agent */

static XeDBusObjectSkeleton *
ensure_object(XeService *service, const char *path, gboolean is_pf)
{
    XeDBusObjectSkeleton *object = g_hash_table_lookup(service->objects, path);

    if (object != NULL)
        return object;
    object = xe_dbus_object_skeleton_new(path);
    if (is_pf) {
        g_autoptr(XeDBusPF) pf = xe_dbus_pf_skeleton_new();
        g_signal_connect(pf, "handle-enable-vfs", G_CALLBACK(handle_enable_vfs), service);
        g_signal_connect(pf, "handle-disable-vfs", G_CALLBACK(handle_disable_vfs), service);
        xe_dbus_object_skeleton_set_pf(object, pf);
    } else {
        g_autoptr(XeDBusVF) vf = xe_dbus_vf_skeleton_new();
        g_signal_connect(vf, "handle-bind", G_CALLBACK(handle_bind), service);
        g_signal_connect(vf, "handle-unbind", G_CALLBACK(handle_unbind), service);
        g_signal_connect(vf, "handle-apply-profile", G_CALLBACK(handle_apply_profile), service);
        g_signal_connect(vf, "handle-read-profile", G_CALLBACK(handle_read_profile), service);
        g_signal_connect(vf, "handle-reset", G_CALLBACK(handle_reset), service);
        g_signal_connect(vf, "handle-check-compatibility", G_CALLBACK(handle_check), service);
        xe_dbus_object_skeleton_set_vf(object, vf);
    }
    g_hash_table_insert(service->objects, g_strdup(path), object);
    g_dbus_object_manager_server_export(service->manager, G_DBUS_OBJECT_SKELETON(object));
    return object;
}

static void
sync_objects(XeService *service)
{
    GPtrArray *pfs = xe_agent_get_pfs(service->agent);
    GPtrArray *vfs = xe_agent_get_vfs(service->agent);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter iter;
    gpointer path;

    for (guint i = 0; i < pfs->len; i++) {
        XePfInfo *info = pfs->pdata[i];
        char *p = xe_bus_object_path("pf", info->bdf);
        g_autoptr(XeDBusPF) pf =
            xe_dbus_object_get_pf(XE_DBUS_OBJECT(ensure_object(service, p, TRUE)));

        xe_dbus_pf_set_address(pf, info->bdf);
        xe_dbus_pf_set_device_id(pf, info->device_id);
        xe_dbus_pf_set_revision(pf, info->revision);
        xe_dbus_pf_set_driver(pf, info->driver != NULL ? info->driver : "");
        xe_dbus_pf_set_total_vfs(pf, info->total_vfs);
        xe_dbus_pf_set_enabled_vfs(pf, info->num_vfs);
        xe_dbus_pf_set_guc_version(pf, info->guc_version != NULL ? info->guc_version : "");
        xe_dbus_pf_set_migration_supported(pf, xe_migration_support_to_string(info->migration));
        xe_dbus_pf_set_unusable(pf, info->unusable_reason != NULL ? info->unusable_reason : "");
        g_hash_table_add(seen, p);
    }
    for (guint i = 0; i < vfs->len; i++) {
        XeAgentVf *info = vfs->pdata[i];
        char *p = xe_bus_object_path("vf", info->info.bdf);
        g_autofree char *pf_path = xe_bus_object_path("pf", info->info.pf_bdf);
        g_autoptr(XeDBusVF) vf =
            xe_dbus_object_get_vf(XE_DBUS_OBJECT(ensure_object(service, p, FALSE)));

        xe_dbus_vf_set_address(vf, info->info.bdf);
        xe_dbus_vf_set_pf(vf, pf_path);
        xe_dbus_vf_set_index(vf, info->info.vfid);
        xe_dbus_vf_set_driver(vf, info->info.driver != NULL ? info->info.driver : "");
        xe_dbus_vf_set_profile(vf, info->profile != NULL ? info->profile : "");
        xe_dbus_vf_set_profile_name(vf, info->profile_name);
        xe_dbus_vf_set_reservation(vf, info->reservation);
        xe_dbus_vf_set_in_pool(vf, info->in_pool);
        xe_dbus_vf_set_in_use(vf, info->in_use);
        xe_dbus_vf_set_health(vf, info->health);
        g_hash_table_add(seen, p);
    }
    /* Objects of VFs and PFs that went away. */
    g_hash_table_iter_init(&iter, service->objects);
    while (g_hash_table_iter_next(&iter, &path, NULL)) {
        if (g_hash_table_contains(seen, path))
            continue;
        g_dbus_object_manager_server_unexport(service->manager, path);
        g_hash_table_iter_remove(&iter);
    }
    xe_dbus_manager_set_drift(service->manager_iface,
                              (const char *const *)xe_agent_get_drift(service->agent));
}

static void
on_agent_changed(XeAgent *agent, XeService *service)
{
    sync_objects(service);
}

XeService *
xe_service_new(XeAgent *agent, XeEngine *engine, GDBusConnection *connection, GError **error)
{
    XeService *service = g_new0(XeService, 1);

    xe_error_register_dbus();
    service->agent = g_object_ref(agent);
    service->engine = g_object_ref(engine);
    service->connection = g_object_ref(connection);
    service->objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    service->manager = g_dbus_object_manager_server_new(XE_OBJECT_ROOT);
    service->manager_iface = xe_dbus_manager_skeleton_new();
    xe_dbus_manager_set_version(service->manager_iface, PACKAGE_VERSION);
    xe_dbus_manager_set_sysfs_root(service->manager_iface,
                                   xe_sysfs_get_root(xe_host_get_sysfs(xe_agent_get_host(agent))));
    g_signal_connect(service->manager_iface, "handle-reserve", G_CALLBACK(handle_reserve), service);
    g_signal_connect(service->manager_iface, "handle-release", G_CALLBACK(handle_release), service);
    g_signal_connect(service->manager_iface, "handle-reload", G_CALLBACK(handle_reload), service);
    g_signal_connect(service->manager_iface, "handle-list-reservations",
                     G_CALLBACK(handle_list_reservations), service);
    /* The Manager sits at the object manager's own path, where the server exports nothing:
     * export it beside org.freedesktop.DBus.ObjectManager directly. */
    if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(service->manager_iface),
                                          connection, XE_OBJECT_ROOT, error)) {
        xe_service_free(service);
        return NULL;
    }
    service->changed_id = g_signal_connect(agent, "changed", G_CALLBACK(on_agent_changed), service);
    sync_objects(service);
    service_engine_attach(service);
    g_dbus_object_manager_server_set_connection(service->manager, connection);
    return service;
}

void
xe_service_set_reload_func(XeService *service, XeServiceReloadFunc reload, gpointer data)
{
    service->reload = reload;
    service->reload_data = data;
}

void
xe_service_free(XeService *service)
{
    if (service == NULL)
        return;
    if (service->changed_id != 0)
        g_signal_handler_disconnect(service->agent, service->changed_id);
    service_engine_detach(service);
    g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(service->manager_iface));
    g_dbus_object_manager_server_set_connection(service->manager, NULL);
    g_hash_table_unref(service->objects);
    g_object_unref(service->manager_iface);
    g_object_unref(service->manager);
    g_object_unref(service->connection);
    g_object_unref(service->agent);
    g_object_unref(service->engine);
    g_free(service);
}
