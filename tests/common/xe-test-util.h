/* xe-test-util.h: what every Check suite shares: waiting on the main loop
 * with a deadline, collecting async results, scratch directories, and the
 * rule for missing real peers (fail under CI=true, skip with 77 otherwise).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <check.h>
#include <gio/gio.h>

G_BEGIN_DECLS

/* Exit status meson reads as "skipped". */
#define XE_TEST_SKIP 77

/* Iterates the default main context until *flag is TRUE; fails the test
 * with @what when @timeout_ms passes first. */
void xe_test_wait_flag(const gboolean *flag, guint timeout_ms, const char *what);

/* Collects one GAsyncResult: pass xe_test_result_cb and &result to an
 * _async call, then xe_test_result_wait(). */
typedef struct {
    GAsyncResult *result;
} XeTestResult;

void xe_test_result_cb(GObject *source, GAsyncResult *result, gpointer user_data);
/* Waits for the result (failing the test after @timeout_ms) and returns it;
 * it belongs to @r and is released by xe_test_result_clear(). */
GAsyncResult *xe_test_result_wait(XeTestResult *r, guint timeout_ms, const char *what);
void xe_test_result_clear(XeTestResult *r);

/* A fresh directory under $TMPDIR, removed with its contents by
 * xe_test_rmtree(). */
char *xe_test_mkdtemp(const char *prefix);
void xe_test_rmtree(const char *path);

/* TRUE when running under CI (CI=true): real peers must then be present. */
gboolean xe_test_in_ci(void);

/* For a suite's main(): when a real peer is missing, exits 77 (skip) outside
 * CI, and under CI prints why and exits 1. */
void xe_test_require_peer(gboolean present, const char *what);
/* TRUE when @program is in PATH. */
gboolean xe_test_have(const char *program);

/* For benchmarks: doubles in ascending order (qsort, g_array_sort), and the median of @n
 * (sorts @v). */
int xe_test_cmp_double(gconstpointer a, gconstpointer b);
double xe_test_median(double *v, guint n);

/* Runs @suite with Check and returns main()'s exit status. */
int xe_test_run_suite(Suite *suite);

/* One meson test per test case (as power-profiles-daemon does): tests/meson.build
 * registers each START_TEST of a suite's file as its own test, with XE_TEST_CASE=NAME,
 * and then a suite adds that test alone, so that a failure names its case. Without
 * XE_TEST_CASE every test is added; a name no test has fails the run. */
void xe_test_add_test(TCase *tc, const TTest *test, int start, int end);
#undef tcase_add_test
#define tcase_add_test(tc, tf) xe_test_add_test((tc), (tf), 0, 1)
#undef tcase_add_loop_test
#define tcase_add_loop_test(tc, tf, s, e) xe_test_add_test((tc), (tf), (s), (e))

/* Maximum resident set size of this process so far, in KiB. */
glong xe_test_max_rss_kib(void);

/* A phase hook in @hooks_dir (a lab daemon's DIR/HOST/hooks) that sends SIGKILL to @victim
 * when a job reaches hook phase @phase (hooks run inside the job, so the moment is exact).
 * Its path: unlink it once it fired. */
char *xe_test_hook_kill_at_phase(const char *hooks_dir, const char *phase, GPid victim);

/* Makes @path the user QEMU runs as (xe-qemu)'s, as an operator does with a VM's disk or
 * memory file: a daemon running as root starts QEMU as that user. */
void xe_test_give_to_qemu_user(const char *path);

/* `promtool check metrics` (package prometheus) on @text: its complaints, "" when none. */
char *xe_test_promtool_check(const char *text);

G_END_DECLS
