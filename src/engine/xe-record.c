/* xe-record.c: property-table GObjects, changed from any thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-record"

#include "xe-record.h"

#include "xe-worker.h"

#include <gobject/gvaluecollector.h>

typedef struct {
    GValue *values; /* by property id */
    GMainContext *context;
} XeRecordPrivate;

G_DEFINE_TYPE_WITH_PRIVATE(XeRecord, xe_record, G_TYPE_OBJECT)

static void
xe_record_finalize(GObject *object)
{
    XeRecordPrivate *priv = xe_record_get_instance_private(XE_RECORD(object));
    guint n = XE_RECORD_GET_CLASS(object)->n_props;

    for (guint i = 1; priv->values != NULL && i < n; i++)
        if (G_IS_VALUE(&priv->values[i]))
            g_value_unset(&priv->values[i]);
    g_free(priv->values);
    g_clear_pointer(&priv->context, g_main_context_unref);
    G_OBJECT_CLASS(xe_record_parent_class)->finalize(object);
}

/* The table, made on first use: while XeRecord's instance init runs, the
 * instance still has XeRecord's class, not the subclass that has the properties. */
static GValue *
values_of(GObject *object)
{
    XeRecordPrivate *priv = xe_record_get_instance_private(XE_RECORD(object));
    XeRecordClass *klass = XE_RECORD_GET_CLASS(object);
    g_autofree GParamSpec **pspecs = NULL;
    guint n = 0;

    if (priv->values != NULL)
        return priv->values;
    priv->values = g_new0(GValue, klass->n_props);
    pspecs = g_object_class_list_properties(G_OBJECT_CLASS(klass), &n);
    for (guint i = 0; i < n; i++) {
        guint id = pspecs[i]->param_id;

        if (id == 0 || id >= klass->n_props || G_IS_VALUE(&priv->values[id]))
            continue;
        g_value_init(&priv->values[id], pspecs[i]->value_type);
        g_param_value_set_default(pspecs[i], &priv->values[id]);
    }
    return priv->values;
}

static void
xe_record_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    g_value_copy(&values_of(object)[id], value);
}

static void
xe_record_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
    GValue *values = values_of(object);

    /* Properties are EXPLICIT_NOTIFY: an unchanged value emits nothing (and so
     * no PropertiesChanged on the bus). */
    if (g_param_values_cmp(pspec, &values[id], value) == 0)
        return;
    g_value_copy(value, &values[id]);
    g_object_notify_by_pspec(object, pspec);
}

static void
xe_record_init(XeRecord *self)
{
}

void
xe_record_bind(gpointer record, GMainContext *context)
{
    XeRecordPrivate *priv = xe_record_get_instance_private(record);

    g_assert(priv->context == NULL && context != NULL);
    priv->context = g_main_context_ref(context);
}

static void
xe_record_class_init(XeRecordClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->finalize = xe_record_finalize;
}

void
xe_record_class_install(XeRecordClass *klass, GParamSpec **pspecs, guint n_props)
{
    /* GObject does not inherit these: each class that installs properties needs them. */
    G_OBJECT_CLASS(klass)->get_property = xe_record_get_property;
    G_OBJECT_CLASS(klass)->set_property = xe_record_set_property;
    klass->n_props = n_props;
    for (guint i = 1; i < n_props; i++)
        pspecs[i]->flags |= G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    g_object_class_install_properties(G_OBJECT_CLASS(klass), n_props, pspecs);
}

GMainContext *
xe_record_get_context(gpointer record)
{
    return ((XeRecordPrivate *)xe_record_get_instance_private(record))->context;
}

typedef struct {
    GObject *object;
    guint n;
    const char *names[16];
    GValue values[16];
} Post;

static gboolean
post_apply(gpointer data)
{
    Post *p = data;

    g_object_setv(p->object, p->n, p->names, p->values);
    return G_SOURCE_REMOVE;
}

static void
post_free(gpointer data)
{
    Post *p = data;

    for (guint i = 0; i < p->n; i++)
        g_value_unset(&p->values[i]);
    g_object_unref(p->object);
    g_free(p);
}

void
xe_record_post(gpointer record, const char *first_property, ...)
{
    Post *p = g_new0(Post, 1);
    GObjectClass *klass = G_OBJECT_GET_CLASS(record);
    va_list ap;

    p->object = g_object_ref(record);
    va_start(ap, first_property);
    for (const char *name = first_property; name != NULL; name = va_arg(ap, const char *)) {
        GParamSpec *pspec = g_object_class_find_property(klass, name);
        g_autofree char *error = NULL;

        g_assert(pspec != NULL && p->n < G_N_ELEMENTS(p->values));
        p->names[p->n] = pspec->name; /* interned */
        G_VALUE_COLLECT_INIT(&p->values[p->n], pspec->value_type, ap, 0, &error);
        g_assert(error == NULL);
        p->n++;
    }
    va_end(ap);
    g_assert(xe_record_get_context(record) != NULL);
    if (g_main_context_is_owner(xe_record_get_context(record))) {
        post_apply(p);
        post_free(p);
        return;
    }
    /* queued on the record's context, in order: never applied on the calling thread */
    xe_context_post(xe_record_get_context(record), post_apply, p, post_free);
}
