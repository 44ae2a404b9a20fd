/* xe-systemd.h: QEMU in a transient systemd service, asked of the service manager
 * (org.freedesktop.systemd1 on the system bus), and signals to processes the daemon may
 * not signal itself.
 *
 * Under its unit the daemon keeps no capability: it cannot change uid or signal another
 * user's process. systemd starts each QEMU instead, in a service of its own with its own
 * sandbox (the user, no capability, only its devices), outside the daemon's cgroup: a
 * restart of the daemon leaves it running. Only units named xe-qemu-*.service are ever
 * stopped or signalled. Blocking calls, for workers and startup only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define XE_SYSTEMD_UNIT_PREFIX "xe-qemu-"

typedef struct {
    const char *unit; /* "xe-qemu-ID.service" */
    const char *description;
    const char *const *argv;    /* the command, whole */
    const char *user;           /* User= (with its groups) */
    int stdin_fd;               /* QEMU's standard input (its monitor socket, listening) */
    int log_fd;                 /* standard output and error; -1: the journal */
    const char *const *devices; /* DeviceAllow= (rw), NULL-terminated */
} XeServiceSpec;

/* Starts @spec as a transient service and waits (@timeout_ms at most) until systemd has
 * started its program; returns its pid. On any failure once asked (no start in time, no main
 * process), the unit is stopped before this returns 0 with @error set: nothing it started
 * runs on unwatched; XE_ERROR_UNCONFIRMED when the stop could not be confirmed. */
guint xe_systemd_start_service(const XeServiceSpec *spec, guint timeout_ms, GError **error);

/* Replaces *@error (the failure of a start) with XE_ERROR_UNCONFIRMED: its message, and that
 * @unit may still run, for @cleanup. */
void xe_systemd_unconfirmed(GError **error, const char *unit, const GError *cleanup);

/* Kills everything in @unit (SIGKILL) and stops it, waiting (@timeout_ms at most) for the
 * stop to be over. TRUE once nothing of it runs (or there was no such unit). */
gboolean xe_systemd_stop_service(const char *unit, guint timeout_ms, GError **error);

/* The main process of @unit, 0 when it has none (or there is no such unit). */
guint xe_systemd_main_pid(const char *unit);

/* @signo to @pid through systemd, when @pid is the main process of @unit (NULL: of any
 * xe-qemu-*.service); NOT_FOUND when it is not: never the daemon's own service, a libvirt
 * scope, or whatever a reused pid now is. */
gboolean xe_systemd_kill(guint pid, const char *unit, int signo, GError **error);

G_END_DECLS
