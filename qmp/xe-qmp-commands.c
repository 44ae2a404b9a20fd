/* xe-qmp-commands.c: the generic typed call, reply checking, and the small
 * commands (stop, cont, quit, migrate_cancel, query-version, query-status).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-commands"

#include "xe-qmp-commands.h"
#include "xe-qmp-private.h"

typedef struct {
    XeQmpReplyParser parser;
    GDestroyNotify free_result;
    char *command;
} CallData;

static void
call_data_free(CallData *data)
{
    g_free(data->command);
    g_free(data);
}

static void
call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    CallData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = xe_qmp_client_execute_finish(XE_QMP_CLIENT(source), result, &error);
    gpointer value;

    if (ret == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (data->parser == NULL) {
        g_task_return_pointer(task, GINT_TO_POINTER(TRUE), NULL);
        return;
    }
    value = data->parser(ret, data->command, &error);
    if (value != NULL) {
        g_task_return_pointer(task, value, data->free_result);
        return;
    }
    /* Every failure carries a reason: a caller's parser that forgot to give
     * one must not leave the task unreturned (and its caller waiting). */
    if (error == NULL)
        error = g_error_new(XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                            "%s: reply refused by its parser, which gave no reason", data->command);
    g_task_return_error(task, g_steal_pointer(&error));
}

void
xe_qmp_client_call_async(XeQmpClient *self, const char *command, JsonObject *arguments,
                         XeQmpReplyParser parser, GDestroyNotify free_result, guint timeout_ms,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    CallData *data = g_new0(CallData, 1);

    data->parser = parser;
    data->free_result = free_result;
    data->command = g_strdup(command);
    g_task_set_task_data(task, data, (GDestroyNotify)call_data_free);
    g_task_set_source_tag(task, XE_QMP_TAG(xe_qmp_client_call_async));
    g_task_set_name(task, command);
    xe_qmp_client_execute_async(self, command, arguments, timeout_ms, cancellable, call_done, task);
}

gpointer
xe_qmp_client_call_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* reply checking */

static gboolean G_GNUC_PRINTF(4, 5)
    bad_reply(GError **error, const char *command, const char *member, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY, "%s: reply member '%s' %s", command,
                member, what);
    return FALSE;
}

JsonObject *
xe_qmp_reply_object(JsonNode *ret, const char *command, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(ret)) {
        bad_reply(error, command, "return", "is %s, expected an object", xe_qmp_node_kind(ret));
        return NULL;
    }
    return json_node_get_object(ret);
}

/* Looks @member up; FALSE with @error when it is required and missing. */
static gboolean
reply_member(JsonObject *obj, const char *command, const char *member, gboolean required,
             JsonNode **out, GError **error)
{
    *out = json_object_get_member(obj, member);
    if (*out == NULL && required)
        return bad_reply(error, command, member, "is missing");
    return TRUE;
}

gboolean
xe_qmp_reply_get_string(JsonObject *obj, const char *command, const char *member, gboolean required,
                        const char **out, GError **error)
{
    JsonNode *node;

    *out = NULL;
    if (!reply_member(obj, command, member, required, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_STRING)
        return bad_reply(error, command, member, "is %s, expected a string",
                         xe_qmp_node_kind(node));
    *out = json_node_get_string(node);
    return TRUE;
}

gboolean
xe_qmp_reply_get_bool(JsonObject *obj, const char *command, const char *member, gboolean required,
                      gboolean *out, GError **error)
{
    JsonNode *node;

    *out = FALSE;
    if (!reply_member(obj, command, member, required, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_BOOLEAN)
        return bad_reply(error, command, member, "is %s, expected a boolean",
                         xe_qmp_node_kind(node));
    *out = json_node_get_boolean(node);
    return TRUE;
}

gboolean
xe_qmp_reply_get_uint(JsonObject *obj, const char *command, const char *member, gboolean *present,
                      guint64 *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);

    *out = 0;
    if (present != NULL)
        *present = FALSE;
    if (node == NULL) {
        if (present == NULL)
            return bad_reply(error, command, member, "is missing");
        return TRUE;
    }
    if (json_node_get_value_type(node) != G_TYPE_INT64)
        return bad_reply(error, command, member, "is %s, expected an integer",
                         xe_qmp_node_kind(node));
    if (json_node_get_int(node) < 0)
        return bad_reply(error, command, member, "is %" G_GINT64_FORMAT ", expected >= 0",
                         json_node_get_int(node));
    *out = (guint64)json_node_get_int(node);
    if (present != NULL)
        *present = TRUE;
    return TRUE;
}

gboolean
xe_qmp_reply_get_double(JsonObject *obj, const char *command, const char *member, gboolean *present,
                        double *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, member);
    GType type;

    *out = 0;
    if (present != NULL)
        *present = FALSE;
    if (node == NULL) {
        if (present == NULL)
            return bad_reply(error, command, member, "is missing");
        return TRUE;
    }
    type = json_node_get_value_type(node);
    if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
        return bad_reply(error, command, member, "is %s, expected a number",
                         xe_qmp_node_kind(node));
    *out = json_node_get_double(node);
    if (present != NULL)
        *present = TRUE;
    return TRUE;
}

/* void commands */

#define XE_QMP_DEFINE_VOID_COMMAND(name, wire)                                               \
    void xe_qmp_##name##_async(XeQmpClient *self, GCancellable *cancellable,                 \
                               GAsyncReadyCallback callback, gpointer user_data)             \
    {                                                                                        \
        xe_qmp_client_call_async(self, wire, NULL, NULL, NULL, 0, cancellable, callback,     \
                                 user_data);                                                 \
    }                                                                                        \
    gboolean xe_qmp_##name##_finish(XeQmpClient *self, GAsyncResult *result, GError **error) \
    {                                                                                        \
        return xe_qmp_client_call_finish(self, result, error) != NULL;                       \
    }

XE_QMP_DEFINE_VOID_COMMAND(stop, "stop")
XE_QMP_DEFINE_VOID_COMMAND(cont, "cont")
XE_QMP_DEFINE_VOID_COMMAND(quit, "quit")
XE_QMP_DEFINE_VOID_COMMAND(migrate_cancel, "migrate_cancel")

/* query-version */

void
xe_qmp_version_free(XeQmpVersion *version)
{
    if (version == NULL)
        return;
    xe_qmp_version_clear(version);
    g_free(version);
}

gpointer
xe_qmp_parse_version(JsonNode *ret, const char *command, GError **error)
{
    g_autoptr(XeQmpVersion) version = g_new0(XeQmpVersion, 1);
    JsonObject *obj = xe_qmp_reply_object(ret, command, error);
    JsonNode *qemu_node;
    const char *package;

    if (obj == NULL)
        return NULL;
    qemu_node = json_object_get_member(obj, "qemu");
    if (qemu_node == NULL) {
        bad_reply(error, command, "qemu", "is missing");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(qemu_node)) {
        bad_reply(error, command, "qemu", "is %s, expected an object", xe_qmp_node_kind(qemu_node));
        return NULL;
    }
    for (guint i = 0; i < 3; i++) {
        static const char *const parts[] = { "major", "minor", "micro" };
        guint64 v;

        if (!xe_qmp_reply_get_uint(json_node_get_object(qemu_node), command, parts[i], NULL, &v,
                                   error))
            return NULL;
        if (v > G_MAXINT) {
            bad_reply(error, command, parts[i], "is %" G_GUINT64_FORMAT ", out of range", v);
            return NULL;
        }
        (&version->major)[i] = (int)v;
    }
    if (!xe_qmp_reply_get_string(obj, command, "package", FALSE, &package, error))
        return NULL;
    version->package = g_strdup(package != NULL ? package : "");
    return g_steal_pointer(&version);
}

void
xe_qmp_query_version_async(XeQmpClient *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-version", NULL, xe_qmp_parse_version,
                             (GDestroyNotify)xe_qmp_version_free, 0, cancellable, callback,
                             user_data);
}

XeQmpVersion *
xe_qmp_query_version_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* query-status */

void
xe_qmp_status_free(XeQmpStatus *status)
{
    if (status == NULL)
        return;
    g_free(status->status);
    g_free(status);
}

gpointer
xe_qmp_parse_status(JsonNode *ret, const char *command, GError **error)
{
    g_autoptr(XeQmpStatus) status = g_new0(XeQmpStatus, 1);
    JsonObject *obj = xe_qmp_reply_object(ret, command, error);
    const char *run_state;

    if (obj == NULL ||
        !xe_qmp_reply_get_bool(obj, command, "running", TRUE, &status->running, error) ||
        !xe_qmp_reply_get_string(obj, command, "status", TRUE, &run_state, error))
        return NULL;
    status->status = g_strdup(run_state);
    return g_steal_pointer(&status);
}

void
xe_qmp_query_status_async(XeQmpClient *self, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-status", NULL, xe_qmp_parse_status,
                             (GDestroyNotify)xe_qmp_status_free, 0, cancellable, callback,
                             user_data);
}

XeQmpStatus *
xe_qmp_query_status_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* query-memory-size-summary */

gpointer
xe_qmp_parse_memory_size(JsonNode *ret, const char *command, GError **error)
{
    g_autofree XeQmpMemorySize *size = g_new0(XeQmpMemorySize, 1);
    JsonObject *obj = xe_qmp_reply_object(ret, command, error);
    gboolean present;

    if (obj == NULL ||
        !xe_qmp_reply_get_uint(obj, command, "base-memory", NULL, &size->base_memory, error) ||
        !xe_qmp_reply_get_uint(obj, command, "plugged-memory", &present, &size->plugged_memory,
                               error))
        return NULL;
    return g_steal_pointer(&size);
}

void
xe_qmp_query_memory_size_summary_async(XeQmpClient *self, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-memory-size-summary", NULL, xe_qmp_parse_memory_size,
                             g_free, 0, cancellable, callback, user_data);
}

XeQmpMemorySize *
xe_qmp_query_memory_size_summary_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* qom-list */

void
xe_qmp_object_property_free(XeQmpObjectProperty *property)
{
    if (property == NULL)
        return;
    g_free(property->name);
    g_free(property->type);
    g_free(property);
}

gpointer
xe_qmp_parse_qom_list(JsonNode *ret, const char *command, GError **error)
{
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)xe_qmp_object_property_free);
    JsonArray *arr;

    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        bad_reply(error, command, "return", "is %s, expected an array", xe_qmp_node_kind(ret));
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *node = json_array_get_element(arr, i);
        g_autoptr(XeQmpObjectProperty) p = g_new0(XeQmpObjectProperty, 1);
        const char *name, *type;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "%s: reply element %u is %s, expected an object", command, i,
                        xe_qmp_node_kind(node));
            return NULL;
        }
        if (!xe_qmp_reply_get_string(json_node_get_object(node), command, "name", TRUE, &name,
                                     error) ||
            !xe_qmp_reply_get_string(json_node_get_object(node), command, "type", TRUE, &type,
                                     error))
            return NULL;
        p->name = g_strdup(name);
        p->type = g_strdup(type);
        g_ptr_array_add(list, g_steal_pointer(&p));
    }
    return g_steal_pointer(&list);
}

void
xe_qmp_qom_list_async(XeQmpClient *self, const char *path, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "path", path);
    xe_qmp_client_call_async(self, "qom-list", args, xe_qmp_parse_qom_list,
                             (GDestroyNotify)g_ptr_array_unref, 0, cancellable, callback,
                             user_data);
}

GPtrArray *
xe_qmp_qom_list_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

/* qom-get, qom-set */

static gpointer
parse_any(JsonNode *ret, const char *command, GError **error)
{
    return json_node_copy(ret);
}

void
xe_qmp_qom_get_async(XeQmpClient *self, const char *path, const char *property,
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "path", path);
    json_object_set_string_member(args, "property", property);
    xe_qmp_client_call_async(self, "qom-get", args, parse_any, (GDestroyNotify)json_node_unref, 0,
                             cancellable, callback, user_data);
}

JsonNode *
xe_qmp_qom_get_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

void
xe_qmp_qom_set_async(XeQmpClient *self, const char *path, const char *property, JsonNode *value,
                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "path", path);
    json_object_set_string_member(args, "property", property);
    json_object_set_member(args, "value", json_node_copy(value));
    xe_qmp_client_call_async(self, "qom-set", args, NULL, NULL, 0, cancellable, callback,
                             user_data);
}

gboolean
xe_qmp_qom_set_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error) != NULL;
}
