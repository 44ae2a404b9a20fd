/* xe-vfio-preload.c: the glibc entry points QEMU reaches VFIO through,
 * interposed (LD_PRELOAD), and the table of emulated file descriptors.
 *
 * A path under /dev/vfio opens an emulated container or group; sysfs paths of
 * PCI devices and IOMMU groups are answered from xe-sim's tree; ioctl, pread,
 * pwrite and close on an emulated fd go to its object; everything else goes to
 * the real libc untouched.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-vfio-emul.h"

#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>

#include <linux/kvm.h>
#include <linux/vfio.h>

/* The next definitions (libc's) of what is interposed, resolved once, before any lock of
 * ours is taken: dlsym takes the loader's lock. */
static struct {
    __typeof__(open64) *open64;
    __typeof__(openat64) *openat64;
    __typeof__(stat64) *stat64;
    __typeof__(stat) *stat;
    __typeof__(readlink) *readlink;
    __typeof__(realpath) *realpath;
    __typeof__(ioctl) *ioctl;
    __typeof__(pread64) *pread64;
    __typeof__(pwrite64) *pwrite64;
    __typeof__(close) *close;
} real;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void
resolve_real(void)
{
#define RESOLVE(name) *(void **)(&real.name) = dlsym(RTLD_NEXT, #name)
    RESOLVE(open64);
    RESOLVE(openat64);
    RESOLVE(stat64);
    RESOLVE(stat);
    RESOLVE(readlink);
    RESOLVE(realpath);
    RESOLVE(ioctl);
    RESOLVE(pread64);
    RESOLVE(pwrite64);
    RESOLVE(close);
#undef RESOLVE
}

#define REAL(name) pthread_once(&real_once, resolve_real)

/* Only the interposed entry points leave the library. */
#define XE_VFIO_EXPORT __attribute__((visibility("default")))

static GMutex lock;
static GHashTable *fds; /* fd -> Fd */
/* The emulated fd numbers below FD_BITS, readable without the lock: vCPU threads' ioctls
 * (KVM_RUN) and BAR accesses on other fds never wait for it. */
#define FD_BITS 65536
static gint fd_bits[FD_BITS / 32];

static void
fd_mark(int fd, gboolean on)
{
    if (fd < 0 || fd >= FD_BITS)
        return;
    if (on)
        g_atomic_int_or(&fd_bits[fd / 32], 1u << (fd % 32));
    else
        g_atomic_int_and(&fd_bits[fd / 32], ~(1u << (fd % 32)));
}

/* FALSE when @fd is certainly not an emulated one. */
static gboolean
maybe_emulated(int fd)
{
    return fd >= FD_BITS || (fd >= 0 && (g_atomic_int_get(&fd_bits[fd / 32]) & (1u << (fd % 32))));
}
static char *sim_root;
static int log_fd = -1;

typedef struct {
    int kind;
    gpointer object;
} Fd;

__attribute__((constructor)) static void
emul_init(void)
{
    const char *log = g_getenv("XE_VFIO_LOG");

    pthread_once(&real_once, resolve_real);
    fds = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    if (log != NULL && *log != '\0')
        log_fd = xe_vfio_real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void
xe_vfio_lock(void)
{
    g_mutex_lock(&lock);
}

void
xe_vfio_unlock(void)
{
    g_mutex_unlock(&lock);
}

/* Read at the first use, not at load: a process that starts its simulator first (a test of
 * the emulation itself) names it afterwards. */
const char *
xe_vfio_sim_root(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        const char *root = g_getenv("XE_VFIO_SIM_ROOT");

        if (root != NULL && *root != '\0')
            sim_root = g_strdup(root);
        g_once_init_leave(&once, 1);
    }
    return sim_root;
}

char *
xe_vfio_sim_path(const char *rel)
{
    return g_build_filename(xe_vfio_sim_root(), rel, NULL);
}

void
xe_vfio_log(const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;

    if (log_fd < 0)
        return;
    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    {
        g_autofree char *out = g_strdup_printf("%d %s\n", (int)getpid(), line);

        (void)!write(log_fd, out, strlen(out)); /* O_APPEND: one line at a time */
    }
}

int
xe_vfio_real_open(const char *path, int flags, mode_t mode)
{
    REAL(open64);
    return real.open64(path, flags, mode);
}

int
xe_vfio_real_close(int fd)
{
    REAL(close);
    return real.close(fd);
}

ssize_t
xe_vfio_real_pread(int fd, void *buf, size_t count, off_t offset)
{
    REAL(pread64);
    return real.pread64(fd, buf, count, offset);
}

char *
xe_vfio_sim_link(const char *rel)
{
    g_autofree char *path = xe_vfio_sim_path(rel);
    char buf[PATH_MAX];
    ssize_t n;

    REAL(readlink);
    n = real.readlink(path, buf, sizeof(buf) - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return g_path_get_basename(buf);
}

int
xe_vfio_sim_read(const char *rel, char **text)
{
    g_autofree char *path = xe_vfio_sim_path(rel);
    GString *out = g_string_new(NULL);
    int fd = xe_vfio_real_open(path, O_RDONLY | O_CLOEXEC, 0);
    char buf[4096];
    ssize_t n;

    if (fd < 0) {
        int e = errno;

        g_string_free(out, TRUE);
        return -e;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        g_string_append_len(out, buf, n);
    if (n < 0) {
        int e = errno;

        xe_vfio_real_close(fd);
        g_string_free(out, TRUE);
        return -e;
    }
    xe_vfio_real_close(fd);
    *text = g_strstrip(g_string_free(out, FALSE));
    return 0;
}

int
xe_vfio_sim_write(const char *rel, const char *text)
{
    g_autofree char *path = xe_vfio_sim_path(rel);
    int fd = xe_vfio_real_open(path, O_WRONLY | O_CLOEXEC, 0);
    ssize_t n;
    int e;

    if (fd < 0)
        return -errno;
    n = write(fd, text, strlen(text)); /* one write, one store, as sysfs */
    e = errno;
    xe_vfio_real_close(fd);
    return n < 0 ? -e : 0;
}

int
xe_vfio_new_fd(const char *name, guint64 size, int kind, gpointer object)
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (size > 0 && ftruncate(fd, (off_t)size) < 0) {
        int e = errno;

        xe_vfio_real_close(fd);
        return -e;
    }
    xe_vfio_register_fd(fd, kind, object);
    return fd;
}

void
xe_vfio_register_fd(int fd, int kind, gpointer object)
{
    Fd *entry = g_new0(Fd, 1);

    entry->kind = kind;
    entry->object = object;
    g_hash_table_replace(fds, GINT_TO_POINTER(fd), entry);
    fd_mark(fd, TRUE);
}

gpointer
xe_vfio_fd_object(int fd, int kind)
{
    Fd *entry = g_hash_table_lookup(fds, GINT_TO_POINTER(fd));

    return entry != NULL && entry->kind == kind ? entry->object : NULL;
}

static Fd *
fd_entry(int fd)
{
    return fds != NULL ? g_hash_table_lookup(fds, GINT_TO_POINTER(fd)) : NULL;
}

static int
set_errno(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return (int)r;
}

/* paths */

/* A sysfs path xe-sim serves: its path under the sim root, else NULL. */
static char *
sim_sysfs(const char *path)
{
    if (path == NULL || !(g_str_has_prefix(path, "/sys/bus/pci/") ||
                          g_str_has_prefix(path, "/sys/kernel/iommu_groups")))
        return NULL;
    if (xe_vfio_sim_root() == NULL)
        return NULL;
    return g_strconcat(xe_vfio_sim_root(), path, NULL);
}

/* /dev/vfio/vfio, or /dev/vfio/<G>. */
static int
open_vfio(const char *path)
{
    const char *rest = path + strlen("/dev/vfio/");
    guint64 group;
    long r;

    xe_vfio_log("open %s", path);
    if (g_str_equal(rest, "vfio")) {
        XeVfioContainer *container = xe_vfio_container_new();

        r = xe_vfio_new_fd("vfio-container", 0, XE_VFIO_FD_CONTAINER, container);
        if (r < 0)
            xe_vfio_container_free(container);
        return set_errno(r);
    }
    if (!g_ascii_string_to_unsigned(rest, 10, 0, G_MAXINT, &group, NULL))
        return set_errno(-ENOENT);
    {
        XeVfioGroup *g = NULL;
        /* the node's owner and mode, as the kernel checks them: xe-sim's dev/vfio/<G> */
        g_autofree char *node = g_strconcat(xe_vfio_sim_root(), path, NULL);
        int fd = xe_vfio_real_open(node, O_RDWR | O_CLOEXEC, 0);

        if (fd < 0)
            return set_errno(errno == EACCES || errno == EPERM ? -errno : -ENOENT);
        xe_vfio_real_close(fd);

        r = xe_vfio_group_open((guint)group, &g);
        if (r < 0)
            return set_errno(r);
        r = xe_vfio_new_fd("vfio-group", 0, XE_VFIO_FD_GROUP, g);
        if (r < 0)
            xe_vfio_group_free(g);
        return set_errno(r);
    }
}

static int
open_common(const char *path, int flags, mode_t mode, int dirfd, gboolean at)
{
    if (path != NULL && g_str_has_prefix(path, "/dev/vfio/") && xe_vfio_sim_root() != NULL) {
        int r;

        xe_vfio_lock();
        r = open_vfio(path);
        xe_vfio_unlock();
        return r;
    }
    if (at) {
        REAL(openat64);
        return real.openat64(dirfd, path, flags, mode);
    }
    REAL(open64);
    return real.open64(path, flags, mode);
}

#define MODE_ARG(flags)                        \
    __extension__({                            \
        mode_t m_ = 0;                         \
        if ((flags) & (O_CREAT | O_TMPFILE)) { \
            va_list ap_;                       \
            va_start(ap_, flags);              \
            m_ = (mode_t)va_arg(ap_, int);     \
            va_end(ap_);                       \
        }                                      \
        m_;                                    \
    })

XE_VFIO_EXPORT int
open64(const char *path, int flags, ...)
{
    return open_common(path, flags, MODE_ARG(flags), AT_FDCWD, FALSE);
}

XE_VFIO_EXPORT int
open(const char *path, int flags, ...)
{
    return open_common(path, flags, MODE_ARG(flags), AT_FDCWD, FALSE);
}

/* the fortified forms (no mode: O_CREAT is refused there) */
int __open64_2(const char *path, int flags);
int __open_2(const char *path, int flags);

XE_VFIO_EXPORT int
__open64_2(const char *path, int flags)
{
    return open_common(path, flags, 0, AT_FDCWD, FALSE);
}

XE_VFIO_EXPORT int
__open_2(const char *path, int flags)
{
    return open_common(path, flags, 0, AT_FDCWD, FALSE);
}

XE_VFIO_EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
    return open_common(path, flags, MODE_ARG(flags), dirfd, TRUE);
}

XE_VFIO_EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    return open_common(path, flags, MODE_ARG(flags), dirfd, TRUE);
}

XE_VFIO_EXPORT int
stat64(const char *path, struct stat64 *buf)
{
    g_autofree char *sim = sim_sysfs(path);

    REAL(stat64);
    if (sim != NULL)
        xe_vfio_log("stat %s", path);
    return real.stat64(sim != NULL ? sim : path, buf);
}

XE_VFIO_EXPORT int
stat(const char *path, struct stat *buf)
{
    g_autofree char *sim = sim_sysfs(path);

    REAL(stat);
    return real.stat(sim != NULL ? sim : path, buf);
}

XE_VFIO_EXPORT ssize_t
readlink(const char *path, char *buf, size_t len)
{
    g_autofree char *sim = sim_sysfs(path);

    REAL(readlink);
    if (sim != NULL)
        xe_vfio_log("readlink %s", path);
    return real.readlink(sim != NULL ? sim : path, buf, len);
}

/* The result names the path as sysfs would, without the sim root. */
XE_VFIO_EXPORT char *
realpath(const char *path, char *resolved)
{
    g_autofree char *sim = sim_sysfs(path);
    char *out;
    gsize root_len;

    REAL(realpath);
    if (sim == NULL)
        return real.realpath(path, resolved);
    xe_vfio_log("realpath %s", path);
    out = real.realpath(sim, NULL);
    if (out == NULL)
        return NULL;
    root_len = strlen(xe_vfio_sim_root());
    if (strncmp(out, xe_vfio_sim_root(), root_len) == 0 && out[root_len] == '/')
        memmove(out, out + root_len, strlen(out + root_len) + 1);
    if (resolved != NULL) {
        g_strlcpy(resolved, out, PATH_MAX);
        free(out);
        return resolved;
    }
    return out;
}

char *__realpath_chk(const char *path, char *resolved, size_t resolved_len);

XE_VFIO_EXPORT char *
__realpath_chk(const char *path, char *resolved, size_t resolved_len)
{
    return realpath(path, resolved);
}

/* ioctl */

/* VFIO requests share numbers across fd kinds (a container's GET_INFO is a device's
 * GET_PCI_HOT_RESET_INFO): named by the kind they are sent to. */
static const char *
request_name(int kind, unsigned long request)
{
#define NAME(r) \
    case r:     \
        return #r
    switch (request) {
        NAME(VFIO_GET_API_VERSION);
        NAME(VFIO_CHECK_EXTENSION);
        NAME(VFIO_SET_IOMMU);
        NAME(VFIO_GROUP_GET_STATUS);
        NAME(VFIO_GROUP_SET_CONTAINER);
        NAME(VFIO_GROUP_UNSET_CONTAINER);
        NAME(VFIO_GROUP_GET_DEVICE_FD);
        NAME(VFIO_DEVICE_GET_INFO);
        NAME(VFIO_DEVICE_GET_REGION_INFO);
        NAME(VFIO_DEVICE_GET_IRQ_INFO);
        NAME(VFIO_DEVICE_SET_IRQS);
        NAME(VFIO_DEVICE_RESET);
    default:
        break;
    }
    if (kind == XE_VFIO_FD_CONTAINER) {
        switch (request) {
            NAME(VFIO_IOMMU_GET_INFO);
            NAME(VFIO_IOMMU_MAP_DMA);
            NAME(VFIO_IOMMU_UNMAP_DMA);
            NAME(VFIO_IOMMU_DIRTY_PAGES);
        default:
            break;
        }
    } else {
        switch (request) {
            NAME(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO);
            NAME(VFIO_DEVICE_PCI_HOT_RESET);
            NAME(VFIO_DEVICE_FEATURE);
        default:
            break;
        }
    }
#undef NAME
    return NULL;
}

XE_VFIO_EXPORT int
ioctl(int fd, unsigned long request, ...)
{
    void *arg;
    va_list ap;
    Fd *entry;
    long r;

    REAL(ioctl);
    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);

    if (fds == NULL ||
        (!maybe_emulated(fd) && _IOC_TYPE(request) != VFIO_TYPE && request != KVM_SET_DEVICE_ATTR))
        return real.ioctl(fd, request, arg);
    xe_vfio_lock();
    entry = fd_entry(fd);
    if (entry == NULL) {
        /* the KVM VFIO device is told about groups: an emulated one needs no kernel */
        if (request == KVM_SET_DEVICE_ATTR && arg != NULL) {
            struct kvm_device_attr *attr = arg;

            if (attr->group == KVM_DEV_VFIO_GROUP && attr->addr != 0 &&
                fd_entry(*(int *)(guintptr)attr->addr) != NULL) {
                xe_vfio_log("ioctl KVM_SET_DEVICE_ATTR VFIO group %llu",
                            (unsigned long long)attr->attr);
                xe_vfio_unlock();
                return 0;
            }
        }
        if (_IOC_TYPE(request) == VFIO_TYPE)
            xe_vfio_log("leak ioctl %s (0x%lx) on fd %d",
                        request_name(0, request) != NULL ? request_name(0, request) : "?", request,
                        fd);
        xe_vfio_unlock();
        return real.ioctl(fd, request, arg);
    }
    xe_vfio_log("ioctl %s", request_name(entry->kind, request) != NULL
                                ? request_name(entry->kind, request)
                                : "(unknown)");
    switch (entry->kind) {
    case XE_VFIO_FD_CONTAINER:
        r = xe_vfio_container_ioctl(entry->object, request, arg);
        break;
    case XE_VFIO_FD_GROUP:
        r = xe_vfio_group_ioctl(entry->object, request, arg);
        break;
    default:
        r = xe_vfio_device_ioctl(entry->object, request, arg);
        break;
    }
    xe_vfio_unlock();
    return set_errno(r);
}

/* region reads and writes: config space is emulated, the rest is the memfd's, within the
 * region's size */

static ssize_t
emul_pread(int fd, void *buf, size_t count, off64_t offset)
{
    XeVfioDevice *device;
    ssize_t r;

    REAL(pread64);
    if (fds == NULL || !maybe_emulated(fd))
        return real.pread64(fd, buf, count, offset);
    xe_vfio_lock();
    device = xe_vfio_fd_object(fd, XE_VFIO_FD_DEVICE);
    if (device == NULL) {
        xe_vfio_unlock();
        return real.pread64(fd, buf, count, offset);
    }
    r = xe_vfio_device_region_check(device, (guint64)offset, count);
    if (r == 0 && ((guint64)offset >> XE_VFIO_REGION_SHIFT) == XE_VFIO_CONFIG_INDEX)
        r = xe_vfio_device_config_read(device, buf, count,
                                       (guint64)offset & ((1ull << XE_VFIO_REGION_SHIFT) - 1));
    else if (r == 0)
        r = real.pread64(fd, buf, count, offset);
    xe_vfio_unlock();
    return r < 0 ? set_errno(r) : r;
}

XE_VFIO_EXPORT ssize_t
pread64(int fd, void *buf, size_t count, off64_t offset)
{
    return emul_pread(fd, buf, count, offset);
}

XE_VFIO_EXPORT ssize_t
pread(int fd, void *buf, size_t count, off_t offset)
{
    return emul_pread(fd, buf, count, offset);
}

ssize_t __pread64_chk(int fd, void *buf, size_t count, off64_t offset, size_t buflen);

XE_VFIO_EXPORT ssize_t
__pread64_chk(int fd, void *buf, size_t count, off64_t offset, size_t buflen)
{
    if (count > buflen)
        abort(); /* what glibc's fortified pread does: __chk_fail */
    return emul_pread(fd, buf, count, offset);
}

static ssize_t
emul_pwrite(int fd, const void *buf, size_t count, off64_t offset)
{
    XeVfioDevice *device;
    ssize_t r;

    REAL(pwrite64);
    if (fds == NULL || !maybe_emulated(fd))
        return real.pwrite64(fd, buf, count, offset);
    xe_vfio_lock();
    device = xe_vfio_fd_object(fd, XE_VFIO_FD_DEVICE);
    if (device == NULL) {
        xe_vfio_unlock();
        return real.pwrite64(fd, buf, count, offset);
    }
    r = xe_vfio_device_region_check(device, (guint64)offset, count);
    if (r == 0 && ((guint64)offset >> XE_VFIO_REGION_SHIFT) == XE_VFIO_CONFIG_INDEX)
        r = xe_vfio_device_config_write(device, buf, count,
                                        (guint64)offset & ((1ull << XE_VFIO_REGION_SHIFT) - 1));
    else if (r == 0)
        r = real.pwrite64(fd, buf, count, offset);
    xe_vfio_unlock();
    return r < 0 ? set_errno(r) : r;
}

XE_VFIO_EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    return emul_pwrite(fd, buf, count, offset);
}

XE_VFIO_EXPORT ssize_t
pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    return emul_pwrite(fd, buf, count, offset);
}

XE_VFIO_EXPORT int
close(int fd)
{
    Fd *entry;

    REAL(close);
    if (fds != NULL && maybe_emulated(fd)) {
        xe_vfio_lock();
        entry = fd_entry(fd);
        if (entry != NULL) {
            xe_vfio_log("close %s", entry->kind == XE_VFIO_FD_CONTAINER ? "container"
                                    : entry->kind == XE_VFIO_FD_GROUP   ? "group"
                                                                        : "device");
            if (entry->kind == XE_VFIO_FD_CONTAINER)
                xe_vfio_container_free(entry->object);
            else if (entry->kind == XE_VFIO_FD_GROUP)
                xe_vfio_group_free(entry->object);
            else
                xe_vfio_device_close(entry->object);
            g_hash_table_remove(fds, GINT_TO_POINTER(fd));
            fd_mark(fd, FALSE);
        }
        xe_vfio_unlock();
    }
    return real.close(fd);
}
