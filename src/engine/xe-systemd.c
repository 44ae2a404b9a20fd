/* xe-systemd.c: QEMU in a transient service of systemd's (StartTransientUnit on the system
 * bus), its sandbox, the wait for its start (JobRemoved), and signals through systemd.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-systemd"

#include "xe-systemd.h"

#include <signal.h>

#include <gio/gunixfdlist.h>

#include "xe-error.h"

#define SYSTEMD         "org.freedesktop.systemd1"
#define SYSTEMD_PATH    "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER SYSTEMD ".Manager"
#define CALL_TIMEOUT_MS 10000

static GDBusConnection *
system_bus(GError **error)
{
    GDBusConnection *bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);

    if (bus == NULL)
        g_prefix_error(error, "reaching systemd on the system bus: ");
    return bus;
}

/* The sandbox of a QEMU: the user's, no capability and no way to gain one, only its own
 * devices, the system read-only (its disks and memory files live in /var, /srv or elsewhere:
 * a drop-in in xe-qemu-.service.d/ widens or narrows this for every VM). QEMU adds its own
 * seccomp filter (-sandbox). */
static void
add_sandbox(GVariantBuilder *props, const XeServiceSpec *spec)
{
    static const char *const fixed[] = { "/dev/kvm", "/dev/vfio/vfio", "/dev/net/tun",
                                         "/dev/vhost-net", NULL };
    static const char *const arch[] = { "native", NULL };
    GVariantBuilder devices;

    g_variant_builder_init(&devices, G_VARIANT_TYPE("a(ss)"));
    for (guint i = 0; fixed[i] != NULL; i++)
        g_variant_builder_add(&devices, "(ss)", fixed[i], "rw");
    for (guint i = 0; spec->devices != NULL && spec->devices[i] != NULL; i++)
        g_variant_builder_add(&devices, "(ss)", spec->devices[i], "rw");
    g_variant_builder_add(props, "(sv)", "DevicePolicy", g_variant_new_string("closed"));
    g_variant_builder_add(props, "(sv)", "DeviceAllow", g_variant_builder_end(&devices));
    g_variant_builder_add(props, "(sv)", "NoNewPrivileges", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "CapabilityBoundingSet", g_variant_new_uint64(0));
    g_variant_builder_add(props, "(sv)", "ProtectSystem", g_variant_new_string("full"));
    g_variant_builder_add(props, "(sv)", "ProtectHome", g_variant_new_string("read-only"));
    g_variant_builder_add(props, "(sv)", "ProtectKernelTunables", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "ProtectKernelModules", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "ProtectKernelLogs", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "ProtectControlGroups", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "ProtectClock", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "ProtectHostname", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "RestrictRealtime", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "RestrictSUIDSGID", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "LockPersonality", g_variant_new_boolean(TRUE));
    g_variant_builder_add(props, "(sv)", "KeyringMode", g_variant_new_string("private"));
    g_variant_builder_add(props, "(sv)", "SystemCallArchitectures", g_variant_new_strv(arch, -1));
    /* VFIO pins guest memory for DMA, counted against this (no CAP_IPC_LOCK) */
    g_variant_builder_add(props, "(sv)", "LimitMEMLOCK", g_variant_new_uint64(G_MAXUINT64));
    g_variant_builder_add(props, "(sv)", "LimitMEMLOCKSoft", g_variant_new_uint64(G_MAXUINT64));
}

static GVariant *
properties(const XeServiceSpec *spec, GUnixFDList *fds, GError **error)
{
    GVariantBuilder props;
    int in, out = -1;

    in = g_unix_fd_list_append(fds, spec->stdin_fd, error);
    if (in < 0 ||
        (spec->log_fd >= 0 && (out = g_unix_fd_list_append(fds, spec->log_fd, error)) < 0))
        return NULL;
    g_variant_builder_init(&props, G_VARIANT_TYPE("a(sv)"));
    g_variant_builder_add(&props, "(sv)", "Description", g_variant_new_string(spec->description));
    /* started once its program runs: a QEMU binary that cannot be executed fails the job */
    g_variant_builder_add(&props, "(sv)", "Type", g_variant_new_string("exec"));
    g_variant_builder_add(&props, "(sv)", "ExecStart",
                          g_variant_new_parsed("[(%s, %^as, false)]", spec->argv[0], spec->argv));
    if (spec->user != NULL)
        g_variant_builder_add(&props, "(sv)", "User", g_variant_new_string(spec->user));
    g_variant_builder_add(&props, "(sv)", "StandardInputFileDescriptor", g_variant_new_handle(in));
    if (out >= 0) {
        g_variant_builder_add(&props, "(sv)", "StandardOutputFileDescriptor",
                              g_variant_new_handle(out));
        g_variant_builder_add(&props, "(sv)", "StandardErrorFileDescriptor",
                              g_variant_new_handle(out));
    }
    /* at shutdown, stopped after the daemon (which may be committing a migration) */
    g_variant_builder_add(
        &props, "(sv)", "Before",
        g_variant_new_strv((const char *const[]){ "xe-migrated.service", NULL }, -1));
    /* gone once it has ended, failed or not: the daemon watches the process itself */
    g_variant_builder_add(&props, "(sv)", "CollectMode",
                          g_variant_new_string("inactive-or-failed"));
    add_sandbox(&props, spec);
    return g_variant_builder_end(&props);
}

typedef struct {
    char *job;    /* the job's path, once systemd answered */
    char *result; /* the job's, once removed */
    gboolean unsubscribed;
} JobWait;

static void
job_removed(GDBusConnection *connection, const char *sender, const char *path,
            const char *interface, const char *signal, GVariant *parameters, gpointer data)
{
    JobWait *w = data;
    const char *job = NULL, *result = NULL;

    g_variant_get(parameters, "(u&o&s&s)", NULL, &job, NULL, &result);
    if (w->job != NULL && g_str_equal(job, w->job) && w->result == NULL)
        w->result = g_strdup(result);
}

static void
job_wait_unsubscribed(gpointer data)
{
    ((JobWait *)data)->unsubscribed = TRUE;
}

static gboolean
timed_out(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Manager.@method(@args), which queues a job, and the wait for the job's end (JobRemoved:
 * systemd sends it to the client that queued the job), @timeout_ms at most, in a context of
 * this thread's own. The job's result ("done", "failed", ...) in *@result, NULL when it did
 * not end in time. FALSE when the call itself failed. */
static gboolean
run_job(GDBusConnection *bus, const char *method, GVariant *args, GUnixFDList *fds,
        guint timeout_ms, char **result, GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GVariant) reply = NULL;
    JobWait w = { 0 };
    gboolean expired = FALSE;
    guint subscription;

    g_main_context_push_thread_default(context);
    /* subscribed before the job exists: its end cannot be missed */
    subscription = g_dbus_connection_signal_subscribe(bus, SYSTEMD, SYSTEMD_MANAGER, "JobRemoved",
                                                      SYSTEMD_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                      job_removed, &w, job_wait_unsubscribed);
    reply = g_dbus_connection_call_with_unix_fd_list_sync(
        bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, method, args, G_VARIANT_TYPE("(o)"),
        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, fds, NULL, NULL, error);
    if (reply != NULL) {
        g_autoptr(GSource) deadline = g_timeout_source_new(timeout_ms);

        g_variant_get(reply, "(o)", &w.job);
        g_source_set_callback(deadline, timed_out, &expired, NULL);
        g_source_attach(deadline, context);
        while (w.result == NULL && !expired)
            g_main_context_iteration(context, TRUE);
        g_source_destroy(deadline);
    }
    g_dbus_connection_signal_unsubscribe(bus, subscription);
    /* deliveries already queued hold &w: they go before it does */
    while (!w.unsubscribed)
        g_main_context_iteration(context, TRUE);
    g_main_context_pop_thread_default(context);
    g_free(w.job);
    *result = w.result;
    return reply != NULL;
}

/* Property @name of @interface on the unit at @unit_path, if it is of @type. */
static GVariant *
unit_property(GDBusConnection *bus, const char *unit_path, const char *interface, const char *name,
              const GVariantType *type)
{
    g_autoptr(GVariant) reply = NULL, value = NULL;

    reply = g_dbus_connection_call_sync(bus, SYSTEMD, unit_path, "org.freedesktop.DBus.Properties",
                                        "Get", g_variant_new("(ss)", interface, name),
                                        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                        CALL_TIMEOUT_MS, NULL, NULL);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(v)", &value);
    return g_variant_is_of_type(value, type) ? g_steal_pointer(&value) : NULL;
}

static guint
main_pid(GDBusConnection *bus, const char *unit_path)
{
    g_autoptr(GVariant) pid =
        unit_property(bus, unit_path, SYSTEMD ".Service", "MainPID", G_VARIANT_TYPE_UINT32);

    return pid != NULL ? g_variant_get_uint32(pid) : 0;
}

static char *
unit_id(GDBusConnection *bus, const char *unit_path)
{
    g_autoptr(GVariant) id =
        unit_property(bus, unit_path, SYSTEMD ".Unit", "Id", G_VARIANT_TYPE_STRING);

    return id != NULL ? g_variant_dup_string(id, NULL) : NULL;
}

static char *
unit_path(GDBusConnection *bus, const char *method, GVariant *args, GError **error)
{
    g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
        bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, method, args, G_VARIANT_TYPE("(o)"),
        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
    char *path = NULL;

    if (reply != NULL)
        g_variant_get(reply, "(o)", &path);
    return path;
}

static gboolean
is_ours(const char *unit)
{
    return unit != NULL && g_str_has_prefix(unit, XE_SYSTEMD_UNIT_PREFIX) &&
           g_str_has_suffix(unit, ".service");
}

static gboolean
stop_service(GDBusConnection *bus, const char *unit, guint timeout_ms, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GVariant) killed = NULL;
    g_autofree char *result = NULL;

    g_return_val_if_fail(is_ours(unit), FALSE);
    /* everything in it, at once: the stop then has nothing to wait for */
    killed = g_dbus_connection_call_sync(bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "KillUnit",
                                         g_variant_new("(ssi)", unit, "all", SIGKILL), NULL,
                                         G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
    if (!run_job(bus, "StopUnit", g_variant_new("(ss)", unit, "replace"), NULL, timeout_ms, &result,
                 &local)) {
        g_autofree char *name = g_dbus_error_get_remote_error(local);

        if (g_strcmp0(name, "org.freedesktop.systemd1.NoSuchUnit") == 0)
            return TRUE; /* gone already */
        g_dbus_error_strip_remote_error(local);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "stopping %s: %s", unit, local->message);
        return FALSE;
    }
    if (result == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_TIMED_OUT, "%s did not stop within %u ms", unit,
                    timeout_ms);
        return FALSE;
    }
    if (!g_str_equal(result, "done")) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "stopping %s: %s", unit, result);
        return FALSE;
    }
    return TRUE;
}

gboolean
xe_systemd_stop_service(const char *unit, guint timeout_ms, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);

    return bus != NULL && stop_service(bus, unit, timeout_ms, error);
}

guint
xe_systemd_main_pid(const char *unit)
{
    g_autoptr(GDBusConnection) bus = system_bus(NULL);
    g_autofree char *path = NULL;

    if (bus == NULL)
        return 0;
    path = unit_path(bus, "GetUnit", g_variant_new("(s)", unit), NULL);
    return path != NULL ? main_pid(bus, path) : 0;
}

void
xe_systemd_unconfirmed(GError **error, const char *unit, const GError *cleanup)
{
    g_autofree char *message = NULL;

    if (error == NULL || *error == NULL)
        return;
    message = g_strdup_printf("%s; and %s may still run (%s): its VF stays reserved until it "
                              "is stopped (systemctl stop %s) and released",
                              (*error)->message, unit, cleanup->message, unit);
    g_clear_error(error);
    g_set_error_literal(error, XE_ERROR, XE_ERROR_UNCONFIRMED, message);
}

guint
xe_systemd_start_service(const XeServiceSpec *spec, guint timeout_ms, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(GError) local = NULL, cleanup = NULL;
    g_autofree char *result = NULL, *path = NULL;
    GVariant *props;
    guint pid = 0;

    if (bus == NULL)
        return 0;
    props = properties(spec, fds, error);
    if (props == NULL)
        return 0;
    if (!run_job(bus, "StartTransientUnit",
                 g_variant_new("(ss@a(sv)a(sa(sv)))", spec->unit, "fail", props, NULL), fds,
                 timeout_ms, &result, &local)) {
        g_autofree char *name = g_dbus_error_get_remote_error(local);
        /* systemd refused it: nothing was made. Any other failure (no answer, a lost
         * connection) may have come after systemd made the unit. */
        gboolean refused = name != NULL && !g_str_equal(name, "org.freedesktop.DBus.Error.NoReply");

        g_dbus_error_strip_remote_error(local);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "systemd did not start %s: %s", spec->unit,
                    local->message);
        if (!refused && !stop_service(bus, spec->unit, timeout_ms, &cleanup))
            xe_systemd_unconfirmed(error, spec->unit, cleanup);
        return 0;
    }
    if (result == NULL)
        g_set_error(error, XE_ERROR, XE_ERROR_TIMED_OUT, "systemd did not start %s within %u ms",
                    spec->unit, timeout_ms);
    else if (!g_str_equal(result, "done"))
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED,
                    "systemd could not start %s (%s): %s did not run; journalctl -u %s tells why",
                    spec->unit, result, spec->argv[0], spec->unit);
    else if ((path = unit_path(bus, "GetUnit", g_variant_new("(s)", spec->unit), NULL)) == NULL ||
             (pid = main_pid(bus, path)) == 0)
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "%s (%s) exited as soon as it started",
                    spec->argv[0], spec->unit);
    /* nobody would watch what it started, or starts late: no QEMU must come of it */
    if (pid == 0 && !stop_service(bus, spec->unit, timeout_ms, &cleanup))
        xe_systemd_unconfirmed(error, spec->unit, cleanup);
    return pid;
}

gboolean
xe_systemd_kill(guint pid, const char *unit, int signo, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *path = NULL, *id = NULL;
    g_autoptr(GError) local = NULL;

    if (bus == NULL)
        return FALSE;
    path = unit_path(bus, "GetUnitByPID", g_variant_new("(u)", pid), &local);
    id = path != NULL ? unit_id(bus, path) : NULL;
    /* a QEMU's service, the one asked for, and its main process: nothing else */
    if (path == NULL || !is_ours(id) || (unit != NULL && g_strcmp0(id, unit) != 0) ||
        main_pid(bus, path) != pid) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "process %u is not the main process of %s%s%s", pid,
                    unit != NULL ? unit : "a QEMU's service (" XE_SYSTEMD_UNIT_PREFIX "*)",
                    local != NULL ? ": " : "", local != NULL ? local->message : "");
        return FALSE;
    }
    reply = g_dbus_connection_call_sync(bus, SYSTEMD, path, SYSTEMD ".Unit", "Kill",
                                        g_variant_new("(si)", "main", signo), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
    if (reply == NULL)
        g_prefix_error(error, "signalling process %u through systemd (%s): ", pid, id);
    return reply != NULL;
}
