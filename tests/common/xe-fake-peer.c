/* xe-fake-peer.c: the fake destination daemon: one thread with its own main
 * context serves the bus connection; objects are registered with the
 * generated introspection data and hand-written vtables whose get_property is
 * NULL, so that Get and GetAll reach method_call and are counted. One lock
 * guards everything the test thread reads; the test thread changes what
 * touches the bus by running a function on the peer thread and waiting.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-fake-peer.h"

#include <check.h>

#include "xe-bus.h"
#include "xe-dbus-generated.h"

#define IFACE_PROPERTIES "org.freedesktop.DBus.Properties"
#define NAME_TIMEOUT_MS  10000

typedef struct {
    XeFakePeer *peer;
    guint n;
    char *id;
    char *path;
    char *vm; /* the spec's name */
    char *vm_path;
    char *uri;
    char *vf;
    char *reservation;
    char *owner; /* the source daemon's unique name */
    GVariant *spec;
    char *profile;
    GVariant *options;
    char *state;
    char *error;
    gboolean exited;
    guint registration;    /* of the Incoming object on the current connection */
    guint vm_registration; /* of its VM's object, while committed or running */
    GPtrArray *waiting;    /* Finish invocations answered once it settles (SLOW): owned, but
                            * answering one consumes it */
    GSource *slow;         /* SLOW's timer */
} Incoming;

struct _XeFakePeer {
    char *address;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    GMutex lock;
    GCond cond; /* counts, name ownership, states, jobs done */

    /* under lock */
    GDBusConnection *connection; /* NULL while vanished */
    guint manager_registration;
    guint own_id;
    gboolean owned;
    GHashTable *watches; /* owner -> watch id */
    char *uri;
    char *vf;
    XeErrorCode refuse_code;
    char *refuse_message; /* NULL: PrepareIncoming prepares */
    XeFakeFinish finish;
    guint delay_ms;
    GPtrArray *incomings;  /* Incoming, in order */
    GHashTable *counts;    /* method -> count */
    GPtrArray *unanswered; /* invocations never to be answered (LOST, VANISH) */
};

/* Drops the Finish calls @inc has waiting, unanswered. */
static void
drop_waiting(Incoming *inc)
{
    g_ptr_array_foreach(inc->waiting, (GFunc)(void (*)(void))g_object_unref, NULL);
    g_ptr_array_set_size(inc->waiting, 0);
}

static void
incoming_free(Incoming *inc)
{
    if (inc->slow != NULL) {
        g_source_destroy(inc->slow);
        g_source_unref(inc->slow);
    }
    drop_waiting(inc);
    g_ptr_array_unref(inc->waiting);
    g_clear_pointer(&inc->spec, g_variant_unref);
    g_clear_pointer(&inc->options, g_variant_unref);
    g_free(inc->id);
    g_free(inc->path);
    g_free(inc->vm);
    g_free(inc->vm_path);
    g_free(inc->uri);
    g_free(inc->vf);
    g_free(inc->reservation);
    g_free(inc->owner);
    g_free(inc->profile);
    g_free(inc->state);
    g_free(inc->error);
    g_free(inc);
}

static Incoming *
incoming_nth(XeFakePeer *peer, guint n)
{
    return n >= 1 && n <= peer->incomings->len ? peer->incomings->pdata[n - 1] : NULL;
}

static gboolean
state_is(const Incoming *inc, const char *state)
{
    return g_str_equal(inc->state, state);
}

static void
count_call(XeFakePeer *peer, const char *method)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(peer->counts, method));

    g_hash_table_insert(peer->counts, g_strdup(method), GUINT_TO_POINTER(n + 1));
    g_cond_broadcast(&peer->cond);
}

/* running a function on the peer thread */

typedef struct {
    XeFakePeer *peer;
    void (*func)(XeFakePeer *peer, gpointer data);
    gpointer data;
    gboolean done;
} Job;

static gboolean
job_run(gpointer user_data)
{
    Job *job = user_data;

    job->func(job->peer, job->data);
    g_mutex_lock(&job->peer->lock);
    job->done = TRUE;
    g_cond_broadcast(&job->peer->cond);
    g_mutex_unlock(&job->peer->lock);
    return G_SOURCE_REMOVE;
}

static void
run_on_peer(XeFakePeer *peer, void (*func)(XeFakePeer *peer, gpointer data), gpointer data)
{
    Job job = { peer, func, data, FALSE };

    g_main_context_invoke(peer->context, job_run, &job);
    g_mutex_lock(&peer->lock);
    while (!job.done)
        g_cond_wait(&peer->cond, &peer->lock);
    g_mutex_unlock(&peer->lock);
}

/* properties */

static GVariant *
incoming_property(gpointer object, const char *name)
{
    Incoming *inc = object;

    if (g_str_equal(name, "Id"))
        return g_variant_new_string(inc->id);
    if (g_str_equal(name, "VM"))
        return g_variant_new_string(inc->vm);
    if (g_str_equal(name, "VF"))
        return g_variant_new_string(inc->vf);
    if (g_str_equal(name, "Reservation"))
        return g_variant_new_string(inc->reservation);
    if (g_str_equal(name, "Uri"))
        return g_variant_new_string(inc->uri);
    if (g_str_equal(name, "State"))
        return g_variant_new_string(inc->state);
    if (g_str_equal(name, "Error"))
        return g_variant_new_string(inc->error != NULL ? inc->error : "");
    if (g_str_equal(name, "Pid"))
        return g_variant_new_uint32(0);
    if (g_str_equal(name, "Exited"))
        return g_variant_new_boolean(inc->exited);
    if (g_str_equal(name, "Owner"))
        return g_variant_new_string(inc->owner);
    return NULL;
}

/* @key of the a{sv} @dict when it has @type (what the source sent is not trusted). */
static GVariant *
lookup_typed(GVariant *dict, const char *key, const GVariantType *type)
{
    return g_variant_lookup_value(dict, key, type);
}

static char *
spec_string(Incoming *inc, const char *key, const char *fallback)
{
    g_autoptr(GVariant) value = lookup_typed(inc->spec, key, G_VARIANT_TYPE_STRING);

    return g_strdup(value != NULL ? g_variant_get_string(value, NULL) : fallback);
}

static gboolean
options_flag(Incoming *inc, const char *key)
{
    g_autoptr(GVariant) value = lookup_typed(inc->options, key, G_VARIANT_TYPE_BOOLEAN);

    return value != NULL && g_variant_get_boolean(value);
}

static GVariant *
vm_property(gpointer object, const char *name)
{
    Incoming *inc = object;

    if (g_str_equal(name, "Name"))
        return g_variant_new_string(inc->vm);
    if (g_str_equal(name, "State"))
        return g_variant_new_string(state_is(inc, "committed") ? "starting" : "running");
    if (g_str_equal(name, "VF"))
        return g_variant_new_string(inc->vf);
    if (g_str_equal(name, "Reservation"))
        return g_variant_new_string(inc->reservation);
    if (g_str_equal(name, "QmpSocket"))
        return g_variant_new_string("");
    if (g_str_equal(name, "Pid"))
        return g_variant_new_uint32(0);
    if (g_str_equal(name, "Profile"))
        return g_variant_new_take_string(spec_string(inc, "profile", inc->profile));
    if (g_str_equal(name, "Policy"))
        return g_variant_new_take_string(spec_string(inc, "policy", "default"));
    if (g_str_equal(name, "DowntimeBudget")) {
        g_autoptr(GVariant) budget =
            lookup_typed(inc->spec, "downtime-budget-ms", G_VARIANT_TYPE_UINT64);
        return g_variant_new_uint64(budget != NULL ? g_variant_get_uint64(budget) : 0);
    }
    if (g_str_equal(name, "Adopted"))
        return g_variant_new_boolean(FALSE);
    if (g_str_equal(name, "Job"))
        return g_variant_new_string("");
    return NULL;
}

static GVariant *
manager_property(gpointer object, const char *name)
{
    if (g_str_equal(name, "Version"))
        return g_variant_new_string("0-fake");
    if (g_str_equal(name, "SysfsRoot"))
        return g_variant_new_string("/sys");
    if (g_str_equal(name, "Drift"))
        return g_variant_new_strv(NULL, 0);
    return NULL;
}

typedef GVariant *(*PropertyFunc)(gpointer object, const char *name);

/* Get and GetAll of @info's properties (GDBus checked the interface and the name). Called
 * under the lock. */
static void
answer_properties(XeFakePeer *peer, GDBusMethodInvocation *invocation, const char *method,
                  GVariant *parameters, GDBusInterfaceInfo *info, PropertyFunc func,
                  gpointer object)
{
    count_call(peer, method);
    if (g_str_equal(method, "Get")) {
        const char *name = NULL;
        GVariant *value;

        g_variant_get(parameters, "(&s&s)", NULL, &name);
        value = func(object, name);
        if (value == NULL)
            g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                                  G_DBUS_ERROR_INVALID_ARGS,
                                                  "the fake peer lacks property %s", name);
        else
            g_dbus_method_invocation_return_value(invocation, g_variant_new("(v)", value));
    } else if (g_str_equal(method, "GetAll")) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        for (guint i = 0; info->properties != NULL && info->properties[i] != NULL; i++) {
            GVariant *value = func(object, info->properties[i]->name);

            if (value != NULL)
                g_variant_builder_add(&b, "{sv}", info->properties[i]->name, value);
        }
        g_dbus_method_invocation_return_value(invocation, g_variant_new("(a{sv})", &b));
    } else {
        g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR,
                                              G_DBUS_ERROR_PROPERTY_READ_ONLY,
                                              "the fake peer's properties are read-only");
    }
}

/* states */

static void vm_sync(Incoming *inc);

static void
emit_changed(Incoming *inc)
{
    XeFakePeer *peer = inc->peer;
    GVariantBuilder b;

    if (peer->connection == NULL || inc->registration == 0)
        return;
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "State", incoming_property(inc, "State"));
    g_variant_builder_add(&b, "{sv}", "Error", incoming_property(inc, "Error"));
    g_variant_builder_add(&b, "{sv}", "Exited", incoming_property(inc, "Exited"));
    (void)g_dbus_connection_emit_signal(
        peer->connection, NULL, inc->path, IFACE_PROPERTIES, "PropertiesChanged",
        g_variant_new("(sa{sv}@as)", XE_BUS_NAME ".Incoming", &b, g_variant_new_strv(NULL, 0)),
        NULL);
}

/* What Finish answers on an incoming in its state: TRUE with *error NULL for success,
 * TRUE with *error set for a failure, FALSE while it is not settled. */
static gboolean
settled_answer(Incoming *inc, GError **error)
{
    if (state_is(inc, "running"))
        return TRUE;
    if (state_is(inc, "aborted") || state_is(inc, "failed")) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "incoming %s %s before it ran: %s", inc->id,
                    inc->state, inc->error != NULL ? inc->error : "");
        return TRUE;
    }
    if (state_is(inc, "lost")) {
        g_set_error(error, XE_ERROR, XE_ERROR_COMMITTED,
                    "incoming %s: VM %s was committed here, and its QEMU then died (%s)", inc->id,
                    inc->vm, inc->error != NULL ? inc->error : "");
        return TRUE;
    }
    return FALSE;
}

static void
answer_finish(GDBusMethodInvocation *invocation, const GError *error)
{
    if (error == NULL)
        g_dbus_method_invocation_return_value(invocation, NULL);
    else
        g_dbus_method_invocation_return_gerror(invocation, error);
}

/* Under the lock. */
static void
set_state(Incoming *inc, const char *state, const char *error)
{
    g_autoptr(GError) answer = NULL;

    g_free(inc->state);
    inc->state = g_strdup(state);
    if (error != NULL) {
        g_free(inc->error);
        inc->error = g_strdup(error);
    }
    if (state_is(inc, "failed") || state_is(inc, "aborted") || state_is(inc, "lost"))
        inc->exited = TRUE;
    if (settled_answer(inc, &answer)) {
        for (guint i = 0; i < inc->waiting->len; i++)
            answer_finish(inc->waiting->pdata[i], answer);
        g_ptr_array_set_size(inc->waiting, 0);
        if (inc->slow != NULL) {
            g_source_destroy(inc->slow);
            g_clear_pointer(&inc->slow, g_source_unref);
        }
    }
    vm_sync(inc);
    emit_changed(inc);
    g_cond_broadcast(&inc->peer->cond);
}

/* Incoming */

static void incoming_method_call(GDBusConnection *connection, const char *sender, const char *path,
                                 const char *interface, const char *method, GVariant *parameters,
                                 GDBusMethodInvocation *invocation, gpointer user_data);

static const GDBusInterfaceVTable incoming_vtable = { incoming_method_call, NULL, NULL };

static void
vm_method_call(GDBusConnection *connection, const char *sender, const char *path,
               const char *interface, const char *method, GVariant *parameters,
               GDBusMethodInvocation *invocation, gpointer user_data)
{
    Incoming *inc = user_data;
    XeFakePeer *peer = inc->peer;

    g_mutex_lock(&peer->lock);
    if (g_str_equal(interface, IFACE_PROPERTIES))
        answer_properties(peer, invocation, method, parameters, xe_dbus_vm_interface_info(),
                          vm_property, inc);
    else
        g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                              "no method %s", method);
    g_mutex_unlock(&peer->lock);
}

static const GDBusInterfaceVTable vm_vtable = { vm_method_call, NULL, NULL };

/* The VM's object is there while the incoming is committed or running, and this incoming
 * holds its path (under the lock, on the peer thread). */
static void
vm_sync(Incoming *inc)
{
    XeFakePeer *peer = inc->peer;
    gboolean wanted = state_is(inc, "committed") || state_is(inc, "running");

    if (!wanted && inc->vm_registration != 0) {
        if (peer->connection != NULL)
            g_dbus_connection_unregister_object(peer->connection, inc->vm_registration);
        inc->vm_registration = 0;
    } else if (wanted && inc->vm_registration == 0 && peer->connection != NULL) {
        /* fails harmlessly while another incoming of the same VM holds the path */
        inc->vm_registration = g_dbus_connection_register_object(peer->connection, inc->vm_path,
                                                                 xe_dbus_vm_interface_info(),
                                                                 &vm_vtable, inc, NULL, NULL);
    }
}

static void go_away(XeFakePeer *peer, gpointer data);

static gboolean
slow_done(gpointer user_data)
{
    Incoming *inc = user_data;

    g_mutex_lock(&inc->peer->lock);
    g_clear_pointer(&inc->slow, g_source_unref);
    if (state_is(inc, "committed"))
        set_state(inc, "running", NULL);
    g_mutex_unlock(&inc->peer->lock);
    return G_SOURCE_REMOVE;
}

/* Under the lock; FALSE when the peer is to go away (after unlocking). */
static gboolean
incoming_finish(Incoming *inc, GDBusMethodInvocation *invocation)
{
    XeFakePeer *peer = inc->peer;
    g_autoptr(GError) answer = NULL;

    if (settled_answer(inc, &answer)) {
        answer_finish(invocation, answer);
        return TRUE;
    }
    if (state_is(inc, "committed") && inc->slow != NULL) {
        g_ptr_array_add(inc->waiting, invocation);
        return TRUE;
    }
    switch (peer->finish) {
    case XE_FAKE_FINISH_OK:
        set_state(inc, "running", NULL);
        g_dbus_method_invocation_return_value(invocation, NULL);
        break;
    case XE_FAKE_FINISH_SLOW:
        g_ptr_array_add(inc->waiting, invocation);
        set_state(inc, "committed", NULL);
        inc->slow = g_timeout_source_new(peer->delay_ms);
        g_source_set_callback(inc->slow, slow_done, inc, NULL);
        g_source_attach(inc->slow, peer->context);
        break;
    case XE_FAKE_FINISH_LOST:
        set_state(inc, "running", NULL);
        g_ptr_array_add(peer->unanswered, invocation);
        break;
    case XE_FAKE_FINISH_REFUSE:
        set_state(inc, "failed", "the fake destination QEMU failed to load the state");
        (void)settled_answer(inc, &answer);
        answer_finish(invocation, answer);
        break;
    case XE_FAKE_FINISH_VANISH:
        g_ptr_array_add(peer->unanswered, invocation);
        return FALSE;
    }
    return TRUE;
}

/* Under the lock. */
static void
incoming_abort(Incoming *inc, GDBusMethodInvocation *invocation)
{
    if (state_is(inc, "committed") || state_is(inc, "running") || state_is(inc, "lost")) {
        g_dbus_method_invocation_return_error(invocation, XE_ERROR, XE_ERROR_COMMITTED,
                                              "incoming %s: VM %s runs here (%s); it cannot be "
                                              "aborted",
                                              inc->id, inc->vm, inc->state);
        return;
    }
    if (!state_is(inc, "aborted") && !state_is(inc, "failed"))
        set_state(inc, "aborted", "aborted by the source");
    g_dbus_method_invocation_return_value(invocation, NULL);
}

static void
incoming_method_call(GDBusConnection *connection, const char *sender, const char *path,
                     const char *interface, const char *method, GVariant *parameters,
                     GDBusMethodInvocation *invocation, gpointer user_data)
{
    Incoming *inc = user_data;
    XeFakePeer *peer = inc->peer;
    gboolean stay = TRUE;

    g_mutex_lock(&peer->lock);
    if (g_str_equal(interface, IFACE_PROPERTIES)) {
        answer_properties(peer, invocation, method, parameters, xe_dbus_incoming_interface_info(),
                          incoming_property, inc);
    } else if (g_str_equal(method, "Finish")) {
        count_call(peer, method);
        stay = incoming_finish(inc, invocation);
    } else if (g_str_equal(method, "Abort")) {
        count_call(peer, method);
        incoming_abort(inc, invocation);
    } else {
        g_dbus_method_invocation_return_error(invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                              "no method %s", method);
    }
    g_mutex_unlock(&peer->lock);
    if (!stay)
        go_away(peer, NULL);
}

/* Under the lock, on the peer thread. */
static void
incoming_register(Incoming *inc)
{
    XeFakePeer *peer = inc->peer;
    g_autoptr(GError) error = NULL;

    inc->registration = g_dbus_connection_register_object(peer->connection, inc->path,
                                                          xe_dbus_incoming_interface_info(),
                                                          &incoming_vtable, inc, NULL, &error);
    g_assert_no_error(error);
    vm_sync(inc);
}

/* Manager */

/* An incoming whose source left the bus before its commit is aborted. */
static void
owner_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
    XeFakePeer *peer = user_data;

    g_mutex_lock(&peer->lock);
    if (connection == peer->connection && !g_dbus_connection_is_closed(connection)) {
        for (guint i = 0; i < peer->incomings->len; i++) {
            Incoming *inc = peer->incomings->pdata[i];

            if (g_str_equal(inc->owner, name) &&
                (state_is(inc, "preparing") || state_is(inc, "listening") ||
                 state_is(inc, "active") || state_is(inc, "completed")))
                set_state(inc, "aborted", "the source left the bus before Finish");
        }
    }
    g_mutex_unlock(&peer->lock);
}

/* Under the lock. */
static void
prepare_incoming(XeFakePeer *peer, const char *sender, GVariant *parameters,
                 GDBusMethodInvocation *invocation)
{
    Incoming *inc;
    GVariantBuilder b;

    if (peer->refuse_message != NULL) {
        g_dbus_method_invocation_return_error_literal(invocation, XE_ERROR, peer->refuse_code,
                                                      peer->refuse_message);
        return;
    }
    inc = g_new0(Incoming, 1);
    inc->peer = peer;
    g_variant_get(parameters, "(@a{sv}s@a{sv})", &inc->spec, &inc->profile, &inc->options);
    inc->n = peer->incomings->len + 1;
    inc->id = g_strdup_printf("%u", inc->n);
    inc->path = xe_bus_object_path("incoming", inc->id);
    inc->vm = spec_string(inc, "name", "");
    inc->vm_path = xe_bus_object_path("vm", inc->vm);
    inc->uri = g_strdup(peer->uri);
    inc->vf = g_strdup(peer->vf);
    inc->reservation = g_strdup_printf("fake-%u", inc->n);
    inc->owner = g_strdup(sender);
    inc->state = g_strdup("listening");
    inc->waiting = g_ptr_array_new();
    g_ptr_array_add(peer->incomings, inc);
    incoming_register(inc);
    if (!g_hash_table_contains(peer->watches, sender))
        g_hash_table_insert(peer->watches, g_strdup(sender),
                            GUINT_TO_POINTER(g_bus_watch_name_on_connection(
                                peer->connection, sender, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                owner_vanished, peer, NULL)));

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "id", g_variant_new_string(inc->id));
    g_variant_builder_add(&b, "{sv}", "incoming", g_variant_new_object_path(inc->path));
    g_variant_builder_add(&b, "{sv}", "uri", g_variant_new_string(inc->uri));
    g_variant_builder_add(&b, "{sv}", "vf", g_variant_new_string(inc->vf));
    g_variant_builder_add(&b, "{sv}", "switchover-ack",
                          g_variant_new_boolean(options_flag(inc, "switchover-ack")));
    g_variant_builder_add(&b, "{sv}", "multifd",
                          g_variant_new_boolean(options_flag(inc, "multifd")));
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(a{sv})", &b));
    g_cond_broadcast(&peer->cond);
}

static void
manager_method_call(GDBusConnection *connection, const char *sender, const char *path,
                    const char *interface, const char *method, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
    XeFakePeer *peer = user_data;

    g_mutex_lock(&peer->lock);
    if (g_str_equal(interface, IFACE_PROPERTIES)) {
        answer_properties(peer, invocation, method, parameters, xe_dbus_manager_interface_info(),
                          manager_property, peer);
    } else {
        count_call(peer, method);
        if (g_str_equal(method, "PrepareIncoming"))
            prepare_incoming(peer, sender, parameters, invocation);
        else
            g_dbus_method_invocation_return_error(invocation, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                                                  "the fake peer does not serve %s", method);
    }
    g_mutex_unlock(&peer->lock);
}

static const GDBusInterfaceVTable manager_vtable = { manager_method_call, NULL, NULL };

/* the connection */

static void
name_acquired(GDBusConnection *connection, const char *name, gpointer user_data)
{
    XeFakePeer *peer = user_data;

    g_mutex_lock(&peer->lock);
    peer->owned = TRUE;
    g_cond_broadcast(&peer->cond);
    g_mutex_unlock(&peer->lock);
}

/* On the peer thread: connects, registers everything and asks for the name (queued
 * behind a previous owner still on its way out). */
static void
come_back(XeFakePeer *peer, gpointer data)
{
    g_autoptr(GError) error = NULL;
    GDBusConnection *connection =
        g_dbus_connection_new_for_address_sync(peer->address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);

    g_assert_no_error(error);
    g_dbus_connection_set_exit_on_close(connection, FALSE);
    g_mutex_lock(&peer->lock);
    g_assert(peer->connection == NULL);
    peer->connection = connection;
    peer->owned = FALSE;
    peer->manager_registration = g_dbus_connection_register_object(
        connection, XE_OBJECT_ROOT, xe_dbus_manager_interface_info(), &manager_vtable, peer, NULL,
        &error);
    g_assert_no_error(error);
    for (guint i = 0; i < peer->incomings->len; i++)
        incoming_register(peer->incomings->pdata[i]);
    g_mutex_unlock(&peer->lock);
    peer->own_id = g_bus_own_name_on_connection(
        connection, XE_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, name_acquired, NULL, peer, NULL);
}

static void
wait_owned(XeFakePeer *peer)
{
    gint64 deadline = g_get_monotonic_time() + NAME_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

    g_mutex_lock(&peer->lock);
    while (!peer->owned && g_cond_wait_until(&peer->cond, &peer->lock, deadline))
        ;
    g_mutex_unlock(&peer->lock);
    ck_assert_msg(peer->owned, "the fake peer did not get %s within %u ms", XE_BUS_NAME,
                  NAME_TIMEOUT_MS);
}

/* On the peer thread: lets the name go and closes the connection. Calls waiting for an
 * answer stay unanswered. */
static void
go_away(XeFakePeer *peer, gpointer data)
{
    GDBusConnection *connection;
    GHashTableIter iter;
    gpointer id;
    guint own_id;

    g_mutex_lock(&peer->lock);
    connection = g_steal_pointer(&peer->connection);
    own_id = peer->own_id;
    peer->own_id = 0;
    peer->owned = FALSE;
    if (connection != NULL) {
        g_hash_table_iter_init(&iter, peer->watches);
        while (g_hash_table_iter_next(&iter, NULL, &id))
            g_bus_unwatch_name(GPOINTER_TO_UINT(id));
        g_hash_table_remove_all(peer->watches);
        g_dbus_connection_unregister_object(connection, peer->manager_registration);
        peer->manager_registration = 0;
        for (guint i = 0; i < peer->incomings->len; i++) {
            Incoming *inc = peer->incomings->pdata[i];

            g_dbus_connection_unregister_object(connection, inc->registration);
            inc->registration = 0;
            if (inc->vm_registration != 0)
                g_dbus_connection_unregister_object(connection, inc->vm_registration);
            inc->vm_registration = 0;
        }
    }
    g_ptr_array_set_size(peer->unanswered, 0);
    g_mutex_unlock(&peer->lock);
    if (connection == NULL)
        return;
    if (own_id != 0)
        g_bus_unown_name(own_id); /* releases the name synchronously */
    (void)g_dbus_connection_close_sync(connection, NULL, NULL);
    g_object_unref(connection);
}

static gpointer
peer_thread(gpointer data)
{
    XeFakePeer *peer = data;

    g_main_context_push_thread_default(peer->context);
    g_main_loop_run(peer->loop);
    g_main_context_pop_thread_default(peer->context);
    return NULL;
}

XeFakePeer *
xe_fake_peer_new(const char *bus_address)
{
    XeFakePeer *peer = g_new0(XeFakePeer, 1);

    xe_error_register_dbus();
    peer->address = g_strdup(bus_address);
    peer->context = g_main_context_new();
    peer->loop = g_main_loop_new(peer->context, FALSE);
    g_mutex_init(&peer->lock);
    g_cond_init(&peer->cond);
    peer->watches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    peer->uri = g_strdup("tcp:127.0.0.1:4444");
    peer->vf = g_strdup("0000:03:00.1");
    peer->finish = XE_FAKE_FINISH_OK;
    peer->incomings = g_ptr_array_new_with_free_func((GDestroyNotify)incoming_free);
    peer->counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    peer->unanswered = g_ptr_array_new_with_free_func(g_object_unref);
    peer->thread = g_thread_new("fake-peer", peer_thread, peer);
    run_on_peer(peer, come_back, NULL);
    wait_owned(peer);
    return peer;
}

void
xe_fake_peer_set_uri(XeFakePeer *peer, const char *uri, const char *vf)
{
    g_mutex_lock(&peer->lock);
    g_free(peer->uri);
    peer->uri = g_strdup(uri);
    g_free(peer->vf);
    peer->vf = g_strdup(vf);
    g_mutex_unlock(&peer->lock);
}

void
xe_fake_peer_refuse_prepare(XeFakePeer *peer, XeErrorCode code, const char *message)
{
    g_mutex_lock(&peer->lock);
    peer->refuse_code = code;
    g_free(peer->refuse_message);
    peer->refuse_message = g_strdup(message);
    g_mutex_unlock(&peer->lock);
}

void
xe_fake_peer_set_finish(XeFakePeer *peer, XeFakeFinish mode, guint delay_ms)
{
    g_mutex_lock(&peer->lock);
    peer->finish = mode;
    peer->delay_ms = delay_ms;
    g_mutex_unlock(&peer->lock);
}

typedef struct {
    guint n;
    const char *state;
} StateChange;

static void
change_state(XeFakePeer *peer, gpointer data)
{
    StateChange *change = data;
    Incoming *inc;

    g_mutex_lock(&peer->lock);
    inc = incoming_nth(peer, change->n);
    if (inc != NULL)
        set_state(inc, change->state, NULL);
    g_mutex_unlock(&peer->lock);
    if (inc == NULL)
        g_critical("xe_fake_peer_set_state: no incoming %u", change->n);
}

void
xe_fake_peer_set_state(XeFakePeer *peer, guint n, const char *state)
{
    StateChange change = { n, state };

    run_on_peer(peer, change_state, &change);
}

guint
xe_fake_peer_count(XeFakePeer *peer, const char *method)
{
    guint n;

    g_mutex_lock(&peer->lock);
    n = GPOINTER_TO_UINT(g_hash_table_lookup(peer->counts, method));
    g_mutex_unlock(&peer->lock);
    return n;
}

gboolean
xe_fake_peer_wait(XeFakePeer *peer, const char *method, guint count, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    gboolean reached;

    g_mutex_lock(&peer->lock);
    while (!(reached = GPOINTER_TO_UINT(g_hash_table_lookup(peer->counts, method)) >= count))
        if (!g_cond_wait_until(&peer->cond, &peer->lock, deadline))
            break;
    reached = GPOINTER_TO_UINT(g_hash_table_lookup(peer->counts, method)) >= count;
    g_mutex_unlock(&peer->lock);
    return reached;
}

gboolean
xe_fake_peer_wait_state(XeFakePeer *peer, guint n, const char *state, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    Incoming *inc;
    gboolean reached;

    g_mutex_lock(&peer->lock);
    for (;;) {
        inc = incoming_nth(peer, n);
        reached = inc != NULL && state_is(inc, state);
        if (reached || !g_cond_wait_until(&peer->cond, &peer->lock, deadline))
            break;
    }
    inc = incoming_nth(peer, n);
    reached = inc != NULL && state_is(inc, state);
    g_mutex_unlock(&peer->lock);
    return reached;
}

char *
xe_fake_peer_get_state(XeFakePeer *peer, guint n)
{
    Incoming *inc;
    char *state;

    g_mutex_lock(&peer->lock);
    inc = incoming_nth(peer, n);
    state = inc != NULL ? g_strdup(inc->state) : NULL;
    g_mutex_unlock(&peer->lock);
    return state;
}

GVariant *
xe_fake_peer_get_spec(XeFakePeer *peer, guint n)
{
    Incoming *inc;
    GVariant *spec;

    g_mutex_lock(&peer->lock);
    inc = incoming_nth(peer, n);
    spec = inc != NULL ? g_variant_ref(inc->spec) : NULL;
    g_mutex_unlock(&peer->lock);
    return spec;
}

char *
xe_fake_peer_get_profile(XeFakePeer *peer, guint n)
{
    Incoming *inc;
    char *profile;

    g_mutex_lock(&peer->lock);
    inc = incoming_nth(peer, n);
    profile = inc != NULL ? g_strdup(inc->profile) : NULL;
    g_mutex_unlock(&peer->lock);
    return profile;
}

GVariant *
xe_fake_peer_get_options(XeFakePeer *peer, guint n)
{
    Incoming *inc;
    GVariant *options;

    g_mutex_lock(&peer->lock);
    inc = incoming_nth(peer, n);
    options = inc != NULL ? g_variant_ref(inc->options) : NULL;
    g_mutex_unlock(&peer->lock);
    return options;
}

void
xe_fake_peer_vanish(XeFakePeer *peer)
{
    run_on_peer(peer, go_away, NULL);
}

void
xe_fake_peer_return(XeFakePeer *peer)
{
    run_on_peer(peer, come_back, NULL);
    wait_owned(peer);
}

static void
drop_timers(XeFakePeer *peer, gpointer data)
{
    g_mutex_lock(&peer->lock);
    for (guint i = 0; i < peer->incomings->len; i++) {
        Incoming *inc = peer->incomings->pdata[i];

        if (inc->slow != NULL) {
            g_source_destroy(inc->slow);
            g_clear_pointer(&inc->slow, g_source_unref);
        }
        drop_waiting(inc);
    }
    g_mutex_unlock(&peer->lock);
}

void
xe_fake_peer_free(XeFakePeer *peer)
{
    if (peer == NULL)
        return;
    run_on_peer(peer, go_away, NULL);
    run_on_peer(peer, drop_timers, NULL);
    g_main_loop_quit(peer->loop);
    g_thread_join(peer->thread);
    /* what the connection left queued for the context (dispatches, watch clean-ups) */
    while (g_main_context_iteration(peer->context, FALSE))
        ;
    g_ptr_array_unref(peer->incomings);
    g_ptr_array_unref(peer->unanswered);
    g_hash_table_unref(peer->counts);
    g_hash_table_unref(peer->watches);
    g_main_loop_unref(peer->loop);
    g_main_context_unref(peer->context);
    g_mutex_clear(&peer->lock);
    g_cond_clear(&peer->cond);
    g_free(peer->address);
    g_free(peer->uri);
    g_free(peer->vf);
    g_free(peer->refuse_message);
    g_free(peer);
}
