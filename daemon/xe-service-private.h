/* xe-service-private.h: what xe-service.c (dispatch, authorization, host
 * objects) and xe-service-engine.c (VM, Job and Incoming objects) share:
 * the method table, a call on its way, options and error conversion.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-dbus-generated.h"
#include "xe-service.h"

struct _XeService {
    XeAgent *agent;
    XeEngine *engine;
    GDBusConnection *connection;
    GDBusObjectManagerServer *manager;
    XeDBusManager *manager_iface;
    GHashTable *objects;        /* PF and VF object path -> XeDBusObjectSkeleton */
    GHashTable *engine_objects; /* VM, job and incoming object path -> XeDBusObjectSkeleton */
    GHashTable *watches;        /* bus name -> watch id, for callers owning incomings */
    gulong changed_id;
    gulong engine_ids[6];
    XeServiceReloadFunc reload;
    gpointer reload_data;
};

typedef struct _Call Call;

/* What a method does, for polkit: each value but XE_SERVICE_OPEN is an action of
 * org.xemigrated.XeMigrated1.policy. */
typedef enum {
    XE_SERVICE_OPEN,       /* reads of the host: anyone, no question asked */
    XE_SERVICE_READ_VF,    /* a VF's provisioning and compatibility (debugfs): granted by default */
    XE_SERVICE_RESERVE_VF, /* reservations */
    XE_SERVICE_PROVISION_VF, /* enabling, binding, provisioning, resetting VFs */
    XE_SERVICE_MANAGE_VM,    /* VMs and libvirt domains the daemon runs or prepares */
    XE_SERVICE_MIGRATE,      /* migrations, incoming ones, their jobs */
    XE_SERVICE_RELOAD,       /* the configuration */
} XeServiceAction;

/* The polkit action id ("org.xemigrated.XeMigrated1.migrate"); NULL for XE_SERVICE_OPEN. */
const char *xe_service_action_id(XeServiceAction action);
/* What the action lets a caller do, for refusals ("migrate VMs"). */
const char *xe_service_action_purpose(XeServiceAction action);

/* A key that a method's "options" a{sv} may hold, and the type of its value. */
typedef struct {
    const char *name;
    const GVariantType *type;
} XeServiceOption;

/* A D-Bus method: its polkit action, what its options may hold, and its handler. */
typedef struct {
    const char *interface; /* the full interface name */
    const char *method;
    XeServiceAction action;
    const XeServiceOption *options; /* ends with a NULL name; NULL: no option at all */
    void (*handler)(Call *c);
} XeServiceMethod;

/* A method call, from dispatch to its reply. The handler completes the invocation (through
 * the generated xe_dbus_*_complete_*() or call_fail()) and frees the call. */
struct _Call {
    XeService *service;
    GDBusMethodInvocation *invocation;
    GDBusInterfaceSkeleton *iface; /* the skeleton called */
    const XeServiceMethod *method;
    GVariant *params;  /* the in-arguments, a tuple */
    GVariant *options; /* its "options" argument, checked; NULL when it has none */
    char *caller;      /* "uid N (:1.23)" once authorized; the sender for open reads */
    char *context;     /* what it was doing, for errors from below XE_ERROR; NULL: the method */
};

/* Every method of org.xemigrated.XeMigrated1.xml, once. */
const XeServiceMethod *xe_service_get_methods(gsize *n_methods);
const XeServiceMethod *xe_service_lookup_method(const char *interface, const char *method);
/* Connects every method of @skeleton (a generated interface skeleton) to the table. */
void xe_service_dispatch(XeService *service, gpointer skeleton);

/* Checks the a{sv} @options of @method against @known (NULL: none): an unknown key, or a
 * value of another type, is XE_ERROR_INVALID_ARGUMENT naming the option, the type expected
 * and the method. */
gboolean xe_service_check_options(GVariant *options, const XeServiceOption *known,
                                  const char *method, GError **error);

/* The error for a D-Bus caller (@error is taken): an XE_ERROR as it is; any other (QMP's,
 * GIO's, GDBus's from a peer, files') as the XE_ERROR code that says the same, its message
 * kept behind "@context: ". Every error the service returns goes through here. */
GError *xe_service_error_for_bus(GError *error, const char *context);

/* Completes @c with @error (taken, converted by xe_service_error_for_bus() with the call's
 * context) and frees it. */
void call_fail(Call *c, GError *error);
void call_free(Call *c);

/* xe-service-engine.c: the engine's methods and objects */
void service_engine_add_vm(Call *c);
void service_engine_remove_vm(Call *c);
void service_engine_migrate(Call *c);
void service_engine_prepare_incoming(Call *c);
void service_engine_libvirt_hook(Call *c);
void service_engine_prepare_incoming_domain(Call *c);
void service_engine_abort_incoming_domain(Call *c);
void service_engine_list_domains(Call *c);
void service_engine_domain_state(Call *c);
void service_engine_prepare_domain(Call *c);
void service_engine_cancel(Call *c);
void service_engine_resolve(Call *c);
void service_engine_finish(Call *c);
void service_engine_abort(Call *c);
void service_engine_attach(XeService *service);
void service_engine_detach(XeService *service);
