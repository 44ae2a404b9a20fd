/* xe-qmp-error.c: the XE_QMP_ERROR domain; an extended GError domain whose
 * private part carries QMP's error class across g_error_copy() and friends;
 * and the words every error message uses for a JSON value of the wrong kind.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-qmp-error"

#include "xe-qmp-error.h"
#include "xe-qmp-private.h"

typedef struct {
    char *klass;
} XeQmpErrorPrivate;

static void
xe_qmp_error_private_init(XeQmpErrorPrivate *priv)
{
    priv->klass = NULL;
}

static void
xe_qmp_error_private_copy(const XeQmpErrorPrivate *src, XeQmpErrorPrivate *dest)
{
    dest->klass = g_strdup(src->klass);
}

static void
xe_qmp_error_private_clear(XeQmpErrorPrivate *priv)
{
    g_clear_pointer(&priv->klass, g_free);
}

G_DEFINE_EXTENDED_ERROR(XeQmpError, xe_qmp_error)

GError *
xe_qmp_error_new_command_failed(const char *command, const char *klass, const char *desc)
{
    GError *error =
        g_error_new(XE_QMP_ERROR, XE_QMP_ERROR_COMMAND_FAILED, "%s: %s (%s)", command, desc, klass);
    xe_qmp_error_get_private(error)->klass = g_strdup(klass);
    return error;
}

const char *
xe_qmp_error_get_class(const GError *error)
{
    if (error == NULL || !g_error_matches(error, XE_QMP_ERROR, XE_QMP_ERROR_COMMAND_FAILED))
        return NULL;
    return xe_qmp_error_get_private(error)->klass;
}

const char *
xe_qmp_node_kind(JsonNode *node)
{
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT:
        return "an object";
    case JSON_NODE_ARRAY:
        return "an array";
    case JSON_NODE_NULL:
        return "null";
    case JSON_NODE_VALUE:
        break;
    }
    switch (json_node_get_value_type(node)) {
    case G_TYPE_STRING:
        return "a string";
    case G_TYPE_BOOLEAN:
        return "a boolean";
    case G_TYPE_DOUBLE:
        return "a number with a fraction";
    default:
        return "an integer";
    }
}
