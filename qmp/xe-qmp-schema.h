/* xe-qmp-schema.h: what a QEMU can do, probed from query-qmp-schema.
 *
 * Features are read from the introspected schema (command arguments, enum
 * values, event names), never inferred from the version string, so the same
 * code handles QEMU 7.2 to 10.x and backports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-commands.h"

G_BEGIN_DECLS

typedef enum {
    XE_QMP_FEATURE_EVENTS_CAPABILITY = 1 << 0,          /* migration capability "events" */
    XE_QMP_FEATURE_RETURN_PATH = 1 << 1,                /* capability "return-path" */
    XE_QMP_FEATURE_SWITCHOVER_ACK = 1 << 2,             /* capability "switchover-ack" (8.1) */
    XE_QMP_FEATURE_MULTIFD = 1 << 3,                    /* capability "multifd" */
    XE_QMP_FEATURE_AVAIL_SWITCHOVER_BANDWIDTH = 1 << 4, /* parameter (8.2) */
    XE_QMP_FEATURE_MIGRATE_CHANNELS = 1 << 5,           /* migrate "channels" argument (8.2) */
    XE_QMP_FEATURE_INCOMING_EXIT_ON_ERROR = 1 << 6,     /* migrate-incoming "exit-on-error" (9.1) */
    XE_QMP_FEATURE_VFIO_MIGRATION_EVENT = 1 << 7,       /* event VFIO_MIGRATION (9.1) */
    XE_QMP_FEATURE_PAUSE_BEFORE_SWITCHOVER = 1 << 8,    /* capability "pause-before-switchover" */
    XE_QMP_FEATURE_POSTCOPY_RAM = 1 << 9,               /* capability "postcopy-ram" */
} XeQmpFeatures;

typedef struct {
    XeQmpFeatures features;
    GStrv migration_capabilities; /* every MigrationCapability value */
    GStrv events;                 /* every event name */
} XeQmpSchema;

/* Interprets a query-qmp-schema "return" value; NULL with @error set
 * (XE_QMP_ERROR_BAD_REPLY) on a bad shape. */
XeQmpSchema *xe_qmp_schema_parse(JsonNode *ret, GError **error);
void xe_qmp_schema_free(XeQmpSchema *schema);

/* Runs query-qmp-schema (a large reply: the client's message bound must
 * allow it; QEMU 10.0's is about 200 KiB) and parses it. */
void xe_qmp_query_schema_async(XeQmpClient *self, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
XeQmpSchema *xe_qmp_query_schema_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* "events,return-path,..." for logs; free with g_free(). */
char *xe_qmp_features_to_string(XeQmpFeatures features);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpSchema, xe_qmp_schema_free)

G_END_DECLS
