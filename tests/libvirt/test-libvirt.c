/* test-libvirt.c: suite "libvirt": GPU domains moved between two real libvirtd daemons
 * (scripts/lab with XE_LAB_LIBVIRT=1: each host's libvirtd sees its xe-sim as the PCI sysfs,
 * its QEMU runs under the VFIO emulation) through xe-migrated's qemu hook alone, with the
 * VF's state moving through QEMU's own VFIO migration.
 *
 * What is checked after each case comes from outside the daemons: libvirt's own view of
 * both hosts (virsh list, dumpxml, the job-completed event's statistics), the QEMU processes
 * in each host's namespace, and the reservations and VFs each daemon lists.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <check.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xe-test-lab.h"
#include "xe-test-qemu.h"
#include "xe-test-util.h"

#define PROFILE                                                                              \
    "exec_quantum_ms=20,preempt_timeout_us=64000,vram_quota=536870912,ggtt_quota=268435456," \
    "contexts_quota=1024,doorbells_quota=16"
/* more VRAM than a's VFs hold */
#define PROFILE_TOO_BIG                                                                        \
    "exec_quantum_ms=20,preempt_timeout_us=64000,vram_quota=68719476736,ggtt_quota=268435456," \
    "contexts_quota=1024,doorbells_quota=16"

static XeTestLab *lab;
static guint64 last_downtime; /* ms, of the last migrate()'s job-completed event */

static void
setup(void)
{
    const char *extra[] = { "XE_LAB_LIBVIRT=1", NULL };
    g_autoptr(GError) error = NULL;

    lab = xe_test_lab_new(g_getenv("XE_LAB"), g_getenv("XE_LAB_DIR"), g_getenv("XE_BUILD_ROOT"),
                          g_getenv("XE_MIGRATECTL"));
    ck_assert_msg(xe_test_lab_up(lab, extra, &error), "lab up: %s",
                  error != NULL ? error->message : "");
}

static void
teardown(void)
{
    g_autofree char *reports = xe_test_lab_sanitizer_reports(lab);

    xe_test_lab_down(lab);
    g_clear_pointer(&lab, xe_test_lab_free);
    ck_assert_msg(reports == NULL, "sanitizer reports: %s", reports);
}

/* virsh on @host's libvirtd: its exit status; stdout and stderr in *@out */
static int G_GNUC_NULL_TERMINATED
virsh(char host, char **out, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *so = NULL, *se = NULL;
    g_autoptr(GError) error = NULL;
    va_list ap;
    int status;

    g_ptr_array_add(argv, (gpointer) "virsh");
    g_ptr_array_add(argv, (gpointer) "-c");
    g_ptr_array_add(argv, (gpointer)xe_test_lab_env(lab, host == 'a' ? "XE_LAB_A_LIBVIRT"
                                                                     : "XE_LAB_B_LIBVIRT"));
    va_start(ap, out);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &so, &se, &status, &error),
                  "virsh: %s", error != NULL ? error->message : "");
    if (out != NULL)
        *out = g_strconcat(so, se, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static gboolean
domain_running_on(char host, const char *name)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;

    ck_assert_int_eq(virsh(host, &out, "list", "--name", NULL), 0);
    lines = g_strsplit(out, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
        if (g_str_equal(g_strstrip(lines[i]), name))
            return TRUE;
    return FALSE;
}

/* The QEMU processes in @host's namespace (what runs, whatever libvirt says). */
static guint
qemus_on(char host)
{
    g_autoptr(GPtrArray) q = xe_test_lab_qemus(lab, host);

    return q->len;
}

/* A GPU domain @name on host a holding VF @vf, whose metadata says @profile. */
static void
define_domain(const char *name, const char *vf, const char *profile, gboolean with_metadata,
              gboolean with_override)
{
    struct rlimit memlock;
    g_autofree char *memtune = NULL;
    g_autofree char *metadata = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *path = g_strdup_printf("%s/%s.xml", xe_test_lab_dir(lab), name);
    g_autofree char *out = NULL;
    guint bus, slot, fn;

    ck_assert(sscanf(vf, "0000:%x:%x.%x", &bus, &slot, &fn) == 3);
    /* libvirt sets QEMU's memlock limit; without CAP_SYS_RESOURCE it may only keep the hard
     * limit there is (the lab's QEMU pins nothing: the VFIO emulation) */
    ck_assert(getrlimit(RLIMIT_MEMLOCK, &memlock) == 0);
    memtune = memlock.rlim_max == RLIM_INFINITY
                  ? g_strdup("")
                  : g_strdup_printf("<memtune><hard_limit unit='KiB'>%llu</hard_limit></memtune>",
                                    (unsigned long long)memlock.rlim_max / 1024);
    metadata = with_metadata
                   ? g_strdup_printf("<metadata><xe:migrated xmlns:xe='urn:xe-migrated:libvirt:1'>"
                                     "<xe:vf host='%s' profile='%s'/></xe:migrated></metadata>",
                                     vf, profile)
                   : g_strdup("");
    xml = g_strdup_printf(
        "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        "<name>%s</name>%s<memory unit='MiB'>256</memory>%s<vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<emulator>/etc/libvirt/xe-lab-qemu</emulator>"
        "<hostdev mode='subsystem' type='pci' managed='no'><source>"
        "<address domain='0x0000' bus='0x%02x' slot='0x%02x' function='0x%x'/></source>"
        "%s</hostdev><memballoon model='none'/></devices>%s</domain>",
        name, metadata, memtune, bus, slot, fn, with_override ? "<alias name='ua-xevf0'/>" : "",
        with_override ? "<qemu:override><qemu:device alias='ua-xevf0'><qemu:frontend>"
                        "<qemu:property name='enable-migration' type='string' value='on'/>"
                        "<qemu:property name='migration-events' type='bool' value='true'/>"
                        "</qemu:frontend></qemu:device></qemu:override>"
                      : "");
    ck_assert(g_file_set_contents(path, xml, -1, NULL));
    ck_assert_msg(virsh('a', &out, "define", path, NULL) == 0, "define: %s", out);
}

static void
start_domain(char host, const char *name)
{
    g_autofree char *out = NULL;

    ck_assert_msg(virsh(host, &out, "start", name, NULL) == 0, "start %s: %s", name, out);
    ck_assert(domain_running_on(host, name));
}

/* a VF of @host's warm pool */
static char *
pool_vf(char host)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) list = xe_test_lab_ctl_json(lab, host, &error, "list", NULL);
    JsonArray *vfs;

    ck_assert_msg(list != NULL, "list: %s", error != NULL ? error->message : "");
    vfs = json_object_get_array_member(json_node_get_object(list), "vfs");
    for (guint i = 0; i < json_array_get_length(vfs); i++) {
        JsonObject *vf = json_array_get_object_element(vfs, i);

        if (json_object_get_boolean_member_with_default(vf, "InPool", FALSE))
            return g_strdup(json_object_get_string_member(vf, "Address"));
    }
    ck_abort_msg("host %c has no VF in its pool", host);
    return NULL;
}

static JsonObject *
vf_of(char host, const char *address, JsonNode **keep)
{
    g_autoptr(GError) error = NULL;
    JsonArray *vfs;

    *keep = xe_test_lab_ctl_json(lab, host, &error, "list", NULL);
    ck_assert_msg(*keep != NULL, "list: %s", error != NULL ? error->message : "");
    vfs = json_object_get_array_member(json_node_get_object(*keep), "vfs");
    for (guint i = 0; i < json_array_get_length(vfs); i++) {
        JsonObject *vf = json_array_get_object_element(vfs, i);

        if (g_str_equal(json_object_get_string_member(vf, "Address"), address))
            return vf;
    }
    ck_abort_msg("host %c has no VF %s", host, address);
    return NULL;
}

/* The reservations of @host as (vf -> owner). */
static GHashTable *
reservations(char host)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = xe_test_lab_ctl_json(lab, host, &error, "reservations", NULL);
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    JsonArray *list;

    ck_assert_msg(node != NULL, "reservations: %s", error != NULL ? error->message : "");
    list = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *r = json_array_get_object_element(list, i);

        g_hash_table_insert(table, g_strdup(json_object_get_string_member(r, "vf")),
                            g_strdup(json_object_get_string_member(r, "owner")));
    }
    return table;
}

/* The VF the domain's hostdev names on @host, from libvirt's live XML (@inactive: its
 * persistent definition). */
static char *
domain_xml_vf(char host, const char *name, gboolean inactive)
{
    g_autofree char *xml = NULL;
    const char *a;
    guint dom, bus, slot, fn;

    ck_assert_int_eq(inactive ? virsh(host, &xml, "dumpxml", "--inactive", name, NULL)
                              : virsh(host, &xml, "dumpxml", name, NULL),
                     0);
    a = strstr(xml, "<source>");
    ck_assert(a != NULL);
    a = strstr(a, "<address domain=");
    ck_assert(a != NULL &&
              sscanf(a, "<address domain='0x%x' bus='0x%x' slot='0x%x' function='0x%x'", &dom, &bus,
                     &slot, &fn) == 4);
    return g_strdup_printf("%04x:%02x:%02x.%x", dom, bus, slot, fn);
}

static char *
domain_vf(char host, const char *name)
{
    return domain_xml_vf(host, name, FALSE);
}

/* Waits (a deadline) until @name's definition on @host names @vf: b's daemon points the
 * definition libvirt persisted (the source's) at the VF the domain runs with, once libvirt
 * says the domain arrived. */
static void
wait_definition_vf(char host, const char *name, const char *vf)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *def_vf = domain_xml_vf(host, name, TRUE);

        if (g_str_equal(def_vf, vf))
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "%s's definition on %c names VF %s, it runs with %s", name, host, def_vf, vf);
        g_usleep(100000);
    }
}

static guint64
vf_stream_size(char host, const char *vf)
{
    guint n = (guint)g_ascii_strtoull(strrchr(vf, '.') + 1, NULL, 10);
    g_autofree char *path =
        g_strdup_printf("%s/sys/kernel/debug/dri/0000:03:00.0/sriov/vf%u/migration_size",
                        xe_test_lab_sim(lab, host), n);
    g_autofree char *text = NULL;

    ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "%s", path);
    return g_ascii_strtoull(text, NULL, 10);
}

/* `virsh migrate --live --p2p` of @name from @from to the other host, with the
 * job-completed event of the source captured: its exit status, its output in *@out, the
 * event's vfio_data_transferred in *@vfio (0 when there was none). */
static int
migrate(char from, const char *name, char **out, guint64 *vfio)
{
    const char *uri_key = from == 'a' ? "XE_LAB_A_LIBVIRT" : "XE_LAB_B_LIBVIRT";
    const char *to =
        xe_test_lab_env(lab, from == 'a' ? "XE_LAB_B_LIBVIRT_TCP" : "XE_LAB_A_LIBVIRT_TCP");
    g_autoptr(GSubprocess) events = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *event_out = NULL;
    const char *hit;
    gint64 t0;
    int status;

    events =
        g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error,
                         "virsh", "-c", xe_test_lab_env(lab, uri_key), "event", "--domain", name,
                         "--event", "job-completed", "--timeout", "120", NULL);
    ck_assert_msg(events != NULL, "virsh event: %s", error != NULL ? error->message : "");
    t0 = g_get_monotonic_time();
    status = virsh(from, out, "migrate", "--live", "--p2p", "--persistent", "--undefinesource",
                   name, to, NULL);
    printf("virsh migrate %s from %c: exit %d after %.0f ms\n", name, from, status,
           (g_get_monotonic_time() - t0) / 1000.0);
    *vfio = 0;
    if (status != 0) {
        g_subprocess_force_exit(events);
        return status;
    }
    /* the event follows the migration's end on the source: virsh exits after one */
    ck_assert(g_subprocess_communicate_utf8(events, NULL, NULL, &event_out, NULL, &error));
    hit = event_out != NULL ? strstr(event_out, "vfio_data_transferred:") : NULL;
    if (hit != NULL)
        *vfio = g_ascii_strtoull(hit + strlen("vfio_data_transferred:"), NULL, 10);
    hit = event_out != NULL ? strstr(event_out, "\tdowntime:") : NULL;
    last_downtime = hit != NULL ? g_ascii_strtoull(hit + strlen("\tdowntime:"), NULL, 10) : 0;
    return status;
}

/* `virsh migrate` of a GPU domain with only the hook: b's daemon picks a VF provisioned as
 * the source's (not the address the source used: that one is taken on b), the XML comes back
 * pointing at it, QEMU's VFIO bytes are the VF's whole stream, the domain runs on b only,
 * and a's VF is reset and back in a's pool. */
START_TEST(test_virsh_migrate_with_the_hook)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autofree char *vf_b = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;
    g_autoptr(JsonNode) taken = NULL, keep_a = NULL, keep_b = NULL;
    g_autoptr(GError) error = NULL;
    guint64 stream, vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
    stream = vf_stream_size('a', vf_a);
    /* the source's address is taken on b */
    taken = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", "standard", NULL);
    ck_assert_msg(taken != NULL, "reserve on b: %s", error != NULL ? error->message : "");

    ck_assert_msg(migrate('a', "gpu1", &out, &vfio) == 0, "virsh migrate: %s", out);
    ck_assert_msg(vfio == stream,
                  "QEMU moved %" G_GUINT64_FORMAT " VFIO bytes, the VF's stream "
                  "is %" G_GUINT64_FORMAT,
                  vfio, stream);
    ck_assert(domain_running_on('b', "gpu1"));
    ck_assert(!domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 0);
    ck_assert_uint_eq(qemus_on('b'), 1);
    /* b: the VF the XML names is reserved for the domain, bound, provisioned as the source's */
    vf_b = domain_vf('b', "gpu1");
    ck_assert_str_ne(vf_b, json_object_get_string_member(json_node_get_object(taken), "vf"));
    /* and its definition (libvirt persisted a's, naming a's address) names it too */
    wait_definition_vf('b', "gpu1", vf_b);
    res_b = reservations('b');
    ck_assert_str_eq(g_hash_table_lookup(res_b, vf_b), "domain:gpu1");
    ck_assert_str_eq(json_object_get_string_member(vf_of('b', vf_b, &keep_b), "Driver"),
                     "xe-vfio-pci");
    /* a: the VF reset and back in the pool, nothing reserved */
    g_clear_pointer(&res_a, g_hash_table_unref);
    res_a = reservations('a');
    ck_assert_uint_eq(g_hash_table_size(res_a), 0);
    /* the pool takes a released VF back once the layout converges again */
    {
        gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

        while (!json_object_get_boolean_member(vf_of('a', vf_a, &keep_a), "InPool")) {
            ck_assert_msg(g_get_monotonic_time() < deadline, "VF %s never went back to a's pool",
                          vf_a);
            g_clear_pointer(&keep_a, json_node_unref);
            g_usleep(50000);
        }
    }
}
END_TEST

/* And back: a -> b -> a, each hop through the hooks. */
START_TEST(test_round_trip)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;
    guint64 vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_msg(migrate('a', "gpu1", &out, &vfio) == 0, "a -> b: %s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(migrate('b', "gpu1", &out, &vfio) == 0, "b -> a: %s", out);
    ck_assert_uint_gt(vfio, 0);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert(!domain_running_on('b', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
    res_a = reservations('a');
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_a), 1);
    ck_assert_uint_eq(g_hash_table_size(res_b), 0);
}
END_TEST

/* No VF on b can take the source's state (every one is taken): the hook refuses libvirt's
 * migrate with its reason, the domain keeps running on a, nothing is reserved for it on b. */
START_TEST(test_no_compatible_vf_refused)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_b = NULL;
    g_autoptr(GError) error = NULL;
    GHashTableIter iter;
    gpointer owner;
    guint64 vfio;
    guint taken = 0;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    /* every VF of b held by somebody else */
    for (;;) {
        g_autoptr(JsonNode) r = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", "standard", NULL);

        if (r == NULL)
            break;
        taken++;
    }
    ck_assert_uint_gt(taken, 0);
    ck_assert_int_ne(migrate('a', "gpu1", &out, &vfio), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "xe-migrated: domain gpu1, migrate: no VF on this host for gpu1's "
                              "VF") != NULL,
                  "%s", out);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert(!domain_running_on('b', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), taken);
    g_hash_table_iter_init(&iter, res_b);
    while (g_hash_table_iter_next(&iter, NULL, &owner))
        ck_assert_str_ne(owner, "domain:gpu1");
}
END_TEST

/* A domain of the same name runs on b already: b's hook refuses the incoming one before
 * reserving anything (libvirt would refuse it after the hook, and a VF reserved for it would
 * be stranded); both domains run on, each on its host. */
START_TEST(test_same_name_on_destination_refused)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *vf_b = pool_vf('b');
    g_autofree char *out = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GHashTable) res_b = NULL;
    guint64 vfio;

    /* the same definition on b, on one of b's VFs */
    define_domain("gpu1", vf_b, PROFILE, TRUE, TRUE);
    ck_assert_int_eq(virsh('a', &xml, "dumpxml", "--inactive", "gpu1", NULL), 0);
    path = g_strdup_printf("%s/gpu1-b.xml", xe_test_lab_dir(lab));
    ck_assert(g_file_set_contents(path, xml, -1, NULL));
    ck_assert_int_eq(virsh('a', NULL, "undefine", "gpu1", NULL), 0);
    ck_assert_msg(virsh('b', &out, "define", path, NULL) == 0, "define on b: %s", out);
    start_domain('b', "gpu1");
    g_clear_pointer(&out, g_free);
    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_int_ne(migrate('a', "gpu1", &out, &vfio), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "xe-migrated: domain gpu1, migrate: a domain 'gpu1' holds VF") !=
                      NULL,
                  "%s", out);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert(domain_running_on('b', "gpu1"));
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 1);
    ck_assert_str_eq(g_hash_table_lookup(res_b, vf_b), "domain:gpu1");
}
END_TEST

/* b's daemon is stopped: the hook refuses at once, saying so; the domain stays on a. */
START_TEST(test_destination_daemon_down_refused)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    guint64 vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_msg(xe_test_lab_daemon(lab, "stop", 'b', &error), "stop b: %s",
                  error != NULL ? error->message : "");
    ck_assert_int_ne(migrate('a', "gpu1", &out, &vfio), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "xe-migrated: domain gpu1, migrate: xe-migrated is not running on "
                              "this host") != NULL,
                  "%s", out);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
}
END_TEST

/* b's daemon hangs (SIGSTOP): the hook gives up after its deadline (10 s) with a clear
 * refusal, the domain stays on a; once the daemon runs again, the late call (its caller,
 * the hook, gone) is refused and nothing is reserved. */
START_TEST(test_destination_daemon_hung_refused)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autofree char *log_path = xe_test_lab_path(lab, 'b', "daemon.log");
    g_autoptr(GHashTable) res_b = NULL;
    GPid daemon = xe_test_lab_daemon_pid(lab, 'b');
    gint64 deadline;
    guint64 vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_int_eq(kill(daemon, SIGSTOP), 0);
    ck_assert_int_ne(migrate('a', "gpu1", &out, &vfio), 0);
    ck_assert_int_eq(kill(daemon, SIGCONT), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "xe-migrated: domain gpu1, migrate: xe-migrated did not answer "
                              "within 10000 ms") != NULL,
                  "%s", out);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
    /* the late call: refused by the daemon itself, nothing kept */
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *log = NULL;

        if (g_file_get_contents(log_path, &log, NULL, NULL) &&
            (strstr(log, "refused LibvirtHook") != NULL ||
             strstr(log, "the hook gave up waiting") != NULL))
            break;
        ck_assert_msg(g_get_monotonic_time() < deadline, "b's daemon never took the late call");
        g_usleep(50000);
    }
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 0);
}
END_TEST

/* The source VF resets in stop-copy (the kernel's FLR ends its stream): QEMU's migration
 * fails, libvirt runs b's release hook for the failed incoming, which resets and releases
 * the VF it had reserved there; the domain keeps running on a, holding its VF. */
START_TEST(test_failed_incoming_releases_its_vf)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *arm = NULL;
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;
    g_autoptr(GError) error = NULL;
    guint64 vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    arm = g_strdup_printf("%s stop_copy", vf_a);
    ck_assert_msg(xe_test_lab_sim_write(lab, 'a', "flr_on_state", arm, &error), "arm: %s",
                  error != NULL ? error->message : "");
    ck_assert_int_ne(migrate('a', "gpu1", &out, &vfio), 0);
    printf("failed: %s", out);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert(!domain_running_on('b', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 0);
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
}
END_TEST

static void
libvirtd_restart(char host)
{
    const char *argv[] = { g_getenv("XE_LAB"), "libvirtd-restart", xe_test_lab_dir(lab),
                           host == 'a' ? "a" : "b", NULL };
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status;

    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err,
                               &status, &error) &&
                      g_spawn_check_wait_status(status, NULL),
                  "libvirtd-restart %c: %s", host, error != NULL ? error->message : err);
}

/* libvirtd restarts while xe-migrated is down: libvirt would kill a domain whose reconnect
 * hook fails, so the hook lets it be; the domain runs on, and keeps its reservation. With the
 * daemon up, a reconnect finds the domain holding its VF. */
START_TEST(test_libvirtd_restart_keeps_the_domain)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autoptr(GHashTable) res_a = NULL;
    g_autoptr(GError) error = NULL;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_msg(xe_test_lab_daemon(lab, "stop", 'a', &error), "stop a: %s",
                  error != NULL ? error->message : "");
    libvirtd_restart('a');
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 1);
    ck_assert_msg(xe_test_lab_daemon(lab, "start", 'a', &error), "start a: %s",
                  error != NULL ? error->message : "");
    libvirtd_restart('a');
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 1);
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
}
END_TEST

/* The metadata says the VF holds more than it does: prepare refuses the start before QEMU
 * opens the VF (a migration would fail at its very end otherwise), and keeps nothing. */
START_TEST(test_start_refused_when_the_vf_differs)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_a = NULL;

    define_domain("gpu1", vf_a, PROFILE_TOO_BIG, TRUE, TRUE);
    ck_assert_int_ne(virsh('a', &out, "start", "gpu1", NULL), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "xe-migrated: domain gpu1, prepare: domain gpu1: its VF") != NULL &&
                      strstr(out, "is not provisioned as xe-migrated's metadata says") != NULL,
                  "%s", out);
    ck_assert(!domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 0);
    res_a = reservations('a');
    ck_assert_uint_eq(g_hash_table_size(res_a), 0);
}
END_TEST

/* xe-migratectl on a's daemon: its exit status, its output in *@out */
static int G_GNUC_NULL_TERMINATED
ctl(char host, char **out, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *so = NULL, *se = NULL;
    g_autoptr(GError) error = NULL;
    va_list ap;
    int status;

    g_ptr_array_add(argv, (gpointer)g_getenv("XE_MIGRATECTL"));
    g_ptr_array_add(argv, (gpointer) "--bus");
    g_ptr_array_add(argv, (gpointer)xe_test_lab_bus(lab, host));
    va_start(ap, out);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
        g_ptr_array_add(argv, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    ck_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se,
                           &status, &error));
    *out = g_strconcat(so, se, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A GPU domain defined the way libvirt users write one, with neither the metadata nor the
 * override: `xe-migratectl domains` says it cannot migrate and why; `domain-prepare` adds
 * both to its definition, saying what; then it starts, and `virsh migrate` moves it through
 * the hook with the VF's whole stream. */
START_TEST(test_domain_prepare_then_virsh_migrate)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autofree char *xml = NULL;
    guint64 stream = vf_stream_size('a', vf_a), vfio;

    define_domain("gpu1", vf_a, PROFILE, FALSE, FALSE);
    ck_assert_msg(ctl('a', &out, "domains", NULL) == 0, "xe-migratectl: %s", out);
    printf("%s", out);
    ck_assert_msg(strstr(out, "gpu1") != NULL && strstr(out, " no ") != NULL &&
                      strstr(out, "no xe-migrated metadata") != NULL &&
                      strstr(out, "no enable-migration=on override") != NULL,
                  "%s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "domain-prepare", "gpu1", NULL) == 0, "xe-migratectl: %s", out);
    printf("%s", out);
    ck_assert_msg(strstr(out, "user alias ua-xevf0") != NULL &&
                      strstr(out, "enable-migration=on") != NULL &&
                      strstr(out, "metadata: VF") != NULL,
                  "%s", out);
    ck_assert_int_eq(virsh('a', &xml, "dumpxml", "--inactive", "gpu1", NULL), 0);
    ck_assert_msg(strstr(xml, "urn:xe-migrated:libvirt:1") != NULL &&
                      strstr(xml, "name='enable-migration' type='string' value='on'") != NULL,
                  "%s", xml);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "domain-prepare", "gpu1", NULL) == 0, "xe-migratectl: %s", out);
    ck_assert_msg(strstr(out, "nothing changed") != NULL, "%s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "domains", NULL) == 0, "xe-migratectl: %s", out);
    ck_assert_msg(strstr(out, " yes ") != NULL, "%s", out);
    start_domain('a', "gpu1");
    g_clear_pointer(&out, g_free);
    ck_assert_msg(migrate('a', "gpu1", &out, &vfio) == 0, "virsh migrate: %s", out);
    ck_assert_uint_eq(vfio, stream);
    ck_assert(domain_running_on('b', "gpu1"));
    ck_assert(!domain_running_on('a', "gpu1"));
}
END_TEST

/* A GPU domain started before it was prepared went past the hook: `domains` says its VF is
 * not guarded; `domain-prepare` adds what it lacks to its definition and reserves the VF it
 * runs on for it; `domains` then says the definition is ready for the next start. */
START_TEST(test_prepare_a_running_domain)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_a = NULL;

    define_domain("gpu1", vf_a, PROFILE, FALSE, FALSE);
    start_domain('a', "gpu1");
    ck_assert_msg(ctl('a', &out, "domains", NULL) == 0, "xe-migratectl: %s", out);
    printf("%s", out);
    ck_assert_msg(strstr(out, "is not reserved for the domain") != NULL, "%s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "domain-prepare", "gpu1", NULL) == 0, "xe-migratectl: %s", out);
    printf("%s", out);
    ck_assert_msg(strstr(out, "reserved for the running domain") != NULL &&
                      strstr(out, "apply from its next start") != NULL,
                  "%s", out);
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "domains", NULL) == 0, "xe-migratectl: %s", out);
    printf("%s", out);
    ck_assert_msg(strstr(out, "its definition has all of this") != NULL &&
                      strstr(out, "is not reserved") == NULL,
                  "%s", out);
}
END_TEST

/* Restarts on both sides between a domain's start and its migration: a's daemon (its
 * reservation for the domain survives in its state file), b's daemon, and b's libvirtd (the
 * hook is found again). The domain then migrates through the hook as ever. */
START_TEST(test_restarts_then_migrate)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *out = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) taken = NULL;
    guint64 vfio;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    /* a's address is taken on b: b's VF will differ, and so must the definition there */
    taken = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", "standard", NULL);
    ck_assert_msg(taken != NULL, "reserve on b: %s", error != NULL ? error->message : "");
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(taken), "vf"), vf_a);
    ck_assert_msg(xe_test_lab_daemon(lab, "stop", 'a', &error) &&
                      xe_test_lab_daemon(lab, "start", 'a', &error) &&
                      xe_test_lab_daemon(lab, "stop", 'b', &error) &&
                      xe_test_lab_daemon(lab, "start", 'b', &error),
                  "restarting the daemons: %s", error != NULL ? error->message : "");
    libvirtd_restart('b');
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
    ck_assert_msg(migrate('a', "gpu1", &out, &vfio) == 0, "virsh migrate: %s", out);
    ck_assert_uint_gt(vfio, 0);
    ck_assert(domain_running_on('b', "gpu1"));
    ck_assert(!domain_running_on('a', "gpu1"));
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 2); /* the domain's and the one taken */
    /* b's daemon watches its libvirt again after the restart */
    {
        g_autofree char *vf_b = domain_vf('b', "gpu1");

        ck_assert_str_ne(vf_b, vf_a);
        wait_definition_vf('b', "gpu1", vf_b);
    }
}
END_TEST

/* libvirt runs b's migrate hook for domain "ghost", then gives up without a release hook
 * (as after a same-name clash, or --offline): the VF reserved for it is reset and released
 * by the daemon's reconcile (libvirt-reconcile-s, 5 s in the lab) once libvirt says no such
 * domain runs, while a running domain's reservation stays. */
START_TEST(test_stale_reservation_reconciled)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *hook =
        g_build_filename(g_getenv("XE_BUILD_ROOT"), "hook", "xe-migrated-libvirt-hook", NULL);
    g_autofree char *xml = NULL, *ghost = NULL, *out = NULL, *err = NULL;
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) res_a = NULL;
    gint64 deadline;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    ck_assert_int_eq(virsh('a', &xml, "dumpxml", "gpu1", NULL), 0);
    /* the same GPU domain, by another name, as b's libvirt would hand it to the hook */
    {
        const char *at = strstr(xml, "<name>gpu1</name>");

        ck_assert(at != NULL);
        ghost = g_strdup_printf("%.*s<name>ghost</name>%s", (int)(at - xml), xml,
                                at + strlen("<name>gpu1</name>"));
    }
    p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE,
                         &error, hook, "--bus", xe_test_lab_bus(lab, 'b'), "ghost", "migrate",
                         "begin", "-", NULL);
    ck_assert_msg(p != NULL, "%s", error != NULL ? error->message : "");
    ck_assert(g_subprocess_communicate_utf8(p, ghost, NULL, &out, &err, &error));
    ck_assert_msg(g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0,
                  "the hook: %s", err);
    ck_assert_msg(strstr(out, "<name>ghost</name>") != NULL, "%s", out);
    {
        g_autoptr(GHashTable) res_b = reservations('b');

        ck_assert_uint_eq(g_hash_table_size(res_b), 1);
    }
    /* libvirt never brings "ghost" up on b: the daemon lets its VF go */
    deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GHashTable) res_b = reservations('b');

        if (g_hash_table_size(res_b) == 0)
            break;
        ck_assert_msg(g_get_monotonic_time() < deadline, "ghost's VF is still reserved on b");
        g_usleep(200000);
    }
    /* and a's running domain keeps its own */
    res_a = reservations('a');
    ck_assert_str_eq(g_hash_table_lookup(res_a, vf_a), "domain:gpu1");
}
END_TEST

/* daemon-driven: xe-migratectl migrate DOMAIN --to HOST */

/* `xe-migratectl --json migrate @name --to` the other host, from @from: its exit status, its
 * stream in *@stream (one object per change of the job, then the job) and the job as
 * `xe-migratectl job` shows it afterwards in *@job. */
static int
ctl_migrate(char from, const char *name, char **stream, JsonNode **job)
{
    const char to[2] = { from == 'a' ? 'b' : 'a', '\0' };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) jobs = NULL;
    gint64 t0 = g_get_monotonic_time();
    int status = xe_test_lab_ctl(lab, from, stream, "--json", "migrate", name, "--to", to, NULL);
    JsonArray *list;
    const char *id;

    printf("xe-migratectl migrate %s from %c: exit %d after %.0f ms\n", name, from, status,
           (g_get_monotonic_time() - t0) / 1000.0);
    jobs = xe_test_lab_ctl_json(lab, from, &error, "jobs", NULL);
    ck_assert_msg(jobs != NULL, "jobs: %s", error != NULL ? error->message : "");
    list = json_node_get_array(jobs);
    ck_assert_uint_gt(json_array_get_length(list), 0);
    id = NULL; /* the newest */
    for (guint i = 0; i < json_array_get_length(list); i++) {
        const char *candidate =
            json_object_get_string_member(json_array_get_object_element(list, i), "Id");

        if (id == NULL || g_ascii_strtoull(candidate, NULL, 10) > g_ascii_strtoull(id, NULL, 10))
            id = candidate;
    }
    *job = xe_test_lab_ctl_json(lab, from, &error, "job", id, NULL);
    ck_assert_msg(*job != NULL, "job %s: %s", id, error != NULL ? error->message : "");
    return status;
}

static const char *
jstr(JsonNode *j, const char *member)
{
    return json_object_get_string_member(json_node_get_object(j), member);
}

static guint64
jint(JsonNode *j, const char *member)
{
    return (guint64)json_object_get_int_member(json_node_get_object(j), member);
}

/* The failure class of failed attempt @i (0-based). */
static const char *
attempt_class(JsonNode *j, guint i)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(j), "Attempts");

    ck_assert_uint_gt(json_array_get_length(a), i);
    return json_array_get_string_element(json_array_get_array_element(a, i), 1);
}

static void
print_job(const char *test, JsonNode *j)
{
    printf("%s: %s after %" G_GUINT64_FORMAT " attempt(s); downtime %" G_GUINT64_FORMAT
           " ms, time to running %" G_GUINT64_FORMAT " ms, device %" G_GUINT64_FORMAT
           " bytes; %s %s\n",
           test, jstr(j, "State"), jint(j, "Attempt"), jint(j, "Downtime"),
           jint(j, "TimeToRunning"), jint(j, "DeviceBytes"), jstr(j, "FailureClass"),
           jstr(j, "FailureReason"));
}

/* `xe-migratectl migrate` of a GPU domain: b's daemon reserves a VF like a's before libvirt
 * starts (not the address a used: that one is taken on b), libvirt moves the domain
 * peer-to-peer with the destination XML naming it, the job on D-Bus goes through the phases
 * with its progress, libvirt's VFIO bytes are the VF's whole stream, and afterwards the
 * domain runs on b only, holding that VF, with a's VF reset and released. */
START_TEST(test_ctl_migrate_domain)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *stream = NULL;
    g_autofree char *vf_b = NULL;
    g_autoptr(JsonNode) job = NULL, taken = NULL, keep_b = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;
    g_autoptr(GError) error = NULL;
    guint64 size;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    size = vf_stream_size('a', vf_a);
    taken = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", "standard", NULL);
    ck_assert_msg(taken != NULL, "reserve on b: %s", error != NULL ? error->message : "");

    ck_assert_msg(ctl_migrate('a', "gpu1", &stream, &job) == 0, "migrate: %s", stream);
    print_job("xe-migratectl migrate gpu1", job);
    ck_assert_str_eq(jstr(job, "State"), "completed");
    ck_assert_uint_eq(jint(job, "Attempt"), 1);
    ck_assert_msg(jint(job, "DeviceBytes") == size,
                  "libvirt moved %" G_GUINT64_FORMAT " VFIO bytes, the VF's stream is "
                  "%" G_GUINT64_FORMAT,
                  jint(job, "DeviceBytes"), size);
    ck_assert_uint_gt(jint(job, "Downtime"), 0);
    ck_assert_uint_gt(jint(job, "TimeToRunning"), 0);
    /* the stream showed the phases as libvirt went through them */
    ck_assert_ptr_nonnull(strstr(stream, "\"Phase\":\"preparing-destination\""));
    ck_assert_ptr_nonnull(strstr(stream, "\"Phase\":\"migrating\""));
    ck_assert_ptr_nonnull(strstr(stream, "\"Phase\":\"switchover\""));

    ck_assert(domain_running_on('b', "gpu1"));
    ck_assert(!domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 0);
    ck_assert_uint_eq(qemus_on('b'), 1);
    vf_b = domain_vf('b', "gpu1");
    ck_assert_str_ne(vf_b, json_object_get_string_member(json_node_get_object(taken), "vf"));
    /* its definition moved with it, naming b's VF (a's address would be another's on b) */
    {
        /* at once: libvirt defined what xe-migrated sent (the watch would mend it later) */
        g_autofree char *def_vf = domain_xml_vf('b', "gpu1", TRUE);

        ck_assert_str_eq(def_vf, vf_b);
    }
    res_b = reservations('b');
    ck_assert_str_eq(g_hash_table_lookup(res_b, vf_b), "domain:gpu1");
    ck_assert_uint_eq(g_hash_table_size(res_b), 2); /* the domain's, and the one taken */
    ck_assert_str_eq(json_object_get_string_member(vf_of('b', vf_b, &keep_b), "Driver"),
                     "xe-vfio-pci");
    res_a = reservations('a');
    ck_assert_uint_eq(g_hash_table_size(res_a), 0);
    /* the domain's job is counted for Prometheus like a QMP-mode one */
    {
        g_autofree char *metrics = NULL;

        ck_assert_int_eq(xe_test_lab_ctl(lab, 'a', &metrics, "metrics", NULL), 0);
        ck_assert_msg(strstr(metrics, "xe_migrated_migrations_total{result=\"completed\","
                                      "class=\"none\"} 1\n") != NULL,
                      "%s", metrics);
    }
}
END_TEST

/* Arms an FLR on every VF of @host for when it enters @state (once each); NULL disarms. */
static void
arm_reset(char host, const char *state)
{
    for (int f = 1; f <= 4; f++) {
        g_autofree char *value = state != NULL ? g_strdup_printf("0000:03:00.%d %s", f, state)
                                               : g_strdup_printf("0000:03:00.%d", f);
        g_autoptr(GError) error = NULL;

        ck_assert_msg(xe_test_lab_sim_write(lab, host, "flr_on_state", value, &error), "%s",
                      error != NULL ? error->message : "");
    }
}

/* The source VF is reset as its save starts (the kernel aborts the stream, QEMU fails with
 * ENODEV, libvirt carries it): the attempt is classed vf-reset, b gives its VF back, and the
 * next attempt, with a fresh VF on b, completes; the domain ran on a until then and runs on
 * b only after. */
START_TEST(test_ctl_migrate_domain_source_reset_retried)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *stream = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(GHashTable) res_a = NULL, res_b = NULL;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    arm_reset('a', "stop_copy");
    ck_assert_msg(ctl_migrate('a', "gpu1", &stream, &job) == 0, "migrate: %s", stream);
    arm_reset('a', NULL);
    print_job("VF reset on the source during save", job);
    ck_assert_str_eq(jstr(job, "State"), "completed");
    ck_assert_uint_eq(jint(job, "Attempt"), 2);
    ck_assert_str_eq(attempt_class(job, 0), "vf-reset");
    ck_assert_ptr_nonnull(strstr(stream, "\"Phase\":\"backoff\""));
    ck_assert(domain_running_on('b', "gpu1"));
    ck_assert(!domain_running_on('a', "gpu1"));
    ck_assert_uint_eq(qemus_on('a'), 0);
    ck_assert_uint_eq(qemus_on('b'), 1);
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 1);
    res_a = reservations('a');
    ck_assert_uint_eq(g_hash_table_size(res_a), 0);
}
END_TEST

/* No VF on b can take the state: b's daemon refuses before libvirt starts; the job fails
 * as incompatible with b's reason, the domain runs on in a, nothing is reserved for it on
 * b. */
START_TEST(test_ctl_migrate_domain_no_compatible_vf)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *stream = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(GHashTable) res_b = NULL;
    g_autoptr(GError) error = NULL;
    GHashTableIter iter;
    gpointer owner;
    guint taken = 0;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    for (;;) {
        g_autoptr(JsonNode) r = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", "standard", NULL);

        if (r == NULL)
            break;
        taken++;
    }
    ck_assert_int_ne(ctl_migrate('a', "gpu1", &stream, &job), 0);
    print_job("no compatible VF on b", job);
    ck_assert_str_eq(jstr(job, "State"), "failed");
    ck_assert_str_eq(jstr(job, "FailureClass"), "incompatible");
    ck_assert_ptr_nonnull(strstr(jstr(job, "FailureReason"), "no VF on this host for gpu1's VF"));
    ck_assert_uint_eq(jint(job, "Attempt"), 1);
    ck_assert(domain_running_on('a', "gpu1"));
    ck_assert(!domain_running_on('b', "gpu1"));
    ck_assert_uint_eq(qemus_on('b'), 0);
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), taken);
    g_hash_table_iter_init(&iter, res_b);
    while (g_hash_table_iter_next(&iter, NULL, &owner))
        ck_assert_str_ne(owner, "domain:gpu1");
}
END_TEST

/* A domain started without the enable-migration override: pre-flight names QEMU's blocker
 * and the fix, before anything is asked of b; the domain runs on. */
START_TEST(test_ctl_migrate_domain_blocker_named)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *stream = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(GHashTable) res_b = NULL;
    const char *why;

    define_domain("gpu1", vf_a, PROFILE, TRUE, FALSE);
    start_domain('a', "gpu1");
    ck_assert_int_ne(ctl_migrate('a', "gpu1", &stream, &job), 0);
    print_job("no enable-migration override", job);
    why = jstr(job, "FailureReason");
    ck_assert_str_eq(jstr(job, "FailureClass"), "incompatible");
    ck_assert_msg(strstr(why, "pre-flight: QEMU would block the migration of VF") != NULL &&
                      strstr(why, "enable-migration=on") != NULL &&
                      strstr(why, "xe-migratectl domain-prepare gpu1") != NULL,
                  "%s", why);
    ck_assert(domain_running_on('a', "gpu1"));
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 0);
}
END_TEST

/* `xe-migratectl migrate --detach` from a: the job's id */
static char *
ctl_migrate_detached(const char *name)
{
    g_autofree char *out = NULL;

    ck_assert_msg(xe_test_lab_ctl(lab, 'a', &out, "migrate", name, "--to", "b", "--detach", NULL) ==
                      0,
                  "migrate --detach: %s", out);
    return g_strdup(strrchr(g_strstrip(out), '/') + 1);
}

/* Waits (a deadline, not a sleep) until a's job @id is in phase @phase or over. */
static void
wait_phase(const char *id, const char *phase)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) job = xe_test_lab_ctl_json(lab, 'a', &error, "job", id, NULL);

        ck_assert_msg(job != NULL, "job %s: %s", id, error != NULL ? error->message : "");
        if (g_str_equal(jstr(job, "Phase"), phase) || g_str_equal(jstr(job, "Phase"), "done"))
            return;
        ck_assert_msg(g_get_monotonic_time() < deadline, "job %s never reached %s (%s)", id, phase,
                      jstr(job, "Phase"));
        g_usleep(20000);
    }
}

/* The domain's reservations on @host: how many are owned by domain:@name. */
static guint
domain_reservations(char host, const char *name)
{
    g_autoptr(GHashTable) res = reservations(host);
    g_autofree char *owner = g_strdup_printf("domain:%s", name);
    GHashTableIter iter;
    gpointer value;
    guint n = 0;

    g_hash_table_iter_init(&iter, res);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        n += g_str_equal(value, owner);
    return n;
}

/* The promise, checked from outside both daemons once their reconciles had their time
 * (libvirt-reconcile-s is 5 s in the lab): the domain runs on exactly one host (libvirt's
 * list on both, and the QEMU processes in each namespace), that host holds one VF for it,
 * the other none. Returns the host it runs on. */
static char
assert_one_home(const char *name)
{
    gboolean on_a = domain_running_on('a', name), on_b = domain_running_on('b', name);
    char home = on_a ? 'a' : 'b', other = on_a ? 'b' : 'a';
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    ck_assert_msg(on_a != on_b, "domain %s runs on %s", name, on_a ? "both hosts" : "no host");
    ck_assert_uint_eq(qemus_on(home), 1);
    ck_assert_uint_eq(qemus_on(other), 0);
    while (domain_reservations(home, name) != 1 || domain_reservations(other, name) != 0) {
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "domain %s on %c: %u VF(s) reserved for it there, %u on %c", name, home,
                      domain_reservations(home, name), domain_reservations(other, name), other);
        g_usleep(200000);
    }
    return home;
}

/* a's job @id once it is over (a deadline) */
static JsonNode *
wait_job_over(const char *id)
{
    gint64 deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(GError) error = NULL;
        JsonNode *job = xe_test_lab_ctl_json(lab, 'a', &error, "job", id, NULL);

        ck_assert_msg(job != NULL, "job %s: %s", id, error != NULL ? error->message : "");
        if (g_str_equal(jstr(job, "Phase"), "done"))
            return job;
        json_node_unref(job);
        ck_assert_msg(g_get_monotonic_time() < deadline, "job %s never ended", id);
        g_usleep(50000);
    }
}

/* kill -9 of @victim's daemon when a's job for gpu1 reaches @phase: libvirt finishes or
 * undoes its migration without it; the daemon, started again, and its peer account for
 * every VF (a VF reserved for a domain that runs elsewhere is released by the reconcile);
 * the domain then runs on @home only. */
static void
daemon_killed(char victim, const char *phase, char home)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *id = NULL;
    g_autoptr(GError) error = NULL;
    GPid pid = xe_test_lab_daemon_pid(lab, victim);
    g_autofree char *hooks = xe_test_lab_path(lab, 'a', "hooks");
    g_autofree char *hook = NULL;
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    hook = xe_test_hook_kill_at_phase(hooks, phase, pid);
    id = ctl_migrate_detached("gpu1");
    deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
    /* libvirt's migration (if it began) ends without the dead daemon */
    while (xe_test_pid_alive(pid) ||
           domain_running_on('a', "gpu1") == domain_running_on('b', "gpu1") ||
           qemus_on('a') + qemus_on('b') != 1) {
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "%c's daemon killed at %s: libvirt's migration never ended", victim, phase);
        g_usleep(100000);
    }
    ck_assert_int_eq(unlink(hook), 0);
    if (victim == 'b') {
        /* a's job goes on without its peer */
        g_autoptr(JsonNode) job = wait_job_over(id);

        print_job(phase, job);
        ck_assert_str_eq(jstr(job, "State"), home == 'b' ? "completed" : "failed");
    }
    ck_assert_msg(xe_test_lab_daemon(lab, "start", victim, &error), "start %c: %s", victim,
                  error != NULL ? error->message : "");
    ck_assert_int_eq(assert_one_home("gpu1"), home);
    printf("%c's daemon killed at %s: the domain runs on %c only, every VF accounted for\n", victim,
           phase, home);
}

/* a's daemon dies once b reserved, before it asked libvirt: nothing migrated; b's reserved
 * VF is released by b's reconcile */
START_TEST(test_domain_source_daemon_killed_before_libvirt)
{
    daemon_killed('a', "migration-started", 'a');
}
END_TEST

/* a's daemon dies in the switchover: libvirt completes; a's release hook found no daemon, so
 * a's restarted daemon's reconcile releases the VF */
START_TEST(test_domain_source_daemon_killed_in_switchover)
{
    daemon_killed('a', "switchover", 'b');
}
END_TEST

/* b's daemon dies before libvirt's incoming: b's prepare hook refuses (no daemon), libvirt
 * fails the migration, the domain runs on in a */
START_TEST(test_domain_destination_daemon_killed_before_libvirt)
{
    daemon_killed('b', "migration-started", 'a');
}
END_TEST

/* b's daemon dies in the switchover: its part (the reservation, the incoming's hooks) is done
 * and on its record; libvirt completes and the job too */
START_TEST(test_domain_destination_daemon_killed_in_switchover)
{
    daemon_killed('b', "switchover", 'b');
}
END_TEST

/* kill -9 of the source QEMU while libvirt migrates: the guest dies with it (no copy of it
 * ran anywhere else), libvirt undoes the incoming on b; the job fails saying the domain runs
 * on neither host, and neither host keeps a VF for it. */
START_TEST(test_domain_source_qemu_killed)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autofree char *id = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) job = NULL;
    g_autoptr(GPtrArray) q = NULL;
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    id = ctl_migrate_detached("gpu1");
    wait_phase(id, "migrating");
    q = xe_test_lab_qemus(lab, 'a');
    ck_assert_uint_eq(q->len, 1);
    ck_assert_int_eq(kill(((XeTestLabQemu *)q->pdata[0])->pid, SIGKILL), 0);
    job = wait_job_over(id);
    print_job("source QEMU killed mid-migration", job);
    if (g_str_equal(jstr(job, "State"), "completed")) {
        /* the kill came after QEMU had sent everything: b runs it */
        ck_assert_int_eq(assert_one_home("gpu1"), 'b');
        return;
    }
    ck_assert_str_eq(jstr(job, "State"), "failed");
    ck_assert_ptr_nonnull(strstr(jstr(job, "FailureReason"), "runs on neither host"));
    ck_assert(!domain_running_on('a', "gpu1") && !domain_running_on('b', "gpu1"));
    ck_assert_uint_eq(qemus_on('a') + qemus_on('b'), 0);
    while (domain_reservations('a', "gpu1") + domain_reservations('b', "gpu1") != 0) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "a VF is still reserved for gpu1");
        g_usleep(200000);
    }
}
END_TEST

/* Manager.PrepareIncomingDomain on b as a source's daemon calls it, the reply's D-Bus error
 * name and message in *@name and *@message (NULL: it succeeded). */
static void
prepare_incoming_domain(const char *xml, GVariant *options, char **name, char **message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) bus = xe_test_lab_bus_connect(lab, 'b', &error);
    g_autoptr(GVariant) reply = NULL;

    ck_assert_msg(bus != NULL, "%s", error != NULL ? error->message : "");
    reply = g_dbus_connection_call_sync(
        bus, "org.xemigrated.XeMigrated1", "/org/xemigrated/XeMigrated1",
        "org.xemigrated.XeMigrated1.Manager", "PrepareIncomingDomain",
        g_variant_new("(s@a{sv})", xml,
                      options != NULL ? options
                                      : g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
        G_VARIANT_TYPE("(sa{sv})"), G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
    *name = reply == NULL ? g_dbus_error_get_remote_error(error) : NULL;
    if (reply == NULL)
        g_dbus_error_strip_remote_error(error);
    *message = reply == NULL ? g_strdup(error->message) : NULL;
}

/* What a source's daemon sends b is checked like any caller's input: XML that is no domain,
 * metadata naming a hostdev the domain lacks, an option of the wrong type; each a named
 * error that says what is wrong, and nothing reserved on b. */
START_TEST(test_prepare_incoming_domain_bad_input)
{
    static const struct {
        const char *xml;
        const char *options;
        const char *error;
        const char *says;
    } cases[] = {
        { "<domain", NULL, "org.xemigrated.XeMigrated1.Error.InvalidArgument", "XML" },
        { "<domain type='qemu'><name>gpu1</name><metadata><xe:migrated "
          "xmlns:xe='urn:xe-migrated:libvirt:1'><xe:vf host='0000:03:00.1' profile='" PROFILE
          "'/></xe:migrated></metadata><devices/></domain>",
          NULL, "org.xemigrated.XeMigrated1.Error.InvalidArgument", "0000:03:00.1" },
        { "<domain type='qemu'><name>gpu1</name></domain>", "{'timeout-ms': <'soon'>}",
          "org.xemigrated.XeMigrated1.Error.InvalidArgument", "timeout-ms" },
    };
    g_autoptr(GHashTable) res_b = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = NULL, *message = NULL;
        g_autoptr(GVariant) options =
            cases[i].options != NULL
                ? g_variant_ref_sink(
                      g_variant_parse(G_VARIANT_TYPE_VARDICT, cases[i].options, NULL, NULL, NULL))
                : NULL;

        prepare_incoming_domain(cases[i].xml, options, &name, &message);
        printf("case %u: %s: %s\n", i, name != NULL ? name : "(no error)",
               message != NULL ? message : "");
        ck_assert_msg(name != NULL, "case %u: accepted", i);
        ck_assert_str_eq(name, cases[i].error);
        ck_assert_msg(strstr(message, cases[i].says) != NULL, "case %u: %s", i, message);
    }
    res_b = reservations('b');
    ck_assert_uint_eq(g_hash_table_size(res_b), 0);
}
END_TEST

/* Migrate names neither a VM of the daemon's nor a running domain: refused at once, saying
 * so; a domain already migrating is refused too. */
START_TEST(test_ctl_migrate_unknown_domain_refused)
{
    g_autofree char *out = NULL;

    ck_assert_int_ne(xe_test_lab_ctl(lab, 'a', &out, "migrate", "nosuch", "--to", "b", NULL), 0);
    printf("refused: %s", out);
    ck_assert_msg(strstr(out, "no VM 'nosuch' on this host, nor a running libvirt domain of that "
                              "name") != NULL,
                  "%s", out);
}
END_TEST

/* A domain without xe-migrated's metadata is none of the hook's business: it starts while
 * the daemon is down, and nothing is reserved for it. */
START_TEST(test_other_domains_unaffected)
{
    g_autofree char *vf_a = pool_vf('a');
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) res_a = NULL;

    define_domain("plain", vf_a, PROFILE, FALSE, TRUE);
    ck_assert_msg(xe_test_lab_daemon(lab, "stop", 'a', &error), "stop a: %s",
                  error != NULL ? error->message : "");
    start_domain('a', "plain");
    ck_assert_msg(xe_test_lab_daemon(lab, "start", 'a', &error), "start a: %s",
                  error != NULL ? error->message : "");
    res_a = reservations('a');
    ck_assert_uint_eq(g_hash_table_size(res_a), 0);
}
END_TEST

/* The hook never calls libvirt: no libvirt library among what it links, no vir* symbol it
 * imports (libvirt runs it inside the domain's job; a call back would wait on that job). */
START_TEST(test_hook_links_no_libvirt)
{
    g_autofree char *hook =
        g_build_filename(g_getenv("XE_BUILD_ROOT"), "hook", "xe-migrated-libvirt-hook", NULL);
    const char *readelf[] = { "readelf", "-d", hook, NULL };
    const char *nm[] = { "nm", "-D", "--undefined-only", hook, NULL };
    g_autofree char *needed = NULL, *symbols = NULL;
    g_auto(GStrv) lines = NULL;
    int status;

    ck_assert(g_spawn_sync(NULL, (char **)readelf, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &needed,
                           NULL, &status, NULL) &&
              status == 0);
    ck_assert_msg(strstr(needed, "libvirt") == NULL, "the hook links libvirt: %s", needed);
    ck_assert(g_spawn_sync(NULL, (char **)nm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &symbols, NULL,
                           &status, NULL) &&
              status == 0);
    lines = g_strsplit(symbols, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *name = strrchr(lines[i], ' ');

        ck_assert_msg(name == NULL || !g_str_has_prefix(name + 1, "vir"), "the hook imports %s",
                      name + 1);
    }
}
END_TEST

/* bench: the same guest (256 MiB, TCG) and VF (512 MiB of state) migrated by `virsh migrate`
 * with the hook only, by `xe-migratectl migrate` over libvirt, by xe-migrated in QMP mode, and
 * by bare QMP, median of 5 each, one run. */

/* One hop of gpu1 from @from, by `virsh migrate` (@ctl FALSE) or by `xe-migratectl migrate`:
 * total (the command's wall time), time to running (from the request to the destination's
 * "Resumed Migrated", as libvirt timestamps it: the same for both), downtime (the source's
 * job-completed event, or the job's, which is that event's). */
static void
hop(char from, gboolean by_ctl, double *total, double *running, double *downtime)
{
    char to = from == 'a' ? 'b' : 'a';
    g_autoptr(GSubprocess) lifecycle = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL, *events = NULL;
    const char *line;
    gint64 t0 = g_get_real_time(), t1;
    guint64 vfio;

    lifecycle = g_subprocess_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error, "virsh", "-c",
        xe_test_lab_env(lab, to == 'a' ? "XE_LAB_A_LIBVIRT" : "XE_LAB_B_LIBVIRT"), "event",
        "--event", "lifecycle", "--loop", "--timestamp", "--timeout", "60", NULL);
    ck_assert(lifecycle != NULL);
    if (by_ctl) {
        g_autoptr(JsonNode) job = NULL;

        ck_assert_msg(ctl_migrate(from, "gpu1", &out, &job) == 0, "migrate: %s", out);
        *downtime = (double)jint(job, "Downtime");
    } else {
        ck_assert_msg(migrate(from, "gpu1", &out, &vfio) == 0, "virsh migrate: %s", out);
        *downtime = (double)last_downtime;
    }
    t1 = g_get_real_time();
    *total = (t1 - t0) / 1000.0;
    g_subprocess_send_signal(lifecycle, SIGINT);
    ck_assert(g_subprocess_communicate_utf8(lifecycle, NULL, NULL, &events, NULL, &error));
    line = events != NULL ? strstr(events, "Resumed Migrated") : NULL;
    ck_assert_msg(line != NULL, "no Resumed Migrated event: %s", events);
    /* back to the start of its line: "2026-11-30 11:45:00.123+0000: event ..." */
    while (line > events && line[-1] != '\n')
        line--;
    {
        g_autofree char *stamp = g_strndup(line, strcspn(line, ":") + 26);
        g_autoptr(GDateTime) when = NULL;
        char *colon = strstr(stamp, ": event");

        if (colon != NULL)
            *colon = '\0';
        if (strlen(stamp) > 10)
            stamp[10] = 'T';
        when = g_date_time_new_from_iso8601(stamp, NULL);
        ck_assert_msg(when != NULL, "cannot read the time of '%s'", stamp);
        *running =
            (g_date_time_to_unix(when) * G_USEC_PER_SEC + g_date_time_get_microsecond(when) - t0) /
            1000.0;
    }
}

/* One migration of a QMP-mode VM of the same size by xe-migrated, a to b. */
static void
qmp_hop(guint i, double *total, double *running, double *downtime)
{
    g_autofree char *name = g_strdup_printf("qmp%u", i);
    g_autofree char *path = g_strdup_printf("%s/%s.vm", xe_test_lab_dir(lab), name);
    g_autofree char *spec = g_strdup_printf(
        "[vm]\nname=%s\ncommand=%s -machine q35 -accel tcg -m 256M -nodefaults -no-user-config "
        "-display none -device vfio-pci,host={vf},id=xe-vf\nprofile=" PROFILE "\n",
        name, xe_test_lab_env(lab, "XE_LAB_QEMU_VFIO"));
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *job;

    ck_assert(g_file_set_contents(path, spec, -1, NULL));
    ck_assert_msg(ctl('a', &out, "vm-add", path, "--start", NULL) == 0, "vm-add: %s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "migrate", name, "--to", "b", NULL) == 0, "migrate: %s", out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('a', &out, "--json", "jobs", NULL) == 0, "xe-migratectl: %s", out);
    ck_assert(json_parser_load_from_data(parser, out, -1, NULL));
    job = NULL;
    {
        JsonArray *jobs = json_node_get_array(json_parser_get_root(parser));

        for (guint k = 0; k < json_array_get_length(jobs); k++) {
            JsonObject *o = json_array_get_object_element(jobs, k);

            if (g_str_equal(json_object_get_string_member(o, "VM"), name))
                job = o;
        }
    }
    ck_assert_msg(job != NULL, "no job for %s", name);
    *total =
        (json_object_get_int_member(job, "Finished") - json_object_get_int_member(job, "Started")) /
        1000.0;
    *running = (double)json_object_get_int_member(job, "TimeToRunning");
    *downtime = (double)json_object_get_int_member(job, "Downtime");
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('b', &out, "vm-remove", name, NULL) == 0, "vm-remove: %s", out);
}

/* QEMU under the VFIO emulation in @host's namespace with VF @vf (enable-migration=on). */
static XeQemuProcess *
vf_qemu(char host, const char *sock, const char *vf, gboolean incoming)
{
    g_autofree char *net = g_strdup_printf("--net=/run/netns/%s", xe_test_lab_ns(lab, host));
    g_autofree char *root = g_strdup_printf("XE_VFIO_SIM_ROOT=%s", xe_test_lab_sim(lab, host));
    g_autofree char *device = g_strdup_printf("vfio-pci,host=%s,id=xe-vf,enable-migration=on", vf);
    const char *argv[] = { "nsenter",     net,
                           "--",          "env",
                           root,          xe_test_lab_env(lab, "XE_LAB_QEMU_VFIO"),
                           "-machine",    "q35",
                           "-accel",      "tcg",
                           "-m",          "256M",
                           "-nodefaults", "-no-user-config",
                           "-display",    "none",
                           "-device",     device,
                           NULL };
    g_autoptr(GError) error = NULL;
    XeQemuProcess *p = xe_qemu_process_spawn(argv, sock, incoming, NULL, NULL, &error);

    ck_assert_msg(p != NULL, "%s", error ? error->message : "");
    return p;
}

/* One migration by hand of the same guest and VF with neither libvirt nor xe-migrated: a VF
 * reserved on each host with the domain's profile (bound, provisioned alike), QEMU on each,
 * QEMU's defaults. total and time to running: from starting the destination QEMU to its cont
 * (all of the migration); downtime: the source's STOP to the destination's RESUME. */
static void
bare_hop(guint i, double *total, double *running, double *downtime)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) res_a = xe_test_lab_ctl_json(lab, 'a', &error, "reserve", PROFILE, NULL);
    g_autoptr(JsonNode) res_b = xe_test_lab_ctl_json(lab, 'b', &error, "reserve", PROFILE, NULL);
    g_autofree char *src_sock = g_strdup_printf("%s/bare-src-%u.qmp", xe_test_lab_dir(lab), i);
    g_autofree char *dst_sock = g_strdup_printf("%s/bare-dst-%u.qmp", xe_test_lab_dir(lab), i);
    g_autoptr(XeQemuProcess) src = NULL, dst = NULL;
    g_autofree char *out = NULL;
    double qemu_downtime;
    gint64 t0;

    ck_assert_msg(res_a != NULL && res_b != NULL, "reserve: %s",
                  error != NULL ? error->message : "");
    src = vf_qemu('a', src_sock, jstr(res_a, "vf"), FALSE);
    t0 = g_get_monotonic_time();
    dst = vf_qemu('b', dst_sock, jstr(res_b, "vf"), TRUE);
    xe_test_qemu_bare_migrate(src, dst, xe_test_lab_env(lab, "XE_LAB_B_ADDR"), t0, running,
                              downtime, &qemu_downtime);
    *total = *running;
    xe_qemu_process_kill(src);
    xe_qemu_process_kill(dst);
    ck_assert_msg(ctl('a', &out, "release", jstr(res_a, "reservation"), NULL) == 0, "release: %s",
                  out);
    g_clear_pointer(&out, g_free);
    ck_assert_msg(ctl('b', &out, "release", jstr(res_b, "reservation"), NULL) == 0, "release: %s",
                  out);
}

START_TEST(bench_libvirt_against_qmp)
{
    enum { RUNS = 5 };
    struct {
        const char *label;
        double total[RUNS], running[RUNS], downtime[RUNS];
    } rows[] = {
        { "virsh migrate --p2p, the hook only" },
        { "xe-migratectl migrate, over libvirt" },
        { "xe-migratectl migrate, QMP mode" },
        { "bare QMP (QEMU's defaults)" },
    };
    g_autofree char *vf_a = pool_vf('a');

    define_domain("gpu1", vf_a, PROFILE, TRUE, TRUE);
    start_domain('a', "gpu1");
    for (guint i = 0; i < RUNS; i++) {
        /* the domain goes a -> b by virsh, back by xe-migratectl */
        hop('a', FALSE, &rows[0].total[i], &rows[0].running[i], &rows[0].downtime[i]);
        hop('b', TRUE, &rows[1].total[i], &rows[1].running[i], &rows[1].downtime[i]);
        qmp_hop(i, &rows[2].total[i], &rows[2].running[i], &rows[2].downtime[i]);
        bare_hop(i, &rows[3].total[i], &rows[3].running[i], &rows[3].downtime[i]);
        for (guint r = 0; r < G_N_ELEMENTS(rows); r++)
            printf("run %u, %s: total %.0f ms, to running %.0f ms, downtime %.0f ms\n", i + 1,
                   rows[r].label, rows[r].total[i], rows[r].running[i], rows[r].downtime[i]);
    }
    printf("256 MiB guest (TCG), VF with 512 MiB of state, median of %d:\n", RUNS);
    printf("%-38s %10s %12s %10s\n", "", "total", "to running", "downtime");
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++)
        printf("%-38s %7.0f ms %9.0f ms %7.0f ms\n", rows[r].label,
               xe_test_median(rows[r].total, RUNS), xe_test_median(rows[r].running, RUNS),
               xe_test_median(rows[r].downtime, RUNS));
}
END_TEST

int
main(int argc, char **argv)
{
    gboolean bench = argc > 1 && g_str_equal(argv[1], "bench");
    Suite *s = suite_create(bench ? "libvirt-bench" : "libvirt");
    TCase *tc = tcase_create("two-libvirtd");
    gboolean ready = getuid() == 0 && g_file_test("/dev/fuse", G_FILE_TEST_EXISTS) &&
                     xe_test_have("qemu-system-x86_64") && xe_test_have("libvirtd") &&
                     xe_test_have("virsh") && xe_test_have("nsenter") && xe_test_have("unshare") &&
                     xe_test_have("systemd-stdio-bridge");

    xe_test_require_peer(ready && xe_test_have("readelf") && xe_test_have("nm"),
                         "root, /dev/fuse, QEMU, libvirtd, virsh, nsenter, unshare and binutils");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    if (bench) {
        tcase_set_timeout(tc, 900);
        tcase_add_test(tc, bench_libvirt_against_qmp);
        suite_add_tcase(s, tc);
        return xe_test_run_suite(s);
    }
    tcase_add_test(tc, test_virsh_migrate_with_the_hook);
    tcase_add_test(tc, test_ctl_migrate_domain);
    tcase_add_test(tc, test_ctl_migrate_domain_source_reset_retried);
    tcase_add_test(tc, test_ctl_migrate_domain_no_compatible_vf);
    tcase_add_test(tc, test_ctl_migrate_domain_blocker_named);
    tcase_add_test(tc, test_ctl_migrate_unknown_domain_refused);
    tcase_add_test(tc, test_prepare_incoming_domain_bad_input);
    tcase_add_test(tc, test_domain_source_daemon_killed_before_libvirt);
    tcase_add_test(tc, test_domain_source_daemon_killed_in_switchover);
    tcase_add_test(tc, test_domain_destination_daemon_killed_before_libvirt);
    tcase_add_test(tc, test_domain_destination_daemon_killed_in_switchover);
    tcase_add_test(tc, test_domain_source_qemu_killed);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_no_compatible_vf_refused);
    tcase_add_test(tc, test_destination_daemon_down_refused);
    tcase_add_test(tc, test_same_name_on_destination_refused);
    tcase_add_test(tc, test_destination_daemon_hung_refused);
    tcase_add_test(tc, test_failed_incoming_releases_its_vf);
    tcase_add_test(tc, test_libvirtd_restart_keeps_the_domain);
    tcase_add_test(tc, test_start_refused_when_the_vf_differs);
    tcase_add_test(tc, test_domain_prepare_then_virsh_migrate);
    tcase_add_test(tc, test_prepare_a_running_domain);
    tcase_add_test(tc, test_restarts_then_migrate);
    tcase_add_test(tc, test_stale_reservation_reconciled);
    tcase_add_test(tc, test_other_domains_unaffected);
    suite_add_tcase(s, tc);
    {
        TCase *th = tcase_create("hook");

        tcase_add_test(th, test_hook_links_no_libvirt);
        suite_add_tcase(s, th);
    }
    return xe_test_run_suite(s);
}
