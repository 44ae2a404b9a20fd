/* xe-libvirt-hook.c: what libvirt's qemu hook operations mean for a domain's Xe VFs
 * (hook/xe-migrated-libvirt-hook asks through Manager.LibvirtHook).
 *
 *   migrate, restore (destination): a VF provisioned as the source's (the warm pool
 *       first), checked the way the kernel's restore checks it, reserved for the domain;
 *       the XML comes back pointing at it. A VF the XML names with a reservation this host
 *       made for the domain (a daemon-driven migration) is kept.
 *   prepare: every VF is bound to xe-vfio-pci.
 *   started, reconnect: the domain holds its VFs (reserved as they are, for it).
 *   release: the domain's VFs are reset and go back (after migrating away, after a failed
 *       incoming, after it stopped).
 *
 * The hook runs inside libvirt's job: nothing here calls libvirt. The work runs on a
 * worker thread (the agent's calls hop to main and back, as the flows' do).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include "xe-engine-private.h"
#include "xe-error.h"
#include "xe-host.h"
#include "xe-libvirt-xml.h"
#include "xe-log.h"

typedef enum {
    OP_MIGRATE,
    OP_RESTORE,
    OP_PREPARE,
    OP_STARTED,
    OP_RECONNECT,
    OP_RELEASE,
    OP_OTHER, /* start, stopped, attach: nothing to do */
} HookOp;

static const char *const op_names[] = {
    [OP_MIGRATE] = "migrate", [OP_RESTORE] = "restore",     [OP_PREPARE] = "prepare",
    [OP_STARTED] = "started", [OP_RECONNECT] = "reconnect", [OP_RELEASE] = "release",
};

typedef struct {
    char *name;
    HookOp op;
    char *sub_operation;
    char *extra;
    char *xml;
} Hook;

static void
hook_free(Hook *h)
{
    g_free(h->name);
    g_free(h->sub_operation);
    g_free(h->extra);
    g_free(h->xml);
    g_free(h);
}

static HookOp
op_from_string(const char *text)
{
    for (guint i = 0; i < G_N_ELEMENTS(op_names); i++)
        if (op_names[i] != NULL && g_str_equal(op_names[i], text))
            return (HookOp)i;
    return OP_OTHER;
}

/* the reservation this host holds for @owner on @vf, or NULL */
static char *
domain_reservation(XeEngine *self, const char *vf, const char *owner)
{
    g_autofree char *id = NULL, *holder = NULL;

    if (!xe_agent_reservation_of_vf(self->agent, vf, &id, &holder) || !g_str_equal(holder, owner))
        return NULL;
    return g_steal_pointer(&id);
}

/* Gives back what this call reserved when it fails half-way. */
static void
release_all(XeEngine *self, GPtrArray *reservations, const char *caller)
{
    for (guint i = 0; i < reservations->len; i++) {
        g_autoptr(GError) error = NULL;

        if (!engine_release(self, reservations->pdata[i], TRUE, caller, &error))
            g_warning("%s", error->message);
    }
}

/* migrate, restore: a VF here for each of the source's */
static char *
incoming(XeEngine *self, XeLibvirtDomain *d, const char *owner, const char *caller, GError **error)
{
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);
    g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(g_free);

    /* the source's addresses first: retargeting changes the list as it goes */
    for (guint i = 0; i < vfs->len; i++)
        g_ptr_array_add(sources, g_strdup(((XeLibvirtVf *)vfs->pdata[i])->host));
    for (guint i = 0; i < sources->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *profile = g_strdup(vf->profile);
        g_autofree char *here = NULL, *id = NULL, *reason = NULL;

        /* reserved for this migration already (a daemon-driven one): keep it */
        if (vf->reservation != NULL) {
            g_autofree char *held = domain_reservation(self, vf->host, owner);

            if (held != NULL && g_str_equal(held, vf->reservation))
                continue;
        }
        if (!engine_reserve(self, profile, NULL, owner, &here, &id, error)) {
            g_prefix_error(error, "no VF on this host for %s's VF %s (profile %s): ",
                           xe_libvirt_domain_get_name(d), (char *)sources->pdata[i], profile);
            release_all(self, made, caller);
            return NULL;
        }
        g_ptr_array_add(made, g_strdup(id));
        if (!engine_agent_run(self, XE_AGENT_OP_CHECK, here, profile, caller, &reason, error)) {
            release_all(self, made, caller);
            return NULL;
        }
        if (*reason != '\0') {
            g_set_error(error, XE_ERROR, XE_ERROR_INCOMPATIBLE,
                        "VF %s on this host cannot take the state of %s's VF %s: %s", here,
                        xe_libvirt_domain_get_name(d), (char *)sources->pdata[i], reason);
            release_all(self, made, caller);
            return NULL;
        }
        if (!xe_libvirt_domain_retarget(d, sources->pdata[i], here, id, error)) {
            release_all(self, made, caller);
            return NULL;
        }
        g_message("domain %s: VF %s (reservation %s) takes the state of the source's VF %s",
                  xe_libvirt_domain_get_name(d), here, id, (char *)sources->pdata[i]);
    }
    return xe_libvirt_domain_to_xml(d);
}

static gboolean
bound(XeEngine *self, XeLibvirtDomain *d, GError **error)
{
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);

    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *driver = NULL, *migration = NULL;

        if (!engine_vf_facts(self, vf->host, &driver, &migration)) {
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                        "domain %s: its VF %s is not a VF of this host's Xe PFs",
                        xe_libvirt_domain_get_name(d), vf->host);
            return FALSE;
        }
        if (!g_str_equal(driver, XE_DRIVER_VFIO)) {
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "domain %s: its VF %s is bound to '%s', not " XE_DRIVER_VFIO
                        " (xe-migratectl bind %s " XE_DRIVER_VFIO ")",
                        xe_libvirt_domain_get_name(d), vf->host,
                        *driver != '\0' ? driver : "nothing", vf->host);
            return FALSE;
        }
    }
    return TRUE;
}

/* started, reconnect: the domain holds its VFs */
static gboolean
hold(XeEngine *self, XeLibvirtDomain *d, const char *owner, GError **error)
{
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);

    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *id = NULL, *holder = NULL, *got = NULL;

        if (xe_agent_reservation_of_vf(self->agent, vf->host, &id, &holder)) {
            if (g_str_equal(holder, owner))
                continue;
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "domain %s: its VF %s is reserved by %s (reservation %s)",
                        xe_libvirt_domain_get_name(d), vf->host, holder, id);
            return FALSE;
        }
        g_clear_pointer(&id, g_free);
        if (!engine_reserve(self, vf->profile, vf->host, owner, &got, &id, error))
            return FALSE;
        g_message("domain %s holds VF %s (reservation %s)", xe_libvirt_domain_get_name(d), vf->host,
                  id);
    }
    return TRUE;
}

/* release: the domain's VFs reset and given back */
static gboolean
let_go(XeEngine *self, XeLibvirtDomain *d, const char *owner, const char *why, const char *caller,
       GError **error)
{
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);
    gboolean ok = TRUE;

    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *id = domain_reservation(self, vf->host, owner);
        GError *local = NULL;

        if (id == NULL)
            continue;
        if (!engine_release(self, id, TRUE, caller, &local)) {
            if (ok)
                g_propagate_error(error, local);
            else
                g_error_free(local);
            ok = FALSE;
            continue;
        }
        g_message("domain %s let go of VF %s (%s): reset, reservation %s released",
                  xe_libvirt_domain_get_name(d), vf->host, why, id);
    }
    return ok;
}

static char *
hook_run(XeEngine *self, Hook *h, GError **error)
{
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(h->xml, error);
    g_autofree char *owner = NULL, *caller = NULL;

    if (d == NULL)
        return NULL;
    if (!g_str_equal(xe_libvirt_domain_get_name(d), h->name)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "the hook names domain '%s' but its XML is domain '%s'", h->name,
                    xe_libvirt_domain_get_name(d));
        return NULL;
    }
    owner = g_strdup_printf("domain:%s", h->name);
    caller = g_strdup_printf("libvirt hook (%s %s)", h->name, op_names[h->op]);
    switch (h->op) {
    case OP_MIGRATE:
    case OP_RESTORE:
        return incoming(self, d, owner, caller, error);
    case OP_PREPARE:
        return bound(self, d, error) ? g_strdup("") : NULL;
    case OP_STARTED:
    case OP_RECONNECT:
        return hold(self, d, owner, error) ? g_strdup("") : NULL;
    case OP_RELEASE:
        return let_go(self, d, owner, h->extra, caller, error) ? g_strdup("") : NULL;
    case OP_OTHER:
    default:
        return g_strdup("");
    }
}

/* A worker of its own: the agent's calls wait on this thread's context. */
static void
hook_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    GError *error = NULL;
    char *out;

    g_main_context_push_thread_default(context);
    out = hook_run(source, data, &error);
    g_main_context_pop_thread_default(context);
    if (out == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, out, g_free);
}

void
xe_engine_libvirt_hook_async(XeEngine *self, const char *domain, const char *operation,
                             const char *sub_operation, const char *extra, const char *xml,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    Hook *h = g_new0(Hook, 1);

    h->name = g_strdup(domain);
    h->op = op_from_string(operation);
    h->sub_operation = g_strdup(sub_operation);
    h->extra = g_strdup(extra);
    h->xml = g_strdup(xml);
    g_task_set_task_data(task, h, (GDestroyNotify)hook_free);
    if (h->op == OP_OTHER) {
        g_task_return_pointer(task, g_strdup(""), g_free);
        return;
    }
    g_task_run_in_thread(task, hook_thread);
}

char *
xe_engine_libvirt_hook_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
