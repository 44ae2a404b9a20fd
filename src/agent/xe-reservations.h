/* xe-reservations.h: VF reservations, and the state file that keeps them
 * across restarts.
 *
 * A reservation ties a VF to an owner until it is released. The owner has a
 * kind: a D-Bus caller (Manager.Reserve), a VM of the engine, or an incoming
 * migration; only the same kind may release it. The table lives in memory
 * (the daemon's main thread owns it, so two callers can never get the same
 * VF) and is written to STATE_DIR/reservations.json atomically: a temporary
 * file, fsync, rename, fsync of the directory. A state file that does not
 * parse is an error naming the file and the entry, never guessed at; a file
 * from before owner kinds loads with every owner a caller.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_RESERVATIONS_FILE "reservations.json"

/* Who holds a reservation, and so who may release it. */
typedef enum {
    XE_RESERVATION_OWNER_CALLER,   /* a D-Bus caller's Manager.Reserve */
    XE_RESERVATION_OWNER_VM,       /* a VM of the engine */
    XE_RESERVATION_OWNER_INCOMING, /* an incoming migration */
    XE_RESERVATION_OWNER_DOMAIN,   /* a libvirt domain (its qemu hook) */
} XeReservationOwner;

/* "caller", "vm", "incoming", "domain": the state file's and the displayed owner's spelling. */
const char *xe_reservation_owner_to_string(XeReservationOwner kind);
/* FALSE when @text is none of them. */
gboolean xe_reservation_owner_from_string(const char *text, XeReservationOwner *kind);

typedef struct {
    char *id; /* a random UUID */
    char *vf_bdf;
    char *pf_bdf;
    char *profile; /* the profile name it was reserved for, or "" */
    XeReservationOwner kind;
    char *owner;        /* who: "uid 1000 (:1.42)", "vm:web", "incoming:3:web" */
    gint64 created;     /* wall clock, microseconds since the epoch */
    gboolean releasing; /* being released: held in memory, left out of the JSON */
} XeReservation;

/* The owner as shown: "KIND:OWNER" ("vm:web", "caller:uid 0 (:1.42)"), or
 * the owner alone when it already starts with "KIND:". */
char *xe_reservation_owner_display(const XeReservation *r);

typedef struct _XeReservations XeReservations;

XeReservations *xe_reservations_new(const char *state_dir);
void xe_reservations_free(XeReservations *self);

/* Reads the state file; a missing file is an empty table. */
gboolean xe_reservations_load(XeReservations *self, GError **error);
/* Writes the state file atomically. Blocking: call it off the main loop. */
gboolean xe_reservations_save(XeReservations *self, GError **error);
/* The JSON that save writes (for taking a snapshot on the main thread): every
 * reservation but those being released. */
char *xe_reservations_to_json(XeReservations *self);
gboolean xe_reservations_write_json(const char *state_dir, const char *json, GError **error);

/* Adds a reservation with a fresh id (XE_ERROR_BUSY if the VF already has one). */
const XeReservation *xe_reservations_add(XeReservations *self, const char *vf_bdf,
                                         const char *pf_bdf, const char *profile,
                                         XeReservationOwner kind, const char *owner,
                                         GError **error);
/* Changes who holds @id; FALSE with XE_ERROR_NOT_FOUND if there is no such reservation. */
gboolean xe_reservations_set_owner(XeReservations *self, const char *id, XeReservationOwner kind,
                                   const char *owner, GError **error);
/* Marks @id as being released (or not any more): it keeps its VF, id and
 * owner, but the JSON leaves it out. */
gboolean xe_reservations_set_releasing(XeReservations *self, const char *id, gboolean releasing,
                                       GError **error);
/* Removes the reservation @id; FALSE with XE_ERROR_NOT_FOUND if there is none. */
gboolean xe_reservations_remove(XeReservations *self, const char *id, GError **error);
const XeReservation *xe_reservations_lookup(XeReservations *self, const char *id);
const XeReservation *xe_reservations_lookup_vf(XeReservations *self, const char *vf_bdf);
/* All of them, oldest first (borrowed). */
GPtrArray *xe_reservations_list(XeReservations *self);

G_END_DECLS
