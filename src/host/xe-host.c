/* xe-host.c: PF discovery, VF enumeration, enable/disable, the safe bind
 * sequence, reset and migration size.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-host"

#include "xe-host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xe-error.h"
#include "xe-pci.h"

#define DEVICES      "sys/bus/pci/devices"
#define DRIVERS      "sys/bus/pci/drivers"
#define DEBUG_DRI    "sys/kernel/debug/dri"
#define INTEL_VENDOR 0x8086

struct _XeHost {
    GObject parent_instance;
    XeSysfs *sysfs;
    XeHostGuardFunc guard;
    gpointer guard_data;
    GDestroyNotify guard_destroy;
};

G_DEFINE_TYPE(XeHost, xe_host, G_TYPE_OBJECT)

static void
xe_host_finalize(GObject *object)
{
    XeHost *self = XE_HOST(object);

    if (self->guard_destroy != NULL)
        self->guard_destroy(self->guard_data);
    xe_sysfs_unref(self->sysfs);
    G_OBJECT_CLASS(xe_host_parent_class)->finalize(object);
}

static void
xe_host_init(XeHost *self)
{
}

static void
xe_host_class_init(XeHostClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = xe_host_finalize;
}

XeHost *
xe_host_new(const char *sysfs_root)
{
    XeHost *self = g_object_new(XE_TYPE_HOST, NULL);

    self->sysfs = xe_sysfs_new(sysfs_root);
    return self;
}

XeSysfs *
xe_host_get_sysfs(XeHost *self)
{
    return self->sysfs;
}

void
xe_host_set_guard(XeHost *self, XeHostGuardFunc guard, gpointer user_data, GDestroyNotify destroy)
{
    if (self->guard_destroy != NULL)
        self->guard_destroy(self->guard_data);
    self->guard = guard;
    self->guard_data = user_data;
    self->guard_destroy = destroy;
}

void
xe_pf_info_free(XePfInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->bdf);
    g_free(info->driver);
    g_free(info->guc_version);
    g_free(info->unusable_reason);
    g_free(info);
}

void
xe_vf_info_free(XeVfInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->bdf);
    g_free(info->pf_bdf);
    g_free(info->driver);
    g_free(info->override);
    g_free(info);
}

const char *
xe_migration_support_to_string(XeMigrationSupport support)
{
    switch (support) {
    case XE_MIGRATION_SUPPORT_YES:
        return "yes";
    case XE_MIGRATION_SUPPORT_NO:
        return "no";
    default:
        return "unknown";
    }
}

static const char *op_names[] = { "bind", "unbind", "provision", "reset", "disable VFs of" };

gboolean
xe_host_check_guard(XeHost *self, const char *vf_bdf, XeHostOp op, GError **error)
{
    g_autofree char *reason = NULL;

    if (self->guard == NULL || self->guard(self, vf_bdf, op, &reason, self->guard_data))
        return TRUE;
    g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "refusing to %s VF %s: %s", op_names[op], vf_bdf,
                reason != NULL ? reason : "it is reserved or in use");
    return FALSE;
}

/* reading */

static char *
dev_rel(const char *bdf, const char *attr)
{
    return g_strdup_printf(DEVICES "/%s/%s", bdf, attr);
}

static gboolean
read_dev_u64(XeHost *self, const char *bdf, const char *attr, guint64 *out, GError **error)
{
    g_autofree char *rel = dev_rel(bdf, attr);

    return xe_sysfs_read_u64(self->sysfs, rel, out, error);
}

static char *
read_dev_link(XeHost *self, const char *bdf, const char *link)
{
    g_autofree char *rel = dev_rel(bdf, link);

    return xe_sysfs_link_name(self->sysfs, rel, NULL);
}

/* The first "N.N.N" in debugfs pf/versions, if visible. */
static char *
read_guc_version(XeHost *self, const char *pf_bdf)
{
    g_autofree char *rel = g_strdup_printf(DEBUG_DRI "/%s/sriov/pf/versions", pf_bdf);
    g_autofree char *text = xe_sysfs_read(self->sysfs, rel, NULL);
    guint a, b, c;

    if (text == NULL)
        return NULL;
    for (const char *p = text; *p != '\0'; p++)
        if (g_ascii_isdigit(*p) && sscanf(p, "%u.%u.%u", &a, &b, &c) == 3)
            return g_strdup_printf("%u.%u.%u", a, b, c);
    return NULL;
}

static XeMigrationSupport
read_migration_support(XeHost *self, const char *pf_bdf)
{
    g_autofree char *rel = g_strdup_printf(DEBUG_DRI "/%s/sriov/vf1/migration_size", pf_bdf);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = xe_sysfs_read(self->sysfs, rel, &error);

    if (text != NULL)
        return XE_MIGRATION_SUPPORT_YES;
    if (xe_error_get_errno(error) == ENOPKG)
        return XE_MIGRATION_SUPPORT_NO;
    return XE_MIGRATION_SUPPORT_UNKNOWN;
}

static XePfInfo *
read_pf(XeHost *self, const char *bdf, GError **error)
{
    g_autoptr(XePfInfo) pf = g_new0(XePfInfo, 1);
    guint64 v[8];
    static const char *const attrs[] = { "device",          "revision",
                                         "sriov_vf_device", "sriov_totalvfs",
                                         "sriov_numvfs",    "sriov_offset",
                                         "sriov_stride",    "sriov_drivers_autoprobe" };
    g_autofree char *admin = dev_rel(bdf, "sriov_admin");
    g_autofree char *vf_dev_rel = dev_rel(bdf, "sriov_vf_device");
    g_autofree char *vf_dev_text = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(attrs); i++)
        if (i != 2 && !read_dev_u64(self, bdf, attrs[i], &v[i], error))
            return NULL;
    /* sriov_vf_device is hex without 0x. */
    vf_dev_text = xe_sysfs_read(self->sysfs, vf_dev_rel, error);
    if (vf_dev_text == NULL)
        return NULL;
    v[2] = g_ascii_strtoull(vf_dev_text, NULL, 16);

    pf->bdf = g_strdup(bdf);
    pf->device_id = (guint)v[0];
    pf->revision = (guint)v[1];
    pf->vf_device_id = (guint)v[2];
    pf->total_vfs = (guint)v[3];
    pf->num_vfs = (guint)v[4];
    pf->vf_offset = (guint)v[5];
    pf->vf_stride = (guint)v[6];
    pf->autoprobe = v[7] != 0;
    pf->driver = read_dev_link(self, bdf, "driver");
    pf->sriov_admin = xe_sysfs_exists(self->sysfs, admin);
    pf->guc_version = read_guc_version(self, bdf);
    pf->migration = read_migration_support(self, bdf);

    if (g_strcmp0(pf->driver, XE_DRIVER_XE) != 0)
        pf->unusable_reason = g_strdup_printf("the PF is bound to %s, not xe",
                                              pf->driver != NULL ? pf->driver : "no driver");
    else if (pf->total_vfs == 0)
        pf->unusable_reason = g_strdup("SR-IOV is off (sriov_totalvfs is 0: xe.max_vfs=0?)");
    else if (!pf->sriov_admin)
        pf->unusable_reason = g_strdup("no sriov_admin in sysfs (kernel older than 6.19?)");
    return g_steal_pointer(&pf);
}

static gboolean
is_intel_pf(XeHost *self, const char *bdf)
{
    guint64 vendor = 0;
    g_autofree char *total = dev_rel(bdf, "sriov_totalvfs");
    g_autofree char *physfn = dev_rel(bdf, "physfn");

    return read_dev_u64(self, bdf, "vendor", &vendor, NULL) && vendor == INTEL_VENDOR &&
           xe_sysfs_exists(self->sysfs, total) && !xe_sysfs_exists(self->sysfs, physfn);
}

GPtrArray *
xe_host_list_pfs(XeHost *self, GError **error)
{
    g_auto(GStrv) names = xe_sysfs_list(self->sysfs, DEVICES, error);
    g_autoptr(GPtrArray) pfs = g_ptr_array_new_with_free_func((GDestroyNotify)xe_pf_info_free);

    if (names == NULL)
        return NULL;
    for (guint i = 0; names[i] != NULL; i++) {
        XePfInfo *pf;

        if (!is_intel_pf(self, names[i]))
            continue;
        pf = read_pf(self, names[i], error);
        if (pf == NULL)
            return NULL;
        g_ptr_array_add(pfs, pf);
    }
    return g_steal_pointer(&pfs);
}

static gboolean
check_bdf(const char *bdf, GError **error)
{
    XePciAddress a;

    return xe_pci_address_parse(bdf, &a, error);
}

XePfInfo *
xe_host_get_pf(XeHost *self, const char *pf_bdf, GError **error)
{
    if (!check_bdf(pf_bdf, error))
        return NULL;
    if (!is_intel_pf(self, pf_bdf)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "%s is not an Intel SR-IOV physical function on this host", pf_bdf);
        return NULL;
    }
    return read_pf(self, pf_bdf, error);
}

static XeVfInfo *
read_vf(XeHost *self, const char *bdf, const char *pf_bdf, guint vfid)
{
    XeVfInfo *vf = g_new0(XeVfInfo, 1);
    g_autofree char *rel = dev_rel(bdf, "driver_override");
    g_autofree char *override = xe_sysfs_read(self->sysfs, rel, NULL);

    vf->bdf = g_strdup(bdf);
    vf->pf_bdf = g_strdup(pf_bdf);
    vf->vfid = vfid;
    vf->driver = read_dev_link(self, bdf, "driver");
    vf->override = override != NULL && !g_str_equal(override, "(null)") && *override != '\0'
                       ? g_steal_pointer(&override)
                       : NULL;
    return vf;
}

GPtrArray *
xe_host_list_vfs(XeHost *self, const char *pf_bdf, GError **error)
{
    g_autoptr(XePfInfo) pf = xe_host_get_pf(self, pf_bdf, error);
    g_autoptr(GPtrArray) vfs = g_ptr_array_new_with_free_func((GDestroyNotify)xe_vf_info_free);

    if (pf == NULL)
        return NULL;
    for (guint i = 0; i < pf->num_vfs; i++) {
        g_autofree char *link = g_strdup_printf("virtfn%u", i);
        g_autofree char *bdf = read_dev_link(self, pf_bdf, link);

        if (bdf == NULL) {
            g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "%s has %u VFs enabled but no %s link",
                        pf_bdf, pf->num_vfs, link);
            return NULL;
        }
        g_ptr_array_add(vfs, read_vf(self, bdf, pf_bdf, i + 1));
    }
    return g_steal_pointer(&vfs);
}

gboolean
xe_host_vf_locate(XeHost *self, const char *vf_bdf, char **pf_bdf, guint *vfid, GError **error)
{
    g_autofree char *pf = NULL;
    g_autofree char *physfn = NULL;

    if (!check_bdf(vf_bdf, error))
        return FALSE;
    pf = read_dev_link(self, vf_bdf, "physfn");
    if (pf == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "%s is not an enabled VF on this host",
                    vf_bdf);
        return FALSE;
    }
    for (guint i = 0;; i++) {
        g_autofree char *link = g_strdup_printf("virtfn%u", i);
        g_autofree char *bdf = read_dev_link(self, pf, link);

        if (bdf == NULL)
            break;
        if (g_str_equal(bdf, vf_bdf)) {
            if (pf_bdf != NULL)
                *pf_bdf = g_steal_pointer(&pf);
            if (vfid != NULL)
                *vfid = i + 1;
            return TRUE;
        }
    }
    g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "%s has physfn %s but no virtfn link to it",
                vf_bdf, pf);
    return FALSE;
}

XeVfInfo *
xe_host_get_vf(XeHost *self, const char *vf_bdf, GError **error)
{
    g_autofree char *pf = NULL;
    guint vfid;

    if (!xe_host_vf_locate(self, vf_bdf, &pf, &vfid, error))
        return NULL;
    return read_vf(self, vf_bdf, pf, vfid);
}

char *
xe_host_vf_bdf(XeHost *self, const char *pf_bdf, guint vfid, GError **error)
{
    g_autoptr(XePfInfo) pf = xe_host_get_pf(self, pf_bdf, error);
    XePciAddress pa, va;
    char buf[16];

    if (pf == NULL)
        return NULL;
    if (vfid == 0 || vfid > pf->total_vfs) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "VF %u does not exist on %s (it has VFs 1 to %u)", vfid, pf_bdf, pf->total_vfs);
        return NULL;
    }
    xe_pci_address_parse(pf_bdf, &pa, NULL);
    va = xe_pci_vf_address(&pa, pf->vf_offset, pf->vf_stride, vfid - 1);
    xe_pci_address_format(&va, buf, sizeof(buf));
    return g_strdup(buf);
}

/* changing */

gboolean
xe_host_enable_vfs(XeHost *self, const char *pf_bdf, guint n, GError **error)
{
    g_autoptr(XePfInfo) pf = xe_host_get_pf(self, pf_bdf, error);
    g_autofree char *autoprobe = dev_rel(pf_bdf, "sriov_drivers_autoprobe");
    g_autofree char *numvfs = dev_rel(pf_bdf, "sriov_numvfs");
    guint64 now;

    if (pf == NULL)
        return FALSE;
    if (pf->num_vfs == n)
        return TRUE;
    if (n == 0)
        return xe_host_disable_vfs(self, pf_bdf, error);
    if (pf->num_vfs != 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "%s has %u VFs enabled; SR-IOV cannot resize, disable them first to get %u",
                    pf_bdf, pf->num_vfs, n);
        return FALSE;
    }
    if (n > pf->total_vfs) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "%s supports at most %u VFs, not %u", pf_bdf, pf->total_vfs, n);
        return FALSE;
    }
    /* Fresh VFs must not be claimed by plain xe: they stay unbound. */
    if (!xe_sysfs_write(self->sysfs, autoprobe, "0", error) ||
        !xe_sysfs_write_u64(self->sysfs, numvfs, n, error) ||
        !xe_sysfs_read_u64(self->sysfs, numvfs, &now, error))
        return FALSE;
    if (now != n) {
        g_set_error(error, XE_ERROR, XE_ERROR_VERIFY_FAILED,
                    "wrote %u to %s but it reads %" G_GUINT64_FORMAT, n, numvfs, now);
        return FALSE;
    }
    return TRUE;
}

gboolean
xe_host_disable_vfs(XeHost *self, const char *pf_bdf, GError **error)
{
    g_autoptr(GPtrArray) vfs = xe_host_list_vfs(self, pf_bdf, error);
    g_autofree char *numvfs = dev_rel(pf_bdf, "sriov_numvfs");

    if (vfs == NULL)
        return FALSE;
    for (guint i = 0; i < vfs->len; i++)
        if (!xe_host_check_guard(self, ((XeVfInfo *)vfs->pdata[i])->bdf, XE_HOST_OP_DISABLE, error))
            return FALSE;
    return vfs->len == 0 || xe_sysfs_write(self->sysfs, numvfs, "0", error);
}

static gboolean
write_override(XeHost *self, const char *bdf, const char *driver, GError **error)
{
    g_autofree char *rel = dev_rel(bdf, "driver_override");

    /* "\n" clears it. */
    return xe_sysfs_write(self->sysfs, rel, driver != NULL ? driver : "\n", error);
}

static gboolean
driver_write(XeHost *self, const char *driver, const char *file, const char *bdf, GError **error)
{
    g_autofree char *rel = g_strdup_printf(DRIVERS "/%s/%s", driver, file);

    return xe_sysfs_write(self->sysfs, rel, bdf, error);
}

/* Puts @vf back on @driver with @override, as best it can; logs what fails. */
static void
bind_rollback(XeHost *self, const char *bdf, const char *driver, const char *override)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *now = read_dev_link(self, bdf, "driver");

    if (g_strcmp0(now, driver) != 0) {
        if (now != NULL && !driver_write(self, now, "unbind", bdf, &error)) {
            g_warning("rollback of %s: %s", bdf, error->message);
            g_clear_error(&error);
        }
        /* A VF binds only with autoprobe or an override: name the driver for the bind. */
        if (driver != NULL && (!write_override(self, bdf, driver, &error) ||
                               !driver_write(self, driver, "bind", bdf, &error))) {
            g_warning("rollback of %s to %s: %s", bdf, driver, error->message);
            g_clear_error(&error);
        }
    }
    if (!write_override(self, bdf, override, &error))
        g_warning("rollback of %s driver_override: %s", bdf, error->message);
}

gboolean
xe_host_bind_vf(XeHost *self, const char *vf_bdf, const char *driver, GError **error)
{
    g_autoptr(XeVfInfo) vf = xe_host_get_vf(self, vf_bdf, error);
    g_autofree char *now = NULL;

    if (vf == NULL)
        return FALSE;
    if (g_strcmp0(driver, XE_DRIVER_VFIO) != 0 && g_strcmp0(driver, XE_DRIVER_XE) != 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "cannot bind %s to '%s': a VF goes to " XE_DRIVER_VFIO " or " XE_DRIVER_XE,
                    vf_bdf, driver != NULL ? driver : "");
        return FALSE;
    }
    if (g_strcmp0(vf->driver, driver) == 0 &&
        (g_strcmp0(driver, XE_DRIVER_XE) == 0 || g_strcmp0(vf->override, driver) == 0))
        return TRUE;
    if (!xe_host_check_guard(self, vf_bdf, XE_HOST_OP_BIND, error))
        return FALSE;

    if (!write_override(self, vf_bdf, driver, error))
        return FALSE;
    if (vf->driver != NULL && !driver_write(self, vf->driver, "unbind", vf_bdf, error)) {
        bind_rollback(self, vf_bdf, vf->driver, vf->override);
        return FALSE;
    }
    if (!xe_sysfs_write(self->sysfs, "sys/bus/pci/drivers_probe", vf_bdf, error)) {
        bind_rollback(self, vf_bdf, vf->driver, vf->override);
        return FALSE;
    }
    /* drivers_probe succeeds even when nothing bound: the driver link tells. */
    now = read_dev_link(self, vf_bdf, "driver");
    if (g_strcmp0(now, driver) != 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_VERIFY_FAILED,
                    "%s did not bind to %s (driver is now %s)%s; restored %s", vf_bdf, driver,
                    now != NULL ? now : "none",
                    g_str_equal(driver, XE_DRIVER_VFIO)
                        ? ": is the xe-vfio-pci module loaded and the PF bound to xe?"
                        : "",
                    vf->driver != NULL ? vf->driver : "no driver");
        bind_rollback(self, vf_bdf, vf->driver, vf->override);
        return FALSE;
    }
    /* Back on xe, the override has done its job; for xe-vfio-pci it stays. */
    if (g_str_equal(driver, XE_DRIVER_XE))
        return write_override(self, vf_bdf, NULL, error);
    return TRUE;
}

gboolean
xe_host_unbind_vf(XeHost *self, const char *vf_bdf, GError **error)
{
    g_autoptr(XeVfInfo) vf = xe_host_get_vf(self, vf_bdf, error);

    if (vf == NULL)
        return FALSE;
    if (vf->driver == NULL)
        return TRUE;
    if (!xe_host_check_guard(self, vf_bdf, XE_HOST_OP_UNBIND, error))
        return FALSE;
    return driver_write(self, vf->driver, "unbind", vf_bdf, error);
}

gboolean
xe_host_reset_vf(XeHost *self, const char *vf_bdf, GError **error)
{
    g_autofree char *rel = dev_rel(vf_bdf, "reset");
    g_autoptr(GError) local = NULL;
    gboolean reset;

    if (!xe_host_vf_locate(self, vf_bdf, NULL, NULL, error) ||
        !xe_host_check_guard(self, vf_bdf, XE_HOST_OP_RESET, error))
        return FALSE;
    reset = xe_sysfs_write(self->sysfs, rel, "1", error);
    /* whoever held the VF is done with it, reset or not: its node is root's again (none: the
     * VF is not on VFIO) */
    if (!xe_host_vfio_node_share(self, vf_bdf, 0, NULL, &local) &&
        !g_error_matches(local, XE_ERROR, XE_ERROR_NOT_FOUND))
        g_warning("%s", local->message);
    return reset;
}

gboolean
xe_host_vfio_node_share(XeHost *self, const char *vf_bdf, gid_t gid, char **iommu_group,
                        GError **error)
{
    g_autofree char *link = dev_rel(vf_bdf, "iommu_group");
    g_autofree char *group = xe_sysfs_link_name(self->sysfs, link, error);
    g_autofree char *rel = NULL, *node = NULL;
    struct stat st;

    if (group == NULL) {
        if (error != NULL && *error == NULL)
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                        "%s has no IOMMU group (%s): is the IOMMU on (intel_iommu=on)?", vf_bdf,
                        link);
        return FALSE;
    }
    rel = g_strdup_printf("dev/vfio/%s", group);
    node = xe_sysfs_path(self->sysfs, rel);
    /* Root's (as the kernel makes it; one left to another owner needs CAP_CHOWN), closed to
     * its group before the group changes, then open to @gid. The owner may change the mode
     * and give the node to a group it is in: a daemon without capabilities, in qemu-user's
     * group, does all of it on a node the kernel made. */
    if (stat(node, &st) < 0 || (st.st_uid != 0 && chown(node, 0, (gid_t)-1) < 0) ||
        chmod(node, 0600) < 0 || (st.st_gid != gid && chown(node, (uid_t)-1, gid) < 0) ||
        (gid != 0 && chmod(node, 0660) < 0)) {
        int e = errno;

        g_propagate_error(
            error, xe_error_new_errno(
                       e == ENOENT ? XE_ERROR_NOT_FOUND : XE_ERROR_FAILED, e,
                       "opening %s (the VFIO group of %s) to group %u%s", node, vf_bdf, (guint)gid,
                       e == ENOENT  ? " (is the VF bound to xe-vfio-pci?)"
                       : e == EPERM ? " (the daemon must own it and be in that group, "
                                      "or have CAP_CHOWN)"
                                    : ""));
        return FALSE;
    }
    if (iommu_group != NULL)
        *iommu_group = g_steal_pointer(&group);
    return TRUE;
}

gboolean
xe_host_vf_migration_size(XeHost *self, const char *vf_bdf, guint64 *size, GError **error)
{
    g_autofree char *pf = NULL;
    g_autofree char *rel = NULL;
    guint vfid;

    if (!xe_host_vf_locate(self, vf_bdf, &pf, &vfid, error))
        return FALSE;
    rel = g_strdup_printf(DEBUG_DRI "/%s/sriov/vf%u/migration_size", pf, vfid);
    return xe_sysfs_read_u64(self->sysfs, rel, size, error);
}
