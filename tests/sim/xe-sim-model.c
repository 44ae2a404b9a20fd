/* xe-sim-model.c: simulated Xe PFs and VFs.
 *
 * Layout under the mount root (real directories where sysfs has symlinks, so
 * that a path written is the path audited):
 *   sys/bus/pci/devices/<BDF>/            PF and VF attributes, links
 *   sys/bus/pci/drivers/{xe,xe-vfio-pci}/ bind, unbind, <BDF> links
 *   sys/bus/pci/drivers_probe
 *   sys/module/xe/parameters/max_vfs
 *   sys/kernel/debug/dri/<PF-BDF>/sriov/  debugfs (while the PF is bound to xe)
 *   sys/kernel/iommu_groups/<G>/          one group per function, devices/<BDF> ->
 *   dev/vfio/<G>                          the group's node while bound to xe-vfio-pci
 *                                         (root's, 0600, as devtmpfs makes it; chown-able)
 *   sim/vfio/<VF-BDF>/{state,data,device,stream}  what QEMU would do through VFIO
 *
 * The migration stream is never held in memory: its packets are laid out at
 * STOP_COPY entry and their bytes made at each read (VRAM can be GiBs); a
 * restore is checked as it is written, packet by packet, payload included.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-sim-model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DRV_XE    "xe"
#define DRV_VFIO  "xe-vfio-pci"
#define PAGE_SIZE 4096
#define GGTT_PTE  4096u /* bytes of GGTT one PTE maps */
#define PKT_HDR   24

/* migration stream packets (xe_sriov_packet_types.h) and their sizes */
enum { PKT_DESCRIPTOR = 1, PKT_TRAILER, PKT_GGTT, PKT_MMIO, PKT_GUC, PKT_VRAM };
#define DESC_SIZE  16             /* two KLVs: device id, revision */
#define DESC_MAX   256            /* the largest descriptor a restore takes */
#define GUC_SIZE   (64 * 1024)    /* per GT */
#define MMIO_SIZE  (16 * 1024)    /* per GT */
#define VRAM_CHUNK (512ull << 20) /* VRAM goes in chunks of at most this */
#define KLV_DEVID  0xF001u
#define KLV_REVID  0xF002u

/* configuration space (pci_regs.h), 4096 bytes for PCIe functions */
#define CONFIG_SIZE     4096
#define CLASS_CODE      0x030000 /* VGA-compatible display controller */
#define CAP_EXP         0x40     /* PCI Express capability */
#define CAP_MSIX        0x80     /* MSI-X capability */
#define EXT_CAP_SRIOV   0x100    /* PF only */
#define MSIX_VECTORS    16
#define MSIX_TABLE      0x2000                /* in BAR0 (BIR 0) */
#define MSIX_PBA        0x3000                /* in BAR0 (BIR 0) */
#define PF_BAR0         0x00000000c0000000ull /* 64-bit memory, 16 MiB */
#define PF_BAR2         0x0000004000000000ull /* 64-bit prefetchable memory (LMEM) */
#define VF_BAR0         0x00000000c4000000ull /* in the PF's SR-IOV capability */
#define VF_BAR2         0x0000004400000000ull
#define BAR0_SIZE       (16ull << 20)  /* GTTMMADR, PF and VF */
#define PF_BAR2_SIZE    (16ull << 30)  /* LMEMBAR */
#define VF_BAR2_SIZE    (256ull << 20) /* a VF's LMEM window */
#define RES_MEM64       0x00140204ull  /* IORESOURCE_MEM | MEM_64 | SIZEALIGN */
#define RES_MEM64_PREF  0x0014220cull  /* ... | PREFETCH | MEM_64 */
#define VFIO_CDEV_MAJOR 236 /* vfio-dev/vfioN/dev: "MAJOR:N" (a dynamic major on a host) */

#define RATE_SLACK_US 100000 /* vfio_rate: an idle gap longer than this restarts the clock */

/* PF resources the PF keeps for itself (what debugfs calls spare). */
#define DEFAULT_GGTT_SPARE      (64ull << 20)
#define DEFAULT_VRAM_SPARE      (256ull << 20)
#define DEFAULT_CONTEXTS_SPARE  1024
#define DEFAULT_DOORBELLS_SPARE 32

typedef struct _SimPf SimPf;

/* A packet of the migration stream: header {u8 version = 1, u8 type, u8 tile,
 * u8 gt, u32 flags = the stream's seed, u64 offset, u64 size} and payload. */
typedef struct {
    guint8 type, tile, gt;
    guint64 offset; /* VRAM: the chunk's offset in the VF's VRAM; else 0 */
    guint64 size;   /* of the payload */
    guint64 start;  /* save: where its header is in the stream */
} StreamPacket;

/* A restore in progress: the packet being received. */
typedef struct {
    guint8 hdr[PKT_HDR];
    guint hdr_len; /* header bytes of the current packet received */
    StreamPacket cur;
    guint64 pos; /* payload bytes of it received */
    guint8 desc[DESC_MAX];
    guint32 seed;
    guint packets; /* complete ones */
    gboolean done; /* the trailer arrived */
    int error;     /* the first failure: later writes get EIO */
} Restore;

typedef enum { PRIO_LOW, PRIO_NORMAL, PRIO_HIGH } Prio;

typedef struct {
    char bdf[16];
    char *driver;        /* NULL when unbound */
    int vfio_minor;      /* vfio-dev/vfio<N> while bound to xe-vfio-pci, else -1 */
    char *override;      /* NULL when unset */
    char *reset_methods; /* enabled methods, space-separated; "" = none */
    const char *supported_methods;
    SimPf *pf;  /* for a VF: its PF; for a PF: itself */
    guint vfid; /* 0 for the PF, 1-based for VFs */
} SimDev;

typedef struct {
    SimDev dev;
    gboolean enabled; /* exists on the bus */
    /* provisioning, per tile and per GT */
    guint64 ggtt_quota[SIM_MAX_GTS];
    guint64 vram_quota[SIM_MAX_GTS];
    guint64 contexts_quota[SIM_MAX_GTS];
    guint64 doorbells_quota[SIM_MAX_GTS];
    guint64 exec_quantum_ms[SIM_MAX_GTS];
    guint64 preempt_timeout_us[SIM_MAX_GTS];
    guint64 sched_priority[SIM_MAX_GTS];
    /* PF control state */
    gboolean stopped;
    gboolean paused;
    /* VFIO */
    gboolean opened;
    int held; /* the open of sim/vfio/<VF>/device holding it (its token), 0: none */
    int held_serial;
    SimMigState mig_state;
    SimMigState flr_on_state;  /* SIM_MIG_ERROR: none */
    guint64 stream_generation; /* bumped by every reset: disables open data streams */
    guint64 stream_serial;     /* bumped whenever a stream is made or dropped */
    GArray *save;              /* STOP_COPY: the stream's packets (StreamPacket) */
    guint64 save_len;
    guint32 save_seed;
    Restore *restore;      /* RESUMING: the stream written so far */
    guint32 restored_seed; /* of the last stream restored completely; 0: none since a reset */
    gint64 rate_clock;     /* vfio_rate: when the device's transfer engine is free again */
} SimVf;

struct _SimPf {
    SimDev dev;
    SimPfConfig *cfg;
    guint total_vfs; /* min(hardware, max_vfs) */
    guint num_vfs;
    gboolean autoprobe;
    gboolean custom; /* provisioning mode */
    guint64 ggtt_spare, vram_spare, contexts_spare, doorbells_spare;
    guint64 pf_exec_quantum_ms, pf_preempt_timeout_us;
    Prio pf_priority;
    SimVf *vfs; /* [total_vfs] */
};

static GPtrArray *pfs;             /* SimPf */
static GHashTable *probe_failures; /* "BDF DRIVER" -> errno: that driver's probe fails */
static guint max_vfs_param;
static guint64 vfio_rate; /* bytes per second of a VF's save and restore, 0: unlimited */
static SimNode *devices_dir, *drivers_dir, *debug_dri_dir, *vfio_dir, *iommu_groups_dir;
static SimNode *dev_vfio_dir; /* dev/vfio */

/* helpers */

static guint
n_gts(SimPf *pf)
{
    return MIN(pf->cfg->tiles * pf->cfg->gts_per_tile, SIM_MAX_GTS);
}

static gboolean
migration_supported(SimPf *pf)
{
    guint major = 0, minor = 0, patch = 0;

    if (sscanf(pf->cfg->guc_version, "%u.%u.%u", &major, &minor, &patch) < 2)
        return FALSE;
    return pf->cfg->migration && pf->cfg->memirq && (major > 70 || (major == 70 && minor >= 54));
}

static gboolean
pf_mode(SimPf *pf)
{
    return pf->total_vfs > 0 && g_strcmp0(pf->dev.driver, DRV_XE) == 0;
}

static SimDev *
find_dev(const char *bdf)
{
    for (guint i = 0; i < pfs->len; i++) {
        SimPf *pf = pfs->pdata[i];

        if (g_str_equal(pf->dev.bdf, bdf))
            return &pf->dev;
        for (guint v = 0; v < pf->num_vfs; v++)
            if (g_str_equal(pf->vfs[v].dev.bdf, bdf))
                return &pf->vfs[v].dev;
    }
    return NULL;
}

static SimVf *
dev_vf(SimDev *dev)
{
    return dev->vfid > 0 ? &dev->pf->vfs[dev->vfid - 1] : NULL;
}

static SimNode *
dev_dir(SimDev *dev)
{
    return xe_sim_child(devices_dir, dev->bdf);
}

static void
vf_bdf(SimPf *pf, guint index, char *out, gsize size)
{
    guint domain, bus, slot, fn;
    guint rid;

    sscanf(pf->dev.bdf, "%x:%x:%x.%x", &domain, &bus, &slot, &fn);
    rid = ((slot << 3) | fn) + pf->cfg->vf_offset + pf->cfg->vf_stride * index;
    g_snprintf(out, size, "%04x:%02x:%02x.%x", domain, bus + (rid >> 8), (rid & 0xff) >> 3,
               rid & 7);
}

/* Strips one trailing newline and compares, as sysfs_streq does. */
static gboolean
streq_stripped(const char *buf, gsize len, const char *what)
{
    g_autofree char *text = xe_sim_strip(buf, len);

    return g_str_equal(text, what);
}

/* forward */
static void dev_set_driver(SimDev *dev, const char *driver);
static void pf_build_pf_mode(SimPf *pf);
static void pf_teardown_pf_mode(SimPf *pf);
static int pf_disable_vfs(SimPf *pf);
static void vf_reset(SimVf *vf);
static void vf_drop_streams(SimVf *vf);
static guint64 vf_migration_size(SimVf *vf);

/* generic attributes */

static int
show_u64_field(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", *(guint64 *)node->obj);
    return 0;
}

static int
show_hex4(SimNode *node, GString *out)
{
    g_string_append_printf(out, "0x%04x\n", GPOINTER_TO_UINT(node->obj));
    return 0;
}

static int
show_const(SimNode *node, GString *out)
{
    g_string_append(out, node->obj);
    return 0;
}

static int
show_override(SimNode *node, GString *out)
{
    SimDev *dev = node->obj;

    g_string_append_printf(out, "%s\n", dev->override != NULL ? dev->override : "(null)");
    return 0;
}

static int
store_override(SimNode *node, const char *buf, gsize len)
{
    SimDev *dev = node->obj;
    g_autofree char *text = NULL;
    gsize n = len;

    if (len >= PAGE_SIZE - 1)
        return -EINVAL;
    /* A trailing newline is stripped; empty (or all NULs) clears. */
    text = g_strndup(buf, n);
    if (n > 0 && text[strlen(text) > 0 ? strlen(text) - 1 : 0] == '\n')
        text[strlen(text) - 1] = '\0';
    g_clear_pointer(&dev->override, g_free);
    if (*text != '\0')
        dev->override = g_steal_pointer(&text);
    return 0;
}

static int
store_reset(SimNode *node, const char *buf, gsize len)
{
    SimDev *dev = node->obj;
    guint64 value;
    int r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT64, &value);

    if (r < 0 || value != 1)
        return -EINVAL;
    if (*dev->reset_methods == '\0')
        return -ENOTTY;
    if (dev->vfid > 0)
        vf_reset(dev_vf(dev));
    return 0;
}

static int
show_reset_method(SimNode *node, GString *out)
{
    SimDev *dev = node->obj;

    g_string_append_printf(out, "%s\n", dev->reset_methods);
    return 0;
}

static int
store_reset_method(SimNode *node, const char *buf, gsize len)
{
    SimDev *dev = node->obj;
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) want = NULL;
    g_auto(GStrv) supported = g_strsplit(dev->supported_methods, " ", -1);
    g_autoptr(GString) result = g_string_new(NULL);

    g_strstrip(text);
    if (g_str_equal(text, "default")) {
        g_free(dev->reset_methods);
        dev->reset_methods = g_strdup(dev->supported_methods);
        return 0;
    }
    want = g_strsplit_set(text, " ", -1);
    for (guint i = 0; want[i] != NULL; i++) {
        if (*want[i] == '\0')
            continue;
        if (!g_strv_contains((const char *const *)supported, want[i]))
            return -EINVAL; /* unknown or unsupported: nothing changes */
        if (result->len > 0)
            g_string_append_c(result, ' ');
        g_string_append(result, want[i]);
    }
    g_free(dev->reset_methods);
    dev->reset_methods = g_string_free(g_steal_pointer(&result), FALSE);
    return 0;
}

/* configuration space: what the function's registers read */

static void
put16(guint8 *c, guint at, guint16 value)
{
    value = GUINT16_TO_LE(value);
    memcpy(c + at, &value, 2);
}

static void
put32(guint8 *c, guint at, guint32 value)
{
    value = GUINT32_TO_LE(value);
    memcpy(c + at, &value, 4);
}

/* A 64-bit memory BAR (two registers) at @at. */
static void
put_bar64(guint8 *c, guint at, guint64 address, gboolean prefetchable)
{
    put32(c, at, (guint32)address | 0x4 | (prefetchable ? 0x8 : 0));
    put32(c, at + 4, (guint32)(address >> 32));
}

static void
dev_config(SimDev *dev, guint8 *c)
{
    SimPf *pf = dev->pf;
    gboolean vf = dev->vfid > 0;

    /* header (type 0); a VF reads 0xffff as vendor and device (SR-IOV 3.4.1.1-2) */
    put16(c, 0x00, vf ? 0xffff : 0x8086);
    put16(c, 0x02, vf ? 0xffff : pf->cfg->device_id);
    put16(c, 0x04, vf ? 0x0000 : 0x0006); /* command: the PF decodes memory, masters */
    put16(c, 0x06, 0x0010);               /* status: capabilities list */
    c[0x08] = (guint8)pf->cfg->revision;
    c[0x09] = CLASS_CODE & 0xff;
    c[0x0a] = (CLASS_CODE >> 8) & 0xff;
    c[0x0b] = (CLASS_CODE >> 16) & 0xff;
    c[0x0e] = 0x00; /* header type 0, single function */
    if (!vf) {      /* a VF's BARs read 0: they live in the PF's SR-IOV capability */
        put_bar64(c, 0x10, PF_BAR0, FALSE);
        put_bar64(c, 0x18, PF_BAR2, TRUE);
    }
    put16(c, 0x2c, 0x8086); /* subsystem vendor and device */
    put16(c, 0x2e, (guint16)(vf ? pf->cfg->vf_device_id : pf->cfg->device_id));
    c[0x34] = CAP_EXP;
    c[0x3c] = vf ? 0x00 : 0xff; /* interrupt line */
    c[0x3d] = vf ? 0x00 : 0x01; /* interrupt pin: a VF has no INTx */

    /* PCI Express capability v2, endpoint; DEVCAP: FLR, role-based errors, MPS 256 */
    c[CAP_EXP] = 0x10;
    c[CAP_EXP + 1] = CAP_MSIX;
    put16(c, CAP_EXP + 0x02, 0x0002);
    put32(c, CAP_EXP + 0x04, 1u << 28 | 1u << 15 | 0x1);
    put16(c, CAP_EXP + 0x08, vf ? 0x0000 : 0x2810); /* DEVCTL */
    if (!vf) {
        put32(c, CAP_EXP + 0x0c, 0x0104); /* LNKCAP: 16 GT/s x16 */
        put16(c, CAP_EXP + 0x12, 0x0104); /* LNKSTA */
    }
    /* MSI-X: table and PBA in BAR0 */
    c[CAP_MSIX] = 0x11;
    c[CAP_MSIX + 1] = 0x00;
    put16(c, CAP_MSIX + 0x02, MSIX_VECTORS - 1);
    put32(c, CAP_MSIX + 0x04, MSIX_TABLE | 0);
    put32(c, CAP_MSIX + 0x08, MSIX_PBA | 0);

    /* extended capabilities: the PF's SR-IOV; a VF has none (a zero header) */
    if (!vf) {
        /* ID 0x10, version 1, the last one */
        put32(c, EXT_CAP_SRIOV, 0x0010 | 1u << 16);
        put16(c, EXT_CAP_SRIOV + 0x08, pf->num_vfs > 0 ? 0x0009 : 0); /* VF enable, VF MSE */
        put16(c, EXT_CAP_SRIOV + 0x0c, (guint16)pf->cfg->total_vfs);  /* InitialVFs */
        put16(c, EXT_CAP_SRIOV + 0x0e, (guint16)pf->cfg->total_vfs);  /* TotalVFs */
        put16(c, EXT_CAP_SRIOV + 0x10, (guint16)pf->num_vfs);         /* NumVFs */
        put16(c, EXT_CAP_SRIOV + 0x14, (guint16)pf->cfg->vf_offset);
        put16(c, EXT_CAP_SRIOV + 0x16, (guint16)pf->cfg->vf_stride);
        put16(c, EXT_CAP_SRIOV + 0x1a, (guint16)pf->cfg->vf_device_id);
        put32(c, EXT_CAP_SRIOV + 0x1c, 0x553); /* supported page sizes */
        put32(c, EXT_CAP_SRIOV + 0x20, 0x1);   /* system page size: 4 KiB */
        put_bar64(c, EXT_CAP_SRIOV + 0x24, VF_BAR0, FALSE);
        put_bar64(c, EXT_CAP_SRIOV + 0x2c, VF_BAR2, TRUE);
    }
}

/* sysfs "config": a binary attribute, read at any offset */
static gssize
read_config(SimNode *node, char *buf, gsize size, guint64 offset)
{
    guint8 c[CONFIG_SIZE] = { 0 };

    if (offset >= CONFIG_SIZE)
        return 0;
    dev_config(node->obj, c);
    size = MIN(size, CONFIG_SIZE - offset);
    memcpy(buf, c + offset, size);
    return (gssize)size;
}

/* sysfs "resource": start, end and flags of BAR0-5, the ROM, and the PF's six VF BARs
 * (the SR-IOV capability's, covering every VF), as pci-sysfs.c prints them */
static int
show_resource(SimNode *node, GString *out)
{
    SimDev *dev = node->obj;
    SimPf *pf = dev->pf;
    guint64 start[13] = { 0 }, size[13] = { 0 }, flags[13] = { 0 };

    if (dev->vfid == 0) {
        start[0] = PF_BAR0, size[0] = BAR0_SIZE, flags[0] = RES_MEM64;
        start[2] = PF_BAR2, size[2] = PF_BAR2_SIZE, flags[2] = RES_MEM64_PREF;
        start[7] = VF_BAR0, size[7] = BAR0_SIZE * pf->cfg->total_vfs, flags[7] = RES_MEM64;
        start[9] = VF_BAR2, size[9] = VF_BAR2_SIZE * pf->cfg->total_vfs;
        flags[9] = RES_MEM64_PREF;
    } else {
        start[0] = VF_BAR0 + (dev->vfid - 1) * BAR0_SIZE, size[0] = BAR0_SIZE;
        flags[0] = RES_MEM64;
        start[2] = VF_BAR2 + (dev->vfid - 1) * VF_BAR2_SIZE, size[2] = VF_BAR2_SIZE;
        flags[2] = RES_MEM64_PREF;
    }
    for (guint i = 0; i < G_N_ELEMENTS(start); i++)
        g_string_append_printf(out,
                               "0x%016" G_GINT64_MODIFIER "x 0x%016" G_GINT64_MODIFIER
                               "x 0x%016" G_GINT64_MODIFIER "x\n",
                               start[i], size[i] > 0 ? start[i] + size[i] - 1 : 0, flags[i]);
    return 0;
}

/* IOMMU groups: one per function, numbered from its address (stable and unique) */

static guint
iommu_group_of(const char *bdf)
{
    guint domain = 0, bus = 0, slot = 0, fn = 0;

    sscanf(bdf, "%x:%x:%x.%x", &domain, &bus, &slot, &fn);
    return domain << 16 | bus << 8 | slot << 3 | fn;
}

static void
dev_add_iommu_group(SimDev *dev)
{
    g_autofree char *group = g_strdup_printf("%u", iommu_group_of(dev->bdf));
    g_autofree char *to_group = g_strdup_printf("../../../../kernel/iommu_groups/%s", group);
    g_autofree char *to_dev = g_strdup_printf("../../../../bus/pci/devices/%s", dev->bdf);
    SimNode *gd = xe_sim_mkdir(iommu_groups_dir, group);

    xe_sim_add_file(gd, "type", 0644, show_const, NULL, (gpointer) "DMA\n", 0);
    xe_sim_add_file(gd, "reserved_regions", 0444, show_const, NULL,
                    (gpointer) "0x00000000fee00000 0x00000000feefffff msi\n", 0);
    xe_sim_add_link(xe_sim_mkdir(gd, "devices"), dev->bdf, to_dev);
    xe_sim_add_link(dev_dir(dev), "iommu_group", to_group);
}

static void
dev_remove_iommu_group(SimDev *dev)
{
    g_autofree char *group = g_strdup_printf("%u", iommu_group_of(dev->bdf));

    xe_sim_remove(iommu_groups_dir, group);
}

static void
build_dev_dir(SimDev *dev, guint device_id, guint revision)
{
    SimNode *dir = xe_sim_mkdir(devices_dir, dev->bdf);
    g_autofree char *rev = g_strdup_printf("0x%02x\n", revision);
    g_autofree char *class = g_strdup_printf("0x%06x\n", CLASS_CODE);

    xe_sim_add_file(dir, "vendor", 0444, show_const, NULL, (gpointer) "0x8086\n", 0);
    xe_sim_add_file(dir, "device", 0444, show_hex4, NULL, GUINT_TO_POINTER(device_id), 0);
    xe_sim_add_file(dir, "revision", 0444, show_const, NULL, (gpointer)g_intern_string(rev), 0);
    xe_sim_add_file(dir, "class", 0444, show_const, NULL, (gpointer)g_intern_string(class), 0);
    xe_sim_add_bin_file(dir, "config", 0444, read_config, NULL, dev, 0);
    xe_sim_add_file(dir, "resource", 0444, show_resource, NULL, dev, 0);
    xe_sim_add_file(dir, "driver_override", 0644, show_override, store_override, dev, 0);
    xe_sim_add_file(dir, "reset", 0200, NULL, store_reset, dev, 0);
    xe_sim_add_file(dir, "reset_method", 0644, show_reset_method, store_reset_method, dev, 0);
    dev_add_iommu_group(dev);
}

/* drivers and binding */

/* The lowest vfio device minor no function holds (the kernel's IDA). */
static int
vfio_minor_alloc(void)
{
    for (int minor = 0;; minor++) {
        gboolean used = FALSE;

        for (guint i = 0; i < pfs->len && !used; i++) {
            SimPf *pf = pfs->pdata[i];

            used = pf->dev.vfio_minor == minor;
            for (guint v = 0; v < pf->total_vfs && !used; v++)
                used = pf->vfs[v].dev.vfio_minor == minor;
        }
        if (!used)
            return minor;
    }
}

static int
show_vfio_dev(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%d:%d\n", VFIO_CDEV_MAJOR, node->arg);
    return 0;
}

static void
dev_set_driver(SimDev *dev, const char *driver)
{
    SimNode *dir = dev_dir(dev);

    if (dev->driver != NULL) {
        xe_sim_remove(xe_sim_child(drivers_dir, dev->driver), dev->bdf);
        xe_sim_remove(dir, "driver");
        xe_sim_remove(dir, "vfio-dev"); /* the vfio device is unregistered with the driver */
        if (dev->vfio_minor >= 0) {
            g_autofree char *group = g_strdup_printf("%u", iommu_group_of(dev->bdf));

            xe_sim_remove(dev_vfio_dir, group); /* and its group's node, owner and all */
        }
        dev->vfio_minor = -1;
        g_clear_pointer(&dev->driver, g_free);
    }
    if (driver != NULL) {
        g_autofree char *to_dev = g_strdup_printf("../../devices/%s", dev->bdf);
        g_autofree char *to_drv = g_strdup_printf("../../../../bus/pci/drivers/%s", driver);

        dev->driver = g_strdup(driver);
        xe_sim_add_link(xe_sim_child(drivers_dir, driver), dev->bdf, to_dev);
        xe_sim_add_link(dir, "driver", to_drv);
        if (g_str_equal(driver, DRV_VFIO)) {
            g_autofree char *name = NULL;

            dev->vfio_minor = vfio_minor_alloc();
            name = g_strdup_printf("vfio-dev/vfio%d", dev->vfio_minor);
            xe_sim_add_file(xe_sim_mkdir(dir, name), "dev", 0444, show_vfio_dev, NULL, NULL,
                            dev->vfio_minor);
            {
                g_autofree char *group = g_strdup_printf("%u", iommu_group_of(dev->bdf));

                xe_sim_add_device_node(dev_vfio_dir, group, 0600);
            }
        }
    }
}

/* pci_device_can_probe(): a VF is probed only with autoprobe or an override. */
static gboolean
can_probe(SimDev *dev)
{
    return dev->vfid == 0 || dev->pf->autoprobe || dev->override != NULL;
}

/* Whether @driver's id table matches @dev (the driver core's match step). */
static gboolean
driver_matches(SimDev *dev, const char *driver)
{
    if (dev->override != NULL)
        return g_str_equal(dev->override, driver); /* only the named driver */
    /* xe matches by ID; xe-vfio-pci's table is override-only. */
    return g_str_equal(driver, DRV_XE);
}

/* The driver's probe: 0 or a negative errno. */
static int
driver_probe(SimDev *dev, const char *driver)
{
    g_autofree char *key = g_strdup_printf("%s %s", dev->bdf, driver);
    int injected = GPOINTER_TO_INT(g_hash_table_lookup(probe_failures, key));

    if (injected != 0)
        return -injected;
    if (g_str_equal(driver, DRV_VFIO)) {
        /* Probe fails if the VF's PF is not bound to xe (the PF itself never is, here). */
        if (dev->vfid == 0 || g_strcmp0(dev->pf->dev.driver, DRV_XE) != 0)
            return -ENODEV;
        dev_set_driver(dev, driver);
        dev_vf(dev)->mig_state = SIM_MIG_RUNNING;
        return 0;
    }
    dev_set_driver(dev, driver);
    if (dev->vfid == 0)
        pf_build_pf_mode(dev->pf);
    return 0;
}

/* Detaches the driver; may block while a VFIO user holds the VF (as vfio's
 * remove waits for the user to release the device). */
static void
driver_remove(SimDev *dev)
{
    SimVf *vf = dev_vf(dev);

    if (vf != NULL && g_strcmp0(dev->driver, DRV_VFIO) == 0) {
        while (vf->opened && g_strcmp0(dev->driver, DRV_VFIO) == 0)
            xe_sim_wait();
        if (g_strcmp0(dev->driver, DRV_VFIO) != 0)
            return; /* somebody else detached it meanwhile */
    }
    if (dev->vfid == 0 && g_strcmp0(dev->driver, DRV_XE) == 0) {
        pf_disable_vfs(dev->pf);
        pf_teardown_pf_mode(dev->pf);
    }
    dev_set_driver(dev, NULL);
}

static SimDev *
dev_from_buf(const char *buf, gsize len)
{
    g_autofree char *bdf = xe_sim_strip(buf, len);

    return find_dev(bdf);
}

static int
store_bind(SimNode *node, const char *buf, gsize len)
{
    const char *driver = node->obj;
    SimDev *dev = dev_from_buf(buf, len);
    int r;

    if (dev == NULL || !driver_matches(dev, driver))
        return -ENODEV;
    if (dev->driver != NULL)
        return -EBUSY;
    if (!can_probe(dev))
        return -ENODEV; /* pci_device_probe() refuses: no autoprobe, no override */
    r = driver_probe(dev, driver);
    return r == 0 ? 0 : (r == -ENXIO ? -ENODEV : r);
}

static int
store_unbind(SimNode *node, const char *buf, gsize len)
{
    const char *driver = node->obj;
    SimDev *dev = dev_from_buf(buf, len);

    if (dev == NULL || g_strcmp0(dev->driver, driver) != 0)
        return -ENODEV;
    driver_remove(dev);
    return 0;
}

/* Attaches the first matching driver; a probe that fails with ENODEV just
 * means "no driver" (the write still succeeds). */
static int
dev_attach(SimDev *dev)
{
    static const char *const drivers[] = { DRV_XE, DRV_VFIO };

    if (dev->driver != NULL || !can_probe(dev))
        return 0;
    for (gsize i = 0; i < G_N_ELEMENTS(drivers); i++) {
        int r;

        if (!driver_matches(dev, drivers[i]))
            continue;
        r = driver_probe(dev, drivers[i]);
        if (r == 0)
            return 0;
        if (r != -ENODEV && r != -ENXIO)
            return r;
    }
    return 0;
}

static int
store_drivers_probe(SimNode *node, const char *buf, gsize len)
{
    SimDev *dev = dev_from_buf(buf, len);

    if (dev == NULL)
        return -ENODEV;
    return dev_attach(dev);
}

/* SR-IOV */

static void
pf_auto_provision(SimPf *pf)
{
    guint n = pf->num_vfs;

    for (guint v = 0; v < pf->total_vfs; v++) {
        SimVf *vf = &pf->vfs[v];
        gboolean on = v < n;

        for (guint g = 0; g < n_gts(pf); g++) {
            vf->ggtt_quota[g] = on ? ((pf->cfg->ggtt_size - pf->ggtt_spare) / n) & ~0xffffull : 0;
            vf->vram_quota[g] = on ? ((pf->cfg->vram_size - pf->vram_spare) / n) & ~0x1fffffull : 0;
            vf->contexts_quota[g] = on ? ((pf->cfg->contexts - pf->contexts_spare) / n) & ~7ull : 0;
            vf->doorbells_quota[g] = on ? (pf->cfg->doorbells - pf->doorbells_spare) / n : 0;
            vf->exec_quantum_ms[g] = 0;
            vf->preempt_timeout_us[g] = 0;
            vf->sched_priority[g] = PRIO_LOW;
        }
    }
}

static void
vf_create(SimPf *pf, guint index)
{
    SimVf *vf = &pf->vfs[index];
    SimNode *pf_dir = dev_dir(&pf->dev);
    SimNode *dir;
    g_autofree char *virtfn = g_strdup_printf("virtfn%u", index);
    g_autofree char *to_vf = g_strdup_printf("../%s", vf->dev.bdf);
    g_autofree char *to_pf = g_strdup_printf("../%s", pf->dev.bdf);
    g_autofree char *admin = g_strdup_printf("sriov_admin/vf%u", index + 1);
    g_autofree char *admin_link = g_strdup_printf("../../../%s", vf->dev.bdf);

    vf->enabled = TRUE;
    vf->stopped = vf->paused = vf->opened = FALSE;
    vf->held = 0;
    vf->mig_state = SIM_MIG_RUNNING;
    g_clear_pointer(&vf->dev.override, g_free);
    g_free(vf->dev.reset_methods);
    vf->dev.reset_methods = g_strdup(vf->dev.supported_methods);
    build_dev_dir(&vf->dev, pf->cfg->vf_device_id, pf->cfg->revision);
    dir = dev_dir(&vf->dev);
    xe_sim_add_link(dir, "physfn", to_pf);
    xe_sim_add_link(pf_dir, virtfn, to_vf);
    xe_sim_add_link(xe_sim_mkdir(pf_dir, admin), "device", admin_link);
}

static void
vf_destroy(SimPf *pf, guint index)
{
    SimVf *vf = &pf->vfs[index];
    SimNode *pf_dir = dev_dir(&pf->dev);
    g_autofree char *virtfn = g_strdup_printf("virtfn%u", index);
    g_autofree char *admin = g_strdup_printf("sriov_admin/vf%u", index + 1);

    if (vf->dev.driver != NULL)
        dev_set_driver(&vf->dev, NULL);
    xe_sim_remove(pf_dir, virtfn);
    xe_sim_remove(xe_sim_mkdir(pf_dir, admin), "device");
    dev_remove_iommu_group(&vf->dev);
    xe_sim_remove(devices_dir, vf->dev.bdf);
    vf_drop_streams(vf);
    vf->stream_generation++;
    vf->restored_seed = 0;
    vf->held = 0;
    vf->enabled = FALSE;
}

/* Disables all VFs; blocks while a VFIO user holds one. */
static int
pf_disable_vfs(SimPf *pf)
{
    for (;;) {
        gboolean busy = FALSE;

        for (guint v = 0; v < pf->num_vfs; v++)
            busy |= pf->vfs[v].opened && g_strcmp0(pf->vfs[v].dev.driver, DRV_VFIO) == 0;
        if (!busy)
            break;
        xe_sim_wait();
    }
    for (guint v = pf->num_vfs; v > 0; v--)
        vf_destroy(pf, v - 1);
    pf->num_vfs = 0;
    if (!pf->custom)
        pf_auto_provision(pf); /* auto mode releases everything */
    return 0;
}

static int
show_numvfs(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%u\n", ((SimPf *)node->obj)->num_vfs);
    return 0;
}

static int
store_numvfs(SimNode *node, const char *buf, gsize len)
{
    SimPf *pf = node->obj;
    guint64 n;
    int r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT16, &n);

    if (r < 0)
        return r;
    if (n > pf->total_vfs)
        return -ERANGE;
    if (n == pf->num_vfs)
        return 0;
    if (g_strcmp0(pf->dev.driver, DRV_XE) != 0)
        return -ENOENT; /* no PF driver with sriov_configure */
    if (n == 0)
        return pf_disable_vfs(pf);
    if (pf->num_vfs > 0)
        return -EBUSY;

    pf->num_vfs = (guint)n;
    if (!pf->custom)
        pf_auto_provision(pf);
    for (guint v = 0; v < n; v++)
        vf_create(pf, v);
    for (guint v = 0; v < n; v++)
        (void)dev_attach(&pf->vfs[v].dev); /* autoprobe: fresh VFs go to xe */
    return 0;
}

static int
show_totalvfs(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%u\n", ((SimPf *)node->obj)->total_vfs);
    return 0;
}

static int
show_autoprobe(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%u\n", ((SimPf *)node->obj)->autoprobe ? 1 : 0);
    return 0;
}

static int
store_autoprobe(SimNode *node, const char *buf, gsize len)
{
    SimPf *pf = node->obj;
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r == 0)
        pf->autoprobe = value;
    return r;
}

static int
show_vf_device(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%x\n", ((SimPf *)node->obj)->cfg->vf_device_id);
    return 0;
}

/* sriov_admin (sysfs) */

static SimVf *
node_vf(SimNode *node)
{
    return node->obj;
}

/* All GTs agree, or EUCLEAN (as the ABI document says for sriov_admin reads). */
static int
show_all_gts(SimPf *pf, const guint64 *values, GString *out)
{
    for (guint g = 1; g < n_gts(pf); g++)
        if (values[g] != values[0])
            return -EUCLEAN;
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", values[0]);
    return 0;
}

static int
store_all_gts(const char *buf, gsize len, guint64 max, guint64 *values, guint n)
{
    guint64 v;
    int r = xe_sim_parse_u64(buf, len, 0, max, &v);

    if (r < 0)
        return -EINVAL; /* kstrtou32 failures reach sysfs as EINVAL */
    for (guint g = 0; g < n; g++)
        values[g] = v;
    return 0;
}

static int
show_vf_eq(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);
    return show_all_gts(vf->dev.pf, vf->exec_quantum_ms, out);
}

static int
store_vf_eq(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    return store_all_gts(buf, len, G_MAXUINT32, vf->exec_quantum_ms, n_gts(vf->dev.pf));
}

static int
show_vf_pt(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);
    return show_all_gts(vf->dev.pf, vf->preempt_timeout_us, out);
}

static int
store_vf_pt(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    return store_all_gts(buf, len, G_MAXUINT32, vf->preempt_timeout_us, n_gts(vf->dev.pf));
}

static void
show_priority_choices(GString *out, Prio active, gboolean with_high)
{
    static const char *const names[] = { "low", "normal", "high" };

    for (guint p = 0; p < (with_high ? 3u : 2u); p++)
        g_string_append_printf(out, p == 0 ? "%s%s%s" : " %s%s%s", p == active ? "[" : "", names[p],
                               p == active ? "]" : "");
    g_string_append_c(out, '\n');
}

static int
show_vf_priority(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);

    for (guint g = 1; g < n_gts(vf->dev.pf); g++)
        if (vf->sched_priority[g] != vf->sched_priority[0])
            return -EUCLEAN;
    show_priority_choices(out, (Prio)vf->sched_priority[0], FALSE);
    return 0;
}

static int
show_vf_vram(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);

    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", vf->vram_quota[0]);
    return 0;
}

static guint64
pf_vram_available(SimPf *pf, SimVf *except)
{
    guint64 used = pf->vram_spare;

    for (guint v = 0; v < pf->total_vfs; v++)
        if (&pf->vfs[v] != except)
            used += pf->vfs[v].vram_quota[0];
    return used >= pf->cfg->vram_size ? 0 : pf->cfg->vram_size - used;
}

static int
store_vf_vram_quota(SimVf *vf, guint64 value)
{
    SimPf *pf = vf->dev.pf;

    if (value > pf_vram_available(pf, vf))
        return -ENOSPC; /* UNVERIFIED errno for over-provisioning */
    for (guint g = 0; g < n_gts(pf); g++)
        vf->vram_quota[g] = value;
    if (value != 0)
        pf->custom = TRUE; /* a non-zero vram_quota leaves auto-provisioning */
    return 0;
}

static int
store_vf_vram(SimNode *node, const char *buf, gsize len)
{
    guint64 v;
    int r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT64, &v);

    return r < 0 ? -EINVAL : store_vf_vram_quota(node_vf(node), v);
}

/* PF control: pause, resume, stop (debugfs and sriov_admin/vfK/stop). */
static int
vf_stop(SimVf *vf)
{
    if (vf->stopped)
        return n_gts(vf->dev.pf) > 1 ? -EUCLEAN : -ESTALE; /* multi-GT folds to EUCLEAN */
    vf->stopped = TRUE;
    vf->paused = FALSE;
    return 0;
}

static int
store_vf_stop(SimNode *node, const char *buf, gsize len)
{
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r < 0)
        return r;
    return value ? vf_stop(node_vf(node)) : 0;
}

static int
store_vf_pause(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r < 0 || !value)
        return r;
    if (vf->stopped)
        return -EPERM;
    if (vf->paused)
        return n_gts(vf->dev.pf) > 1 ? -EUCLEAN : -ESTALE;
    vf->paused = TRUE;
    return 0;
}

static int
store_vf_resume(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r < 0 || !value)
        return r;
    if (vf->stopped || !vf->paused)
        return -EPERM;
    vf->paused = FALSE;
    return 0;
}

static int
store_vf_debug_reset(SimNode *node, const char *buf, gsize len)
{
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r == 0 && value)
        vf_reset(node_vf(node));
    return r;
}

/* PF profile and bulk profile */

static int
show_pf_eq(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n",
                           ((SimPf *)node->obj)->pf_exec_quantum_ms);
    return 0;
}

static int
store_pf_eq(SimNode *node, const char *buf, gsize len)
{
    return store_all_gts(buf, len, G_MAXUINT32, &((SimPf *)node->obj)->pf_exec_quantum_ms, 1);
}

static int
show_pf_pt(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n",
                           ((SimPf *)node->obj)->pf_preempt_timeout_us);
    return 0;
}

static int
store_pf_pt(SimNode *node, const char *buf, gsize len)
{
    return store_all_gts(buf, len, G_MAXUINT32, &((SimPf *)node->obj)->pf_preempt_timeout_us, 1);
}

static int
parse_priority(const char *buf, gsize len, gboolean allow_high, Prio *out)
{
    if (streq_stripped(buf, len, "low"))
        *out = PRIO_LOW;
    else if (streq_stripped(buf, len, "normal"))
        *out = PRIO_NORMAL;
    else if (allow_high && streq_stripped(buf, len, "high"))
        *out = PRIO_HIGH;
    else
        return -EINVAL;
    return 0;
}

static int
show_pf_priority(SimNode *node, GString *out)
{
    show_priority_choices(out, ((SimPf *)node->obj)->pf_priority, TRUE);
    return 0;
}

static int
store_pf_priority(SimNode *node, const char *buf, gsize len)
{
    return parse_priority(buf, len, TRUE, &((SimPf *)node->obj)->pf_priority);
}

static int
store_bulk(SimNode *node, const char *buf, gsize len)
{
    SimPf *pf = node->obj;
    Prio prio = PRIO_LOW;
    guint64 v = 0;
    int r;

    switch (node->arg) {
    case 0: /* exec_quantum_ms */
    case 1: /* preempt_timeout_us */
        r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT32, &v);
        break;
    case 2: /* sched_priority: low|normal only */
        r = parse_priority(buf, len, FALSE, &prio);
        break;
    default: /* vram_quota */
        r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT64, &v);
        break;
    }
    if (r < 0)
        return -EINVAL;
    for (guint i = 0; i < pf->total_vfs; i++) {
        SimVf *vf = &pf->vfs[i];

        for (guint g = 0; g < n_gts(pf); g++) {
            if (node->arg == 0)
                vf->exec_quantum_ms[g] = v;
            else if (node->arg == 1)
                vf->preempt_timeout_us[g] = v;
            else if (node->arg == 2)
                vf->sched_priority[g] = prio;
        }
        if (node->arg == 3) {
            vf->vram_quota[0] = 0; /* re-split below */
        }
    }
    if (node->arg == 3) {
        if (v * pf->total_vfs > pf_vram_available(pf, NULL))
            return -ENOSPC;
        for (guint i = 0; i < pf->total_vfs; i++)
            (void)store_vf_vram_quota(&pf->vfs[i], v);
    }
    return 0;
}

/* debugfs numeric attributes: %llu, decimal or 0x-hex, EOVERFLOW above width */

typedef enum {
    Q_GGTT,
    Q_VRAM,
    Q_CONTEXTS,
    Q_DOORBELLS,
    Q_EQ,
    Q_PT,
    Q_PRIO,
} QuotaKind;

static guint64 *
quota_field(SimVf *vf, QuotaKind kind, guint gt)
{
    switch (kind) {
    case Q_GGTT:
        return &vf->ggtt_quota[gt];
    case Q_VRAM:
        return &vf->vram_quota[gt];
    case Q_CONTEXTS:
        return &vf->contexts_quota[gt];
    case Q_DOORBELLS:
        return &vf->doorbells_quota[gt];
    case Q_EQ:
        return &vf->exec_quantum_ms[gt];
    case Q_PT:
        return &vf->preempt_timeout_us[gt];
    case Q_PRIO:
        return &vf->sched_priority[gt];
    }
    g_assert_not_reached();
}

/* node->obj = SimVf, node->arg = kind << 8 | gt */
static int
show_debug_quota(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n",
                           *quota_field(node_vf(node), node->arg >> 8, node->arg & 0xff));
    return 0;
}

static int
debug_parse(const char *buf, gsize len, guint64 max, guint64 *out)
{
    int r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT64, out);

    if (r == -ERANGE || (r == 0 && *out > max))
        return -EOVERFLOW;
    return r;
}

static int
store_debug_quota(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    SimPf *pf = vf->dev.pf;
    QuotaKind kind = node->arg >> 8;
    guint gt = node->arg & 0xff;
    gboolean wide = kind == Q_GGTT || kind == Q_VRAM;
    guint64 v;
    int r = debug_parse(buf, len, wide ? G_MAXUINT64 : G_MAXUINT32, &v);

    if (r < 0)
        return r;
    if (kind == Q_PRIO && v > PRIO_HIGH)
        return -EINVAL;
    if (kind == Q_VRAM) {
        r = store_vf_vram_quota(vf, v);
        if (r == 0)
            pf->custom = TRUE;
        return r;
    }
    if (kind == Q_GGTT) {
        guint64 used = pf->ggtt_spare;
        for (guint i = 0; i < pf->total_vfs; i++)
            if (&pf->vfs[i] != vf)
                used += pf->vfs[i].ggtt_quota[0];
        if (v > pf->cfg->ggtt_size - MIN(used, pf->cfg->ggtt_size))
            return -ENOSPC; /* UNVERIFIED errno for over-provisioning */
        for (guint g = 0; g < n_gts(pf); g++)
            vf->ggtt_quota[g] = v; /* GGTT is per tile; one tile per GT pair here */
    } else {
        *quota_field(vf, kind, gt) = v;
    }
    pf->custom = TRUE; /* any admin provisioning write switches to custom */
    return 0;
}

static int
show_spare(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", *(guint64 *)node->obj);
    return 0;
}

static int
store_spare(SimNode *node, const char *buf, gsize len)
{
    guint64 v;
    int r = debug_parse(buf, len, node->arg ? G_MAXUINT64 : G_MAXUINT32, &v);

    if (r == 0)
        *(guint64 *)node->obj = v;
    return r;
}

static int
show_ggtt_available(SimNode *node, GString *out)
{
    SimPf *pf = node->obj;
    guint64 used = pf->ggtt_spare;

    for (guint v = 0; v < pf->total_vfs; v++)
        used += pf->vfs[v].ggtt_quota[0];
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n",
                           used >= pf->cfg->ggtt_size ? 0 : pf->cfg->ggtt_size - used);
    return 0;
}

static int
show_pf_vfs(SimNode *node, GString *out)
{
    SimPf *pf = node->obj;

    g_string_append_printf(out, "total: %u\nsupported: %u\nenabled: %u\n", pf->cfg->total_vfs,
                           pf->total_vfs, pf->num_vfs);
    return 0;
}

static int
store_restore_auto(SimNode *node, const char *buf, gsize len)
{
    SimPf *pf = node->obj;
    gboolean value;
    int r = xe_sim_parse_bool(buf, len, &value);

    if (r < 0 || !value)
        return r;
    if (pf->num_vfs > 0)
        return -EBUSY;
    pf->custom = FALSE;
    pf_auto_provision(pf); /* frees all VF resources */
    return 0;
}

static int
show_migration_size(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);

    if (!migration_supported(vf->dev.pf))
        return -ENOPKG;
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", vf_migration_size(vf));
    return 0;
}

static int
show_control(SimNode *node, GString *out)
{
    g_string_append(out, "stop\npause\nresume\n");
    return 0;
}

static int
store_control(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);

    if (len > 31)
        return -EINVAL;
    if (streq_stripped(buf, len, "stop"))
        return vf_stop(vf);
    if (streq_stripped(buf, len, "pause"))
        return store_vf_pause(node, "1", 1);
    if (streq_stripped(buf, len, "resume"))
        return store_vf_resume(node, "1", 1);
    return -EINVAL;
}

/* PF mode: sriov_admin/ and debugfs */

static void
pf_build_pf_mode(SimPf *pf)
{
    SimNode *pf_dir = dev_dir(&pf->dev);
    SimNode *admin, *bulk, *pfp, *dbg, *sriov, *pfd;
    g_autofree char *pf_link = g_strdup_printf("../../../%s", pf->dev.bdf);
    static const char *const bulk_names[] = { "exec_quantum_ms", "preempt_timeout_us",
                                              "sched_priority", "vram_quota" };

    if (!pf_mode(pf))
        return;
    admin = xe_sim_mkdir(pf_dir, "sriov_admin");
    bulk = xe_sim_mkdir(admin, ".bulk_profile");
    for (guint i = 0; i < G_N_ELEMENTS(bulk_names); i++)
        xe_sim_add_file(bulk, bulk_names[i], 0200, NULL, store_bulk, pf, (int)i);
    xe_sim_add_link(xe_sim_mkdir(admin, "pf"), "device", pf_link);
    pfp = xe_sim_mkdir(admin, "pf/profile");
    xe_sim_add_file(pfp, "exec_quantum_ms", 0644, show_pf_eq, store_pf_eq, pf, 0);
    xe_sim_add_file(pfp, "preempt_timeout_us", 0644, show_pf_pt, store_pf_pt, pf, 0);
    xe_sim_add_file(pfp, "sched_priority", 0644, show_pf_priority, store_pf_priority, pf, 0);

    dbg = xe_sim_mkdir(debug_dri_dir, pf->dev.bdf);
    sriov = xe_sim_mkdir(dbg, "sriov");
    xe_sim_add_file(sriov, "restore_auto_provisioning", 0200, NULL, store_restore_auto, pf, 0);
    pfd = xe_sim_mkdir(sriov, "pf");
    xe_sim_add_file(pfd, "vfs", 0444, show_pf_vfs, NULL, pf, 0);
    xe_sim_add_file(pfd, "versions", 0444, show_const, NULL,
                    (gpointer)g_intern_string(pf->cfg->guc_version), 0);
    for (guint t = 0; t < pf->cfg->tiles; t++) {
        g_autofree char *tile = g_strdup_printf("tile%u", t);
        SimNode *td = xe_sim_mkdir(pfd, tile);

        xe_sim_add_file(td, "ggtt_spare", 0644, show_spare, store_spare, &pf->ggtt_spare, 1);
        xe_sim_add_file(td, "ggtt_available", 0444, show_ggtt_available, NULL, pf, 0);
        xe_sim_add_file(td, "vram_spare", 0644, show_spare, store_spare, &pf->vram_spare, 1);
        for (guint g = 0; g < pf->cfg->gts_per_tile; g++) {
            g_autofree char *gtn = g_strdup_printf("gt%u", t * pf->cfg->gts_per_tile + g);
            SimNode *gd = xe_sim_mkdir(td, gtn);

            xe_sim_add_file(gd, "contexts_spare", 0644, show_spare, store_spare,
                            &pf->contexts_spare, 0);
            xe_sim_add_file(gd, "doorbells_spare", 0644, show_spare, store_spare,
                            &pf->doorbells_spare, 0);
        }
    }

    for (guint v = 0; v < pf->total_vfs; v++) {
        SimVf *vf = &pf->vfs[v];
        g_autofree char *name = g_strdup_printf("vf%u", v + 1);
        SimNode *vd = xe_sim_mkdir(admin, name);
        SimNode *prof = xe_sim_mkdir(vd, "profile");
        SimNode *dv = xe_sim_mkdir(sriov, name);

        xe_sim_add_file(vd, "stop", 0200, NULL, store_vf_stop, vf, 0);
        xe_sim_add_file(prof, "exec_quantum_ms", 0644, show_vf_eq, store_vf_eq, vf, 0);
        xe_sim_add_file(prof, "preempt_timeout_us", 0644, show_vf_pt, store_vf_pt, vf, 0);
        xe_sim_add_file(prof, "sched_priority", 0444, show_vf_priority, NULL, vf, 0);
        xe_sim_add_file(prof, "vram_quota", 0644, show_vf_vram, store_vf_vram, vf, 0);
        if (vf->enabled) {
            g_autofree char *link = g_strdup_printf("../../../%s", vf->dev.bdf);
            xe_sim_add_link(vd, "device", link);
        }

        xe_sim_add_file(dv, "pause", 0200, NULL, store_vf_pause, vf, 0);
        xe_sim_add_file(dv, "resume", 0200, NULL, store_vf_resume, vf, 0);
        xe_sim_add_file(dv, "stop", 0200, NULL, store_vf_stop, vf, 0);
        xe_sim_add_file(dv, "reset", 0200, NULL, store_vf_debug_reset, vf, 0);
        xe_sim_add_file(dv, "migration_size", 0400, show_migration_size, NULL, vf, 0);
        for (guint t = 0; t < pf->cfg->tiles; t++) {
            g_autofree char *tile = g_strdup_printf("tile%u", t);
            SimNode *td = xe_sim_mkdir(dv, tile);
            guint g0 = t * pf->cfg->gts_per_tile;

            xe_sim_add_file(td, "ggtt_quota", 0644, show_debug_quota, store_debug_quota, vf,
                            Q_GGTT << 8 | (int)g0);
            xe_sim_add_file(td, "vram_quota", 0644, show_debug_quota, store_debug_quota, vf,
                            Q_VRAM << 8 | (int)g0);
            for (guint g = 0; g < pf->cfg->gts_per_tile; g++) {
                g_autofree char *gtn = g_strdup_printf("gt%u", g0 + g);
                SimNode *gd = xe_sim_mkdir(td, gtn);
                static const struct {
                    const char *name;
                    QuotaKind kind;
                } quotas[] = {
                    { "contexts_quota", Q_CONTEXTS }, { "doorbells_quota", Q_DOORBELLS },
                    { "exec_quantum_ms", Q_EQ },      { "preempt_timeout_us", Q_PT },
                    { "sched_priority", Q_PRIO },
                };

                for (gsize q = 0; q < G_N_ELEMENTS(quotas); q++)
                    xe_sim_add_file(gd, quotas[q].name, 0644, show_debug_quota, store_debug_quota,
                                    vf, (int)(quotas[q].kind << 8 | (g0 + g)));
                xe_sim_add_file(gd, "control", 0600, show_control, store_control, vf, 0);
            }
        }
    }
}

static void
pf_teardown_pf_mode(SimPf *pf)
{
    xe_sim_remove(dev_dir(&pf->dev), "sriov_admin");
    xe_sim_remove(debug_dri_dir, pf->dev.bdf);
}

/* VFIO migration (what QEMU does through ioctls), under sim/vfio/<BDF>/ */

static const char *const mig_names[] = {
    [SIM_MIG_ERROR] = "error",       [SIM_MIG_STOP] = "stop",
    [SIM_MIG_RUNNING] = "running",   [SIM_MIG_STOP_COPY] = "stop_copy",
    [SIM_MIG_RESUMING] = "resuming", [SIM_MIG_RUNNING_P2P] = "running_p2p",
    [SIM_MIG_PRE_COPY] = "pre_copy", [SIM_MIG_PRE_COPY_P2P] = "pre_copy_p2p",
};

const char *
xe_sim_mig_state_name(SimMigState state)
{
    return (guint)state < G_N_ELEMENTS(mig_names) ? mig_names[state] : "?";
}

static int
mig_state_parse(const char *text)
{
    for (guint i = 0; i < G_N_ELEMENTS(mig_names); i++)
        if (g_str_equal(mig_names[i], text))
            return (int)i;
    return -1;
}

/* The arcs a STOP_COPY|P2P device (no PRE_COPY) supports. */
static gboolean
mig_arc(SimMigState from, SimMigState to)
{
    switch (from) {
    case SIM_MIG_RUNNING:
        return to == SIM_MIG_RUNNING_P2P;
    case SIM_MIG_RUNNING_P2P:
        return to == SIM_MIG_RUNNING || to == SIM_MIG_STOP;
    case SIM_MIG_STOP:
        return to == SIM_MIG_RUNNING_P2P || to == SIM_MIG_STOP_COPY || to == SIM_MIG_RESUMING;
    case SIM_MIG_STOP_COPY:
    case SIM_MIG_RESUMING:
        return to == SIM_MIG_STOP;
    default:
        return FALSE;
    }
}

/* The migration stream. Packets in order: the descriptor; per GT its GuC
 * state and its MMIO registers; per tile its GGTT PTEs (when provisioned) and
 * its VRAM in chunks (when provisioned); the trailer. The layout is all that
 * is kept: bytes are made when read. Every header's flags carry the stream's
 * seed (chosen at STOP_COPY entry), and every payload but the descriptor's is
 * a pattern of (seed, type, tile, gt, address), so that a restore verifies it
 * without knowing the source. */

static void
add_packet(GArray *packets, guint64 *pos, guint8 type, guint tile, guint gt, guint64 offset,
           guint64 size)
{
    StreamPacket p = { type, (guint8)tile, (guint8)gt, offset, size, *pos };

    g_array_append_val(packets, p);
    *pos += PKT_HDR + size;
}

static GArray *
vf_stream_layout(SimVf *vf, guint64 *total)
{
    SimPf *pf = vf->dev.pf;
    GArray *packets = g_array_new(FALSE, TRUE, sizeof(StreamPacket));
    guint64 pos = 0;

    add_packet(packets, &pos, PKT_DESCRIPTOR, 0, 0, 0, DESC_SIZE);
    for (guint g = 0; g < n_gts(pf); g++) {
        add_packet(packets, &pos, PKT_GUC, g / pf->cfg->gts_per_tile, g, 0, GUC_SIZE);
        add_packet(packets, &pos, PKT_MMIO, g / pf->cfg->gts_per_tile, g, 0, MMIO_SIZE);
    }
    for (guint t = 0; t < pf->cfg->tiles; t++) {
        guint64 ggtt = vf->ggtt_quota[t * pf->cfg->gts_per_tile] / GGTT_PTE * 8;

        if (ggtt > 0)
            add_packet(packets, &pos, PKT_GGTT, t, 0, 0, ggtt);
    }
    for (guint t = 0; t < pf->cfg->tiles; t++) {
        guint64 vram = vf->vram_quota[t * pf->cfg->gts_per_tile];

        for (guint64 off = 0; off < vram; off += VRAM_CHUNK)
            add_packet(packets, &pos, PKT_VRAM, t, 0, off, MIN(VRAM_CHUNK, vram - off));
    }
    add_packet(packets, &pos, PKT_TRAILER, 0, 0, 0, 0);
    *total = pos;
    return packets;
}

static guint64
vf_migration_size(SimVf *vf)
{
    guint64 total;

    g_array_unref(vf_stream_layout(vf, &total));
    return total;
}

static void
packet_header(guint8 *hdr, const StreamPacket *p, guint32 seed)
{
    guint32 flags = GUINT32_TO_LE(seed);
    guint64 offset = GUINT64_TO_LE(p->offset);
    guint64 size = GUINT64_TO_LE(p->size);

    hdr[0] = 1;
    hdr[1] = p->type;
    hdr[2] = p->tile;
    hdr[3] = p->gt;
    memcpy(hdr + 4, &flags, 4);
    memcpy(hdr + 8, &offset, 8);
    memcpy(hdr + 16, &size, 8);
}

/* The payload's key: the 64-bit word at address A (the packet's offset plus
 * the position in its payload, rounded down to 8) is output A / 8 of
 * SplitMix64 seeded with the key, stored little-endian. */
static guint64
pattern_key(guint32 seed, const StreamPacket *p)
{
    return (guint64)seed << 32 | (guint64)p->type << 16 | (guint64)p->tile << 8 | p->gt;
}

static inline guint64
pattern_word(guint64 key, guint64 index)
{
    guint64 z = key + (index + 1) * 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return GUINT64_TO_LE(z ^ (z >> 31));
}

static void
pattern_fill(guint64 key, guint64 addr, guint8 *out, gsize len)
{
    while (len > 0 && addr % 8 != 0) {
        guint64 word = pattern_word(key, addr / 8);
        gsize n = MIN(len, 8 - addr % 8);

        memcpy(out, (guint8 *)&word + addr % 8, n);
        out += n;
        addr += n;
        len -= n;
    }
    for (; len >= 8; out += 8, addr += 8, len -= 8) {
        guint64 word = pattern_word(key, addr / 8);

        memcpy(out, &word, 8);
    }
    if (len > 0) {
        guint64 word = pattern_word(key, addr / 8);

        memcpy(out, &word, len);
    }
}

static gboolean
pattern_matches(guint64 key, guint64 addr, const guint8 *data, gsize len)
{
    guint8 want[4096];

    while (len > 0) {
        gsize n = MIN(len, sizeof(want));

        pattern_fill(key, addr, want, n);
        if (memcmp(want, data, n) != 0)
            return FALSE;
        addr += n;
        data += n;
        len -= n;
    }
    return TRUE;
}

/* The descriptor: KLVs {key << 16 | dwords, value...}, device id and revision. */
static void
descriptor_payload(SimVf *vf, guint8 *out)
{
    guint32 klv[4] = { GUINT32_TO_LE(KLV_DEVID << 16 | 1),
                       GUINT32_TO_LE(vf->dev.pf->cfg->vf_device_id),
                       GUINT32_TO_LE(KLV_REVID << 16 | 1),
                       GUINT32_TO_LE(vf->dev.pf->cfg->revision) };

    memcpy(out, klv, DESC_SIZE);
}

/* Copies @size bytes of the save stream from @offset (within its length). */
static void
stream_fill(SimVf *vf, guint8 *buf, gsize size, guint64 offset)
{
    for (guint i = 0; i < vf->save->len && size > 0; i++) {
        const StreamPacket *p = &g_array_index(vf->save, StreamPacket, i);
        guint64 payload = p->start + PKT_HDR;
        gsize n;

        if (offset >= payload + p->size)
            continue;
        if (offset < payload) {
            guint8 hdr[PKT_HDR];

            packet_header(hdr, p, vf->save_seed);
            n = (gsize)MIN(size, payload - offset);
            memcpy(buf, hdr + (offset - p->start), n);
            buf += n;
            offset += n;
            size -= n;
        }
        if (size == 0 || offset >= payload + p->size)
            continue;
        n = (gsize)MIN(size, payload + p->size - offset);
        if (p->type == PKT_DESCRIPTOR) {
            guint8 desc[DESC_SIZE];

            descriptor_payload(vf, desc);
            memcpy(buf, desc + (offset - payload), n);
        } else {
            pattern_fill(pattern_key(vf->save_seed, p), p->offset + (offset - payload), buf, n);
        }
        buf += n;
        offset += n;
        size -= n;
    }
}

/* A restore: checks as the kernel's (errnos of kernel-interfaces.md §5) plus
 * the payload pattern and the seed. */
static int
restore_header(SimVf *vf, Restore *r)
{
    SimPf *pf = vf->dev.pf;
    StreamPacket *p = &r->cur;
    guint32 flags;
    guint g0;

    memcpy(&flags, r->hdr + 4, 4);
    memcpy(&p->offset, r->hdr + 8, 8);
    memcpy(&p->size, r->hdr + 16, 8);
    flags = GUINT32_FROM_LE(flags);
    p->offset = GUINT64_FROM_LE(p->offset);
    p->size = GUINT64_FROM_LE(p->size);
    p->type = r->hdr[1];
    p->tile = r->hdr[2];
    p->gt = r->hdr[3];
    if (r->hdr[0] != 1 || p->type == 0 || p->type > PKT_VRAM)
        return -EINVAL;
    if ((r->packets == 0) != (p->type == PKT_DESCRIPTOR))
        return -EINVAL; /* the descriptor comes first, and once */
    if (r->packets == 0)
        r->seed = flags;
    else if (flags != r->seed)
        return -EINVAL; /* a packet of another stream */
    if (p->tile >= pf->cfg->tiles)
        return -EINVAL;
    g0 = p->tile * pf->cfg->gts_per_tile;
    switch (p->type) {
    case PKT_DESCRIPTOR:
        return p->size > DESC_MAX || p->size % 4 != 0 ? -EINVAL : 0;
    case PKT_TRAILER:
        return p->size != 0 ? -EINVAL : 0;
    case PKT_GUC:
    case PKT_MMIO:
        if (p->gt < g0 || p->gt >= g0 + pf->cfg->gts_per_tile)
            return -EINVAL;
        return p->size != (p->type == PKT_GUC ? GUC_SIZE : MMIO_SIZE) ? -EINVAL : 0;
    case PKT_GGTT:
        if (vf->ggtt_quota[g0] == 0)
            return -ENOENT;
        return p->size != vf->ggtt_quota[g0] / GGTT_PTE * 8 ? -EINVAL : 0; /* same PTE count */
    case PKT_VRAM:
        if (vf->vram_quota[g0] == 0)
            return -ENXIO;
        if (p->size > VRAM_CHUNK || p->offset > vf->vram_quota[g0] ||
            p->size > vf->vram_quota[g0] - p->offset)
            return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

static int
restore_packet_done(SimVf *vf, Restore *r)
{
    if (r->cur.type == PKT_DESCRIPTOR) {
        gboolean dev_ok = FALSE, rev_ok = FALSE;

        for (guint64 i = 0; i + 4 <= r->cur.size;) {
            guint32 klv, value = 0;
            guint len;

            memcpy(&klv, r->desc + i, 4);
            klv = GUINT32_FROM_LE(klv);
            len = klv & 0xffff;
            if (i + 4 + 4ull * len > r->cur.size)
                return -EINVAL;
            if (len == 1) {
                memcpy(&value, r->desc + i + 4, 4);
                value = GUINT32_FROM_LE(value);
            }
            if (klv >> 16 == KLV_DEVID)
                dev_ok = len == 1 && value == vf->dev.pf->cfg->vf_device_id;
            else if (klv >> 16 == KLV_REVID)
                rev_ok = len == 1 && value == vf->dev.pf->cfg->revision;
            i += 4 + 4ull * len; /* unknown keys are skipped */
        }
        if (!dev_ok || !rev_ok)
            return -ENODEV; /* "Aborting migration": another device */
    }
    if (r->cur.type == PKT_TRAILER)
        r->done = TRUE;
    r->packets++;
    r->hdr_len = 0;
    return 0;
}

/* Takes the next @len bytes of the stream (any chunking); 0 or a negative errno. */
static int
restore_feed(SimVf *vf, Restore *r, const guint8 *data, gsize len)
{
    while (len > 0) {
        gsize n;
        int err;

        if (r->done)
            return -EINVAL; /* data after the trailer */
        if (r->hdr_len < PKT_HDR) {
            n = MIN(len, PKT_HDR - r->hdr_len);
            memcpy(r->hdr + r->hdr_len, data, n);
            r->hdr_len += (guint)n;
            if (r->hdr_len == PKT_HDR) {
                r->pos = 0;
                err = restore_header(vf, r);
                if (err < 0)
                    return err;
            }
        } else {
            n = (gsize)MIN(len, r->cur.size - r->pos);
            if (r->cur.type == PKT_DESCRIPTOR)
                memcpy(r->desc + r->pos, data, n);
            else if (!pattern_matches(pattern_key(r->seed, &r->cur), r->cur.offset + r->pos, data,
                                      n))
                return -EINVAL; /* corrupted */
            r->pos += n;
        }
        data += n;
        len -= n;
        if (r->hdr_len == PKT_HDR && r->pos == r->cur.size) {
            err = restore_packet_done(vf, r);
            if (err < 0)
                return err;
        }
    }
    return 0;
}

static void
vf_drop_streams(SimVf *vf)
{
    if (vf->save != NULL || vf->restore != NULL)
        vf->stream_serial++;
    g_clear_pointer(&vf->save, g_array_unref);
    g_clear_pointer(&vf->restore, g_free);
}

/* Enters @state from the current one (an arc); an armed "FLR on state" fires
 * as the VF gets there. 0 or a negative errno (the VF stays where it was). */
static int
vf_enter(SimVf *vf, SimMigState state)
{
    SimMigState from = vf->mig_state;

    if (from == SIM_MIG_RESUMING && state == SIM_MIG_STOP &&
        (vf->restore == NULL || vf->restore->error != 0 || !vf->restore->done)) {
        /* the restore finishes: the stream, trailer included, was not fully received */
        xe_sim_audit_note("vfio %s state %s -> %s EIO", vf->dev.bdf, xe_sim_mig_state_name(from),
                          xe_sim_mig_state_name(state));
        return -EIO;
    }
    xe_sim_audit_note("vfio %s state %s -> %s", vf->dev.bdf, xe_sim_mig_state_name(from),
                      xe_sim_mig_state_name(state));
    if (from == SIM_MIG_RESUMING)
        vf->restored_seed = vf->restore->seed;
    vf_drop_streams(vf);
    vf->mig_state = state;
    if (state == SIM_MIG_STOP_COPY) {
        vf->save = vf_stream_layout(vf, &vf->save_len);
        do
            vf->save_seed = g_random_int();
        while (vf->save_seed == 0);
        vf->stream_serial++;
    } else if (state == SIM_MIG_RESUMING) {
        vf->restore = g_new0(Restore, 1);
        vf->stream_serial++;
    }
    if (vf->flr_on_state == state) {
        vf->flr_on_state = SIM_MIG_ERROR;
        vf_reset(vf);
    }
    return 0;
}

static int
vfio_check(SimVf *vf)
{
    if (!vf->enabled || g_strcmp0(vf->dev.driver, DRV_VFIO) != 0)
        return -ENODEV;
    if (!migration_supported(vf->dev.pf))
        return -ENOTTY; /* no VFIO migration feature */
    return 0;
}

static int
show_vfio_state(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);
    int r = vfio_check(vf);

    if (r == 0)
        g_string_append_printf(out, "%s\n", xe_sim_mig_state_name(vf->mig_state));
    return r;
}

static int
store_vfio_state(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    g_autofree char *text = xe_sim_strip(buf, len);
    int target = mig_state_parse(text);
    SimMigState path[8];
    guint n = 0;
    int r = vfio_check(vf);

    if (r < 0)
        return r;
    if (target < 0)
        return -EINVAL;
    if (vf->stopped && target != (int)vf->mig_state)
        return -EIO; /* stopped by the PF: only an FLR recovers */
    /* vfio core: walk the arcs towards the target (breadth first). */
    {
        SimMigState prev[8];
        gboolean seen[8] = { FALSE };
        SimMigState queue[8];
        guint head = 0, tail = 0;

        queue[tail++] = vf->mig_state;
        seen[vf->mig_state] = TRUE;
        while (head < tail && !seen[target]) {
            SimMigState s = queue[head++];
            for (guint t = 1; t < 8; t++)
                if (!seen[t] && mig_arc(s, t)) {
                    seen[t] = TRUE;
                    prev[t] = s;
                    queue[tail++] = t;
                }
        }
        if (!seen[target]) {
            /* An invalid arc: the driver has the PF stop the VF. */
            vf->stopped = TRUE;
            return -EINVAL;
        }
        for (SimMigState s = target; s != vf->mig_state; s = prev[s])
            path[n++] = s;
    }
    for (guint i = n; i > 0; i--) {
        guint64 gen = vf->stream_generation;

        r = vf_enter(vf, path[i - 1]);
        if (r < 0)
            return r;
        if (vf->stream_generation != gen)
            break; /* reset on the way: the VF is RUNNING again */
    }
    return 0;
}

/* vfio_rate: the device moves @bytes no faster than the rate; sleeps without
 * the lock (other files are served meanwhile). */
static void
rate_wait(SimVf *vf, gsize bytes)
{
    gint64 now = g_get_monotonic_time();

    if (vfio_rate == 0 || bytes == 0)
        return;
    if (vf->rate_clock < now - RATE_SLACK_US)
        vf->rate_clock = now; /* idle for a while: no credit */
    vf->rate_clock += (gint64)((guint64)bytes * G_USEC_PER_SEC / vfio_rate);
    xe_sim_sleep_until(vf->rate_clock);
}

static gssize
read_vfio_data(SimNode *node, char *buf, gsize size, guint64 offset)
{
    SimVf *vf = node_vf(node);
    guint64 serial = vf->stream_serial;
    int r = vfio_check(vf);

    if (r < 0)
        return r;
    if (vf->mig_state != SIM_MIG_STOP_COPY || vf->save == NULL)
        return -ENODEV; /* the save fd is disabled (reset) or was never opened */
    if (offset >= vf->save_len)
        return 0;
    size = (gsize)MIN(size, vf->save_len - offset);
    rate_wait(vf, size);
    if (vf->stream_serial != serial || vf->save == NULL)
        return -ENODEV; /* reset (or closed) while it waited */
    stream_fill(vf, (guint8 *)buf, size, offset);
    return (gssize)size;
}

/* The resume fd: the stream in order, in writes of any size (offsets ignored). */
static int
store_vfio_data(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    guint64 serial = vf->stream_serial;
    int r = vfio_check(vf);

    if (r < 0)
        return r;
    if (vf->mig_state != SIM_MIG_RESUMING || vf->restore == NULL)
        return -ENODEV;
    if (vf->restore->error != 0)
        return -EIO; /* after a restore failure further writes get EIO */
    rate_wait(vf, len);
    if (vf->stream_serial != serial || vf->restore == NULL)
        return -ENODEV; /* reset while it waited */
    if (vf->restore->error != 0)
        return -EIO;
    r = restore_feed(vf, vf->restore, (const guint8 *)buf, len);
    if (r < 0)
        vf->restore->error = r;
    return r;
}

/* "save SEED LENGTH" (the stream since STOP_COPY entry) and "restored SEED"
 * (the last stream restored completely, until a reset); "-" for none. */
static int
show_vfio_stream(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);

    if (vf->save != NULL)
        g_string_append_printf(out, "save %08x %" G_GUINT64_FORMAT "\n", vf->save_seed,
                               vf->save_len);
    else
        g_string_append(out, "save - 0\n");
    if (vf->restored_seed != 0)
        g_string_append_printf(out, "restored %08x\n", vf->restored_seed);
    else
        g_string_append(out, "restored -\n");
    return 0;
}

/* sim/vfio/<VF>/device: the VFIO group and device fds of a user (QEMU). The
 * kernel opens the device only while bound to xe-vfio-pci, to one user at a
 * time; its close (or the user's death) is close_device: the VF is reset. */
static int
open_vfio_device(SimNode *node, int flags)
{
    SimVf *vf = node_vf(node);

    if (!vf->enabled || g_strcmp0(vf->dev.driver, DRV_VFIO) != 0)
        return -ENODEV;
    if (vf->opened)
        return -EBUSY; /* the group is held */
    vf->opened = TRUE;
    vf->mig_state = SIM_MIG_RUNNING; /* open -> RUNNING */
    vf->held = ++vf->held_serial;
    xe_sim_broadcast();
    return vf->held;
}

static void
release_vfio_device(gpointer obj, int token)
{
    SimVf *vf = obj;

    if (vf->held != token)
        return; /* released otherwise meanwhile (sim/opened) */
    vf->held = 0;
    vf->opened = FALSE;
    vf_reset(vf); /* vfio_pci_core_disable: FLR; the migration state returns to RUNNING */
}

/* reset (FLR): reset_prepare/reset_done of xe-vfio-pci and the PF's FLR handling */
static void
vf_reset(SimVf *vf)
{
    vf->stopped = FALSE;
    vf->paused = FALSE;
    vf->stream_generation++;
    vf_drop_streams(vf);
    vf->restored_seed = 0;
    vf->mig_state = SIM_MIG_RUNNING; /* silently: nothing else is announced */
}

/* control entry points */

static SimVf *
find_vf(const char *bdf)
{
    SimDev *dev = find_dev(bdf);

    return dev != NULL ? dev_vf(dev) : NULL;
}

int
xe_sim_model_flr(const char *vf_bdf)
{
    SimVf *vf = find_vf(vf_bdf);

    if (vf == NULL)
        return -ENODEV;
    vf_reset(vf);
    return 0;
}

int
xe_sim_model_flr_on_state(const char *vf_bdf, const char *state)
{
    SimVf *vf = find_vf(vf_bdf);
    int s;

    if (vf == NULL)
        return -ENODEV;
    if (*state == '\0') {
        vf->flr_on_state = SIM_MIG_ERROR;
        return 0;
    }
    s = mig_state_parse(state);
    if (s <= 0)
        return -EINVAL;
    vf->flr_on_state = s;
    return 0;
}

int
xe_sim_model_set_probe_failure(const char *bdf, const char *driver, int error)
{
    if (error == 0)
        g_hash_table_remove(probe_failures, g_strdup_printf("%s %s", bdf, driver));
    else
        g_hash_table_replace(probe_failures, g_strdup_printf("%s %s", bdf, driver),
                             GINT_TO_POINTER(error));
    return 0;
}

void
xe_sim_model_set_vfio_rate(guint64 bytes_per_second)
{
    vfio_rate = bytes_per_second;
}

guint64
xe_sim_model_get_vfio_rate(void)
{
    return vfio_rate;
}

int
xe_sim_model_set_opened(const char *vf_bdf, gboolean opened)
{
    SimVf *vf = find_vf(vf_bdf);

    if (vf == NULL)
        return -ENODEV;
    if (opened && g_strcmp0(vf->dev.driver, DRV_VFIO) != 0)
        return -ENODEV; /* only a VFIO device can be opened by a user */
    vf->opened = opened;
    if (opened)
        vf->mig_state = SIM_MIG_RUNNING; /* open -> RUNNING */
    else
        vf->held = 0; /* a holder's later release changes nothing */
    xe_sim_broadcast();
    return 0;
}

/* construction */

SimPfConfig *
xe_sim_pf_config_new_default(const char *bdf)
{
    SimPfConfig *c = g_new0(SimPfConfig, 1);

    c->bdf = g_strdup(bdf);
    c->device_id = 0xe20b; /* Battlemage G21 */
    c->revision = 0;
    c->vf_device_id = 0xe20b;
    c->total_vfs = 12;
    c->vf_offset = 1;
    c->vf_stride = 1;
    c->vram_size = 12ull << 30;
    c->ggtt_size = 4ull << 30;
    c->contexts = 65536;
    c->doorbells = 256;
    c->guc_version = g_strdup("70.54.0");
    c->tiles = 1;
    c->gts_per_tile = 2;
    c->migration = TRUE;
    c->memirq = TRUE;
    return c;
}

void
xe_sim_pf_config_free(SimPfConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->bdf);
    g_free(config->guc_version);
    g_free(config);
}

static int
show_max_vfs(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%u\n", max_vfs_param);
    return 0;
}

void
xe_sim_model_init(SimPfConfig *const *configs, guint n_pfs, guint max_vfs)
{
    SimNode *root = xe_sim_root();
    SimNode *sriov_files;

    max_vfs_param = max_vfs;
    pfs = g_ptr_array_new();
    probe_failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    devices_dir = xe_sim_mkdir(root, "sys/bus/pci/devices");
    drivers_dir = xe_sim_mkdir(root, "sys/bus/pci/drivers");
    debug_dri_dir = xe_sim_mkdir(root, "sys/kernel/debug/dri");
    iommu_groups_dir = xe_sim_mkdir(root, "sys/kernel/iommu_groups");
    vfio_dir = xe_sim_mkdir(root, "sim/vfio");
    dev_vfio_dir = xe_sim_mkdir(root, "dev/vfio");
    xe_sim_add_file(xe_sim_mkdir(root, "sys/bus/pci"), "drivers_probe", 0200, NULL,
                    store_drivers_probe, NULL, 0);
    xe_sim_add_file(xe_sim_mkdir(root, "sys/module/xe/parameters"), "max_vfs", 0400, show_max_vfs,
                    NULL, NULL, 0);
    for (const char *const *d = (const char *const[]){ DRV_XE, DRV_VFIO, NULL }; *d; d++) {
        SimNode *dd = xe_sim_mkdir(drivers_dir, *d);
        xe_sim_add_file(dd, "bind", 0200, NULL, store_bind, (gpointer)*d, 0);
        xe_sim_add_file(dd, "unbind", 0200, NULL, store_unbind, (gpointer)*d, 0);
    }

    for (guint i = 0; i < n_pfs; i++) {
        SimPf *pf = g_new0(SimPf, 1);
        SimPfConfig *cfg = configs[i];

        pf->cfg = cfg;
        g_strlcpy(pf->dev.bdf, cfg->bdf, sizeof(pf->dev.bdf));
        pf->dev.pf = pf;
        pf->dev.vfio_minor = -1;
        pf->dev.supported_methods = "flr bus";
        pf->dev.reset_methods = g_strdup(pf->dev.supported_methods);
        pf->total_vfs = MIN(cfg->total_vfs, max_vfs);
        pf->autoprobe = TRUE;
        pf->ggtt_spare = DEFAULT_GGTT_SPARE;
        pf->vram_spare = DEFAULT_VRAM_SPARE;
        pf->contexts_spare = DEFAULT_CONTEXTS_SPARE;
        pf->doorbells_spare = DEFAULT_DOORBELLS_SPARE;
        pf->vfs = g_new0(SimVf, MAX(pf->total_vfs, 1));
        g_ptr_array_add(pfs, pf);

        build_dev_dir(&pf->dev, cfg->device_id, cfg->revision);
        sriov_files = dev_dir(&pf->dev);
        xe_sim_add_file(sriov_files, "sriov_totalvfs", 0444, show_totalvfs, NULL, pf, 0);
        xe_sim_add_file(sriov_files, "sriov_numvfs", 0664, show_numvfs, store_numvfs, pf, 0);
        xe_sim_add_file(sriov_files, "sriov_offset", 0444, show_u64_field, NULL,
                        g_memdup2(&(guint64){ cfg->vf_offset }, sizeof(guint64)), 0);
        xe_sim_add_file(sriov_files, "sriov_stride", 0444, show_u64_field, NULL,
                        g_memdup2(&(guint64){ cfg->vf_stride }, sizeof(guint64)), 0);
        xe_sim_add_file(sriov_files, "sriov_vf_device", 0444, show_vf_device, NULL, pf, 0);
        xe_sim_add_file(sriov_files, "sriov_drivers_autoprobe", 0644, show_autoprobe,
                        store_autoprobe, pf, 0);

        for (guint v = 0; v < pf->total_vfs; v++) {
            SimVf *vf = &pf->vfs[v];
            SimNode *vd;

            vf->dev.pf = pf;
            vf->dev.vfid = v + 1;
            vf->dev.vfio_minor = -1;
            vf->dev.supported_methods = "flr";
            vf->dev.reset_methods = g_strdup("flr");
            vf->mig_state = SIM_MIG_RUNNING;
            vf_bdf(pf, v, vf->dev.bdf, sizeof(vf->dev.bdf));
            vd = xe_sim_mkdir(vfio_dir, vf->dev.bdf);
            xe_sim_add_file(vd, "state", 0644, show_vfio_state, store_vfio_state, vf, 0);
            xe_sim_add_bin_file(vd, "data", 0644, read_vfio_data, store_vfio_data, vf, 0);
            xe_sim_add_held_file(vd, "device", 0600, open_vfio_device, release_vfio_device, vf, 0);
            xe_sim_add_file(vd, "stream", 0444, show_vfio_stream, NULL, vf, 0);
        }
        /* The PF comes up bound to xe, as the kernel would have probed it. */
        (void)driver_probe(&pf->dev, DRV_XE);
    }
}
