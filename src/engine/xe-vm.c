/* xe-vm.c: XeVm, a VM of this host (see xe-vm.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-vm"

#include "xe-vm.h"

#define S(n)    g_param_spec_string(n, NULL, NULL, "", 0)
#define U(n)    g_param_spec_uint(n, NULL, NULL, 0, G_MAXUINT, 0, 0)
#define T(n)    g_param_spec_uint64(n, NULL, NULL, 0, G_MAXUINT64, 0, 0)
#define X(n)    g_param_spec_int64(n, NULL, NULL, 0, G_MAXINT64, 0, 0)
#define B(n)    g_param_spec_boolean(n, NULL, NULL, FALSE, 0)
#define V(n, t) g_param_spec_variant(n, NULL, NULL, G_VARIANT_TYPE(t), NULL, 0)

struct _XeVm {
    XeRecord parent_instance;
    XeVmSpec *spec;
    GObject *process;
};

G_DEFINE_TYPE(XeVm, xe_vm, XE_TYPE_RECORD)

static const char *const states[] = {
    [XE_VM_STARTING] = "starting",   [XE_VM_RUNNING] = "running",
    [XE_VM_PAUSED] = "paused",       [XE_VM_POSTMIGRATE] = "postmigrate",
    [XE_VM_MIGRATING] = "migrating", [XE_VM_MIGRATED] = "migrated",
    [XE_VM_STOPPING] = "stopping",   [XE_VM_STOPPED] = "stopped",
};

const char *
xe_vm_state_to_string(XeVmState state)
{
    g_return_val_if_fail((guint)state < G_N_ELEMENTS(states), "unknown");
    return states[state];
}

gboolean
xe_vm_state_from_string(const char *text, XeVmState *state)
{
    for (guint i = 0; i < G_N_ELEMENTS(states); i++)
        if (g_strcmp0(text, states[i]) == 0) {
            *state = (XeVmState)i;
            return TRUE;
        }
    return FALSE;
}

/* On the record's context (main). */
XeVmState
xe_vm_get_state(XeVm *vm)
{
    g_autofree char *text = NULL;
    XeVmState state = XE_VM_STOPPED;

    g_object_get(vm, "state", &text, NULL);
    (void)xe_vm_state_from_string(text, &state);
    return state;
}

void
xe_vm_set_state(XeVm *vm, XeVmState state)
{
    g_object_set(vm, "state", states[state], NULL);
}

static void
xe_vm_finalize(GObject *object)
{
    XeVm *self = XE_VM(object);

    xe_vm_spec_free(self->spec);
    g_clear_object(&self->process);
    G_OBJECT_CLASS(xe_vm_parent_class)->finalize(object);
}

static void
xe_vm_init(XeVm *self)
{
}

static void
xe_vm_class_init(XeVmClass *klass)
{
    GParamSpec *p[] = {
        NULL,
        S("name"),
        S("state"),
        S("vf"),
        S("reservation"),
        S("qmp-socket"),
        U("pid"),
        S("profile"),
        S("policy"),
        T("downtime-budget"),
        B("adopted"),
        S("job"),
    };

    G_OBJECT_CLASS(klass)->finalize = xe_vm_finalize;
    xe_record_class_install(XE_RECORD_CLASS(klass), p, G_N_ELEMENTS(p));
}

XeVm *
xe_vm_new(const XeVmSpec *spec, GMainContext *context)
{
    XeVm *vm = g_object_new(XE_TYPE_VM, "name", spec->name, "profile", spec->profile, "policy",
                            spec->policy, "downtime-budget", spec->downtime_budget_ms, "adopted",
                            spec->qmp != NULL, "state", states[XE_VM_STARTING], NULL);

    xe_record_bind(vm, context);
    vm->spec = xe_vm_spec_copy(spec);
    return vm;
}

const XeVmSpec *
xe_vm_get_spec(XeVm *vm)
{
    return vm->spec;
}

const char *
xe_vm_get_name(XeVm *vm)
{
    return vm->spec->name;
}

GObject *
xe_vm_get_process(XeVm *vm)
{
    return vm->process;
}

void
xe_vm_set_process(XeVm *vm, GObject *process)
{
    g_set_object(&vm->process, process);
}
