/* test-engine.c: suite "engine", the migration engine's pure logic:
 * policies (the shipped files, every key's errors), the device-aware downtime
 * estimate and budget check, downtime-limit stepping, retry backoff, and the
 * failure classifier on the error texts QEMU 10.0 produces.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "xe-error.h"
#include "xe-failure.h"
#include "xe-policy.h"
#include "xe-test-util.h"

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
    return xe_test_run_suite(s);
}
