/* xe-test-bus.c: private buses and daemon processes for tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-bus.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xe-test-util.h"

typedef struct {
    int fd;
} Setup;

static void
child_setup(gpointer data)
{
    Setup *s = data;

    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (s->fd >= 0)
        dup2(s->fd, 3);
}

XeTestBus *
xe_test_bus_start(void)
{
    XeTestBus *bus = g_new0(XeTestBus, 1);
    g_autofree char *conf = NULL, *text = NULL, *sock = NULL;
    g_autoptr(GError) error = NULL;
    char line[512] = { 0 };
    struct pollfd pfd;
    int pipefd[2];
    Setup s;
    ssize_t n;
    const char *argv[] = { "dbus-daemon", NULL, "--nofork", "--print-address=3", NULL };

    bus->dir = xe_test_mkdtemp("xe-bus");
    chmod(bus->dir, 0755); /* other users (the unprivileged tests) must reach the socket */
    sock = g_build_filename(bus->dir, "bus", NULL);
    conf = g_build_filename(bus->dir, "bus.conf", NULL);
    text = g_strdup_printf(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
        "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>custom</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>"
        "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>"
        "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n",
        sock);
    ck_assert(g_file_set_contents(conf, text, -1, NULL));
    argv[1] = g_strdup_printf("--config-file=%s", conf);
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    s.fd = pipefd[1];
    ck_assert_msg(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, child_setup, &s,
                                &bus->pid, &error),
                  "starting dbus-daemon: %s", error ? error->message : "");
    g_free((char *)argv[1]);
    close(pipefd[1]);
    pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
    ck_assert_msg(poll(&pfd, 1, 20000) == 1, "dbus-daemon did not start");
    n = read(pipefd[0], line, sizeof(line) - 1);
    close(pipefd[0]);
    ck_assert_msg(n > 0, "dbus-daemon printed no address");
    bus->address = g_strdup(g_strstrip(line));
    chmod(sock, 0777);
    return bus;
}

GDBusConnection *
xe_test_bus_connect(const char *address)
{
    g_autoptr(GError) error = NULL;
    GDBusConnection *conn =
        g_dbus_connection_new_for_address_sync(address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);

    ck_assert_msg(conn != NULL, "connecting to %s: %s", address, error ? error->message : "");
    return conn;
}

void
xe_test_bus_stop(XeTestBus *bus)
{
    if (bus == NULL)
        return;
    kill(bus->pid, SIGTERM);
    (void)waitpid(bus->pid, NULL, 0);
    xe_test_rmtree(bus->dir);
    g_free(bus->dir);
    g_free(bus->address);
    g_free(bus);
}

static gpointer
notify_reader(gpointer data)
{
    XeTestDaemon *d = data;

    for (;;) {
        struct pollfd fds[2] = { { .fd = d->notify_fd, .events = POLLIN },
                                 { .fd = d->wake[0], .events = POLLIN } };
        char buf[4096];
        ssize_t n;

        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return NULL;
        if (fds[1].revents != 0)
            return NULL;
        if ((fds[0].revents & POLLIN) == 0)
            continue;
        n = recv(d->notify_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        g_mutex_lock(&d->lock);
        g_string_append_printf(d->notified, "%s\n", buf);
        g_cond_broadcast(&d->cond);
        g_mutex_unlock(&d->lock);
    }
}

/* how many times @what stands in @text */
static guint
occurrences(const char *text, const char *what)
{
    guint n = 0;

    for (const char *at = strstr(text, what); at != NULL; at = strstr(at + strlen(what), what))
        n++;
    return n;
}

gboolean
xe_test_daemon_wait_notify_count(XeTestDaemon *d, const char *what, guint n, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gboolean found;

    g_mutex_lock(&d->lock);
    while (!(found = occurrences(d->notified->str, what) >= n))
        if (!g_cond_wait_until(&d->cond, &d->lock, deadline))
            break;
    found = occurrences(d->notified->str, what) >= n;
    g_mutex_unlock(&d->lock);
    return found;
}

gboolean
xe_test_daemon_wait_notify(XeTestDaemon *d, const char *what, guint timeout_ms)
{
    return xe_test_daemon_wait_notify_count(d, what, 1, timeout_ms);
}

XeTestDaemon *
xe_test_daemon_start(XeTestBus *bus, const char *const *argv_extra)
{
    XeTestDaemon *d = g_new0(XeTestDaemon, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) envp = g_get_environ();
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    Setup s = { -1 };
    int log_fd;

    d->notified = g_string_new(NULL);
    g_mutex_init(&d->lock);
    g_cond_init(&d->cond);
    ck_assert_int_eq(pipe2(d->wake, O_CLOEXEC), 0);
    d->notify_path = g_strdup_printf("%s/notify-%d-%u", bus->dir, getpid(), g_random_int());
    d->log_path = g_strdup_printf("%s/daemon-%u.log", bus->dir, g_random_int());
    d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_strlcpy(sun.sun_path, d->notify_path, sizeof(sun.sun_path));
    ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    envp = g_environ_setenv(envp, "NOTIFY_SOCKET", d->notify_path, TRUE);

    g_ptr_array_add(argv, (char *)g_getenv("XE_MIGRATED"));
    g_ptr_array_add(argv, (char *)"--bus");
    g_ptr_array_add(argv, bus->address);
    for (guint i = 0; argv_extra != NULL && argv_extra[i] != NULL; i++)
        g_ptr_array_add(argv, (char *)argv_extra[i]);
    g_ptr_array_add(argv, NULL);
    log_fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(g_spawn_async_with_fds(NULL, (char **)argv->pdata, envp,
                                         G_SPAWN_DO_NOT_REAP_CHILD, child_setup, &s, &d->pid, -1,
                                         log_fd, log_fd, &error),
                  "starting xe-migrated: %s", error ? error->message : "");
    close(log_fd);
    d->reader = g_thread_new("notify", notify_reader, d);
    if (!xe_test_daemon_wait_notify(d, "READY=1", 30000)) {
        g_autofree char *log = NULL;
        g_file_get_contents(d->log_path, &log, NULL, NULL);
        ck_abort_msg("xe-migrated never sent READY=1; its output:\n%s", log ? log : "");
    }
    return d;
}

int
xe_test_daemon_stop(XeTestDaemon *d)
{
    int status = 0;

    if (d->pid == 0)
        return 0;
    kill(d->pid, SIGTERM);
    (void)waitpid(d->pid, &status, 0);
    d->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
xe_test_daemon_free(XeTestDaemon *d)
{
    if (d == NULL)
        return;
    (void)xe_test_daemon_stop(d);
    (void)!write(d->wake[1], "x", 1);
    g_thread_join(d->reader);
    close(d->wake[0]);
    close(d->wake[1]);
    close(d->notify_fd);
    unlink(d->notify_path);
    g_free(d->notify_path);
    g_free(d->log_path);
    g_string_free(d->notified, TRUE);
    g_mutex_clear(&d->lock);
    g_cond_clear(&d->cond);
    g_free(d);
}
