/* xe-service.h: the agent on D-Bus (org.xemigrated.XeMigrated1): the
 * Manager, one object per PF and per VF, kept in step with the agent's
 * snapshot (PropertiesChanged on every change), and the method handlers,
 * which authorize callers from their bus credentials. The migration
 * engine's objects are in xe-service-engine.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "xe-agent.h"
#include "xe-bus.h"
#include "xe-engine.h"

G_BEGIN_DECLS

typedef struct _XeService XeService;

/* @engine: the migration engine on the same agent (VM, Job and Incoming objects). */
XeService *xe_service_new(XeAgent *agent, XeEngine *engine, GDBusConnection *connection,
                          GError **error);
void xe_service_free(XeService *service);
/* How Manager.Reload re-reads the configuration: the daemon's reload, which
 * completes (through @callback, with xe_agent_reload_finish()) once the new
 * layout is converged, or fails with why the configuration was refused. */
typedef void (*XeServiceReloadFunc)(gpointer data, GAsyncReadyCallback callback,
                                    gpointer user_data);
void xe_service_set_reload_func(XeService *service, XeServiceReloadFunc reload, gpointer data);

G_END_DECLS
