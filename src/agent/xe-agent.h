/* xe-agent.h: the host agent: one owner for the Xe SR-IOV state of a host.
 *
 * XeAgent holds the host layer, the configuration, the reservations and the
 * hooks. Every sysfs operation runs off the main loop, one at a time (a host
 * lock), and refreshes a snapshot that the main thread reads without I/O.
 * Reservations are decided on the main thread, so two callers never get the
 * same VF; one served from the warm pool (VFs kept bound to xe-vfio-pci and
 * provisioned per profile) writes nothing to sysfs, but is read back first:
 * a pool VF that does not hold its profile (a convergence under way, a write
 * behind the daemon's back) is never handed out, and leaves the pool as
 * drift. The layout declared in the configuration is converged at start and
 * on reload, never touching a reserved VF, and what cannot be fixed is
 * reported as drift. Pool VFs are the layout's: provisioning one by hand is
 * refused. A reservation's owner has a kind (xe-reservations.h); only that
 * kind may release it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-config.h"
#include "xe-host.h"
#include "xe-profile.h"
#include "xe-histogram.h"
#include "xe-reservations.h"

G_BEGIN_DECLS

#define XE_TYPE_AGENT (xe_agent_get_type())
G_DECLARE_FINAL_TYPE(XeAgent, xe_agent, XE, AGENT, GObject)

/* A VF as the snapshot shows it. */
typedef struct {
    XeVfInfo info;
    char *profile;      /* key=value, or NULL when unreadable */
    char *profile_name; /* the configured profile it matches and was kept for, or "" */
    char *reservation;  /* id or "" */
    gboolean in_pool;
    gboolean in_use;
    char *health;
} XeAgentVf;

XeAgent *xe_agent_new(const char *sysfs_root, XeConfig *config, GError **error);
XeHost *xe_agent_get_host(XeAgent *self);
const XeConfig *xe_agent_get_config(XeAgent *self);

/* The snapshot (borrowed; replaced, with a "changed" signal, after each change). */
GPtrArray *xe_agent_get_pfs(XeAgent *self); /* XePfInfo */
GPtrArray *xe_agent_get_vfs(XeAgent *self); /* XeAgentVf */
GStrv xe_agent_get_drift(XeAgent *self);
/* Main thread: seconds from each reservation's request until it was on disk. */
const XeHistogram *xe_agent_get_reserve_latency(XeAgent *self);

/* Start: reconcile reservations with sysfs and converge the layout. */
void xe_agent_start_async(XeAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
gboolean xe_agent_start_finish(XeAgent *self, GAsyncResult *result, GError **error);
/* Reload: a new configuration (taken), then converge. */
void xe_agent_reload_async(XeAgent *self, XeConfig *config, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_agent_reload_finish(XeAgent *self, GAsyncResult *result, GError **error);

typedef enum {
    XE_AGENT_OP_ENABLE_VFS,     /* target PF, count */
    XE_AGENT_OP_DISABLE_VFS,    /* target PF */
    XE_AGENT_OP_BIND,           /* target VF, arg driver */
    XE_AGENT_OP_UNBIND,         /* target VF */
    XE_AGENT_OP_APPLY_PROFILE,  /* target VF, arg profile (name or key=value) */
    XE_AGENT_OP_READ_PROFILE,   /* target VF; result: the profile text */
    XE_AGENT_OP_RESET,          /* target VF */
    XE_AGENT_OP_CHECK,          /* target VF, arg profile; result: "" or the reason */
    XE_AGENT_OP_PREPARE,        /* target VF, arg profile: bind to xe-vfio-pci, then apply */
    XE_AGENT_OP_MIGRATION_SIZE, /* target VF; result: its migration_size in bytes */
} XeAgentOp;

/* Runs an operation on behalf of @caller (for the logs). The result is a
 * string (see above) or NULL for operations that return nothing.
 * APPLY_PROFILE and PREPARE of a warm-pool VF fail with XE_ERROR_BUSY. */
void xe_agent_run_async(XeAgent *self, XeAgentOp op, const char *target, const char *arg,
                        guint count, const char *caller, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_agent_run_finish(XeAgent *self, GAsyncResult *result, char **out, GError **error);

/* From any thread (a migration's worker): a read-only query of VF @vf, READ_PROFILE or
 * MIGRATION_SIZE, run on the calling thread under the host lock, with no hop to the main
 * context and back. Blocking. */
gboolean xe_agent_query_sync(XeAgent *self, XeAgentOp op, const char *vf, char **out,
                             GError **error);

/* Reserves a VF for @profile (name or key=value), on @pf_bdf if not NULL, held by @owner of
 * @kind ("uid 0 (:1.42)", "vm:web", "incoming:3:web"). */
void xe_agent_reserve_async(XeAgent *self, const char *profile, const char *pf_bdf,
                            XeReservationOwner kind, const char *owner, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_agent_reserve_finish(XeAgent *self, GAsyncResult *result, char **vf_bdf,
                                 char **reservation, GError **error);
/* Reserves exactly @vf_bdf (a VF a running VM already holds) as it is: no sysfs write. */
void xe_agent_reserve_vf_async(XeAgent *self, const char *vf_bdf, const char *profile,
                               XeReservationOwner kind, const char *owner,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
/* Releases @reservation on behalf of @caller (for the logs), an owner of kind @as: a
 * reservation of another kind is refused with XE_ERROR_BUSY naming its owner ("held by VM
 * 'web' ...: remove the VM instead"). With @reset, the VF gets an FLR first (a VF a VM
 * used, before anyone else may have it); should that fail, it stays reserved. The VF stays
 * reserved until the table without it is on disk. Should that write fail, this fails, the
 * reservation stays as it was (id, owner, VF), the table is written again (with backoff)
 * until a write succeeds, and the release is done then; meanwhile another release of it
 * is XE_ERROR_BUSY. */
void xe_agent_release_async(XeAgent *self, const char *reservation, gboolean reset,
                            XeReservationOwner as, const char *caller, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_agent_release_finish(XeAgent *self, GAsyncResult *result, GError **error);
/* Main thread: @reservation changes hands (an arrived VM takes over its incoming's
 * reservation). Written to the state file in order with every other change of the table
 * (asynchronously: a failed write is logged, and written again until it succeeds). FALSE with
 * XE_ERROR_NOT_FOUND when there is no such reservation, XE_ERROR_BUSY while it is being
 * released. */
gboolean xe_agent_transfer_reservation(XeAgent *self, const char *reservation,
                                       XeReservationOwner kind, const char *owner, GError **error);
/* From any thread: reservation @reservation's VF and owner ("KIND:NAME"); FALSE when there
 * is no such reservation. */
gboolean xe_agent_reservation_get(XeAgent *self, const char *reservation, char **vf_bdf,
                                  char **owner);
/* From any thread: the ids of the reservations @owner ("KIND:NAME") holds, oldest first. */
GStrv xe_agent_reservations_of(XeAgent *self, const char *owner);
/* From any thread: the reservation holding VF @vf_bdf, its id and its owner ("KIND:NAME" as
 * xe_reservation_owner_display() spells it); FALSE when the VF is not reserved. */
gboolean xe_agent_reservation_of_vf(XeAgent *self, const char *vf_bdf, char **reservation,
                                    char **owner);
/* The kind of @reservation's owner (CALLER when there is no such reservation). */
XeReservationOwner xe_agent_reservation_owner_kind(XeAgent *self, const char *reservation);
/* Runs the phase hooks (xe-hooks.h) with @document; a pre- phase may veto. */
void xe_agent_run_hooks_async(XeAgent *self, const char *phase, JsonNode *document,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean xe_agent_run_hooks_finish(XeAgent *self, GAsyncResult *result, GError **error);
/* (id, vf, profile, owner, created); the owner as xe_reservation_owner_display() shows it,
 * "KIND:OWNER" ("vm:web", "caller:uid 0 (:1.42)"). */
GVariant *xe_agent_list_reservations(XeAgent *self);

/* Resolves a profile argument: a configured name, or key=value pairs. */
XeProfile *xe_agent_resolve_profile(XeAgent *self, const char *text, char **name, GError **error);

G_END_DECLS
