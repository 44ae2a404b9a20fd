/* xe-test-qemu.c: real QEMU processes for the qmp suite and benchmarks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-qemu.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xe-test-util.h"

#define MONITOR_FD 3

const char *
xe_test_qemu_binary(void)
{
    static char *binary;

    if (binary == NULL) {
        const char *env = g_getenv("QEMU_BIN");
        binary = env != NULL ? g_strdup(env) : g_find_program_in_path("qemu-system-x86_64");
    }
    return binary;
}

const char *
xe_test_qemu_accel(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return "tcg";
    close(fd);
    return "kvm";
}

static int
listen_unix(const char *path, GError **error)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "socket path too long: %s",
                    path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no CLOEXEC: QEMU inherits it */
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "listening on %s: %s", path,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

XeTestQemu *
xe_test_qemu_start(const char *name, const char *memory, gboolean incoming, GError **error)
{
    g_autoptr(XeTestQemu) qemu = g_new0(XeTestQemu, 1);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *sock = NULL;
    g_autofree char *log = NULL;
    int fd;

    if (xe_test_qemu_binary() == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                            "qemu-system-x86_64 not found");
        return NULL;
    }
    qemu->name = g_strdup(name);
    qemu->dir = xe_test_mkdtemp("xe-qemu");
    sock = g_build_filename(qemu->dir, "qmp.sock", NULL);
    log = g_build_filename(qemu->dir, "qemu.log", NULL);
    qemu->qmp_address = g_strdup_printf("unix:%s", sock);
    fd = listen_unix(sock, error);
    if (fd < 0)
        return NULL;

    g_ptr_array_add(argv, g_strdup(xe_test_qemu_binary()));
    g_ptr_array_add(argv, g_strdup("-name"));
    g_ptr_array_add(argv, g_strdup(name));
    g_ptr_array_add(argv, g_strdup("-machine"));
    g_ptr_array_add(argv, g_strdup_printf("q35,accel=%s", xe_test_qemu_accel()));
    g_ptr_array_add(argv, g_strdup("-m"));
    g_ptr_array_add(argv, g_strdup(memory));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    g_ptr_array_add(argv, g_strdup("-no-user-config"));
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    g_ptr_array_add(argv, g_strdup("-chardev"));
    g_ptr_array_add(argv, g_strdup_printf("socket,id=qmp,fd=%d,server=on,wait=off", MONITOR_FD));
    g_ptr_array_add(argv, g_strdup("-mon"));
    g_ptr_array_add(argv, g_strdup("chardev=qmp,mode=control"));
    if (incoming) {
        g_ptr_array_add(argv, g_strdup("-incoming"));
        g_ptr_array_add(argv, g_strdup("defer"));
    }
    g_ptr_array_add(argv, NULL);

    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    g_subprocess_launcher_take_fd(launcher, fd, MONITOR_FD);
    g_subprocess_launcher_set_stdout_file_path(launcher, log);
    g_subprocess_launcher_set_stderr_file_path(launcher, log);
    qemu->process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, error);
    if (qemu->process == NULL)
        return NULL;
    return g_steal_pointer(&qemu);
}

static void
store_result(GObject *source, GAsyncResult *result, gpointer user_data)
{
    *(GAsyncResult **)user_data = g_object_ref(result);
}

XeQmpClient *
xe_test_qemu_connect(XeTestQemu *qemu, GError **error)
{
    g_autoptr(XeQmpClient) client = xe_qmp_client_new();
    g_autoptr(GAsyncResult) result = NULL;

    /* The connect has its own deadline: the client's greeting timeout. */
    xe_qmp_client_connect_async(client, qemu->qmp_address, NULL, store_result, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    if (!xe_qmp_client_connect_finish(client, result, error)) {
        g_prefix_error(error, "connecting to QEMU '%s': ", qemu->name);
        return NULL;
    }
    return g_steal_pointer(&client);
}

void
xe_test_qemu_free(XeTestQemu *qemu)
{
    if (qemu == NULL)
        return;
    if (qemu->process != NULL) {
        g_subprocess_force_exit(qemu->process);
        (void)g_subprocess_wait(qemu->process, NULL, NULL);
        g_object_unref(qemu->process);
    }
    xe_test_rmtree(qemu->dir);
    g_free(qemu->dir);
    g_free(qemu->qmp_address);
    g_free(qemu->name);
    g_free(qemu);
}
