/* xe-sim-model.c: simulated Xe PFs and VFs.
 *
 * Layout under the mount root (real directories where sysfs has symlinks, so
 * that a path written is the path audited):
 *   sys/bus/pci/devices/<BDF>/            PF and VF attributes, links
 *   sys/bus/pci/drivers/{xe,xe-vfio-pci}/ bind, unbind, <BDF> links
 *   sys/bus/pci/drivers_probe
 *   sys/module/xe/parameters/max_vfs
 *   sys/kernel/debug/dri/<PF-BDF>/sriov/  debugfs (while the PF is bound to xe)
 *   sim/vfio/<VF-BDF>/{state,data}        what QEMU would do through VFIO
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

/* PF resources the PF keeps for itself (what debugfs calls spare). */
#define DEFAULT_GGTT_SPARE      (64ull << 20)
#define DEFAULT_VRAM_SPARE      (256ull << 20)
#define DEFAULT_CONTEXTS_SPARE  1024
#define DEFAULT_DOORBELLS_SPARE 32

typedef struct _SimPf SimPf;

typedef enum { PRIO_LOW, PRIO_NORMAL, PRIO_HIGH } Prio;

typedef struct {
    char bdf[16];
    char *driver;        /* NULL when unbound */
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
    SimMigState mig_state;
    SimMigState flr_on_state;  /* SIM_MIG_ERROR: none */
    guint64 stream_generation; /* bumped by every reset: disables open data streams */
    GByteArray *save;          /* STOP_COPY: the stream to read */
    GByteArray *restore;       /* RESUMING: what was written */
    int restore_error;         /* first restore error; later writes get EIO */
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
static SimNode *devices_dir, *drivers_dir, *debug_dri_dir, *vfio_dir;

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

static void
build_dev_dir(SimDev *dev, guint device_id, guint revision)
{
    SimNode *dir = xe_sim_mkdir(devices_dir, dev->bdf);
    g_autofree char *rev = g_strdup_printf("0x%02x\n", revision);

    xe_sim_add_file(dir, "vendor", 0444, show_const, NULL, (gpointer) "0x8086\n", 0);
    xe_sim_add_file(dir, "device", 0444, show_hex4, NULL, GUINT_TO_POINTER(device_id), 0);
    xe_sim_add_file(dir, "revision", 0444, show_const, NULL, (gpointer)g_intern_string(rev), 0);
    xe_sim_add_file(dir, "class", 0444, show_const, NULL, (gpointer) "0x030000\n", 0);
    xe_sim_add_file(dir, "driver_override", 0644, show_override, store_override, dev, 0);
    xe_sim_add_file(dir, "reset", 0200, NULL, store_reset, dev, 0);
    xe_sim_add_file(dir, "reset_method", 0644, show_reset_method, store_reset_method, dev, 0);
}

/* drivers and binding */

static void
dev_set_driver(SimDev *dev, const char *driver)
{
    SimNode *dir = dev_dir(dev);

    if (dev->driver != NULL) {
        xe_sim_remove(xe_sim_child(drivers_dir, dev->driver), dev->bdf);
        xe_sim_remove(dir, "driver");
        g_clear_pointer(&dev->driver, g_free);
    }
    if (driver != NULL) {
        g_autofree char *to_dev = g_strdup_printf("../../devices/%s", dev->bdf);
        g_autofree char *to_drv = g_strdup_printf("../../../../bus/pci/drivers/%s", driver);

        dev->driver = g_strdup(driver);
        xe_sim_add_link(xe_sim_child(drivers_dir, driver), dev->bdf, to_dev);
        xe_sim_add_link(dir, "driver", to_drv);
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
    xe_sim_remove(devices_dir, vf->dev.bdf);
    g_clear_pointer(&vf->save, g_byte_array_unref);
    g_clear_pointer(&vf->restore, g_byte_array_unref);
    vf->stream_generation++;
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

static guint64
vf_migration_size(SimVf *vf)
{
    SimPf *pf = vf->dev.pf;
    guint64 size = PKT_HDR + 16 + PKT_HDR; /* descriptor and trailer */

    for (guint g = 0; g < n_gts(pf); g++)
        size += 2 * PKT_HDR + 64 * 1024 /* GuC state */ + 16 * 1024 /* MMIO */;
    size += PKT_HDR + vf->ggtt_quota[0] / GGTT_PTE * 8;
    size += PKT_HDR + vf->vram_quota[0];
    return size;
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

static void
packet(GByteArray *out, guint8 type, guint64 size)
{
    guint8 hdr[PKT_HDR] = { 1, type, 0, 0 };

    memcpy(hdr + 16, &size, 8);
    g_byte_array_append(out, hdr, PKT_HDR);
}

/* The save stream: descriptor (device and revision KLVs), GGTT, trailer. */
static GByteArray *
vf_save_stream(SimVf *vf)
{
    GByteArray *out = g_byte_array_new();
    guint32 klv[4] = { 0xF001u << 16 | 1, vf->dev.pf->cfg->vf_device_id, 0xF002u << 16 | 1,
                       vf->dev.pf->cfg->revision };
    guint64 ggtt = vf->ggtt_quota[0] / GGTT_PTE * 8;

    packet(out, 1, sizeof(klv));
    g_byte_array_append(out, (guint8 *)klv, sizeof(klv));
    packet(out, 3, ggtt);
    g_byte_array_set_size(out, out->len + (guint)ggtt); /* zero PTEs */
    memset(out->data + out->len - ggtt, 0, ggtt);
    packet(out, 2, 0);
    return out;
}

/* Validates the restore stream received so far; 0 or a negative errno. */
static int
vf_restore_check(SimVf *vf)
{
    GByteArray *in = vf->restore;
    gsize off = 0;

    while (in->len - off >= PKT_HDR) {
        const guint8 *h = in->data + off;
        guint64 size;

        memcpy(&size, h + 16, 8);
        if (h[0] != 1 || h[1] == 0 || h[1] > 6)
            return -EINVAL;
        if (in->len - off - PKT_HDR < size)
            return 0; /* the payload is still coming */
        if (h[1] == 1) {
            guint32 klv[4] = { 0 };
            memcpy(klv, h + PKT_HDR, MIN(size, sizeof(klv)));
            if (klv[1] != vf->dev.pf->cfg->vf_device_id || klv[3] != vf->dev.pf->cfg->revision)
                return -ENODEV; /* "Aborting migration" */
        } else if (h[1] == 3) {
            if (vf->ggtt_quota[0] == 0)
                return -ENOENT;
            if (size != vf->ggtt_quota[0] / GGTT_PTE * 8)
                return -EINVAL;
        } else if (h[1] == 6) {
            if (vf->vram_quota[0] == 0)
                return -ENXIO;
            if (size > vf->vram_quota[0])
                return -EINVAL;
        }
        off += PKT_HDR + size;
    }
    return 0;
}

/* Enters @state; an armed "FLR on state" fires as the VF gets there. */
static void
vf_enter(SimVf *vf, SimMigState state)
{
    vf->mig_state = state;
    if (state == SIM_MIG_STOP_COPY) {
        g_clear_pointer(&vf->save, g_byte_array_unref);
        vf->save = vf_save_stream(vf);
    } else if (state == SIM_MIG_RESUMING) {
        g_clear_pointer(&vf->restore, g_byte_array_unref);
        vf->restore = g_byte_array_new();
        vf->restore_error = 0;
    }
    if (vf->flr_on_state == state) {
        vf->flr_on_state = SIM_MIG_ERROR;
        vf_reset(vf);
    }
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
        vf_enter(vf, path[i - 1]);
        if (vf->stream_generation != gen)
            break; /* reset on the way: the VF is RUNNING again */
    }
    return 0;
}

static int
show_vfio_data(SimNode *node, GString *out)
{
    SimVf *vf = node_vf(node);
    int r = vfio_check(vf);

    if (r < 0)
        return r;
    if (vf->mig_state != SIM_MIG_STOP_COPY || vf->save == NULL)
        return -ENODEV; /* the save fd is disabled (reset) or was never opened */
    g_string_append_len(out, (const char *)vf->save->data, vf->save->len);
    return 0;
}

static int
store_vfio_data(SimNode *node, const char *buf, gsize len)
{
    SimVf *vf = node_vf(node);
    int r = vfio_check(vf);

    if (r < 0)
        return r;
    if (vf->mig_state != SIM_MIG_RESUMING || vf->restore == NULL)
        return -ENODEV;
    if (vf->restore_error != 0)
        return -EIO; /* after a restore failure further writes get EIO */
    g_byte_array_append(vf->restore, (const guint8 *)buf, (guint)len);
    vf->restore_error = vf_restore_check(vf);
    return vf->restore_error;
}

/* reset (FLR): reset_prepare/reset_done of xe-vfio-pci and the PF's FLR handling */
static void
vf_reset(SimVf *vf)
{
    vf->stopped = FALSE;
    vf->paused = FALSE;
    vf->stream_generation++;
    g_clear_pointer(&vf->save, g_byte_array_unref);
    g_clear_pointer(&vf->restore, g_byte_array_unref);
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
    vfio_dir = xe_sim_mkdir(root, "sim/vfio");
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
            vf->dev.supported_methods = "flr";
            vf->dev.reset_methods = g_strdup("flr");
            vf->mig_state = SIM_MIG_RUNNING;
            vf_bdf(pf, v, vf->dev.bdf, sizeof(vf->dev.bdf));
            vd = xe_sim_mkdir(vfio_dir, vf->dev.bdf);
            xe_sim_add_file(vd, "state", 0644, show_vfio_state, store_vfio_state, vf, 0);
            xe_sim_add_file(vd, "data", 0644, show_vfio_data, store_vfio_data, vf, 0);
        }
        /* The PF comes up bound to xe, as the kernel would have probed it. */
        (void)driver_probe(&pf->dev, DRV_XE);
    }
}
