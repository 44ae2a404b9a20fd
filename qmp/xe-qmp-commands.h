/* xe-qmp-commands.h: typed QMP commands on top of XeQmpClient.
 *
 * Each command is an _async/_finish pair built on xe_qmp_client_call_async(),
 * which runs a command and turns its "return" value into a C value with a
 * parser that checks every type: a reply of the wrong shape fails with
 * XE_QMP_ERROR_BAD_REPLY naming the member, never a crash.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-client.h"

G_BEGIN_DECLS

/* Turns @ret (a command's "return" value) into a result; NULL with @error set
 * on a bad shape (a parser that fails without setting it fails the call with
 * XE_QMP_ERROR_BAD_REPLY all the same). Void commands use a NULL parser and
 * get TRUE. */
typedef gpointer (*XeQmpReplyParser)(JsonNode *ret, const char *command, GError **error);

void xe_qmp_client_call_async(XeQmpClient *self, const char *command, JsonObject *arguments,
                              XeQmpReplyParser parser, GDestroyNotify free_result, guint timeout_ms,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
gpointer xe_qmp_client_call_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* Commands that return nothing: stop, cont, quit, migrate_cancel. */
#define XE_QMP_DECLARE_VOID_COMMAND(name)                                         \
    void xe_qmp_##name##_async(XeQmpClient *self, GCancellable *cancellable,      \
                               GAsyncReadyCallback callback, gpointer user_data); \
    gboolean xe_qmp_##name##_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

XE_QMP_DECLARE_VOID_COMMAND(stop)
XE_QMP_DECLARE_VOID_COMMAND(cont)
XE_QMP_DECLARE_VOID_COMMAND(quit)
XE_QMP_DECLARE_VOID_COMMAND(migrate_cancel)

/* query-version */
void xe_qmp_query_version_async(XeQmpClient *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
XeQmpVersion *xe_qmp_query_version_finish(XeQmpClient *self, GAsyncResult *result, GError **error);
void xe_qmp_version_free(XeQmpVersion *version);

/* query-status */
typedef struct {
    gboolean running;
    char *status; /* RunState: "running", "paused", "inmigrate", "postmigrate", ... */
} XeQmpStatus;

void xe_qmp_query_status_async(XeQmpClient *self, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
XeQmpStatus *xe_qmp_query_status_finish(XeQmpClient *self, GAsyncResult *result, GError **error);
void xe_qmp_status_free(XeQmpStatus *status);

/* query-memory-size-summary: the guest's RAM, base and hot-plugged */
typedef struct {
    guint64 base_memory;
    guint64 plugged_memory; /* 0 when QEMU reports none */
} XeQmpMemorySize;

void xe_qmp_query_memory_size_summary_async(XeQmpClient *self, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
XeQmpMemorySize *xe_qmp_query_memory_size_summary_finish(XeQmpClient *self, GAsyncResult *result,
                                                         GError **error);

/* qom-list: the properties of the QOM object at @path, as "name" and "type" pairs
 * ("child<iommufd>", "link<...>", "str", ...) */
typedef struct {
    char *name;
    char *type;
} XeQmpObjectProperty;

void xe_qmp_qom_list_async(XeQmpClient *self, const char *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
/* a GPtrArray of XeQmpObjectProperty */
GPtrArray *xe_qmp_qom_list_finish(XeQmpClient *self, GAsyncResult *result, GError **error);
void xe_qmp_object_property_free(XeQmpObjectProperty *property);

/* qom-get: property @property of the QOM object at @path, its value as QEMU gives it;
 * qom-set: sets it to @value (a JSON value). */
void xe_qmp_qom_get_async(XeQmpClient *self, const char *path, const char *property,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
JsonNode *xe_qmp_qom_get_finish(XeQmpClient *self, GAsyncResult *result, GError **error);
void xe_qmp_qom_set_async(XeQmpClient *self, const char *path, const char *property,
                          JsonNode *value, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
gboolean xe_qmp_qom_set_finish(XeQmpClient *self, GAsyncResult *result, GError **error);

/* Reply-checking helpers shared by the typed parsers. Each fails with
 * XE_QMP_ERROR_BAD_REPLY "<command>: '<member>' <what is wrong>". */
JsonObject *xe_qmp_reply_object(JsonNode *ret, const char *command, GError **error);
gboolean xe_qmp_reply_get_string(JsonObject *obj, const char *command, const char *member,
                                 gboolean required, const char **out, GError **error);
gboolean xe_qmp_reply_get_bool(JsonObject *obj, const char *command, const char *member,
                               gboolean required, gboolean *out, GError **error);
/* A non-negative integer; *present tells whether the member was there. */
gboolean xe_qmp_reply_get_uint(JsonObject *obj, const char *command, const char *member,
                               gboolean *present, guint64 *out, GError **error);
gboolean xe_qmp_reply_get_double(JsonObject *obj, const char *command, const char *member,
                                 gboolean *present, double *out, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpVersion, xe_qmp_version_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpStatus, xe_qmp_status_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeQmpObjectProperty, xe_qmp_object_property_free)

G_END_DECLS
