/* test-sim.c: suite "host", xe-sim itself, with plain open(2)/write(2)/read(2)
 * as any program would use sysfs, asserting the kernel's formats and errnos.
 * Test names carry the Simulation checklist item they prove
 * (shared/reference/kernel-interfaces.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
    g_autofree char *stream = NULL;

    bind_vf1_to_vfio();
    expect_read(VFIO1 "state", "running\n");
    expect_read_error(VFIO1 "data", ENODEV); /* no save fd */
    expect_write(VFIO1 "state", "stop_copy", 0);
    expect_read(VFIO1 "state", "stop_copy\n");
    stream = xe_test_sim_read(sim, VFIO1 "data", &err);
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
    stream = xe_test_sim_read(sim, VFIO1 "data", &err);
    ck_assert(stream != NULL);
    /* a header (24 bytes), the 16-byte descriptor, ... */
    ck_assert_int_eq(stream[0], 1);
    ck_assert_int_eq(stream[1], 1);
    expect_write("sim/vfio/0000:03:00.2/state", "resuming", 0);
    bad = g_memdup2(stream, 40);
    bad[28] = 0x0c; /* device id 0xe20b -> 0xe20c */
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", bad, 40), ENODEV);
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", stream, 40), EIO);
    /* a fresh resume with the right stream passes until GGTT: same size provisioned */
    expect_write("sim/vfio/0000:03:00.2/state", "stop", 0);
    expect_write("sim/vfio/0000:03:00.2/state", "resuming", 0);
    ck_assert_int_eq(xe_test_sim_write_len(sim, "sim/vfio/0000:03:00.2/data", stream, 40), 0);
    bad[0] = 2; /* version */
    expect_write("sim/vfio/0000:03:00.2/state", "stop", 0);
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
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    return xe_test_run_suite(sim_suite());
}
