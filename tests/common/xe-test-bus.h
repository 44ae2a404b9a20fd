/* xe-test-bus.h: a private dbus-daemon for a test, and the real xe-migrated
 * on it, each ready on an event: the bus when it prints its address, the
 * daemon when it sends READY=1 to a NOTIFY_SOCKET the test owns.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
    char *dir;
    char *address;
    GPid pid;
} XeTestBus;

/* A bus that lets any user connect and call (the daemon authorizes). */
XeTestBus *xe_test_bus_start(void);
void xe_test_bus_stop(XeTestBus *bus);
/* A private connection to the bus at @address; fails the test when there is none. */
GDBusConnection *xe_test_bus_connect(const char *address);

typedef struct {
    GPid pid;
    int notify_fd;
    int wake[2]; /* stops the reader */
    char *notify_path;
    GThread *reader; /* drains the socket, as systemd would: a full queue blocks sd_notify */
    GMutex lock;
    GCond cond;
    GString *notified; /* every datagram so far, one per line (under lock) */
    char *log_path;
} XeTestDaemon;

/* Starts $XE_MIGRATED with @argv_extra (NULL-terminated) and waits for READY=1. */
XeTestDaemon *xe_test_daemon_start(XeTestBus *bus, const char *const *argv_extra);
/* Waits (deadline @timeout_ms) until a notification containing @what arrives. */
gboolean xe_test_daemon_wait_notify(XeTestDaemon *d, const char *what, guint timeout_ms);
/* Waits (deadline @timeout_ms) until @n notifications containing @what have arrived. */
gboolean xe_test_daemon_wait_notify_count(XeTestDaemon *d, const char *what, guint n,
                                          guint timeout_ms);
/* SIGTERM and wait; returns the exit status (-1 if killed by a signal). */
int xe_test_daemon_stop(XeTestDaemon *d);
void xe_test_daemon_free(XeTestDaemon *d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeTestBus, xe_test_bus_stop)

G_END_DECLS
