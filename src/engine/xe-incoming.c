/* xe-incoming.c: XeIncoming, an incoming migration (see xe-incoming.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-incoming"

#include "xe-incoming.h"

#define S(n)    g_param_spec_string(n, NULL, NULL, "", 0)
#define U(n)    g_param_spec_uint(n, NULL, NULL, 0, G_MAXUINT, 0, 0)
#define T(n)    g_param_spec_uint64(n, NULL, NULL, 0, G_MAXUINT64, 0, 0)
#define X(n)    g_param_spec_int64(n, NULL, NULL, 0, G_MAXINT64, 0, 0)
#define B(n)    g_param_spec_boolean(n, NULL, NULL, FALSE, 0)
#define V(n, t) g_param_spec_variant(n, NULL, NULL, G_VARIANT_TYPE(t), NULL, 0)

struct _XeIncoming {
    XeRecord parent_instance;
    char *id;
    XeVmSpec *spec;
};

G_DEFINE_TYPE(XeIncoming, xe_incoming, XE_TYPE_RECORD)

static void
xe_incoming_finalize(GObject *object)
{
    XeIncoming *self = XE_INCOMING(object);

    g_free(self->id);
    xe_vm_spec_free(self->spec);
    G_OBJECT_CLASS(xe_incoming_parent_class)->finalize(object);
}

static void
xe_incoming_init(XeIncoming *self)
{
}

static void
xe_incoming_class_init(XeIncomingClass *klass)
{
    GParamSpec *p[] = {
        NULL,       S("id"),    S("vm"),  S("vf"),     S("reservation"), S("uri"),
        S("state"), S("error"), U("pid"), B("exited"), S("owner"),
    };

    G_OBJECT_CLASS(klass)->finalize = xe_incoming_finalize;
    xe_record_class_install(XE_RECORD_CLASS(klass), p, G_N_ELEMENTS(p));
}

XeIncoming *
xe_incoming_new(GMainContext *context, const char *id, const XeVmSpec *spec, const char *owner)
{
    XeIncoming *incoming = g_object_new(XE_TYPE_INCOMING, "id", id, "vm", spec->name, "owner",
                                        owner, "state", "preparing", NULL);

    xe_record_bind(incoming, context);
    incoming->id = g_strdup(id);
    incoming->spec = xe_vm_spec_copy(spec);
    return incoming;
}

const char *
xe_incoming_get_id(XeIncoming *incoming)
{
    return incoming->id;
}

const XeVmSpec *
xe_incoming_get_spec(XeIncoming *incoming)
{
    return incoming->spec;
}
