/* xe-systemd.c: QEMU in a transient service of systemd's (StartTransientUnit on the system
 * bus), its sandbox, the wait for its start (JobRemoved), and signals through systemd.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-systemd"

#include "xe-systemd.h"

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
    /* gone once it has ended, failed or not: the daemon watches the process itself */
    g_variant_builder_add(&props, "(sv)", "CollectMode",
                          g_variant_new_string("inactive-or-failed"));
    add_sandbox(&props, spec);
    return g_variant_builder_end(&props);
}

typedef struct {
    const char *job;
    char *result; /* the job's, once removed */
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

static gboolean
timed_out(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static guint
main_pid(GDBusConnection *bus, const char *unit_path, GError **error)
{
    g_autoptr(GVariant) reply = NULL, value = NULL;

    reply = g_dbus_connection_call_sync(bus, SYSTEMD, unit_path, "org.freedesktop.DBus.Properties",
                                        "Get", g_variant_new("(ss)", SYSTEMD ".Service", "MainPID"),
                                        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                        CALL_TIMEOUT_MS, NULL, error);
    if (reply == NULL)
        return 0;
    g_variant_get(reply, "(v)", &value);
    return g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32) ? g_variant_get_uint32(value) : 0;
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

guint
xe_systemd_start_service(const XeServiceSpec *spec, guint timeout_ms, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autoptr(GMainContext) context = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GSource) deadline = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *job = NULL, *path = NULL;
    JobWait w = { 0 };
    gboolean expired = FALSE;
    GVariant *props;
    guint subscription, pid;

    if (bus == NULL)
        return 0;
    props = properties(spec, fds, error);
    if (props == NULL)
        return 0;
    /* JobRemoved comes to this thread's own context, subscribed before the job exists */
    context = g_main_context_new();
    g_main_context_push_thread_default(context);
    subscription = g_dbus_connection_signal_subscribe(bus, SYSTEMD, SYSTEMD_MANAGER, "JobRemoved",
                                                      SYSTEMD_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                      job_removed, &w, NULL);
    /* signals go to subscribers only; "already subscribed" is no error here */
    g_autoptr(GVariant) sub =
        g_dbus_connection_call_sync(bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", NULL,
                                    NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
    reply = g_dbus_connection_call_with_unix_fd_list_sync(
        bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit",
        g_variant_new("(ss@a(sv)a(sa(sv)))", spec->unit, "fail", props, NULL),
        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, fds, NULL, NULL, &local);
    if (reply != NULL) {
        g_variant_get(reply, "(o)", &job);
        w.job = job;
        deadline = g_timeout_source_new(timeout_ms);
        g_source_set_callback(deadline, timed_out, &expired, NULL);
        g_source_attach(deadline, context);
        while (w.result == NULL && !expired)
            g_main_context_iteration(context, TRUE);
        g_source_destroy(deadline);
    }
    g_dbus_connection_signal_unsubscribe(bus, subscription);
    g_main_context_pop_thread_default(context);

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(local);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "systemd did not start %s: %s", spec->unit,
                    local->message);
        return 0;
    }
    if (w.result == NULL) {
        /* nobody would watch what it starts late: no QEMU must come of it */
        g_autoptr(GVariant) stopped =
            g_dbus_connection_call_sync(bus, SYSTEMD, SYSTEMD_PATH, SYSTEMD_MANAGER, "StopUnit",
                                        g_variant_new("(ss)", spec->unit, "replace"), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);

        g_set_error(error, XE_ERROR, XE_ERROR_TIMED_OUT,
                    "systemd did not start %s within %u ms (job %s)%s", spec->unit, timeout_ms, job,
                    stopped != NULL ? "; stopped it" : "; could not stop it");
        g_free(w.result);
        return 0;
    }
    if (!g_str_equal(w.result, "done")) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED,
                    "systemd could not start %s (%s): %s did not run; journalctl -u %s tells why",
                    spec->unit, w.result, spec->argv[0], spec->unit);
        g_free(w.result);
        return 0;
    }
    g_free(w.result);
    path = unit_path(bus, "GetUnit", g_variant_new("(s)", spec->unit), NULL);
    pid = path != NULL ? main_pid(bus, path, NULL) : 0;
    if (pid == 0)
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "%s (%s) exited as soon as it started",
                    spec->argv[0], spec->unit);
    return pid;
}

gboolean
xe_systemd_kill(guint pid, int signo, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) local = NULL;

    if (bus == NULL)
        return FALSE;
    path = unit_path(bus, "GetUnitByPID", g_variant_new("(u)", pid), &local);
    /* only a unit's main process: never the daemon's own service, nor a libvirt scope */
    if (path == NULL || main_pid(bus, path, NULL) != pid) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "process %u is not the main process of a systemd service%s%s", pid,
                    local != NULL ? ": " : "", local != NULL ? local->message : "");
        return FALSE;
    }
    reply = g_dbus_connection_call_sync(bus, SYSTEMD, path, SYSTEMD ".Unit", "Kill",
                                        g_variant_new("(si)", "main", signo), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
    if (reply == NULL)
        g_prefix_error(error, "signalling process %u through systemd (%s): ", pid, path);
    return reply != NULL;
}
