/* xe-record.h: a GObject that is a bag of read-only-to-the-world properties,
 * for the engine's observable objects (jobs, VMs, incoming migrations).
 *
 * Subclasses declare their properties once; values live in a table and every
 * change emits "notify", which the daemon binds straight to the D-Bus
 * skeleton's properties (and so to PropertiesChanged). A record is bound, by
 * its constructor, to the engine's main context and is read and changed only
 * there; a worker thread changes it with xe_record_post(), which applies the
 * change there, and never reads it (it works on what it was given).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define XE_TYPE_RECORD (xe_record_get_type())
G_DECLARE_DERIVABLE_TYPE(XeRecord, xe_record, XE, RECORD, GObject)

struct _XeRecordClass {
    GObjectClass parent_class;
    guint n_props; /* including the unused id 0 */
};

/* Installs @pspecs[1..@n_props-1] (G_PARAM_READWRITE is added). */
void xe_record_class_install(XeRecordClass *klass, GParamSpec **pspecs, guint n_props);

/* g_object_set() on the record's own context: now if the caller runs
 * there, else queued (in order) and applied there. NULL-terminated. */
void xe_record_post(gpointer record, const char *first_property, ...) G_GNUC_NULL_TERMINATED;

GMainContext *xe_record_get_context(gpointer record);
/* For constructors: binds @record to @context, once. */
void xe_record_bind(gpointer record, GMainContext *context);

G_END_DECLS
