/* xe-vfio-emul.h: an emulation of the kernel's VFIO uAPI (legacy container and
 * group, vfio-pci devices) for unmodified QEMU, loaded with LD_PRELOAD, whose
 * devices are xe-sim's VFs (tests only).
 *
 * QEMU reaches VFIO through a few glibc entry points (open64, ioctl, pread64,
 * __pread64_chk, pwrite64, close, stat64, readlink, realpath:
 * vfio-emulation.md 1.1); xe-vfio-preload.c interposes them and hands the
 * emulated file descriptors to the objects here:
 *
 *   container  /dev/vfio/vfio: the type1 IOMMU (xe-vfio-iommu.c): API version,
 *              extensions, the IOMMU info and its capabilities, DMA maps, dirty pages
 *   group      /dev/vfio/<G>: viable while its device is bound to xe-vfio-pci;
 *              exclusive, and held through xe-sim's sim/vfio/<VF>/device, whose release
 *              (the process exiting, SIGKILL included) is the kernel's close_device
 *   device     the fd from VFIO_GROUP_GET_DEVICE_FD (xe-vfio-device.c): regions
 *              (BARs in a sparse memfd at index << 40, config space virtualised as the
 *              kernel's vfio_pci_config.c does), interrupts, reset (an FLR in xe-sim),
 *              and the migration features, served by xe-sim's sim/vfio/<VF>/{state,data}
 *
 * Every emulated fd is a real memfd, so close(), dup() and mmap() behave. Sysfs paths
 * (/sys/bus/pci/devices, /sys/kernel/iommu_groups) are read under $XE_VFIO_SIM_ROOT,
 * xe-sim's mount. $XE_VFIO_LOG names a file that gets one line per call served, and
 * one "leak" line per VFIO ioctl that would have reached the kernel.
 *
 * Threading: one lock (xe_vfio_lock) guards every object; vCPU threads, the migration
 * thread and the main loop all come through here. Data transfers go to xe-sim's data
 * file, a real fd, outside the lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Not in every linux/vfio.h yet (Linux 6.2). */
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
struct vfio_device_feature_mig_data_size {
    guint64 stop_copy_length;
};
#endif

typedef struct _XeVfioContainer XeVfioContainer;
typedef struct _XeVfioGroup XeVfioGroup;
typedef struct _XeVfioDevice XeVfioDevice;

/* the process-wide state (xe-vfio-preload.c) */
void xe_vfio_lock(void);
void xe_vfio_unlock(void);
/* $XE_VFIO_SIM_ROOT, or NULL (then nothing is emulated: no /dev/vfio, as without VFIO). */
const char *xe_vfio_sim_root(void);
/* ROOT/@rel, to be freed. */
char *xe_vfio_sim_path(const char *rel);
/* One line to $XE_VFIO_LOG. */
void xe_vfio_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Reads or writes a sim file through the real libc; 0 or -errno. */
int xe_vfio_sim_read(const char *rel, char **text);
int xe_vfio_sim_write(const char *rel, const char *text);
/* A new emulated fd (a memfd of @size bytes, sparse) that maps to @object. */
int xe_vfio_new_fd(const char *name, guint64 size, int kind, gpointer object);
enum { XE_VFIO_FD_CONTAINER = 1, XE_VFIO_FD_GROUP, XE_VFIO_FD_DEVICE };
/* @fd (a dup of an emulated one) maps to @object too. */
void xe_vfio_register_fd(int fd, int kind, gpointer object);
/* The object of emulated fd @fd if it is of @kind, else NULL. */
gpointer xe_vfio_fd_object(int fd, int kind);
/* The real libc's open(), close(), pread() (what the emulation uses itself, under its lock:
 * the interposed ones take the lock). */
int xe_vfio_real_open(const char *path, int flags, mode_t mode);
int xe_vfio_real_close(int fd);
gssize xe_vfio_real_pread(int fd, void *buf, gsize count, off_t offset);
/* The basename of the link ROOT/@rel points to, or NULL. */
char *xe_vfio_sim_link(const char *rel);

/* the container (xe-vfio-iommu.c) */
XeVfioContainer *xe_vfio_container_new(void);
/* Its fd closed: it goes once no group holds it either. */
void xe_vfio_container_free(XeVfioContainer *container);
/* A group joins (and holds it) or leaves: the IOMMU model is set only with a group
 * attached. */
void xe_vfio_container_attach(XeVfioContainer *container);
void xe_vfio_container_detach(XeVfioContainer *container);
/* VFIO_SET_IOMMU done: devices may be opened. */
gboolean xe_vfio_container_has_iommu(XeVfioContainer *container);
/* ioctl on the container; returns the ioctl's value or -errno. */
long xe_vfio_container_ioctl(XeVfioContainer *container, unsigned long request, void *arg);

/* the group and its device (xe-vfio-device.c) */
/* /dev/vfio/@group: -errno as the kernel's open would fail. */
int xe_vfio_group_open(guint group, XeVfioGroup **out);
void xe_vfio_group_free(XeVfioGroup *group);
long xe_vfio_group_ioctl(XeVfioGroup *group, unsigned long request, void *arg);
void xe_vfio_device_close(XeVfioDevice *device);
long xe_vfio_device_ioctl(XeVfioDevice *device, unsigned long request, void *arg);
/* 0 when @count bytes at @offset of the device fd lie within one region, else -EINVAL. */
long xe_vfio_device_region_check(XeVfioDevice *device, guint64 offset, gsize count);
/* Config space accesses (region 7) at @offset within the region; bytes or -errno. */
gssize xe_vfio_device_config_read(XeVfioDevice *device, void *buf, gsize count, guint64 offset);
gssize xe_vfio_device_config_write(XeVfioDevice *device, const void *buf, gsize count,
                                   guint64 offset);

/* Regions live in the device fd at index << 40, as in the kernel's vfio-pci. */
#define XE_VFIO_REGION_SHIFT 40
#define XE_VFIO_CONFIG_INDEX 7

G_END_DECLS
