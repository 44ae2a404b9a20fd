/* test-sim.c: suite "host", xe-sim itself, with plain open(2)/write(2)/read(2)
 * as any program would use sysfs, asserting the kernel's formats and errnos.
 * Test names carry the Simulation checklist item they prove
 * (shared/reference/kernel-interfaces.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xe-test-sim.h"
#include "xe-test-util.h"

#define PF     "sys/bus/pci/devices/0000:03:00.0/"
#define VF1    "sys/bus/pci/devices/0000:03:00.1/"
#define VF2    "sys/bus/pci/devices/0000:03:00.2/"
#define ADMIN  PF "sriov_admin/"
#define DBG    "sys/kernel/debug/dri/0000:03:00.0/sriov/"
#define DRV_XE "sys/bus/pci/drivers/xe/"
#define DRV_VF "sys/bus/pci/drivers/xe-vfio-pci/"
#define PROBE  "sys/bus/pci/drivers_probe"
#define VFIO1  "sim/vfio/0000:03:00.1/"

static XeTestSim *sim;

static void
setup(void)
{
    sim = xe_test_sim_start(NULL);
}

static void
teardown(void)
{
    g_clear_pointer(&sim, xe_test_sim_stop);
}

#define expect_write(rel, value, want)                                                        \
    do {                                                                                      \
        int _e = xe_test_sim_write(sim, (rel), (value));                                      \
        ck_assert_msg(_e == (want), "write '%s' to %s: got %s (%d), want %s (%d)",            \
                      g_strescape((value), NULL), (rel), _e ? g_strerror(_e) : "success", _e, \
                      (want) ? g_strerror(want) : "success", (want));                         \
    } while (0)

#define expect_read(rel, want)                                                          \
    do {                                                                                \
        int _e;                                                                         \
        g_autofree char *_got = xe_test_sim_read(sim, (rel), &_e);                      \
        ck_assert_msg(_got != NULL, "read %s: %s", (rel), g_strerror(_e));              \
        ck_assert_msg(g_str_equal(_got, (want)), "read %s: got '%s', want '%s'", (rel), \
                      g_strescape(_got, NULL), g_strescape((want), NULL));              \
    } while (0)

#define expect_read_error(rel, want)                                                   \
    do {                                                                               \
        int _e;                                                                        \
        g_autofree char *_got = xe_test_sim_read(sim, (rel), &_e);                     \
        ck_assert_msg(_got == NULL && _e == (want), "read %s: got %s, want %s", (rel), \
                      _got ? "content" : g_strerror(_e), g_strerror(want));            \
    } while (0)

static char *
link_name(const char *rel)
{
    g_autofree char *path = xe_test_sim_path(sim, rel);
    g_autofree char *target = g_file_read_link(path, NULL);

    return target != NULL ? g_path_get_basename(target) : NULL;
}

static gboolean
exists(const char *rel)
{
    g_autofree char *path = xe_test_sim_path(sim, rel);

    return g_file_test(path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK);
}

/* The first @len bytes of @rel (a migration stream can be GiBs); NULL with *err on failure. */
static guint8 *
read_head(const char *rel, gsize len, int *err)
{
    g_autofree char *path = xe_test_sim_path(sim, rel);
    g_autofree guint8 *buf = g_malloc(len);
    int fd = open(path, O_RDONLY);
    gsize got = 0;

    *err = 0;
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n <= 0) {
            *err = n < 0 ? errno : EIO;
            break;
        }
        got += (gsize)n;
    }
    close(fd);
    return *err == 0 ? g_steal_pointer(&buf) : NULL;
}

/* 1. sriov_numvfs */
START_TEST(test_01_numvfs)
{
    expect_read(PF "sriov_totalvfs", "12\n");
    expect_read(PF "sriov_numvfs", "0\n");
    expect_write(PF "sriov_numvfs", "abc\n", EINVAL);
    expect_write(PF "sriov_numvfs", "-1", EINVAL);
    expect_write(PF "sriov_numvfs", "70000", ERANGE); /* kstrtou16 */
    expect_write(PF "sriov_numvfs", "13", ERANGE);    /* > totalvfs */
    expect_write(PF "sriov_numvfs", "0", 0);          /* same value: no-op */
    expect_write(PF "sriov_numvfs", "0x4\n", 0);      /* base 0 */
    expect_read(PF "sriov_numvfs", "4\n");
    expect_write(PF "sriov_numvfs", "4", 0);
    expect_write(PF "sriov_numvfs", "2", EBUSY); /* no partial resize */
    expect_write(PF "sriov_numvfs", "0", 0);
    ck_assert(!exists(VF1));
    /* no PF driver: ENOENT */
    expect_write(DRV_XE "unbind", "0000:03:00.0", 0);
    expect_write(PF "sriov_numvfs", "2", ENOENT);
    ck_assert(!exists(ADMIN));
}
END_TEST

/* 2. links and VF addresses */
START_TEST(test_02_links)
{
    g_autofree char *v0 = NULL, *v3 = NULL, *phys = NULL;

    expect_read(PF "sriov_offset", "1\n");
    expect_read(PF "sriov_stride", "1\n");
    expect_read(PF "sriov_vf_device", "e20b\n"); /* hex, no 0x */
    expect_write(PF "sriov_numvfs", "4", 0);
    v0 = link_name(PF "virtfn0");
    v3 = link_name(PF "virtfn3");
    phys = link_name(VF1 "physfn");
    ck_assert_str_eq(v0, "0000:03:00.1");
    ck_assert_str_eq(v3, "0000:03:00.4");
    ck_assert_str_eq(phys, "0000:03:00.0");
    ck_assert(!exists(PF "virtfn4"));
    expect_write(PF "sriov_numvfs", "0", 0);
    ck_assert(!exists(PF "virtfn0"));
    ck_assert(!exists(VF1));
}
END_TEST

START_TEST(test_02_offset_stride_from_config)
{
    g_autofree char *v0 = NULL, *v1 = NULL;

    g_clear_pointer(&sim, xe_test_sim_stop);
    sim = xe_test_sim_start("[pf 0000:4d:00.0]\nvf-offset=8\nvf-stride=2\ntotal-vfs=200\n");
    expect_write("sys/bus/pci/devices/0000:4d:00.0/sriov_numvfs", "130", 0);
    v0 = link_name("sys/bus/pci/devices/0000:4d:00.0/virtfn0");
    v1 = link_name("sys/bus/pci/devices/0000:4d:00.0/virtfn124");
    ck_assert_str_eq(v0, "0000:4d:01.0"); /* rid 0 + 8 = devfn 0x08 */
    ck_assert_str_eq(v1, "0000:4e:00.0"); /* rid 8 + 2 * 124 = 256: next bus */
}
END_TEST

/* 3. autoprobe */
START_TEST(test_03_autoprobe)
{
    g_autofree char *d1 = NULL;

    expect_read(PF "sriov_drivers_autoprobe", "1\n");
    expect_write(PF "sriov_drivers_autoprobe", "maybe", EINVAL);
    expect_write(PF "sriov_numvfs", "2", 0);
    d1 = link_name(VF1 "driver");
    ck_assert_str_eq(d1, "xe"); /* fresh VFs go to plain xe */
    expect_write(PF "sriov_numvfs", "0", 0);
    expect_write(PF "sriov_drivers_autoprobe", "0", 0);
    expect_write(PF "sriov_numvfs", "2", 0);
    ck_assert(!exists(VF1 "driver"));
}
END_TEST

/* 4. driver_override */
START_TEST(test_04_driver_override)
{
    g_autofree char *big = g_strnfill(4095, 'x');
    g_autofree char *d = NULL;

    expect_write(PF "sriov_numvfs", "1", 0);
    expect_read(VF1 "driver_override", "(null)\n");
    expect_write(VF1 "driver_override", "xe-vfio-pci\n", 0);
    expect_read(VF1 "driver_override", "xe-vfio-pci\n");
    d = link_name(VF1 "driver");
    ck_assert_str_eq(d, "xe"); /* no implicit rebind */
    expect_write(VF1 "driver_override", "\n", 0);
    expect_read(VF1 "driver_override", "(null)\n");
    expect_write(VF1 "driver_override", big, EINVAL);
}
END_TEST

/* 5. bind, unbind, drivers_probe */
START_TEST(test_05_bind_unbind_probe)
{
    g_autofree char *d = NULL;

    expect_write(PF "sriov_drivers_autoprobe", "0", 0);
    expect_write(PF "sriov_numvfs", "2", 0);
    expect_write(DRV_VF "bind", "0000:03:00.1", ENODEV); /* override-only table */
    expect_write(DRV_VF "bind", "0000:09:00.0", ENODEV); /* unknown */
    expect_write(PROBE, "0000:09:00.0", ENODEV);
    expect_write(PROBE, "0000:03:00.1", 0); /* nothing can probe it: still success */
    ck_assert(!exists(VF1 "driver"));
    expect_write(VF1 "driver_override", "xe-vfio-pci", 0);
    expect_write(DRV_XE "bind", "0000:03:00.1", ENODEV); /* override names another driver */
    expect_write(PROBE, "0000:03:00.1", 0);
    d = link_name(VF1 "driver");
    ck_assert_str_eq(d, "xe-vfio-pci");
    ck_assert(exists(DRV_VF "0000:03:00.1"));
    expect_write(DRV_VF "bind", "0000:03:00.1", EBUSY);
    expect_write(PROBE, "0000:03:00.1", 0);                /* bound: no-op */
    expect_write(DRV_XE "unbind", "0000:03:00.1", ENODEV); /* not bound to xe */
    expect_write(DRV_VF "unbind", "0000:03:00.1\n", 0);
    ck_assert(!exists(VF1 "driver"));
    ck_assert(!exists(DRV_VF "0000:03:00.1"));
    expect_write(DRV_VF "bind", "0000:03:00.1", 0);
}
END_TEST

/* 6. xe-vfio-pci refuses a function whose PF is not bound to xe */
START_TEST(test_06_vfio_needs_xe_pf)
{
    expect_write(PF "driver_override", "xe-vfio-pci", 0);
    expect_write(DRV_XE "unbind", "0000:03:00.0", 0);
    expect_write(DRV_VF "bind", "0000:03:00.0", ENODEV);
    expect_write(PROBE, "0000:03:00.0", 0);
    ck_assert(!exists(PF "driver"));
}
END_TEST

/* 7. reset, reset_method */
START_TEST(test_07_reset)
{
    expect_write(PF "sriov_numvfs", "1", 0);
    expect_read(VF1 "reset_method", "flr\n");
    expect_read_error(VF1 "reset", EACCES); /* write-only */
    expect_write(VF1 "reset", "0", EINVAL);
    expect_write(VF1 "reset", "yes", EINVAL);
    expect_write(VF1 "reset", "1\n", 0);
    expect_write(VF1 "reset_method", "bus", EINVAL); /* unsupported for a VF */
    expect_read(VF1 "reset_method", "flr\n");
    expect_write(VF1 "reset_method", "\n", 0);
    expect_read(VF1 "reset_method", "\n");
    expect_write(VF1 "reset", "1", ENOTTY);
    expect_write(VF1 "reset_method", "default", 0);
    expect_write(VF1 "reset", "1", 0);
    expect_read(PF "reset_method", "flr bus\n");
    expect_write(PF "reset_method", "bus flr", 0);
    expect_read(PF "reset_method", "bus flr\n");
}
END_TEST

static void
bind_vf1_to_vfio(void)
{
    expect_write(PF "sriov_drivers_autoprobe", "0", 0);
    expect_write(PF "sriov_numvfs", "2", 0);
    expect_write(VF1 "driver_override", "xe-vfio-pci", 0);
    expect_write(PROBE, "0000:03:00.1", 0);
}

/* 8. a reset during STOP_COPY or RESUMING silently aborts the stream */
START_TEST(test_08_reset_during_migration)
{
    int err;
    g_autofree guint8 *stream = NULL;

    bind_vf1_to_vfio();
    expect_read(VFIO1 "state", "running\n");
    expect_read_error(VFIO1 "data", ENODEV); /* no save fd */
    expect_write(VFIO1 "state", "stop_copy", 0);
    expect_read(VFIO1 "state", "stop_copy\n");
    stream = read_head(VFIO1 "data", 1 << 20, &err);
    ck_assert_msg(stream != NULL, "%s", g_strerror(err));
    xe_test_sim_control(sim, "flr", "0000:03:00.1");
    expect_read(VFIO1 "state", "running\n");
    expect_read_error(VFIO1 "data", ENODEV);

    /* armed: the reset hits as the VF enters resuming */
    xe_test_sim_control(sim, "flr_on_state", "0000:03:00.1 resuming");
    expect_write(VFIO1 "state", "resuming", 0);
    expect_read(VFIO1 "state", "running\n");
    expect_write(VFIO1 "data", "x", ENODEV);
}
END_TEST

/* 9. an invalid arc leaves the VF stopped until an FLR */
START_TEST(test_09_invalid_arc)
{
    bind_vf1_to_vfio();
    expect_write(VFIO1 "state", "pre_copy", EINVAL); /* no PRE_COPY on xe-vfio-pci */
    expect_write(VFIO1 "state", "stop", EIO);
    expect_write(VF1 "reset", "1", 0);
    expect_write(VFIO1 "state", "stop", 0);
    expect_read(VFIO1 "state", "stop\n");
    expect_write(VFIO1 "state", "running", 0);
}
END_TEST

/* 10. migration unsupported */
START_TEST(test_10_migration_unsupported)
{
    g_clear_pointer(&sim, xe_test_sim_stop);
    sim = xe_test_sim_start("[pf 0000:03:00.0]\nguc-version=70.53.0\n");
    bind_vf1_to_vfio();
    expect_read_error(VFIO1 "state", ENOTTY);
    expect_read_error(DBG "vf1/migration_size", ENOPKG);
}
END_TEST

/* 11. sriov_admin tree */
START_TEST(test_11_sriov_admin)
{
    g_autofree char *dev = NULL;

    for (guint i = 1; i <= 12; i++) {
        g_autofree char *rel = g_strdup_printf(ADMIN "vf%u/profile/exec_quantum_ms", i);
        ck_assert_msg(exists(rel), "%s", rel);
    }
    ck_assert(!exists(ADMIN "vf13"));
    ck_assert(!exists(ADMIN "vf1/device"));
    expect_write(PF "sriov_numvfs", "2", 0);
    dev = link_name(ADMIN "vf2/device");
    ck_assert_str_eq(dev, "0000:03:00.2");
    ck_assert(!exists(ADMIN "vf3/device"));
    ck_assert(exists(ADMIN "pf/device"));
}
END_TEST

/* 12. profile files */
START_TEST(test_12_profiles)
{
    expect_read(ADMIN "vf1/profile/exec_quantum_ms", "0\n");
    expect_write(ADMIN "vf1/profile/exec_quantum_ms", "25", 0);
    expect_read(ADMIN "vf1/profile/exec_quantum_ms", "25\n");
    expect_write(ADMIN "vf1/profile/preempt_timeout_us", "0x1000", 0);
    expect_read(ADMIN "vf1/profile/preempt_timeout_us", "4096\n");
    expect_write(ADMIN "vf1/profile/exec_quantum_ms", "4294967296", EINVAL);
    expect_read(ADMIN "vf1/profile/sched_priority", "[low] normal\n");
    expect_write(ADMIN "vf1/profile/sched_priority", "normal", EACCES); /* 0444 */
    expect_read(ADMIN "pf/profile/sched_priority", "[low] normal high\n");
    expect_write(ADMIN "pf/profile/sched_priority", "high", 0);
    expect_read(ADMIN "pf/profile/sched_priority", "low normal [high]\n");
    expect_write(ADMIN "pf/profile/sched_priority", "urgent", EINVAL);
    expect_read_error(ADMIN ".bulk_profile/exec_quantum_ms", EACCES); /* write-only */
    expect_write(ADMIN ".bulk_profile/sched_priority", "high", EINVAL);
    expect_write(ADMIN ".bulk_profile/sched_priority", "normal", 0);
    expect_read(ADMIN "vf7/profile/sched_priority", "low [normal]\n");
    expect_write(ADMIN ".bulk_profile/exec_quantum_ms", "10", 0);
    expect_read(ADMIN "vf12/profile/exec_quantum_ms", "10\n");
    /* GTs that disagree: EUCLEAN */
    expect_write(DBG "vf1/tile0/gt1/exec_quantum_ms", "99", 0);
    expect_read_error(ADMIN "vf1/profile/exec_quantum_ms", EUCLEAN);
    /* injected */
    xe_test_sim_control(sim, "fail", ADMIN "vf2/profile/exec_quantum_ms EIO");
    expect_write(ADMIN "vf2/profile/exec_quantum_ms", "5", EIO);
    expect_write(ADMIN "vf2/profile/exec_quantum_ms", "5", 0);
}
END_TEST

/* 13. stop */
START_TEST(test_13_stop)
{
    expect_write(PF "sriov_numvfs", "2", 0);
    expect_write(ADMIN "vf1/stop", "0", 0); /* no-op */
    expect_write(ADMIN "vf1/stop", "maybe", EINVAL);
    expect_write(ADMIN "vf1/stop", "1", 0);
    expect_write(ADMIN "vf1/stop", "1", EUCLEAN); /* two GTs fold the second error */
    expect_write(VF1 "reset", "1", 0);            /* only an FLR undoes it */
    expect_write(ADMIN "vf1/stop", "y", 0);
}
END_TEST

START_TEST(test_13_stop_single_gt)
{
    g_clear_pointer(&sim, xe_test_sim_stop);
    sim = xe_test_sim_start("[pf 0000:03:00.0]\ngts-per-tile=1\n");
    expect_write(PF "sriov_numvfs", "1", 0);
    expect_write(ADMIN "vf1/stop", "1", 0);
    expect_write(ADMIN "vf1/stop", "1", ESTALE);
}
END_TEST

/* 14. debugfs numbers */
START_TEST(test_14_debugfs)
{
    expect_read(DBG "pf/vfs", "total: 12\nsupported: 12\nenabled: 0\n");
    expect_write(DBG "vf1/tile0/gt0/contexts_quota", "0x100000000", EOVERFLOW); /* u32 */
    expect_write(DBG "vf1/tile0/gt0/contexts_quota", "12x", EINVAL);
    expect_write(DBG "vf1/tile0/gt0/contexts_quota", "0x400", 0);
    expect_read(DBG "vf1/tile0/gt0/contexts_quota", "1024\n");
    expect_write(DBG "vf1/tile0/ggtt_quota", "18446744073709551616", EOVERFLOW); /* > u64 */
    expect_write(DBG "vf1/tile0/gt0/control", "stop\n", 0);
    expect_read(DBG "vf1/tile0/gt0/control", "stop\npause\nresume\n");
    expect_write(DBG "vf1/tile0/gt0/control", "flr", EINVAL);
    expect_write(PF "sriov_numvfs", "1", 0);
    expect_write(DBG "restore_auto_provisioning", "1", EBUSY);
    expect_write(PF "sriov_numvfs", "0", 0);
    expect_write(DBG "restore_auto_provisioning", "1", 0);
    expect_read(DBG "vf1/tile0/gt0/contexts_quota", "0\n");
}
END_TEST

/* 15. auto provisioning splits fairly and releases; custom keeps */
START_TEST(test_15_provisioning_modes)
{
    char want[64];

    expect_read(DBG "vf1/tile0/ggtt_quota", "0\n");
    expect_write(PF "sriov_numvfs", "4", 0);
    g_snprintf(want, sizeof(want), "%llu\n", (((4ull << 30) - (64ull << 20)) / 4) & ~0xffffull);
    expect_read(DBG "vf1/tile0/ggtt_quota", want);
    expect_read(DBG "vf4/tile0/ggtt_quota", want);
    expect_read(DBG "vf5/tile0/ggtt_quota", "0\n");
    expect_write(PF "sriov_numvfs", "0", 0);
    expect_read(DBG "vf1/tile0/ggtt_quota", "0\n"); /* released */
    /* custom: set, enable, disable: kept */
    expect_write(DBG "vf1/tile0/ggtt_quota", "268435456", 0);
    expect_write(PF "sriov_numvfs", "1", 0);
    expect_write(PF "sriov_numvfs", "0", 0);
    expect_read(DBG "vf1/tile0/ggtt_quota", "268435456\n");
}
END_TEST

/* 16. the restore stream is checked as the kernel checks it */
START_TEST(test_16_restore_stream)
{
    g_autofree char *stream = NULL;
    g_autofree char *bad = NULL;
    int err;

    bind_vf1_to_vfio();
    expect_write("sys/bus/pci/devices/0000:03:00.2/driver_override", "xe-vfio-pci", 0);
    expect_write(PROBE, "0000:03:00.2", 0);
    expect_write(VFIO1 "state", "stop_copy", 0);
    stream = (char *)read_head(VFIO1 "data", 40, &err);
    ck_assert(stream != NULL);
    /* a header (24 bytes), the 16-byte descriptor, ... */
    ck_assert_int_eq(stream[0], 1);
    ck_assert_int_eq(stream[1], 1);
    expect_write("sim/vfio/0000:03:00.2/state", "resuming", 0);
    bad = g_memdup2(stream, 40);
    bad[28] = 0x0c; /* device id 0xe20b -> 0xe20c */
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", bad, 40), ENODEV);
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", stream, 40), EIO);
    /* the restore failed: it cannot finish; a reset gets the VF back */
    expect_write("sim/vfio/0000:03:00.2/state", "stop", EIO);
    expect_write("sys/bus/pci/devices/0000:03:00.2/reset", "1", 0);
    /* a fresh resume with the right stream passes until GGTT: same size provisioned */
    expect_write("sim/vfio/0000:03:00.2/state", "resuming", 0);
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", stream, 40), 0);
    /* ... but it ends before its trailer: the restore cannot finish */
    expect_write("sim/vfio/0000:03:00.2/state", "stop", EIO);
    expect_read("sim/vfio/0000:03:00.2/state", "resuming\n");
    bad[0] = 2; /* version */
    expect_write("sys/bus/pci/devices/0000:03:00.2/reset", "1", 0);
    expect_write("sim/vfio/0000:03:00.2/state", "resuming", 0);
    bad[28] = 0x0b;
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", bad, 40), EINVAL);
}
END_TEST

/* 17. PF control errnos */
START_TEST(test_17_pf_control)
{
    expect_write(PF "sriov_numvfs", "1", 0);
    expect_write(DBG "vf1/resume", "1", EPERM); /* running */
    expect_write(DBG "vf1/pause", "1", 0);
    expect_write(DBG "vf1/pause", "1", EUCLEAN); /* 2 GTs: ESTALE folded */
    expect_write(DBG "vf1/resume", "1", 0);
    expect_write(DBG "vf1/stop", "1", 0);
    expect_write(DBG "vf1/pause", "1", EPERM); /* stopped */
    expect_write(DBG "vf1/reset", "1", 0);
    expect_write(DBG "vf1/pause", "1", 0);
}
END_TEST

/* control interface: injected faults, the audit log, and a write that blocks */
START_TEST(test_control_fail_and_audit)
{
    g_autofree char *audit = NULL;

    xe_test_sim_control(sim, "fail", "/" PF "sriov_numvfs EBUSY 2");
    expect_write(PF "sriov_numvfs", "2", EBUSY);
    expect_write(PF "sriov_numvfs", "2", EBUSY);
    expect_write(PF "sriov_numvfs", "2", 0);
    ck_assert_int_eq(xe_test_sim_write(sim, "sim/fail", "nonsense"), EINVAL);
    xe_test_sim_control(sim, "latency", PF "sriov_numvfs 20");
    expect_write(PF "sriov_numvfs", "0", 0);
    audit = xe_test_sim_take_audit(sim);
    ck_assert_str_eq(audit, "1 " PF "sriov_numvfs 2 EBUSY\n"
                            "2 " PF "sriov_numvfs 2 EBUSY\n"
                            "3 " PF "sriov_numvfs 2 ok\n"
                            "4 " PF "sriov_numvfs 0 ok\n");
}
END_TEST

static gpointer
disable_vfs(gpointer data)
{
    return GINT_TO_POINTER(xe_test_sim_write(sim, PF "sriov_numvfs", "0"));
}

START_TEST(test_01_disable_blocks_while_vf_open)
{
    GThread *writer;
    g_autofree char *blocked = NULL;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int err;

    bind_vf1_to_vfio();
    xe_test_sim_control(sim, "opened", "0000:03:00.1 1");
    writer = g_thread_new("disable", disable_vfs, NULL);
    /* Poll (with a deadline) until the simulator reports the write as waiting. */
    for (;;) {
        g_free(blocked);
        blocked = xe_test_sim_read(sim, "sim/blocked", &err);
        if (blocked != NULL && strstr(blocked, "sriov_numvfs") != NULL)
            break;
        ck_assert_msg(g_get_monotonic_time() < deadline, "the disable never blocked");
        g_thread_yield();
    }
    expect_read(PF "sriov_numvfs", "2\n"); /* still enabled meanwhile */
    xe_test_sim_control(sim, "opened", "0000:03:00.1 0");
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(writer)), 0);
    expect_read(PF "sriov_numvfs", "0\n");
}
END_TEST

/* configuration space (sysfs "config", a 4096-byte binary attribute) */

static void
read_config(const char *dev, guint8 *c)
{
    g_autofree char *rel = g_strdup_printf("%sconfig", dev);
    g_autofree guint8 *got = NULL;
    int err;

    got = read_head(rel, 4096, &err);
    ck_assert_msg(got != NULL, "read %s: %s", rel, g_strerror(err));
    memcpy(c, got, 4096);
}

static guint
get16(const guint8 *c, guint at)
{
    return c[at] | c[at + 1] << 8;
}

static guint32
get32(const guint8 *c, guint at)
{
    return (guint32)get16(c, at) | (guint32)get16(c, at + 2) << 16;
}

/* The offset of capability @id in the list from 0x34, or 0. */
static guint
find_cap(const guint8 *c, guint8 id)
{
    for (guint at = c[0x34], n = 0; at != 0 && n < 48; at = c[at + 1], n++)
        if (c[at] == id)
            return at;
    return 0;
}

START_TEST(test_config_pf)
{
    guint8 c[4096];
    guint exp, msix;

    expect_write(PF "sriov_numvfs", "3", 0);
    read_config(PF, c);
    ck_assert_uint_eq(get16(c, 0x00), 0x8086);
    ck_assert_uint_eq(get16(c, 0x02), 0xe20b);
    ck_assert_uint_eq(get16(c, 0x04), 0x0006);        /* memory space, bus master */
    ck_assert(get16(c, 0x06) & 0x10);                 /* capabilities list */
    ck_assert_uint_eq(c[0x08], 0x00);                 /* revision, as the revision file */
    ck_assert_uint_eq(get32(c, 0x08) >> 8, 0x030000); /* class, as the class file */
    ck_assert_uint_eq(c[0x0e], 0x00);                 /* header type 0 */
    ck_assert_uint_eq(get32(c, 0x10) & 0x7, 0x4);     /* BAR0: 64-bit memory */
    ck_assert_uint_ne(get32(c, 0x10) & ~0xfu, 0);
    exp = find_cap(c, 0x10);
    ck_assert_uint_eq(exp, 0x40);
    ck_assert_uint_eq((get16(c, exp + 2) >> 4) & 0xf, 0); /* PCI Express endpoint */
    ck_assert(get32(c, exp + 4) & (1u << 28));            /* DEVCAP: FLR */
    msix = find_cap(c, 0x11);
    ck_assert_uint_eq(msix, 0x80);
    ck_assert_uint_eq((get16(c, msix + 2) & 0x7ff) + 1, 16); /* vectors */
    ck_assert_uint_eq(get32(c, msix + 4) & 7, 0);            /* table in BAR0 */
    ck_assert_uint_eq(get32(c, msix + 8) & 7, 0);            /* PBA in BAR0 */
    /* SR-IOV extended capability at 0x100, NumVFs live */
    ck_assert_uint_eq(get32(c, 0x100) & 0xffff, 0x0010);
    ck_assert_uint_eq(get16(c, 0x10e), 12); /* TotalVFs */
    ck_assert_uint_eq(get16(c, 0x110), 3);  /* NumVFs */
    ck_assert_uint_eq(get16(c, 0x114), 1);  /* First VF Offset */
    ck_assert_uint_eq(get16(c, 0x116), 1);  /* VF Stride */
    ck_assert_uint_eq(get16(c, 0x11a), 0xe20b);
    expect_write(PF "sriov_numvfs", "0", 0);
    read_config(PF, c);
    ck_assert_uint_eq(get16(c, 0x110), 0);
}
END_TEST

START_TEST(test_config_vf)
{
    guint8 c[4096], pf[4096];
    guint exp, msix;

    expect_write(PF "sriov_numvfs", "1", 0);
    read_config(PF, pf);
    read_config(VF1, c);
    /* VFs read 0xffff there; the sysfs vendor/device files are virtualised */
    ck_assert_uint_eq(get16(c, 0x00), 0xffff);
    ck_assert_uint_eq(get16(c, 0x02), 0xffff);
    expect_read(VF1 "vendor", "0x8086\n");
    ck_assert_uint_eq(c[0x0e], 0x00);
    ck_assert_uint_eq(get32(c, 0x08), get32(pf, 0x08)); /* revision and class as the PF's */
    for (guint bar = 0x10; bar <= 0x24; bar += 4)
        ck_assert_uint_eq(get32(c, bar), 0);
    ck_assert_uint_eq(c[0x3d], 0); /* no INTx */
    exp = find_cap(c, 0x10);
    ck_assert_uint_ne(exp, 0);
    ck_assert(get32(c, exp + 4) & (1u << 28));
    msix = find_cap(c, 0x11);
    ck_assert_uint_ne(msix, 0);
    ck_assert_uint_eq((get16(c, msix + 2) & 0x7ff) + 1, 16);
    ck_assert_uint_eq(get32(c, 0x100), 0); /* no extended capabilities */
}
END_TEST

/* "resource": BAR0 (16 MiB, 64-bit) and BAR2 (64-bit prefetchable) of a VF, inside the
 * PF's VF BARs, as pci-sysfs.c prints them */
START_TEST(test_resource_bars)
{
    int err = 0;
    g_autofree char *pf = NULL;
    g_autofree char *vf = NULL;
    g_auto(GStrv) pf_lines = NULL;
    g_auto(GStrv) vf_lines = NULL;

    expect_write(PF "sriov_numvfs", "2", 0);
    pf = xe_test_sim_read(sim, PF "resource", &err);
    vf = xe_test_sim_read(sim, "sys/bus/pci/devices/0000:03:00.2/resource", &err);
    ck_assert(pf != NULL && vf != NULL);
    pf_lines = g_strsplit(pf, "\n", -1);
    vf_lines = g_strsplit(vf, "\n", -1);
    ck_assert_uint_eq(g_strv_length(pf_lines), 14); /* 13 lines and the end */
    ck_assert_str_eq(pf_lines[0], "0x00000000c0000000 0x00000000c0ffffff 0x0000000000140204");
    ck_assert_str_eq(pf_lines[6], "0x0000000000000000 0x0000000000000000 0x0000000000000000");
    ck_assert_str_eq(vf_lines[0], "0x00000000c5000000 0x00000000c5ffffff 0x0000000000140204");
    ck_assert_str_eq(vf_lines[2], "0x0000004410000000 0x000000441fffffff 0x000000000014220c");
    ck_assert_str_eq(vf_lines[1], "0x0000000000000000 0x0000000000000000 0x0000000000000000");
}
END_TEST

/* read at any offset and length, nothing past 4096; read-only (0444) */
START_TEST(test_config_binary_reads)
{
    g_autofree char *path = xe_test_sim_path(sim, PF "config");
    struct stat st;
    guint8 b[8];
    int fd;

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_size, 4096);
    ck_assert_uint_eq(st.st_mode & 0777, 0444);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, b, 1, 0x0e), 1);
    ck_assert_uint_eq(b[0], 0x00);
    ck_assert_int_eq(pread(fd, b, 2, 0x02), 2);
    ck_assert_uint_eq(get16(b, 0), 0xe20b);
    ck_assert_int_eq(pread(fd, b, 8, 4092), 4);
    ck_assert_int_eq(pread(fd, b, 8, 4096), 0);
    close(fd);
    ck_assert_int_eq(open(path, O_WRONLY), -1);
    ck_assert_int_eq(errno, EACCES);
}
END_TEST

/* IOMMU groups: one per function, both ways linked, with the VF's lifetime */

static char *
group_of(const char *dev)
{
    g_autofree char *rel = g_strdup_printf("%siommu_group", dev);
    g_autofree char *path = xe_test_sim_path(sim, rel);
    g_autofree char *target = g_file_read_link(path, NULL);

    ck_assert_msg(target != NULL, "%s is no link", rel);
    ck_assert_msg(g_str_has_prefix(target, "../../../../kernel/iommu_groups/"), "%s", target);
    return g_path_get_basename(target);
}

START_TEST(test_iommu_groups)
{
    g_autofree char *g_pf = group_of(PF);
    g_autofree char *g_vf1 = NULL, *g_vf2 = NULL, *again = NULL;
    g_autofree char *dev_real = NULL, *back_real = NULL, *group_real = NULL, *want_real = NULL;
    g_autofree char *group_dir = NULL, *back = NULL, *dev = NULL, *want = NULL;

    ck_assert_str_eq(g_pf, "768"); /* domain << 16 | bus << 8 | devfn */
    expect_write(PF "sriov_numvfs", "2", 0);
    g_vf1 = group_of(VF1);
    g_vf2 = group_of(VF2);
    ck_assert_str_eq(g_vf1, "769");
    ck_assert_str_eq(g_vf2, "770");
    /* the link resolves to ROOT/sys/kernel/iommu_groups/<G>, which links back */
    group_dir = xe_test_sim_path(sim, VF1 "iommu_group");
    group_real = realpath(group_dir, NULL);
    want = xe_test_sim_path(sim, "sys/kernel/iommu_groups/769");
    want_real = realpath(want, NULL);
    ck_assert(group_real != NULL && want_real != NULL);
    ck_assert_str_eq(group_real, want_real);
    back = xe_test_sim_path(sim, "sys/kernel/iommu_groups/769/devices/0000:03:00.1");
    back_real = realpath(back, NULL);
    dev = xe_test_sim_path(sim, VF1);
    dev_real = realpath(dev, NULL);
    ck_assert(back_real != NULL && dev_real != NULL);
    ck_assert_str_eq(back_real, dev_real);
    expect_read("sys/kernel/iommu_groups/769/type", "DMA\n");
    /* gone with the VFs, the same numbers when they come back */
    expect_write(PF "sriov_numvfs", "0", 0);
    ck_assert(!exists("sys/kernel/iommu_groups/769"));
    ck_assert(exists("sys/kernel/iommu_groups/768/devices/0000:03:00.0"));
    expect_write(PF "sriov_numvfs", "1", 0);
    again = group_of(VF1);
    ck_assert_str_eq(again, "769");
}
END_TEST

/* vfio-dev/vfio<N>: while bound to xe-vfio-pci, N a unique minor */
START_TEST(test_vfio_dev_while_bound)
{
    bind_vf1_to_vfio();
    ck_assert(exists(VF1 "vfio-dev/vfio0"));
    expect_read(VF1 "vfio-dev/vfio0/dev", "236:0\n");
    ck_assert(!exists(VF2 "vfio-dev"));
    expect_write(VF2 "driver_override", "xe-vfio-pci", 0);
    expect_write(PROBE, "0000:03:00.2", 0);
    ck_assert(exists(VF2 "vfio-dev/vfio1"));
    expect_write(DRV_VF "unbind", "0000:03:00.1", 0);
    ck_assert(!exists(VF1 "vfio-dev"));
    expect_write(DRV_VF "bind", "0000:03:00.1", 0);
    ck_assert(exists(VF1 "vfio-dev/vfio0")); /* the lowest free minor again */
    ck_assert(exists(VF2 "vfio-dev/vfio1"));
}
END_TEST

/* sim/vfio/<VF>/device: the VFIO group and device fds of a user */

/* open(O_RDWR): 0 and *fd, or the errno */
static int
open_device(const char *vfio, int *fd)
{
    g_autofree char *rel = g_strdup_printf("%sdevice", vfio);
    g_autofree char *path = xe_test_sim_path(sim, rel);

    *fd = open(path, O_RDWR);
    return *fd >= 0 ? 0 : errno;
}

/* A release arrives asynchronously after the last close: wait for its reset. */
static void
wait_state(const char *vfio, const char *want)
{
    g_autofree char *rel = g_strdup_printf("%sstate", vfio);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        int err;
        g_autofree char *got = xe_test_sim_read(sim, rel, &err);

        if (got != NULL && g_str_equal(got, want))
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline, "%s never became %s", rel, want);
        g_usleep(1000);
    }
}

static void
wait_blocked(const char *what)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        int err;
        g_autofree char *blocked = xe_test_sim_read(sim, "sim/blocked", &err);

        if (blocked != NULL && strstr(blocked, what) != NULL)
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline, "%s never blocked", what);
        g_usleep(1000);
    }
}

START_TEST(test_vfio_device_needs_vfio_driver)
{
    int fd;

    ck_assert_int_eq(open_device(VFIO1, &fd), ENODEV); /* no such VF yet */
    expect_write(PF "sriov_numvfs", "2", 0);
    ck_assert_int_eq(open_device(VFIO1, &fd), ENODEV); /* bound to xe */
    expect_write(DRV_XE "unbind", "0000:03:00.1", 0);
    ck_assert_int_eq(open_device(VFIO1, &fd), ENODEV); /* no driver */
    expect_write(VF1 "driver_override", "xe-vfio-pci", 0);
    expect_write(PROBE, "0000:03:00.1", 0);
    ck_assert_int_eq(open_device(VFIO1, &fd), 0);
    close(fd);
}
END_TEST

/* one user at a time (group exclusivity), whichever way it opened */
START_TEST(test_vfio_device_exclusive)
{
    int fd, fd2;

    bind_vf1_to_vfio();
    xe_test_sim_control(sim, "opened", "0000:03:00.1 1"); /* as xe-fake-qemu opens */
    ck_assert_int_eq(open_device(VFIO1, &fd), EBUSY);
    xe_test_sim_control(sim, "opened", "0000:03:00.1 0");
    ck_assert_int_eq(open_device(VFIO1, &fd), 0);
    ck_assert_int_eq(open_device(VFIO1, &fd2), EBUSY);
    close(fd);
}
END_TEST

/* close is close_device: the VF is released and reset (FLR) */
START_TEST(test_vfio_device_close_resets)
{
    g_autofree guint8 *head = NULL;
    int fd, err;

    bind_vf1_to_vfio();
    ck_assert_int_eq(open_device(VFIO1, &fd), 0);
    expect_read(VFIO1 "state", "running\n");
    expect_write(VFIO1 "state", "stop_copy", 0);
    head = read_head(VFIO1 "data", 64, &err);
    ck_assert(head != NULL);
    close(fd);
    wait_state(VFIO1, "running\n");
    expect_read_error(VFIO1 "data", ENODEV);
    expect_write(PF "sriov_numvfs", "0", 0); /* released: nothing to wait for */
}
END_TEST

static pid_t
spawn_holder(const char *vfio)
{
    g_autofree char *rel = g_strdup_printf("%sdevice", vfio);
    g_autofree char *path = xe_test_sim_path(sim, rel);
    int ready[2];
    char c = 0;
    pid_t child;

    ck_assert_int_eq(pipe(ready), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int fd = open(path, O_RDWR);

        c = fd >= 0 ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        for (;;)
            pause();
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1 || c != 'y') {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        ck_abort_msg("the holder could not open %s", rel);
    }
    close(ready[0]);
    return child;
}

/* SIGKILL of the holder: FUSE still releases, and the VF is reset */
START_TEST(test_vfio_device_holder_killed_resets)
{
    pid_t child;
    int fd;

    bind_vf1_to_vfio();
    child = spawn_holder(VFIO1);
    ck_assert_int_eq(open_device(VFIO1, &fd), EBUSY);
    expect_write(VFIO1 "state", "stop_copy", 0);
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    wait_state(VFIO1, "running\n"); /* close_device: FLR */
    expect_read_error(VFIO1 "data", ENODEV);
    ck_assert_int_eq(open_device(VFIO1, &fd), 0);
    close(fd);
}
END_TEST

START_TEST(test_vfio_device_holder_killed_unblocks_disable)
{
    GThread *writer;
    pid_t child;

    bind_vf1_to_vfio();
    child = spawn_holder(VFIO1);
    writer = g_thread_new("disable", disable_vfs, NULL);
    wait_blocked("sriov_numvfs");
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(writer)), 0);
    expect_read(PF "sriov_numvfs", "0\n");
}
END_TEST

/* the migration stream (kernel-interfaces.md §5) */

typedef struct {
    guint8 version, type, tile, gt;
    guint32 flags;
    guint64 offset, size;
} Hdr;

static Hdr
parse_hdr(const guint8 *h)
{
    Hdr r = { h[0], h[1], h[2], h[3], get32(h, 4), 0, 0 };

    r.offset = (guint64)get32(h, 8) | (guint64)get32(h, 12) << 32;
    r.size = (guint64)get32(h, 16) | (guint64)get32(h, 20) << 32;
    return r;
}

/* The payload pattern (tests/sim/README.md): the word at address A of a packet
 * is output A / 8 of SplitMix64 seeded with seed << 32 | type << 16 | tile << 8 | gt. */
static guint64
pattern_word(const Hdr *h, guint64 addr)
{
    guint64 key = (guint64)h->flags << 32 | (guint64)h->type << 16 | (guint64)h->tile << 8 | h->gt;
    guint64 z = key + (addr / 8 + 1) * 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static guint64
migration_size(guint vf)
{
    g_autofree char *rel = g_strdup_printf(DBG "vf%u/migration_size", vf);
    int err;
    g_autofree char *text = xe_test_sim_read(sim, rel, &err);

    ck_assert_msg(text != NULL, "%s: %s", rel, g_strerror(err));
    return g_ascii_strtoull(text, NULL, 10);
}

static guint32
save_seed(const char *vfio)
{
    g_autofree char *rel = g_strdup_printf("%sstream", vfio);
    int err;
    g_autofree char *text = xe_test_sim_read(sim, rel, &err);
    guint32 seed = 0;

    ck_assert(text != NULL);
    ck_assert_msg(sscanf(text, "save %x", &seed) == 1, "%s", text);
    return seed;
}

/* The whole layout by headers (pread at each packet), and its end: what
 * migration_size says; 12 GiB / 2 VFs: VRAM in 512 MiB chunks. */
START_TEST(test_stream_layout_matches_migration_size)
{
    static const guint8 want[] = { 1, 5, 4, 5, 4, 3 }; /* then VRAM chunks, the trailer */
    g_autofree char *path = xe_test_sim_path(sim, VFIO1 "data");
    guint64 size, pos = 0, vram = 0, vram_quota;
    guint32 seed;
    guint n = 0;
    guint8 h[24], b[8];
    gboolean trailer = FALSE;
    int fd;

    bind_vf1_to_vfio();
    {
        int err;
        g_autofree char *q = xe_test_sim_read(sim, DBG "vf1/tile0/vram_quota", &err);
        vram_quota = g_ascii_strtoull(q, NULL, 10);
    }
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    seed = save_seed(VFIO1);
    ck_assert_uint_ne(seed, 0);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    while (!trailer) {
        Hdr hd;

        ck_assert_int_eq(pread(fd, h, 24, (off_t)pos), 24);
        hd = parse_hdr(h);
        ck_assert_uint_eq(hd.version, 1);
        ck_assert_uint_eq(hd.flags, seed); /* every header carries the seed */
        if (n < G_N_ELEMENTS(want)) {
            ck_assert_uint_eq(hd.type, want[n]);
        } else if (hd.type == 6) {
            ck_assert_uint_eq(hd.offset, vram); /* chunks in order */
            ck_assert_uint_le(hd.size, 512u << 20);
            vram += hd.size;
        } else {
            ck_assert_uint_eq(hd.type, 2);
            ck_assert_uint_eq(hd.size, 0);
            trailer = TRUE;
        }
        if (hd.type == 1) {
            ck_assert_uint_eq(hd.size, 16);
            ck_assert_int_eq(pread(fd, b, 8, (off_t)pos + 24), 8);
            ck_assert_uint_eq(get32(b, 0), 0xF001u << 16 | 1);
            ck_assert_uint_eq(get32(b, 4), 0xe20b);
        }
        if (hd.type == 5 || hd.type == 4)
            ck_assert_uint_eq(hd.gt, (n - 1) / 2);
        if (hd.type == 3) /* a PTE per 4 KiB of GGTT */
            ck_assert_uint_eq(hd.size, ((((4ull << 30) - (64ull << 20)) / 2) & ~0xffffull) / 512);
        pos += 24 + hd.size;
        n++;
    }
    ck_assert_uint_eq(vram, vram_quota);
    ck_assert_uint_eq(n, 6 + (vram_quota + (512u << 20) - 1) / (512u << 20) + 1);
    ck_assert_uint_eq(pos, size);
    ck_assert_int_eq(pread(fd, b, 8, (off_t)pos - 1), 1);
    ck_assert_int_eq(pread(fd, b, 8, (off_t)pos), 0); /* end of stream */
    close(fd);
}
END_TEST

/* payloads: a pattern of (seed, type, tile, gt, address); a new seed per save */
START_TEST(test_stream_payload_pattern)
{
    g_autofree char *path = xe_test_sim_path(sim, VFIO1 "data");
    guint64 pos = 0;
    guint32 first;
    guint8 h[24], b[16];
    int fd;

    bind_vf1_to_vfio();
    expect_write(VFIO1 "state", "stop_copy", 0);
    first = save_seed(VFIO1);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    for (;;) {
        Hdr hd;

        ck_assert_int_eq(pread(fd, h, 24, (off_t)pos), 24);
        hd = parse_hdr(h);
        if (hd.type == 2)
            break;
        if (hd.type != 1) {
            guint64 w0 = pattern_word(&hd, hd.offset), w1 = pattern_word(&hd, hd.offset + 8);

            ck_assert_int_eq(pread(fd, b, 16, (off_t)pos + 24), 16);
            ck_assert_msg(memcmp(b, &w0, 8) == 0 && memcmp(b + 8, &w1, 8) == 0,
                          "packet type %u at %" G_GUINT64_FORMAT ": not the pattern", hd.type, pos);
            /* an unaligned read in the middle agrees */
            ck_assert_int_eq(pread(fd, b, 5, (off_t)(pos + 24 + hd.size - 13)), 5);
            w0 = pattern_word(&hd, hd.offset + hd.size - 16);
            ck_assert(memcmp(b, (guint8 *)&w0 + 3, 5) == 0);
        }
        pos += 24 + hd.size;
    }
    close(fd);
    expect_write(VFIO1 "state", "stop", 0);
    expect_read_error(VFIO1 "data", ENODEV);
    expect_read(VFIO1 "stream", "save - 0\nrestored -\n");
    expect_write(VFIO1 "state", "stop_copy", 0);
    ck_assert_uint_ne(save_seed(VFIO1), first);
}
END_TEST

/* Source VF1 and destination VF2, both on xe-vfio-pci, provisioned alike
 * with a small VRAM (GGTT: the fair auto split, the same for both). */
static void
two_small_vfs(const char *vram)
{
    bind_vf1_to_vfio();
    expect_write(VF2 "driver_override", "xe-vfio-pci", 0);
    expect_write(PROBE, "0000:03:00.2", 0);
    expect_write(DBG "vf1/tile0/vram_quota", vram, 0);
    expect_write(DBG "vf2/tile0/vram_quota", vram, 0);
}

#define VFIO2 "sim/vfio/0000:03:00.2/"

/* Copies VF1's save stream to VF2's resume fd in @chunk-byte pieces, the
 * byte at @corrupt flipped, @skip bytes left out at @skip_at, up to @limit
 * bytes; 0 or the first failed write's errno (*copied: bytes read so far). */
static int
copy_stream(gsize chunk, guint64 corrupt, guint64 skip_at, guint64 skip, guint64 limit,
            guint64 *copied)
{
    g_autofree char *src_path = xe_test_sim_path(sim, VFIO1 "data");
    g_autofree char *dst_path = xe_test_sim_path(sim, VFIO2 "data");
    g_autofree guint8 *buf = g_malloc(chunk);
    int src = open(src_path, O_RDONLY), dst = open(dst_path, O_WRONLY);
    guint64 pos = 0;
    int err = 0;

    ck_assert(src >= 0 && dst >= 0);
    while (pos < limit) {
        ssize_t n = read(src, buf, (size_t)MIN(chunk, limit - pos));
        guint8 *p = buf;
        gsize len;

        ck_assert_msg(n >= 0, "save read: %s", g_strerror(errno));
        if (n == 0)
            break;
        len = (gsize)n;
        if (corrupt >= pos && corrupt < pos + len)
            buf[corrupt - pos] ^= 0x01;
        if (skip_at >= pos && skip_at < pos + len) { /* cut @skip bytes out */
            gsize keep = (gsize)(skip_at - pos);

            memmove(buf + keep, buf + MIN(len, keep + skip), len - MIN(len, keep + skip));
            len -= MIN(len, keep + skip) - keep;
        }
        pos += (guint64)n;
        if (len > 0 && write(dst, p, len) < 0) {
            err = errno;
            break;
        }
    }
    *copied = pos;
    close(src);
    close(dst);
    return err;
}

/* a whole stream, in odd pieces: restored (its seed), length = migration_size */
START_TEST(test_restore_full_stream)
{
    guint64 copied, size;
    guint32 seed;
    g_autofree char *want = NULL;

    two_small_vfs("67108864");
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    seed = save_seed(VFIO1);
    expect_write(VFIO2 "state", "resuming", 0);
    ck_assert_int_eq(copy_stream(100003, G_MAXUINT64, G_MAXUINT64, 0, G_MAXUINT64, &copied), 0);
    ck_assert_uint_eq(copied, size); /* the stream is exactly migration_size long */
    expect_write(VFIO2 "state", "stop", 0);
    want = g_strdup_printf("save - 0\nrestored %08x\n", seed);
    expect_read(VFIO2 "stream", want);
    expect_write(VFIO2 "state", "running", 0);
    expect_write(VF2 "reset", "1", 0); /* an FLR loses the restored state */
    expect_read(VFIO2 "stream", "save - 0\nrestored -\n");
}
END_TEST

/* a flipped byte in a payload: EINVAL, then EIO; the restore cannot finish */
START_TEST(test_restore_corrupted_payload)
{
    guint64 copied, size;

    two_small_vfs("67108864");
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    expect_write(VFIO2 "state", "resuming", 0);
    /* in the VRAM: just before the trailer */
    ck_assert_int_eq(copy_stream(1 << 20, size - 24 - 1000, G_MAXUINT64, 0, G_MAXUINT64, &copied),
                     EINVAL);
    ck_assert_int_eq(xe_test_sim_write_len(sim, VFIO2 "data", "x", 1), EIO);
    expect_write(VFIO2 "state", "stop", EIO);
    expect_read(VFIO2 "stream", "save - 0\nrestored -\n");
}
END_TEST

/* a stream cut short (no trailer) or with bytes missing */
START_TEST(test_restore_truncated_stream)
{
    guint64 copied, size;

    two_small_vfs("67108864");
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    expect_write(VFIO2 "state", "resuming", 0);
    ck_assert_int_eq(copy_stream(1 << 20, G_MAXUINT64, G_MAXUINT64, 0, size - 24, &copied), 0);
    expect_write(VFIO2 "state", "stop", EIO); /* restore finish: data not fully received */
    expect_read(VFIO2 "state", "resuming\n");
    /* 4 KiB missing in the middle: the next bytes are not what that place holds */
    expect_write(VF2 "reset", "1", 0);
    expect_write(VFIO2 "state", "resuming", 0);
    ck_assert_int_eq(copy_stream(1 << 20, G_MAXUINT64, size / 2, 4096, G_MAXUINT64, &copied),
                     EINVAL);
}
END_TEST

/* packets of two saves spliced: the seed differs, EINVAL */
START_TEST(test_restore_spliced_streams)
{
    g_autofree guint8 *first = NULL, *second = NULL;
    int err;

    two_small_vfs("67108864");
    expect_write(VFIO1 "state", "stop_copy", 0);
    first = read_head(VFIO1 "data", 40, &err); /* header and descriptor */
    expect_write(VFIO1 "state", "stop", 0);
    expect_write(VFIO1 "state", "stop_copy", 0);
    second = read_head(VFIO1 "data", 40 + 24 + 1024, &err); /* ... and the first GuC packet */
    ck_assert(first != NULL && second != NULL);
    expect_write(VFIO2 "state", "resuming", 0);
    ck_assert_int_eq(xe_test_sim_write_len(sim, VFIO2 "data", (char *)first, 40), 0);
    ck_assert_int_eq(xe_test_sim_write_len(sim, VFIO2 "data", (char *)second + 40, 24 + 1024),
                     EINVAL);
}
END_TEST

/* sim/vfio_rate */

typedef struct {
    guint64 limit; /* 0: to the end */
    guint64 bytes;
    gint64 elapsed_us;
    int err;
    gsize short_reads; /* reads that returned less than asked before the end */
    gint done;
} Reader;

static gpointer
read_stream(gpointer data)
{
    Reader *r = data;
    g_autofree char *path = xe_test_sim_path(sim, VFIO1 "data");
    g_autofree guint8 *buf = g_malloc(1 << 20);
    gint64 start = g_get_monotonic_time();
    int fd = open(path, O_RDONLY);
    ssize_t n = 0;

    while (fd >= 0 && (r->limit == 0 || r->bytes < r->limit)) {
        gsize want = r->limit == 0 ? 1 << 20 : (gsize)MIN(1 << 20, r->limit - r->bytes);

        n = read(fd, buf, want);
        if (n <= 0)
            break;
        if ((gsize)n < want)
            r->short_reads++;
        r->bytes += (guint64)n;
    }
    r->err = fd < 0 || n < 0 ? errno : 0;
    r->elapsed_us = g_get_monotonic_time() - start;
    if (fd >= 0)
        close(fd);
    g_atomic_int_set(&r->done, 1);
    return NULL;
}

/* a 1 GiB VRAM VF at 512 MiB/s saves in about 2 s; sysfs is served meanwhile */
START_TEST(test_vfio_rate_limits_save)
{
    Reader r = { 0 };
    GThread *reader;
    gint64 slowest = 0;
    guint64 size;

    bind_vf1_to_vfio();
    expect_read("sim/vfio_rate", "0\n");
    expect_write("sim/vfio_rate", "-1", EINVAL);
    expect_write(DBG "vf1/tile0/vram_quota", "1073741824", 0);
    xe_test_sim_control(sim, "vfio_rate", "536870912");
    expect_read("sim/vfio_rate", "536870912\n");
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    reader = g_thread_new("save", read_stream, &r);
    while (!g_atomic_int_get(&r.done)) {
        gint64 t0 = g_get_monotonic_time();

        expect_read(PF "sriov_numvfs", "2\n");
        expect_read(VFIO1 "state", "stop_copy\n");
        slowest = MAX(slowest, g_get_monotonic_time() - t0);
        g_usleep(10000);
    }
    g_thread_join(reader);
    ck_assert_int_eq(r.err, 0);
    ck_assert_uint_eq(r.bytes, size);
    ck_assert_uint_le(r.short_reads, 1); /* the last one */
    ck_assert_msg(r.elapsed_us >= 1900000 && r.elapsed_us < 6000000, "took %" G_GINT64_FORMAT " us",
                  r.elapsed_us);
    ck_assert_msg(slowest < 250000, "sysfs stalled %" G_GINT64_FORMAT " us", slowest);
}
END_TEST

/* a transfer waiting for its rate holds nothing: other files answer at once */
START_TEST(test_vfio_rate_does_not_stall_other_files)
{
    Reader r = { .limit = 512 * 1024 };
    GThread *reader;

    bind_vf1_to_vfio();
    xe_test_sim_control(sim, "vfio_rate", "262144"); /* 256 KiB/s: 2 s for 512 KiB */
    expect_write(VFIO1 "state", "stop_copy", 0);
    reader = g_thread_new("save", read_stream, &r);
    g_usleep(300000);
    for (guint i = 0; i < 5; i++) {
        gint64 t0 = g_get_monotonic_time(), took;

        expect_read(PF "sriov_numvfs", "2\n");
        expect_read(VFIO1 "state", "stop_copy\n");
        expect_read(DBG "vf2/tile0/gt0/exec_quantum_ms", "0\n");
        took = g_get_monotonic_time() - t0;
        ck_assert_msg(took < 100000, "other files waited %" G_GINT64_FORMAT " us", took);
        ck_assert(!g_atomic_int_get(&r.done));
    }
    g_thread_join(reader);
    ck_assert_int_eq(r.err, 0);
    ck_assert_uint_eq(r.bytes, 512 * 1024);
    ck_assert_msg(r.elapsed_us >= 1900000, "took %" G_GINT64_FORMAT " us", r.elapsed_us);
}
END_TEST

/* the restore side is limited too */
START_TEST(test_vfio_rate_limits_restore)
{
    g_autofree guint8 *stream = NULL;
    g_autofree char *dst_path = xe_test_sim_path(sim, VFIO2 "data");
    guint64 size, pos = 0;
    gint64 start, elapsed;
    int err, fd;

    two_small_vfs("33554432");
    size = migration_size(1);
    expect_write(VFIO1 "state", "stop_copy", 0);
    stream = read_head(VFIO1 "data", size, &err); /* unlimited: at once */
    ck_assert(stream != NULL);
    xe_test_sim_control(sim, "vfio_rate", "33554432"); /* 32 MiB/s */
    expect_write(VFIO2 "state", "resuming", 0);
    fd = open(dst_path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    start = g_get_monotonic_time();
    while (pos < size) {
        ssize_t n = write(fd, stream + pos, (size_t)MIN(size - pos, 1u << 20));

        ck_assert_msg(n > 0, "write: %s", g_strerror(errno));
        pos += (guint64)n;
    }
    elapsed = g_get_monotonic_time() - start;
    close(fd);
    expect_write(VFIO2 "state", "stop", 0);
    /* 32 MiB of VRAM and ~4 MiB of GGTT PTEs at 32 MiB/s: over a second */
    ck_assert_msg(elapsed >= (gint64)(size * G_USEC_PER_SEC / 33554432) - 50000,
                  "took %" G_GINT64_FORMAT " us", elapsed);
}
END_TEST

/* audit: every state request, and the arcs walked for it */
START_TEST(test_audit_vfio_arcs)
{
    g_autofree char *a1 = NULL, *a2 = NULL, *a3 = NULL;

    bind_vf1_to_vfio();
    xe_test_sim_control(sim, "audit", "clear");
    expect_write(VFIO1 "state", "stop_copy", 0);
    a1 = xe_test_sim_take_audit(sim);
    ck_assert_str_eq(a1, "1 vfio 0000:03:00.1 state running -> running_p2p\n"
                         "2 vfio 0000:03:00.1 state running_p2p -> stop\n"
                         "3 vfio 0000:03:00.1 state stop -> stop_copy\n"
                         "4 " VFIO1 "state stop_copy ok\n");
    expect_write(VFIO1 "state", "running\n", 0);
    expect_write(VFIO1 "state", "running", 0); /* no arc */
    expect_write(VFIO1 "state", "pre_copy", EINVAL);
    a2 = xe_test_sim_take_audit(sim);
    ck_assert_str_eq(a2, "1 vfio 0000:03:00.1 state stop_copy -> stop\n"
                         "2 vfio 0000:03:00.1 state stop -> running_p2p\n"
                         "3 vfio 0000:03:00.1 state running_p2p -> running\n"
                         "4 " VFIO1 "state running\\n ok\n"
                         "5 " VFIO1 "state running ok\n"
                         "6 " VFIO1 "state pre_copy EINVAL\n");
    expect_write(VF1 "reset", "1", 0);
    expect_write(VFIO1 "state", "resuming", 0);
    expect_write(VFIO1 "state", "running", EIO); /* nothing restored */
    a3 = xe_test_sim_take_audit(sim);
    ck_assert_str_eq(a3, "1 " VF1 "reset 1 ok\n"
                         "2 vfio 0000:03:00.1 state running -> running_p2p\n"
                         "3 vfio 0000:03:00.1 state running_p2p -> stop\n"
                         "4 vfio 0000:03:00.1 state stop -> resuming\n"
                         "5 " VFIO1 "state resuming ok\n"
                         "6 vfio 0000:03:00.1 state resuming -> stop EIO\n"
                         "7 " VFIO1 "state running EIO\n");
}
END_TEST

static Suite *
sim_suite(void)
{
    Suite *s = suite_create("host-sim");
    TCase *tc = tcase_create("checklist");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_01_numvfs);
    tcase_add_test(tc, test_01_disable_blocks_while_vf_open);
    tcase_add_test(tc, test_02_links);
    tcase_add_test(tc, test_02_offset_stride_from_config);
    tcase_add_test(tc, test_03_autoprobe);
    tcase_add_test(tc, test_04_driver_override);
    tcase_add_test(tc, test_05_bind_unbind_probe);
    tcase_add_test(tc, test_06_vfio_needs_xe_pf);
    tcase_add_test(tc, test_07_reset);
    tcase_add_test(tc, test_08_reset_during_migration);
    tcase_add_test(tc, test_09_invalid_arc);
    tcase_add_test(tc, test_10_migration_unsupported);
    tcase_add_test(tc, test_11_sriov_admin);
    tcase_add_test(tc, test_12_profiles);
    tcase_add_test(tc, test_13_stop);
    tcase_add_test(tc, test_13_stop_single_gt);
    tcase_add_test(tc, test_14_debugfs);
    tcase_add_test(tc, test_15_provisioning_modes);
    tcase_add_test(tc, test_16_restore_stream);
    tcase_add_test(tc, test_17_pf_control);
    tcase_add_test(tc, test_control_fail_and_audit);
    tcase_add_test(tc, test_config_pf);
    tcase_add_test(tc, test_config_vf);
    tcase_add_test(tc, test_resource_bars);
    tcase_add_test(tc, test_config_binary_reads);
    tcase_add_test(tc, test_iommu_groups);
    tcase_add_test(tc, test_vfio_dev_while_bound);
    tcase_add_test(tc, test_vfio_device_needs_vfio_driver);
    tcase_add_test(tc, test_vfio_device_exclusive);
    tcase_add_test(tc, test_vfio_device_close_resets);
    tcase_add_test(tc, test_vfio_device_holder_killed_resets);
    tcase_add_test(tc, test_vfio_device_holder_killed_unblocks_disable);
    tcase_add_test(tc, test_stream_layout_matches_migration_size);
    tcase_add_test(tc, test_stream_payload_pattern);
    tcase_add_test(tc, test_restore_full_stream);
    tcase_add_test(tc, test_restore_corrupted_payload);
    tcase_add_test(tc, test_restore_truncated_stream);
    tcase_add_test(tc, test_restore_spliced_streams);
    tcase_add_test(tc, test_vfio_rate_limits_save);
    tcase_add_test(tc, test_vfio_rate_does_not_stall_other_files);
    tcase_add_test(tc, test_vfio_rate_limits_restore);
    tcase_add_test(tc, test_audit_vfio_arcs);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    return xe_test_run_suite(sim_suite());
}
