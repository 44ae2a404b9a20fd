/* xe-test-lab.c: the two-host lab (scripts/lab) seen from a test: the script's
 * commands, xe-migratectl on either host, xe-sim's control files, the
 * transport cut, and what runs in a host's namespace read from /proc and asked
 * over QMP, not from the daemons. No assertions: callers decide.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-lab.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xe-qmp-client.h"
#include "xe-qmp-commands.h"

struct _XeTestLab {
    char *script;
    char *dir;
    char *build_root;
    char *migratectl;
    GHashTable *env;      /* DIR/env */
    GHashTable *log_seen; /* log path -> bytes already scanned for sanitizer reports */
};

XeTestLab *
xe_test_lab_new(const char *script, const char *dir, const char *build_root, const char *migratectl)
{
    XeTestLab *lab = g_new0(XeTestLab, 1);

    lab->script = g_strdup(script);
    lab->dir = g_strdup(dir);
    lab->build_root = g_strdup(build_root);
    lab->migratectl = g_strdup(migratectl);
    lab->env = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    lab->log_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return lab;
}

void
xe_test_lab_free(XeTestLab *lab)
{
    if (lab == NULL)
        return;
    g_free(lab->script);
    g_free(lab->dir);
    g_free(lab->build_root);
    g_free(lab->migratectl);
    g_hash_table_unref(lab->env);
    g_hash_table_unref(lab->log_seen);
    g_free(lab);
}

const char *
xe_test_lab_dir(XeTestLab *lab)
{
    return lab->dir;
}

/* scripts/lab */

static gboolean
read_env(XeTestLab *lab, GError **error)
{
    g_autofree char *path = g_build_filename(lab->dir, "env", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, error))
        return FALSE;
    g_hash_table_remove_all(lab->env);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        char *eq = strchr(lines[i], '=');

        if (eq != NULL)
            g_hash_table_insert(lab->env, g_strndup(lines[i], (gsize)(eq - lines[i])),
                                g_strdup(eq + 1));
    }
    return TRUE;
}

static gboolean
run_script(XeTestLab *lab, const char *const *extra_env, GError **error, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) envp = g_get_environ();
    g_autofree char *out = NULL, *err = NULL;
    va_list ap;
    int status;

    g_ptr_array_add(argv, lab->script);
    va_start(ap, error);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i++) {
        g_autofree char *key = g_strndup(extra_env[i], strcspn(extra_env[i], "="));
        const char *eq = strchr(extra_env[i], '=');

        envp = g_environ_setenv(envp, key, eq != NULL ? eq + 1 : "", TRUE);
    }
    if (!g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                      &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "scripts/lab %s failed: %s%s",
                    (char *)argv->pdata[1], out, err);
        return FALSE;
    }
    return TRUE;
}

gboolean
xe_test_lab_up(XeTestLab *lab, const char *const *extra_env, GError **error)
{
    g_hash_table_remove_all(lab->log_seen);
    return run_script(lab, extra_env, error, "up", lab->dir, lab->build_root, NULL) &&
           read_env(lab, error);
}

void
xe_test_lab_down(XeTestLab *lab)
{
    (void)run_script(lab, NULL, NULL, "down", lab->dir, NULL);
    g_hash_table_remove_all(lab->env);
}

gboolean
xe_test_lab_daemon(XeTestLab *lab, const char *what, char host, GError **error)
{
    const char h[2] = { host, '\0' };

    if (!run_script(lab, NULL, error, what, lab->dir, h, lab->build_root, NULL))
        return FALSE;
    return !g_str_equal(what, "start") || read_env(lab, error); /* the new daemon's pid */
}

const char *
xe_test_lab_env(XeTestLab *lab, const char *key)
{
    return g_hash_table_lookup(lab->env, key);
}

static const char *
env_of(XeTestLab *lab, char host, const char *what)
{
    g_autofree char *key = g_strdup_printf("XE_LAB_%c_%s", g_ascii_toupper(host), what);

    return xe_test_lab_env(lab, key);
}

const char *
xe_test_lab_bus(XeTestLab *lab, char host)
{
    return env_of(lab, host, "BUS");
}

const char *
xe_test_lab_sim(XeTestLab *lab, char host)
{
    return env_of(lab, host, "SIM");
}

const char *
xe_test_lab_ns(XeTestLab *lab, char host)
{
    return env_of(lab, host, "NS");
}

char *
xe_test_lab_path(XeTestLab *lab, char host, const char *sub)
{
    const char h[2] = { host, '\0' };

    return g_build_filename(lab->dir, h, sub, NULL);
}

GPid
xe_test_lab_daemon_pid(XeTestLab *lab, char host)
{
    g_autofree char *path = xe_test_lab_path(lab, host, "daemon.pid");
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    return (GPid)g_ascii_strtoll(text, NULL, 10);
}

GDBusConnection *
xe_test_lab_bus_connect(XeTestLab *lab, char host, GError **error)
{
    const char *address = xe_test_lab_bus(lab, host);

    if (address == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the lab has no bus for %c", host);
        return NULL;
    }
    return g_dbus_connection_new_for_address_sync(
        address,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, error);
}

/* xe-migratectl */

static int
ctl_va(XeTestLab *lab, char host, char **out, GError **error, gboolean json, va_list ap)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *stdout_text = NULL, *stderr_text = NULL;
    const char *bus = xe_test_lab_bus(lab, host);
    int status;

    g_ptr_array_add(argv, lab->migratectl);
    g_ptr_array_add(argv, (char *)"--bus");
    g_ptr_array_add(argv, (char *)(bus != NULL ? bus : "unix:path=/nonexistent"));
    if (json)
        g_ptr_array_add(argv, (char *)"--json");
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (char *)a);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_text,
                      &stderr_text, &status, error))
        return -1;
    if (out != NULL)
        *out = g_strconcat(stdout_text, stderr_text, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
xe_test_lab_ctl(XeTestLab *lab, char host, char **out, ...)
{
    va_list ap;
    int code;

    va_start(ap, out);
    code = ctl_va(lab, host, out, NULL, FALSE, ap);
    va_end(ap);
    return code;
}

JsonNode *
xe_test_lab_ctl_json(XeTestLab *lab, char host, GError **error, ...)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *out = NULL;
    va_list ap;
    int code;

    va_start(ap, error);
    code = ctl_va(lab, host, &out, error, TRUE, ap);
    va_end(ap);
    if (code < 0 && out == NULL)
        return NULL;
    if (code != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "xe-migratectl on %c: exit %d: %s", host,
                    code, g_strstrip(out));
        return NULL;
    }
    if (!json_parser_load_from_data(parser, out, -1, error))
        return NULL;
    return json_node_copy(json_parser_get_root(parser));
}

/* xe-sim */

gboolean
xe_test_lab_sim_write(XeTestLab *lab, char host, const char *file, const char *value,
                      GError **error)
{
    g_autofree char *path = g_strdup_printf("%s/sim/%s", xe_test_lab_sim(lab, host), file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    int e;

    if (fd < 0) {
        e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s: %s", path, g_strerror(e));
        return FALSE;
    }
    n = write(fd, value, strlen(value));
    e = errno;
    close(fd);
    if (n != (ssize_t)strlen(value)) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s <- %s: %s", path, value,
                    g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

/* /proc */

gboolean
xe_test_pid_alive(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *paren;

    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL))
        return FALSE;
    paren = strrchr(stat, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static int
parent_of(const char *pid, char *comm, gsize comm_size)
{
    g_autofree char *path = g_strdup_printf("/proc/%s/stat", pid);
    g_autofree char *stat = NULL;
    const char *open_paren, *close_paren;
    int ppid = 0;
    char state;

    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return -1;
    open_paren = strchr(stat, '(');
    close_paren = strrchr(stat, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
        return -1;
    g_strlcpy(comm, open_paren + 1, MIN(comm_size, (gsize)(close_paren - open_paren)));
    if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
        return -1;
    return ppid;
}

guint
xe_test_lab_cut_transport(XeTestLab *lab, char host)
{
    GPid daemon = xe_test_lab_daemon_pid(lab, host);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint killed = 0;

    while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
        char comm[64];

        if (g_ascii_isdigit(name[0]) && parent_of(name, comm, sizeof(comm)) == daemon &&
            g_str_has_prefix(comm, "systemd-stdio"))
            killed += kill((pid_t)atoi(name), SIGKILL) == 0;
    }
    return killed;
}

void
xe_test_lab_qemu_free(XeTestLabQemu *q)
{
    if (q == NULL)
        return;
    g_free(q->comm);
    g_free(q->name);
    g_free(q->vf);
    g_free(q->qmp);
    g_free(q);
}

static guint64
netns_inode_of(const char *link_path)
{
    char target[64];
    ssize_t n = readlink(link_path, target, sizeof(target) - 1);
    unsigned long long ino = 0;

    if (n <= 0)
        return 0;
    target[n] = '\0';
    return sscanf(target, "net:[%llu]", &ino) == 1 ? ino : 0;
}

/* The path of the listening unix socket among @pid's descriptors, from its
 * namespace's /proc/PID/net/unix (Flags 00010000: accepting connections). */
static char *
listening_socket_of(GPid pid)
{
    g_autofree char *fd_dir = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autofree char *unix_path = g_strdup_printf("/proc/%d/net/unix", (int)pid);
    g_autofree char *table = NULL;
    g_autoptr(GHashTable) inodes = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_autoptr(GDir) dir = g_dir_open(fd_dir, 0, NULL);
    g_auto(GStrv) lines = NULL;
    const char *fd;

    while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
        g_autofree char *link = g_build_filename(fd_dir, fd, NULL);
        char target[64];
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        unsigned long ino;

        if (n <= 0)
            continue;
        target[n] = '\0';
        if (sscanf(target, "socket:[%lu]", &ino) == 1)
            g_hash_table_add(inodes, GSIZE_TO_POINTER(ino));
    }
    if (!g_file_get_contents(unix_path, &table, NULL, NULL))
        return NULL;
    lines = g_strsplit(table, "\n", -1);
    for (guint i = 1; lines[i] != NULL; i++) {
        unsigned long flags = 0, ino = 0;
        char path[4096];

        /* Num RefCount Protocol Flags Type St Inode Path */
        if (sscanf(lines[i], "%*s %*s %*s %lx %*s %*s %lu %4095s", &flags, &ino, path) == 3 &&
            (flags & 0x10000) != 0 && g_hash_table_contains(inodes, GSIZE_TO_POINTER(ino)))
            return g_strdup(path);
    }
    return NULL;
}

static XeTestLabQemu *
qemu_of(GPid pid, const char *comm)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    XeTestLabQemu *q;

    if (!g_file_get_contents(path, &cmdline, &len, NULL))
        return NULL;
    for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1)
        g_ptr_array_add(args, cmdline + off);
    q = g_new0(XeTestLabQemu, 1);
    q->pid = pid;
    q->comm = g_strdup(comm);
    for (guint i = 0; i < args->len; i++) {
        const char *a = args->pdata[i];
        const char *next = i + 1 < args->len ? args->pdata[i + 1] : "";
        const char *at;

        if (g_str_equal(a, "-name") && q->name == NULL)
            q->name = g_strndup(next, strcspn(next, ","));
        else if (g_str_equal(a, "-incoming"))
            q->incoming = TRUE;
        else if ((at = strstr(a, "opt/xe-vf,string=")) != NULL && q->vf == NULL)
            q->vf = g_strndup(at + strlen("opt/xe-vf,string="),
                              strcspn(at + strlen("opt/xe-vf,string="), ","));
        else if (g_str_has_prefix(a, "vfio-pci,") && (at = strstr(a, "host=")) != NULL &&
                 q->vf == NULL)
            q->vf = g_strndup(at + 5, strcspn(at + 5, ","));
    }
    q->qmp = listening_socket_of(pid);
    return q;
}

GPtrArray *
xe_test_lab_qemus(XeTestLab *lab, char host)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)xe_test_lab_qemu_free);
    const char *ns = xe_test_lab_ns(lab, host);
    g_autofree char *ns_path = g_strdup_printf("/run/netns/%s", ns != NULL ? ns : "");
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    struct stat st;
    const char *name;

    if (ns == NULL || stat(ns_path, &st) < 0)
        return out;
    /* what `ip netns pids NS` does: every process whose net namespace is that inode */
    while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
        g_autofree char *link = g_strdup_printf("/proc/%s/ns/net", name);
        char comm[64];
        XeTestLabQemu *q;
        GPid pid;

        if (!g_ascii_isdigit(name[0]) || netns_inode_of(link) != (guint64)st.st_ino)
            continue;
        pid = (GPid)atoi(name);
        if (parent_of(name, comm, sizeof(comm)) < 0 || !xe_test_pid_alive(pid))
            continue;
        if (!g_str_has_prefix(comm, "qemu-system-") && !g_str_equal(comm, "xe-fake-qemu"))
            continue;
        q = qemu_of(pid, comm);
        if (q != NULL)
            g_ptr_array_add(out, q);
    }
    return out;
}

/* QMP */

typedef struct {
    GAsyncResult *result;
} Wait;

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Wait *w = user_data;

    w->result = g_object_ref(result);
}

static gboolean
timer_fired(gpointer data)
{
    return G_SOURCE_REMOVE;
}

static gboolean
wait_done(GMainContext *context, Wait *w, gint64 deadline)
{
    while (w->result == NULL && g_get_monotonic_time() < deadline) {
        GSource *timer =
            g_timeout_source_new((guint)MAX(1, (deadline - g_get_monotonic_time()) / 1000 + 1));

        g_source_set_callback(timer, timer_fired, NULL, NULL);
        g_source_attach(timer, context);
        g_main_context_iteration(context, TRUE);
        g_source_destroy(timer);
        g_source_unref(timer);
    }
    return w->result != NULL;
}

char *
xe_test_qmp_status(const char *path, guint timeout_ms, GError **error)
{
    GMainContext *context = g_main_context_new();
    g_autoptr(XeQmpClient) client = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autofree char *address = g_strdup_printf("unix:%s", path);
    g_autoptr(XeQmpStatus) status = NULL;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    Wait *w = g_new0(Wait, 1);
    char *out = NULL;

    g_main_context_push_thread_default(context);
    client = xe_qmp_client_new();
    xe_qmp_client_connect_async(client, address, cancellable, wait_cb, w);
    if (!wait_done(context, w, deadline)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "no QMP greeting in %u ms (the monitor is held by another client, or QEMU "
                    "hangs)",
                    timeout_ms);
        goto abandon;
    }
    if (!xe_qmp_client_connect_finish(client, w->result, error)) {
        if (error != NULL && *error != NULL && strstr((*error)->message, "temporarily unavailable"))
            g_prefix_error(error, "its monitor is held by another client (listen backlog full): ");
        goto out;
    }
    g_clear_object(&w->result);
    xe_qmp_query_status_async(client, cancellable, wait_cb, w);
    if (!wait_done(context, w, deadline)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "query-status: no answer in %u ms",
                    timeout_ms);
        goto abandon;
    }
    status = xe_qmp_query_status_finish(client, w->result, error);
    if (status != NULL)
        out = g_strdup(status->status);
out:
    xe_qmp_client_close(client);
    g_clear_object(&w->result);
    g_free(w);
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
    return out;

abandon:
    /* the operation still owns @w: cancel it and let it finish, within a bound */
    g_cancellable_cancel(cancellable);
    xe_qmp_client_close(client);
    if (wait_done(context, w, g_get_monotonic_time() + G_USEC_PER_SEC)) {
        g_clear_object(&w->result);
        g_free(w);
    } /* else it is left to a context nobody iterates again: leaked, never touched */
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
    return NULL;
}

/* sanitizer reports */

static void
scan_log(XeTestLab *lab, const char *path, GString *reports)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    gsize seen = GPOINTER_TO_SIZE(g_hash_table_lookup(lab->log_seen, path));
    const char *from;

    if (!g_file_get_contents(path, &text, &len, NULL))
        return;
    from = text + (seen <= len ? seen : 0);
    if (strstr(from, "Sanitizer") != NULL || strstr(from, "runtime error:") != NULL)
        g_string_append_printf(reports, "%s reports:\n%s\n", path, from);
    g_hash_table_insert(lab->log_seen, g_strdup(path), GSIZE_TO_POINTER(len));
}

char *
xe_test_lab_sanitizer_reports(XeTestLab *lab)
{
    g_autoptr(GString) reports = g_string_new(NULL);

    for (const char *h = "ab"; *h != '\0'; h++) {
        g_autofree char *daemon_log = xe_test_lab_path(lab, *h, "daemon.log");
        g_autofree char *run = xe_test_lab_path(lab, *h, "run");
        g_autoptr(GDir) dir = g_dir_open(run, 0, NULL);
        const char *name;

        scan_log(lab, daemon_log, reports);
        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *path = g_build_filename(run, name, NULL);

            if (g_str_has_suffix(name, ".log"))
                scan_log(lab, path, reports);
        }
    }
    return reports->len > 0 ? g_string_free(g_steal_pointer(&reports), FALSE) : NULL;
}
