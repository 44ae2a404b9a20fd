/* xe-host.h: the Xe SR-IOV host: PFs and their VFs as sysfs shows them, and
 * the operations that change them (enable, disable, bind, reset), each
 * written to the kernel's protocol with verification and rollback.
 *
 * Every access goes through an XeSysfs root: "/" on a real host, an xe-sim
 * mount in tests. A guard installed by the owner (the daemon, which knows
 * reservations and migrations) is asked before any change to a VF, so a VF
 * that is reserved or in use is never touched.
 *
 * All calls block on sysfs; run them off the main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>
#include <sys/types.h>

#include "xe-sysfs.h"

G_BEGIN_DECLS

#define XE_DRIVER_XE   "xe"
#define XE_DRIVER_VFIO "xe-vfio-pci"

#define XE_TYPE_HOST (xe_host_get_type())
G_DECLARE_FINAL_TYPE(XeHost, xe_host, XE, HOST, GObject)

typedef enum {
    XE_MIGRATION_SUPPORT_UNKNOWN, /* debugfs not visible */
    XE_MIGRATION_SUPPORT_YES,
    XE_MIGRATION_SUPPORT_NO,
} XeMigrationSupport;

typedef struct {
    char *bdf;
    guint device_id;
    guint revision;
    guint vf_device_id;
    guint total_vfs;
    guint num_vfs;
    guint vf_offset;
    guint vf_stride;
    gboolean autoprobe;
    char *driver;         /* NULL when unbound */
    gboolean sriov_admin; /* PF mode with the sriov_admin tree */
    char *guc_version;    /* from debugfs, NULL when not visible */
    XeMigrationSupport migration;
    char *unusable_reason; /* NULL when xe-migrated can manage this PF */
} XePfInfo;

typedef struct {
    char *bdf;
    char *pf_bdf;
    guint vfid;     /* 1-based, as sriov_admin/vfN */
    char *driver;   /* NULL when unbound */
    char *override; /* NULL when unset */
} XeVfInfo;

/* What the guard is asked about. */
typedef enum {
    XE_HOST_OP_BIND,
    XE_HOST_OP_UNBIND,
    XE_HOST_OP_PROVISION,
    XE_HOST_OP_RESET,
    XE_HOST_OP_DISABLE,
} XeHostOp;

/* Returns FALSE (and a reason) to refuse @op on @vf_bdf. */
typedef gboolean (*XeHostGuardFunc)(XeHost *host, const char *vf_bdf, XeHostOp op, char **reason,
                                    gpointer user_data);

XeHost *xe_host_new(const char *sysfs_root);
XeSysfs *xe_host_get_sysfs(XeHost *self);
void xe_host_set_guard(XeHost *self, XeHostGuardFunc guard, gpointer user_data,
                       GDestroyNotify destroy);

/* PFs: every Intel SR-IOV-capable function that is not itself a VF. */
GPtrArray *xe_host_list_pfs(XeHost *self, GError **error);
XePfInfo *xe_host_get_pf(XeHost *self, const char *pf_bdf, GError **error);
GPtrArray *xe_host_list_vfs(XeHost *self, const char *pf_bdf, GError **error);
XeVfInfo *xe_host_get_vf(XeHost *self, const char *vf_bdf, GError **error);
/* The address of VF @vfid (1-based) of @pf_bdf, enabled or not. */
char *xe_host_vf_bdf(XeHost *self, const char *pf_bdf, guint vfid, GError **error);

/* Enables @n VFs (autoprobe set to 0 first, so they come up unbound);
 * a no-op when exactly @n are enabled; refused when another non-zero count is. */
gboolean xe_host_enable_vfs(XeHost *self, const char *pf_bdf, guint n, GError **error);
gboolean xe_host_disable_vfs(XeHost *self, const char *pf_bdf, GError **error);

/* Binds @vf_bdf to @driver (xe-vfio-pci or xe): override, unbind the current
 * driver, drivers_probe, verify the driver link; on failure the VF goes back
 * to its former driver and override. A no-op when already bound to @driver. */
gboolean xe_host_bind_vf(XeHost *self, const char *vf_bdf, const char *driver, GError **error);
/* Detaches the VF from its driver (leaves its override). */
gboolean xe_host_unbind_vf(XeHost *self, const char *vf_bdf, GError **error);
/* Function-level reset through sysfs "reset". */
gboolean xe_host_reset_vf(XeHost *self, const char *vf_bdf, GError **error);
/* Opens the VFIO group node of @vf_bdf (ROOT/dev/vfio/<G>, G its iommu_group) to the group
 * @gid: root's, mode 0660, so that the QEMU running with that group may open it, nobody
 * else but root. 0 closes it again (mode 0600; a reset does too). The group's number (G)
 * in *@iommu_group when not NULL. The VF must be bound to xe-vfio-pci. */
gboolean xe_host_vfio_node_share(XeHost *self, const char *vf_bdf, gid_t gid, char **iommu_group,
                                 GError **error);
/* The size of the VF's migration state (debugfs migration_size). */
gboolean xe_host_vf_migration_size(XeHost *self, const char *vf_bdf, guint64 *size, GError **error);

/* For xe-profile.c: asks the guard; FALSE with XE_ERROR_BUSY when refused. */
gboolean xe_host_check_guard(XeHost *self, const char *vf_bdf, XeHostOp op, GError **error);
/* The PF address and the 1-based vfid of an enabled VF. */
gboolean xe_host_vf_locate(XeHost *self, const char *vf_bdf, char **pf_bdf, guint *vfid,
                           GError **error);

void xe_pf_info_free(XePfInfo *info);
void xe_vf_info_free(XeVfInfo *info);
const char *xe_migration_support_to_string(XeMigrationSupport support);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XePfInfo, xe_pf_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeVfInfo, xe_vf_info_free)

G_END_DECLS
