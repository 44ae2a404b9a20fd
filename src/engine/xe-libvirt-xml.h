/* xe-libvirt-xml.h: the GPU side of a libvirt domain's XML: its Xe VFs, and the
 * rewrite that points one at another VF.
 *
 * A domain's Xe VFs are the PCI hostdevs that xe-migrated's metadata names, with the
 * profile each VF was provisioned with (what a destination must provision to take its
 * state), in the domain's <metadata>:
 *
 *   <xe:migrated xmlns:xe="urn:xe-migrated:libvirt:1">
 *     <xe:vf host="0000:03:00.1" profile="exec_quantum_ms=20,...,vram_quota=536870912,..."
 *            reservation="UUID"/>
 *   </xe:migrated>
 *
 * host is the VF's address on the host the XML is for; reservation, when present, is the
 * reservation a destination made for this migration (a daemon-driven migration reserves
 * before libvirt starts). Everything else in the XML is kept as it is.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_LIBVIRT_XMLNS "urn:xe-migrated:libvirt:1"

typedef struct {
    char *host;        /* the VF's PCI address, as the hostdev names it */
    char *profile;     /* key=value pairs */
    char *reservation; /* or NULL */
} XeLibvirtVf;

typedef struct _XeLibvirtDomain XeLibvirtDomain;

/* NULL with XE_ERROR_INVALID_ARGUMENT saying what is wrong and where: XML libvirt would not
 * have written, a metadata entry without its host or profile, naming no hostdev, or naming
 * one another entry names too. */
XeLibvirtDomain *xe_libvirt_domain_parse(const char *xml, GError **error);
void xe_libvirt_domain_free(XeLibvirtDomain *domain);

const char *xe_libvirt_domain_get_name(XeLibvirtDomain *domain);
/* The domain's Xe VFs (XeLibvirtVf), in the metadata's order; empty for other domains. */
GPtrArray *xe_libvirt_domain_get_vfs(XeLibvirtDomain *domain);
/* Points VF @index (of xe_libvirt_domain_get_vfs()) at @new_host: its hostdev and its
 * metadata entry, recording @reservation (NULL: none). Refused when another hostdev, not
 * one of the domain's Xe VFs, has that address. */
gboolean xe_libvirt_domain_retarget(XeLibvirtDomain *domain, guint index, const char *new_host,
                                    const char *reservation, GError **error);
char *xe_libvirt_domain_to_xml(XeLibvirtDomain *domain);

/* The PCI addresses of all the domain's PCI hostdevs. */
GStrv xe_libvirt_domain_get_hostdevs(XeLibvirtDomain *domain);

/* What a domain whose hostdev @host is an Xe VF needs to migrate, as one-line problems
 * (NULL when nothing is missing): its metadata entry, and the enable-migration=on
 * frontend override on the hostdev's user alias (QEMU blocks the migration of a VF without
 * dirty tracking otherwise). */
GStrv xe_libvirt_xml_missing(const char *xml, const char *host, GError **error);

/* @xml with what xe_libvirt_xml_missing() names added for each VF of @hosts, the profile of
 * each in @profiles (same order): a user alias (ua-xevfN) on its hostdev where it has none,
 * the override, and the metadata entry. *@changes says what was added, a line each (empty
 * when nothing was missing). NULL with XE_ERROR_INVALID_ARGUMENT when @xml is not a domain
 * or a host names no hostdev. */
char *xe_libvirt_xml_prepare(const char *xml, const char *const *hosts, const char *const *profiles,
                             GStrv *changes, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeLibvirtDomain, xe_libvirt_domain_free)

G_END_DECLS
