/* xe-fake-peer.h: a fake destination xe-migrated on a test bus, for the source
 * flow's unit tests: it owns the daemon's bus name and serves
 * Manager.PrepareIncoming and the Incoming objects it creates (Finish, Abort,
 * properties), each scripted.
 *
 * It answers as the real destination daemon does (xe-destination.c): an
 * incoming is "listening" once prepared; Finish on a running one succeeds
 * again, on an aborted or failed one answers Failed, on a lost one Committed;
 * Abort past the commit (committed, running, lost) answers Committed, on one
 * over succeeds, else aborts it; an incoming whose source leaves the bus
 * before its commit is aborted. While an incoming is committed ("starting")
 * or running, its VM's object (XE_OBJECT_ROOT/vm/NAME) shows the VM.
 * Properties are read with org.freedesktop.DBus.Properties (Get, GetAll).
 *
 * Only src/common and GLib: it is for testing the engine.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "xe-error.h"

G_BEGIN_DECLS

typedef struct _XeFakePeer XeFakePeer;

/* What Finish does on an incoming that is not over yet. */
typedef enum {
    XE_FAKE_FINISH_OK,     /* the incoming commits (State "running") and Finish answers */
    XE_FAKE_FINISH_SLOW,   /* State "committed" at once, Finish answers after delay_ms, then
                            * "running" */
    XE_FAKE_FINISH_LOST,   /* the incoming commits (State "running"); Finish is never answered */
    XE_FAKE_FINISH_REFUSE, /* State "failed" (Error set, Exited true), Finish answers
                            * XE_ERROR_FAILED */
    XE_FAKE_FINISH_VANISH, /* the daemon goes away (its bus connection closes) without
                            * answering or committing */
} XeFakeFinish;

/* Connects to the bus at @bus_address, owns XE_BUS_NAME and serves on a thread of its
 * own; returns once it owns the name. Finish mode XE_FAKE_FINISH_OK. */
XeFakePeer *xe_fake_peer_new(const char *bus_address);
/* What PrepareIncoming answers: "uri" (the fake source QEMU's migrate argument), "vf".
 * Until set: "tcp:127.0.0.1:4444" and "0000:03:00.1". "switchover-ack" and "multifd"
 * echo the options the source sent (FALSE when absent). */
void xe_fake_peer_set_uri(XeFakePeer *peer, const char *uri, const char *vf);
/* PrepareIncoming refuses with @code of XE_ERROR (its D-Bus error) and @message
 * instead; @message NULL prepares again. */
void xe_fake_peer_refuse_prepare(XeFakePeer *peer, XeErrorCode code, const char *message);
/* For the Finish calls from now on; @delay_ms is SLOW's. */
void xe_fake_peer_set_finish(XeFakePeer *peer, XeFakeFinish mode, guint delay_ms);
/* The properties of incoming @n (1-based, in order of PrepareIncoming) change: State
 * @state (failed, aborted and lost also set Exited), announced with PropertiesChanged.
 * Finish calls waiting on it (SLOW) are answered when @state settles them. */
void xe_fake_peer_set_state(XeFakePeer *peer, guint n, const char *state);

/* Calls so far of "PrepareIncoming", "Finish", "Abort", "GetAll", "Get" (properties
 * reads, on any object), or any other method by its name. */
guint xe_fake_peer_count(XeFakePeer *peer, const char *method);
/* Waits until @method was called @count times in all: FALSE after @timeout_ms. */
gboolean xe_fake_peer_wait(XeFakePeer *peer, const char *method, guint count, guint timeout_ms);
/* Waits until incoming @n's State is @state: FALSE after @timeout_ms. */
gboolean xe_fake_peer_wait_state(XeFakePeer *peer, guint n, const char *state, guint timeout_ms);
/* State of incoming @n; NULL when there is no such incoming. */
char *xe_fake_peer_get_state(XeFakePeer *peer, guint n);
/* The spec (a{sv} as the source sent it) of incoming @n, and the profile string; NULL
 * when there is no such incoming. */
GVariant *xe_fake_peer_get_spec(XeFakePeer *peer, guint n);
char *xe_fake_peer_get_profile(XeFakePeer *peer, guint n);
/* The options (a{sv}) PrepareIncoming got for incoming @n. */
GVariant *xe_fake_peer_get_options(XeFakePeer *peer, guint n);

/* Drops the bus connection now (the name goes away; calls waiting for an answer are
 * never answered); xe_fake_peer_return() comes back with the same incomings, and returns
 * once it owns the name again. */
void xe_fake_peer_vanish(XeFakePeer *peer);
void xe_fake_peer_return(XeFakePeer *peer);
void xe_fake_peer_free(XeFakePeer *peer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeFakePeer, xe_fake_peer_free)

G_END_DECLS
