/* xe-test-util.c: shared helpers for the Check suites.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-test-util.h"

#include <errno.h>
#include <pwd.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

typedef struct {
    gboolean expired;
} Deadline;

static gboolean
deadline_expired(gpointer user_data)
{
    ((Deadline *)user_data)->expired = TRUE;
    return G_SOURCE_REMOVE;
}

void
xe_test_wait_flag(const gboolean *flag, guint timeout_ms, const char *what)
{
    Deadline deadline = { FALSE };
    guint id = g_timeout_add(timeout_ms, deadline_expired, &deadline);

    while (!*flag && !deadline.expired)
        g_main_context_iteration(NULL, TRUE);
    if (!deadline.expired)
        g_source_remove(id);
    ck_assert_msg(*flag, "timed out after %u ms waiting for %s", timeout_ms, what);
}

void
xe_test_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeTestResult *r = user_data;

    r->result = g_object_ref(result);
}

GAsyncResult *
xe_test_result_wait(XeTestResult *r, guint timeout_ms, const char *what)
{
    Deadline deadline = { FALSE };
    guint id = g_timeout_add(timeout_ms, deadline_expired, &deadline);

    while (r->result == NULL && !deadline.expired)
        g_main_context_iteration(NULL, TRUE);
    if (!deadline.expired)
        g_source_remove(id);
    ck_assert_msg(r->result != NULL, "timed out after %u ms waiting for %s", timeout_ms, what);
    return r->result;
}

void
xe_test_result_clear(XeTestResult *r)
{
    g_clear_object(&r->result);
}

char *
xe_test_mkdtemp(const char *prefix)
{
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp(tmpl, &error);

    if (dir == NULL) /* usable outside Check tests too: no ck_assert */
        g_error("creating a scratch directory: %s", error->message);
    return dir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
xe_test_rmtree(const char *path)
{
    if (path != NULL)
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

gboolean
xe_test_in_ci(void)
{
    const char *ci = g_getenv("CI");

    return ci != NULL && *ci != '\0' && g_strcmp0(ci, "false") != 0 && g_strcmp0(ci, "0") != 0;
}

void
xe_test_require_peer(gboolean present, const char *what)
{
    if (present)
        return;
    if (xe_test_in_ci()) {
        fprintf(stderr, "FAIL: %s is required under CI=true (run scripts/setup-deps)\n", what);
        exit(1);
    }
    fprintf(stderr, "SKIP: %s is not available (run scripts/setup-deps)\n", what);
    exit(XE_TEST_SKIP);
}

gboolean
xe_test_have(const char *program)
{
    g_autofree char *path = g_find_program_in_path(program);

    return path != NULL;
}

int
xe_test_cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double
xe_test_median(double *v, guint n)
{
    qsort(v, n, sizeof(double), (int (*)(const void *, const void *))xe_test_cmp_double);
    return v[n / 2];
}

static guint tests_added;

void
xe_test_add_test(TCase *tc, const TTest *test, int start, int end)
{
    const char *only = g_getenv("XE_TEST_CASE");

    if (only != NULL && *only != '\0' && !g_str_equal(only, test->name))
        return;
    _tcase_add_test(tc, test, 0, 0, start, end);
    tests_added++;
}

int
xe_test_run_suite(Suite *suite)
{
    SRunner *runner;
    int failed;

    if (tests_added == 0) {
        fprintf(stderr, "no test case named '%s' in suite %s\n", g_getenv("XE_TEST_CASE"),
                g_getenv("XE_TEST_SUITE") != NULL ? g_getenv("XE_TEST_SUITE") : "?");
        srunner_free(srunner_create(suite)); /* frees the suite */
        return EXIT_FAILURE;
    }
    runner = srunner_create(suite);

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

glong
xe_test_max_rss_kib(void)
{
    struct rusage usage;

    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

char *
xe_test_hook_kill_at_phase(const char *hooks_dir, const char *phase, GPid victim)
{
    g_autofree char *hook = g_build_filename(hooks_dir, "20-kill", NULL);
    g_autofree char *script =
        g_strdup_printf("#!/bin/sh\n[ \"$1\" = %s ] && kill -9 %d\nexit 0\n", phase, (int)victim);

    ck_assert(g_file_set_contents(hook, script, -1, NULL));
    ck_assert_int_eq(chmod(hook, 0755), 0);
    return g_steal_pointer(&hook);
}

/* `promtool check metrics` on @text: its complaints, "" when none */
char *
xe_test_promtool_check(const char *text)
{
    const char *argv[] = { "promtool", "check", "metrics", NULL };
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL, *err = NULL;

    p = g_subprocess_newv(argv,
                          G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE,
                          &error);
    ck_assert_msg(p != NULL, "promtool (package prometheus): %s",
                  error != NULL ? error->message : "");
    ck_assert(g_subprocess_communicate_utf8(p, text, NULL, &out, &err, &error));
    if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0)
        return g_strdup("");
    return g_strdup_printf("%s%s", out, err);
}

void
xe_test_give_to_qemu_user(const char *path)
{
    struct passwd *qemu = getpwnam("xe-qemu");

    if (geteuid() != 0)
        return; /* a daemon that is not root runs QEMU as itself */
    ck_assert_msg(qemu != NULL, "no user xe-qemu (scripts/setup-deps creates it)");
    ck_assert_msg(chown(path, qemu->pw_uid, qemu->pw_gid) == 0, "chown %s: %s", path,
                  g_strerror(errno));
}
