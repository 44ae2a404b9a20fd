/* xe-migrated.c: the xe-migrated daemon: configuration, the agent, its
 * D-Bus service, signals (SIGTERM/SIGINT stop, SIGHUP reloads) and sd_notify.
 *
 *   xe-migrated [--config FILE] [--sysfs-root DIR] [--state-dir DIR]
 *               [--hooks-dir DIR] [--bus system|session|ADDRESS]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migrated"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <libvirt-glib/libvirt-glib-event.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "xe-agent.h"
#include "xe-bus.h"
#include "xe-error.h"
#include "xe-service.h"

#define DEFAULT_CONFIG XE_SYSCONFDIR "/xe-migrated/xe-migrated.conf"
/* A stop drains the jobs (a migration cancelled puts its source VM back in running order; each
 * peer call is bounded): while work remains, systemd is told every DRAIN_NOTICE_S to wait
 * DRAIN_EXTEND_S more (EXTEND_TIMEOUT_USEC) past TimeoutStopSec=, for DRAIN_LIMIT_S at most.
 * Past that its timeout stands; KillMode=process spares the VMs. */
#define DRAIN_NOTICE_S 5
#define DRAIN_EXTEND_S 20
#define DRAIN_LIMIT_S  600

typedef struct {
    GMainLoop *loop;
    XeAgent *agent;
    XeEngine *engine;
    GDBusConnection *connection;
    guint owner; /* the bus name, taken once the host and its VMs are reconciled */
    XeService *service;
    char *config_path;
    char *state_dir;
    char *hooks_dir;
    gboolean config_required; /* --config given: it must exist */
    char *last_status;        /* STATUS goes out only when it changes */
    guint64 reloads;          /* reloads asked for so far */
    guint64 reload_applied;   /* the newest of them handed to the agent */
    gboolean reconciling;     /* a libvirt reconcile under way */
    guint metrics_source;     /* the metrics file's next write */
    gboolean metrics_writing; /* a write under way on a thread (one at a time) */
    gboolean metrics_dirty;   /* changed since that write began */
    char *metrics_path;       /* the file the last write went to */
    char *metrics_error;      /* the last write's failure, said once */
    gint64 stop_started;      /* monotonic µs: when the stop began draining the jobs */
    int exit_code;
} Daemon;

static void
daemon_status(Daemon *d)
{
    GPtrArray *vfs = xe_agent_get_vfs(d->agent);
    guint reserved = 0, pool = 0;
    g_autofree char *status = NULL;

    for (guint i = 0; i < vfs->len; i++) {
        XeAgentVf *vf = vfs->pdata[i];
        reserved += *vf->reservation != '\0';
        pool += vf->in_pool;
    }
    status = g_strdup_printf("%u PFs, %u VFs, %u reserved, %u in the warm pool, %u drift",
                             xe_agent_get_pfs(d->agent)->len, vfs->len, reserved, pool,
                             g_strv_length(xe_agent_get_drift(d->agent)));
    if (g_strcmp0(status, d->last_status) == 0)
        return;
    (void)sd_notifyf(0, "STATUS=%s", status);
    g_free(d->last_status);
    d->last_status = g_steal_pointer(&status);
}

/* Reads the configuration, applies the command line, and checks what it names on this host
 * (xe_config_check()). Blocking: at start, or in a thread. */
static XeConfig *
daemon_load_config(const char *path, gboolean required, const char *state_dir,
                   const char *hooks_dir, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(XeConfig) config = xe_config_load(path, &local);

    if (config == NULL) {
        if (required || !g_error_matches(local, XE_ERROR, XE_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&local));
            return NULL;
        }
        g_message("no %s: built-in defaults", path);
        config = xe_config_new_default();
    }
    if (state_dir != NULL)
        xe_config_override_dir(config, "state-dir", state_dir);
    if (hooks_dir != NULL)
        xe_config_override_dir(config, "hooks-dir", hooks_dir);
    if (!xe_config_check(config, error))
        return NULL;
    return g_steal_pointer(&config);
}

static void name_lost(GDBusConnection *connection, const char *name, gpointer user_data);

static void
sighup_reload_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Daemon *d = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_agent_reload_finish(XE_AGENT(source), result, &error))
        g_warning("reload: %s", error->message);
    (void)sd_notify(0, "READY=1");
    daemon_status(d);
}

/* A reload: read and checked in a thread, then converged by the agent. */
typedef struct {
    Daemon *daemon;
    guint64 seq; /* reloads read in threads may finish out of order: the newest wins */
    char *path;
    gboolean required;
    char *state_dir;
    char *hooks_dir;
} Load;

static void
load_free(Load *l)
{
    g_free(l->path);
    g_free(l->state_dir);
    g_free(l->hooks_dir);
    g_free(l);
}

static void
load_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Load *l = data;
    GError *error = NULL;
    XeConfig *config = daemon_load_config(l->path, l->required, l->state_dir, l->hooks_dir, &error);

    if (config == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, config, (GDestroyNotify)xe_config_free);
}

static void
reload_converged(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) outer = user_data;
    GError *error = NULL;

    if (!xe_agent_reload_finish(XE_AGENT(source), result, &error))
        g_task_return_error(outer, error);
    else
        g_task_return_boolean(outer, TRUE);
}

static void
reload_loaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *outer = user_data;
    Load *l = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;
    XeConfig *config = g_task_propagate_pointer(G_TASK(result), &error);

    if (config != NULL && l->seq < l->daemon->reload_applied) {
        /* a later reload read the file after this one, and is in force already */
        xe_config_free(config);
        g_task_return_boolean(outer, TRUE);
        g_object_unref(outer);
        return;
    }
    if (config == NULL) {
        g_warning("reload refused, keeping the configuration in force: %s", error->message);
        g_prefix_error(&error, "reload refused, the configuration in force is kept: ");
        g_task_return_error(outer, error);
        g_object_unref(outer);
        return;
    }
    l->daemon->reload_applied = l->seq;
    (void)sd_notify(0, "RELOADING=1");
    xe_agent_reload_async(l->daemon->agent, config, NULL, reload_converged, outer);
}

/* Re-reads the configuration; a bad one is refused and the one in force kept. Completes
 * (for xe_agent_reload_finish()) once the new layout is converged. */
static void
daemon_reload(gpointer data, GAsyncReadyCallback callback, gpointer user_data)
{
    Daemon *d = data;
    GTask *outer = g_task_new(d->agent, NULL, callback, user_data);
    g_autoptr(GTask) task = g_task_new(d->agent, NULL, reload_loaded, outer);
    Load *l = g_new0(Load, 1);

    l->daemon = d;
    l->seq = ++d->reloads;
    l->path = g_strdup(d->config_path);
    l->required = d->config_required;
    l->state_dir = g_strdup(d->state_dir);
    l->hooks_dir = g_strdup(d->hooks_dir);
    g_task_set_task_data(task, l, (GDestroyNotify)load_free);
    g_task_run_in_thread(task, load_thread);
}

/* systemd's watchdog (WatchdogSec= in the unit): pinged from the main loop, at half the
 * interval as sd_watchdog_enabled(3) advises, so a main loop that hangs stops pinging and
 * systemd restarts the daemon (its VMs, children of it, run on: KillMode=process). A stop
 * keeps pinging while the engine drains its jobs on this loop. */
static gboolean
watchdog_ping(gpointer user_data)
{
    (void)sd_notify(0, "WATCHDOG=1");
    return G_SOURCE_CONTINUE;
}

static gboolean
drain_notice(gpointer user_data)
{
    Daemon *d = user_data;
    guint n = xe_engine_get_draining(d->engine);

    if (n > 0 && g_get_monotonic_time() - d->stop_started < DRAIN_LIMIT_S * G_USEC_PER_SEC)
        (void)sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=stopping: %u task%s draining",
                         (unsigned long long)DRAIN_EXTEND_S * G_USEC_PER_SEC, n, n == 1 ? "" : "s");
    return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup(gpointer user_data)
{
    daemon_reload(user_data, sighup_reload_done, user_data);
    return G_SOURCE_CONTINUE;
}

static gboolean
on_stop(gpointer user_data)
{
    Daemon *d = user_data;

    (void)sd_notify(0, "STOPPING=1");
    g_main_loop_quit(d->loop);
    return G_SOURCE_REMOVE;
}

static void
name_acquired(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *d = user_data;

    (void)sd_notify(0, "READY=1");
    daemon_status(d);
    g_message("ready: %s", XE_BUS_NAME);
}

/* Prometheus: the metrics file (metrics-file), for node_exporter's textfile collector:
 * written whole to a temporary file beside it, made 0644 whatever the umask (the collector
 * runs as another user), and renamed into place, a second after a change, one write at a
 * time, on a thread; at a stop, once more after the jobs drained. A path that changed with
 * a reload leaves no file behind. */

static gboolean
metrics_write_file(const char *path, const char *text, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
    gsize left = strlen(text);
    int e;

    if (fd < 0) {
        e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s: %s", tmp, g_strerror(e));
        return FALSE;
    }
    while (left > 0) {
        ssize_t n = write(fd, text, left);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto failed;
        text += n;
        left -= (gsize)n;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
        goto failed;
    if (close(fd) < 0) {
        fd = -1;
        goto failed;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto failed;
    return TRUE;

failed:
    e = errno;
    if (fd >= 0)
        close(fd);
    (void)unlink(tmp);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "%s: %s", path, g_strerror(e));
    return FALSE;
}

static void
metrics_write_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    char **file = data; /* path, text, the previous path or NULL */
    GError *error = NULL;

    if (file[2] != NULL && g_strcmp0(file[2], file[0]) != 0)
        (void)unlink(file[2]);
    if (*file[0] == '\0' || metrics_write_file(file[0], file[1], &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static gboolean metrics_write(gpointer user_data);

static void
metrics_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Daemon *d = user_data;
    g_autoptr(GError) error = NULL;

    d->metrics_writing = FALSE;
    if (g_task_propagate_boolean(G_TASK(result), &error)) {
        g_clear_pointer(&d->metrics_error, g_free);
    } else if (g_strcmp0(d->metrics_error, error->message) != 0) {
        g_warning("metrics-file: %s (Prometheus sees the last file written)", error->message);
        g_free(d->metrics_error);
        d->metrics_error = g_strdup(error->message);
    }
    if (d->metrics_dirty && d->metrics_source == 0)
        d->metrics_source = g_timeout_add_seconds(1, metrics_write, d);
}

static gboolean
metrics_write(gpointer user_data)
{
    Daemon *d = user_data;
    const char *path = xe_agent_get_config(d->agent)->metrics_file;
    GTask *task;
    char **file;

    d->metrics_source = 0;
    if (d->metrics_writing) {
        d->metrics_dirty = TRUE; /* after this one */
        return G_SOURCE_REMOVE;
    }
    d->metrics_dirty = FALSE;
    if ((path == NULL || *path == '\0') && d->metrics_path == NULL)
        return G_SOURCE_REMOVE;
    file = g_new0(char *, 4);
    file[0] = g_strdup(path != NULL ? path : "");
    file[1] = xe_engine_metrics(d->engine);
    file[2] = g_steal_pointer(&d->metrics_path);
    d->metrics_path = *file[0] != '\0' ? g_strdup(file[0]) : NULL;
    task = g_task_new(NULL, NULL, metrics_written, d);
    g_task_set_task_data(task, file, (GDestroyNotify)g_strfreev);
    d->metrics_writing = TRUE;
    g_task_run_in_thread(task, metrics_write_thread);
    g_object_unref(task);
    return G_SOURCE_REMOVE;
}

static void
metrics_changed(Daemon *d)
{
    if (d->metrics_source == 0)
        d->metrics_source = g_timeout_add_seconds(1, metrics_write, d);
}

/* libvirt domains' reservations against the domains that run: at start, then every
 * libvirt-reconcile-s (xe_engine_libvirt_reconcile_async()) */

static void
reconciled(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Daemon *d = user_data;

    (void)xe_engine_libvirt_reconcile_finish(XE_ENGINE(source), result, NULL);
    d->reconciling = FALSE;
}

static gboolean
reconcile_libvirt(gpointer user_data)
{
    Daemon *d = user_data;
    guint every = xe_agent_get_config(d->agent)->libvirt_reconcile_s;

    if (!d->reconciling) {
        d->reconciling = TRUE;
        xe_engine_libvirt_reconcile_async(d->engine, every, NULL, reconciled, d);
    }
    g_timeout_add_seconds(every, reconcile_libvirt, d);
    return G_SOURCE_REMOVE;
}

static void
restored(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Daemon *d = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_engine_restore_finish(XE_ENGINE(source), result, &error))
        g_warning("re-adopting VMs: %s", error->message);
    reconcile_libvirt(d);
    xe_engine_libvirt_watch(d->engine);
    metrics_changed(d);
    /* Callers see the daemon only now: reservations reconciled, layout converged, VMs
     * re-adopted. It is ready once the name is its own. */
    d->owner = g_bus_own_name_on_connection(d->connection, XE_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                            name_acquired, name_lost, d, NULL);
}

static void
started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Daemon *d = user_data;
    g_autoptr(GError) error = NULL;

    if (!xe_agent_start_finish(XE_AGENT(source), result, &error))
        g_warning("start: %s", error->message);
    /* the VMs it ran before a restart, before saying it is ready */
    xe_engine_restore_async(d->engine, NULL, restored, d);
}

static void
on_changed(XeAgent *agent, Daemon *d)
{
    daemon_status(d);
    metrics_changed(d);
}

static void
name_lost(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *d = user_data;

    g_printerr("xe-migrated: lost or could not own the bus name %s (another xe-migrated "
               "running, or the bus policy forbids it)\n",
               name);
    d->exit_code = 1;
    g_main_loop_quit(d->loop);
}

int
main(int argc, char **argv)
{
    Daemon d = { 0 };
    g_autofree char *sysfs_root = NULL;
    g_autofree char *bus = NULL;
    gboolean version = FALSE;
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &d.config_path,
          "Configuration file (default " DEFAULT_CONFIG ")", "FILE" },
        { "sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &sysfs_root,
          "Where sysfs and debugfs are (default /)", "DIR" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &d.state_dir,
          "State directory (overrides the configuration)", "DIR" },
        { "hooks-dir", 0, 0, G_OPTION_ARG_FILENAME, &d.hooks_dir,
          "Hooks directory (overrides the configuration)", "DIR" },
        { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
          "system (default), session, or a bus address ($XE_MIGRATED_BUS)", "BUS" },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the xe-migrated host agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) connection = NULL;
    XeConfig *config;

    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("xe-migrated: %s (see --help)\n", error->message);
        return 2;
    }
    if (version) {
        printf("xe-migrated %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (bus == NULL && g_getenv("XE_MIGRATED_BUS") != NULL)
        bus = g_strdup(g_getenv("XE_MIGRATED_BUS"));
    d.config_required = d.config_path != NULL;
    if (d.config_path == NULL)
        d.config_path = g_strdup(DEFAULT_CONFIG);

    config = daemon_load_config(d.config_path, d.config_required, d.state_dir, d.hooks_dir, &error);
    if (config == NULL) {
        g_printerr("xe-migrated: refusing to start: %s\n", error->message);
        return 1;
    }
    d.agent = xe_agent_new(sysfs_root != NULL ? sysfs_root : "/", config, &error);
    if (d.agent == NULL) {
        g_printerr("xe-migrated: %s\n", error->message);
        return 1;
    }
    connection = xe_bus_connect(bus, &error);
    if (connection == NULL) {
        g_printerr("xe-migrated: connecting to the %s bus: %s\n", bus != NULL ? bus : "system",
                   error->message);
        return 1;
    }
    d.loop = g_main_loop_new(NULL, FALSE);
    /* libvirt's events (a migration's job-completed) and keepalives run on this loop; set
     * before the engine opens its first libvirt connection */
    gvir_event_register();
    d.engine = xe_engine_new(d.agent);
    d.connection = connection;
    d.service = xe_service_new(d.agent, d.engine, connection, &error);
    if (d.service == NULL) {
        g_printerr("xe-migrated: exporting the D-Bus service: %s\n", error->message);
        return 1;
    }
    xe_service_set_reload_func(d.service, daemon_reload, &d);
    g_signal_connect(d.agent, "changed", G_CALLBACK(on_changed), &d);
    g_signal_connect_swapped(d.engine, "metrics-changed", G_CALLBACK(metrics_changed), &d);
    g_unix_signal_add(SIGTERM, on_stop, &d);
    g_unix_signal_add(SIGINT, on_stop, &d);
    g_unix_signal_add(SIGHUP, on_sighup, &d);
    {
        uint64_t usec = 0;

        if (sd_watchdog_enabled(0, &usec) > 0)
            g_timeout_add((guint)MAX(usec / 2000, 1), watchdog_ping, NULL);
    }
    xe_agent_start_async(d.agent, NULL, started, &d);

    g_main_loop_run(d.loop);

    /* Running jobs are cancelled and waited for: no source VM is left paused. */
    d.stop_started = g_get_monotonic_time();
    drain_notice(&d);
    {
        guint notices = g_timeout_add_seconds(DRAIN_NOTICE_S, drain_notice, &d);

        xe_engine_shutdown(d.engine);
        g_source_remove(notices);
    }
    /* the jobs the stop ended are counted: one last write */
    g_clear_handle_id(&d.metrics_source, g_source_remove);
    while (d.metrics_writing)
        g_main_context_iteration(NULL, TRUE);
    metrics_write(&d);
    while (d.metrics_writing)
        g_main_context_iteration(NULL, TRUE);
    if (d.owner != 0)
        g_bus_unown_name(d.owner);
    xe_service_free(d.service);
    g_object_unref(d.engine);
    g_object_unref(d.agent);
    g_main_loop_unref(d.loop);
    g_free(d.config_path);
    g_free(d.state_dir);
    g_free(d.hooks_dir);
    g_free(d.last_status);
    g_free(d.metrics_error);
    g_free(d.metrics_path);
    return d.exit_code;
}
