/* xe-pci.h: PCI addresses (domain:bus:slot.function) and the SR-IOV routing
 * arithmetic that maps a PF and a VF index to the VF's address and back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    guint domain;
    guint bus;
    guint slot;
    guint function;
} XePciAddress;

/* Parses "0000:03:00.1" strictly (lower or upper hex); FALSE with an
 * XE_ERROR_INVALID_ARGUMENT error that quotes the text otherwise. */
gboolean xe_pci_address_parse(const char *text, XePciAddress *out, GError **error);
/* "0000:03:00.1" into @buf (at least 13 bytes). */
void xe_pci_address_format(const XePciAddress *addr, char *buf, gsize size);

/* The address of VF @index (0-based) of @pf: rid = devfn + offset + stride * index. */
XePciAddress xe_pci_vf_address(const XePciAddress *pf, guint offset, guint stride, guint index);
/* The 0-based index of @vf under @pf, or -1 when it is not one of its VFs. */
int xe_pci_vf_index(const XePciAddress *pf, guint offset, guint stride, guint total,
                    const XePciAddress *vf);

G_END_DECLS
