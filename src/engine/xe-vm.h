/* xe-vm.h: XeVm, a VM this host runs: started from its spec or adopted by
 * its QMP socket, with the VF it holds and the QEMU process that runs it. Its
 * properties are what its D-Bus object shows.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-record.h"
#include "xe-vm-spec.h"

G_BEGIN_DECLS

/* XeVm properties: name, state (starting, running, migrating, migrated, stopped), vf,
 * reservation, qmp-socket, pid (u), profile, policy, downtime-budget (t, ms), adopted (b),
 * job (the id of its migration job, or ""). */
#define XE_TYPE_VM (xe_vm_get_type())
G_DECLARE_FINAL_TYPE(XeVm, xe_vm, XE, VM, XeRecord)

typedef enum {
    XE_VM_STARTING,
    XE_VM_RUNNING,
    XE_VM_PAUSED,      /* its QEMU stopped the guest (it did not resume after a failure) */
    XE_VM_POSTMIGRATE, /* a completed source, waiting for its destination's word */
    XE_VM_MIGRATING,   /* a job holds it */
    XE_VM_MIGRATED,    /* it left: the source cleans up */
    XE_VM_STOPPING,    /* being removed */
    XE_VM_STOPPED,     /* its QEMU is gone */
} XeVmState;

/* The D-Bus State of a VM. */
const char *xe_vm_state_to_string(XeVmState state);
gboolean xe_vm_state_from_string(const char *text, XeVmState *state);
XeVmState xe_vm_get_state(XeVm *vm);
void xe_vm_set_state(XeVm *vm, XeVmState state);

/* Bound to @context (the engine's main context): changes from elsewhere are posted there. */
XeVm *xe_vm_new(const XeVmSpec *spec, GMainContext *context);
const XeVmSpec *xe_vm_get_spec(XeVm *vm);
const char *xe_vm_get_name(XeVm *vm);
/* The QEMU the daemon started for it, or NULL when adopted. */
GObject *xe_vm_get_process(XeVm *vm);
void xe_vm_set_process(XeVm *vm, GObject *process);

G_END_DECLS
