/* xe-qemu.c: spawning QEMU with a pre-bound monitor socket, and watching it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qemu"

#include "xe-qemu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xe-error.h"

#define MONITOR_FD 3

struct _XeQemuProcess {
    GObject parent_instance;
    GSubprocess *process;
    char *qmp_socket;
    char *qmp_address;
    gboolean exited;
    int exit_status;
    GCancellable *wait_cancellable;
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
    G_OBJECT_CLASS(xe_qemu_process_parent_class)->dispose(object);
}

static void
xe_qemu_process_finalize(GObject *object)
{
    XeQemuProcess *self = XE_QEMU_PROCESS(object);

    g_clear_object(&self->process);
    g_clear_object(&self->wait_cancellable);
    if (self->qmp_socket != NULL)
        (void)unlink(self->qmp_socket);
    g_free(self->qmp_socket);
    g_free(self->qmp_address);
    G_OBJECT_CLASS(xe_qemu_process_parent_class)->finalize(object);
}

static void
xe_qemu_process_init(XeQemuProcess *self)
{
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
process_waited(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(XeQemuProcess) self = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_subprocess_wait_finish(G_SUBPROCESS(source), result, &error))
        return; /* cancelled: the object is going away */
    self->exited = TRUE;
    self->exit_status = g_subprocess_get_if_exited(self->process)
                            ? g_subprocess_get_exit_status(self->process)
                            : -g_subprocess_get_term_sig(self->process);
    g_debug("QEMU %s exited: %d", g_subprocess_get_identifier(self->process), self->exit_status);
    g_signal_emit(self, signals[SIGNAL_EXITED], 0, self->exit_status);
}

XeQemuProcess *
xe_qemu_process_spawn(const char *const *argv, const char *qmp_socket, gboolean incoming,
                      const char *log_path, GError **error)
{
    g_autoptr(XeQemuProcess) self = g_object_new(XE_TYPE_QEMU_PROCESS, NULL);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GPtrArray) full = g_ptr_array_new();
    g_autofree char *chardev =
        g_strdup_printf("socket,id=xe-qmp,fd=%d,server=on,wait=off", MONITOR_FD);
    int fd;

    if (argv == NULL || argv[0] == NULL) {
        g_set_error_literal(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "no QEMU command given");
        return NULL;
    }
    fd = listen_unix(qmp_socket, error);
    if (fd < 0)
        return NULL;
    self->qmp_socket = g_strdup(qmp_socket);
    self->qmp_address = g_strdup_printf("unix:%s", qmp_socket);

    for (guint i = 0; argv[i] != NULL; i++)
        g_ptr_array_add(full, (char *)argv[i]);
    g_ptr_array_add(full, (char *)"-chardev");
    g_ptr_array_add(full, chardev);
    g_ptr_array_add(full, (char *)"-mon");
    g_ptr_array_add(full, (char *)"chardev=xe-qmp,mode=control");
    if (incoming) {
        /* Paused after the load: it runs only once the source has completed (libvirt's
         * Finish), so the VM never runs on both hosts. */
        g_ptr_array_add(full, (char *)"-S");
        g_ptr_array_add(full, (char *)"-incoming");
        g_ptr_array_add(full, (char *)"defer");
    }
    g_ptr_array_add(full, NULL);

    launcher = g_subprocess_launcher_new(log_path != NULL ? G_SUBPROCESS_FLAGS_NONE
                                                          : G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_take_fd(launcher, fd, MONITOR_FD);
    if (log_path != NULL) {
        g_subprocess_launcher_set_stdout_file_path(launcher, log_path);
        g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
    }
    self->process = g_subprocess_launcher_spawnv(launcher, (const char *const *)full->pdata, error);
    if (self->process == NULL) {
        g_prefix_error(error, "starting %s: ", argv[0]);
        return NULL;
    }
    self->wait_cancellable = g_cancellable_new();
    g_subprocess_wait_async(self->process, self->wait_cancellable, process_waited,
                            g_object_ref(self));
    return g_steal_pointer(&self);
}

const char *
xe_qemu_process_get_qmp_address(XeQemuProcess *self)
{
    return self->qmp_address;
}

GPid
xe_qemu_process_get_pid(XeQemuProcess *self)
{
    const char *id = g_subprocess_get_identifier(self->process);

    return id != NULL ? (GPid)atoi(id) : 0;
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

void
xe_qemu_process_kill(XeQemuProcess *self)
{
    if (!self->exited)
        g_subprocess_force_exit(self->process);
}
