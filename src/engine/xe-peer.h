/* xe-peer.h: another host's xe-migrated, reached through the configured
 * transport command.
 *
 * The command (by default `ssh HOST systemd-stdio-bridge`, what
 * `busctl --host` does) carries D-Bus on its stdin and stdout to the other
 * host's bus; authentication and encryption are ssh's, authorization the
 * peer daemon's own. xe-migrated opens no listener of its own.
 *
 * Calls are synchronous: they run on a migration job's worker thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _XePeer XePeer;

/* Runs @transport (each "{host}" replaced by @host) and says Hello over it. */
XePeer *xe_peer_connect(const char *const *transport, const char *host, guint timeout_ms,
                        GCancellable *cancellable, GError **error);
void xe_peer_free(XePeer *peer);
const char *xe_peer_get_host(XePeer *peer);
/* FALSE once the transport closed (the command exited, the link broke). */
gboolean xe_peer_is_connected(XePeer *peer);
/* Closes the transport (kills the command). */
void xe_peer_close(XePeer *peer);

/* Manager.PrepareIncoming: a destination for @spec with a VF provisioned as
 * @profile (key=value, the source VF's). The out dictionary has "incoming"
 * (o), "uri" (s), "vf" (s), "switchover-ack" (b), "multifd" (b). */
GVariant *xe_peer_prepare_incoming(XePeer *peer, GVariant *spec, const char *profile,
                                   GVariant *options, guint timeout_ms, GCancellable *cancellable,
                                   GError **error);
/* Incoming.Finish: waits until the destination QEMU completed and runs. */
gboolean xe_peer_incoming_finish(XePeer *peer, const char *incoming, guint timeout_ms,
                                 GCancellable *cancellable, GError **error);
/* Incoming.Abort: kills the destination QEMU, resets and releases its VF. */
gboolean xe_peer_incoming_abort(XePeer *peer, const char *incoming, guint timeout_ms,
                                GError **error);
/* Whether the peer runs VM @name (its VM object says "running"). FALSE with
 * @error set when that cannot be known. */
gboolean xe_peer_runs_vm(XePeer *peer, const char *name, guint timeout_ms, GError **error);
/* The Incoming's properties (a{sv}): State, Error, Exited, Reset... */
GVariant *xe_peer_incoming_properties(XePeer *peer, const char *incoming, guint timeout_ms,
                                      GError **error);

/* Manager.PrepareIncomingDomain: the destination's VFs for libvirt domain XML @xml,
 * reserved for the domain; the XML pointing at them (their reservations in its metadata).
 * *@libvirt_uri: how the source's libvirtd reaches the peer's ("": the default). */
char *xe_peer_prepare_incoming_domain(XePeer *peer, const char *xml, guint timeout_ms,
                                      GCancellable *cancellable, char **libvirt_uri,
                                      GError **error);
/* Manager.AbortIncomingDomain: what PrepareIncomingDomain reserved for @xml, given back. */
gboolean xe_peer_abort_incoming_domain(XePeer *peer, const char *xml, guint timeout_ms,
                                       GError **error);
/* Manager.DomainState: the state of domain @name on the peer's libvirt (running, paused,
 * "paused (migration)"...); "" when its libvirt has no such domain; NULL with @error when the
 * peer cannot say. */
char *xe_peer_domain_state(XePeer *peer, const char *name, guint timeout_ms, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XePeer, xe_peer_free)

G_END_DECLS
