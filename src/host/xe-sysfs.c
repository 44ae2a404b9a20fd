/* xe-sysfs.c: root-aware, bounded, errno-keeping sysfs and debugfs access.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-sysfs"

#include "xe-sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "xe-error.h"

struct _XeSysfs {
    gatomicrefcount ref;
    char *root; /* without a trailing '/', "" for the real root */
};

XeSysfs *
xe_sysfs_new(const char *root)
{
    XeSysfs *sysfs = g_new0(XeSysfs, 1);
    g_autofree char *r = g_strdup(root != NULL ? root : "/");

    g_atomic_ref_count_init(&sysfs->ref);
    while (strlen(r) > 0 && r[strlen(r) - 1] == '/')
        r[strlen(r) - 1] = '\0';
    sysfs->root = g_steal_pointer(&r);
    return sysfs;
}

XeSysfs *
xe_sysfs_ref(XeSysfs *sysfs)
{
    g_atomic_ref_count_inc(&sysfs->ref);
    return sysfs;
}

void
xe_sysfs_unref(XeSysfs *sysfs)
{
    if (sysfs == NULL || !g_atomic_ref_count_dec(&sysfs->ref))
        return;
    g_free(sysfs->root);
    g_free(sysfs);
}

const char *
xe_sysfs_get_root(XeSysfs *sysfs)
{
    return *sysfs->root != '\0' ? sysfs->root : "/";
}

char *
xe_sysfs_path(XeSysfs *sysfs, const char *rel)
{
    while (*rel == '/')
        rel++;
    return g_strdup_printf("%s/%s", sysfs->root, rel);
}

gboolean
xe_sysfs_exists(XeSysfs *sysfs, const char *rel)
{
    g_autofree char *path = xe_sysfs_path(sysfs, rel);

    return access(path, F_OK) == 0;
}

static const struct {
    const char *name;
    int errnum;
    const char *hint;
} hints[] = {
    { "sriov_numvfs", EBUSY, "VFs are already enabled; write 0 first" },
    { "sriov_numvfs", ERANGE, "that is more VFs than sriov_totalvfs allows" },
    { "sriov_numvfs", ENOENT, "the PF has no driver; bind it to xe" },
    { "sriov_numvfs", EINVAL, "expected a number of VFs" },
    { "bind", ENODEV,
      "no such device, or its driver_override names another driver, or (for "
      "xe-vfio-pci) the VF's PF is not bound to xe" },
    { "bind", EBUSY, "the device is already bound to a driver; unbind it first" },
    { "unbind", ENODEV, "the device is not bound to this driver" },
    { "drivers_probe", ENODEV, "no such PCI device" },
    { "driver_override", EINVAL, "the driver name is too long" },
    { "reset", EINVAL, "only '1' resets" },
    { "reset", ENOTTY, "no reset method is enabled; write 'default' to reset_method" },
    { "reset_method", EINVAL, "unknown or unsupported reset method" },
    { "stop", ESTALE, "the VF is already stopped; only an FLR restarts it" },
    { "stop", EUCLEAN, "the VF is already stopped on some GT; only an FLR restarts it" },
    { "pause", ESTALE, "the VF is already paused" },
    { "pause", EPERM, "the VF is stopped; only an FLR restarts it" },
    { "resume", EPERM, "the VF is not paused" },
    { "restore_auto_provisioning", EBUSY, "disable the VFs first" },
    { "migration_size", ENOPKG,
      "VF migration is not supported here (GuC older than 70.54 "
      "or no memory-based interrupts)" },
    { "sched_priority", EINVAL, "VFs take low or normal (high only on the PF)" },
    { NULL, EOVERFLOW, "the value is wider than the field" },
    { NULL, ENOSPC, "not enough unprovisioned resources left on the PF" },
    { NULL, EACCES, "the attribute cannot be opened for this access (read-only or write-only)" },
    { NULL, EUCLEAN, "the GTs hold different values" },
    { NULL, EIO, "the firmware refused it" },
    { NULL, EPERM, "not applicable on this hardware or firmware" },
};

const char *
xe_sysfs_hint(const char *name, int errnum)
{
    for (gsize i = 0; i < G_N_ELEMENTS(hints); i++)
        if (hints[i].errnum == errnum &&
            (hints[i].name == NULL || g_strcmp0(hints[i].name, name) == 0))
            return hints[i].hint;
    return NULL;
}

static GError *
kernel_error(int errnum, const char *path, const char *value)
{
    g_autofree char *name = g_path_get_basename(path);

    return xe_error_new_kernel(errnum, path, value, xe_sysfs_hint(name, errnum));
}

char *
xe_sysfs_read(XeSysfs *sysfs, const char *rel, GError **error)
{
    g_autofree char *path = xe_sysfs_path(sysfs, rel);
    g_autofree char *buf = g_malloc(XE_SYSFS_MAX_READ + 1);
    gsize len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        g_propagate_error(error, kernel_error(errno, path, NULL));
        return NULL;
    }
    while (len < XE_SYSFS_MAX_READ) {
        ssize_t n = read(fd, buf + len, XE_SYSFS_MAX_READ - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            g_propagate_error(error, kernel_error(e, path, NULL));
            return NULL;
        }
        if (n == 0)
            break;
        len += (gsize)n;
    }
    close(fd);
    if (len == XE_SYSFS_MAX_READ) {
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "reading %s: more than %d bytes", path,
                    XE_SYSFS_MAX_READ);
        return NULL;
    }
    if (memchr(buf, '\0', len) != NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "reading %s: a NUL byte in the content",
                    path);
        return NULL;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    buf[len] = '\0';
    return g_steal_pointer(&buf);
}

gboolean
xe_sysfs_read_u64(XeSysfs *sysfs, const char *rel, guint64 *out, GError **error)
{
    g_autofree char *text = xe_sysfs_read(sysfs, rel, error);
    const char *p;
    guint base = 10;

    if (text == NULL)
        return FALSE;
    p = g_strstrip(text);
    if (g_str_has_prefix(p, "0x") || g_str_has_prefix(p, "0X")) {
        base = 16;
        p += 2;
    }
    if (!g_ascii_string_to_unsigned(p, base, 0, G_MAXUINT64, out, NULL)) {
        g_autofree char *path = xe_sysfs_path(sysfs, rel);
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "reading %s: '%s' is not a number", path,
                    text);
        return FALSE;
    }
    return TRUE;
}

gboolean
xe_sysfs_write(XeSysfs *sysfs, const char *rel, const char *value, GError **error)
{
    g_autofree char *path = xe_sysfs_path(sysfs, rel);
    g_autofree char *text =
        g_str_has_suffix(value, "\n") ? g_strdup(value) : g_strconcat(value, "\n", NULL);
    gsize len = strlen(text);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        g_propagate_error(error, kernel_error(errno, path, value));
        return FALSE;
    }
    do
        n = write(fd, text, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;
        close(fd);
        g_propagate_error(error, kernel_error(e, path, value));
        return FALSE;
    }
    close(fd);
    if ((gsize)n != len) {
        g_set_error(error, XE_ERROR, XE_ERROR_KERNEL,
                    "writing '%s' to %s: short write (%zd of %zu)", value, path, n, len);
        return FALSE;
    }
    g_debug("wrote '%s' to %s", value, path);
    return TRUE;
}

gboolean
xe_sysfs_write_u64(XeSysfs *sysfs, const char *rel, guint64 value, GError **error)
{
    char text[32];

    g_snprintf(text, sizeof(text), "%" G_GUINT64_FORMAT, value);
    return xe_sysfs_write(sysfs, rel, text, error);
}

char *
xe_sysfs_link_name(XeSysfs *sysfs, const char *rel, GError **error)
{
    g_autofree char *path = xe_sysfs_path(sysfs, rel);
    g_autoptr(GError) local = NULL;
    g_autofree char *target = g_file_read_link(path, &local);

    if (target == NULL) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return NULL;
        g_propagate_error(error, kernel_error(EINVAL, path, NULL));
        return NULL;
    }
    return g_path_get_basename(target);
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GStrv
xe_sysfs_list(XeSysfs *sysfs, const char *rel, GError **error)
{
    g_autofree char *path = xe_sysfs_path(sysfs, rel);
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) dir = g_dir_open(path, 0, &local);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (dir == NULL) {
        g_propagate_error(
            error,
            kernel_error(g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? ENOENT : EIO,
                         path, NULL));
        return NULL;
    }
    while ((name = g_dir_read_name(dir)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_steal(names, NULL);
}
