/* xe-vfio-iommu.c: the container (/dev/vfio/vfio) and its type1 IOMMU, as the
 * kernel's vfio_iommu_type1.c answers: the API version and extensions, the
 * IOMMU info with its capability chain (IOVA ranges, migration, DMA entries
 * available), MAP_DMA and UNMAP_DMA on a table of mappings (overlaps refused),
 * and dirty-page tracking. No page is pinned by the device (xe-vfio-pci has no
 * DMA logging and pins nothing), so type1 reports every mapped page dirty, as
 * the kernel does for a group that is not pinned-page-scoped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-vfio-emul.h"

#include <errno.h>
#include <string.h>

#include <linux/vfio.h>

#define PGSIZE_BITMAP    (4096ull | (2ull << 20) | (1ull << 30)) /* 4K, 2M, 1G */
#define MIN_PAGE         4096ull
#define DMA_ENTRY_LIMIT  65535u       /* type1's dma_entry_limit default */
#define DIRTY_BITMAP_MAX (1ull << 28) /* DIRTY_BITMAP_SIZE_MAX: INT_MAX bits, in bytes */

typedef struct {
    guint64 iova, size, vaddr;
    guint32 flags;
} Mapping;

struct _XeVfioContainer {
    guint refs;       /* its fd, and each group attached */
    guint groups;     /* attached */
    guint iommu_type; /* 0 until VFIO_SET_IOMMU */
    GArray *maps;     /* Mapping, sorted by iova */
    gboolean dirty_tracking;
};

XeVfioContainer *
xe_vfio_container_new(void)
{
    XeVfioContainer *c = g_new0(XeVfioContainer, 1);

    c->maps = g_array_new(FALSE, FALSE, sizeof(Mapping));
    c->refs = 1;
    return c;
}

void
xe_vfio_container_free(XeVfioContainer *container)
{
    if (container == NULL || --container->refs > 0)
        return;
    g_array_unref(container->maps);
    g_free(container);
}

gboolean
xe_vfio_container_has_iommu(XeVfioContainer *container)
{
    return container->iommu_type != 0;
}

void
xe_vfio_container_attach(XeVfioContainer *container)
{
    container->refs++;
    container->groups++;
}

void
xe_vfio_container_detach(XeVfioContainer *container)
{
    /* the last group gone: the IOMMU model and its mappings go with it */
    if (--container->groups == 0) {
        container->iommu_type = 0;
        g_array_set_size(container->maps, 0);
        container->dirty_tracking = FALSE;
    }
    xe_vfio_container_free(container);
}

/* VFIO_IOMMU_GET_INFO */

typedef struct {
    GByteArray *buf;
    guint32 last; /* offset of the last header's "next", 0 if none */
} Caps;

static gpointer
cap_add(Caps *caps, guint16 id, guint16 version, gsize size)
{
    struct vfio_info_cap_header *hdr;
    guint32 at = caps->buf->len;

    g_byte_array_set_size(caps->buf, at + (guint)size);
    memset(caps->buf->data + at, 0, size);
    hdr = (gpointer)(caps->buf->data + at);
    hdr->id = id;
    hdr->version = version;
    if (caps->last != 0 || at > 0)
        ((struct vfio_info_cap_header *)(caps->buf->data + caps->last))->next = at;
    caps->last = at;
    return hdr;
}

static long
get_info(XeVfioContainer *c, struct vfio_iommu_type1_info *info)
{
    gsize minsz = G_STRUCT_OFFSET(struct vfio_iommu_type1_info, cap_offset);
    Caps caps = { g_byte_array_new(), 0 };
    struct vfio_iommu_type1_info_cap_iova_range *ranges;
    struct vfio_iommu_type1_info_cap_migration *mig;
    struct vfio_iommu_type1_info_dma_avail *avail;
    gsize ranges_size = sizeof(*ranges) + 2 * sizeof(struct vfio_iova_range);

    if (c->iommu_type == 0) {
        g_byte_array_unref(caps.buf);
        return -EINVAL;
    }
    if (info->argsz < minsz) {
        g_byte_array_unref(caps.buf);
        return -EINVAL;
    }
    info->flags = VFIO_IOMMU_INFO_PGSIZES;
    info->iova_pgsizes = PGSIZE_BITMAP;
    /* x86 with interrupt remapping: all of 48 bits but the MSI window */
    ranges = cap_add(&caps, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, ranges_size);
    ranges->nr_iovas = 2;
    ranges->iova_ranges[0].start = 0;
    ranges->iova_ranges[0].end = 0xfedfffffull;
    ranges->iova_ranges[1].start = 0xfef00000ull;
    ranges->iova_ranges[1].end = (1ull << 48) - 1;
    mig = cap_add(&caps, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1, sizeof(*mig));
    mig->flags = 0;
    mig->pgsize_bitmap = MIN_PAGE; /* the smallest page, as type1 reports it */
    mig->max_dirty_bitmap_size = DIRTY_BITMAP_MAX;
    avail = cap_add(&caps, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, sizeof(*avail));
    avail->avail = DMA_ENTRY_LIMIT - c->maps->len;

    info->flags |= VFIO_IOMMU_INFO_CAPS;
    if (info->argsz < sizeof(*info) + caps.buf->len) {
        /* the caller's buffer: cap_offset only if it has room for it */
        if (info->argsz >= G_STRUCT_OFFSET(struct vfio_iommu_type1_info, cap_offset) + 4)
            info->cap_offset = 0;
        info->argsz = sizeof(*info) + caps.buf->len;
    } else {
        /* the chain's offsets are from the start of the info */
        for (guint32 at = 0;;) {
            struct vfio_info_cap_header *hdr = (gpointer)(caps.buf->data + at);
            guint32 next = hdr->next;

            if (next != 0)
                hdr->next = next + sizeof(*info);
            if (next == 0)
                break;
            at = next;
        }
        memcpy((guint8 *)info + sizeof(*info), caps.buf->data, caps.buf->len);
        info->cap_offset = sizeof(*info);
    }
    g_byte_array_unref(caps.buf);
    return 0;
}

/* MAP_DMA, UNMAP_DMA */

/* (inclusive ends: a range may reach the top of the address space) */
static gboolean
overlaps(const Mapping *m, guint64 iova, guint64 size)
{
    return iova <= m->iova + (m->size - 1) && m->iova <= iova + (size - 1);
}

/* Within the IOVA ranges the info advertises (vfio_iommu_iova_dma_valid). */
static gboolean
iova_valid(guint64 iova, guint64 size)
{
    guint64 last = iova + (size - 1);

    return (last <= 0xfedfffffull) || (iova >= 0xfef00000ull && last < (1ull << 48));
}

static long
map_dma(XeVfioContainer *c, struct vfio_iommu_type1_dma_map *map)
{
    gsize minsz = G_STRUCT_OFFSET(struct vfio_iommu_type1_dma_map, size) + sizeof(map->size);
    guint32 allowed = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
    Mapping m;
    guint i;

    if (c->iommu_type == 0)
        return -EINVAL;
    if (map->argsz < minsz || (map->flags & ~allowed) != 0)
        return -EINVAL;
    if (map->flags & VFIO_DMA_MAP_FLAG_VADDR)
        return -ENOTTY; /* live update of vaddrs: not for this device's users */
    if (map->size == 0 || (map->size | map->iova | map->vaddr) & (MIN_PAGE - 1))
        return -EINVAL;
    if (map->iova + map->size - 1 < map->iova || map->vaddr + map->size - 1 < map->vaddr)
        return -EINVAL;
    if (!(map->flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)))
        return -EINVAL;
    if (!iova_valid(map->iova, map->size))
        return -EINVAL;
    if (c->maps->len >= DMA_ENTRY_LIMIT)
        return -ENOSPC;
    for (i = 0; i < c->maps->len; i++)
        if (overlaps(&g_array_index(c->maps, Mapping, i), map->iova, map->size))
            return -EEXIST;
    m.iova = map->iova;
    m.size = map->size;
    m.vaddr = map->vaddr;
    m.flags = map->flags;
    for (i = 0; i < c->maps->len && g_array_index(c->maps, Mapping, i).iova < m.iova; i++)
        ;
    g_array_insert_val(c->maps, i, m);
    return 0;
}

/* type1's rule for a range: no mapping may be cut at either end (gaps are fine). */
static gboolean
range_whole(XeVfioContainer *c, guint64 iova, guint64 size)
{
    guint64 last = iova + (size - 1);

    for (guint i = 0; i < c->maps->len; i++) {
        const Mapping *m = &g_array_index(c->maps, Mapping, i);
        guint64 m_last = m->iova + (m->size - 1);

        if ((m->iova < iova && m_last >= iova) || (m->iova <= last && m_last > last))
            return FALSE;
    }
    return TRUE;
}

/* Fills @bitmap (one bit per MIN_PAGE of [iova, iova + size)): every mapped page is dirty,
 * gaps are clean (update_user_bitmap() for a group that pins nothing). */
static long
dirty_bitmap(XeVfioContainer *c, guint64 iova, guint64 size, struct vfio_bitmap *bitmap)
{
    guint64 pages, bytes;

    if (bitmap->pgsize != MIN_PAGE)
        return -EINVAL;
    if ((iova | size) & (MIN_PAGE - 1) || size == 0 || iova + (size - 1) < iova)
        return -EINVAL;
    pages = size / MIN_PAGE;
    bytes = (pages + 63) / 64 * 8;
    if (bitmap->size < bytes || bytes > DIRTY_BITMAP_MAX || bitmap->data == NULL)
        return -EINVAL;
    if (!range_whole(c, iova, size))
        return -EINVAL;
    memset(bitmap->data, 0, bytes);
    for (guint i = 0; i < c->maps->len; i++) {
        const Mapping *m = &g_array_index(c->maps, Mapping, i);
        guint8 *bits = (guint8 *)bitmap->data;

        if (!overlaps(m, iova, size))
            continue;
        for (guint64 p = (m->iova - iova) / MIN_PAGE, n = m->size / MIN_PAGE; n > 0; p++, n--)
            bits[p / 8] |= (guint8)(1u << (p % 8));
    }
    return 0;
}

static long
unmap_dma(XeVfioContainer *c, struct vfio_iommu_type1_dma_unmap *unmap)
{
    gsize minsz = G_STRUCT_OFFSET(struct vfio_iommu_type1_dma_unmap, size) + sizeof(unmap->size);
    guint32 allowed =
        VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
    guint64 unmapped = 0;

    if (c->iommu_type == 0)
        return -EINVAL;
    if (unmap->argsz < minsz || (unmap->flags & ~allowed) != 0)
        return -EINVAL;
    if (unmap->flags & VFIO_DMA_UNMAP_FLAG_VADDR)
        return -ENOTTY;
    if (unmap->flags & VFIO_DMA_UNMAP_FLAG_ALL) {
        if (unmap->iova != 0 || unmap->size != 0 ||
            (unmap->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP))
            return -EINVAL;
        for (guint i = 0; i < c->maps->len; i++)
            unmapped += g_array_index(c->maps, Mapping, i).size;
        g_array_set_size(c->maps, 0);
        unmap->size = unmapped;
        return 0;
    }
    if (unmap->size == 0 || (unmap->iova | unmap->size) & (MIN_PAGE - 1) ||
        unmap->iova + (unmap->size - 1) < unmap->iova)
        return -EINVAL;
    /* a mapping cut in two is refused before anything is removed */
    if (!range_whole(c, unmap->iova, unmap->size))
        return -EINVAL;
    if (unmap->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
        struct vfio_bitmap *bitmap = (gpointer)unmap->data;
        long r;

        if (!c->dirty_tracking || unmap->argsz < minsz + sizeof(*bitmap))
            return -EINVAL;
        r = dirty_bitmap(c, unmap->iova, unmap->size, bitmap);
        if (r < 0)
            return r;
    }
    /* type1 removes the mappings inside the range */
    for (guint i = 0; i < c->maps->len;) {
        const Mapping *m = &g_array_index(c->maps, Mapping, i);

        if (!overlaps(m, unmap->iova, unmap->size)) {
            i++;
            continue;
        }
        unmapped += m->size;
        g_array_remove_index(c->maps, i);
    }
    unmap->size = unmapped;
    return 0;
}

static long
dirty_pages(XeVfioContainer *c, struct vfio_iommu_type1_dirty_bitmap *d)
{
    guint32 mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
                   VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
    guint32 op = d->flags & mask;

    if (c->iommu_type == 0 || d->argsz < sizeof(*d) || (d->flags & ~mask) != 0)
        return -EINVAL;
    if (op == VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
        c->dirty_tracking = TRUE;
        return 0;
    }
    if (op == VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
        c->dirty_tracking = FALSE;
        return 0;
    }
    if (op == VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP) {
        struct vfio_iommu_type1_dirty_bitmap_get *get = (gpointer)d->data;

        if (d->argsz < sizeof(*d) + sizeof(*get) || !c->dirty_tracking)
            return -EINVAL;
        return dirty_bitmap(c, get->iova, get->size, &get->bitmap);
    }
    return -EINVAL; /* none, or more than one operation */
}

long
xe_vfio_container_ioctl(XeVfioContainer *c, unsigned long request, void *arg)
{
    switch (request) {
    case VFIO_GET_API_VERSION:
        return VFIO_API_VERSION;
    case VFIO_CHECK_EXTENSION: {
        unsigned long ext = (unsigned long)arg;

        /* type1 answers for its types, with or without a group (the driver is loaded);
         * not NOIOMMU, SPAPR, nor vaddr updates */
        if (ext == VFIO_DMA_CC_IOMMU)
            return c->iommu_type != 0; /* x86 IOMMUs enforce coherency */
        return ext == VFIO_TYPE1_IOMMU || ext == VFIO_TYPE1v2_IOMMU || ext == VFIO_UNMAP_ALL;
    }
    case VFIO_SET_IOMMU: {
        unsigned long type = (unsigned long)arg;

        if (c->groups == 0)
            return -EINVAL; /* no group in the container */
        if (c->iommu_type != 0)
            return -EINVAL;
        if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
            return -ENODEV;
        c->iommu_type = (guint)type;
        return 0;
    }
    case VFIO_IOMMU_GET_INFO:
        return get_info(c, arg);
    case VFIO_IOMMU_MAP_DMA:
        return map_dma(c, arg);
    case VFIO_IOMMU_UNMAP_DMA:
        return unmap_dma(c, arg);
    case VFIO_IOMMU_DIRTY_PAGES:
        return dirty_pages(c, arg);
    default:
        return -ENOTTY;
    }
}
