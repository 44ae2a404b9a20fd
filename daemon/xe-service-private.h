/* xe-service-private.h: what xe-service.c (host objects) and
 * xe-service-engine.c (VM, Job and Incoming objects) share.
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

/* A method call waiting for authorization, then for its work. */
typedef struct _Call Call;
struct _Call {
    XeService *service;
    GDBusMethodInvocation *invocation;
    GObject *iface;
    char *method;
    char *target;
    char *arg;
    guint count;
    GVariant *options;
    char *caller; /* "uid N (:1.23)" once authorized */
    void (*then)(Call *c);
};

void call_free(Call *c);
/* Authorizes the caller (root or allowed-group), then runs @then(c); @then
 * completes the invocation and frees @c. */
gboolean call_start_then(XeService *service, GDBusMethodInvocation *invocation, gpointer iface,
                         const char *method, const char *target, const char *arg, guint count,
                         GVariant *options, void (*then)(Call *c));

void service_engine_attach(XeService *service);
void service_engine_detach(XeService *service);
