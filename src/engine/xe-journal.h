/* xe-journal.h: what the engine has recorded durably, so that a daemon that
 * died at any moment knows at its next start where each VM runs.
 *
 *   STATE_DIR/vms/NAME.vm        a VM of this host: its spec (QMP socket, VF) and the
 *                                QEMU process (pid and start time) that runs it
 *   STATE_DIR/jobs/ID.job        a source job not finished: its VM, the destination
 *                                host, and the incoming of the attempt on that host
 *   STATE_DIR/incomings/ID.in    an incoming migration, from its reservation on; once
 *                                over it stays as a tombstone (the newest 64), so that a
 *                                source can always learn how it ended
 *
 * The one fact that decides where a VM runs is an incoming's COMMITTED state: the
 * destination writes it before it sends `cont`, and from then on it never reports
 * the VM as not running there; a source resumes only an incoming that ended before
 * it. Every write is atomic and durable (temporary file, fsync, rename, fsync of the
 * directory). Blocking: call from a worker, or where a short block is accepted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "xe-vm-spec.h"

G_BEGIN_DECLS

/* The life of an incoming migration; the names are its D-Bus State. */
typedef enum {
    XE_INCOMING_PREPARING, /* reserving, provisioning, starting QEMU */
    XE_INCOMING_LISTENING, /* QEMU paused, waiting for the stream */
    XE_INCOMING_ACTIVE,    /* the stream arrives */
    XE_INCOMING_COMPLETED, /* loaded, paused: it has not run */
    XE_INCOMING_COMMITTED, /* recorded as this host's VM; `cont` is (being) sent */
    XE_INCOMING_RUNNING,   /* the VM runs here (a VM of this host from now on) */
    XE_INCOMING_FAILED,    /* ended before it was committed: it never ran here */
    XE_INCOMING_ABORTED,   /* ended before it was committed: it never ran here */
    XE_INCOMING_LOST,      /* committed, then its QEMU died: the VM is gone */
} XeIncomingState;

const char *xe_incoming_state_to_string(XeIncomingState state);
gboolean xe_incoming_state_from_string(const char *text, XeIncomingState *state);
/* Over: nothing more happens to it (a tombstone). */
gboolean xe_incoming_state_is_final(XeIncomingState state);
/* The VM may have run here: the source must never resume. */
gboolean xe_incoming_state_is_committed(XeIncomingState state);

typedef struct {
    char *id;
    char *vm;   /* the VM's name */
    char *spec; /* its spec (xe_vm_spec_to_data) */
    char *owner;
    XeIncomingState state;
    char *vf;
    char *reservation;
    char *qmp; /* the monitor socket's path */
    guint pid;
    guint64 start_time; /* of @pid, see xe_process_start_time() */
    char *error;
    gint64 changed; /* wall clock, µs */
} XeIncomingEntry;

void xe_incoming_entry_free(XeIncomingEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeIncomingEntry, xe_incoming_entry_free)

typedef struct {
    char *id;
    char *vm;
    char *host;
    char *policy;
    char *caller;
    guint attempt;
    char *incoming; /* the object path of the attempt's incoming on @host, or "" */
    char *incoming_id;
    char *dest_vf;
    gint64 started;       /* wall clock, µs */
    guint source_pid;     /* the source QEMU the job moves, and its start time: a restart */
    guint64 source_start; /* acts only on that QEMU, never on a later one of the VM's name */
} XeJobEntry;

XeJobEntry *xe_job_entry_copy(const XeJobEntry *e);
void xe_job_entry_free(XeJobEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeJobEntry, xe_job_entry_free)

gboolean xe_journal_put_incoming(const char *state_dir, const XeIncomingEntry *e, GError **error);
/* Every incoming on record, oldest first; unreadable files are named in @warnings. */
GPtrArray *xe_journal_load_incomings(const char *state_dir, GPtrArray *warnings);
/* Keeps the newest @keep tombstones. */
void xe_journal_prune_incomings(const char *state_dir, guint keep);

gboolean xe_journal_put_job(const char *state_dir, const XeJobEntry *e, GError **error);
gboolean xe_journal_drop_job(const char *state_dir, const char *id, GError **error);
GPtrArray *xe_journal_load_jobs(const char *state_dir, GPtrArray *warnings);

/* STATE_DIR/vms/NAME.vm: @spec (with its qmp and vf) and the process running it. */
/* @adopted: its QEMU is somebody else's (adopted by its QMP socket), not started here or
 * arrived by migration: removing the VM leaves it running. */
gboolean xe_journal_put_vm(const char *state_dir, const XeVmSpec *spec, guint pid,
                           guint64 start_time, gboolean adopted, GError **error);
XeVmSpec *xe_journal_load_vm(const char *path, guint *pid, guint64 *start_time, gboolean *adopted,
                             GError **error);
gboolean xe_journal_drop_vm(const char *state_dir, const char *name, GError **error);

/* The largest numeric id among the jobs (and incomings) on record, tombstones included:
 * ids go on from there, so that no id (and no run-directory name) is reused. */
guint xe_journal_max_id(GPtrArray *entries, gboolean incomings);

G_END_DECLS
