/* xe-qmp-error.h: the XE_QMP_ERROR domain, every failure the QMP client reports.
 *
 * A QMP "error" reply becomes XE_QMP_ERROR_COMMAND_FAILED with the message
 * "<command>: <desc>"; QMP's own error class is kept and read back with
 * xe_qmp_error_get_class(). Everything else is about the connection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_QMP_ERROR (xe_qmp_error_quark())

typedef enum {
    XE_QMP_ERROR_COMMAND_FAILED,   /* QEMU answered with an error reply */
    XE_QMP_ERROR_TIMEOUT,          /* no reply (or greeting) within the deadline */
    XE_QMP_ERROR_DISCONNECTED,     /* the connection went away while the command was pending */
    XE_QMP_ERROR_NOT_CONNECTED,    /* the client is not (or no longer) connected */
    XE_QMP_ERROR_PROTOCOL,         /* the peer broke the QMP protocol */
    XE_QMP_ERROR_TOO_LARGE,        /* a message exceeded the size or nesting bound */
    XE_QMP_ERROR_BAD_REPLY,        /* a reply or event did not have the shape QMP gives it */
    XE_QMP_ERROR_INVALID_ARGUMENT, /* the caller passed something QMP cannot carry */
} XeQmpErrorCode;

GQuark xe_qmp_error_quark(void);

/* QMP's error class ("GenericError", "CommandNotFound", ...) of an
 * XE_QMP_ERROR_COMMAND_FAILED error, or NULL for any other error. */
const char *xe_qmp_error_get_class(const GError *error);

/* Creates the error for a QMP error reply to @command. */
GError *xe_qmp_error_new_command_failed(const char *command, const char *klass, const char *desc);

G_END_DECLS
