/* xe-libvirt-xml.c: a libvirt domain's Xe VFs, read from and written to its XML
 * (libvirt-gconfig keeps the rest of the document as it is).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include "xe-libvirt-xml.h"

#include <libvirt-gconfig/libvirt-gconfig.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
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

/* What a GPU domain needs: read and added with libxml2 (libvirt-gconfig has no access to
 * <qemu:override>). */

#define QEMU_XMLNS "http://libvirt.org/schemas/domain/qemu/1.0"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/* lines: a GPtrArray of strings, ended into a GStrv */
static GStrv
lines_end(GPtrArray *lines)
{
    g_ptr_array_add(lines, NULL);
    return (GStrv)g_ptr_array_free(lines, FALSE);
}

GStrv
xe_libvirt_domain_get_hostdevs(XeLibvirtDomain *domain)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    for (guint i = 0; i < domain->hostdevs->len; i++) {
        g_autofree char *address = hostdev_address(domain->hostdevs->pdata[i]);

        if (address != NULL)
            g_strv_builder_add(b, address);
    }
    return g_strv_builder_end(b);
}

static gboolean
is_element(xmlNode *node, const char *name, const char *ns)
{
    return node->type == XML_ELEMENT_NODE && g_str_equal((const char *)node->name, name) &&
           (ns == NULL ? node->ns == NULL
                       : node->ns != NULL && g_strcmp0((const char *)node->ns->href, ns) == 0);
}

static xmlNode *
child(xmlNode *parent, const char *name, const char *ns)
{
    for (xmlNode *n = parent != NULL ? parent->children : NULL; n != NULL; n = n->next)
        if (is_element(n, name, ns))
            return n;
    return NULL;
}

static gboolean
attr_is(xmlNode *node, const char *name, const char *value)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    gboolean is = v != NULL && g_str_equal((const char *)v, value);

    xmlFree(v);
    return is;
}

/* A number as libvirt reads these attributes (base 0: 0x.. hex, 0.. octal); G_MAXUINT when
 * it is no number. */
static guint
number_attr(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    char *end = NULL;
    guint64 n = v != NULL ? g_ascii_strtoull((const char *)v, &end, 0) : 0;
    gboolean ok = v != NULL && end != (char *)v && *end == '\0' && n < G_MAXUINT;

    xmlFree(v);
    return ok ? (guint)n : G_MAXUINT;
}

static xmlDoc *
read_domain(const char *xml, GError **error)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;

    if (root == NULL || !is_element(root, "domain", NULL)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "the domain XML is not a libvirt domain");
        if (doc != NULL)
            xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* the PCI hostdev whose source address is @host */
static xmlNode *
find_pci_hostdev(xmlDoc *doc, const char *host)
{
    xmlNode *devices = child(xmlDocGetRootElement(doc), "devices", NULL);

    for (xmlNode *n = devices != NULL ? devices->children : NULL; n != NULL; n = n->next) {
        xmlNode *address;
        g_autofree char *bdf = NULL;

        if (!is_element(n, "hostdev", NULL) || !attr_is(n, "type", "pci"))
            continue;
        address = child(child(n, "source", NULL), "address", NULL);
        if (address == NULL)
            continue;
        bdf = g_strdup_printf("%04x:%02x:%02x.%x", number_attr(address, "domain"),
                              number_attr(address, "bus"), number_attr(address, "slot"),
                              number_attr(address, "function"));
        if (g_ascii_strcasecmp(bdf, host) == 0)
            return n;
    }
    return NULL;
}

/* the hostdev's user alias ("ua-..."), which <qemu:override> can name, or NULL */
static char *
user_alias(xmlNode *hostdev)
{
    xmlNode *alias = child(hostdev, "alias", NULL);
    xmlChar *name = alias != NULL ? xmlGetProp(alias, (const xmlChar *)"name") : NULL;
    char *out = name != NULL && g_str_has_prefix((const char *)name, "ua-")
                    ? g_strdup((const char *)name)
                    : NULL;

    xmlFree(name);
    return out;
}

/* <qemu:override><qemu:device alias=ALIAS><qemu:frontend>, created with @create */
static xmlNode *
override_frontend(xmlDoc *doc, const char *alias, gboolean create)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *override = child(root, "override", QEMU_XMLNS), *device = NULL, *frontend;
    xmlNs *ns;

    for (xmlNode *n = override != NULL ? override->children : NULL; n != NULL; n = n->next)
        if (is_element(n, "device", QEMU_XMLNS) && attr_is(n, "alias", alias))
            device = n;
    frontend = child(device, "frontend", QEMU_XMLNS);
    if (frontend != NULL || !create)
        return frontend;
    ns = xmlSearchNsByHref(doc, root, (const xmlChar *)QEMU_XMLNS);
    /* "qemu" may be bound to something else already: another prefix then */
    for (guint n = 0; ns == NULL && n < 100; n++) {
        g_autofree char *prefix = n == 0 ? g_strdup("qemu") : g_strdup_printf("qemu%u", n);

        ns = xmlNewNs(root, (const xmlChar *)QEMU_XMLNS, (const xmlChar *)prefix);
    }
    if (ns == NULL)
        return NULL;
    if (override == NULL)
        override = xmlNewChild(root, ns, (const xmlChar *)"override", NULL);
    if (device == NULL) {
        device = xmlNewChild(override, ns, (const xmlChar *)"device", NULL);
        xmlNewProp(device, (const xmlChar *)"alias", (const xmlChar *)alias);
    }
    return xmlNewChild(device, ns, (const xmlChar *)"frontend", NULL);
}

static xmlNode *
frontend_property(xmlNode *frontend, const char *name)
{
    for (xmlNode *n = frontend != NULL ? frontend->children : NULL; n != NULL; n = n->next)
        if (is_element(n, "property", QEMU_XMLNS) && attr_is(n, "name", name))
            return n;
    return NULL;
}

static gboolean
migration_enabled(xmlDoc *doc, xmlNode *hostdev)
{
    g_autofree char *alias = user_alias(hostdev);
    xmlNode *p = alias != NULL
                     ? frontend_property(override_frontend(doc, alias, FALSE), "enable-migration")
                     : NULL;

    return p != NULL && attr_is(p, "value", "on");
}

GStrv
xe_libvirt_xml_missing(const char *xml, const char *host, GError **error)
{
    g_autoptr(xmlDoc) doc = read_domain(xml, error);
    g_autoptr(XeLibvirtDomain) d = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    xmlNode *hostdev;
    gboolean named = FALSE;
    GStrv out;

    if (doc == NULL || (d = xe_libvirt_domain_parse(xml, error)) == NULL)
        return NULL;
    hostdev = find_pci_hostdev(doc, host);
    if (hostdev == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "domain '%s' has no PCI hostdev %s",
                    xe_libvirt_domain_get_name(d), host);
        return NULL;
    }
    for (guint i = 0; i < d->vfs->len; i++)
        named |= g_ascii_strcasecmp(((XeLibvirtVf *)d->vfs->pdata[i])->host, host) == 0;
    if (!named)
        g_ptr_array_add(problems, g_strdup_printf("VF %s: no xe-migrated metadata (the profile a "
                                                  "destination must provision)",
                                                  host));
    if (!migration_enabled(doc, hostdev))
        g_ptr_array_add(problems,
                        g_strdup_printf("VF %s: no enable-migration=on override on its hostdev "
                                        "(QEMU blocks the migration of a VF without dirty "
                                        "tracking: \"VFIO device doesn't support device and "
                                        "IOMMU dirty tracking\")",
                                        host));
    out = lines_end(g_steal_pointer(&problems));
    if (out[0] == NULL)
        g_clear_pointer(&out, g_strfreev);
    return out;
}

/* a user alias no other device of the domain has: ua-xevfN */
static char *
new_alias(xmlDoc *doc)
{
    for (guint n = 0;; n++) {
        g_autofree char *alias = g_strdup_printf("ua-xevf%u", n);
        g_autofree char *needle = g_strdup_printf("name=\"%s\"", alias);
        xmlChar *text = NULL;
        int len = 0;
        gboolean taken;

        xmlDocDumpMemory(doc, &text, &len);
        taken = text != NULL && strstr((const char *)text, needle) != NULL;
        xmlFree(text);
        if (!taken)
            return g_steal_pointer(&alias);
    }
}

static void
set_property(xmlNode *frontend, const char *name, const char *type, const char *value)
{
    xmlNode *p = frontend_property(frontend, name);

    if (p == NULL) {
        p = xmlNewChild(frontend, frontend->ns, (const xmlChar *)"property", NULL);
        xmlNewProp(p, (const xmlChar *)"name", (const xmlChar *)name);
    }
    xmlSetProp(p, (const xmlChar *)"type", (const xmlChar *)type);
    xmlSetProp(p, (const xmlChar *)"value", (const xmlChar *)value);
}

char *
xe_libvirt_xml_prepare(const char *xml, const char *const *hosts, const char *const *profiles,
                       GStrv *changes, GError **error)
{
    g_autoptr(xmlDoc) doc = read_domain(xml, error);
    g_autoptr(GPtrArray) said = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(XeLibvirtDomain) d = NULL;
    xmlChar *text = NULL;
    int len = 0;
    g_autofree char *edited = NULL;
    gboolean metadata_changed = FALSE;

    if (doc == NULL)
        return NULL;
    for (guint i = 0; hosts[i] != NULL; i++) {
        xmlNode *hostdev = find_pci_hostdev(doc, hosts[i]);
        g_autofree char *alias = NULL;

        if (hostdev == NULL) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "the domain has no PCI hostdev %s", hosts[i]);
            return NULL;
        }
        if (migration_enabled(doc, hostdev))
            continue;
        alias = user_alias(hostdev);
        if (alias == NULL) {
            xmlNode *node = child(hostdev, "alias", NULL);

            alias = new_alias(doc);
            if (node == NULL)
                node = xmlNewChild(hostdev, NULL, (const xmlChar *)"alias", NULL);
            xmlSetProp(node, (const xmlChar *)"name", (const xmlChar *)alias);
            g_ptr_array_add(said, g_strdup_printf("hostdev %s: user alias %s (for the "
                                                  "override to name it)",
                                                  hosts[i], alias));
        }
        {
            xmlNode *frontend = override_frontend(doc, alias, TRUE);

            if (frontend == NULL) {
                g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                            "the domain XML binds every qemu prefix to another namespace: no "
                            "room for <qemu:override>");
                return NULL;
            }
            set_property(frontend, "enable-migration", "string", "on");
            set_property(frontend, "migration-events", "bool", "true");
        }
        g_ptr_array_add(said, g_strdup_printf("hostdev %s: <qemu:override> of %s with "
                                              "enable-migration=on and migration-events=on "
                                              "(libvirt marks the domain tainted)",
                                              hosts[i], alias));
    }
    xmlDocDumpMemory(doc, &text, &len);
    edited = g_strndup((const char *)text, len);
    xmlFree(text);
    d = xe_libvirt_domain_parse(edited, error);
    if (d == NULL)
        return NULL;
    for (guint i = 0; hosts[i] != NULL; i++) {
        gboolean named = FALSE;
        GVirConfigDomainHostdevPci *hostdev;
        XeLibvirtVf *vf;

        for (guint j = 0; j < d->vfs->len; j++)
            named |= g_ascii_strcasecmp(((XeLibvirtVf *)d->vfs->pdata[j])->host, hosts[i]) == 0;
        if (named)
            continue;
        hostdev = find_hostdev(d, hosts[i]);
        g_assert(hostdev != NULL);
        vf = g_new0(XeLibvirtVf, 1);
        vf->host = g_ascii_strdown(hosts[i], -1);
        vf->profile = g_strdup(profiles[i]);
        g_ptr_array_add(d->vfs, vf);
        g_ptr_array_add(d->vf_device, hostdev);
        metadata_changed = TRUE;
        g_ptr_array_add(
            said, g_strdup_printf("metadata: VF %s provisioned as %s", hosts[i], profiles[i]));
    }
    if (metadata_changed && !write_metadata(d, error))
        return NULL;
    *changes = lines_end(g_steal_pointer(&said));
    return xe_libvirt_domain_to_xml(d);
}
