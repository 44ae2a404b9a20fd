/* xe-qmp-migration.h: QMP's migration commands and events, typed.
 *
 * query-migrate parsed into XeQmpMigrationInfo; migration capabilities and
 * parameters; migrate and migrate-incoming in both the "uri" and the
 * "channels" form; migrate-continue; and decoders for the MIGRATION,
 * MIGRATION_PASS and VFIO_MIGRATION events.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-commands.h"

G_BEGIN_DECLS

#define XE_QMP_EVENT_MIGRATION      "MIGRATION"
#define XE_QMP_EVENT_MIGRATION_PASS "MIGRATION_PASS"
#define XE_QMP_EVENT_STOP           "STOP"
#define XE_QMP_EVENT_RESUME         "RESUME"
#define XE_QMP_EVENT_RESET          "RESET"
#define XE_QMP_EVENT_SHUTDOWN       "SHUTDOWN"
#define XE_QMP_EVENT_VFIO_MIGRATION "VFIO_MIGRATION"
#define XE_QMP_EVENT_DEVICE_DELETED "DEVICE_DELETED"

/* MigrationStatus, in QAPI order. */
typedef enum {
    XE_QMP_MIGRATION_STATUS_NONE,
    XE_QMP_MIGRATION_STATUS_SETUP,
    XE_QMP_MIGRATION_STATUS_CANCELLING,
    XE_QMP_MIGRATION_STATUS_CANCELLED,
    XE_QMP_MIGRATION_STATUS_ACTIVE,
    XE_QMP_MIGRATION_STATUS_POSTCOPY_ACTIVE,
    XE_QMP_MIGRATION_STATUS_POSTCOPY_PAUSED,
    XE_QMP_MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
    XE_QMP_MIGRATION_STATUS_POSTCOPY_RECOVER,
    XE_QMP_MIGRATION_STATUS_COMPLETED,
    XE_QMP_MIGRATION_STATUS_FAILED,
    XE_QMP_MIGRATION_STATUS_COLO,
    XE_QMP_MIGRATION_STATUS_PRE_SWITCHOVER,
    XE_QMP_MIGRATION_STATUS_DEVICE,
    XE_QMP_MIGRATION_STATUS_WAIT_UNPLUG,
    XE_QMP_MIGRATION_STATUS_UNKNOWN, /* a value this build does not know */
} XeQmpMigrationStatus;

const char *xe_qmp_migration_status_to_string(XeQmpMigrationStatus status);
XeQmpMigrationStatus xe_qmp_migration_status_from_string(const char *text);
/* completed, failed or cancelled: nothing more will happen. */
gboolean xe_qmp_migration_status_is_final(XeQmpMigrationStatus status);

/* The "ram" member of query-migrate. */
typedef struct {
    guint64 transferred;
    guint64 remaining; /* has_remaining: dropped once completed */
    guint64 total;
    guint64 duplicate; /* zero pages */
    guint64 normal;
    guint64 normal_bytes;
    guint64 dirty_pages_rate; /* has_dirty_pages_rate */
    guint64 dirty_sync_count;
    guint64 page_size;
    guint64 multifd_bytes;
    guint64 precopy_bytes;
    guint64 downtime_bytes;
    guint64 postcopy_bytes;
    double mbps;
    double pages_per_second;
    gboolean has_remaining;
    gboolean has_dirty_pages_rate;
} XeQmpRamStats;

typedef struct {
    XeQmpMigrationStatus status;
    char *status_text; /* as QEMU sent it, for an UNKNOWN status */
    gboolean has_setup_time;
    guint64 setup_time_ms;
    gboolean has_total_time;
    guint64 total_time_ms;
    gboolean has_downtime; /* only when completed (or in postcopy) */
    guint64 downtime_ms;
    gboolean has_expected_downtime;
    guint64 expected_downtime_ms;
    gboolean has_cpu_throttle;
    guint64 cpu_throttle_percentage;
    gboolean has_ram;
    XeQmpRamStats ram;
    gboolean has_vfio; /* only when a VFIO device migrates and none is blocked */
    guint64 vfio_transferred;
    char *error_desc;      /* NULL unless QEMU recorded an error */
    GStrv blocked_reasons; /* NULL when none */
    char *socket_port;     /* destination listening on inet: the port, else NULL */
} XeQmpMigrationInfo;

void xe_qmp_query_migrate_async(XeQmpClient *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
XeQmpMigrationInfo *xe_qmp_query_migrate_finish(XeQmpClient *self, GAsyncResult *result,
                                                GError **error);
/* Parses a query-migrate "return" value (exposed for tests and fuzzing);
 * NULL with @error set (XE_QMP_ERROR_BAD_REPLY) on a bad shape. */
XeQmpMigrationInfo *xe_qmp_migration_info_parse(JsonNode *ret, GError **error);
void xe_qmp_migration_info_free(XeQmpMigrationInfo *info);

/* Migration capabilities. */
typedef struct {
    const char *name; /* "events", "return-path", "switchover-ack", "multifd", ... */
    gboolean state;
} XeQmpCapability;

void xe_qmp_migrate_set_capabilities_async(XeQmpClient *self, const XeQmpCapability *caps,
                                           gsize n_caps, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_qmp_migrate_set_capabilities_finish(XeQmpClient *self, GAsyncResult *result,
                                                GError **error);
/* The result maps each capability name to GINT_TO_POINTER(state). */
void xe_qmp_query_migrate_capabilities_async(XeQmpClient *self, GCancellable *cancellable,
                                             GAsyncReadyCallback callback, gpointer user_data);
GHashTable *xe_qmp_query_migrate_capabilities_finish(XeQmpClient *self, GAsyncResult *result,
                                                     GError **error);

/* The migration parameters xe-migrated sets; a has_ flag says whether the
 * value is present (in a query) or to be set (in migrate-set-parameters). */
typedef struct {
    gboolean has_downtime_limit;
    guint64 downtime_limit_ms;
    gboolean has_max_bandwidth;
    guint64 max_bandwidth; /* bytes per second */
    gboolean has_avail_switchover_bandwidth;
    guint64 avail_switchover_bandwidth; /* bytes per second, 0 = estimate */
    gboolean has_multifd_channels;
    guint64 multifd_channels;
    gboolean has_cpu_throttle_initial;
    guint64 cpu_throttle_initial;
    gboolean has_cpu_throttle_increment;
    guint64 cpu_throttle_increment;
} XeQmpMigrationParameters;

void xe_qmp_migrate_set_parameters_async(XeQmpClient *self, const XeQmpMigrationParameters *params,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean xe_qmp_migrate_set_parameters_finish(XeQmpClient *self, GAsyncResult *result,
                                              GError **error);
void xe_qmp_query_migrate_parameters_async(XeQmpClient *self, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
XeQmpMigrationParameters *
xe_qmp_query_migrate_parameters_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* migrate and migrate-incoming. @uri is one of unix:PATH, tcp:HOST:PORT,
 * exec:COMMAND, file:PATH[,offset=N]; with @use_channels it is sent as the
 * "channels" form (QEMU >= 8.2) instead of "uri". */
void xe_qmp_migrate_async(XeQmpClient *self, const char *uri, gboolean use_channels,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
gboolean xe_qmp_migrate_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

typedef enum {
    XE_QMP_EXIT_ON_ERROR_DEFAULT, /* not sent: QEMU's default (true since 9.1) */
    XE_QMP_EXIT_ON_ERROR_TRUE,
    XE_QMP_EXIT_ON_ERROR_FALSE,
} XeQmpExitOnError;

void xe_qmp_migrate_incoming_async(XeQmpClient *self, const char *uri, gboolean use_channels,
                                   XeQmpExitOnError exit_on_error, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean xe_qmp_migrate_incoming_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* The "channels" value for @uri: [{channel-type: main, addr: {...}}]. */
JsonNode *xe_qmp_migration_channels_from_uri(const char *uri, GError **error);

/* migrate-continue: ends a pre-switchover pause; @state must be the current one. */
void xe_qmp_migrate_continue_async(XeQmpClient *self, XeQmpMigrationStatus state,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean xe_qmp_migrate_continue_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* Event decoders: FALSE with XE_QMP_ERROR_BAD_REPLY naming the member when
 * @data (the event's "data", never NULL) has the wrong shape; the outputs are
 * set only on success. An unknown status or state value is not an error: it
 * decodes as XE_QMP_..._UNKNOWN. */
gboolean xe_qmp_event_migration_decode(JsonObject *data, XeQmpMigrationStatus *status,
                                       GError **error);
gboolean xe_qmp_event_migration_pass_decode(JsonObject *data, guint64 *pass, GError **error);

/* VFIOMigrationState, as VFIO_MIGRATION reports it. */
typedef enum {
    XE_QMP_VFIO_STATE_STOP,
    XE_QMP_VFIO_STATE_RUNNING,
    XE_QMP_VFIO_STATE_STOP_COPY,
    XE_QMP_VFIO_STATE_RESUMING,
    XE_QMP_VFIO_STATE_RUNNING_P2P,
    XE_QMP_VFIO_STATE_PRE_COPY,
    XE_QMP_VFIO_STATE_PRE_COPY_P2P,
    XE_QMP_VFIO_STATE_UNKNOWN,
} XeQmpVfioState;

const char *xe_qmp_vfio_state_to_string(XeQmpVfioState state);
/* @device_id and @qom_path point into @data. */
gboolean xe_qmp_event_vfio_migration_decode(JsonObject *data, const char **device_id,
                                            const char **qom_path, XeQmpVfioState *state,
                                            GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpMigrationInfo, xe_qmp_migration_info_free)

G_END_DECLS
