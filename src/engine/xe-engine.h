/* xe-engine.h: the migration engine of one host.
 *
 * XeEngine knows the VMs of this host (started from a spec, or adopted by
 * their QMP socket), runs migration jobs from here to another host's daemon,
 * and serves the destination side of migrations coming in. It sits on the
 * host agent: VFs are reserved, reset and released through it, so a VF in a
 * migration (reserved by its VM, or by an incoming) is never bound, unbound,
 * provisioned or reset by anyone else.
 *
 * Source side, per job (xe-migration.c): pre-flight, a fresh destination from
 * the peer, QEMU set up from the policy, progress, downtime-limit steps,
 * completion verified on the destination before the source QEMU quits, and
 * on failure a classification and, for retryable classes, a new attempt.
 * Destination side (xe-incoming.c): reserve and provision identically, start
 * QEMU with -incoming defer, and report until the source says finish or abort.
 *
 * Everything here is called on the daemon's main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "xe-agent.h"
#include "xe-incoming.h"
#include "xe-job.h"
#include "xe-vm.h"
#include "xe-vm-spec.h"

G_BEGIN_DECLS

#define XE_TYPE_ENGINE (xe_engine_get_type())
G_DECLARE_FINAL_TYPE(XeEngine, xe_engine, XE, ENGINE, GObject)

/* Signals: vm-added, vm-removed (XeVm); job-added, job-removed (XeJob: the
 * oldest finished ones beyond 64); incoming-added, incoming-removed (XeIncoming). */
XeEngine *xe_engine_new(XeAgent *agent);
XeAgent *xe_engine_get_agent(XeEngine *self);

XeVm *xe_engine_lookup_vm(XeEngine *self, const char *name);
XeJob *xe_engine_lookup_job(XeEngine *self, const char *id);
XeIncoming *xe_engine_lookup_incoming(XeEngine *self, const char *id);

/* Adds a VM: with @start, reserves a VF for its profile and starts its QEMU;
 * else adopts the running QEMU at spec->qmp holding spec->vf. */
void xe_engine_add_vm_async(XeEngine *self, const XeVmSpec *spec, gboolean start,
                            const char *caller, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
XeVm *xe_engine_add_vm_finish(XeEngine *self, GAsyncResult *result, GError **error);
/* Forgets a VM: a started one's QEMU is stopped (quit), an adopted one is left
 * running; its VF is released (reset first if its QEMU is gone). Refused while migrating. */
void xe_engine_remove_vm_async(XeEngine *self, const char *name, const char *caller,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean xe_engine_remove_vm_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* Starts migrating VM @name to @host (reached through the configured transport).
 * @policy NULL: the VM's. With no VM of that name, a libvirt domain of that name running on
 * the configuration's libvirt-uri is migrated by libvirt (xe-domain-migration.c; policy
 * NULL: "default"). The job comes back once it started. */
void xe_engine_migrate_async(XeEngine *self, const char *name, const char *host, const char *policy,
                             const char *caller, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
XeJob *xe_engine_migrate_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* Job.Resolve: an operator's word on where the VM of a job that waits for its destination
 * runs ("source" or "destination"). */
gboolean xe_engine_resolve_job(XeEngine *self, const char *id, const char *where,
                               const char *caller, GError **error);

/* Destination side: @owner is the bus name of the caller (the source
 * daemon's transport); when it vanishes before Finish, the incoming is aborted.
 * The result is the a{sv} of xe_peer_prepare_incoming(). */
void xe_engine_prepare_incoming_async(XeEngine *self, GVariant *spec, const char *profile,
                                      GVariant *options, const char *owner, const char *host,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
GVariant *xe_engine_prepare_incoming_finish(XeEngine *self, GAsyncResult *result, GError **error);
/* libvirt's qemu hook (xe-libvirt-hook.c) for domain @domain: what @operation means for its
 * Xe VFs. The result is the XML libvirt should use (migrate, restore), or "" for the XML
 * unchanged. @deadline (CLOCK_MONOTONIC µs, 0: none) is when the hook gives up waiting: a
 * migrate or restore that would end later undoes what it reserved and fails. Never calls
 * libvirt: the hook runs inside libvirt's job. */
void xe_engine_libvirt_hook_async(XeEngine *self, const char *domain, const char *operation,
                                  const char *sub_operation, const char *extra, const char *xml,
                                  gint64 deadline, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
char *xe_engine_libvirt_hook_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* A daemon-driven migration of a libvirt domain, on its destination (Manager.
 * PrepareIncomingDomain, AbortIncomingDomain): before the source's libvirt starts, what the
 * migrate hook would do for the domain XML @xml (a VF like each of the source's reserved for
 * the domain), within @timeout_ms; the result is the XML pointing at them, their
 * reservations in its metadata, which the hook then keeps. The abort undoes it when libvirt
 * never came: the VFs the XML names, reserved for the domain, are reset and released;
 * refused while the domain runs on this host's libvirt. */
void xe_engine_domain_incoming_async(XeEngine *self, const char *xml, guint timeout_ms,
                                     const char *caller, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
char *xe_engine_domain_incoming_finish(XeEngine *self, GAsyncResult *result, GError **error);
void xe_engine_domain_abort_async(XeEngine *self, const char *xml, const char *caller,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean xe_engine_domain_abort_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* libvirt (xe-libvirt.c, the configuration's libvirt-uri): the domains holding this host's Xe
 * VFs, an aa{sv} (name s, state s, persistent b, vfs as, ready b, problems as: what keeps
 * each from migrating); and adding what a domain needs (the metadata with each VF's profile,
 * the enable-migration override) to its persistent definition, returning what changed. */
void xe_engine_list_domains_async(XeEngine *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
GVariant *xe_engine_list_domains_finish(XeEngine *self, GAsyncResult *result, GError **error);
void xe_engine_prepare_domain_async(XeEngine *self, const char *name, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
GStrv xe_engine_prepare_domain_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* libvirt domain @name's state on this host's libvirt, as ListDomains words it ("running",
 * "paused", "paused (migration)" for an incoming or outgoing migration's, "shut off"...); ""
 * when libvirt has no such domain. An error when libvirt cannot say. */
void xe_engine_domain_state_async(XeEngine *self, const char *name, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
char *xe_engine_domain_state_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* What Prometheus is told (xe-metrics.h), in its text format; "metrics-changed" says when it
 * changed beyond the VFs' states (the agent's "changed" says those). */
char *xe_engine_metrics(XeEngine *self);

/* Watches the domains of the configuration's libvirt (xe-libvirt-watch.c; needs libvirt's
 * event loop on the main context, gvir_event_register()): a domain that arrived by migration
 * gets its persistent definition pointed at the VFs it runs with. */
void xe_engine_libvirt_watch(XeEngine *self);

/* The reservations of libvirt domains (owner "domain:NAME") older than @min_age_s whose
 * domain does not run on this host's libvirt: reset and released. Nothing is decided when
 * libvirt cannot be asked. The result is how many were released. */
void xe_engine_libvirt_reconcile_async(XeEngine *self, guint min_age_s, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
guint xe_engine_libvirt_reconcile_finish(XeEngine *self, GAsyncResult *result, GError **error);

void xe_engine_incoming_finish_async(XeEngine *self, const char *id, guint timeout_ms,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean xe_engine_incoming_finish_finish(XeEngine *self, GAsyncResult *result, GError **error);
void xe_engine_incoming_abort_async(XeEngine *self, const char *id, const char *why,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean xe_engine_incoming_abort_finish(XeEngine *self, GAsyncResult *result, GError **error);
/* The bus name @owner went away (the source daemon or its transport). */
void xe_engine_owner_vanished(XeEngine *self, const char *owner);

/* After a restart: re-adopts the VMs recorded in STATE_DIR/vms (every VM
 * the daemon ran or adopted is recorded there) by their QMP sockets, with the
 * reservations they kept; a VM whose QEMU ended meanwhile has its VF reset
 * and released. Call once the agent has started. */
void xe_engine_restore_async(XeEngine *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_engine_restore_finish(XeEngine *self, GAsyncResult *result, GError **error);

/* Stops everything: running jobs are cancelled and waited for (so a source VM is
 * never left paused), incoming QEMUs that do not run a VM yet are killed. */
void xe_engine_shutdown(XeEngine *self);
/* The engine's threads still at work (jobs, libvirt calls): what a stop waits for. */
guint xe_engine_get_draining(XeEngine *self);
/* TRUE once xe_engine_shutdown() has begun: no new work is taken. */
gboolean xe_engine_is_stopping(XeEngine *self);

G_END_DECLS
