/* xe-reservations.h: VF reservations, and the state file that keeps them
 * across restarts.
 *
 * A reservation ties a VF to an owner until it is released. The table lives
 * in memory (the daemon's main thread owns it, so two callers can never get
 * the same VF) and is written to STATE_DIR/reservations.json atomically:
 * a temporary file, fsync, rename, fsync of the directory. A state file that
 * does not parse is an error naming the file and the entry, never guessed at.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_RESERVATIONS_FILE "reservations.json"

typedef struct {
    char *id; /* a random UUID */
    char *vf_bdf;
    char *pf_bdf;
    char *profile;  /* the profile name it was reserved for, or "" */
    char *owner;    /* who asked: "uid 1000 (:1.42)", a migration job, ... */
    gint64 created; /* wall clock, microseconds since the epoch */
} XeReservation;

typedef struct _XeReservations XeReservations;

XeReservations *xe_reservations_new(const char *state_dir);
void xe_reservations_free(XeReservations *self);

/* Reads the state file; a missing file is an empty table. */
gboolean xe_reservations_load(XeReservations *self, GError **error);
/* Writes the state file atomically. Blocking: call it off the main loop. */
gboolean xe_reservations_save(XeReservations *self, GError **error);
/* The JSON that save writes (for taking a snapshot on the main thread). */
char *xe_reservations_to_json(XeReservations *self);
gboolean xe_reservations_write_json(const char *state_dir, const char *json, GError **error);

/* Adds a reservation (XE_ERROR_BUSY if the VF already has one). */
const XeReservation *xe_reservations_add(XeReservations *self, const char *vf_bdf,
                                         const char *pf_bdf, const char *profile, const char *owner,
                                         GError **error);
/* Removes the reservation @id; FALSE with XE_ERROR_NOT_FOUND if there is none. */
gboolean xe_reservations_remove(XeReservations *self, const char *id, GError **error);
const XeReservation *xe_reservations_lookup(XeReservations *self, const char *id);
const XeReservation *xe_reservations_lookup_vf(XeReservations *self, const char *vf_bdf);
/* All of them, oldest first (borrowed). */
GPtrArray *xe_reservations_list(XeReservations *self);

G_END_DECLS
