/* xe-systemd.h: QEMU in a transient systemd service, asked of the service manager
 * (org.freedesktop.systemd1 on the system bus), and signals to processes the daemon may
 * not signal itself.
 *
 * Under its unit the daemon keeps no capability: it cannot change uid or signal another
 * user's process. systemd starts each QEMU instead, in a service of its own with its own
 * sandbox (the user, no capability, only its devices), outside the daemon's cgroup: a
 * restart of the daemon leaves it running. Blocking calls, for workers and startup only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
    const char *unit; /* "xe-qemu-ID.service" */
    const char *description;
    const char *const *argv;    /* the command, whole */
    const char *user;           /* User= (with its groups); NULL: root */
    int stdin_fd;               /* QEMU's standard input (its monitor socket, listening) */
    int log_fd;                 /* standard output and error; -1: the journal */
    const char *const *devices; /* DeviceAllow= (rw), NULL-terminated */
} XeServiceSpec;

/* Starts @spec as a transient service and waits (@timeout_ms at most) until systemd has
 * started its program; returns its pid, 0 with @error set. */
guint xe_systemd_start_service(const XeServiceSpec *spec, guint timeout_ms, GError **error);

/* @signo to @pid through systemd, when @pid is the main process of its unit (a QEMU
 * xe_systemd_start_service() started); NOT_FOUND when it is not. */
gboolean xe_systemd_kill(guint pid, int signo, GError **error);

G_END_DECLS
