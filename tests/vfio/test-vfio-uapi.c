/* test-vfio-uapi.c: suite "vfio", the emulation's uAPI held to the kernel's answers without
 * QEMU: this test runs with the emulation preloaded (LD_PRELOAD from meson) and makes the
 * calls QEMU makes, and the wrong ones it does not: container and group rules, the type1
 * IOMMU info and its capability chain, DMA maps (overlaps, the MSI window, a mapping cut in
 * two by an unmap), and dirty bitmaps with gaps, as vfio_iommu_type1.c answers them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <linux/vfio.h>

#include "xe-test-sim.h"
#include "xe-test-util.h"

#define PF  "0000:03:00.0"
#define VF1 "0000:03:00.1"

typedef struct {
    XeTestSim *sim;
    int container, group;
} Vfio;

/* xe-sim with VF1 on xe-vfio-pci, named to the emulation; its group open. */
static void
vfio_up(Vfio *v)
{
    g_autofree char *group = NULL;

    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse, fusermount3)");
    v->sim = xe_test_sim_start(NULL);
    g_setenv("XE_VFIO_SIM_ROOT", v->sim->root, TRUE); /* read at the first /dev/vfio open */
    ck_assert_int_eq(
        xe_test_sim_write(v->sim, "sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", "0"), 0);
    ck_assert_int_eq(xe_test_sim_write(v->sim, "sys/bus/pci/devices/" PF "/sriov_numvfs", "1"), 0);
    ck_assert_int_eq(
        xe_test_sim_write(v->sim, "sys/bus/pci/devices/" VF1 "/driver_override", "xe-vfio-pci"), 0);
    ck_assert_int_eq(xe_test_sim_write(v->sim, "sys/bus/pci/drivers/xe-vfio-pci/bind", VF1), 0);
    v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    ck_assert_msg(v->container >= 0, "/dev/vfio/vfio: %s", g_strerror(errno));
    group = g_strdup_printf("/dev/vfio/%u", 3u << 8 | 1u); /* xe-sim: bus << 8 | devfn */
    v->group = open(group, O_RDWR | O_CLOEXEC);
    ck_assert_msg(v->group >= 0, "%s: %s", group, g_strerror(errno));
}

static void
vfio_down(Vfio *v)
{
    close(v->group);
    close(v->container);
    g_clear_pointer(&v->sim, xe_test_sim_stop);
}

/* The container set and type1v2 on it. */
static void
vfio_iommu(Vfio *v)
{
    ck_assert_int_eq(ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container), 0);
    ck_assert_int_eq(ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
}

#define assert_errno(call, want)                                                        \
    do {                                                                                \
        int _r = (call);                                                                \
        ck_assert_msg(_r < 0 && errno == (want), "%s: %d (%s), expected %s", #call, _r, \
                      _r < 0 ? g_strerror(errno) : "success", g_strerror(want));        \
    } while (0)

START_TEST(test_container_and_group_rules)
{
    Vfio v = { 0 };
    struct vfio_group_status status = { .argsz = sizeof(status) };
    int pipefd[2];
    char name[] = VF1;

    vfio_up(&v);
    ck_assert_int_eq(ioctl(v.container, VFIO_GET_API_VERSION), VFIO_API_VERSION);
    ck_assert_int_eq(ioctl(v.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
    ck_assert_int_eq(ioctl(v.container, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_IOMMU), 0);
    ck_assert_int_eq(ioctl(v.group, VFIO_GROUP_GET_STATUS, &status), 0);
    ck_assert_uint_eq(status.flags, VFIO_GROUP_FLAGS_VIABLE);
    /* a second opener of the group: busy */
    assert_errno(open("/dev/vfio/769", O_RDWR | O_CLOEXEC), EBUSY);
    /* no device before a container with an IOMMU */
    assert_errno(ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, name), EINVAL);
    ck_assert_int_eq(pipe(pipefd), 0);
    assert_errno(ioctl(v.group, VFIO_GROUP_SET_CONTAINER, &pipefd[0]), EBADFD);
    close(pipefd[0]);
    close(pipefd[1]);
    assert_errno(ioctl(v.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL); /* no group */
    ck_assert_int_eq(ioctl(v.group, VFIO_GROUP_SET_CONTAINER, &v.container), 0);
    ck_assert_int_eq(ioctl(v.group, VFIO_GROUP_GET_STATUS, &status), 0);
    ck_assert(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET);
    assert_errno(ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, name), EINVAL);
    ck_assert_int_eq(ioctl(v.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
    assert_errno(ioctl(v.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL);
    {
        char other[] = "0000:03:00.2";
        int device = ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, name);

        ck_assert_msg(device >= 0, "GET_DEVICE_FD: %s", g_strerror(errno));
        ck_assert(fcntl(device, F_GETFD) & FD_CLOEXEC);
        assert_errno(ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, other), ENODEV);
        close(device);
    }
    vfio_down(&v);
}
END_TEST

/* Opens @path as uid/gid @uid in a child; the child's errno, 0 when it opened. */
static int
open_as(const char *path, uid_t uid)
{
    int status = 0;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd;

        if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(100);
        fd = open(path, O_RDWR | O_CLOEXEC);
        _exit(fd >= 0 ? 0 : errno);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The group node is root's (0600) until handed over, as devtmpfs makes it: another user's
 * open is EACCES until the node is chown'ed to it, and only it then; unbinding drops the node
 * with its owner, and a new bind makes it root's again. */
START_TEST(test_group_node_owner_and_mode)
{
    Vfio v = { 0 };
    g_autofree char *node = NULL;

    if (geteuid() != 0 && !xe_test_in_ci())
        return; /* switching users needs root (CI is root) */
    vfio_up(&v);
    close(v.group); /* one opener at a time */
    v.group = -1;
    node = g_build_filename(v.sim->root, "dev/vfio/769", NULL);
    ck_assert_int_eq(open_as("/dev/vfio/769", 64050), EACCES);
    ck_assert_int_eq(chown(node, 64050, 64050), 0);
    ck_assert_int_eq(open_as("/dev/vfio/769", 64050), 0);
    ck_assert_int_eq(open_as("/dev/vfio/769", 64051), EACCES);
    ck_assert_int_eq(open_as("/dev/vfio/769", 0), 0);
    ck_assert_int_eq(xe_test_sim_write(v.sim, "sys/bus/pci/drivers/xe-vfio-pci/unbind", VF1), 0);
    ck_assert_int_eq(open_as("/dev/vfio/769", 0), ENOENT);
    ck_assert_int_eq(xe_test_sim_write(v.sim, "sys/bus/pci/drivers/xe-vfio-pci/bind", VF1), 0);
    ck_assert_int_eq(open_as("/dev/vfio/769", 64050), EACCES);
    vfio_down(&v);
}
END_TEST

START_TEST(test_iommu_info_and_capabilities)
{
    Vfio v = { 0 };
    struct vfio_iommu_type1_info small = { .argsz = sizeof(small) };
    g_autofree guint8 *buf = NULL;
    struct vfio_iommu_type1_info *info;
    guint seen = 0;

    vfio_up(&v);
    vfio_iommu(&v);
    /* too small for the capabilities: the size they need comes back */
    ck_assert_int_eq(ioctl(v.container, VFIO_IOMMU_GET_INFO, &small), 0);
    ck_assert(small.flags & VFIO_IOMMU_INFO_PGSIZES && small.flags & VFIO_IOMMU_INFO_CAPS);
    ck_assert_uint_gt(small.argsz, sizeof(small));
    ck_assert(small.iova_pgsizes & 4096);
    buf = g_malloc0(small.argsz);
    info = (gpointer)buf;
    info->argsz = small.argsz;
    ck_assert_int_eq(ioctl(v.container, VFIO_IOMMU_GET_INFO, info), 0);
    ck_assert_uint_ne(info->cap_offset, 0);
    for (guint32 at = info->cap_offset; at != 0;) {
        struct vfio_info_cap_header *hdr = (gpointer)(buf + at);

        ck_assert_uint_lt(at, info->argsz);
        if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range *r = (gpointer)hdr;

            ck_assert_uint_eq(r->nr_iovas, 2);
            ck_assert_uint_eq(r->iova_ranges[0].end, 0xfedfffffull); /* the MSI window out */
        } else if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION) {
            struct vfio_iommu_type1_info_cap_migration *m = (gpointer)hdr;

            ck_assert_uint_eq(m->pgsize_bitmap, 4096);
        }
        seen |= 1u << hdr->id;
        at = hdr->next;
    }
    ck_assert_uint_eq(seen, 1u << VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE |
                                1u << VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION |
                                1u << VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
    vfio_down(&v);
}
END_TEST

static int
map(int container, guint64 iova, guint64 size)
{
    static guint8 backing[1 << 20] __attribute__((aligned(4096)));
    struct vfio_iommu_type1_dma_map m = {
        .argsz = sizeof(m),
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (guint64)(guintptr)backing,
        .iova = iova,
        .size = size,
    };

    return ioctl(container, VFIO_IOMMU_MAP_DMA, &m);
}

static int
unmap(int container, guint64 iova, guint64 size, guint64 *unmapped)
{
    struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };
    int r = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u);

    *unmapped = u.size;
    return r;
}

START_TEST(test_dma_maps)
{
    Vfio v = { 0 };
    guint64 done = 0;

    vfio_up(&v);
    vfio_iommu(&v);
    ck_assert_int_eq(map(v.container, 0x100000, 0x100000), 0);
    assert_errno(map(v.container, 0x180000, 0x100000), EEXIST);
    assert_errno(map(v.container, 0xfee00000, 0x1000), EINVAL); /* the MSI window */
    assert_errno(map(v.container, 1ull << 48, 0x1000), EINVAL);
    assert_errno(map(v.container, 0xfffffffffffff000ull, 0x1000), EINVAL);
    /* an unmap that would cut the mapping in two: refused, and nothing removed */
    assert_errno(unmap(v.container, 0x100000, 0x10000, &done), EINVAL);
    ck_assert_int_eq(unmap(v.container, 0, 0x400000, &done), 0);
    ck_assert_uint_eq(done, 0x100000);
    ck_assert_int_eq(unmap(v.container, 0, 0x400000, &done), 0);
    ck_assert_uint_eq(done, 0);
    vfio_down(&v);
}
END_TEST

START_TEST(test_dirty_bitmap_every_mapped_page)
{
    Vfio v = { 0 };
    /* the request and its data[]: a header, then the get */
    guint8 raw[sizeof(struct vfio_iommu_type1_dirty_bitmap) +
               sizeof(struct vfio_iommu_type1_dirty_bitmap_get)]
        __attribute__((aligned(8))) = { 0 };
    struct vfio_iommu_type1_dirty_bitmap *d = (gpointer)raw;
    struct vfio_iommu_type1_dirty_bitmap_get *get = (gpointer)d->data;
    guint64 bits[1] = { 0 };
    struct vfio_iommu_type1_dirty_bitmap flag = { .argsz = sizeof(flag) };

    vfio_up(&v);
    vfio_iommu(&v);
    ck_assert_int_eq(map(v.container, 0x200000, 0x10000), 0); /* pages 0-15 */
    ck_assert_int_eq(map(v.container, 0x220000, 0x10000), 0); /* pages 32-47; 16-31 a gap */
    d->argsz = sizeof(raw);
    d->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
    get->iova = 0x200000;
    get->size = 0x30000;
    get->bitmap.pgsize = 4096;
    get->bitmap.size = sizeof(bits);
    get->bitmap.data = (gpointer)bits;
    assert_errno(ioctl(v.container, VFIO_IOMMU_DIRTY_PAGES, d), EINVAL); /* not started */
    flag.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START;
    ck_assert_int_eq(ioctl(v.container, VFIO_IOMMU_DIRTY_PAGES, &flag), 0);
    ck_assert_int_eq(ioctl(v.container, VFIO_IOMMU_DIRTY_PAGES, d), 0);
    /* nothing pins pages here: type1 reports every mapped page dirty, the gap clean */
    ck_assert_uint_eq(bits[0], 0x0000ffff0000ffffull); /* pages 0-15 and 32-47 */
    get->size = 0x8000;                                /* cuts the first mapping */
    assert_errno(ioctl(v.container, VFIO_IOMMU_DIRTY_PAGES, d), EINVAL);
    vfio_down(&v);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("vfio");
    TCase *tc = tcase_create("uapi");

    tcase_add_test(tc, test_container_and_group_rules);
    tcase_add_test(tc, test_group_node_owner_and_mode);
    tcase_add_test(tc, test_iommu_info_and_capabilities);
    tcase_add_test(tc, test_dma_maps);
    tcase_add_test(tc, test_dirty_bitmap_every_mapped_page);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
