/* xe-libvirt-watch.c: the daemon's watch on its libvirt's domains, by libvirt's lifecycle
 * events (libvirt-glib runs libvirt's event loop on the daemon's main loop, where the
 * callbacks run; libvirt's blocking calls still run on threads of their own).
 *
 *   A domain that arrived by migration holding this host's Xe VFs gets its persistent
 *   definition pointed at the VFs it runs with. libvirt defines on the destination the
 *   source's definition (`virsh migrate --persistent` sends it as it is), which names the
 *   source host's VF addresses: the domain's next start here would take whatever VF has that
 *   address. (A daemon-driven migration sends the right definition already: nothing to do.)
 *   Only the domains that arrived by migration are touched (the qemu hook's migrate or
 *   restore ran for them here: engine_domain_arriving()), only until libvirt has defined and
 *   runs them here (or for ARRIVED_RECENT_S), and only the Xe VFs whose address is one the
 *   hook replaced (source address -> the VF that took its place): an operator's later edit
 *   is never undone. A domain that arrived while nobody watched (libvirtd away) is looked at
 *   once the watch is back.
 *
 *   The connection is kept alive (keepalive, 5 s x 3) and opened again after it closed
 *   (libvirtd restarted), every RETRY_S until it opens.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "xe-engine-private.h"
#include "xe-error.h"

#define RETRY_S          2
#define ARRIVED_RECENT_S 300 /* how long after arriving a definition is still the source's */

/* What libvirt's callbacks and the opening thread hold: the watch, until it is freed. */
typedef struct {
    gint ref;
    XeLibvirtWatch *watch; /* main only; NULL once the watch is freed */
} Holder;

struct _XeLibvirtWatch {
    XeEngine *engine; /* not a reference: the engine owns the watch */
    char *uri;
    Holder *holder;
    virConnectPtr conn; /* main only */
    int lifecycle_id;
    guint retry_id;
    gboolean opening;
    GHashTable *fixing; /* domain name -> gboolean: looked at again once this look is done */
};

static Holder *
holder_ref(Holder *h)
{
    g_atomic_int_inc(&h->ref);
    return h;
}

static void
holder_unref(void *data)
{
    Holder *h = data;

    if (g_atomic_int_dec_and_test(&h->ref))
        g_free(h);
}

static void watch_open(XeLibvirtWatch *w);
static void on_closed(virConnectPtr conn, int reason, void *opaque);

static void
watch_close(XeLibvirtWatch *w)
{
    if (w->conn == NULL)
        return;
    /* (local bookkeeping, and a last RPC that may fail on a dead connection: cheap) */
    if (w->lifecycle_id >= 0)
        virConnectDomainEventDeregisterAny(w->conn, w->lifecycle_id);
    w->lifecycle_id = -1;
    virConnectUnregisterCloseCallback(w->conn, on_closed);
    virConnectClose(w->conn);
    w->conn = NULL;
}

void
xe_libvirt_watch_free(XeLibvirtWatch *w)
{
    if (w == NULL)
        return;
    /* first: a close callback libvirt runs inside the calls below finds no watch */
    w->holder->watch = NULL;
    watch_close(w);
    g_clear_handle_id(&w->retry_id, g_source_remove);
    holder_unref(w->holder);
    g_hash_table_unref(w->fixing);
    g_free(w->uri);
    g_free(w);
}

/* the definition of a domain that arrived, on a thread */

/* A domain libvirt brought in: when, and which VF here took the place of which source VF. */
typedef struct {
    gint64 when; /* monotonic µs */
    GHashTable *moved;
} Arrival;

static void
arrival_free(gpointer data)
{
    Arrival *a = data;

    g_hash_table_unref(a->moved);
    g_free(a);
}

GHashTable *
engine_arrivals_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, arrival_free);
}

typedef struct {
    char *uri;
    char *name;
    Holder *holder;
    gint64 arrived; /* which arrival this look is for */
    XeDefinitionFix fix;
} Fix;

static void
fix_free(Fix *f)
{
    g_free(f->uri);
    g_free(f->name);
    holder_unref(f->holder);
    g_hash_table_unref(f->fix.moved);
    g_free(f);
}

static void fix_definition(XeLibvirtWatch *w, const char *name);

static void
fix_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Fix *f = data;
    GError *error = NULL;

    if (engine_libvirt_fix_definition(self, f->uri, f->name, &f->fix, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
    engine_thread_exited(self);
}

static void
fix_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    Fix *f = g_task_get_task_data(G_TASK(result));
    XeLibvirtWatch *w = f->holder->watch;
    gboolean again;

    Arrival *a;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        g_warning("domain %s arrived by migration, but its definition may still name the "
                  "source host's VFs: %s (virsh edit %s)",
                  f->name, error->message, f->name);
    if (w == NULL)
        return;
    /* defined and running here with this host's VFs: the arrival is over, and an operator's
     * later edit is the operator's */
    a = g_hash_table_lookup(w->engine->arriving, f->name);
    if (f->fix.settled && a != NULL && a->when == f->arrived)
        g_hash_table_remove(w->engine->arriving, f->name);
    again = GPOINTER_TO_INT(g_hash_table_lookup(w->fixing, f->name));
    g_hash_table_remove(w->fixing, f->name);
    if (again)
        fix_definition(w, f->name);
}

static void
fix_definition(XeLibvirtWatch *w, const char *name)
{
    XeEngine *self = w->engine;
    Arrival *a = g_hash_table_lookup(self->arriving, name);
    GTask *task;
    Fix *f;

    if (self->shutting_down || a == NULL)
        return;
    /* one look at a time per domain; an event meanwhile asks for one more */
    if (g_hash_table_contains(w->fixing, name)) {
        g_hash_table_replace(w->fixing, g_strdup(name), GINT_TO_POINTER(TRUE));
        return;
    }
    g_hash_table_insert(w->fixing, g_strdup(name), GINT_TO_POINTER(FALSE));
    task = g_task_new(self, NULL, fix_done, NULL);
    f = g_new0(Fix, 1);
    f->uri = g_strdup(w->uri);
    f->name = g_strdup(name);
    f->holder = holder_ref(w->holder);
    f->arrived = a->when;
    f->fix.moved = g_hash_table_ref(a->moved);
    g_task_set_task_data(task, f, (GDestroyNotify)fix_free);
    self->live_workers++;
    g_task_run_in_thread(task, fix_thread);
    g_object_unref(task);
}

/* The hook's migrate (or restore) for @name ran here lately: libvirt brings it in. */
static gboolean
arrived_recently(XeLibvirtWatch *w, const char *name)
{
    GHashTable *arriving = w->engine->arriving;
    Arrival *a = g_hash_table_lookup(arriving, name);

    if (a == NULL)
        return FALSE;
    if (g_get_monotonic_time() - a->when < ARRIVED_RECENT_S * G_USEC_PER_SEC)
        return TRUE;
    g_hash_table_remove(arriving, name);
    return FALSE;
}

void
engine_domain_arriving(XeEngine *self, const char *name, GHashTable *moved)
{
    Arrival *a = g_new0(Arrival, 1);

    a->when = g_get_monotonic_time();
    a->moved = g_hash_table_ref(moved);
    g_hash_table_replace(self->arriving, g_strdup(name), a);
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    XeLibvirtWatch *w = ((Holder *)opaque)->watch;
    const char *name = virDomainGetName(dom);

    if (w == NULL || conn != w->conn || !arrived_recently(w, name))
        return 0;
    /* libvirt persists an incoming domain (defined) and runs it (resumed, migrated) as its
     * migration finishes, in an order of its own: each is a moment to look */
    if (event == VIR_DOMAIN_EVENT_DEFINED ||
        (event == VIR_DOMAIN_EVENT_RESUMED && detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED) ||
        (event == VIR_DOMAIN_EVENT_STARTED && detail == VIR_DOMAIN_EVENT_STARTED_RESTORED))
        fix_definition(w, name);
    else if (event == VIR_DOMAIN_EVENT_STOPPED && detail != VIR_DOMAIN_EVENT_STOPPED_MIGRATED)
        g_hash_table_remove(w->engine->arriving, name);
    return 0;
}

static gboolean
retry(gpointer data)
{
    XeLibvirtWatch *w = data;

    w->retry_id = 0;
    watch_open(w);
    return G_SOURCE_REMOVE;
}

/* after a close callback: the dead connection closed, and another opened a while later */
static gboolean
close_dead(gpointer data)
{
    XeLibvirtWatch *w = ((Holder *)data)->watch;

    if (w == NULL)
        return G_SOURCE_REMOVE;
    watch_close(w);
    if (w->retry_id == 0)
        w->retry_id = g_timeout_add_seconds(RETRY_S, retry, w);
    return G_SOURCE_REMOVE;
}

static void
on_closed(virConnectPtr conn, int reason, void *opaque)
{
    XeLibvirtWatch *w = ((Holder *)opaque)->watch;

    if (w == NULL || conn != w->conn)
        return;
    g_message("libvirt at %s went away (%s): watching again in %d s", w->uri,
              reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "no keepalive answer"
              : reason == VIR_CONNECT_CLOSE_REASON_EOF     ? "libvirtd closed the connection"
                                                           : "connection error",
              RETRY_S);
    /* (closing it in its own callback is what libvirt forbids: after this returns) */
    g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, close_dead, holder_ref(w->holder), holder_unref);
}

/* opening: the connection, keepalive and the callbacks, on a thread */

typedef struct {
    char *uri;
    Holder *holder;
    virConnectPtr conn;
    int lifecycle_id;
} Opening;

static void
opening_free(Opening *o)
{
    if (o->conn != NULL) {
        if (o->lifecycle_id >= 0)
            virConnectDomainEventDeregisterAny(o->conn, o->lifecycle_id);
        virConnectUnregisterCloseCallback(o->conn, on_closed);
        virConnectClose(o->conn);
    }
    holder_unref(o->holder);
    g_free(o->uri);
    g_free(o);
}

static void
open_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Opening *o = data;

    o->conn = virConnectOpen(o->uri);
    if (o->conn == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_FAILED, "%s", virGetLastErrorMessage());
        return;
    }
    /* (fails only without an event loop: then nothing would tell of a dead libvirtd) */
    (void)virConnectSetKeepAlive(o->conn, 5, 3);
    o->lifecycle_id = virConnectDomainEventRegisterAny(o->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
                                                       holder_ref(o->holder), holder_unref);
    /* (a failed registration may or may not have dropped its reference: it stays) */
    if (o->lifecycle_id < 0) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_FAILED, "no domain events: %s",
                                virGetLastErrorMessage());
        return;
    }
    if (virConnectRegisterCloseCallback(o->conn, on_closed, holder_ref(o->holder), holder_unref) <
        0) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_FAILED, "no close callback: %s",
                                virGetLastErrorMessage());
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Opening *o = g_task_get_task_data(G_TASK(result));
    XeLibvirtWatch *w = o->holder->watch;
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        if (w == NULL)
            return;
        w->opening = FALSE;
        g_debug("libvirt at %s: %s; watching again in %d s", w->uri, error->message, RETRY_S);
        w->retry_id = g_timeout_add_seconds(RETRY_S, retry, w);
        return;
    }
    if (w == NULL)
        return; /* the watch is gone: opening_free() lets the connection go */
    w->opening = FALSE;
    if (virConnectIsAlive(o->conn) != 1) {
        /* it died before the watch had it (its close callback found no connection of the
         * watch's): opening_free() lets it go */
        w->retry_id = g_timeout_add_seconds(RETRY_S, retry, w);
        return;
    }
    w->conn = g_steal_pointer(&o->conn);
    w->lifecycle_id = o->lifecycle_id;
    g_message("watching libvirt's domains at %s", w->uri);
    /* what arrived while nobody watched (libvirtd was away, the daemon just started) */
    {
        g_autoptr(GList) names = g_hash_table_get_keys(w->engine->arriving);

        for (GList *l = names; l != NULL; l = l->next)
            if (arrived_recently(w, l->data))
                fix_definition(w, l->data);
    }
}

static void
watch_open(XeLibvirtWatch *w)
{
    GTask *task;
    Opening *o;

    if (w->opening || w->conn != NULL || w->engine->shutting_down)
        return;
    w->opening = TRUE;
    o = g_new0(Opening, 1);
    o->uri = g_strdup(w->uri);
    o->holder = holder_ref(w->holder);
    o->lifecycle_id = -1;
    /* not counted with the engine's workers: it touches nothing of the engine */
    task = g_task_new(NULL, NULL, opened, NULL);
    g_task_set_task_data(task, o, (GDestroyNotify)opening_free);
    g_task_run_in_thread(task, open_thread);
    g_object_unref(task);
}

void
xe_engine_libvirt_watch(XeEngine *self)
{
    const char *uri = xe_agent_get_config(self->agent)->libvirt_uri;
    XeLibvirtWatch *w;

    if (self->watch != NULL || uri == NULL || *uri == '\0')
        return;
    w = g_new0(XeLibvirtWatch, 1);
    w->engine = self;
    w->uri = g_strdup(uri);
    w->lifecycle_id = -1;
    w->fixing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    w->holder = g_new0(Holder, 1);
    w->holder->ref = 1;
    w->holder->watch = w;
    self->watch = w;
    watch_open(w);
}
