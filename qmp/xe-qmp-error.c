/* xe-qmp-error.c: the XE_QMP_ERROR domain; an extended GError domain whose
 * private part carries QMP's error class across g_error_copy() and friends.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-qmp-error.h"

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
