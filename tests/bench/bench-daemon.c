/* bench-daemon.c: xe-migrated figures, printed, never asserted on:
 * the latency of Reserve served from the warm pool and from a cold VF
 * (bound and provisioned on the spot), median of N each (default 100), and
 * the daemon's resident memory when idle with 4 VFs.
 *
 * Run: meson test -C build --benchmark --verbose
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xe-test-bus.h"
#include "xe-test-sim.h"
#include "xe-test-util.h"

#define NAME  "org.xemigrated.XeMigrated1"
#define ROOT  "/org/xemigrated/XeMigrated1"
#define IFACE "org.xemigrated.XeMigrated1."

static guint n_rounds = 100;

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

typedef struct {
    XeTestSim *sim;
    XeTestBus *bus;
    XeTestDaemon *daemon;
    GDBusConnection *conn;
    char *dir;
} Host;

static void
host_start(Host *h, const char *config)
{
    g_autofree char *conf = NULL, *state = NULL;
    g_autoptr(GError) error = NULL;

    h->dir = xe_test_mkdtemp("xe-bench");
    conf = g_build_filename(h->dir, "xe.conf", NULL);
    state = g_build_filename(h->dir, "state", NULL);
    ck_assert(g_file_set_contents(conf, config, -1, NULL));
    h->sim = xe_test_sim_start(NULL);
    h->bus = xe_test_bus_start();
    h->daemon = xe_test_daemon_start(h->bus, (const char *const[]){ "--sysfs-root", h->sim->root,
                                                                    "--config", conf, "--state-dir",
                                                                    state, NULL });
    h->conn =
        g_dbus_connection_new_for_address_sync(h->bus->address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    ck_assert_msg(h->conn != NULL, "%s", error ? error->message : "");
}

static void
host_stop(Host *h)
{
    g_clear_object(&h->conn);
    xe_test_daemon_free(h->daemon);
    xe_test_bus_stop(h->bus);
    xe_test_sim_stop(h->sim);
    xe_test_rmtree(h->dir);
    g_free(h->dir);
}

static GVariant *
call(Host *h, const char *path, const char *iface, const char *method, GVariant *args)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *full = g_strconcat(IFACE, iface, NULL);
    GVariant *r = g_dbus_connection_call_sync(h->conn, NAME, path, full, method, args, NULL,
                                              G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);

    ck_assert_msg(r != NULL, "%s.%s: %s", iface, method, error ? error->message : "");
    return r;
}

static gboolean
in_pool(Host *h, const char *path)
{
    g_autoptr(GVariant) r = g_dbus_connection_call_sync(
        h->conn, NAME, path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", IFACE "VF", "InPool"), G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
        10000, NULL, NULL);
    g_autoptr(GVariant) v = NULL;

    if (r == NULL)
        return FALSE;
    g_variant_get(r, "(v)", &v);
    return g_variant_get_boolean(v);
}

/* Reserves @profile, returns the milliseconds it took; releases it again. */
static double
reserve_release(Host *h, const char *profile, char **vf_out)
{
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GVariant) rel = NULL;
    g_autofree char *vf = NULL, *id = NULL;
    gint64 t0 = g_get_monotonic_time();
    double ms;

    r = call(
        h, ROOT, "Manager", "Reserve",
        g_variant_new("(s@a{sv})", profile, g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)));
    ms = (g_get_monotonic_time() - t0) / 1000.0;
    g_variant_get(r, "(os)", &vf, &id);
    rel = call(h, ROOT, "Manager", "Release", g_variant_new("(s)", id));
    if (vf_out != NULL)
        *vf_out = g_steal_pointer(&vf);
    return ms;
}

static void
print_figures(const char *what, double *ms, guint n)
{
    qsort(ms, n, sizeof(double), cmp_double);
    printf("%s, %u reservations: min %.2f ms, median %.2f ms, p90 %.2f ms, max %.2f ms\n", what, n,
           ms[0], ms[n / 2], ms[n * 9 / 10], ms[n - 1]);
}

START_TEST(bench_warm_pool)
{
    Host h = { 0 };
    g_autofree double *ms = g_new(double, n_rounds);

    host_start(&h, "[profile small]\nexec_quantum_ms=20\nvram_quota=1G\nggtt_quota=256M\n"
                   "[layout 0000:03:00.0]\nvfs=2\npool=small:1\n");
    for (guint i = 0; i < n_rounds; i++) {
        g_autofree char *vf = NULL;
        gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

        /* The pool is refilled in the background after each release: wait for it. */
        while (!in_pool(&h, ROOT "/vf/0000_03_00_1") && !in_pool(&h, ROOT "/vf/0000_03_00_2")) {
            ck_assert_msg(g_get_monotonic_time() < deadline, "the pool was not refilled");
            g_main_context_iteration(NULL, FALSE);
        }
        ms[i] = reserve_release(&h, "small", &vf);
    }
    print_figures("Reserve from the warm pool", ms, n_rounds);
    host_stop(&h);
}
END_TEST

START_TEST(bench_cold)
{
    Host h = { 0 };
    g_autofree double *ms = g_new(double, n_rounds);
    g_autoptr(GVariant) e = NULL;

    host_start(&h, "");
    e = call(&h, ROOT "/pf/0000_03_00_0", "PF", "EnableVFs", g_variant_new("(u)", 2));
    for (guint i = 0; i < n_rounds; i++) {
        g_autofree char *profile =
            g_strdup_printf("exec_quantum_ms=%u,vram_quota=1G,ggtt_quota=256M,contexts_quota=%u",
                            10 + i % 2, 1024 + 8 * (i % 2));
        g_autofree char *vf = NULL;
        g_autoptr(GVariant) b = NULL;

        ms[i] = reserve_release(&h, profile, &vf);
        /* Back on xe, with another profile next time: each reservation binds and provisions. */
        b = call(&h, vf, "VF", "Bind", g_variant_new("(s)", "xe"));
    }
    print_figures("Reserve of a cold VF (bind to xe-vfio-pci + provision)", ms, n_rounds);
    host_stop(&h);
}
END_TEST

START_TEST(bench_idle_rss)
{
    Host h = { 0 };
    g_autoptr(GVariant) e = NULL;
    g_autofree char *status_path = NULL, *status = NULL;
    const char *rss;

    host_start(&h, "[profile small]\nvram_quota=1G\n[layout 0000:03:00.0]\nvfs=4\npool=small:2\n");
    e = call(&h, ROOT, "Manager", "ListReservations", NULL);
    status_path = g_strdup_printf("/proc/%d/status", h.daemon->pid);
    ck_assert(g_file_get_contents(status_path, &status, NULL, NULL));
    rss = strstr(status, "VmRSS:");
    ck_assert_ptr_nonnull(rss);
    printf("xe-migrated idle with 4 VFs (2 in the warm pool): %.*s\n", (int)strcspn(rss, "\n"),
           rss);
    host_stop(&h);
}
END_TEST

int
main(int argc, char **argv)
{
    Suite *s = suite_create("bench-daemon");
    TCase *tc = tcase_create("bench");

    if (argc > 1)
        n_rounds = (guint)MAX(strtoul(argv[1], NULL, 10), 10);
    xe_test_require_peer(xe_test_fuse_available(), "FUSE");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, bench_warm_pool);
    tcase_add_test(tc, bench_cold);
    tcase_add_test(tc, bench_idle_rss);
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
