/* xe-vfio-device.c: a group (/dev/vfio/<G>) and its vfio-pci device, an
 * xe-sim VF bound to xe-vfio-pci, as the kernel serves them:
 *
 *   group      exists while its device is bound to xe-vfio-pci (ENOENT otherwise);
 *              one opener at a time (EBUSY), through xe-sim's sim/vfio/<VF>/device,
 *              which it holds until closed or until the process dies: the release is
 *              the kernel's close_device (the VF reset, its migration state RUNNING)
 *   regions    BARs from the device's sysfs `resource`, in the device memfd at
 *              index << 40; the BAR with the MSI-X table stays trapped, the others
 *              can be mmapped; no ROM, no VGA
 *   config     the device's own config space (sysfs `config`) virtualised as
 *              vfio_pci_config.c does: a VF's vendor and device IDs from sysfs, BARs
 *              answering their size masks, no ROM BAR, writable command bits,
 *              MSI-X enable and mask, PCIe device control (its FLR bit resets)
 *   interrupts INTx (none: a VF has no pin), MSI (none), MSI-X, ERR and REQ, accepted
 *              and checked as vfio_set_irqs_validate_and_prepare() does
 *   reset      VFIO_DEVICE_RESET: an FLR (sim/flr); no hot reset for a VF
 *   migration  VFIO_DEVICE_FEATURE MIGRATION (STOP_COPY | P2P, as xe-vfio-pci),
 *              MIG_DEVICE_STATE (sim/vfio/<VF>/state; xe-sim walks the arcs; STOP_COPY
 *              and RESUMING hand out sim/vfio/<VF>/data as the data fd), MIG_DATA_SIZE
 *              (debugfs migration_size); no DMA logging (ENOTTY, as without log_ops)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-vfio-emul.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#ifndef VFIO_DEVICE_STATE_PRE_COPY /* Linux 6.2 */
#define VFIO_DEVICE_STATE_PRE_COPY     6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P 7
#endif

#define NUM_BARS       6
#define DEVICE_FD_SIZE ((guint64)VFIO_PCI_NUM_REGIONS << XE_VFIO_REGION_SHIFT)

#define IORESOURCE_MEM      0x00000200
#define IORESOURCE_PREFETCH 0x00002000
#define IORESOURCE_MEM_64   0x00100000

struct _XeVfioGroup {
    guint number;
    char *bdf;
    int holder; /* sim/vfio/<VF>/device: the kernel's hold on the device */
    XeVfioContainer *container;
    XeVfioDevice *device; /* while a device fd is open */
    gboolean closed;      /* its fd closed while a device fd holds it (as the kernel's does) */
};

typedef struct {
    guint64 size;
    guint32 flags;  /* PCI_BASE_ADDRESS_* bits of the low dword */
    gboolean upper; /* the high dword of the 64-bit BAR before it */
} Bar;

struct _XeVfioDevice {
    guint refs; /* device fds open (dups of one memfd) */
    int fd;
    char *bdf;
    XeVfioGroup *group;
    guint cfg_size;
    guint8 config[PCI_CFG_SPACE_EXP_SIZE]; /* what the user sees */
    guint8 wmask[PCI_CFG_SPACE_EXP_SIZE];  /* bits a write changes */
    Bar bars[NUM_BARS];
    guint8 pcie, msix; /* capability offsets, 0 if absent */
    guint msix_vectors;
    guint msix_bar;
    gboolean migration; /* xe-sim offers the migration feature */
};

static char *
dev_rel(const char *bdf, const char *file)
{
    return g_strdup_printf("sys/bus/pci/devices/%s/%s", bdf, file);
}

/* groups */

/* The device of IOMMU group @number (its one entry in devices/), or NULL. */
static char *
group_device(guint number)
{
    g_autofree char *rel = g_strdup_printf("sys/kernel/iommu_groups/%u/devices", number);
    g_autofree char *path = xe_vfio_sim_path(rel);
    DIR *dir = opendir(path);
    struct dirent *d;
    char *bdf = NULL;

    if (dir == NULL)
        return NULL;
    while ((d = readdir(dir)) != NULL && bdf == NULL)
        if (d->d_name[0] != '.')
            bdf = g_strdup(d->d_name);
    closedir(dir);
    return bdf;
}

static gboolean
bound_to_vfio(const char *bdf)
{
    g_autofree char *rel = dev_rel(bdf, "driver");
    g_autofree char *driver = xe_vfio_sim_link(rel);

    return g_strcmp0(driver, "xe-vfio-pci") == 0;
}

int
xe_vfio_group_open(guint number, XeVfioGroup **out)
{
    g_autofree char *bdf = group_device(number);
    g_autofree char *rel = NULL;
    g_autofree char *path = NULL;
    XeVfioGroup *g;
    int holder;

    /* the group's node exists only while a VFIO driver has its device */
    if (bdf == NULL || !bound_to_vfio(bdf))
        return -ENOENT;
    rel = g_strdup_printf("sim/vfio/%s/device", bdf);
    path = xe_vfio_sim_path(rel);
    holder = xe_vfio_real_open(path, O_RDWR | O_CLOEXEC, 0);
    if (holder < 0)
        return -errno; /* EBUSY: another process has the group */
    g = g_new0(XeVfioGroup, 1);
    g->number = number;
    g->bdf = g_steal_pointer(&bdf);
    g->holder = holder;
    *out = g;
    return 0;
}

static void
group_destroy(XeVfioGroup *g)
{
    if (g->container != NULL)
        xe_vfio_container_detach(g->container);
    xe_vfio_real_close(g->holder); /* xe-sim: close_device, the VF reset */
    g_free(g->bdf);
    g_free(g);
}

void
xe_vfio_group_free(XeVfioGroup *g)
{
    if (g == NULL)
        return;
    if (g->device != NULL) {
        g->closed = TRUE; /* the device's last fd ends it */
        return;
    }
    group_destroy(g);
}

static long device_open(XeVfioGroup *g, const char *name);

long
xe_vfio_group_ioctl(XeVfioGroup *g, unsigned long request, void *arg)
{
    switch (request) {
    case VFIO_GROUP_GET_STATUS: {
        struct vfio_group_status *status = arg;

        if (status->argsz < sizeof(*status))
            return -EINVAL;
        status->flags = bound_to_vfio(g->bdf) ? VFIO_GROUP_FLAGS_VIABLE : 0;
        if (g->container != NULL)
            status->flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
        return 0;
    }
    case VFIO_GROUP_SET_CONTAINER: {
        int fd = *(int *)arg;
        XeVfioContainer *c = xe_vfio_fd_object(fd, XE_VFIO_FD_CONTAINER);

        if (c == NULL)
            return fcntl(fd, F_GETFD) < 0 ? -EBADF : -EBADFD; /* not a container */
        if (g->container != NULL)
            return -EINVAL;
        if (!bound_to_vfio(g->bdf))
            return -EPERM; /* not viable */
        g->container = c;
        xe_vfio_container_attach(c);
        return 0;
    }
    case VFIO_GROUP_UNSET_CONTAINER:
        if (g->container == NULL)
            return -EINVAL;
        if (g->device != NULL)
            return -EBUSY;
        xe_vfio_container_detach(g->container);
        g->container = NULL;
        return 0;
    case VFIO_GROUP_GET_DEVICE_FD:
        return device_open(g, arg);
    default:
        return -ENOTTY;
    }
}

/* the device: what sysfs says of it */

static gboolean
read_hex(const char *bdf, const char *file, guint64 *value)
{
    g_autofree char *rel = dev_rel(bdf, file);
    g_autofree char *text = NULL;

    return xe_vfio_sim_read(rel, &text) == 0 &&
           g_ascii_string_to_unsigned(g_str_has_prefix(text, "0x") ? text + 2 : text, 16, 0,
                                      G_MAXUINT64, value, NULL);
}

/* `resource`: "start end flags" per line, BAR0-5 first. */
static int
read_bars(XeVfioDevice *d)
{
    g_autofree char *rel = dev_rel(d->bdf, "resource");
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int r = xe_vfio_sim_read(rel, &text);

    if (r < 0)
        return r;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; i < NUM_BARS && lines[i] != NULL; i++) {
        guint64 start = 0, end = 0, flags = 0;
        Bar *b = &d->bars[i];

        if (sscanf(lines[i],
                   "%" G_GINT64_MODIFIER "x %" G_GINT64_MODIFIER "x %" G_GINT64_MODIFIER "x",
                   &start, &end, &flags) != 3)
            return -EIO;
        if (b->upper || end <= start || !(flags & IORESOURCE_MEM))
            continue;
        b->size = end - start + 1;
        b->flags = PCI_BASE_ADDRESS_SPACE_MEMORY;
        if (flags & IORESOURCE_MEM_64) {
            b->flags |= PCI_BASE_ADDRESS_MEM_TYPE_64;
            if (i + 1 < NUM_BARS)
                d->bars[i + 1].upper = TRUE;
        }
        if (flags & IORESOURCE_PREFETCH)
            b->flags |= PCI_BASE_ADDRESS_MEM_PREFETCH;
    }
    return 0;
}

static void
set_le(guint8 *p, guint size, guint32 value)
{
    for (guint i = 0; i < size; i++)
        p[i] = (guint8)(value >> (8 * i));
}

static guint32
get_le(const guint8 *p, guint size)
{
    guint32 v = 0;

    for (guint i = 0; i < size; i++)
        v |= (guint32)p[i] << (8 * i);
    return v;
}

static void
writable(XeVfioDevice *d, guint offset, guint size, guint32 mask)
{
    set_le(d->wmask + offset, size, mask);
}

/* The virtual config space, from the physical one. */
static int
build_config(XeVfioDevice *d)
{
    g_autofree char *rel = dev_rel(d->bdf, "config");
    g_autofree char *path = xe_vfio_sim_path(rel);
    guint64 vendor, device;
    int fd = xe_vfio_real_open(path, O_RDONLY | O_CLOEXEC, 0);
    gssize n;
    guint pos, guard = 0;

    if (fd < 0)
        return -errno;
    n = xe_vfio_real_pread(fd, d->config, sizeof(d->config), 0);
    xe_vfio_real_close(fd);
    if (n < PCI_STD_HEADER_SIZEOF)
        return -EIO;
    d->cfg_size = n >= PCI_CFG_SPACE_EXP_SIZE ? PCI_CFG_SPACE_EXP_SIZE : PCI_CFG_SPACE_SIZE;
    if ((d->config[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_NORMAL)
        return -EINVAL; /* vfio-pci takes endpoints only */
    /* a VF reads 0xffff there; vfio-pci shows the IDs the kernel knows */
    if (!read_hex(d->bdf, "vendor", &vendor) || !read_hex(d->bdf, "device", &device))
        return -EIO;
    set_le(d->config + PCI_VENDOR_ID, 2, (guint32)vendor);
    set_le(d->config + PCI_DEVICE_ID, 2, (guint32)device);
    writable(d, PCI_COMMAND, 2,
             PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
                 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    writable(d, PCI_CACHE_LINE_SIZE, 1, 0xff);
    writable(d, PCI_LATENCY_TIMER, 1, 0xff);
    writable(d, PCI_INTERRUPT_LINE, 1, 0xff);
    for (guint i = 0; i < NUM_BARS; i++) {
        guint off = PCI_BASE_ADDRESS_0 + 4 * i;
        const Bar *b = &d->bars[i];

        if (b->upper) {
            guint64 size = d->bars[i - 1].size;

            set_le(d->config + off, 4, 0);
            writable(d, off, 4, size > 0 ? (guint32)(~(size - 1) >> 32) : 0);
        } else {
            set_le(d->config + off, 4, b->size > 0 ? b->flags : 0);
            writable(d, off, 4, b->size > 0 ? (guint32) ~(b->size - 1) & ~0xfu : 0);
        }
    }
    set_le(d->config + PCI_ROM_ADDRESS, 4, 0); /* no ROM */
    /* the capabilities the device has, with their writable fields */
    pos = d->config[PCI_STATUS] & PCI_STATUS_CAP_LIST ? d->config[PCI_CAPABILITY_LIST] & ~3u : 0;
    while (pos >= PCI_STD_HEADER_SIZEOF && pos < PCI_CFG_SPACE_SIZE && guard++ < 48) {
        guint8 id = d->config[pos + PCI_CAP_LIST_ID];

        if (id == PCI_CAP_ID_EXP) {
            d->pcie = (guint8)pos;
            writable(d, pos + PCI_EXP_DEVCTL, 2, 0xffff);
            writable(d, pos + PCI_EXP_LNKCTL, 2, 0xffff);
            writable(d, pos + PCI_EXP_DEVCTL2, 2, 0xffff);
        } else if (id == PCI_CAP_ID_MSIX) {
            guint32 table = get_le(d->config + pos + PCI_MSIX_TABLE, 4);

            d->msix = (guint8)pos;
            d->msix_vectors =
                (get_le(d->config + pos + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
            d->msix_bar = table & PCI_MSIX_TABLE_BIR;
            writable(d, pos + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
        }
        pos = d->config[pos + PCI_CAP_LIST_NEXT] & ~3u;
    }
    return 0;
}

static gboolean
has_flr(XeVfioDevice *d)
{
    return d->pcie != 0 &&
           (get_le(d->config + d->pcie + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR) != 0;
}

static void
device_free(XeVfioDevice *d)
{
    if (d->group != NULL) {
        d->group->device = NULL;
        if (d->group->closed)
            group_destroy(d->group);
    }
    xe_vfio_real_close(d->fd);
    g_free(d->bdf);
    g_free(d);
}

static long
device_open(XeVfioGroup *g, const char *name)
{
    XeVfioDevice *d;
    g_autofree char *rel = NULL;
    g_autofree char *state = NULL;
    int r, fd;

    if (g->container == NULL || !xe_vfio_container_has_iommu(g->container))
        return -EINVAL; /* no IOMMU for it yet */
    if (name == NULL || !g_str_equal(name, g->bdf))
        return -ENODEV;
    if (g->device != NULL) {
        /* another fd on the same device */
        fd = fcntl(g->device->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        xe_vfio_register_fd(fd, XE_VFIO_FD_DEVICE, g->device);
        g->device->refs++;
        return fd;
    }
    d = g_new0(XeVfioDevice, 1);
    d->bdf = g_strdup(g->bdf);
    d->group = g;
    if ((r = read_bars(d)) < 0 || (r = build_config(d)) < 0) {
        /* (errno numbers: g_strerror may load locale data, under the lock) */
        xe_vfio_log("device %s: its sysfs files: errno %d", d->bdf, -r);
        g_free(d->bdf);
        g_free(d);
        return r;
    }
    rel = g_strdup_printf("sim/vfio/%s/state", d->bdf);
    d->migration = xe_vfio_sim_read(rel, &state) == 0; /* ENOTTY: no migration on this PF */
    r = xe_vfio_new_fd("vfio-device", DEVICE_FD_SIZE, XE_VFIO_FD_DEVICE, d);
    if (r < 0) {
        g_free(d->bdf);
        g_free(d);
        return r;
    }
    d->fd = fcntl(r, F_DUPFD_CLOEXEC, 0); /* the device's own reference to its memory */
    if (d->fd < 0) {
        int e = errno;

        xe_vfio_real_close(r);
        g_free(d->bdf);
        g_free(d);
        return -e;
    }
    d->refs = 1;
    g->device = d;
    xe_vfio_log("device %s opened", d->bdf);
    return r;
}

void
xe_vfio_device_close(XeVfioDevice *d)
{
    if (--d->refs == 0)
        device_free(d);
}

/* config space accesses */

static int
flr(XeVfioDevice *d)
{
    xe_vfio_log("reset %s", d->bdf);
    return xe_vfio_sim_write("sim/flr", d->bdf);
}

static guint64
region_size(XeVfioDevice *d, guint index)
{
    if (index <= VFIO_PCI_BAR5_REGION_INDEX)
        return d->bars[index].upper ? 0 : d->bars[index].size;
    return index == VFIO_PCI_CONFIG_REGION_INDEX ? d->cfg_size : 0;
}

long
xe_vfio_device_region_check(XeVfioDevice *d, guint64 offset, gsize count)
{
    guint64 index = offset >> XE_VFIO_REGION_SHIFT;
    guint64 at = offset & ((1ull << XE_VFIO_REGION_SHIFT) - 1);

    if (index >= VFIO_PCI_NUM_REGIONS)
        return -EINVAL;
    if (index == VFIO_PCI_CONFIG_REGION_INDEX)
        return 0; /* its own checks, as vfio_pci_config_rw()'s */
    return at < region_size(d, (guint)index) && count <= region_size(d, (guint)index) - at
               ? 0
               : -EINVAL;
}

gssize
xe_vfio_device_config_read(XeVfioDevice *d, void *buf, gsize count, guint64 offset)
{
    if (offset >= d->cfg_size || count > d->cfg_size - offset)
        return -EFAULT;
    memcpy(buf, d->config + offset, count);
    return (gssize)count;
}

gssize
xe_vfio_device_config_write(XeVfioDevice *d, const void *buf, gsize count, guint64 offset)
{
    const guint8 *in = buf;

    if (offset >= d->cfg_size || count > d->cfg_size - offset)
        return -EFAULT;
    for (gsize i = 0; i < count; i++) {
        guint at = (guint)offset + (guint)i;

        d->config[at] = (d->config[at] & ~d->wmask[at]) | (in[i] & d->wmask[at]);
    }
    /* BARs keep their type bits; the size mask did the rest */
    for (guint i = 0; i < NUM_BARS; i++) {
        guint off = PCI_BASE_ADDRESS_0 + 4 * i;

        if (!d->bars[i].upper && d->bars[i].size > 0)
            set_le(d->config + off, 4, (get_le(d->config + off, 4) & ~0xfu) | d->bars[i].flags);
    }
    /* an FLR initiated through the PCIe capability; the bit reads 0 */
    if (d->pcie != 0 && offset <= d->pcie + PCI_EXP_DEVCTL + 1u &&
        offset + count > d->pcie + (guint)PCI_EXP_DEVCTL) {
        guint32 devctl = get_le(d->config + d->pcie + PCI_EXP_DEVCTL, 2);

        if (devctl & PCI_EXP_DEVCTL_BCR_FLR) {
            set_le(d->config + d->pcie + PCI_EXP_DEVCTL, 2, devctl & ~PCI_EXP_DEVCTL_BCR_FLR);
            if (has_flr(d))
                (void)flr(d);
        }
    }
    return (gssize)count;
}

/* ioctls */

static long
get_info(XeVfioDevice *d, struct vfio_device_info *info)
{
    if (info->argsz < G_STRUCT_OFFSET(struct vfio_device_info, num_irqs) + sizeof(info->num_irqs))
        return -EINVAL;
    info->flags = VFIO_DEVICE_FLAGS_PCI | (has_flr(d) ? VFIO_DEVICE_FLAGS_RESET : 0);
    info->num_regions = VFIO_PCI_NUM_REGIONS;
    info->num_irqs = VFIO_PCI_NUM_IRQS;
    return 0;
}

static long
get_region_info(XeVfioDevice *d, struct vfio_region_info *info)
{
    if (info->argsz < G_STRUCT_OFFSET(struct vfio_region_info, offset) + sizeof(info->offset))
        return -EINVAL;
    if (info->index >= VFIO_PCI_NUM_REGIONS || info->index == VFIO_PCI_VGA_REGION_INDEX)
        return -EINVAL; /* (VGA: only for a VGA device vfio-pci was told to expose) */
    info->offset = (guint64)info->index << XE_VFIO_REGION_SHIFT;
    info->flags = 0;
    info->size = 0;
    info->cap_offset = 0;
    if (info->index <= VFIO_PCI_BAR5_REGION_INDEX) {
        const Bar *b = &d->bars[info->index];

        if (b->upper || b->size == 0)
            return 0;
        info->size = b->size;
        info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        /* the MSI-X table's BAR stays trapped: its registers have side effects */
        if (!(d->msix != 0 && d->msix_bar == info->index) && b->size >= 4096)
            info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
    } else if (info->index == VFIO_PCI_CONFIG_REGION_INDEX) {
        info->size = d->cfg_size;
        info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    }
    /* ROM: none (size 0) */
    return 0;
}

static guint
irq_count(XeVfioDevice *d, guint index)
{
    switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
        return d->config[PCI_INTERRUPT_PIN] != 0 ? 1 : 0;
    case VFIO_PCI_MSI_IRQ_INDEX:
        return 0; /* no MSI capability */
    case VFIO_PCI_MSIX_IRQ_INDEX:
        return d->msix_vectors;
    case VFIO_PCI_ERR_IRQ_INDEX:
        return d->pcie != 0 ? 1 : 0;
    case VFIO_PCI_REQ_IRQ_INDEX:
        return 1;
    default:
        return 0;
    }
}

static long
get_irq_info(XeVfioDevice *d, struct vfio_irq_info *info)
{
    if (info->argsz < sizeof(*info) || info->index >= VFIO_PCI_NUM_IRQS)
        return -EINVAL;
    if (info->index == VFIO_PCI_ERR_IRQ_INDEX && d->pcie == 0)
        return -EINVAL;
    info->flags = VFIO_IRQ_INFO_EVENTFD;
    info->count = irq_count(d, info->index);
    if (info->index == VFIO_PCI_INTX_IRQ_INDEX)
        info->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    else
        info->flags |= VFIO_IRQ_INFO_NORESIZE;
    return 0;
}

static long
set_irqs(XeVfioDevice *d, struct vfio_irq_set *set)
{
    guint32 type = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    guint32 action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    guint max;
    gsize size = 0;

    if (set->argsz < sizeof(*set) || set->index >= VFIO_PCI_NUM_IRQS)
        return -EINVAL;
    if ((set->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) != 0)
        return -EINVAL;
    /* exactly one data type and one action */
    if (type == 0 || (type & (type - 1)) != 0 || action == 0 || (action & (action - 1)) != 0)
        return -EINVAL;
    max = irq_count(d, set->index);
    if (set->start >= max || set->count > max - set->start)
        return -EINVAL;
    /* INTx masks and unmasks; every index triggers; nothing else has a handler */
    if (action != VFIO_IRQ_SET_ACTION_TRIGGER && set->index != VFIO_PCI_INTX_IRQ_INDEX)
        return -ENOTTY;
    if (type == VFIO_IRQ_SET_DATA_BOOL)
        size = 1;
    else if (type == VFIO_IRQ_SET_DATA_EVENTFD)
        size = sizeof(gint32);
    if (set->argsz - sizeof(*set) < size * set->count)
        return -EINVAL;
    if (type == VFIO_IRQ_SET_DATA_EVENTFD) {
        const gint32 *fds = (const gint32 *)set->data;

        for (guint i = 0; i < set->count; i++)
            if (fds[i] < -1 || (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0))
                return -EBADF;
    }
    xe_vfio_log("irqs %s index %u start %u count %u", d->bdf, set->index, set->start, set->count);
    return 0; /* nothing here ever raises one: the device does no I/O */
}

/* migration (vfio core's feature checks, then xe-vfio-pci through xe-sim) */

static const char *const states[] = {
    [VFIO_DEVICE_STATE_ERROR] = "error",       [VFIO_DEVICE_STATE_STOP] = "stop",
    [VFIO_DEVICE_STATE_RUNNING] = "running",   [VFIO_DEVICE_STATE_STOP_COPY] = "stop_copy",
    [VFIO_DEVICE_STATE_RESUMING] = "resuming", [VFIO_DEVICE_STATE_RUNNING_P2P] = "running_p2p",
    [VFIO_DEVICE_STATE_PRE_COPY] = "pre_copy", [VFIO_DEVICE_STATE_PRE_COPY_P2P] = "pre_copy_p2p",
};

static int
check_feature(guint32 flags, gsize argsz, guint32 supported, gsize minsz)
{
    if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) & ~supported)
        return -EINVAL;
    if (flags & VFIO_DEVICE_FEATURE_PROBE)
        return 0;
    if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
        return -EINVAL;
    if (argsz < minsz)
        return -EINVAL;
    return 1;
}

/* The VF's index under its PF (virtfnN + 1), and the PF, for debugfs. */
static gboolean
vf_position(XeVfioDevice *d, char **pf, guint *vfid)
{
    g_autofree char *rel = dev_rel(d->bdf, "physfn");

    *pf = xe_vfio_sim_link(rel);
    if (*pf == NULL)
        return FALSE;
    for (guint i = 0; i < 4096; i++) {
        g_autofree char *link = g_strdup_printf("sys/bus/pci/devices/%s/virtfn%u", *pf, i);
        g_autofree char *vf = xe_vfio_sim_link(link);

        if (vf == NULL)
            break;
        if (g_str_equal(vf, d->bdf)) {
            *vfid = i + 1;
            return TRUE;
        }
    }
    g_clear_pointer(pf, g_free);
    return FALSE;
}

static long
mig_state(XeVfioDevice *d, guint32 flags, struct vfio_device_feature_mig_state *mig)
{
    g_autofree char *state_rel = g_strdup_printf("sim/vfio/%s/state", d->bdf);

    mig->data_fd = -1; /* unless a file is handed out */

    if (flags & VFIO_DEVICE_FEATURE_GET) {
        g_autofree char *text = NULL;
        int r = xe_vfio_sim_read(state_rel, &text);

        if (r < 0)
            return r;
        for (guint i = 0; i < G_N_ELEMENTS(states); i++)
            if (g_str_equal(states[i], text)) {
                mig->device_state = i;
                return 0;
            }
        return -EIO;
    }
    if (mig->device_state >= G_N_ELEMENTS(states) || mig->device_state == VFIO_DEVICE_STATE_ERROR)
        return -EINVAL;
    {
        int r = xe_vfio_sim_write(state_rel, states[mig->device_state]);

        xe_vfio_log("state %s %s: %d", d->bdf, states[mig->device_state], r);
        if (r < 0)
            return r;
    }
    if (mig->device_state == VFIO_DEVICE_STATE_STOP_COPY ||
        mig->device_state == VFIO_DEVICE_STATE_RESUMING) {
        g_autofree char *rel = g_strdup_printf("sim/vfio/%s/data", d->bdf);
        g_autofree char *path = xe_vfio_sim_path(rel);
        int fd = xe_vfio_real_open(
            path,
            (mig->device_state == VFIO_DEVICE_STATE_STOP_COPY ? O_RDONLY : O_WRONLY) | O_CLOEXEC,
            0);

        if (fd < 0)
            return -errno;
        mig->data_fd = fd;
    }
    return 0;
}

static long
feature(XeVfioDevice *d, struct vfio_device_feature *f)
{
    gsize minsz = G_STRUCT_OFFSET(struct vfio_device_feature, data);
    guint32 allowed = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
                      VFIO_DEVICE_FEATURE_PROBE;
    gsize argsz;
    int r;

    if (f->argsz < minsz || (f->flags & ~allowed) != 0)
        return -EINVAL;
    /* GET and SET together only with PROBE */
    if (!(f->flags & VFIO_DEVICE_FEATURE_PROBE) && (f->flags & VFIO_DEVICE_FEATURE_SET) &&
        (f->flags & VFIO_DEVICE_FEATURE_GET))
        return -EINVAL;
    argsz = f->argsz - minsz;
    switch (f->flags & VFIO_DEVICE_FEATURE_MASK) {
    case VFIO_DEVICE_FEATURE_MIGRATION: {
        struct vfio_device_feature_migration *m = (gpointer)f->data;

        if (!d->migration)
            return -ENOTTY;
        r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET, sizeof(*m));
        if (r != 1)
            return r;
        m->flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
        return 0;
    }
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
        struct vfio_device_feature_mig_state *m = (gpointer)f->data;

        if (!d->migration)
            return -ENOTTY;
        r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET,
                          sizeof(*m));
        if (r != 1)
            return r;
        return mig_state(d, f->flags, m);
    }
    case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
        struct vfio_device_feature_mig_data_size *m = (gpointer)f->data;
        g_autofree char *pf = NULL;
        g_autofree char *rel = NULL;
        g_autofree char *text = NULL;
        guint vfid = 0;

        if (!d->migration)
            return -ENOTTY;
        r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET, sizeof(*m));
        if (r != 1)
            return r;
        if (!vf_position(d, &pf, &vfid))
            return -ENODEV;
        rel = g_strdup_printf("sys/kernel/debug/dri/%s/sriov/vf%u/migration_size", pf, vfid);
        r = xe_vfio_sim_read(rel, &text);
        if (r < 0)
            return r;
        m->stop_copy_length = g_ascii_strtoull(text, NULL, 10);
        return 0;
    }
    default:
        /* DMA logging and the rest: xe-vfio-pci has no log_ops */
        return -ENOTTY;
    }
}

long
xe_vfio_device_ioctl(XeVfioDevice *d, unsigned long request, void *arg)
{
    switch (request) {
    case VFIO_DEVICE_GET_INFO:
        return get_info(d, arg);
    case VFIO_DEVICE_GET_REGION_INFO:
        return get_region_info(d, arg);
    case VFIO_DEVICE_GET_IRQ_INFO:
        return get_irq_info(d, arg);
    case VFIO_DEVICE_SET_IRQS:
        return set_irqs(d, arg);
    case VFIO_DEVICE_RESET:
        return has_flr(d) ? flr(d) : -EINVAL;
    case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
    case VFIO_DEVICE_PCI_HOT_RESET:
        return -ENODEV; /* a VF has no slot or bus of its own to reset */
    case VFIO_DEVICE_FEATURE:
        return feature(d, arg);
    default:
        return -ENOTTY;
    }
}
