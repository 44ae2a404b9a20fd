/* xe-qemu.c: starting QEMU with a pre-bound monitor socket, as a child (fork and exec) or
 * in a transient systemd service, attaching to one started before (a pidfd), watching
 * either until it exits, and killing it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qemu"

#include "xe-qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#include "xe-error.h"
#include "xe-systemd.h"

#define MONITOR_FD 3

struct _XeQemuProcess {
    GObject parent_instance;
    GSubprocess *process; /* a child of ours, or NULL when attached */
    int pidfd;            /* attached: the process, watched for its exit */
    GSource *pidfd_source;
    GPid pid;
    guint64 start_time;
    char *qmp_socket;
    gboolean owns_socket; /* made by xe-migrated: removed once the process has exited */
    char *qmp_address;
    gboolean exited;
    int exit_status;
    GCancellable *wait_cancellable;
    XeQemuUser user; /* who it runs as (spawned with one) */
};

enum { SIGNAL_EXITED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(XeQemuProcess, xe_qemu_process, G_TYPE_OBJECT)

static void
xe_qemu_process_dispose(GObject *object)
{
    XeQemuProcess *self = XE_QEMU_PROCESS(object);

    if (self->wait_cancellable != NULL)
        g_cancellable_cancel(self->wait_cancellable);
    if (self->pidfd_source != NULL) {
        g_source_destroy(self->pidfd_source);
        g_clear_pointer(&self->pidfd_source, g_source_unref);
    }
    G_OBJECT_CLASS(xe_qemu_process_parent_class)->dispose(object);
}

static void
xe_qemu_process_finalize(GObject *object)
{
    XeQemuProcess *self = XE_QEMU_PROCESS(object);

    g_clear_object(&self->process);
    g_clear_object(&self->wait_cancellable);
    if (self->pidfd >= 0)
        close(self->pidfd);
    /* The socket stays while its QEMU may live: a daemon restarting (or one whose
     * object goes first) re-adopts the VM through it. */
    g_free(self->qmp_socket);
    g_free(self->qmp_address);
    G_OBJECT_CLASS(xe_qemu_process_parent_class)->finalize(object);
}

static void
xe_qemu_process_init(XeQemuProcess *self)
{
    self->pidfd = -1;
}

static void
xe_qemu_process_class_init(XeQemuProcessClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = xe_qemu_process_dispose;
    G_OBJECT_CLASS(klass)->finalize = xe_qemu_process_finalize;
    /* XeQemuProcess::exited: (status), 0..255, or -signal. */
    signals[SIGNAL_EXITED] = g_signal_new("exited", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static int
listen_unix(const char *path, GError **error)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "QMP socket path '%s' is longer than a unix socket allows", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    /* A socket left by a QEMU that ended may go; one somebody listens on may not. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
        close(fd);
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "QMP socket %s is in use by a running process: not replacing it", path);
        return -1;
    }
    if (fd >= 0)
        close(fd);
    (void)unlink(path);
    /* Not CLOEXEC: QEMU inherits it (as fd 3). */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "listening on %s: %s", path, g_strerror(e));
        return -1;
    }
    return fd;
}

static void
exited(XeQemuProcess *self, int status)
{
    self->exited = TRUE;
    self->exit_status = status;
    g_debug("QEMU %d exited: %d", (int)self->pid, status);
    if (self->owns_socket && self->qmp_socket != NULL)
        (void)unlink(self->qmp_socket);
    g_signal_emit(self, signals[SIGNAL_EXITED], 0, status);
}

static void
process_waited(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(XeQemuProcess) self = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_subprocess_wait_finish(G_SUBPROCESS(source), result, &error))
        return; /* cancelled: the object is going away */
    exited(self, g_subprocess_get_if_exited(self->process)
                     ? g_subprocess_get_exit_status(self->process)
                     : -g_subprocess_get_term_sig(self->process));
}

static gboolean
pidfd_ready(int fd, GIOCondition condition, gpointer user_data)
{
    XeQemuProcess *self = user_data;

    g_clear_pointer(&self->pidfd_source, g_source_unref);
    /* not our child: its status went to its parent */
    exited(self, -1);
    return G_SOURCE_REMOVE;
}

XeQemuProcess *
xe_qemu_process_attach(guint pid, guint64 start_time, const char *qmp_socket, gboolean owns_socket,
                       GError **error)
{
    g_autoptr(XeQemuProcess) self = g_object_new(XE_TYPE_QEMU_PROCESS, NULL);

    self->pid = (GPid)pid;
    self->start_time = start_time;
    self->qmp_socket = g_strdup(qmp_socket);
    self->owns_socket = owns_socket;
    self->qmp_address = g_strdup_printf("unix:%s", qmp_socket);
    self->pidfd = pid != 0 ? pidfd_open((pid_t)pid, 0) : -1;
    if (self->pidfd < 0) {
        int e = pid != 0 ? errno : ESRCH;

        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "watching QEMU process %u: %s", pid,
                    g_strerror(e));
        return NULL;
    }
    /* The pid may have been reused since it was recorded: the start time tells. */
    if (!xe_process_is_alive(pid, start_time)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "QEMU process %u has exited", pid);
        return NULL;
    }
    if (self->start_time == 0)
        self->start_time = xe_process_start_time(pid);
    self->pidfd_source = g_unix_fd_source_new(self->pidfd, G_IO_IN);
    g_source_set_callback(self->pidfd_source, (GSourceFunc)(void (*)(void))pidfd_ready, self, NULL);
    g_source_attach(self->pidfd_source, NULL);
    return g_steal_pointer(&self);
}

/* The monitor's chardev id: one per socket path, so that the QEMU serving a socket can be
 * told by its command line, which anyone may read (xe_qemu_pid_by_monitor()), when its fds
 * are another user's to see. */
static char *
monitor_id(const char *qmp_socket)
{
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, qmp_socket, -1);

    return g_strdup_printf("xe-qmp-%.16s", sum);
}

/* QEMU's own seccomp filter, set once it has started: everything a VM needs, and none of
 * what a compromised QEMU would want (exec, setuid, sched/rlimit changes, obsolete calls). */
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* In the child, between fork and exec: the user's groups, gid and uid, in that order (the
 * uid last: it takes the right to change the others). Leaving uid 0 drops every capability
 * (no SECBIT_KEEP_CAPS); no_new_privs keeps a setuid binary from giving any back. Only
 * async-signal-safe calls; a failure ends the child before QEMU runs. */
static void
drop_to_user(gpointer data)
{
    const XeQemuUser *user = data;
    static const char failed[] = "xe-migrated: cannot switch to the user QEMU runs as\n";

    if (setgroups(user->n_groups, user->groups) < 0 ||
        setresgid(user->gid, user->gid, user->gid) < 0 ||
        setresuid(user->uid, user->uid, user->uid) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        (void)!write(STDERR_FILENO, failed, sizeof(failed) - 1);
        _exit(126);
    }
}

/* QEMU's command line: @argv, its monitor on fd @monitor_fd (listening), its sandbox, and
 * for an incoming VM the deferred migration, paused. */
static char **
full_argv(const char *const *argv, const char *qmp_socket, int monitor_fd, gboolean incoming)
{
    g_autoptr(GStrvBuilder) full = g_strv_builder_new();
    g_autofree char *id = monitor_id(qmp_socket);
    g_autofree char *chardev =
        g_strdup_printf("socket,id=%s,fd=%d,server=on,wait=off", id, monitor_fd);
    g_autofree char *mon = g_strdup_printf("chardev=%s,mode=control", id);

    g_strv_builder_addv(full, (const char **)argv);
    g_strv_builder_add_many(full, "-chardev", chardev, "-mon", mon, NULL);
    g_strv_builder_add_many(full, "-sandbox", SANDBOX, NULL);
    /* Paused after the load: it runs only once the source has completed (libvirt's Finish),
     * so the VM never runs on both hosts. */
    if (incoming)
        g_strv_builder_add_many(full, "-S", "-incoming", "defer", NULL);
    return g_strv_builder_end(full);
}

/* The monitor socket of QEMU @argv, listening at @qmp_socket: its fd, -1 with @error set. */
static int
open_monitor(const char *const *argv, const char *qmp_socket, GError **error)
{
    if (argv == NULL || argv[0] == NULL) {
        g_set_error_literal(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "no QEMU command given");
        return -1;
    }
    return listen_unix(qmp_socket, error);
}

static XeQemuProcess *
process_new(const char *const *argv, const char *qmp_socket, int *fd, GError **error)
{
    g_autoptr(XeQemuProcess) self = g_object_new(XE_TYPE_QEMU_PROCESS, NULL);

    *fd = open_monitor(argv, qmp_socket, error);
    if (*fd < 0)
        return NULL;
    self->qmp_socket = g_strdup(qmp_socket);
    self->owns_socket = TRUE;
    self->qmp_address = g_strdup_printf("unix:%s", qmp_socket);
    return g_steal_pointer(&self);
}

XeQemuProcess *
xe_qemu_process_spawn(const char *const *argv, const char *qmp_socket, gboolean incoming,
                      const char *log_path, const XeQemuUser *user, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_auto(GStrv) full = NULL;
    int fd;
    g_autoptr(XeQemuProcess) self = process_new(argv, qmp_socket, &fd, error);

    if (self == NULL)
        return NULL;
    full = full_argv(argv, qmp_socket, MONITOR_FD, incoming);
    launcher = g_subprocess_launcher_new(log_path != NULL ? G_SUBPROCESS_FLAGS_NONE
                                                          : G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_take_fd(launcher, fd, MONITOR_FD);
    if (log_path != NULL) {
        g_subprocess_launcher_set_stdout_file_path(launcher, log_path);
        g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
    }
    if (user != NULL) {
        self->user = *user;
        g_subprocess_launcher_set_child_setup(launcher, drop_to_user, &self->user, NULL);
    }
    self->process = g_subprocess_launcher_spawnv(launcher, (const char *const *)full, error);
    if (self->process == NULL) {
        g_prefix_error(error, "starting %s: ", argv[0]);
        (void)unlink(qmp_socket);
        return NULL;
    }
    self->pid = (GPid)atoi(g_subprocess_get_identifier(self->process));
    self->start_time = xe_process_start_time((guint)self->pid);
    self->wait_cancellable = g_cancellable_new();
    g_subprocess_wait_async(self->process, self->wait_cancellable, process_waited,
                            g_object_ref(self));
    return g_steal_pointer(&self);
}

char *
xe_qemu_unit_name(const char *qmp_socket)
{
    g_autofree char *id = monitor_id(qmp_socket);

    return g_strdup_printf("xe-qemu-%s.service", id + strlen("xe-qmp-"));
}

guint
xe_qemu_start_service(const char *const *argv, const char *qmp_socket, gboolean incoming,
                      const char *log_path, const char *user, const char *const *devices,
                      GError **error)
{
    g_auto(GStrv) full = NULL;
    g_autofree char *unit = xe_qemu_unit_name(qmp_socket);
    g_autofree char *description = NULL;
    int fd, log_fd = -1;
    guint pid;
    XeServiceSpec spec = { 0 };

    fd = open_monitor(argv, qmp_socket, error);
    if (fd < 0)
        return 0;
    if (log_path != NULL) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
        if (log_fd < 0) {
            int e = errno;

            close(fd);
            (void)unlink(qmp_socket);
            g_propagate_error(
                error, xe_error_new_errno(XE_ERROR_FAILED, e, "opening QEMU's log %s", log_path));
            return 0;
        }
    }
    /* the monitor on standard input: systemd hands a service no other descriptor */
    full = full_argv(argv, qmp_socket, STDIN_FILENO, incoming);
    description = g_strdup_printf("QEMU started by xe-migrated (monitor %s)", qmp_socket);
    spec = (XeServiceSpec){ .unit = unit,
                            .description = description,
                            .argv = (const char *const *)full,
                            .user = user,
                            .stdin_fd = fd,
                            .log_fd = log_fd,
                            .devices = devices };
    pid = xe_systemd_start_service(&spec, 30000, error);
    close(fd);
    if (log_fd >= 0)
        close(log_fd);
    if (pid == 0) {
        /* a QEMU that may still run keeps its socket: a restart finds it by it */
        if (!g_error_matches(*error, XE_ERROR, XE_ERROR_UNCONFIRMED))
            (void)unlink(qmp_socket);
        g_prefix_error(error, "starting %s: ", argv[0]);
    }
    return pid;
}

gboolean
xe_qemu_stop_service(const char *qmp_socket, GError **error)
{
    g_autofree char *unit = xe_qemu_unit_name(qmp_socket);

    if (!xe_systemd_stop_service(unit, 30000, error))
        return FALSE;
    (void)unlink(qmp_socket);
    return TRUE;
}

gboolean
xe_qemu_service_has_pid(const char *qmp_socket, guint pid)
{
    g_autofree char *unit = xe_qemu_unit_name(qmp_socket);

    return xe_systemd_main_pid(unit) == pid;
}

const char *
xe_qemu_process_get_qmp_address(XeQemuProcess *self)
{
    return self->qmp_address;
}

GPid
xe_qemu_process_get_pid(XeQemuProcess *self)
{
    return self->pid;
}

guint64
xe_qemu_process_get_start_time(XeQemuProcess *self)
{
    return self->start_time;
}

gboolean
xe_qemu_process_has_exited(XeQemuProcess *self)
{
    return self->exited;
}

int
xe_qemu_process_get_exit_status(XeQemuProcess *self)
{
    return self->exit_status;
}

static void
connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    if (!xe_qmp_client_connect_finish(XE_QMP_CLIENT(source), result, &error))
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, g_object_ref(source), g_object_unref);
}

void
xe_qemu_process_connect_async(XeQemuProcess *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();

    xe_qmp_client_connect_async(client, self->qmp_address, cancellable, connected, task);
}

XeQmpClient *
xe_qemu_process_connect_finish(XeQemuProcess *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
kill_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeQemuProcess *self = source;
    g_autofree char *unit = xe_qemu_unit_name(self->qmp_socket);
    g_autoptr(GError) error = NULL;

    if (!xe_systemd_kill((guint)self->pid, unit, SIGKILL, &error))
        g_warning("killing QEMU %d: %s", (int)self->pid, error->message);
    g_task_return_boolean(task, TRUE);
}

void
xe_qemu_process_kill(XeQemuProcess *self)
{
    g_autoptr(GTask) task = NULL;

    if (self->exited)
        return;
    if (self->process != NULL) {
        g_subprocess_force_exit(self->process);
        return;
    }
    if (pidfd_send_signal(self->pidfd, SIGKILL, NULL, 0) == 0 || errno == ESRCH)
        return;
    if (errno != EPERM) {
        g_warning("killing QEMU %d: %s", (int)self->pid, g_strerror(errno));
        return;
    }
    /* another user's, and the daemon has no CAP_KILL: systemd, which started it, kills it */
    task = g_task_new(self, NULL, NULL, NULL);
    g_task_run_in_thread(task, kill_in_thread);
}

static guint peer_pid(const char *path);

/* The inode of the socket listening at @path, from /proc/net/unix; 0 if none. */
static guint64
listening_inode(const char *path)
{
    g_autofree char *table = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/net/unix", &table, NULL, NULL))
        return 0;
    lines = g_strsplit(table, "\n", -1);
    for (guint i = 1; lines[i] != NULL; i++) {
        /* Num RefCount Protocol Flags Type St Inode Path; Flags 00010000: __SO_ACCEPTCON */
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " ", 0);
        g_autoptr(GPtrArray) cols = g_ptr_array_new();

        for (guint j = 0; f[j] != NULL; j++)
            if (*f[j] != '\0')
                g_ptr_array_add(cols, f[j]);
        if (cols->len == 8 && g_str_equal(cols->pdata[7], path) &&
            g_str_equal(cols->pdata[3], "00010000"))
            return g_ascii_strtoull(cols->pdata[6], NULL, 10);
    }
    return 0;
}

/* A process (not us) with an fd on socket @inode. */
static guint
socket_holder(guint64 inode)
{
    g_autofree char *want = g_strdup_printf("socket:[%" G_GUINT64_FORMAT "]", inode);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
        g_autofree char *fds = NULL;
        g_autoptr(GDir) dir = NULL;
        const char *fd;

        if (!g_ascii_isdigit(name[0]) || (pid_t)atoi(name) == getpid())
            continue;
        fds = g_strdup_printf("/proc/%s/fd", name);
        dir = g_dir_open(fds, 0, NULL);
        while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
            g_autofree char *link_path = g_build_filename(fds, fd, NULL);
            g_autofree char *target = g_file_read_link(link_path, NULL);

            if (g_strcmp0(target, want) == 0)
                return (guint)atoi(name);
        }
    }
    return 0;
}

guint
xe_qemu_pid_by_monitor(const char *qmp_socket)
{
    g_autofree char *id = monitor_id(qmp_socket);
    g_autofree char *want = g_strdup_printf("socket,id=%s,fd=", id);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
        g_autofree char *path = NULL, *cmdline = NULL;
        gsize len = 0;

        if (!g_ascii_isdigit(name[0]) || (pid_t)atoi(name) == getpid())
            continue;
        path = g_strdup_printf("/proc/%s/cmdline", name);
        if (!g_file_get_contents(path, &cmdline, &len, NULL))
            continue;
        /* NUL-separated arguments: the chardev's is one of them, whole */
        for (gsize at = 0; at < len; at += strlen(cmdline + at) + 1)
            if (g_str_has_prefix(cmdline + at, want))
                return (guint)atoi(name);
    }
    return 0;
}

guint
xe_qmp_socket_server_pid(const char *path)
{
    guint64 inode;
    guint pid = xe_qemu_pid_by_monitor(path);

    if (pid != 0)
        return pid; /* one this daemon started: its command line names the socket */
    inode = listening_inode(path);
    pid = inode != 0 ? socket_holder(inode) : 0;
    if (pid != 0)
        return pid;
    return peer_pid(path);
}

static guint
peer_pid(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct ucred cred = { 0 };
    socklen_t len = sizeof(cred);
    int fd;
    guint pid = 0;

    if (strlen(path) >= sizeof(sun.sun_path))
        return 0;
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pid = (guint)cred.pid;
    close(fd);
    return pid;
}

guint64
xe_process_start_time(guint pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%u/stat", pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    const char *close;

    if (pid == 0 || !g_file_get_contents(path, &stat, NULL, NULL))
        return 0;
    /* "PID (COMM) STATE PPID ...": COMM may hold anything, so count from its last ')' */
    close = strrchr(stat, ')');
    if (close == NULL)
        return 0;
    fields = g_strsplit(close + 2, " ", 0);
    if (g_strv_length(fields) < 20 || g_str_equal(fields[0], "Z"))
        return 0;                                  /* a zombie has exited */
    return g_ascii_strtoull(fields[19], NULL, 10); /* field 22: starttime */
}

gboolean
xe_process_is_alive(guint pid, guint64 start_time)
{
    guint64 now = xe_process_start_time(pid);

    return now != 0 && (start_time == 0 || now == start_time);
}

gboolean
xe_process_kill_wait(guint pid, guint64 start_time, guint timeout_ms)
{
    int fd = pid != 0 ? pidfd_open((pid_t)pid, 0) : -1;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;

    if (fd < 0)
        return TRUE; /* no such process */
    /* the start time, read after the pidfd exists: the pid cannot be reused under us */
    if (!xe_process_is_alive(pid, start_time)) {
        close(fd);
        return TRUE;
    }
    if (pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno == EPERM) {
        g_autoptr(GError) error = NULL;

        if (!xe_systemd_kill(pid, NULL, SIGKILL, &error))
            g_warning("killing process %u: %s", pid, error->message);
    }
    do
        n = poll(&p, 1, (int)timeout_ms);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n > 0;
}
