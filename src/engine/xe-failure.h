/* xe-failure.h: why a migration attempt failed, from the evidence the
 * engine gathers (QMP status and error-desc on both sides, RESET, STOP,
 * SHUTDOWN and VFIO_MIGRATION events, whether the destination QEMU still
 * runs, the destination daemon's reachability, and sysfs: the VF's VFIO
 * migration state back at RUNNING in mid-stream means it was reset), and
 * whether a retry with a fresh destination can help.
 *
 * The kernel aborts a stream silently when a VF is reset during save or
 * resume (kernel-interfaces.md 3.3-3.4): QEMU only sees a read or write fail
 * with ENODEV ("Channel error: No such device", or a VFIO buffer error), so
 * that errno and the sysfs evidence are what mark the class.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    XE_FAILURE_NONE,
    XE_FAILURE_VF_RESET,         /* a VF was reset during save or resume */
    XE_FAILURE_DESTINATION_DIED, /* the destination QEMU went away */
    XE_FAILURE_TRANSPORT,        /* the migration stream or the peer daemon could not be reached */
    XE_FAILURE_INCOMPATIBLE,     /* the destination refused the state (device, provisioning) */
    XE_FAILURE_TIMEOUT,          /* completion timeout or stalled progress */
    XE_FAILURE_CANCELLED,        /* asked to stop */
    XE_FAILURE_VETOED,           /* a pre-migrate hook said no */
    XE_FAILURE_UNKNOWN,
} XeFailureClass;

typedef struct {
    gboolean cancelled;          /* the job was cancelled */
    gboolean timed_out;          /* completion timeout or progress stall */
    gboolean transport_down;     /* the destination daemon was unreachable */
    gboolean destination_exited; /* the destination QEMU process ended */
    gboolean reset_event_source; /* RESET from the source QEMU during the attempt */
    gboolean reset_event_destination;
    gboolean vf_reset_seen_source; /* sysfs/VFIO: the source VF's stream was aborted by a reset */
    gboolean vf_reset_seen_destination;
    const char *source_error;      /* query-migrate error-desc on the source, or NULL */
    const char *destination_error; /* on the destination (or its last stderr line), or NULL */
} XeFailureEvidence;

XeFailureClass xe_failure_classify(const XeFailureEvidence *evidence, char **reason);
/* VF reset, destination died, transport: a fresh destination may succeed. */
gboolean xe_failure_is_retryable(XeFailureClass klass);
const char *xe_failure_to_string(XeFailureClass klass);

/* A migration blocker QEMU reports (query-migrate "blocked-reasons") with its fix, when it
 * is one this host's VMs meet; else the reason as it is. */
char *xe_failure_explain_blocker(const char *reason);

G_END_DECLS
