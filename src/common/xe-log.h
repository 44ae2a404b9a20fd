/* xe-log.h: structured events for the journal.
 *
 * Each milestone carries a MESSAGE_ID and the PF, VF and caller as fields
 * (XE_PF, XE_VF, XE_CALLER), through g_log_structured(): GLib's default
 * writer sends them to journald when stderr is the journal and prints the
 * message readably otherwise.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* journalctl MESSAGE_ID=... finds each kind of event. */
#define XE_MESSAGE_VF_BOUND            "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e01"
#define XE_MESSAGE_VF_PROVISIONED      "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e02"
#define XE_MESSAGE_VF_RESERVED         "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e03"
#define XE_MESSAGE_VF_RELEASED         "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e04"
#define XE_MESSAGE_VF_RESET            "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e05"
#define XE_MESSAGE_VFS_ENABLED         "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e06"
#define XE_MESSAGE_LAYOUT_APPLIED      "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e07"
#define XE_MESSAGE_DRIFT               "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e08"
#define XE_MESSAGE_MIGRATION_STARTED   "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e10"
#define XE_MESSAGE_MIGRATION_COMPLETED "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e11"
#define XE_MESSAGE_MIGRATION_FAILED    "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e12"
#define XE_MESSAGE_MIGRATION_RETRYING  "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e13"
#define XE_MESSAGE_INCOMING            "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e14"
#define XE_MESSAGE_VM                  "5c1e3a0a8f0b4d0e9b6a2f4b7d1c9e15"

void xe_log_event(GLogLevelFlags level, const char *message_id, const char *pf, const char *vf,
                  const char *caller, const char *format, ...) G_GNUC_PRINTF(6, 7);

G_END_DECLS
