/* xe-error.h: XE_ERROR, the one error domain of xe-migrated's host layer and
 * engine; it maps to D-Bus errors in the daemon.
 *
 * An error from the kernel (a sysfs or debugfs access) keeps the errno, the
 * file and the value written: xe_error_get_errno() and friends read them
 * back, and the message already says all of it with a hint.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_ERROR (xe_error_quark())

typedef enum {
    XE_ERROR_FAILED,           /* anything not below */
    XE_ERROR_NOT_FOUND,        /* no such PF, VF, profile or file */
    XE_ERROR_INVALID_ARGUMENT, /* a malformed BDF, profile value, ... */
    XE_ERROR_KERNEL,           /* the kernel refused an access: see the errno */
    XE_ERROR_BUSY,             /* reserved, in use, or in a migration */
    XE_ERROR_NOT_SUPPORTED,    /* the hardware, firmware or kernel lacks it */
    XE_ERROR_VERIFY_FAILED,    /* a write was accepted but did not stick */
    XE_ERROR_INCOMPATIBLE,     /* profiles that cannot migrate between each other */
    XE_ERROR_BAD_DATA,         /* sysfs or a state file holds something we cannot parse */
    XE_ERROR_VETOED,           /* a pre- phase hook said no */
    XE_ERROR_ACCESS_DENIED,    /* the caller may not do this */
    XE_ERROR_TIMED_OUT,        /* a peer (QEMU, a hook, another daemon) did not answer in time */
    XE_ERROR_CANCELLED,        /* the operation was cancelled */
    XE_ERROR_COMMITTED,        /* the VM runs (or may have run) here: an incoming past `cont` */
    XE_ERROR_UNCONFIRMED,      /* a QEMU may still run: what it would hold stays held */
} XeErrorCode;

GQuark xe_error_quark(void);

/* Registers XE_ERROR with GDBus: each code crosses the bus as
 * org.xemigrated.XeMigrated1.Error.<Name> and comes back as the same code.
 * Call once in the daemon and in clients. */
void xe_error_register_dbus(void);

/* Kernel errors: XE_ERROR_KERNEL carrying @errnum, @path and @value (the
 * value written, NULL for a read). The message is
 * "<verb> '<value>' to <path>: <strerror> (<ERRNAME>); <hint>". */
GError *xe_error_new_kernel(int errnum, const char *path, const char *value, const char *hint);

/* Any code with an errno: "<message>: <strerror> (<ERRNAME>)", the errno kept
 * for xe_error_get_errno(). */
GError *xe_error_new_errno(XeErrorCode code, int errnum, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* What a kernel error carries (the errno also for xe_error_new_errno()); 0 / NULL
 * for other errors. */
int xe_error_get_errno(const GError *error);
const char *xe_error_get_path(const GError *error);
const char *xe_error_get_value(const GError *error);

/* "EBUSY" for EBUSY, "E?" for errnos outside the table. */
const char *xe_errno_name(int errnum);
/* EBUSY for "EBUSY" (or "ebusy", or "16"); 0 when unknown. */
int xe_errno_from_name(const char *name);

G_END_DECLS
