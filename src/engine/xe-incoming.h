/* xe-incoming.h: XeIncoming, the destination side of one migration attempt,
 * as this host's daemon shows it; it stays, once over, as a tombstone that
 * says how it ended (xe-journal.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-record.h"
#include "xe-vm-spec.h"

G_BEGIN_DECLS

/* XeIncoming properties: id, vm, vf, reservation, uri, state (XeIncomingState's names:
 * preparing, listening, active, completed, committed, running, failed, aborted, lost),
 * error (s), pid (u), exited (b), owner (s: the bus name of the source daemon's connection) */
#define XE_TYPE_INCOMING (xe_incoming_get_type())
G_DECLARE_FINAL_TYPE(XeIncoming, xe_incoming, XE, INCOMING, XeRecord)

XeIncoming *xe_incoming_new(GMainContext *context, const char *id, const XeVmSpec *spec,
                            const char *owner);
const char *xe_incoming_get_id(XeIncoming *incoming);
const XeVmSpec *xe_incoming_get_spec(XeIncoming *incoming);

G_END_DECLS
