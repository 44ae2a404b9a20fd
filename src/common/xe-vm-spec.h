/* xe-vm-spec.h: how xe-migrated knows a VM in QMP mode: its launch spec.
 *
 * A spec names the VM, gives QEMU's command line (without a monitor and
 * without -incoming: the daemon adds both) with "{vf}" where the VF's PCI
 * address goes, the VF profile, the policy and the downtime budget. An
 * adopted VM (a QEMU somebody else started) adds its QMP socket and its VF.
 *
 * Specs come from files (NAME.vm, a GKeyFile with one [vm] group) or from
 * D-Bus as a{sv} with the same keys; the destination daemon receives the
 * source's spec to start the incoming QEMU.
 *
 *   [vm]
 *   name = demo
 *   command = qemu-system-x86_64 -machine q35 -m 1G -device vfio-pci,host={vf}
 *             (xe-migrated adds enable-migration=on,migration-events=on to that device)
 *   profile = standard
 *   policy = default
 *   downtime-budget-ms = 1500
 *   qmp = /run/demo.qmp     (adopt only)
 *   vf = 0000:03:00.1       (adopt only)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *name;
    GStrv argv;                 /* "{vf}" placeholders unexpanded */
    char *profile;              /* a configured profile name or key=value pairs */
    char *policy;               /* a policy name (policy/NAME.policy); "default" */
    guint64 downtime_budget_ms; /* 0: the policy's */
    char *qmp;                  /* adopt: the running QEMU's QMP socket path */
    char *vf;                   /* adopt: the VF it holds */
} XeVmSpec;

XeVmSpec *xe_vm_spec_load(const char *path, GError **error);
XeVmSpec *xe_vm_spec_load_from_data(const char *data, const char *where, GError **error);
/* a{sv} with the keys above ("argv" as "as") */
XeVmSpec *xe_vm_spec_from_variant(GVariant *dict, GError **error);
GVariant *xe_vm_spec_to_variant(const XeVmSpec *spec);
/* The spec as a NAME.vm file's text (what xe_vm_spec_load_from_data() reads back). */
char *xe_vm_spec_to_data(const XeVmSpec *spec);
XeVmSpec *xe_vm_spec_copy(const XeVmSpec *spec);
void xe_vm_spec_free(XeVmSpec *spec);

/* A VM name is a D-Bus object path element and a file name: [A-Za-z0-9_-], 1..64. */
gboolean xe_vm_name_is_valid(const char *name);

/* The command line with every "{vf}" replaced by @vf, and the VF's own device
 * ("-device vfio-pci,host={vf},...") given enable-migration=on and migration-events=on
 * unless it says so already (a spec that says otherwise is refused when loaded). */
GStrv xe_vm_spec_expand_argv(const XeVmSpec *spec, const char *vf);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeVmSpec, xe_vm_spec_free)

G_END_DECLS
