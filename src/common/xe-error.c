/* xe-error.c: the XE_ERROR domain; its private part keeps the kernel's errno,
 * the file and the value across g_error_copy().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-error"

#include "xe-error.h"

#include <gio/gio.h>

#include <errno.h>
#include <string.h>

typedef struct {
    int errnum;
    char *path;
    char *value;
} XeErrorPrivate;

static void
xe_error_private_init(XeErrorPrivate *priv)
{
    priv->errnum = 0;
    priv->path = NULL;
    priv->value = NULL;
}

static void
xe_error_private_copy(const XeErrorPrivate *src, XeErrorPrivate *dest)
{
    dest->errnum = src->errnum;
    dest->path = g_strdup(src->path);
    dest->value = g_strdup(src->value);
}

static void
xe_error_private_clear(XeErrorPrivate *priv)
{
    g_clear_pointer(&priv->path, g_free);
    g_clear_pointer(&priv->value, g_free);
}

G_DEFINE_EXTENDED_ERROR(XeError, xe_error)

static const struct {
    int errnum;
    const char *name;
} errno_names[] = {
    { EPERM, "EPERM" },         { ENOENT, "ENOENT" },
    { EINTR, "EINTR" },         { EIO, "EIO" },
    { ENXIO, "ENXIO" },         { EAGAIN, "EAGAIN" },
    { ENOMEM, "ENOMEM" },       { EACCES, "EACCES" },
    { EBUSY, "EBUSY" },         { EEXIST, "EEXIST" },
    { ENODEV, "ENODEV" },       { ENOTDIR, "ENOTDIR" },
    { EINVAL, "EINVAL" },       { ENOSPC, "ENOSPC" },
    { ESPIPE, "ESPIPE" },       { ERANGE, "ERANGE" },
    { ENOTTY, "ENOTTY" },       { ENODATA, "ENODATA" },
    { ETIMEDOUT, "ETIMEDOUT" }, { EALREADY, "EALREADY" },
    { ESTALE, "ESTALE" },       { EUCLEAN, "EUCLEAN" },
    { ECANCELED, "ECANCELED" }, { EOVERFLOW, "EOVERFLOW" },
    { ENOPKG, "ENOPKG" },       { EOPNOTSUPP, "EOPNOTSUPP" },
    { EFBIG, "EFBIG" },
};

const char *
xe_errno_name(int errnum)
{
    static const char *unknown = "E?";

    for (gsize i = 0; i < G_N_ELEMENTS(errno_names); i++)
        if (errno_names[i].errnum == errnum)
            return errno_names[i].name;
    return unknown;
}

int
xe_errno_from_name(const char *name)
{
    guint64 n;

    for (gsize i = 0; i < G_N_ELEMENTS(errno_names); i++)
        if (g_ascii_strcasecmp(errno_names[i].name, name) == 0)
            return errno_names[i].errnum;
    if (g_ascii_string_to_unsigned(name, 10, 1, 4095, &n, NULL))
        return (int)n;
    return 0;
}

GError *
xe_error_new_kernel(int errnum, const char *path, const char *value, const char *hint)
{
    g_autofree char *shown = NULL;
    GError *error;
    XeErrorPrivate *priv;

    if (value != NULL) {
        shown = g_strdup(value);
        g_strchomp(shown);
        error = g_error_new(XE_ERROR, XE_ERROR_KERNEL, "writing '%s' to %s: %s (%s)%s%s", shown,
                            path, g_strerror(errnum), xe_errno_name(errnum),
                            hint != NULL ? "; " : "", hint != NULL ? hint : "");
    } else {
        error = g_error_new(XE_ERROR, XE_ERROR_KERNEL, "reading %s: %s (%s)%s%s", path,
                            g_strerror(errnum), xe_errno_name(errnum), hint != NULL ? "; " : "",
                            hint != NULL ? hint : "");
    }
    priv = xe_error_get_private(error);
    priv->errnum = errnum;
    priv->path = g_strdup(path);
    priv->value = g_strdup(value);
    return error;
}

GError *
xe_error_new_errno(XeErrorCode code, int errnum, const char *format, ...)
{
    g_autofree char *what = NULL;
    va_list ap;
    GError *error;

    va_start(ap, format);
    what = g_strdup_vprintf(format, ap);
    va_end(ap);
    error =
        g_error_new(XE_ERROR, code, "%s: %s (%s)", what, g_strerror(errnum), xe_errno_name(errnum));
    xe_error_get_private(error)->errnum = errnum;
    return error;
}

static XeErrorPrivate *
kernel_private(const GError *error)
{
    if (error == NULL || !g_error_matches(error, XE_ERROR, XE_ERROR_KERNEL))
        return NULL;
    return xe_error_get_private(error);
}

int
xe_error_get_errno(const GError *error)
{
    if (error == NULL || error->domain != XE_ERROR)
        return 0;
    return xe_error_get_private(error)->errnum;
}

const char *
xe_error_get_path(const GError *error)
{
    XeErrorPrivate *priv = kernel_private(error);

    return priv != NULL ? priv->path : NULL;
}

const char *
xe_error_get_value(const GError *error)
{
    XeErrorPrivate *priv = kernel_private(error);

    return priv != NULL ? priv->value : NULL;
}

static const GDBusErrorEntry dbus_errors[] = {
    { XE_ERROR_FAILED, "org.xemigrated.XeMigrated1.Error.Failed" },
    { XE_ERROR_NOT_FOUND, "org.xemigrated.XeMigrated1.Error.NotFound" },
    { XE_ERROR_INVALID_ARGUMENT, "org.xemigrated.XeMigrated1.Error.InvalidArgument" },
    { XE_ERROR_KERNEL, "org.xemigrated.XeMigrated1.Error.Kernel" },
    { XE_ERROR_BUSY, "org.xemigrated.XeMigrated1.Error.Busy" },
    { XE_ERROR_NOT_SUPPORTED, "org.xemigrated.XeMigrated1.Error.NotSupported" },
    { XE_ERROR_VERIFY_FAILED, "org.xemigrated.XeMigrated1.Error.VerifyFailed" },
    { XE_ERROR_INCOMPATIBLE, "org.xemigrated.XeMigrated1.Error.Incompatible" },
    { XE_ERROR_BAD_DATA, "org.xemigrated.XeMigrated1.Error.BadData" },
    { XE_ERROR_VETOED, "org.xemigrated.XeMigrated1.Error.Vetoed" },
    { XE_ERROR_ACCESS_DENIED, "org.xemigrated.XeMigrated1.Error.AccessDenied" },
    { XE_ERROR_TIMED_OUT, "org.xemigrated.XeMigrated1.Error.TimedOut" },
    { XE_ERROR_CANCELLED, "org.xemigrated.XeMigrated1.Error.Cancelled" },
    { XE_ERROR_COMMITTED, "org.xemigrated.XeMigrated1.Error.Committed" },
    { XE_ERROR_UNCONFIRMED, "org.xemigrated.XeMigrated1.Error.Unconfirmed" },
};
G_STATIC_ASSERT(G_N_ELEMENTS(dbus_errors) == XE_ERROR_UNCONFIRMED + 1);

void
xe_error_register_dbus(void)
{
    static gsize registered;

    g_dbus_error_register_error_domain(g_quark_to_string(XE_ERROR), &registered, dbus_errors,
                                       G_N_ELEMENTS(dbus_errors));
}
