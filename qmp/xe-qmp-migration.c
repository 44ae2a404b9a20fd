/* xe-qmp-migration.c: typed migration commands, query-migrate parsing and
 * migration event decoding. Parsing is table-driven: one row per member.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-migration"

#include "xe-qmp-migration.h"
#include "xe-qmp-private.h"

#include <stddef.h>

/* status enums */

static const char *const migration_status_names[] = {
    [XE_QMP_MIGRATION_STATUS_NONE] = "none",
    [XE_QMP_MIGRATION_STATUS_SETUP] = "setup",
    [XE_QMP_MIGRATION_STATUS_CANCELLING] = "cancelling",
    [XE_QMP_MIGRATION_STATUS_CANCELLED] = "cancelled",
    [XE_QMP_MIGRATION_STATUS_ACTIVE] = "active",
    [XE_QMP_MIGRATION_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
    [XE_QMP_MIGRATION_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
    [XE_QMP_MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP] = "postcopy-recover-setup",
    [XE_QMP_MIGRATION_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
    [XE_QMP_MIGRATION_STATUS_COMPLETED] = "completed",
    [XE_QMP_MIGRATION_STATUS_FAILED] = "failed",
    [XE_QMP_MIGRATION_STATUS_COLO] = "colo",
    [XE_QMP_MIGRATION_STATUS_PRE_SWITCHOVER] = "pre-switchover",
    [XE_QMP_MIGRATION_STATUS_DEVICE] = "device",
    [XE_QMP_MIGRATION_STATUS_WAIT_UNPLUG] = "wait-unplug",
    [XE_QMP_MIGRATION_STATUS_UNKNOWN] = "unknown",
};
G_STATIC_ASSERT(G_N_ELEMENTS(migration_status_names) == XE_QMP_MIGRATION_STATUS_UNKNOWN + 1);

static const char *const vfio_state_names[] = {
    [XE_QMP_VFIO_STATE_STOP] = "stop",
    [XE_QMP_VFIO_STATE_RUNNING] = "running",
    [XE_QMP_VFIO_STATE_STOP_COPY] = "stop-copy",
    [XE_QMP_VFIO_STATE_RESUMING] = "resuming",
    [XE_QMP_VFIO_STATE_RUNNING_P2P] = "running-p2p",
    [XE_QMP_VFIO_STATE_PRE_COPY] = "pre-copy",
    [XE_QMP_VFIO_STATE_PRE_COPY_P2P] = "pre-copy-p2p",
    [XE_QMP_VFIO_STATE_UNKNOWN] = "unknown",
};
G_STATIC_ASSERT(G_N_ELEMENTS(vfio_state_names) == XE_QMP_VFIO_STATE_UNKNOWN + 1);

static guint
name_lookup(const char *const *names, guint n, const char *text)
{
    for (guint i = 0; i + 1 < n; i++)
        if (g_strcmp0(names[i], text) == 0)
            return i;
    return n - 1;
}

const char *
xe_qmp_migration_status_to_string(XeQmpMigrationStatus status)
{
    if ((guint)status > XE_QMP_MIGRATION_STATUS_UNKNOWN)
        status = XE_QMP_MIGRATION_STATUS_UNKNOWN;
    return migration_status_names[status];
}

XeQmpMigrationStatus
xe_qmp_migration_status_from_string(const char *text)
{
    return name_lookup(migration_status_names, G_N_ELEMENTS(migration_status_names), text);
}

gboolean
xe_qmp_migration_status_is_final(XeQmpMigrationStatus status)
{
    return status == XE_QMP_MIGRATION_STATUS_COMPLETED ||
           status == XE_QMP_MIGRATION_STATUS_FAILED || status == XE_QMP_MIGRATION_STATUS_CANCELLED;
}

const char *
xe_qmp_vfio_state_to_string(XeQmpVfioState state)
{
    if ((guint)state > XE_QMP_VFIO_STATE_UNKNOWN)
        state = XE_QMP_VFIO_STATE_UNKNOWN;
    return vfio_state_names[state];
}

/* table-driven members */

typedef enum { FIELD_UINT, FIELD_DOUBLE } FieldKind;

typedef struct {
    const char *member;
    FieldKind kind;
    gsize value_offset;
    gssize has_offset; /* -1: no has_ flag, the member is optional and defaults to 0 */
} Field;

#define UINT_FIELD(m, s, v, h)                        \
    {                                                 \
        m, FIELD_UINT, offsetof(s, v), offsetof(s, h) \
    }
#define UINT_FIELD0(m, s, v)              \
    {                                     \
        m, FIELD_UINT, offsetof(s, v), -1 \
    }
#define DOUBLE_FIELD0(m, s, v)              \
    {                                       \
        m, FIELD_DOUBLE, offsetof(s, v), -1 \
    }

static gboolean
fields_parse(JsonObject *obj, const char *command, const Field *fields, gsize n_fields,
             gpointer target, GError **error)
{
    for (gsize i = 0; i < n_fields; i++) {
        const Field *f = &fields[i];
        gboolean present = FALSE;
        guint8 *base = target;
        gboolean ok;

        if (f->kind == FIELD_UINT)
            ok = xe_qmp_reply_get_uint(obj, command, f->member, &present,
                                       (guint64 *)(base + f->value_offset), error);
        else
            ok = xe_qmp_reply_get_double(obj, command, f->member, &present,
                                         (double *)(base + f->value_offset), error);
        if (!ok)
            return FALSE;
        if (f->has_offset >= 0)
            *(gboolean *)(base + f->has_offset) = present;
    }
    return TRUE;
}

static void
fields_build(JsonObject *obj, const Field *fields, gsize n_fields, gconstpointer source)
{
    const guint8 *base = source;

    for (gsize i = 0; i < n_fields; i++) {
        const Field *f = &fields[i];

        if (f->kind != FIELD_UINT || f->has_offset < 0 ||
            !*(const gboolean *)(base + f->has_offset))
            continue;
        json_object_set_int_member(obj, f->member,
                                   (gint64) * (const guint64 *)(base + f->value_offset));
    }
}

/* query-migrate */

static const Field info_fields[] = {
    UINT_FIELD("setup-time", XeQmpMigrationInfo, setup_time_ms, has_setup_time),
    UINT_FIELD("total-time", XeQmpMigrationInfo, total_time_ms, has_total_time),
    UINT_FIELD("downtime", XeQmpMigrationInfo, downtime_ms, has_downtime),
    UINT_FIELD("expected-downtime", XeQmpMigrationInfo, expected_downtime_ms,
               has_expected_downtime),
    UINT_FIELD("cpu-throttle-percentage", XeQmpMigrationInfo, cpu_throttle_percentage,
               has_cpu_throttle),
};

static const Field ram_fields[] = {
    UINT_FIELD0("transferred", XeQmpRamStats, transferred),
    UINT_FIELD("remaining", XeQmpRamStats, remaining, has_remaining),
    UINT_FIELD0("total", XeQmpRamStats, total),
    UINT_FIELD0("duplicate", XeQmpRamStats, duplicate),
    UINT_FIELD0("normal", XeQmpRamStats, normal),
    UINT_FIELD0("normal-bytes", XeQmpRamStats, normal_bytes),
    UINT_FIELD("dirty-pages-rate", XeQmpRamStats, dirty_pages_rate, has_dirty_pages_rate),
    UINT_FIELD0("dirty-sync-count", XeQmpRamStats, dirty_sync_count),
    UINT_FIELD0("page-size", XeQmpRamStats, page_size),
    UINT_FIELD0("multifd-bytes", XeQmpRamStats, multifd_bytes),
    UINT_FIELD0("precopy-bytes", XeQmpRamStats, precopy_bytes),
    UINT_FIELD0("downtime-bytes", XeQmpRamStats, downtime_bytes),
    UINT_FIELD0("postcopy-bytes", XeQmpRamStats, postcopy_bytes),
    DOUBLE_FIELD0("mbps", XeQmpRamStats, mbps),
    DOUBLE_FIELD0("pages-per-second", XeQmpRamStats, pages_per_second),
};

void
xe_qmp_migration_info_free(XeQmpMigrationInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->status_text);
    g_free(info->error_desc);
    g_free(info->socket_port);
    g_strfreev(info->blocked_reasons);
    g_free(info);
}

/* Looks up an optional member that must be an object when present. */
static gboolean
optional_object(JsonObject *obj, const char *command, const char *member, JsonObject **out,
                GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);

    *out = NULL;
    if (node == NULL)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                    "%s: reply member '%s' is %s, expected an object", command, member,
                    xe_qmp_node_kind(node));
        return FALSE;
    }
    *out = json_node_get_object(node);
    return TRUE;
}

XeQmpMigrationInfo *
xe_qmp_migration_info_parse(JsonNode *ret, GError **error)
{
    static const char command[] = "query-migrate";
    g_autoptr(XeQmpMigrationInfo) info = g_new0(XeQmpMigrationInfo, 1);
    JsonObject *obj = xe_qmp_reply_object(ret, command, error);
    JsonObject *ram, *vfio;
    JsonNode *addrs, *blocked;
    const char *status, *error_desc;

    if (obj == NULL)
        return NULL;
    /* An idle QEMU that never migrated omits "status": that is "none". */
    if (!xe_qmp_reply_get_string(obj, command, "status", FALSE, &status, error))
        return NULL;
    info->status_text = g_strdup(status != NULL ? status : "none");
    info->status = xe_qmp_migration_status_from_string(info->status_text);
    if (!fields_parse(obj, command, info_fields, G_N_ELEMENTS(info_fields), info, error))
        return NULL;

    if (!optional_object(obj, command, "ram", &ram, error) ||
        !optional_object(obj, command, "vfio", &vfio, error))
        return NULL;
    if (ram != NULL) {
        info->has_ram = TRUE;
        if (!fields_parse(ram, "query-migrate ram", ram_fields, G_N_ELEMENTS(ram_fields),
                          &info->ram, error))
            return NULL;
    }
    if (vfio != NULL) {
        info->has_vfio = TRUE;
        if (!xe_qmp_reply_get_uint(vfio, "query-migrate vfio", "transferred", NULL,
                                   &info->vfio_transferred, error))
            return NULL;
    }

    if (!xe_qmp_reply_get_string(obj, command, "error-desc", FALSE, &error_desc, error))
        return NULL;
    info->error_desc = g_strdup(error_desc);

    /* Destination, listening: where (the port QEMU picked for "tcp:HOST:0"). */
    addrs = json_object_get_member(obj, "socket-address");
    if (addrs != NULL) {
        JsonArray *arr;

        if (!JSON_NODE_HOLDS_ARRAY(addrs)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "%s: reply member 'socket-address' is %s, expected an array", command,
                        xe_qmp_node_kind(addrs));
            return NULL;
        }
        arr = json_node_get_array(addrs);
        for (guint i = 0; i < json_array_get_length(arr) && info->socket_port == NULL; i++) {
            JsonNode *a = json_array_get_element(arr, i);
            const char *port = NULL;

            if (!JSON_NODE_HOLDS_OBJECT(a)) {
                g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                            "%s: reply member 'socket-address[%u]' is %s, expected an object",
                            command, i, xe_qmp_node_kind(a));
                return NULL;
            }
            if (!xe_qmp_reply_get_string(json_node_get_object(a), command, "port", FALSE, &port,
                                         error))
                return NULL;
            info->socket_port = g_strdup(port);
        }
    }

    blocked = json_object_get_member(obj, "blocked-reasons");
    if (blocked != NULL) {
        g_autoptr(GPtrArray) reasons = g_ptr_array_new_with_free_func(g_free);
        JsonArray *arr;

        if (!JSON_NODE_HOLDS_ARRAY(blocked)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "%s: reply member 'blocked-reasons' is %s, expected an array", command,
                        xe_qmp_node_kind(blocked));
            return NULL;
        }
        arr = json_node_get_array(blocked);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *reason = json_array_get_element(arr, i);

            if (json_node_get_value_type(reason) != G_TYPE_STRING) {
                g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                            "%s: reply member 'blocked-reasons[%u]' is %s, expected a string",
                            command, i, xe_qmp_node_kind(reason));
                return NULL;
            }
            g_ptr_array_add(reasons, g_strdup(json_node_get_string(reason)));
        }
        if (reasons->len > 0) {
            g_ptr_array_add(reasons, NULL);
            info->blocked_reasons = (GStrv)g_ptr_array_steal(reasons, NULL);
        }
    }
    return g_steal_pointer(&info);
}

static gpointer
parse_migration_info(JsonNode *ret, const char *command, GError **error)
{
    return xe_qmp_migration_info_parse(ret, error);
}

void
xe_qmp_query_migrate_async(XeQmpClient *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-migrate", NULL, parse_migration_info,
                             (GDestroyNotify)xe_qmp_migration_info_free, 0, cancellable, callback,
                             user_data);
}

XeQmpMigrationInfo *
xe_qmp_query_migrate_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* capabilities */

void
xe_qmp_migrate_set_capabilities_async(XeQmpClient *self, const XeQmpCapability *caps, gsize n_caps,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *list = json_array_sized_new((guint)n_caps);

    for (gsize i = 0; i < n_caps; i++) {
        JsonObject *cap = json_object_new();

        json_object_set_string_member(cap, "capability", caps[i].name);
        json_object_set_boolean_member(cap, "state", caps[i].state);
        json_array_add_object_element(list, cap);
    }
    json_object_set_array_member(args, "capabilities", list);
    xe_qmp_client_call_async(self, "migrate-set-capabilities", args, NULL, NULL, 0, cancellable,
                             callback, user_data);
}

gboolean
xe_qmp_migrate_set_capabilities_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}

gpointer
xe_qmp_parse_migrate_capabilities(JsonNode *ret, const char *command, GError **error)
{
    g_autoptr(GHashTable) caps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonArray *arr;

    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                    "%s: reply member 'return' is %s, expected an array", command,
                    xe_qmp_node_kind(ret));
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *node = json_array_get_element(arr, i);
        const char *name;
        gboolean state;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "%s: reply element %u is %s, expected an object", command, i,
                        xe_qmp_node_kind(node));
            return NULL;
        }
        if (!xe_qmp_reply_get_string(json_node_get_object(node), command, "capability", TRUE, &name,
                                     error) ||
            !xe_qmp_reply_get_bool(json_node_get_object(node), command, "state", TRUE, &state,
                                   error))
            return NULL;
        g_hash_table_insert(caps, g_strdup(name), GINT_TO_POINTER(state));
    }
    return g_steal_pointer(&caps);
}

void
xe_qmp_query_migrate_capabilities_async(XeQmpClient *self, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-migrate-capabilities", NULL,
                             xe_qmp_parse_migrate_capabilities, (GDestroyNotify)g_hash_table_unref,
                             0, cancellable, callback, user_data);
}

GHashTable *
xe_qmp_query_migrate_capabilities_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* parameters */

static const Field parameter_fields[] = {
    UINT_FIELD("downtime-limit", XeQmpMigrationParameters, downtime_limit_ms, has_downtime_limit),
    UINT_FIELD("max-bandwidth", XeQmpMigrationParameters, max_bandwidth, has_max_bandwidth),
    UINT_FIELD("avail-switchover-bandwidth", XeQmpMigrationParameters, avail_switchover_bandwidth,
               has_avail_switchover_bandwidth),
    UINT_FIELD("multifd-channels", XeQmpMigrationParameters, multifd_channels,
               has_multifd_channels),
    UINT_FIELD("cpu-throttle-initial", XeQmpMigrationParameters, cpu_throttle_initial,
               has_cpu_throttle_initial),
    UINT_FIELD("cpu-throttle-increment", XeQmpMigrationParameters, cpu_throttle_increment,
               has_cpu_throttle_increment),
};

void
xe_qmp_migrate_set_parameters_async(XeQmpClient *self, const XeQmpMigrationParameters *params,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    fields_build(args, parameter_fields, G_N_ELEMENTS(parameter_fields), params);
    xe_qmp_client_call_async(self, "migrate-set-parameters", args, NULL, NULL, 0, cancellable,
                             callback, user_data);
}

gboolean
xe_qmp_migrate_set_parameters_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}

gpointer
xe_qmp_parse_migrate_parameters(JsonNode *ret, const char *command, GError **error)
{
    g_autofree XeQmpMigrationParameters *params = g_new0(XeQmpMigrationParameters, 1);
    JsonObject *obj = xe_qmp_reply_object(ret, command, error);

    if (obj == NULL || !fields_parse(obj, command, parameter_fields, G_N_ELEMENTS(parameter_fields),
                                     params, error))
        return NULL;
    return g_steal_pointer(&params);
}

void
xe_qmp_query_migrate_parameters_async(XeQmpClient *self, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-migrate-parameters", NULL,
                             xe_qmp_parse_migrate_parameters, g_free, 0, cancellable, callback,
                             user_data);
}

XeQmpMigrationParameters *
xe_qmp_query_migrate_parameters_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* migrate, migrate-incoming */

/* Splits "HOST:PORT" or "[V6HOST]:PORT". */
static gboolean
split_host_port(const char *text, char **host, char **port)
{
    const char *colon;

    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':' || end[2] == '\0')
            return FALSE;
        *host = g_strndup(text + 1, (gsize)(end - text - 1));
        *port = g_strdup(end + 2);
        return TRUE;
    }
    colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0')
        return FALSE;
    *host = g_strndup(text, (gsize)(colon - text));
    *port = g_strdup(colon + 1);
    return TRUE;
}

JsonNode *
xe_qmp_migration_channels_from_uri(const char *uri, GError **error)
{
    g_autoptr(JsonObject) addr = json_object_new();
    JsonObject *channel;
    JsonArray *channels;
    JsonNode *node;

    if (g_str_has_prefix(uri, "unix:") && uri[5] != '\0') {
        json_object_set_string_member(addr, "transport", "socket");
        json_object_set_string_member(addr, "type", "unix");
        json_object_set_string_member(addr, "path", uri + 5);
    } else if (g_str_has_prefix(uri, "tcp:")) {
        g_autofree char *host = NULL, *port = NULL;

        if (!split_host_port(uri + 4, &host, &port)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                        "migration URI '%s': expected tcp:HOST:PORT", uri);
            return NULL;
        }
        json_object_set_string_member(addr, "transport", "socket");
        json_object_set_string_member(addr, "type", "inet");
        json_object_set_string_member(addr, "host", host);
        json_object_set_string_member(addr, "port", port);
    } else if (g_str_has_prefix(uri, "exec:") && uri[5] != '\0') {
        JsonArray *args = json_array_new();

        json_array_add_string_element(args, "/bin/sh");
        json_array_add_string_element(args, "-c");
        json_array_add_string_element(args, uri + 5);
        json_object_set_string_member(addr, "transport", "exec");
        json_object_set_array_member(addr, "args", args);
    } else if (g_str_has_prefix(uri, "file:") && uri[5] != '\0') {
        g_autofree char *path = g_strdup(uri + 5);
        char *opt = strstr(path, ",offset=");
        guint64 offset = 0;

        if (opt != NULL) {
            if (!g_ascii_string_to_unsigned(opt + 8, 10, 0, G_MAXINT64, &offset, NULL)) {
                g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                            "migration URI '%s': bad offset", uri);
                return NULL;
            }
            *opt = '\0';
        }
        json_object_set_string_member(addr, "transport", "file");
        json_object_set_string_member(addr, "filename", path);
        json_object_set_int_member(addr, "offset", (gint64)offset);
    } else {
        g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_INVALID_ARGUMENT,
                    "migration URI '%s': expected unix:, tcp:, exec: or file:", uri);
        return NULL;
    }

    channel = json_object_new();
    json_object_set_string_member(channel, "channel-type", "main");
    json_object_set_object_member(channel, "addr", g_steal_pointer(&addr));
    channels = json_array_new();
    json_array_add_object_element(channels, channel);
    node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, channels);
    return node;
}

/* Fills "uri" or "channels"; FALSE with the task failed on a bad URI. */
static gboolean
set_target(JsonObject *args, const char *uri, gboolean use_channels, GError **error)
{
    JsonNode *channels;

    if (!use_channels) {
        json_object_set_string_member(args, "uri", uri);
        return TRUE;
    }
    channels = xe_qmp_migration_channels_from_uri(uri, error);
    if (channels == NULL)
        return FALSE;
    json_object_set_member(args, "channels", channels);
    return TRUE;
}

static void
call_with_target(XeQmpClient *self, const char *command, JsonObject *args, const char *uri,
                 gboolean use_channels, GCancellable *cancellable, GAsyncReadyCallback callback,
                 gpointer user_data)
{
    GError *error = NULL;

    if (!set_target(args, uri, use_channels, &error)) {
        g_task_report_error(self, callback, user_data, XE_QMP_TAG(xe_qmp_client_call_async), error);
        return;
    }
    xe_qmp_client_call_async(self, command, args, NULL, NULL, 0, cancellable, callback, user_data);
}

void
xe_qmp_migrate_async(XeQmpClient *self, const char *uri, gboolean use_channels,
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    call_with_target(self, "migrate", args, uri, use_channels, cancellable, callback, user_data);
}

gboolean
xe_qmp_migrate_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}

void
xe_qmp_migrate_incoming_async(XeQmpClient *self, const char *uri, gboolean use_channels,
                              XeQmpExitOnError exit_on_error, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    if (exit_on_error != XE_QMP_EXIT_ON_ERROR_DEFAULT)
        json_object_set_boolean_member(args, "exit-on-error",
                                       exit_on_error == XE_QMP_EXIT_ON_ERROR_TRUE);
    call_with_target(self, "migrate-incoming", args, uri, use_channels, cancellable, callback,
                     user_data);
}

gboolean
xe_qmp_migrate_incoming_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}

void
xe_qmp_migrate_continue_async(XeQmpClient *self, XeQmpMigrationStatus state,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "state", xe_qmp_migration_status_to_string(state));
    xe_qmp_client_call_async(self, "migrate-continue", args, NULL, NULL, 0, cancellable, callback,
                             user_data);
}

gboolean
xe_qmp_migrate_continue_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}

/* events */

/* Fails with XE_QMP_ERROR_BAD_REPLY "<event> event: data member '<member>' <what>". */
static gboolean G_GNUC_PRINTF(4, 5)
    bad_event(GError **error, const char *event, const char *member, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY, "%s event: data member '%s' %s", event,
                member, what);
    return FALSE;
}

static gboolean
event_get_string(JsonObject *data, const char *event, const char *member, const char **out,
                 GError **error)
{
    JsonNode *node = json_object_get_member(data, member);

    if (node == NULL)
        return bad_event(error, event, member, "is missing");
    if (json_node_get_value_type(node) != G_TYPE_STRING)
        return bad_event(error, event, member, "is %s, expected a string", xe_qmp_node_kind(node));
    *out = json_node_get_string(node);
    return TRUE;
}

gboolean
xe_qmp_event_migration_decode(JsonObject *data, XeQmpMigrationStatus *status, GError **error)
{
    const char *text;

    if (!event_get_string(data, XE_QMP_EVENT_MIGRATION, "status", &text, error))
        return FALSE;
    *status = xe_qmp_migration_status_from_string(text);
    return TRUE;
}

gboolean
xe_qmp_event_migration_pass_decode(JsonObject *data, guint64 *pass, GError **error)
{
    JsonNode *node = json_object_get_member(data, "pass");

    if (node == NULL)
        return bad_event(error, XE_QMP_EVENT_MIGRATION_PASS, "pass", "is missing");
    if (json_node_get_value_type(node) != G_TYPE_INT64)
        return bad_event(error, XE_QMP_EVENT_MIGRATION_PASS, "pass", "is %s, expected an integer",
                         xe_qmp_node_kind(node));
    if (json_node_get_int(node) < 0)
        return bad_event(error, XE_QMP_EVENT_MIGRATION_PASS, "pass",
                         "is %" G_GINT64_FORMAT ", expected >= 0", json_node_get_int(node));
    *pass = (guint64)json_node_get_int(node);
    return TRUE;
}

gboolean
xe_qmp_event_vfio_migration_decode(JsonObject *data, const char **device_id, const char **qom_path,
                                   XeQmpVfioState *state, GError **error)
{
    const char *id, *path, *text;

    if (!event_get_string(data, XE_QMP_EVENT_VFIO_MIGRATION, "device-id", &id, error) ||
        !event_get_string(data, XE_QMP_EVENT_VFIO_MIGRATION, "qom-path", &path, error) ||
        !event_get_string(data, XE_QMP_EVENT_VFIO_MIGRATION, "device-state", &text, error))
        return FALSE;
    *device_id = id;
    *qom_path = path;
    *state = name_lookup(vfio_state_names, G_N_ELEMENTS(vfio_state_names), text);
    return TRUE;
}
