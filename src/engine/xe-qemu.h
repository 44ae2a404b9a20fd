/* xe-qemu.h: a QEMU process xe-migrated starts and supervises.
 *
 * The QMP monitor socket is bound and listening before QEMU starts, and its
 * fd is handed to QEMU (-chardev socket,fd=N,server=on, as libvirt does): a
 * client connects at once, and the socket cannot be raced for. "exited"
 * reports the end of the process with its status; the engine uses it to tell
 * a destination that died from one that refused.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "xe-config.h"
#include "xe-qmp-client.h"

G_BEGIN_DECLS

#define XE_TYPE_QEMU_PROCESS (xe_qemu_process_get_type())
G_DECLARE_FINAL_TYPE(XeQemuProcess, xe_qemu_process, XE, QEMU_PROCESS, GObject)

/* Starts @argv (QEMU and its arguments, without a monitor) with a monitor at
 * @qmp_socket (a path: bound here, removed once the process has exited), and
 * "-S -incoming defer" when @incoming
 * (the destination stays paused after the load until told to run). stdout and stderr go to
 * @log_path (or are discarded when NULL). QEMU runs in its seccomp sandbox (-sandbox on, no
 * obsolete calls, no privilege changes, no new processes, no resource control), and as @user
 * when it is not NULL: its uid, gid and groups, no capability left, no new privilege
 * possible; everything it needs is handed to it open (the monitor, the log) or made its own
 * beforehand (the VF's VFIO group node). */
XeQemuProcess *xe_qemu_process_spawn(const char *const *argv, const char *qmp_socket,
                                     gboolean incoming, const char *log_path,
                                     const XeQemuUser *user, GError **error);

/* The same QEMU (command line, monitor, log) started by systemd in a transient service of
 * its own, xe_qemu_unit_name(@qmp_socket), as @user, with its own sandbox and @devices (a
 * NULL-terminated list of device nodes it may open besides KVM's, VFIO's container and the
 * network's). Returns its pid, for xe_qemu_process_attach() (which owns the socket from
 * then on); 0 with @error set, and neither socket nor service left, when it did not start.
 * Blocking: call it off the main loop. */
guint xe_qemu_start_service(const char *const *argv, const char *qmp_socket, gboolean incoming,
                            const char *log_path, const char *user, const char *const *devices,
                            GError **error);
/* Blocking: the service of the QEMU with its monitor at @qmp_socket killed and stopped, and
 * the socket removed: for a start that could not be watched. FALSE (the socket kept) when
 * the stop could not be confirmed. */
gboolean xe_qemu_stop_service(const char *qmp_socket, GError **error);
/* Blocking: whether @pid is the main process of that service now. */
gboolean xe_qemu_service_has_pid(const char *qmp_socket, guint pid);
/* "xe-qemu-ID.service": the unit of the QEMU with its monitor at @qmp_socket. */
char *xe_qemu_unit_name(const char *qmp_socket);

/* A QEMU running already, not started by this process (adopted, or started before a
 * restart): process @pid, if its start time is still @start_time (0: any), watched
 * through a pidfd until it exits ("exited" with -1: its status went to its parent).
 * With @owns_socket, @qmp_socket is removed once it has exited. */
XeQemuProcess *xe_qemu_process_attach(guint pid, guint64 start_time, const char *qmp_socket,
                                      gboolean owns_socket, GError **error);

const char *xe_qemu_process_get_qmp_address(XeQemuProcess *self); /* "unix:PATH" */
GPid xe_qemu_process_get_pid(XeQemuProcess *self);
guint64 xe_qemu_process_get_start_time(XeQemuProcess *self);
gboolean xe_qemu_process_has_exited(XeQemuProcess *self);
/* The exit status (0..255), or -signal when killed. Valid once exited. */
int xe_qemu_process_get_exit_status(XeQemuProcess *self);

/* A client connected to this QEMU's monitor and negotiated. */
void xe_qemu_process_connect_async(XeQemuProcess *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
XeQmpClient *xe_qemu_process_connect_finish(XeQemuProcess *self, GAsyncResult *result,
                                            GError **error);

/* SIGKILL, for a process that must not live on (a destination that lost); through systemd
 * when the daemon may not signal it (another user's, no CAP_KILL). */
void xe_qemu_process_kill(XeQemuProcess *self);

/* The QEMU that xe_qemu_process_spawn() started with its monitor at @qmp_socket, found by
 * its command line (world-readable, unlike another user's fds); 0 if none runs. */
guint xe_qemu_pid_by_monitor(const char *qmp_socket);
/* The process that serves the unix socket @path: a QEMU this daemon (or an earlier one)
 * started, by its command line; else the one that holds the listening socket (its fds:
 * root with CAP_SYS_PTRACE, or the same user), else the one that listened on it
 * (SO_PEERCRED: a QEMU that bound its own monitor); 0 if none. */
guint xe_qmp_socket_server_pid(const char *path);

/* Process identity: the start time (clock ticks since boot, /proc/PID/stat field 22),
 * 0 when there is no such process. A pid with the recorded start time is that process. */
guint64 xe_process_start_time(guint pid);
gboolean xe_process_is_alive(guint pid, guint64 start_time);

/* Blocking: SIGKILL to process @pid if it is still the one started at @start_time (through
 * systemd when the daemon may not signal it), then waits up to @timeout_ms for it to end. TRUE once
 * it is gone (or was already). */
gboolean xe_process_kill_wait(guint pid, guint64 start_time, guint timeout_ms);

G_END_DECLS
