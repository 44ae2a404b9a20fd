/* xe-vf-device.h: the VF's vfio-pci device inside a QEMU, found by its host address
 * over QMP, and the migration properties the engine sets on it at run time.
 *
 * Blocking: for the job and incoming worker threads (XeAwait), never the main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-client.h"

G_BEGIN_DECLS

/* The QOM path of the vfio-pci device whose host is @vf (a PCI address), under
 * /machine/peripheral (devices with an id) or /machine/peripheral-anon; NULL with
 * XE_ERROR_NOT_FOUND when the QEMU has none. */
char *xe_vf_device_find(XeQmpClient *qmp, const char *vf, GCancellable *cancellable,
                        GError **error);

/* Whether QEMU moves @vf's state through the multifd channels
 * (x-migration-multifd-transfer, QEMU >= 10.0, settable while the VM runs; "auto", its
 * default, means yes whenever multifd is on). Both ends must agree: the destination
 * refuses device state packets it does not expect. */
gboolean xe_vf_device_set_multifd_transfer(XeQmpClient *qmp, const char *vf, gboolean on,
                                           GCancellable *cancellable, GError **error);

G_END_DECLS
