/* xe-service.c: the D-Bus face of XeAgent, and the dispatch of every method.
 *
 * Objects come from gdbus-codegen (org.xemigrated.XeMigrated1.xml); this
 * file keeps them in step with the agent. Every method call goes through one
 * table (as bolt's bouncer and libvirt-dbus's method tables do): the method
 * names its polkit action (reads of the host are open), the options it takes
 * with their types, and its handler. Root and the daemon's own user are
 * authorized at once, as polkit would; anyone else is polkit's to judge
 * (CheckAuthorization on the caller's bus name, asynchronous: nothing blocks
 * the main loop). Errors leave through one conversion, so each is a named
 * org.xemigrated.XeMigrated1.Error.*. sysfs work runs in the agent's workers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-service"

#include "xe-service.h"

#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "config.h"
#include "xe-error.h"
#include "xe-qmp-error.h"
#include "xe-service-private.h"

/* authorization: the method's polkit action */

static const struct {
    const char *id;
    const char *purpose;
} actions[] = {
    [XE_SERVICE_OPEN] = { NULL, "read the host" },
    [XE_SERVICE_READ_VF] = { "org.xemigrated.XeMigrated1.read-vf", "read a VF's provisioning" },
    [XE_SERVICE_RESERVE_VF] = { "org.xemigrated.XeMigrated1.reserve-vf",
                                "reserve and release VFs" },
    [XE_SERVICE_PROVISION_VF] = { "org.xemigrated.XeMigrated1.provision-vf",
                                  "enable, bind, provision and reset VFs" },
    [XE_SERVICE_MANAGE_VM] = { "org.xemigrated.XeMigrated1.manage-vm", "manage VMs" },
    [XE_SERVICE_MIGRATE] = { "org.xemigrated.XeMigrated1.migrate", "migrate VMs" },
    [XE_SERVICE_RELOAD] = { "org.xemigrated.XeMigrated1.reload", "reload the configuration" },
};

const char *
xe_service_action_id(XeServiceAction action)
{
    g_return_val_if_fail(action < G_N_ELEMENTS(actions), NULL);
    return actions[action].id;
}

const char *
xe_service_action_purpose(XeServiceAction action)
{
    g_return_val_if_fail(action < G_N_ELEMENTS(actions), NULL);
    return actions[action].purpose;
}

#define POLKIT_NAME           "org.freedesktop.PolicyKit1"
#define POLKIT_PATH           "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE          "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_INTERACTIVE    1u /* CheckAuthorizationFlags: AllowUserInteraction */
#define BUS_TIMEOUT_MS        10000
#define POLKIT_TIMEOUT_MS     25000
#define POLKIT_INTERACTIVE_MS (5 * 60 * 1000) /* a person typing a password */

static void call_run(Call *c);

static void
auth_refuse(Call *c, GError *error)
{
    g_prefix_error(&error, "%s: ", c->method->method);
    /* refused changes are worth an operator's look: who tried, what, why */
    g_message("refused %s from %s: %s", c->method->method,
              c->caller != NULL ? c->caller : g_dbus_method_invocation_get_sender(c->invocation),
              error->message);
    call_fail(c, error);
}

static void
polkit_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    const char *action = xe_service_action_id(c->method->action);
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply =
        g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
    gboolean authorized = FALSE, challenge = FALSE;

    if (reply == NULL) {
        g_autofree char *remote = g_dbus_error_get_remote_error(error);

        if (g_strcmp0(remote, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
            g_strcmp0(remote, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0) {
            auth_refuse(c, g_error_new(XE_ERROR, XE_ERROR_ACCESS_DENIED,
                                       "%s may not %s: polkit (" POLKIT_NAME
                                       ") is not running, so only root may (action %s)",
                                       c->caller, xe_service_action_purpose(c->method->action),
                                       action));
            return;
        }
        g_dbus_error_strip_remote_error(error);
        auth_refuse(c, g_error_new(XE_ERROR, XE_ERROR_ACCESS_DENIED,
                                   "%s may not %s: asking polkit about %s failed: %s", c->caller,
                                   xe_service_action_purpose(c->method->action), action,
                                   error->message));
        return;
    }
    g_variant_get(reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
    if (authorized) {
        call_run(c);
        return;
    }
    auth_refuse(c,
                g_error_new(XE_ERROR, XE_ERROR_ACCESS_DENIED, "%s may not %s: polkit refused %s%s",
                            c->caller, xe_service_action_purpose(c->method->action), action,
                            challenge ? " without authentication (members of the group "
                                        "xe-migrated may without; a caller that allows "
                                        "interactive authorization is asked)"
                                      : " (members of the group xe-migrated may)"));
}

static void
uid_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GDBusConnection *connection = G_DBUS_CONNECTION(source);
    const char *sender = g_dbus_method_invocation_get_sender(c->invocation);
    GDBusMessage *message = g_dbus_method_invocation_get_message(c->invocation);
    gboolean interactive = (g_dbus_message_get_flags(message) &
                            G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = g_dbus_connection_call_finish(connection, result, &error);
    GVariantBuilder subject, details;
    guint32 uid;

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(error);
        auth_refuse(c, g_error_new(XE_ERROR, XE_ERROR_ACCESS_DENIED, "cannot tell who %s is: %s",
                                   sender, error->message));
        return;
    }
    g_variant_get(reply, "(u)", &uid);
    c->caller = g_strdup_printf("uid %u (%s)", uid, sender);
    if (uid == 0 || uid == geteuid()) {
        call_run(c);
        return;
    }
    g_variant_builder_init(&subject, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&subject, "{sv}", "name", g_variant_new_string(sender));
    /* what rules may look at: action.lookup("method"), action.lookup("object") */
    g_variant_builder_init(&details, G_VARIANT_TYPE("a{ss}"));
    g_variant_builder_add(&details, "{ss}", "method", c->method->method);
    g_variant_builder_add(&details, "{ss}", "object",
                          g_dbus_method_invocation_get_object_path(c->invocation));
    g_dbus_connection_call(connection, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization",
                           g_variant_new("((sa{sv})sa{ss}us)", "system-bus-name", &subject,
                                         xe_service_action_id(c->method->action), &details,
                                         interactive ? POLKIT_INTERACTIVE : 0u, ""),
                           G_VARIANT_TYPE("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
                           interactive ? POLKIT_INTERACTIVE_MS : POLKIT_TIMEOUT_MS, NULL,
                           polkit_done, c);
}

void
call_free(Call *c)
{
    g_object_unref(c->invocation);
    g_clear_object(&c->iface);
    g_clear_pointer(&c->options, g_variant_unref);
    g_free(c->caller);
    g_free(c->context);
    g_free(c);
}

/* errors: every one a caller gets is named org.xemigrated.XeMigrated1.Error.* */

static XeErrorCode
code_for_bus(const GError *e)
{
    if (e->domain == XE_QMP_ERROR) {
        switch (e->code) {
        case XE_QMP_ERROR_TIMEOUT:
            return XE_ERROR_TIMED_OUT;
        case XE_QMP_ERROR_PROTOCOL:
        case XE_QMP_ERROR_TOO_LARGE:
        case XE_QMP_ERROR_BAD_REPLY:
            return XE_ERROR_BAD_DATA;
        case XE_QMP_ERROR_INVALID_ARGUMENT:
            return XE_ERROR_INVALID_ARGUMENT;
        default:
            return XE_ERROR_FAILED;
        }
    }
    if (e->domain == G_IO_ERROR) {
        switch (e->code) {
        case G_IO_ERROR_TIMED_OUT:
            return XE_ERROR_TIMED_OUT;
        case G_IO_ERROR_CANCELLED:
            return XE_ERROR_CANCELLED;
        case G_IO_ERROR_NOT_FOUND:
            return XE_ERROR_NOT_FOUND;
        case G_IO_ERROR_BUSY:
        case G_IO_ERROR_PENDING:
            return XE_ERROR_BUSY;
        case G_IO_ERROR_INVALID_ARGUMENT:
        case G_IO_ERROR_INVALID_FILENAME:
            return XE_ERROR_INVALID_ARGUMENT;
        case G_IO_ERROR_INVALID_DATA:
        case G_IO_ERROR_PARTIAL_INPUT:
            return XE_ERROR_BAD_DATA;
        case G_IO_ERROR_NOT_SUPPORTED:
            return XE_ERROR_NOT_SUPPORTED;
        default:
            return XE_ERROR_FAILED;
        }
    }
    if (e->domain == G_DBUS_ERROR) {
        /* a peer's daemon, or the bus, answered this daemon: never the caller's own bus error
         * (a ServiceUnknown here would read as "xe-migrated is not running") */
        switch (e->code) {
        case G_DBUS_ERROR_TIMEOUT:
        case G_DBUS_ERROR_TIMED_OUT:
        case G_DBUS_ERROR_NO_REPLY:
            return XE_ERROR_TIMED_OUT;
        case G_DBUS_ERROR_INVALID_ARGS:
            return XE_ERROR_INVALID_ARGUMENT;
        case G_DBUS_ERROR_NOT_SUPPORTED:
            return XE_ERROR_NOT_SUPPORTED;
        default:
            return XE_ERROR_FAILED;
        }
    }
    if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) ||
        g_error_matches(e, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
        return XE_ERROR_NOT_FOUND;
    if (e->domain == G_KEY_FILE_ERROR || e->domain == JSON_PARSER_ERROR)
        return XE_ERROR_BAD_DATA;
    return XE_ERROR_FAILED;
}

GError *
xe_service_error_for_bus(GError *error, const char *context)
{
    GError *mapped;

    if (error->domain == XE_ERROR)
        return error;
    mapped = g_error_new(XE_ERROR, code_for_bus(error), "%s%s%s", context != NULL ? context : "",
                         context != NULL ? ": " : "", error->message);
    g_error_free(error);
    return mapped;
}

void
call_fail(Call *c, GError *error)
{
    g_dbus_method_invocation_take_error(
        c->invocation,
        xe_service_error_for_bus(error, c->context != NULL ? c->context : c->method->method));
    call_free(c);
}

/* options */

static const char *
type_phrase(const GVariantType *type)
{
    static const struct {
        const char *type, *phrase;
    } phrases[] = {
        { "s", "a string" },
        { "b", "a boolean" },
        { "u", "an unsigned 32-bit integer" },
        { "t", "an unsigned 64-bit integer" },
        { "i", "a 32-bit integer" },
        { "x", "a 64-bit integer" },
        { "o", "an object path" },
        { "as", "a list of strings" },
        { "a{sv}", "a dictionary" },
    };
    const char *t = g_variant_type_peek_string(type);
    gsize n = g_variant_type_get_string_length(type);

    for (gsize i = 0; i < G_N_ELEMENTS(phrases); i++)
        if (strlen(phrases[i].type) == n && strncmp(phrases[i].type, t, n) == 0)
            return phrases[i].phrase;
    return "a value";
}

gboolean
xe_service_check_options(GVariant *options, const XeServiceOption *known, const char *method,
                         GError **error)
{
    GVariantIter iter;
    const char *key;
    GVariant *value;

    g_variant_iter_init(&iter, options);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        g_autoptr(GVariant) owned = value;
        const XeServiceOption *o = NULL;

        for (guint i = 0; known != NULL && known[i].name != NULL && o == NULL; i++)
            if (g_str_equal(known[i].name, key))
                o = &known[i];
        if (o == NULL) {
            g_autoptr(GString) names = g_string_new(NULL);

            for (guint i = 0; known != NULL && known[i].name != NULL; i++)
                g_string_append_printf(names, "%s%s", i > 0 ? ", " : "", known[i].name);
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: unknown option '%s' (%s%s)", method, key,
                        names->len > 0 ? "it takes " : "it takes no options",
                        names->len > 0 ? names->str : "");
            return FALSE;
        }
        if (!g_variant_is_of_type(value, o->type)) {
            g_autofree char *want = g_variant_type_dup_string(o->type);

            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: option '%s' must be %s (type '%s'), not type '%s'", method, key,
                        type_phrase(o->type), want, g_variant_get_type_string(value));
            return FALSE;
        }
    }
    return TRUE;
}

/* completions */

static void
op_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *out = NULL;

    if (!xe_agent_run_finish(XE_AGENT(source), result, &out, &error)) {
        call_fail(c, error);
        return;
    }
    g_dbus_method_invocation_return_value(c->invocation, NULL);
    call_free(c);
}

static void
read_profile_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *out = NULL;

    if (!xe_agent_run_finish(XE_AGENT(source), result, &out, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_vf_complete_read_profile(XE_DBUS_VF(c->iface), c->invocation, out);
    call_free(c);
}

static void
check_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *out = NULL;

    if (!xe_agent_run_finish(XE_AGENT(source), result, &out, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_vf_complete_check_compatibility(XE_DBUS_VF(c->iface), c->invocation, *out == '\0', out);
    call_free(c);
}

static void
reserve_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;
    g_autofree char *vf = NULL, *id = NULL, *path = NULL;

    if (!xe_agent_reserve_finish(XE_AGENT(source), result, &vf, &id, &error)) {
        call_fail(c, error);
        return;
    }
    path = xe_bus_object_path("vf", vf);
    xe_dbus_manager_complete_reserve(c->service->manager_iface, c->invocation, path, id);
    call_free(c);
}

static void
release_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_agent_release_finish(XE_AGENT(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_release(c->service->manager_iface, c->invocation);
    call_free(c);
}

static void
reload_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *c = user_data;
    GError *error = NULL;

    if (!xe_agent_reload_finish(XE_AGENT(source), result, &error)) {
        call_fail(c, error);
        return;
    }
    xe_dbus_manager_complete_reload(c->service->manager_iface, c->invocation);
    call_free(c);
}

/* handlers: Manager */

static void
handle_reserve(Call *c)
{
    const char *profile = NULL, *pf = NULL;

    g_variant_get_child(c->params, 0, "&s", &profile);
    g_variant_lookup(c->options, "pf", "&s", &pf);
    xe_agent_reserve_async(c->service->agent, profile, pf, XE_RESERVATION_OWNER_CALLER, c->caller,
                           NULL, reserve_done, c);
}

static void
handle_release(Call *c)
{
    const char *id = NULL;

    g_variant_get_child(c->params, 0, "&s", &id);
    xe_agent_release_async(c->service->agent, id, FALSE, XE_RESERVATION_OWNER_CALLER, c->caller,
                           NULL, release_done, c);
}

static void
handle_list_reservations(Call *c)
{
    xe_dbus_manager_complete_list_reservations(c->service->manager_iface, c->invocation,
                                               xe_agent_list_reservations(c->service->agent));
    call_free(c);
}

static void
handle_metrics(Call *c)
{
    g_autofree char *text = xe_engine_metrics(c->service->engine);

    xe_dbus_manager_complete_metrics(c->service->manager_iface, c->invocation, text);
    call_free(c);
}

static void
handle_reload(Call *c)
{
    c->service->reload(c->service->reload_data, reload_done, c);
}

/* handlers: PF and VF, each an agent operation on the object's address */

static void
run_op(Call *c, XeAgentOp op, const char *arg, guint count, GAsyncReadyCallback done)
{
    const char *target = XE_DBUS_IS_PF(c->iface) ? xe_dbus_pf_get_address(XE_DBUS_PF(c->iface))
                                                 : xe_dbus_vf_get_address(XE_DBUS_VF(c->iface));

    xe_agent_run_async(c->service->agent, op, target, arg, count, c->caller, NULL, done, c);
}

static const char *
string_arg(Call *c)
{
    const char *s = NULL;

    g_variant_get_child(c->params, 0, "&s", &s);
    return s;
}

static void
handle_enable_vfs(Call *c)
{
    guint32 count = 0;

    g_variant_get_child(c->params, 0, "u", &count);
    run_op(c, XE_AGENT_OP_ENABLE_VFS, NULL, count, op_done);
}

static void
handle_disable_vfs(Call *c)
{
    run_op(c, XE_AGENT_OP_DISABLE_VFS, NULL, 0, op_done);
}

static void
handle_bind(Call *c)
{
    run_op(c, XE_AGENT_OP_BIND, string_arg(c), 0, op_done);
}

static void
handle_unbind(Call *c)
{
    run_op(c, XE_AGENT_OP_UNBIND, NULL, 0, op_done);
}

static void
handle_apply_profile(Call *c)
{
    run_op(c, XE_AGENT_OP_APPLY_PROFILE, string_arg(c), 0, op_done);
}

static void
handle_read_profile(Call *c)
{
    run_op(c, XE_AGENT_OP_READ_PROFILE, NULL, 0, read_profile_done);
}

static void
handle_reset(Call *c)
{
    run_op(c, XE_AGENT_OP_RESET, NULL, 0, op_done);
}

static void
handle_check_compatibility(Call *c)
{
    run_op(c, XE_AGENT_OP_CHECK, string_arg(c), 0, check_done);
}

/* the method table */

#define MANAGER  XE_BUS_NAME ".Manager"
#define PF       XE_BUS_NAME ".PF"
#define VF       XE_BUS_NAME ".VF"
#define JOB      XE_BUS_NAME ".Job"
#define INCOMING XE_BUS_NAME ".Incoming"

static const XeServiceOption reserve_options[] = {
    { "pf", G_VARIANT_TYPE_STRING },
    { NULL, NULL },
};

static const XeServiceOption add_vm_options[] = {
    { "start", G_VARIANT_TYPE_BOOLEAN },
    { NULL, NULL },
};

static const XeServiceOption migrate_options[] = {
    { "policy", G_VARIANT_TYPE_STRING },
    { NULL, NULL },
};

/* what the source's daemon sends (xe-migration.c) */
static const XeServiceOption prepare_incoming_options[] = {
    { "host", G_VARIANT_TYPE_STRING },          { "switchover-ack", G_VARIANT_TYPE_BOOLEAN },
    { "multifd", G_VARIANT_TYPE_BOOLEAN },      { "multifd-channels", G_VARIANT_TYPE_UINT32 },
    { "vfio-multifd", G_VARIANT_TYPE_BOOLEAN }, { NULL, NULL },
};

static const XeServiceOption libvirt_hook_options[] = {
    { "deadline", G_VARIANT_TYPE_INT64 },
    { NULL, NULL },
};

static const XeServiceOption prepare_incoming_domain_options[] = {
    { "timeout-ms", G_VARIANT_TYPE_UINT32 },
    { NULL, NULL },
};

static const XeServiceMethod methods[] = {
    { MANAGER, "Reserve", XE_SERVICE_RESERVE_VF, reserve_options, handle_reserve },
    { MANAGER, "Release", XE_SERVICE_RESERVE_VF, NULL, handle_release },
    { MANAGER, "ListReservations", XE_SERVICE_OPEN, NULL, handle_list_reservations },
    { MANAGER, "Metrics", XE_SERVICE_OPEN, NULL, handle_metrics },
    { MANAGER, "Reload", XE_SERVICE_RELOAD, NULL, handle_reload },
    { MANAGER, "AddVM", XE_SERVICE_MANAGE_VM, add_vm_options, service_engine_add_vm },
    { MANAGER, "RemoveVM", XE_SERVICE_MANAGE_VM, NULL, service_engine_remove_vm },
    { MANAGER, "Migrate", XE_SERVICE_MIGRATE, migrate_options, service_engine_migrate },
    { MANAGER, "PrepareIncoming", XE_SERVICE_MIGRATE, prepare_incoming_options,
      service_engine_prepare_incoming },
    { MANAGER, "LibvirtHook", XE_SERVICE_MANAGE_VM, libvirt_hook_options,
      service_engine_libvirt_hook },
    { MANAGER, "PrepareIncomingDomain", XE_SERVICE_MIGRATE, prepare_incoming_domain_options,
      service_engine_prepare_incoming_domain },
    { MANAGER, "AbortIncomingDomain", XE_SERVICE_MIGRATE, NULL,
      service_engine_abort_incoming_domain },
    { MANAGER, "ListDomains", XE_SERVICE_OPEN, NULL, service_engine_list_domains },
    { MANAGER, "DomainState", XE_SERVICE_OPEN, NULL, service_engine_domain_state },
    { MANAGER, "PrepareDomain", XE_SERVICE_MANAGE_VM, NULL, service_engine_prepare_domain },
    { PF, "EnableVFs", XE_SERVICE_PROVISION_VF, NULL, handle_enable_vfs },
    { PF, "DisableVFs", XE_SERVICE_PROVISION_VF, NULL, handle_disable_vfs },
    { VF, "Bind", XE_SERVICE_PROVISION_VF, NULL, handle_bind },
    { VF, "Unbind", XE_SERVICE_PROVISION_VF, NULL, handle_unbind },
    { VF, "ApplyProfile", XE_SERVICE_PROVISION_VF, NULL, handle_apply_profile },
    { VF, "ReadProfile", XE_SERVICE_READ_VF, NULL, handle_read_profile },
    { VF, "Reset", XE_SERVICE_PROVISION_VF, NULL, handle_reset },
    { VF, "CheckCompatibility", XE_SERVICE_READ_VF, NULL, handle_check_compatibility },
    { JOB, "Cancel", XE_SERVICE_MIGRATE, NULL, service_engine_cancel },
    { JOB, "Resolve", XE_SERVICE_MIGRATE, NULL, service_engine_resolve },
    { INCOMING, "Finish", XE_SERVICE_MIGRATE, NULL, service_engine_finish },
    { INCOMING, "Abort", XE_SERVICE_MIGRATE, NULL, service_engine_abort },
};

const XeServiceMethod *
xe_service_get_methods(gsize *n_methods)
{
    *n_methods = G_N_ELEMENTS(methods);
    return methods;
}

const XeServiceMethod *
xe_service_lookup_method(const char *interface, const char *method)
{
    for (gsize i = 0; i < G_N_ELEMENTS(methods); i++)
        if (g_str_equal(methods[i].interface, interface) && g_str_equal(methods[i].method, method))
            return &methods[i];
    return NULL;
}

/* dispatch: every call goes through the table, then authorization, then the options */

static void
call_run(Call *c)
{
    GError *error = NULL;

    if (c->options != NULL &&
        !xe_service_check_options(c->options, c->method->options, c->method->method, &error)) {
        call_fail(c, error);
        return;
    }
    c->method->handler(c);
}

/* The "options" in-argument of the method called, if it has one. */
static GVariant *
options_argument(GDBusMethodInvocation *invocation)
{
    const GDBusMethodInfo *info = g_dbus_method_invocation_get_method_info(invocation);
    GVariant *params = g_dbus_method_invocation_get_parameters(invocation);

    for (guint i = 0; info != NULL && info->in_args != NULL && info->in_args[i] != NULL; i++)
        if (g_str_equal(info->in_args[i]->name, "options"))
            return g_variant_get_child_value(params, i);
    return NULL;
}

static gboolean
dispatch(XeService *service, GDBusInterfaceSkeleton *iface, GDBusMethodInvocation *invocation)
{
    const XeServiceMethod *m =
        xe_service_lookup_method(g_dbus_method_invocation_get_interface_name(invocation),
                                 g_dbus_method_invocation_get_method_name(invocation));
    const char *sender = g_dbus_method_invocation_get_sender(invocation);
    Call *c;

    if (m == NULL)
        return FALSE; /* GDBus answers UnknownMethod */
    c = g_new0(Call, 1);
    c->service = service;
    c->invocation = g_object_ref(invocation);
    c->iface = g_object_ref(iface);
    c->method = m;
    c->params = g_dbus_method_invocation_get_parameters(invocation);
    c->options = options_argument(invocation);
    /* a stop drains what runs and takes nothing new (a call could start a QEMU, or hold the
     * stop up) */
    if (xe_engine_is_stopping(service->engine)) {
        call_fail(c, g_error_new(XE_ERROR, XE_ERROR_BUSY,
                                 "%s: xe-migrated is stopping; call again once it has restarted",
                                 m->method));
        return TRUE;
    }
    if (m->action == XE_SERVICE_OPEN) {
        c->caller = g_strdup(sender);
        call_run(c);
        return TRUE;
    }
    g_dbus_connection_call(service->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "GetConnectionUnixUser",
                           g_variant_new("(s)", sender), G_VARIANT_TYPE("(u)"),
                           G_DBUS_CALL_FLAGS_NONE, BUS_TIMEOUT_MS, NULL, uid_done, c);
    return TRUE;
}

/* One marshaller for every generated "handle-*" signal: it needs only the instance and the
 * invocation, which come first whatever the method's arguments. */
static void
dispatch_marshal(GClosure *closure, GValue *return_value, guint n_params, const GValue *params,
                 gpointer hint, gpointer marshal_data)
{
    g_return_if_fail(n_params >= 2);
    g_value_set_boolean(return_value, dispatch(closure->data, g_value_get_object(&params[0]),
                                               g_value_get_object(&params[1])));
}

void
xe_service_dispatch(XeService *service, gpointer skeleton)
{
    GType *ifaces = g_type_interfaces(G_OBJECT_TYPE(skeleton), NULL);

    for (guint t = 0; ifaces[t] != 0; t++) {
        guint n = 0;
        g_autofree guint *ids = g_signal_list_ids(ifaces[t], &n);

        for (guint i = 0; i < n; i++) {
            GSignalQuery q;
            GClosure *closure;

            g_signal_query(ids[i], &q);
            if (!g_str_has_prefix(q.signal_name, "handle-"))
                continue;
            closure = g_closure_new_simple(sizeof(GClosure), service);
            g_closure_set_marshal(closure, dispatch_marshal);
            g_signal_connect_closure_by_id(skeleton, ids[i], 0, closure, FALSE);
        }
    }
    g_free(ifaces);
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

        xe_service_dispatch(service, pf);
        xe_dbus_object_skeleton_set_pf(object, pf);
    } else {
        g_autoptr(XeDBusVF) vf = xe_dbus_vf_skeleton_new();

        xe_service_dispatch(service, vf);
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
    xe_service_dispatch(service, service->manager_iface);
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
