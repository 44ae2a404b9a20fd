/* xe-qmp-schema.c: feature probing over the introspected QAPI schema.
 *
 * query-qmp-schema returns SchemaInfo entries; type names are masked (numbers)
 * but command, event, member and enum value names are real. Features are
 * found by walking from a command to its argument type and members.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-schema"

#include "xe-qmp-schema.h"
#include "xe-qmp-private.h"

typedef struct {
    GHashTable *by_name; /* name -> JsonObject (SchemaInfo), borrowed from the reply */
} Schema;

static JsonObject *
schema_lookup(Schema *schema, const char *name, const char *meta_type)
{
    JsonObject *info;

    if (name == NULL)
        return NULL;
    info = g_hash_table_lookup(schema->by_name, name);
    if (info == NULL ||
        g_strcmp0(json_object_get_string_member_with_default(info, "meta-type", NULL), meta_type) !=
            0)
        return NULL;
    return info;
}

/* The type name of member @member of object type @type_name, or NULL. */
static const char *
object_member_type(Schema *schema, const char *type_name, const char *member)
{
    JsonObject *object = schema_lookup(schema, type_name, "object");
    JsonNode *members_node;
    JsonArray *members;

    if (object == NULL)
        return NULL;
    members_node = json_object_get_member(object, "members");
    if (members_node == NULL || !JSON_NODE_HOLDS_ARRAY(members_node))
        return NULL;
    members = json_node_get_array(members_node);
    for (guint i = 0; i < json_array_get_length(members); i++) {
        JsonNode *m = json_array_get_element(members, i);
        JsonObject *mo;

        if (!JSON_NODE_HOLDS_OBJECT(m))
            continue;
        mo = json_node_get_object(m);
        if (g_strcmp0(json_object_get_string_member_with_default(mo, "name", NULL), member) == 0)
            return json_object_get_string_member_with_default(mo, "type", NULL);
    }
    return NULL;
}

static const char *
command_arg_type(Schema *schema, const char *command)
{
    JsonObject *info = schema_lookup(schema, command, "command");

    return info != NULL ? json_object_get_string_member_with_default(info, "arg-type", NULL) : NULL;
}

static gboolean
command_has_arg(Schema *schema, const char *command, const char *arg)
{
    return object_member_type(schema, command_arg_type(schema, command), arg) != NULL;
}

/* The values of enum type @type_name: "members"[].name (QEMU >= 6.2) or the
 * older "values" list. */
static GPtrArray *
enum_values(Schema *schema, const char *type_name)
{
    JsonObject *info = schema_lookup(schema, type_name, "enum");
    GPtrArray *values = g_ptr_array_new_with_free_func(g_free);
    JsonNode *node;

    if (info == NULL)
        return values;
    node = json_object_get_member(info, "members");
    if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *arr = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *m = json_array_get_element(arr, i);
            const char *name = JSON_NODE_HOLDS_OBJECT(m)
                                   ? json_object_get_string_member_with_default(
                                         json_node_get_object(m), "name", NULL)
                                   : NULL;
            if (name != NULL)
                g_ptr_array_add(values, g_strdup(name));
        }
        return values;
    }
    node = json_object_get_member(info, "values");
    if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *arr = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *v = json_array_get_element(arr, i);
            if (json_node_get_value_type(v) == G_TYPE_STRING)
                g_ptr_array_add(values, g_strdup(json_node_get_string(v)));
        }
    }
    return values;
}

/* migrate-set-capabilities -> capabilities: [MigrationCapabilityStatus]
 * -> capability: MigrationCapability (enum). */
static GPtrArray *
migration_capabilities(Schema *schema)
{
    const char *list_type = object_member_type(
        schema, command_arg_type(schema, "migrate-set-capabilities"), "capabilities");
    JsonObject *list = schema_lookup(schema, list_type, "array");
    const char *element =
        list != NULL ? json_object_get_string_member_with_default(list, "element-type", NULL)
                     : NULL;

    return enum_values(schema, object_member_type(schema, element, "capability"));
}

static gboolean
strv_has(GPtrArray *values, const char *value)
{
    for (guint i = 0; i < values->len; i++)
        if (g_str_equal(values->pdata[i], value))
            return TRUE;
    return FALSE;
}

XeQmpSchema *
xe_qmp_schema_parse(JsonNode *ret, GError **error)
{
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) caps = NULL;
    Schema schema = { .by_name = by_name };
    XeQmpSchema *result;
    JsonArray *arr;

    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                    "query-qmp-schema: reply member 'return' is %s, expected an array",
                    xe_qmp_node_kind(ret));
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *node = json_array_get_element(arr, i);
        JsonObject *info;
        const char *name, *meta;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "query-qmp-schema: reply element %u is %s, expected an object", i,
                        xe_qmp_node_kind(node));
            return NULL;
        }
        info = json_node_get_object(node);
        name = json_object_get_string_member_with_default(info, "name", NULL);
        meta = json_object_get_string_member_with_default(info, "meta-type", NULL);
        if (name == NULL || meta == NULL) {
            g_set_error(error, XE_QMP_ERROR, XE_QMP_ERROR_BAD_REPLY,
                        "query-qmp-schema: element %u lacks a string 'name' or 'meta-type'", i);
            return NULL;
        }
        g_hash_table_insert(by_name, (gpointer)name, info);
        if (g_str_equal(meta, "event"))
            g_ptr_array_add(events, g_strdup(name));
    }

    result = g_new0(XeQmpSchema, 1);
    caps = migration_capabilities(&schema);
    if (strv_has(caps, "events"))
        result->features |= XE_QMP_FEATURE_EVENTS_CAPABILITY;
    if (strv_has(caps, "return-path"))
        result->features |= XE_QMP_FEATURE_RETURN_PATH;
    if (strv_has(caps, "switchover-ack"))
        result->features |= XE_QMP_FEATURE_SWITCHOVER_ACK;
    if (strv_has(caps, "multifd"))
        result->features |= XE_QMP_FEATURE_MULTIFD;
    if (strv_has(caps, "pause-before-switchover"))
        result->features |= XE_QMP_FEATURE_PAUSE_BEFORE_SWITCHOVER;
    if (strv_has(caps, "postcopy-ram"))
        result->features |= XE_QMP_FEATURE_POSTCOPY_RAM;
    if (command_has_arg(&schema, "migrate-set-parameters", "avail-switchover-bandwidth"))
        result->features |= XE_QMP_FEATURE_AVAIL_SWITCHOVER_BANDWIDTH;
    if (command_has_arg(&schema, "migrate", "channels"))
        result->features |= XE_QMP_FEATURE_MIGRATE_CHANNELS;
    if (command_has_arg(&schema, "migrate-incoming", "exit-on-error"))
        result->features |= XE_QMP_FEATURE_INCOMING_EXIT_ON_ERROR;
    if (strv_has(events, "VFIO_MIGRATION"))
        result->features |= XE_QMP_FEATURE_VFIO_MIGRATION_EVENT;

    g_ptr_array_add(caps, NULL);
    result->migration_capabilities = (GStrv)g_ptr_array_steal(caps, NULL);
    g_ptr_array_add(events, NULL);
    result->events = (GStrv)g_ptr_array_steal(events, NULL);
    return result;
}

void
xe_qmp_schema_free(XeQmpSchema *schema)
{
    if (schema == NULL)
        return;
    g_strfreev(schema->migration_capabilities);
    g_strfreev(schema->events);
    g_free(schema);
}

static gpointer
parse_schema(JsonNode *ret, const char *command, GError **error)
{
    return xe_qmp_schema_parse(ret, error);
}

void
xe_qmp_query_schema_async(XeQmpClient *self, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    xe_qmp_client_call_async(self, "query-qmp-schema", NULL, parse_schema,
                             (GDestroyNotify)xe_qmp_schema_free, 0, cancellable, callback,
                             user_data);
}

XeQmpSchema *
xe_qmp_query_schema_finish(XeQmpClient *self, GAsyncResult *result, GError **error)
{
    return xe_qmp_client_call_finish(self, result, error);
}

char *
xe_qmp_features_to_string(XeQmpFeatures features)
{
    static const struct {
        XeQmpFeatures flag;
        const char *name;
    } names[] = {
        { XE_QMP_FEATURE_EVENTS_CAPABILITY, "events" },
        { XE_QMP_FEATURE_RETURN_PATH, "return-path" },
        { XE_QMP_FEATURE_SWITCHOVER_ACK, "switchover-ack" },
        { XE_QMP_FEATURE_MULTIFD, "multifd" },
        { XE_QMP_FEATURE_AVAIL_SWITCHOVER_BANDWIDTH, "avail-switchover-bandwidth" },
        { XE_QMP_FEATURE_MIGRATE_CHANNELS, "channels" },
        { XE_QMP_FEATURE_INCOMING_EXIT_ON_ERROR, "exit-on-error" },
        { XE_QMP_FEATURE_VFIO_MIGRATION_EVENT, "VFIO_MIGRATION" },
        { XE_QMP_FEATURE_PAUSE_BEFORE_SWITCHOVER, "pause-before-switchover" },
        { XE_QMP_FEATURE_POSTCOPY_RAM, "postcopy-ram" },
    };
    GString *text = g_string_new(NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        if ((features & names[i].flag) == 0)
            continue;
        if (text->len > 0)
            g_string_append_c(text, ',');
        g_string_append(text, names[i].name);
    }
    return g_string_free(text, FALSE);
}
