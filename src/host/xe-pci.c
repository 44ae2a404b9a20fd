/* xe-pci.c: PCI addresses and SR-IOV VF routing IDs (drivers/pci/iov.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-pci"

#include "xe-pci.h"

#include <stdio.h>
#include <string.h>

#include "xe-error.h"

static gboolean
hex_field(const char *text, gsize len, guint max, guint *out)
{
    guint v = 0;

    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isxdigit(text[i]))
            return FALSE;
        v = v * 16 + (guint)g_ascii_xdigit_value(text[i]);
    }
    if (v > max)
        return FALSE;
    *out = v;
    return TRUE;
}

gboolean
xe_pci_address_parse(const char *text, XePciAddress *out, GError **error)
{
    XePciAddress a;

    if (text == NULL || strlen(text) != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.' ||
        !hex_field(text, 4, 0xffff, &a.domain) || !hex_field(text + 5, 2, 0xff, &a.bus) ||
        !hex_field(text + 8, 2, 0x1f, &a.slot) || !hex_field(text + 11, 1, 7, &a.function)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "'%s' is not a PCI address (expected DDDD:BB:SS.F, e.g. 0000:03:00.1)",
                    text != NULL ? text : "");
        return FALSE;
    }
    *out = a;
    return TRUE;
}

void
xe_pci_address_format(const XePciAddress *addr, char *buf, gsize size)
{
    g_snprintf(buf, size, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->slot, addr->function);
}

XePciAddress
xe_pci_vf_address(const XePciAddress *pf, guint offset, guint stride, guint index)
{
    guint rid = ((pf->slot << 3) | pf->function) + offset + stride * index;
    XePciAddress vf = { pf->domain, pf->bus + (rid >> 8), (rid & 0xff) >> 3, rid & 7 };

    return vf;
}

int
xe_pci_vf_index(const XePciAddress *pf, guint offset, guint stride, guint total,
                const XePciAddress *vf)
{
    for (guint i = 0; i < total; i++) {
        XePciAddress a = xe_pci_vf_address(pf, offset, stride, i);
        if (memcmp(&a, vf, sizeof(a)) == 0)
            return (int)i;
    }
    return -1;
}
