/* xe-libvirt-xml.c: a libvirt domain's Xe VFs, read from and written to its XML
 * (libvirt-gconfig keeps the rest of the document as it is).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include "xe-libvirt-xml.h"

#include <libvirt-gconfig/libvirt-gconfig.h>
#include <stdio.h>
#include <string.h>

#include "xe-error.h"

/* libvirt-gconfig 4.0 declares no cleanup functions */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GVirConfigDomainAddressPci, g_object_unref)

struct _XeLibvirtDomain {
    GVirConfigDomain *config;
    GPtrArray *vfs;       /* XeLibvirtVf */
    GPtrArray *hostdevs;  /* GVirConfigDomainHostdevPci, all of them */
    GPtrArray *vf_device; /* the hostdev of each VF (borrowed from hostdevs) */
};

static void
vf_free(XeLibvirtVf *vf)
{
    g_free(vf->host);
    g_free(vf->profile);
    g_free(vf->reservation);
    g_free(vf);
}

void
xe_libvirt_domain_free(XeLibvirtDomain *domain)
{
    if (domain == NULL)
        return;
    g_clear_object(&domain->config);
    g_ptr_array_unref(domain->vfs);
    g_ptr_array_unref(domain->vf_device);
    g_ptr_array_unref(domain->hostdevs);
    g_free(domain);
}

/* the hostdev's host address, "DDDD:BB:SS.F" */
static char *
hostdev_address(GVirConfigDomainHostdevPci *hostdev)
{
    g_autoptr(GVirConfigDomainAddressPci) a = gvir_config_domain_hostdev_pci_get_address(hostdev);

    if (a == NULL)
        return NULL;
    return g_strdup_printf("%04x:%02x:%02x.%x", gvir_config_domain_address_pci_get_domain(a),
                           gvir_config_domain_address_pci_get_bus(a),
                           gvir_config_domain_address_pci_get_slot(a),
                           gvir_config_domain_address_pci_get_function(a));
}

static GVirConfigDomainHostdevPci *
find_hostdev(XeLibvirtDomain *domain, const char *host)
{
    for (guint i = 0; i < domain->hostdevs->len; i++) {
        g_autofree char *address = hostdev_address(domain->hostdevs->pdata[i]);

        if (address != NULL && g_ascii_strcasecmp(address, host) == 0)
            return domain->hostdevs->pdata[i];
    }
    return NULL;
}

static gboolean
parse_bdf(const char *text, guint *dom, guint *bus, guint *slot, guint *fn)
{
    char tail;

    return text != NULL && sscanf(text, "%4x:%2x:%2x.%1x%c", dom, bus, slot, fn, &tail) == 4 &&
           *slot < 32 && *fn < 8 && strlen(text) == 12;
}

/* the metadata: <migrated><vf host= profile= reservation=/></migrated>, any prefix */

static const char *
local_name(const char *element)
{
    const char *colon = strrchr(element, ':');

    return colon != NULL ? colon + 1 : element;
}

static void
metadata_start(GMarkupParseContext *context, const char *element, const char **names,
               const char **values, gpointer user_data, GError **error)
{
    GPtrArray *vfs = user_data;
    const char *host = NULL, *profile = NULL, *reservation = NULL;
    XeLibvirtVf *vf;
    guint d, b, s, f;

    if (!g_str_equal(local_name(element), "vf"))
        return;
    for (guint i = 0; names[i] != NULL; i++) {
        if (g_str_equal(names[i], "host"))
            host = values[i];
        else if (g_str_equal(names[i], "profile"))
            profile = values[i];
        else if (g_str_equal(names[i], "reservation"))
            reservation = values[i];
    }
    if (!parse_bdf(host, &d, &b, &s, &f) || profile == NULL || *profile == '\0') {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "xe-migrated's metadata: a <vf> needs host (a PCI address such as "
                    "0000:03:00.1, not '%s') and profile (key=value pairs)",
                    host != NULL ? host : "");
        return;
    }
    vf = g_new0(XeLibvirtVf, 1);
    vf->host = g_ascii_strdown(host, -1);
    vf->profile = g_strdup(profile);
    vf->reservation = reservation != NULL && *reservation != '\0' ? g_strdup(reservation) : NULL;
    g_ptr_array_add(vfs, vf);
}

XeLibvirtDomain *
xe_libvirt_domain_parse(const char *xml, GError **error)
{
    g_autoptr(XeLibvirtDomain) domain = g_new0(XeLibvirtDomain, 1);
    g_autoptr(GError) local = NULL;
    g_autofree char *metadata = NULL;
    GList *devices;

    domain->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)vf_free);
    domain->hostdevs = g_ptr_array_new_with_free_func(g_object_unref);
    domain->vf_device = g_ptr_array_new();
    domain->config = gvir_config_domain_new_from_xml(xml, &local);
    if (domain->config == NULL || gvir_config_domain_get_name(domain->config) == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "the domain XML is not a libvirt domain: %s",
                    local != NULL ? local->message : "no <name>");
        return NULL;
    }
    devices = gvir_config_domain_get_devices(domain->config);
    for (GList *l = devices; l != NULL; l = l->next) {
        if (GVIR_CONFIG_IS_DOMAIN_HOSTDEV_PCI(l->data))
            g_ptr_array_add(domain->hostdevs, g_object_ref(l->data));
    }
    g_list_free_full(devices, g_object_unref);

    metadata = gvir_config_domain_get_custom_xml(domain->config, XE_LIBVIRT_XMLNS);
    if (metadata != NULL) {
        static const GMarkupParser parser = { .start_element = metadata_start };
        g_autoptr(GMarkupParseContext) context =
            g_markup_parse_context_new(&parser, 0, domain->vfs, NULL);

        if (!g_markup_parse_context_parse(context, metadata, -1, &local) ||
            !g_markup_parse_context_end_parse(context, &local)) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "domain '%s': %s",
                        gvir_config_domain_get_name(domain->config), local->message);
            return NULL;
        }
    }
    for (guint i = 0; i < domain->vfs->len; i++) {
        const XeLibvirtVf *vf = domain->vfs->pdata[i];
        GVirConfigDomainHostdevPci *hostdev = find_hostdev(domain, vf->host);

        if (hostdev == NULL) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "domain '%s': xe-migrated's metadata names VF %s, but no PCI hostdev "
                        "of the domain has that source address",
                        gvir_config_domain_get_name(domain->config), vf->host);
            return NULL;
        }
        if (g_ptr_array_find(domain->vf_device, hostdev, NULL)) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "domain '%s': xe-migrated's metadata names VF %s twice",
                        gvir_config_domain_get_name(domain->config), vf->host);
            return NULL;
        }
        g_ptr_array_add(domain->vf_device, hostdev);
    }
    return g_steal_pointer(&domain);
}

const char *
xe_libvirt_domain_get_name(XeLibvirtDomain *domain)
{
    return gvir_config_domain_get_name(domain->config);
}

GPtrArray *
xe_libvirt_domain_get_vfs(XeLibvirtDomain *domain)
{
    return domain->vfs;
}

static gboolean
write_metadata(XeLibvirtDomain *domain, GError **error)
{
    g_autoptr(GString) xml = g_string_new("<migrated>");

    for (guint i = 0; i < domain->vfs->len; i++) {
        const XeLibvirtVf *vf = domain->vfs->pdata[i];
        g_autofree char *host = g_markup_escape_text(vf->host, -1);
        g_autofree char *profile = g_markup_escape_text(vf->profile, -1);

        g_string_append_printf(xml, "<vf host=\"%s\" profile=\"%s\"", host, profile);
        if (vf->reservation != NULL) {
            g_autofree char *reservation = g_markup_escape_text(vf->reservation, -1);

            g_string_append_printf(xml, " reservation=\"%s\"", reservation);
        }
        g_string_append(xml, "/>");
    }
    g_string_append(xml, "</migrated>");
    return gvir_config_domain_set_custom_xml(domain->config, xml->str, "xe", XE_LIBVIRT_XMLNS,
                                             error);
}

gboolean
xe_libvirt_domain_retarget(XeLibvirtDomain *domain, guint index, const char *new_host,
                           const char *reservation, GError **error)
{
    g_autoptr(GVirConfigDomainAddressPci) address = NULL;
    GVirConfigDomainHostdevPci *hostdev;
    XeLibvirtVf *vf;
    guint d, b, s, f;

    g_return_val_if_fail(index < domain->vfs->len, FALSE);
    vf = domain->vfs->pdata[index];
    hostdev = domain->vf_device->pdata[index];
    if (!parse_bdf(new_host, &d, &b, &s, &f)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "domain '%s': '%s' is not a PCI address for its VF %s",
                    xe_libvirt_domain_get_name(domain), new_host, vf->host);
        return FALSE;
    }
    /* another device of the domain there: two hostdevs would name one function (the
     * domain's Xe VFs move together, each to a VF reserved for it) */
    for (guint i = 0; i < domain->hostdevs->len; i++) {
        g_autofree char *other = NULL;

        if (g_ptr_array_find(domain->vf_device, domain->hostdevs->pdata[i], NULL))
            continue;
        other = hostdev_address(domain->hostdevs->pdata[i]);
        if (other != NULL && g_ascii_strcasecmp(other, new_host) == 0) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "domain '%s': cannot point its VF %s at %s, which another of its "
                        "hostdevs names",
                        xe_libvirt_domain_get_name(domain), vf->host, new_host);
            return FALSE;
        }
    }
    /* the address object is the document's own node: set in place */
    address = gvir_config_domain_hostdev_pci_get_address(hostdev);
    gvir_config_domain_address_pci_set_domain(address, (int)d);
    gvir_config_domain_address_pci_set_bus(address, (int)b);
    gvir_config_domain_address_pci_set_slot(address, (int)s);
    gvir_config_domain_address_pci_set_function(address, (int)f);
    g_free(vf->host);
    vf->host = g_ascii_strdown(new_host, -1);
    g_free(vf->reservation);
    vf->reservation = g_strdup(reservation);
    return write_metadata(domain, error);
}

char *
xe_libvirt_domain_to_xml(XeLibvirtDomain *domain)
{
    return gvir_config_object_to_xml(GVIR_CONFIG_OBJECT(domain->config));
}
