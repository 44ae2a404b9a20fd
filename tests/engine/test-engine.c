/* test-engine.c: suite "engine", the migration engine's pure logic:
 * policies (the shipped files, every key's errors), the device-aware downtime
 * estimate and budget check, downtime-limit stepping, retry backoff, the
 * failure classifier on the error texts QEMU 10.0 produces, and a libvirt domain's
 * Xe VFs read from and written to its XML.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "xe-error.h"
#include "xe-failure.h"
#include "xe-policy.h"
#include "xe-test-util.h"
#include "xe-config.h"
#include "xe-job.h"
#include "xe-libvirt-xml.h"
#include "xe-vm-spec.h"
#include "xe-worker.h"

static XePolicy *
shipped(const char *name)
{
    g_autofree char *path = g_build_filename(g_getenv("XE_POLICY_DIR"), name, NULL);
    g_autoptr(GError) error = NULL;
    XePolicy *p = xe_policy_load(path, &error);

    ck_assert_msg(p != NULL, "%s: %s", name, error ? error->message : "");
    return p;
}

START_TEST(test_shipped_policies)
{
    g_autoptr(XePolicy) builtin = xe_policy_new_default();
    g_autoptr(XePolicy) def = shipped("default.policy");
    g_autoptr(XePolicy) large = shipped("large-vram.policy");
    g_autoptr(XePolicy) strict = shipped("strict.policy");

    /* default.policy documents the built-in defaults: they must agree. */
    ck_assert_str_eq(def->name, builtin->name);
    ck_assert_uint_eq(def->downtime_budget_ms, builtin->downtime_budget_ms);
    ck_assert_uint_eq(def->switchover_bandwidth, builtin->switchover_bandwidth);
    ck_assert_uint_eq(def->device_bandwidth, builtin->device_bandwidth);
    ck_assert_uint_eq(def->downtime_steps, builtin->downtime_steps);
    ck_assert_uint_eq(def->retries, builtin->retries);
    ck_assert_uint_eq(def->backoff_max_ms, builtin->backoff_max_ms);
    ck_assert(def->backoff_jitter == builtin->backoff_jitter);
    ck_assert_uint_eq(large->switchover_bandwidth, 2ull << 30);
    ck_assert(large->vfio_multifd && large->multifd && large->multifd_channels == 4);
    ck_assert_uint_eq(strict->retries, 0);
    ck_assert(strict->auto_converge);
}
END_TEST

static const struct {
    const char *text, *error;
} bad_policies[] = {
    { "[policy]\ndowntime-budget-ms=0\n",
      "downtime-budget-ms='0': expected a whole number from 1" },
    { "[policy]\ndowntime-budget-ms=soon\n", "downtime-budget-ms='soon'" },
    { "[policy]\nswitchover-bandwidth=fast\n",
      "switchover-bandwidth='fast': expected auto or bytes" },
    { "[policy]\nmultifd=yes\n", "multifd='yes': expected true or false" },
    { "[policy]\nbackoff-jitter=1.5\n", "backoff-jitter='1.5': expected a fraction from 0 to 1" },
    { "[policy]\npostcopy=true\n", "unknown key 'postcopy'" },
    { "[policy]\nbackoff-initial-ms=5000\nbackoff-max-ms=10\n", "backoff-max-ms (10) is below" },
    { "[tuning]\nx=1\n", "unknown group [tuning]" },
};

START_TEST(test_policy_errors)
{
    g_autoptr(GError) error = NULL;

    ck_assert_ptr_null(xe_policy_load_from_data(bad_policies[_i].text, "p.policy", &error));
    ck_assert_msg(g_error_matches(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT), "%s",
                  error->message);
    ck_assert_msg(strstr(error->message, bad_policies[_i].error) != NULL, "'%s' lacks '%s'",
                  error->message, bad_policies[_i].error);
    ck_assert(g_str_has_prefix(error->message, "p.policy: "));
}
END_TEST

START_TEST(test_downtime_estimate_and_budget)
{
    g_autoptr(XePolicy) p = xe_policy_new_default();
    g_autoptr(GError) error = NULL;
    guint64 gib = 1ull << 30;

    /* 3 GiB of VF state and 0.5 GiB of RAM at 2 GiB/s: 1750 ms + 50 ms overhead. */
    ck_assert_uint_eq(xe_policy_estimate_downtime_ms(p, 3 * gib, gib / 2, 2 * gib), 1800);
    ck_assert(xe_policy_check_budget(p, 3 * gib, gib / 2, 2 * gib, &error));
    ck_assert(!xe_policy_check_budget(p, 6 * gib, 0, 2 * gib, &error));
    ck_assert(g_error_matches(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED));
    ck_assert_msg(strstr(error->message, "6.00 GiB of VF state and 0.00 GiB of dirty RAM at 2.00 "
                                         "GiB/s need about 3050 ms of downtime, above the budget "
                                         "of 2000 ms") != NULL,
                  "%s", error->message);
    g_clear_error(&error);
    /* A device that saves at 1 GiB/s, slower than the link: the VF's 3 GiB take 3 s. */
    p->device_bandwidth = gib;
    ck_assert_uint_eq(xe_policy_estimate_downtime_ms(p, 3 * gib, gib / 2, 2 * gib), 3300);
    ck_assert(!xe_policy_check_budget(p, 3 * gib, gib / 2, 2 * gib, &error));
    ck_assert_msg(strstr(error->message, "3.00 GiB of VF state at the device's 1.00 GiB/s") != NULL,
                  "%s", error->message);
    g_clear_error(&error);
    /* faster than the link: the link limits */
    p->device_bandwidth = 4 * gib;
    ck_assert_uint_eq(xe_policy_estimate_downtime_ms(p, 3 * gib, gib / 2, 2 * gib), 1800);
    p->device_bandwidth = 0;
    /* No bandwidth known: refuse to promise. */
    ck_assert(!xe_policy_check_budget(p, gib, 0, 0, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "no switchover bandwidth"));
}
END_TEST

START_TEST(test_downtime_steps)
{
    g_autoptr(XePolicy) p = xe_policy_new_default(); /* budget 2000, 4 steps */

    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 800, 0), 800);
    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 800, 1), 1200);
    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 800, 2), 1600);
    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 800, 3), 2000);
    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 800, 9), 2000); /* never above the budget */
    ck_assert_uint_eq(xe_policy_downtime_step_ms(p, 5000, 0), 2000);
}
END_TEST

START_TEST(test_backoff)
{
    g_autoptr(XePolicy) p = xe_policy_new_default(); /* 1 s doubling to 30 s, jitter 0.2 */

    ck_assert_uint_eq(xe_policy_backoff_ms(p, 1, 0.0), 1000);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 2, 0.0), 2000);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 5, 0.0), 16000);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 6, 0.0), 30000);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 60, 0.0), 30000);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 1, 1.0), 1200);
    ck_assert_uint_eq(xe_policy_backoff_ms(p, 1, -1.0), 800);
}
END_TEST

static const struct {
    const char *name;
    XeFailureEvidence e;
    XeFailureClass want;
    const char *reason_has; /* NULL: any reason */
} cases[] = {
    { "cancel wins",
      { .cancelled = TRUE, .source_error = "Channel error: No such device" },
      XE_FAILURE_CANCELLED },
    { "source stop-copy read after a reset",
      { .source_error = "Channel error: No such device" },
      XE_FAILURE_VF_RESET },
    { "vfio multifd read after a reset",
      { .source_error = "0000:00:05.0: reading state buffer 3 failed: No such device" },
      XE_FAILURE_VF_RESET },
    { "sysfs saw the source reset",
      { .vf_reset_seen_source = TRUE, .source_error = "Channel error: Input/output error" },
      XE_FAILURE_VF_RESET },
    { "destination reset during resume",
      { .vf_reset_seen_destination = TRUE,
        .source_error = "Sibling indicated error 1",
        .destination_error = "load of migration failed: No such device" },
      XE_FAILURE_VF_RESET },
    { "destination reset during resume, seen only in its QEMU's last words",
      { .destination_exited = TRUE,
        .source_error = "Sibling indicated error 1",
        .destination_error = "error while loading state section id 2(0000:00:02.0/vfio) | "
                             "load of migration failed: No such device" },
      XE_FAILURE_VF_RESET },
    { "destination refused the state: provisioning differs (EINVAL)",
      { .destination_exited = TRUE,
        .source_error = "Sibling indicated error 1",
        .destination_error = "load of migration failed: Invalid argument" },
      XE_FAILURE_INCOMPATIBLE },
    { "multifd settings that disagree",
      { .destination_exited = TRUE,
        .source_error = "Sibling indicated error 1",
        .destination_error =
            "0000:03:00.1: got DEV_CONFIG_STATE in main migration channel but "
            "doing multifd transfer | load of migration failed: Invalid argument" },
      XE_FAILURE_INCOMPATIBLE,
      "x-migration-multifd-transfer differs" },
    { "destination refused the descriptor (no reset)",
      { .source_error = "Sibling indicated error 1",
        .destination_error = "error while loading state section id 3(0000:00:05.0/vfio)" },
      XE_FAILURE_INCOMPATIBLE },
    { "destination killed mid-stream",
      { .destination_exited = TRUE,
        .source_error = "Unable to write to socket: Connection reset by peer" },
      XE_FAILURE_DESTINATION_DIED },
    { "nothing listening",
      { .source_error = "Failed to connect to '127.0.0.1:1': Connection refused" },
      XE_FAILURE_TRANSPORT },
    { "peer daemon unreachable", { .transport_down = TRUE }, XE_FAILURE_TRANSPORT },
    { "stream broke, destination alive",
      { .source_error = "Unable to write to socket: Broken pipe" },
      XE_FAILURE_TRANSPORT },
    { "stalled", { .timed_out = TRUE }, XE_FAILURE_TIMEOUT },
    { "no evidence", { .source_error = "something odd" }, XE_FAILURE_UNKNOWN },
};

START_TEST(test_failure_classes)
{
    g_autofree char *reason = NULL;
    XeFailureClass got = xe_failure_classify(&cases[_i].e, &reason);

    ck_assert_msg(got == cases[_i].want, "%s: got %s, want %s (%s)", cases[_i].name,
                  xe_failure_to_string(got), xe_failure_to_string(cases[_i].want), reason);
    ck_assert_msg(cases[_i].reason_has == NULL || strstr(reason, cases[_i].reason_has) != NULL,
                  "%s: the reason does not say it: %s", cases[_i].name, reason);
    if (cases[_i].e.source_error != NULL)
        ck_assert_ptr_nonnull(strstr(reason, cases[_i].e.source_error));
}
END_TEST

START_TEST(test_retryable)
{
    ck_assert(xe_failure_is_retryable(XE_FAILURE_VF_RESET));
    ck_assert(xe_failure_is_retryable(XE_FAILURE_DESTINATION_DIED));
    ck_assert(xe_failure_is_retryable(XE_FAILURE_TRANSPORT));
    ck_assert(!xe_failure_is_retryable(XE_FAILURE_INCOMPATIBLE));
    ck_assert(!xe_failure_is_retryable(XE_FAILURE_CANCELLED));
    ck_assert(!xe_failure_is_retryable(XE_FAILURE_TIMEOUT));
    ck_assert(!xe_failure_is_retryable(XE_FAILURE_UNKNOWN));
}
END_TEST

/* VM specs */

START_TEST(test_vm_spec_file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeVmSpec) spec = xe_vm_spec_load_from_data(
        "[vm]\nname=gpu-1\ncommand=qemu-system-x86_64 -m 1G -device "
        "'vfio-pci,host={vf},x-migration-multifd-transfer=on'\nprofile=standard\n"
        "downtime-budget-ms=1500\n",
        "gpu-1.vm", &error);
    g_auto(GStrv) argv = NULL;
    g_autoptr(GVariant) v = NULL;
    g_autoptr(XeVmSpec) back = NULL;

    ck_assert_msg(spec != NULL, "%s", error ? error->message : "");
    ck_assert_str_eq(spec->policy, "default");
    ck_assert_uint_eq(spec->downtime_budget_ms, 1500);
    ck_assert_ptr_null(spec->qmp);
    argv = xe_vm_spec_expand_argv(spec, "0000:03:00.1");
    ck_assert_uint_eq(g_strv_length(argv), 5);
    /* the VF's device migrates: xe-migrated turns on what QEMU needs for it */
    ck_assert_str_eq(argv[4], "vfio-pci,host=0000:03:00.1,x-migration-multifd-transfer=on,"
                              "enable-migration=on,migration-events=on");
    /* the same spec over D-Bus */
    v = g_variant_ref_sink(xe_vm_spec_to_variant(spec));
    back = xe_vm_spec_from_variant(v, &error);
    ck_assert_msg(back != NULL, "%s", error ? error->message : "");
    ck_assert_str_eq(back->name, "gpu-1");
    ck_assert(g_strv_equal((const char *const *)back->argv, (const char *const *)spec->argv));
}
END_TEST

static const struct {
    const char *text, *says;
} bad_specs[] = {
    { "[vm]\nname=a b\ncommand=q\nprofile=p\n", "name 'a b'" },
    { "[vm]\nname=x\nprofile=p\n", "no QEMU command" },
    { "[vm]\nname=x\ncommand=q -incoming defer\nprofile=p\n", "must not contain -incoming" },
    { "[vm]\nname=x\ncommand=q -qmp unix:/s\nprofile=p\n", "must not contain -qmp" },
    { "[vm]\nname=x\ncommand=q\n", "no VF profile" },
    { "[vm]\nname=x\ncommand=q\nprofile=p\nqmp=/s\n", "needs both 'qmp' and 'vf'" },
    { "[vm]\nname=x\ncommand=q\nprofile=p\nbogus=1\n", "unknown key 'bogus'" },
    { "[vm]\nname=x\ncommand=q -device vfio-pci,host={vf},enable-migration=auto\nprofile=p\n",
      "enable-migration=auto, but the VF migrates only with enable-migration=on" },
    { "[vm]\nname=x\ncommand=q -device vfio-pci,host={vf},migration-events=off\nprofile=p\n",
      "migration-events=off" },
    { "[vm]\nname=x\ncommand=q\nprofile=p\ndowntime-budget-ms=soon\n", "downtime-budget-ms" },
    { "[vm]\nname=x\ncommand=q 'unclosed\nprofile=p\n", "command:" },
    { "[other]\nname=x\n", "exactly one group, [vm]" },
};

START_TEST(test_vm_spec_errors)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeVmSpec) spec = xe_vm_spec_load_from_data(bad_specs[_i].text, "t.vm", &error);

    ck_assert_ptr_null(spec);
    ck_assert_msg(strstr(error->message, bad_specs[_i].says) != NULL, "'%s' lacks '%s'",
                  error->message, bad_specs[_i].says);
    ck_assert(g_str_has_prefix(error->message, "t.vm") || strstr(error->message, "t.vm"));
}
END_TEST

START_TEST(test_vm_spec_variant_types)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) v = g_variant_ref_sink(
        g_variant_new_parsed("{'name': <'x'>, 'argv': <'not a list'>, 'profile': <'p'>}"));

    ck_assert_ptr_null(xe_vm_spec_from_variant(v, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "'argv' must be of type as"));
}
END_TEST

/* configuration of the engine */

START_TEST(test_config_engine_keys)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeConfig) c =
        xe_config_load_from_data("[daemon]\ntransport=ssh -p 2222 {host} systemd-stdio-bridge\n"
                                 "emulators=qemu-system-x86_64;/opt/qemu/bin/qemu-system-x86_64\n"
                                 "migration-address=10.0.0.2\nlibvirt-uri=\n",
                                 "t.conf", &error);
    g_autoptr(XeConfig) defaults = xe_config_new_default();
    g_autoptr(XeConfig) no_host = NULL;
    g_autoptr(XeConfig) relative = NULL;

    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    ck_assert_uint_eq(g_strv_length(c->transport), 5);
    ck_assert_str_eq(c->transport[3], "{host}");
    ck_assert_uint_eq(g_strv_length(c->emulators), 2);
    ck_assert_str_eq(c->migration_address, "10.0.0.2");
    ck_assert_str_eq(c->libvirt_uri, ""); /* libvirt not looked at */
    ck_assert_str_eq(defaults->libvirt_uri, "qemu:///system");
    no_host = xe_config_load_from_data("[daemon]\ntransport=ssh somewhere\n", "t.conf", &error);
    ck_assert_ptr_null(no_host);
    ck_assert_ptr_nonnull(strstr(error->message, "has no {host}"));
    g_clear_error(&error);
    relative = xe_config_load_from_data("[daemon]\nrun-dir=run\n", "t.conf", &error);
    ck_assert_ptr_null(relative);
    ck_assert_ptr_nonnull(strstr(error->message, "run-dir='run' must be absolute"));
}
END_TEST

/* records and workers */

static gboolean
post_from_worker(gpointer data)
{
    XeJob *job = data;

    xe_record_post(job, "phase", "migrating", "attempt", 2u, "ram-transferred", (guint64)42, NULL);
    return G_SOURCE_REMOVE;
}

static void
count_notify(GObject *object, GParamSpec *pspec, gpointer data)
{
    (*(guint *)data)++;
}

static gboolean
flag_up(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

START_TEST(test_record_posts_apply_on_the_owner_context)
{
    g_autoptr(XeJob) job = xe_job_new(g_main_context_default(), "7", "vm", "b", "default", "test");
    XeWorker *worker = xe_worker_new("test");
    gboolean exited = FALSE;
    guint notified = 0;
    g_autofree char *phase = NULL;
    guint attempt = 0;
    guint64 ram = 0;

    g_signal_connect(job, "notify", G_CALLBACK(count_notify), &notified);
    xe_worker_invoke(worker, post_from_worker, job, NULL);
    /* stopped, never joined: the worker says when its thread is gone */
    xe_worker_stop(worker, g_main_context_default(), flag_up, &exited);
    ck_assert_uint_eq(notified, 0);
    while (!exited) /* (the test's timeout is the deadline) */
        g_main_context_iteration(NULL, TRUE);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_object_get(job, "phase", &phase, "attempt", &attempt, "ram-transferred", &ram, NULL);
    ck_assert_str_eq(phase, "migrating");
    ck_assert_uint_eq(attempt, 2);
    ck_assert_uint_eq(ram, 42);
    ck_assert_uint_eq(notified, 3);
    /* an unchanged value notifies nothing (no PropertiesChanged for nothing) */
    g_object_set(job, "phase", "migrating", NULL);
    ck_assert_uint_eq(notified, 3);
}
END_TEST

/* libvirt domain XML */

#define DOMAIN_XML(metadata)                                                              \
    "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"         \
    "<name>gpu1</name>" metadata "<memory unit='MiB'>256</memory><devices>"               \
    "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' " \
    "bus='0x03' slot='0x00' function='0x1'/></source><alias name='ua-xevf0'/></hostdev>"  \
    "<interface type='network'><source network='default'/></interface></devices>"         \
    "<qemu:override><qemu:device alias='ua-xevf0'><qemu:frontend><qemu:property "         \
    "name='enable-migration' type='string' value='on'/></qemu:frontend></qemu:device>"    \
    "</qemu:override></domain>"
#define XE_META(vf)                                                                    \
    "<metadata><xe:migrated xmlns:xe='urn:xe-migrated:libvirt:1'>" vf "</xe:migrated>" \
    "</metadata>"

/* The VFs the metadata names are read; a retarget moves the hostdev and the metadata
 * together and keeps the rest (the override, other devices) as it was. */
START_TEST(test_libvirt_domain_retarget)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(
        DOMAIN_XML(XE_META("<xe:vf host='0000:03:00.1' profile='vram_quota=536870912'/>")), &error);
    g_autoptr(XeLibvirtDomain) again = NULL;
    g_autofree char *xml = NULL;
    const XeLibvirtVf *vf;

    ck_assert_msg(d != NULL, "%s", error != NULL ? error->message : "");
    ck_assert_str_eq(xe_libvirt_domain_get_name(d), "gpu1");
    ck_assert_uint_eq(xe_libvirt_domain_get_vfs(d)->len, 1);
    vf = xe_libvirt_domain_get_vfs(d)->pdata[0];
    ck_assert_str_eq(vf->host, "0000:03:00.1");
    ck_assert_str_eq(vf->profile, "vram_quota=536870912");
    ck_assert_ptr_null(vf->reservation);
    ck_assert(xe_libvirt_domain_retarget(d, 0, "0000:05:00.3", "r-1", &error));
    xml = xe_libvirt_domain_to_xml(d);
    ck_assert_msg(strstr(xml, "bus=\"0x05\"") != NULL && strstr(xml, "function=\"0x3\"") != NULL,
                  "%s", xml);
    ck_assert_msg(strstr(xml, "enable-migration") != NULL && strstr(xml, "network=") != NULL, "%s",
                  xml);
    again = xe_libvirt_domain_parse(xml, &error);
    ck_assert_msg(again != NULL, "%s", error != NULL ? error->message : "");
    vf = xe_libvirt_domain_get_vfs(again)->pdata[0];
    ck_assert_str_eq(vf->host, "0000:05:00.3");
    ck_assert_str_eq(vf->reservation, "r-1");
    ck_assert_str_eq(vf->profile, "vram_quota=536870912");
    /* a domain without the metadata has no Xe VFs, whatever its hostdevs */
    g_clear_pointer(&again, xe_libvirt_domain_free);
    again = xe_libvirt_domain_parse(DOMAIN_XML(""), &error);
    ck_assert(again != NULL);
    ck_assert_uint_eq(xe_libvirt_domain_get_vfs(again)->len, 0);
}
END_TEST

/* Two VFs moving to addresses that overlap the source's (.1 .2 -> .2 .3): each hostdev goes
 * where its own VF was reserved, whatever the order; a device that is not one of the domain's
 * Xe VFs is never doubled. */
#define TWO_VFS(other)                                                                  \
    "<domain type='kvm'><name>gpu2</name><metadata><xe:migrated "                       \
    "xmlns:xe='urn:xe-migrated:libvirt:1'><xe:vf host='0000:03:00.1' profile='a=1'/>"   \
    "<xe:vf host='0000:03:00.2' profile='a=2'/></xe:migrated></metadata><devices>"      \
    "<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x03' " \
    "slot='0x00' function='0x1'/></source></hostdev>"                                   \
    "<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x03' " \
    "slot='0x00' function='0x2'/></source></hostdev>" other "</devices></domain>"

START_TEST(test_libvirt_domain_two_vfs)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(TWO_VFS(""), &error);
    g_autoptr(XeLibvirtDomain) again = NULL;
    g_autoptr(XeLibvirtDomain) other = NULL;
    g_autofree char *xml = NULL;
    const char *first, *second;

    ck_assert_msg(d != NULL, "%s", error != NULL ? error->message : "");
    ck_assert(xe_libvirt_domain_retarget(d, 0, "0000:03:00.2", "r-1", &error));
    ck_assert(xe_libvirt_domain_retarget(d, 1, "0000:03:00.3", "r-2", &error));
    xml = xe_libvirt_domain_to_xml(d);
    first = strstr(xml, "function=\"0x2\"");
    second = strstr(xml, "function=\"0x3\"");
    ck_assert_msg(first != NULL && second != NULL && first < second, "%s", xml);
    again = xe_libvirt_domain_parse(xml, &error);
    ck_assert_msg(again != NULL, "%s", error != NULL ? error->message : "");
    ck_assert_str_eq(((XeLibvirtVf *)xe_libvirt_domain_get_vfs(again)->pdata[0])->profile, "a=1");
    ck_assert_str_eq(((XeLibvirtVf *)xe_libvirt_domain_get_vfs(again)->pdata[0])->host,
                     "0000:03:00.2");
    ck_assert_str_eq(((XeLibvirtVf *)xe_libvirt_domain_get_vfs(again)->pdata[1])->profile, "a=2");
    ck_assert_str_eq(((XeLibvirtVf *)xe_libvirt_domain_get_vfs(again)->pdata[1])->host,
                     "0000:03:00.3");
    /* another of the domain's hostdevs at 0000:04:00.0: never two there */
    other = xe_libvirt_domain_parse(
        TWO_VFS("<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' "
                "bus='0x04' slot='0x00' function='0x0'/></source></hostdev>"),
        &error);
    ck_assert(other != NULL);
    ck_assert(!xe_libvirt_domain_retarget(other, 0, "0000:04:00.0", "r-1", &error));
    ck_assert_msg(strstr(error->message, "which another of its hostdevs names") != NULL, "%s",
                  error->message);
}
END_TEST

/* What a GPU domain lacks, then added: a root without xmlns:qemu, or with "qemu" bound to
 * something else; a hostdev with libvirt's own alias (not a user alias) next to a device that
 * already has ua-xevf0; an override saying "off"; addresses written in octal. */
static const struct {
    const char *name;
    const char *xml;
    const char *alias;
} to_prepare[] = {
    { "no xmlns:qemu",
      "<domain type='kvm'><name>g</name><devices><hostdev mode='subsystem' type='pci'><source>"
      "<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev>"
      "</devices></domain>",
      "ua-xevf0" },
    { "qemu bound elsewhere, alias taken, libvirt's alias",
      "<domain type='kvm' xmlns:qemu='urn:other'><name>g</name><devices><disk type='file'>"
      "<alias name='ua-xevf0'/></disk><hostdev mode='subsystem' type='pci'><source>"
      "<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source>"
      "<alias name='hostdev0'/></hostdev></devices></domain>",
      "ua-xevf1" },
    { "override off, octal",
      "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>g</name>"
      "<devices><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='03' "
      "slot='0x0' function='01'/></source><alias name='ua-gpu'/></hostdev></devices>"
      "<qemu:override><qemu:device alias='ua-gpu'><qemu:frontend><qemu:property "
      "name='enable-migration' type='string' value='off'/></qemu:frontend></qemu:device>"
      "</qemu:override></domain>",
      "ua-gpu" },
};

START_TEST(test_libvirt_domain_prepare)
{
    const char *hosts[] = { "0000:03:00.1", NULL };
    const char *profiles[] = { "vram_quota=536870912", NULL };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) before = xe_libvirt_xml_missing(to_prepare[_i].xml, hosts[0], &error);
    g_auto(GStrv) changes = NULL;
    g_auto(GStrv) after = NULL;
    g_auto(GStrv) unchanged = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *again = NULL;
    g_autofree char *alias = g_strdup_printf("alias=\"%s\"", to_prepare[_i].alias);

    ck_assert_msg(before != NULL && g_strv_length(before) == 2, "%s: %s", to_prepare[_i].name,
                  error != NULL ? error->message : "not two problems");
    xml = xe_libvirt_xml_prepare(to_prepare[_i].xml, hosts, profiles, &changes, &error);
    ck_assert_msg(xml != NULL, "%s: %s", to_prepare[_i].name, error ? error->message : "");
    ck_assert_msg(strstr(xml, alias) != NULL, "%s: %s", to_prepare[_i].name, xml);
    after = xe_libvirt_xml_missing(xml, hosts[0], &error);
    ck_assert_msg(after == NULL && error == NULL, "%s: still missing %s in %s", to_prepare[_i].name,
                  after != NULL ? after[0] : error->message, xml);
    /* and once more: nothing to add */
    again = xe_libvirt_xml_prepare(xml, hosts, profiles, &unchanged, &error);
    ck_assert(again != NULL);
    ck_assert_uint_eq(g_strv_length(unchanged), 0);
}
END_TEST

static const struct {
    const char *xml;
    const char *error;
} bad_domains[] = {
    { DOMAIN_XML(XE_META("<xe:vf host='0000:03:00.1' profile='a=1'/>"
                         "<xe:vf host='0000:03:00.1' profile='a=1'/>")),
      "names VF 0000:03:00.1 twice" },
    { "<domain", "not a libvirt domain" },
    { "<domain type='kvm'><devices/></domain>", "not a libvirt domain" },
    { DOMAIN_XML(XE_META("<xe:vf host='03:00.1' profile='a=1'/>")),
      "needs host (a PCI address such as 0000:03:00.1, not '03:00.1')" },
    { DOMAIN_XML(XE_META("<xe:vf host='0000:03:00.1'/>")), "and profile" },
    { DOMAIN_XML(XE_META("<xe:vf host='0000:03:00.2' profile='a=1'/>")),
      "names VF 0000:03:00.2, but no PCI hostdev of the domain has that source address" },
};

START_TEST(test_libvirt_domain_errors)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(bad_domains[_i].xml, &error);

    ck_assert_ptr_null(d);
    ck_assert(g_error_matches(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT));
    ck_assert_msg(strstr(error->message, bad_domains[_i].error) != NULL, "case %d: %s", _i,
                  error->message);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("policy");
    TCase *tf = tcase_create("failure");

    tcase_add_test(tc, test_shipped_policies);
    tcase_add_loop_test(tc, test_policy_errors, 0, G_N_ELEMENTS(bad_policies));
    tcase_add_test(tc, test_downtime_estimate_and_budget);
    tcase_add_test(tc, test_downtime_steps);
    tcase_add_test(tc, test_backoff);
    suite_add_tcase(s, tc);
    tcase_add_loop_test(tf, test_failure_classes, 0, G_N_ELEMENTS(cases));
    tcase_add_test(tf, test_retryable);
    suite_add_tcase(s, tf);
    {
        TCase *tv = tcase_create("vm-specs-and-records");

        tcase_add_test(tv, test_vm_spec_file);
        tcase_add_loop_test(tv, test_vm_spec_errors, 0, G_N_ELEMENTS(bad_specs));
        tcase_add_test(tv, test_vm_spec_variant_types);
        tcase_add_test(tv, test_config_engine_keys);
        tcase_add_test(tv, test_record_posts_apply_on_the_owner_context);
        tcase_add_test(tv, test_libvirt_domain_retarget);
        tcase_add_test(tv, test_libvirt_domain_two_vfs);
        tcase_add_loop_test(tv, test_libvirt_domain_prepare, 0, G_N_ELEMENTS(to_prepare));
        tcase_add_loop_test(tv, test_libvirt_domain_errors, 0, G_N_ELEMENTS(bad_domains));
        suite_add_tcase(s, tv);
    }
    return xe_test_run_suite(s);
}
