/* xe-libvirt-hook.c: what libvirt's qemu hook operations mean for a domain's Xe VFs
 * (hook/xe-migrated-libvirt-hook asks through Manager.LibvirtHook).
 *
 *   migrate, restore (destination): a VF provisioned as the source's (the warm pool
 *       first), checked the way the kernel's restore checks it, reserved for the domain;
 *       the XML comes back pointing at it. A VF the XML names with a reservation this host
 *       made for the domain (a daemon-driven migration) is kept.
 *   prepare: every VF is bound to xe-vfio-pci, provisioned as the metadata says, and held
 *       by the domain (reserved as it is, for it) before QEMU opens it.
 *   started, reconnect: the domain holds its VFs; a reconnect never fails (libvirt would
 *       kill the running domain): what cannot be done is logged.
 *   release: the domain's VFs are reset and go back (after migrating away, after a failed
 *       incoming, after it stopped).
 *
 * A daemon-driven migration (xe-domain-migration.c on the source) asks the destination's
 * daemon for the migrate hook's work before libvirt starts (Manager.PrepareIncomingDomain),
 * and to undo it when libvirt never came (AbortIncomingDomain: refused while the domain
 * runs here).
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
    OP_ABORT, /* not libvirt's: a daemon-driven migration that never reached libvirt here */
    OP_OTHER, /* start, stopped, attach: nothing to do */
} HookOp;

static const char *const op_names[] = {
    [OP_MIGRATE] = "migrate", [OP_RESTORE] = "restore",     [OP_PREPARE] = "prepare",
    [OP_STARTED] = "started", [OP_RECONNECT] = "reconnect", [OP_RELEASE] = "release",
    [OP_ABORT] = "abort",
};

typedef struct {
    char *name;      /* NULL: the XML's (a peer daemon's call) */
    char *caller;    /* NULL: the hook */
    char *uri;       /* abort: this host's libvirt */
    gint64 deadline; /* CLOCK_MONOTONIC µs; 0: none */
    HookOp op;
    char *sub_operation;
    char *extra;
    char *xml;
} Hook;

static void
hook_free(Hook *h)
{
    g_free(h->name);
    g_free(h->caller);
    g_free(h->uri);
    g_free(h->sub_operation);
    g_free(h->extra);
    g_free(h->xml);
    g_free(h);
}

static HookOp
op_from_string(const char *text)
{
    for (guint i = 0; i <= OP_RELEASE; i++)
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

/* The daemon stops a second before the hook gives up: a reply still on its way when the hook
 * leaves would keep VFs nobody releases. */
#define DEADLINE_MARGIN_US G_USEC_PER_SEC

static gboolean
too_late(gint64 deadline, GError **error)
{
    if (deadline == 0 || g_get_monotonic_time() < deadline - DEADLINE_MARGIN_US)
        return FALSE;
    g_set_error(error, XE_ERROR, XE_ERROR_TIMED_OUT,
                "the hook gave up waiting %.1f s ago: nothing is kept for it",
                (g_get_monotonic_time() - deadline) / 1e6);
    return TRUE;
}

/* Would state saved from a VF provisioned as @profile restore into @vf? */
static gboolean
takes_state(XeEngine *self, const char *vf, const char *profile, const char *caller, GError **error)
{
    g_autofree char *reason = NULL;

    if (!engine_agent_run(self, XE_AGENT_OP_CHECK, vf, profile, caller, &reason, error))
        return FALSE;
    if (*reason == '\0')
        return TRUE;
    g_set_error(error, XE_ERROR, XE_ERROR_INCOMPATIBLE, "%s", reason);
    return FALSE;
}

/* migrate, restore: a VF here for each of the source's. A VF the XML names with a
 * reservation this host made for the domain (a daemon-driven migration) is kept. Past
 * @deadline the hook has gone (libvirt refused the migration without it): what was
 * reserved is given back. */
static char *
incoming(XeEngine *self, XeLibvirtDomain *d, const char *owner, const char *caller, gint64 deadline,
         GHashTable *moved, GError **error)
{
    const char *name = xe_libvirt_domain_get_name(d);
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);
    g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) held = xe_agent_reservations_of(self->agent, owner);

    /* A domain of that name holds VFs here already (one runs or is defined here, or an
     * incoming libvirt gave up on kept them): libvirt refuses a second domain of a name, and
     * a reservation made now would be stranded. Only those the XML names for this migration
     * are expected. */
    for (guint h = 0; held[h] != NULL; h++) {
        gboolean expected = FALSE;
        g_autofree char *vf_here = NULL, *holder = NULL;

        for (guint i = 0; i < vfs->len; i++)
            expected |= g_strcmp0(((XeLibvirtVf *)vfs->pdata[i])->reservation, held[h]) == 0;
        if (expected)
            continue;
        xe_agent_reservation_get(self->agent, held[h], &vf_here, &holder);
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "a domain '%s' holds VF %s on this host already (reservation %s): the "
                    "domain runs or is defined here; should it not, xe-migratectl release %s "
                    "frees the VF",
                    name, vf_here != NULL ? vf_here : "?", held[h], held[h]);
        return NULL;
    }
    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *source = g_strdup(vf->host);
        g_autofree char *profile = g_strdup(vf->profile);
        g_autofree char *here = NULL, *id = NULL, *holder = NULL;

        if (vf->reservation != NULL &&
            xe_agent_reservation_get(self->agent, vf->reservation, &here, &holder) &&
            g_str_equal(holder, owner)) {
            id = g_strdup(vf->reservation);
        } else {
            g_clear_pointer(&here, g_free);
            if (!engine_reserve(self, profile, NULL, owner, &here, &id, error)) {
                g_prefix_error(error, "no VF on this host for %s's VF %s (profile %s): ", name,
                               source, profile);
                goto fail;
            }
            g_ptr_array_add(made, g_strdup(id));
            if (!takes_state(self, here, profile, caller, error)) {
                g_prefix_error(error,
                               "VF %s on this host cannot take the state of %s's VF %s: ", here,
                               name, source);
                goto fail;
            }
        }
        if (!xe_libvirt_domain_retarget(d, i, here, id, error))
            goto fail;
        g_hash_table_replace(moved, g_strdup(source), g_strdup(here));
        g_message("domain %s: VF %s (reservation %s) takes the state of the source's VF %s", name,
                  here, id, source);
    }
    if (too_late(deadline, error))
        goto fail;
    return xe_libvirt_domain_to_xml(d);

fail:
    release_all(self, made, caller);
    return NULL;
}

/* prepare, started, reconnect: the domain holds its VFs, bound to xe-vfio-pci, reserved for
 * it as they are; with @check (prepare, before QEMU opens them), each must also hold what
 * the metadata says it was provisioned with. */
static gboolean
hold(XeEngine *self, XeLibvirtDomain *d, const char *owner, gboolean check, const char *caller,
     GError **error)
{
    const char *name = xe_libvirt_domain_get_name(d);
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);

    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *driver = NULL, *migration = NULL;
        g_autofree char *id = NULL, *holder = NULL, *got = NULL;
        gboolean made = FALSE;

        if (!engine_vf_facts(self, vf->host, &driver, &migration)) {
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                        "domain %s: its VF %s is not a VF of this host's Xe PFs", name, vf->host);
            return FALSE;
        }
        if (!g_str_equal(driver, XE_DRIVER_VFIO)) {
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "domain %s: its VF %s is bound to '%s', not " XE_DRIVER_VFIO
                        " (xe-migratectl bind %s " XE_DRIVER_VFIO ")",
                        name, vf->host, *driver != '\0' ? driver : "nothing", vf->host);
            return FALSE;
        }
        if (xe_agent_reservation_of_vf(self->agent, vf->host, &id, &holder)) {
            if (!g_str_equal(holder, owner)) {
                g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                            "domain %s: its VF %s is reserved by %s (reservation %s)", name,
                            vf->host, holder, id);
                return FALSE;
            }
        } else {
            g_clear_pointer(&id, g_free);
            if (!engine_reserve(self, vf->profile, vf->host, owner, &got, &id, error)) {
                g_prefix_error(error, "domain %s: reserving its VF %s: ", name, vf->host);
                return FALSE;
            }
            made = TRUE;
            g_message("domain %s holds VF %s (reservation %s)", name, vf->host, id);
        }
        if (check && !takes_state(self, vf->host, vf->profile, caller, error)) {
            g_prefix_error(error,
                           "domain %s: its VF %s is not provisioned as xe-migrated's metadata "
                           "says (%s): ",
                           name, vf->host, vf->profile);
            if (made) {
                g_autoptr(GError) local = NULL;

                if (!engine_release(self, id, FALSE, caller, &local))
                    g_warning("%s", local->message);
            }
            return FALSE;
        }
    }
    return TRUE;
}

/* release: the domain's VFs reset and given back; every failure logged, the first
 * reported */
static gboolean
let_go(XeEngine *self, XeLibvirtDomain *d, const char *owner, const char *why, const char *caller,
       GError **error)
{
    const char *name = xe_libvirt_domain_get_name(d);
    GPtrArray *vfs = xe_libvirt_domain_get_vfs(d);
    gboolean ok = TRUE;

    for (guint i = 0; i < vfs->len; i++) {
        const XeLibvirtVf *vf = vfs->pdata[i];
        g_autofree char *id = domain_reservation(self, vf->host, owner);
        g_autoptr(GError) local = NULL;

        if (id == NULL)
            continue;
        if (!engine_release(self, id, TRUE, caller, &local)) {
            g_prefix_error(&local, "domain %s (%s): its VF %s stays reserved (%s): ", name, why,
                           vf->host, id);
            g_warning("%s", local->message);
            if (ok)
                g_propagate_error(error, g_steal_pointer(&local));
            ok = FALSE;
            continue;
        }
        g_message("domain %s let go of VF %s (%s): reset, reservation %s released", name, vf->host,
                  why, id);
    }
    return ok;
}

typedef struct {
    XeEngine *engine;
    char *name;
    GHashTable *moved;
} Arriving;

static Arriving *
arriving_new(XeEngine *self, const char *name, GHashTable *moved)
{
    Arriving *a = g_new0(Arriving, 1);

    a->engine = g_object_ref(self);
    a->name = g_strdup(name);
    a->moved = g_hash_table_ref(moved);
    return a;
}

static void
arriving_free(gpointer data)
{
    Arriving *a = data;

    g_object_unref(a->engine);
    g_free(a->name);
    g_hash_table_unref(a->moved);
    g_free(a);
}

static gboolean
note_arriving(gpointer data)
{
    Arriving *a = data;

    engine_domain_arriving(a->engine, a->name, a->moved);
    return G_SOURCE_REMOVE;
}

static char *
hook_run(XeEngine *self, Hook *h, GError **error)
{
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(h->xml, error);
    g_autofree char *owner = NULL, *caller = NULL;
    g_autoptr(GError) local = NULL;

    if (d == NULL)
        return NULL;
    if (h->name == NULL)
        h->name = g_strdup(xe_libvirt_domain_get_name(d));
    if (!g_str_equal(xe_libvirt_domain_get_name(d), h->name)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "the hook names domain '%s' but its XML is domain '%s'", h->name,
                    xe_libvirt_domain_get_name(d));
        return NULL;
    }
    owner = g_strdup_printf("domain:%s", h->name);
    caller = h->caller != NULL ? g_strdup(h->caller)
                               : g_strdup_printf("libvirt hook (%s %s)", h->name, op_names[h->op]);
    switch (h->op) {
    case OP_MIGRATE:
    case OP_RESTORE: {
        g_autoptr(GHashTable) moved =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        char *xml;

        if (too_late(h->deadline, error))
            return NULL;
        xml = incoming(self, d, owner, caller, h->deadline, moved, error);
        if (xml != NULL)
            xe_context_post(self->main, note_arriving, arriving_new(self, h->name, moved),
                            arriving_free);
        return xml;
    }
    case OP_PREPARE:
        return hold(self, d, owner, TRUE, caller, error) ? g_strdup("") : NULL;
    case OP_STARTED:
        return hold(self, d, owner, FALSE, caller, error) ? g_strdup("") : NULL;
    case OP_RECONNECT:
        /* libvirt kills a domain whose reconnect hook fails: a running VM is never lost
         * over the daemon's bookkeeping, which only logs what it could not do */
        if (!hold(self, d, owner, FALSE, caller, &local))
            g_warning("libvirt hook, domain %s, reconnect: %s (the domain keeps running)", h->name,
                      local->message);
        return g_strdup("");
    case OP_RELEASE:
        return let_go(self, d, owner, h->extra, caller, error) ? g_strdup("") : NULL;
    case OP_ABORT: {
        gboolean active = FALSE;

        /* libvirt may have taken the migration after all (its answer to the source was
         * lost): a domain running here keeps its VFs */
        if (!engine_libvirt_domain_active(self, h->uri, h->name, &active, error)) {
            g_prefix_error(error, "domain %s's VFs stay reserved here: ", h->name);
            return NULL;
        }
        if (active) {
            g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                        "domain %s runs on this host's libvirt: its VFs stay reserved for it",
                        h->name);
            return NULL;
        }
        return let_go(self, d, owner, "its migration here did not happen", caller, error)
                   ? g_strdup("")
                   : NULL;
    }
    case OP_OTHER:
    default:
        return g_strdup("");
    }
}

/* A worker of its own: the agent's calls wait on this thread's context. Counted with the
 * engine's workers, so a stopping daemon runs its main context until it is done. */
static void
hook_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Hook *h = data;
    g_autoptr(GMainContext) context = g_main_context_new();
    GError *error = NULL;
    char *out;

    g_main_context_push_thread_default(context);
    out = hook_run(self, h, &error);
    g_main_context_pop_thread_default(context);
    if (out == NULL) {
        /* the journal keeps what libvirt shows once */
        g_warning("%s, domain %s, %s: refused: %s", h->caller != NULL ? h->caller : "libvirt hook",
                  h->name != NULL ? h->name : "?", op_names[h->op], error->message);
        g_task_return_error(task, error);
    } else {
        g_task_return_pointer(task, out, g_free);
    }
    engine_thread_exited(self);
}

static void
hook_start(XeEngine *self, Hook *h, GCancellable *cancellable, GAsyncReadyCallback callback,
           gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_task_data(task, h, (GDestroyNotify)hook_free);
    if (h->op == OP_OTHER) {
        g_task_return_pointer(task, g_strdup(""), g_free);
        return;
    }
    if (self->shutting_down) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_BUSY,
                                "xe-migrated is stopping; try again once it runs");
        return;
    }
    self->live_workers++;
    g_task_run_in_thread(task, hook_thread);
}

void
xe_engine_libvirt_hook_async(XeEngine *self, const char *domain, const char *operation,
                             const char *sub_operation, const char *extra, const char *xml,
                             gint64 deadline, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    Hook *h = g_new0(Hook, 1);

    h->deadline = deadline;
    h->name = g_strdup(domain);
    h->op = op_from_string(operation);
    h->sub_operation = g_strdup(sub_operation);
    h->extra = g_strdup(extra);
    h->xml = g_strdup(xml);
    hook_start(self, h, cancellable, callback, user_data);
}

void
xe_engine_domain_incoming_async(XeEngine *self, const char *xml, guint timeout_ms,
                                const char *caller, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
    Hook *h = g_new0(Hook, 1);

    h->op = OP_MIGRATE;
    h->deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    h->caller = g_strdup(caller);
    h->xml = g_strdup(xml);
    hook_start(self, h, cancellable, callback, user_data);
}

char *
xe_engine_domain_incoming_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
xe_engine_domain_abort_async(XeEngine *self, const char *xml, const char *caller,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    Hook *h = g_new0(Hook, 1);

    h->op = OP_ABORT;
    h->caller = g_strdup(caller);
    h->uri = g_strdup(xe_agent_get_config(self->agent)->libvirt_uri);
    h->xml = g_strdup(xml);
    hook_start(self, h, cancellable, callback, user_data);
}

gboolean
xe_engine_domain_abort_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    g_autofree char *out = g_task_propagate_pointer(G_TASK(result), error);

    return out != NULL;
}

char *
xe_engine_libvirt_hook_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}
