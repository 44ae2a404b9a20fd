/* test-host.c: suite "host", the src/ host layer (XeSysfs, XeHost,
 * XeProfile) against a live xe-sim mount: discovery, enable/disable, the bind
 * sequence as the audit log records it, rollbacks after injected failures,
 * the guard, profiles, compatibility, reset and migration size, and the
 * error messages an operator reads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>

#include "xe-error.h"
#include "xe-host.h"
#include "xe-pci.h"
#include "xe-profile.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define PF_BDF "0000:03:00.0"
#define VF1    "0000:03:00.1"
#define VF2    "0000:03:00.2"
#define DEVS   "sys/bus/pci/devices/"

static XeTestSim *sim;
static XeHost *host;

static void
start(const char *config)
{
    sim = xe_test_sim_start(config);
    host = xe_host_new(sim->root);
}

static void
setup(void)
{
    start(NULL);
}

static void
teardown(void)
{
    g_clear_object(&host);
    g_clear_pointer(&sim, xe_test_sim_stop);
}

static void
restart(const char *config)
{
    teardown();
    start(config);
}

#define assert_ok(call)                                                 \
    do {                                                                \
        g_autoptr(GError) _e = NULL;                                    \
        ck_assert_msg((call), "%s: %s", #call, _e ? _e->message : "?"); \
    } while (0)
/* The macro above needs the call to use &_e as its error: */
#define E (&_e)

static void
assert_error(const GError *error, int code, const char *part)
{
    ck_assert_msg(error != NULL, "expected an error containing '%s'", part);
    ck_assert_msg(error->domain == XE_ERROR && error->code == code, "wrong error (%d): %s",
                  error->code, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

static char *
audit(void)
{
    return xe_test_sim_take_audit(sim);
}

static void
clear_audit(void)
{
    g_free(audit());
}

static char *
sim_read(const char *rel)
{
    int err;
    char *text = xe_test_sim_read(sim, rel, &err);

    ck_assert_msg(text != NULL, "%s: %s", rel, g_strerror(err));
    return text;
}

/* discovery */

START_TEST(test_discovery)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) pfs = xe_host_list_pfs(host, &error);
    XePfInfo *pf;

    ck_assert_msg(pfs != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(pfs->len, 1);
    pf = pfs->pdata[0];
    ck_assert_str_eq(pf->bdf, PF_BDF);
    ck_assert_uint_eq(pf->device_id, 0xe20b);
    ck_assert_uint_eq(pf->vf_device_id, 0xe20b);
    ck_assert_uint_eq(pf->total_vfs, 12);
    ck_assert_uint_eq(pf->num_vfs, 0);
    ck_assert_str_eq(pf->driver, "xe");
    ck_assert(pf->sriov_admin);
    ck_assert_str_eq(pf->guc_version, "70.54.0");
    ck_assert_int_eq(pf->migration, XE_MIGRATION_SUPPORT_YES);
    ck_assert_ptr_null(pf->unusable_reason);
}
END_TEST

START_TEST(test_discovery_two_pfs_and_unusable)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) pfs = NULL;
    XePfInfo *a, *b;

    restart("[pf 0000:03:00.0]\n[pf 0000:83:00.0]\nguc-version=70.53.0\ndevice-id=0xe20c\n");
    ck_assert_int_eq(xe_test_sim_write(sim, "sys/bus/pci/drivers/xe/unbind", "0000:83:00.0"), 0);
    pfs = xe_host_list_pfs(host, &error);
    ck_assert_uint_eq(pfs->len, 2);
    a = pfs->pdata[0];
    b = pfs->pdata[1];
    ck_assert_str_eq(a->bdf, "0000:03:00.0");
    ck_assert_str_eq(b->bdf, "0000:83:00.0");
    ck_assert_ptr_null(b->driver);
    ck_assert_str_eq(b->unusable_reason, "the PF is bound to no driver, not xe");
    /* Without its xe binding, its debugfs is gone: migration support unknown. */
    ck_assert_int_eq(b->migration, XE_MIGRATION_SUPPORT_UNKNOWN);
    ck_assert_int_eq(xe_test_sim_write(sim, "sys/bus/pci/drivers/xe/bind", "0000:83:00.0"), 0);
    {
        g_autoptr(XePfInfo) again = xe_host_get_pf(host, "0000:83:00.0", &error);
        ck_assert_int_eq(again->migration, XE_MIGRATION_SUPPORT_NO);
        ck_assert_str_eq(again->guc_version, "70.53.0");
    }
}
END_TEST

START_TEST(test_bad_addresses)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;

    ck_assert_ptr_null(xe_host_get_pf(host, "03:00.0", &e1));
    assert_error(e1, XE_ERROR_INVALID_ARGUMENT, "'03:00.0' is not a PCI address");
    ck_assert_ptr_null(xe_host_get_pf(host, "0000:09:00.0", &e2));
    assert_error(e2, XE_ERROR_NOT_FOUND, "0000:09:00.0 is not an Intel SR-IOV physical function");
    ck_assert_ptr_null(xe_host_get_vf(host, PF_BDF, &e3));
    assert_error(e3, XE_ERROR_NOT_FOUND, "is not an enabled VF");
}
END_TEST

START_TEST(test_vf_addresses_both_ways)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *bdf = NULL;
    g_autofree char *pf = NULL;
    XePciAddress pa, va;
    guint vfid = 0;

    restart("[pf 0000:4d:00.0]\nvf-offset=8\nvf-stride=2\ntotal-vfs=200\n");
    bdf = xe_host_vf_bdf(host, "0000:4d:00.0", 125, &error);
    ck_assert_str_eq(bdf, "0000:4e:00.0");
    assert_ok(xe_host_enable_vfs(host, "0000:4d:00.0", 130, E));
    ck_assert(xe_host_vf_locate(host, "0000:4e:00.0", &pf, &vfid, &error));
    ck_assert_str_eq(pf, "0000:4d:00.0");
    ck_assert_uint_eq(vfid, 125);
    xe_pci_address_parse("0000:4d:00.0", &pa, NULL);
    xe_pci_address_parse("0000:4e:00.0", &va, NULL);
    ck_assert_int_eq(xe_pci_vf_index(&pa, 8, 2, 200, &va), 124);
    ck_assert_ptr_null(xe_host_vf_bdf(host, "0000:4d:00.0", 201, &error));
}
END_TEST

/* enable / disable */

START_TEST(test_enable_sets_autoprobe_first)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL;
    g_autofree char *again = NULL;
    g_autoptr(GPtrArray) vfs = NULL;

    clear_audit();
    assert_ok(xe_host_enable_vfs(host, PF_BDF, 4, E));
    log = audit();
    ck_assert_str_eq(log, "1 " DEVS PF_BDF "/sriov_drivers_autoprobe 0\\n ok\n"
                          "2 " DEVS PF_BDF "/sriov_numvfs 4\\n ok\n");
    vfs = xe_host_list_vfs(host, PF_BDF, &error);
    ck_assert_uint_eq(vfs->len, 4);
    for (guint i = 0; i < 4; i++) {
        XeVfInfo *vf = vfs->pdata[i];
        ck_assert_uint_eq(vf->vfid, i + 1);
        ck_assert_ptr_null(vf->driver); /* unbound: autoprobe was off */
        ck_assert_ptr_null(vf->override);
    }
    /* Idempotent: nothing is written the second time. */
    assert_ok(xe_host_enable_vfs(host, PF_BDF, 4, E));
    again = audit();
    ck_assert_str_eq(again, "");
    ck_assert(!xe_host_enable_vfs(host, PF_BDF, 2, &error));
    assert_error(error, XE_ERROR_BUSY, "has 4 VFs enabled; SR-IOV cannot resize");
    assert_ok(xe_host_disable_vfs(host, PF_BDF, E));
    {
        g_autofree char *n = sim_read(DEVS PF_BDF "/sriov_numvfs");
        ck_assert_str_eq(n, "0\n");
    }
}
END_TEST

START_TEST(test_kernel_error_names_file_value_errno_hint)
{
    g_autoptr(GError) error = NULL;

    xe_test_sim_control(sim, "fail", DEVS PF_BDF "/sriov_numvfs EBUSY");
    ck_assert(!xe_host_enable_vfs(host, PF_BDF, 4, &error));
    assert_error(error, XE_ERROR_KERNEL, "writing '4' to ");
    ck_assert_msg(strstr(error->message, "/sriov_numvfs: Device or resource busy (EBUSY); VFs "
                                         "are already enabled; write 0 first") != NULL,
                  "%s", error->message);
    ck_assert_int_eq(xe_error_get_errno(error), EBUSY);
    ck_assert_str_eq(xe_error_get_value(error), "4");
    ck_assert(g_str_has_suffix(xe_error_get_path(error), DEVS PF_BDF "/sriov_numvfs"));
    g_clear_error(&error);
    ck_assert(!xe_host_enable_vfs(host, PF_BDF, 13, &error));
    assert_error(error, XE_ERROR_INVALID_ARGUMENT, "supports at most 12 VFs, not 13");
}
END_TEST

/* binding */

START_TEST(test_bind_sequence)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeVfInfo) vf = NULL;
    g_autofree char *log = NULL, *noop = NULL, *back = NULL;

    /* VFs that came up on plain xe (autoprobe on), as a host may have them. */
    ck_assert_int_eq(xe_test_sim_write(sim, DEVS PF_BDF "/sriov_numvfs", "2"), 0);
    clear_audit();
    assert_ok(xe_host_bind_vf(host, VF1, XE_DRIVER_VFIO, E));
    log = audit();
    ck_assert_str_eq(log, "1 " DEVS VF1 "/driver_override xe-vfio-pci\\n ok\n"
                          "2 sys/bus/pci/drivers/xe/unbind " VF1 "\\n ok\n"
                          "3 sys/bus/pci/drivers_probe " VF1 "\\n ok\n");
    vf = xe_host_get_vf(host, VF1, &error);
    ck_assert_str_eq(vf->driver, XE_DRIVER_VFIO);
    ck_assert_str_eq(vf->override, XE_DRIVER_VFIO);
    assert_ok(xe_host_bind_vf(host, VF1, XE_DRIVER_VFIO, E));
    noop = audit();
    ck_assert_str_eq(noop, "");
    /* and back to xe: the override is cleared once it has done its job */
    assert_ok(xe_host_bind_vf(host, VF1, XE_DRIVER_XE, E));
    back = audit();
    ck_assert_str_eq(back, "1 " DEVS VF1 "/driver_override xe\\n ok\n"
                           "2 sys/bus/pci/drivers/xe-vfio-pci/unbind " VF1 "\\n ok\n"
                           "3 sys/bus/pci/drivers_probe " VF1 "\\n ok\n"
                           "4 " DEVS VF1 "/driver_override \\n ok\n");
    g_clear_pointer(&vf, xe_vf_info_free);
    vf = xe_host_get_vf(host, VF1, &error);
    ck_assert_str_eq(vf->driver, XE_DRIVER_XE);
    ck_assert_ptr_null(vf->override);
    ck_assert(!xe_host_bind_vf(host, VF1, "vfio-pci", &error));
    assert_error(error, XE_ERROR_INVALID_ARGUMENT, "a VF goes to xe-vfio-pci or xe");
}
END_TEST

START_TEST(test_bind_rollback_after_failed_probe)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeVfInfo) vf = NULL;
    g_autofree char *log = NULL;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    /* VF1 on xe, as the kernel leaves it with autoprobe on: bind explicitly. */
    ck_assert_int_eq(xe_test_sim_write(sim, DEVS VF1 "/driver_override", "xe"), 0);
    ck_assert_int_eq(xe_test_sim_write(sim, "sys/bus/pci/drivers/xe/bind", VF1), 0);
    ck_assert_int_eq(xe_test_sim_write(sim, DEVS VF1 "/driver_override", "\n"), 0);
    clear_audit();
    xe_test_sim_control(sim, "fail", "sys/bus/pci/drivers_probe EIO");
    ck_assert(!xe_host_bind_vf(host, VF1, XE_DRIVER_VFIO, &error));
    assert_error(error, XE_ERROR_KERNEL, "writing '" VF1 "' to ");
    ck_assert_int_eq(xe_error_get_errno(error), EIO);
    log = audit();
    /* override, unbind, the failed probe, then back: override xe, bind, clear override */
    ck_assert_str_eq(log, "1 " DEVS VF1 "/driver_override xe-vfio-pci\\n ok\n"
                          "2 sys/bus/pci/drivers/xe/unbind " VF1 "\\n ok\n"
                          "3 sys/bus/pci/drivers_probe " VF1 "\\n EIO\n"
                          "4 " DEVS VF1 "/driver_override xe\\n ok\n"
                          "5 sys/bus/pci/drivers/xe/bind " VF1 "\\n ok\n"
                          "6 " DEVS VF1 "/driver_override \\n ok\n");
    vf = xe_host_get_vf(host, VF1, &error);
    ck_assert_str_eq(vf->driver, XE_DRIVER_XE);
    ck_assert_ptr_null(vf->override);
}
END_TEST

START_TEST(test_bind_verify_catches_no_driver)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeVfInfo) vf = NULL;
    g_autofree char *log = NULL;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    /* xe-vfio-pci rejects the VF (as when the module is broken): drivers_probe still
     * reports success, and only the driver link tells that nothing bound. */
    xe_test_sim_control(sim, "probe_fail", VF2 " xe-vfio-pci ENODEV");
    clear_audit();
    ck_assert(!xe_host_bind_vf(host, VF2, XE_DRIVER_VFIO, &error));
    assert_error(error, XE_ERROR_VERIFY_FAILED,
                 "0000:03:00.2 did not bind to xe-vfio-pci (driver is now none): is the "
                 "xe-vfio-pci module loaded and the PF bound to xe?; restored no driver");
    log = audit();
    ck_assert_str_eq(log, "1 " DEVS VF2 "/driver_override xe-vfio-pci\\n ok\n"
                          "2 sys/bus/pci/drivers_probe " VF2 "\\n ok\n"
                          "3 " DEVS VF2 "/driver_override \\n ok\n");
    vf = xe_host_get_vf(host, VF2, &error);
    ck_assert_ptr_null(vf->driver);
    ck_assert_ptr_null(vf->override);
}
END_TEST

static gboolean
refuse_vf1(XeHost *h, const char *vf_bdf, XeHostOp op, char **reason, gpointer user_data)
{
    (*(guint *)user_data)++;
    if (g_str_equal(vf_bdf, VF1)) {
        *reason = g_strdup("reserved by migration job 7");
        return FALSE;
    }
    return TRUE;
}

START_TEST(test_guard_refuses_without_writing)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
    g_autoptr(XeProfile) p = xe_profile_parse("exec_quantum_ms=5", NULL);
    g_autofree char *log = NULL;
    guint asked = 0;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    xe_host_set_guard(host, refuse_vf1, &asked, NULL);
    clear_audit();
    ck_assert(!xe_host_bind_vf(host, VF1, XE_DRIVER_VFIO, &e1));
    assert_error(e1, XE_ERROR_BUSY,
                 "refusing to bind VF 0000:03:00.1: reserved by migration job 7");
    ck_assert(!xe_host_reset_vf(host, VF1, &e2));
    assert_error(e2, XE_ERROR_BUSY, "refusing to reset VF");
    ck_assert(!xe_host_apply_profile(host, VF1, p, &e3));
    assert_error(e3, XE_ERROR_BUSY, "refusing to provision VF");
    ck_assert(!xe_host_disable_vfs(host, PF_BDF, &e4));
    assert_error(e4, XE_ERROR_BUSY, "refusing to disable VFs of VF 0000:03:00.1");
    log = audit();
    ck_assert_str_eq(log, ""); /* not one write */
    ck_assert(xe_host_bind_vf(host, VF2, XE_DRIVER_VFIO, &e5));
    ck_assert_uint_ge(asked, 5);
}
END_TEST

/* profiles */

START_TEST(test_profile_parse)
{
    static const struct {
        const char *text, *error;
    } bad[] = {
        { "", "no KEY=VALUE given" },
        { "exec_quantum_ms", "'exec_quantum_ms' is not KEY=VALUE" },
        { "exec_quantum_ms=-1", "exec_quantum_ms='-1' is not a non-negative integer" },
        { "exec_quantum_ms=4294967296", "above the field's 32 bits" },
        { "vram_quota=2X", "is not a size" },
        { "sched_priority=high", "a VF takes low or normal" },
        { "colour=blue", "unknown key 'colour'" },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(XeProfile) p = xe_profile_parse(
        "exec_quantum_ms=20, preempt_timeout_us=64000 sched_priority=normal,vram_quota=2G,"
        "ggtt_quota=512M,contexts_quota=1024,doorbells_quota=16",
        &error);
    g_autofree char *text = NULL;

    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(p->vram_quota, 2ull << 30);
    ck_assert_uint_eq(p->ggtt_quota, 512ull << 20);
    ck_assert_int_eq(p->sched_priority, XE_PRIORITY_NORMAL);
    text = xe_profile_to_string(p);
    ck_assert_str_eq(text, "exec_quantum_ms=20,preempt_timeout_us=64000,sched_priority=normal,"
                           "vram_quota=2147483648,ggtt_quota=536870912,contexts_quota=1024,"
                           "doorbells_quota=16");
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        ck_assert_ptr_null(xe_profile_parse(bad[i].text, &e));
        assert_error(e, XE_ERROR_INVALID_ARGUMENT, bad[i].error);
    }
}
END_TEST

START_TEST(test_profile_apply_and_read)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeProfile) want = xe_profile_parse(
        "exec_quantum_ms=20,preempt_timeout_us=64000,sched_priority=normal,vram_quota=1G,"
        "ggtt_quota=256M,contexts_quota=1024,doorbells_quota=16",
        NULL);
    g_autoptr(XeProfile) got = NULL;
    g_autofree char *text = NULL;
    g_autofree char *dbg = NULL;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    assert_ok(xe_host_apply_profile(host, VF1, want, E));
    got = xe_host_read_profile(host, VF1, &error);
    ck_assert_msg(got != NULL, "%s", error ? error->message : "");
    text = xe_profile_to_string(got);
    ck_assert_str_eq(text, "exec_quantum_ms=20,preempt_timeout_us=64000,sched_priority=normal,"
                           "vram_quota=1073741824,ggtt_quota=268435456,contexts_quota=1024,"
                           "doorbells_quota=16,device_id=0xe20b,revision=0");
    /* Per-GT values really landed on both GTs. */
    dbg = sim_read("sys/kernel/debug/dri/" PF_BDF "/sriov/vf1/tile0/gt1/doorbells_quota");
    ck_assert_str_eq(dbg, "16\n");
}
END_TEST

START_TEST(test_profile_rollback_mid_way)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeProfile) before = NULL, after = NULL;
    g_autoptr(XeProfile) want = xe_profile_parse(
        "exec_quantum_ms=20,preempt_timeout_us=64000,ggtt_quota=256M,contexts_quota=1024,"
        "doorbells_quota=16",
        NULL);
    g_autofree char *b = NULL, *a = NULL, *log = NULL;
    g_auto(GStrv) lines = NULL;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    before = xe_host_read_profile(host, VF1, &error);
    /* The second GT's doorbells write fails: everything before it must go back. */
    xe_test_sim_control(sim, "fail",
                        "sys/kernel/debug/dri/" PF_BDF "/sriov/vf1/tile0/gt1/doorbells_quota EIO");
    clear_audit();
    ck_assert(!xe_host_apply_profile(host, VF1, want, &error));
    assert_error(error, XE_ERROR_KERNEL, "provisioning 0000:03:00.1 (rolled back): writing '16'");
    ck_assert_int_eq(xe_error_get_errno(error), EIO);
    after = xe_host_read_profile(host, VF1, NULL);
    b = xe_profile_to_string(before);
    a = xe_profile_to_string(after);
    ck_assert_str_eq(a, b);
    log = audit();
    /* 7 writes (EQ, PT, GGTT, 2 x contexts, doorbells gt0, doorbells gt1 refused), then 6 undone */
    lines = g_strsplit(log, "\n", -1);
    ck_assert_msg(g_strv_length(lines) == 14, "%s", log);
    ck_assert_ptr_nonnull(strstr(
        log, "7 sys/kernel/debug/dri/" PF_BDF "/sriov/vf1/tile0/gt1/doorbells_quota 16\\n EIO\n"
             "8 sys/kernel/debug/dri/" PF_BDF "/sriov/vf1/tile0/gt0/doorbells_quota "));
}
END_TEST

START_TEST(test_profile_over_provisioning_is_refused)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeProfile) want = xe_profile_parse("ggtt_quota=8G", NULL);

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    ck_assert(!xe_host_apply_profile(host, VF1, want, &error));
    ck_assert_int_eq(xe_error_get_errno(error), ENOSPC);
    ck_assert_ptr_nonnull(strstr(error->message, "not enough unprovisioned resources"));
}
END_TEST

START_TEST(test_compatibility)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeProfile) a = NULL, b = NULL;
    g_autoptr(XeProfile) small = xe_profile_parse("vram_quota=1G", NULL);

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    a = xe_host_read_profile(host, VF1, &error);
    b = xe_host_read_profile(host, VF2, &error);
    /* auto provisioning gives both the same share */
    ck_assert_msg(xe_profile_check_compatible(a, b, &error), "%s", error ? error->message : "");
    b->ggtt_quota -= 65536;
    ck_assert(!xe_profile_check_compatible(a, b, &error));
    assert_error(error, XE_ERROR_INCOMPATIBLE, "ggtt: source ");
    g_clear_error(&error);
    b->ggtt_quota = a->ggtt_quota;
    b->vram_quota = a->vram_quota - 1;
    ck_assert(!xe_profile_check_compatible(a, b, &error));
    assert_error(error, XE_ERROR_INCOMPATIBLE, "vram: ");
    g_clear_error(&error);
    b->vram_quota = a->vram_quota + 1; /* more is fine */
    b->revision = 1;
    ck_assert(!xe_profile_check_compatible(a, b, &error));
    assert_error(error, XE_ERROR_INCOMPATIBLE, "revision: source 0, destination 1");
    g_clear_error(&error);
    b->revision = 0;
    b->device_id = 0xe20c;
    ck_assert(!xe_profile_check_compatible(a, b, &error));
    assert_error(error, XE_ERROR_INCOMPATIBLE, "device-id: source 0xe20b, destination 0xe20c");
    g_clear_error(&error);
    ck_assert(!xe_profile_check_compatible(a, small, &error));
    assert_error(error, XE_ERROR_INCOMPATIBLE, "unknown: ");
}
END_TEST

START_TEST(test_reset_and_migration_size)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL;
    guint64 size = 0;

    assert_ok(xe_host_enable_vfs(host, PF_BDF, 2, E));
    clear_audit();
    assert_ok(xe_host_reset_vf(host, VF1, E));
    log = audit();
    ck_assert_str_eq(log, "1 " DEVS VF1 "/reset 1\\n ok\n");
    assert_ok(xe_host_vf_migration_size(host, VF1, &size, E));
    ck_assert_uint_gt(size, 5ull << 30); /* half the VRAM of the PF, and more */

    restart("[pf 0000:03:00.0]\nguc-version=70.53.0\n");
    assert_ok(xe_host_enable_vfs(host, PF_BDF, 1, E));
    ck_assert(!xe_host_vf_migration_size(host, VF1, &size, &error));
    ck_assert_int_eq(xe_error_get_errno(error), ENOPKG);
    ck_assert_ptr_nonnull(strstr(error->message, "VF migration is not supported here"));
}
END_TEST

START_TEST(test_sysfs_helper)
{
    g_autoptr(XeSysfs) real = xe_sysfs_new("/");
    g_autoptr(XeSysfs) sysfs = xe_sysfs_new(sim->root);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = xe_sysfs_path(real, "sys/bus/pci");
    g_autofree char *text = NULL;
    guint64 v;

    ck_assert_str_eq(path, "/sys/bus/pci");
    ck_assert_str_eq(xe_sysfs_get_root(real), "/");
    ck_assert(xe_sysfs_read_u64(sysfs, DEVS PF_BDF "/vendor", &v, &error));
    ck_assert_uint_eq(v, 0x8086);
    text = xe_sysfs_read(sysfs, DEVS PF_BDF "/driver_override", &error);
    ck_assert_str_eq(text, "(null)"); /* newline stripped */
    ck_assert(!xe_sysfs_read(sysfs, DEVS PF_BDF "/reset", &error));
    ck_assert_int_eq(xe_error_get_errno(error), EACCES);
    ck_assert_ptr_nonnull(strstr(error->message, "(read-only or write-only)"));
    g_clear_error(&error);
    ck_assert(!xe_sysfs_write(sysfs, DEVS PF_BDF "/nonexistent", "1", &error));
    ck_assert_int_eq(xe_error_get_errno(error), ENOENT);
}
END_TEST

static Suite *
host_suite(void)
{
    Suite *s = suite_create("host-layer");
    TCase *tc = tcase_create("host");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_discovery);
    tcase_add_test(tc, test_discovery_two_pfs_and_unusable);
    tcase_add_test(tc, test_bad_addresses);
    tcase_add_test(tc, test_vf_addresses_both_ways);
    tcase_add_test(tc, test_enable_sets_autoprobe_first);
    tcase_add_test(tc, test_kernel_error_names_file_value_errno_hint);
    tcase_add_test(tc, test_bind_sequence);
    tcase_add_test(tc, test_bind_rollback_after_failed_probe);
    tcase_add_test(tc, test_bind_verify_catches_no_driver);
    tcase_add_test(tc, test_guard_refuses_without_writing);
    tcase_add_test(tc, test_profile_parse);
    tcase_add_test(tc, test_profile_apply_and_read);
    tcase_add_test(tc, test_profile_rollback_mid_way);
    tcase_add_test(tc, test_profile_over_provisioning_is_refused);
    tcase_add_test(tc, test_compatibility);
    tcase_add_test(tc, test_reset_and_migration_size);
    tcase_add_test(tc, test_sysfs_helper);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    xe_test_require_peer(xe_test_fuse_available(), "FUSE (/dev/fuse and fusermount3)");
    return xe_test_run_suite(host_suite());
}
