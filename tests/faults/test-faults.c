/* test-faults.c: suite "faults", the fault matrix: seeded, randomised trials
 * on the two-host lab (scripts/lab) with real QEMU holding the host's VF (the lab's
 * VFIO emulation, tests/vfio), each migrating a 64 MiB VM
 * from the host where it runs to the other one and injecting one fault at a
 * random moment of one phase of the source's job: kill -9 of either daemon, of
 * the source QEMU or of the incoming one, the transport cut, a VF reset on
 * either side (xe-fake-qemu VMs too, whose VF state moves through xe-sim), a
 * full state directory on either side. After each trial, once both daemons
 * have no job running and no incoming in progress, the invariants are checked
 * from the outside (/proc, QMP, xe-migratectl), not from the daemons' view:
 * the VM runs (QMP "running") on exactly one host, or is legitimately gone;
 * no QEMU is left paused, inmigrate or postmigrate; each host's reservations
 * are exactly one per VM running there; both daemons answer within 1 s.
 *
 *   test-faults FAULT   one meson test per fault kind (faults-FAULT): one trial per
 *                       (variant, phase) in a seeded order; fails with every violation
 *   test-faults bench   the benchmark (faults-matrix): XE_FAULTS_TRIALS trials (300) over
 *                       all faults, then the matrix fault x phase: trials/violations
 *
 * XE_FAULTS_SEED replays a sample (default: from the date, printed); XE_FAULTS_TRIALS
 * changes the number of trials (per test, or for the benchmark).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "xe-test-lab.h"
#include "xe-test-util.h"

#define XE_NAME        "org.xemigrated.XeMigrated1"
#define XE_PATH        "/org/xemigrated/XeMigrated1"
#define MANAGER_IFACE  XE_NAME ".Manager"
#define JOB_IFACE      XE_NAME ".Job"
#define VM_IFACE       XE_NAME ".VM"
#define INCOMING_IFACE XE_NAME ".Incoming"

/* Deadlines. A job waits up to 60 s for a peer's answer, hence the settle's. */
#define PHASE_WAIT_MS  30000 /* the job enters the chosen phase */
#define TARGET_WAIT_MS 10000 /* the fault's target (the incoming QEMU, a bridge) appears */
#define SETTLE_MS      90000 /* no job running, no incoming in progress */
#define HOLD_MS        5000  /* then the invariants hold (VF releases run after a job ends) */
#define ANSWER_MS      1000  /* a daemon answers a D-Bus call */
#define QMP_MS         2000  /* a QEMU answers query-status */
#define POLL_MS        100   /* re-check at least this often while waiting for outside state */

/* columns: the phases of the source's job, then where else a fault may land */
enum {
    PH_PREFLIGHT,
    PH_PREPARING,
    PH_MIGRATING,
    PH_SWITCHOVER,
    PH_VERIFYING,
    PH_CLEANUP,
    N_PHASES,
    PH_BACKOFF = N_PHASES,
    PH_DONE,
    PH_NOT_INJECTED,
    N_COLUMNS,
};

static const char *const column_names[N_COLUMNS] = {
    "preflight",    "preparing-destination",
    "migrating",    "switchover",
    "verifying",    "cleanup",
    "backoff",      "done",
    "not-injected",
};

static const char *const column_short[N_COLUMNS] = {
    "preflight", "prep-dest", "migrating", "switchover", "verifying",
    "cleanup",   "backoff",   "done",      "not-inj",
};

#define ALL_PHASES     ((1u << N_PHASES) - 1)
#define FROM_PREPARING (ALL_PHASES & ~(1u << PH_PREFLIGHT))
#define WITH_PEER \
    ((1u << PH_PREPARING) | (1u << PH_MIGRATING) | (1u << PH_SWITCHOVER) | (1u << PH_VERIFYING))

typedef enum {
    KIND_REAL, /* qemu-system-x86_64 holding the VF (the lab's VFIO emulation), 64 MiB of
                * non-zero RAM */
    KIND_FAKE, /* xe-fake-qemu: the VF's state moves through xe-sim */
    N_KINDS,
} VmKind;

typedef enum {
    F_KILL_SRC_DAEMON,
    F_KILL_DST_DAEMON,
    F_KILL_SRC_QEMU,
    F_KILL_DST_QEMU,
    F_TRANSPORT_CUT,
    F_RESET_SRC,
    F_RESET_SRC_FAKE,
    F_RESET_DST,
    F_RESET_DST_FAKE,
    F_FULL_SRC,
    F_FULL_DST,
    N_FAULTS,
    F_NONE = N_FAULTS, /* a clean run: calibration */
} Fault;

static const struct {
    const char *name; /* the matrix's row */
    const char *test; /* the meson test, faults-TEST */
    VmKind kind;
    guint phases; /* where it can land: no incoming QEMU before the destination is prepared,
                   * no transport after verifying */
    const char *what;
} faults[N_FAULTS] = {
    { "kill-source-daemon", "kill-source-daemon", KIND_REAL, ALL_PHASES,
      "SIGKILL to the source daemon, restarted at once (scripts/lab start)" },
    { "kill-destination-daemon", "kill-destination-daemon", KIND_REAL, ALL_PHASES,
      "SIGKILL to the destination daemon, restarted at once" },
    { "kill-source-qemu", "kill-source-qemu", KIND_REAL, ALL_PHASES,
      "SIGKILL to the source QEMU (stays dead)" },
    { "kill-destination-qemu", "kill-destination-qemu", KIND_REAL, FROM_PREPARING,
      "SIGKILL to the incoming QEMU (stays dead)" },
    { "transport-cut", "transport-cut", KIND_REAL, WITH_PEER,
      "SIGKILL to the source daemon's systemd-stdio-bridge processes" },
    { "vf-reset-source", "vf-reset-source", KIND_REAL, ALL_PHASES,
      "FLR of the source VF now (sim/flr), and armed for its next stop_copy (real QEMU)" },
    { "vf-reset-source/fake", "vf-reset-source", KIND_FAKE, ALL_PHASES,
      "FLR of the source VF now, and armed for its next stop_copy (xe-fake-qemu)" },
    { "vf-reset-destination", "vf-reset-destination", KIND_REAL, FROM_PREPARING,
      "FLR of the incoming's VF now, and armed for its next resuming (real QEMU)" },
    { "vf-reset-destination/fake", "vf-reset-destination", KIND_FAKE, FROM_PREPARING,
      "FLR of the incoming's VF now, and armed for its next resuming (xe-fake-qemu)" },
    { "state-dir-full-source", "state-dir-full", KIND_REAL, ALL_PHASES,
      "the source's state directory (a 1 MiB tmpfs) filled, emptied after the trial" },
    { "state-dir-full-destination", "state-dir-full", KIND_REAL, ALL_PHASES,
      "the destination's state directory filled, emptied after the trial" },
};

/* One phase change of the job: where the phase began (real time, µs). */
typedef struct {
    int phase; /* a column */
    gint64 began;
} Change;

typedef struct {
    guint index;
    Fault fault;
    int target;           /* the phase chosen */
    int landed;           /* the column where the fault landed */
    const char *observed; /* the phase the driver had seen when it injected */
    guint delay_ms;
    gboolean injected;
    gboolean killed_vm_copy; /* a QEMU kill that hit a live process */
    gboolean daemon_down;    /* a killed daemon that did not start again */
    char *note;
    char src, dst;
    VmKind kind;
    char *vm;
    GPid src_pid;
    char *src_vf;
    gint64 t_inject;  /* real time */
    gint64 t_start;   /* monotonic */
    gint64 t_settled; /* monotonic */
    gint64 t_end;
    char *job_state;
    char *job_json;
    GPtrArray *violations;
    char *seen;
} Trial;

typedef struct {
    XeTestLab *lab;
    const char *mode; /* a test's name, or "bench" */
    guint64 seed;
    GDBusConnection *bus[2];
    guint sub[2];
    guint64 events; /* signals seen on either bus: waits wake on them */
    /* the job followed */
    gboolean following;
    char job_host;
    char *job_path;
    char *job_sender;    /* the source daemon's connection when the job started */
    GPtrArray *buffered; /* (o s a{sv} x) on the source bus before the job's path was known */
    GHashTable *job_props;
    GArray *timeline; /* Change */
    int phase;        /* last seen, a column; -1 before any */
    guint entered;    /* every column seen (a signal dispatch may carry two changes) */
    /* the VM */
    char *vm;
    VmKind vm_kind;
    char vm_host;
    guint vm_serial;
    char *ram_file;
    /* calibration: how long each phase took in clean runs (the shorter), per VM kind */
    guint64 typical_ms[N_KINDS][N_PHASES];
    gboolean calibrated[N_KINDS];
    /* results */
    guint cells[N_FAULTS][N_COLUMNS][2];
    GArray *durations[N_FAULTS]; /* double, seconds */
    GPtrArray *violations;       /* one paragraph per violating trial */
    guint trials_run;
    guint recoveries;
    gboolean broken; /* the lab could not be brought back */
} Driver;

static Driver *driver;

static int
host_index(char host)
{
    return host == 'a' ? 0 : 1;
}

static char
other(char host)
{
    return host == 'a' ? 'b' : 'a';
}

static int
column_of(const char *phase)
{
    for (int i = 0; i < N_COLUMNS; i++)
        if (g_strcmp0(phase, column_names[i]) == 0)
            return i;
    return -1;
}

static double
seconds_since(gint64 t)
{
    return (g_get_monotonic_time() - t) / 1e6;
}

/* waiting: on D-Bus signals of either bus, with a deadline */

typedef gboolean (*Ready)(Driver *d, gpointer data);

static gboolean
flag_up(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Dispatches signals until @ready holds (checked after each signal, and every @poll_ms when
 * not 0, never more often than every @gap_ms) or @timeout_ms passes. With @ready NULL, a
 * sleep that keeps following the job. */
static gboolean
wait_until(Driver *d, guint timeout_ms, guint poll_ms, guint gap_ms, Ready ready, gpointer data)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gint64 last = 0;

    for (;;) {
        gint64 now = g_get_monotonic_time();
        gint64 wait_us;
        guint64 events = d->events;
        gboolean fired = FALSE;
        GSource *timer;

        if (ready != NULL && now - last >= (gint64)gap_ms * 1000) {
            last = now;
            if (ready(d, data))
                return TRUE;
            now = g_get_monotonic_time();
        }
        if (now >= deadline)
            return FALSE;
        wait_us = deadline - now;
        if (poll_ms > 0)
            wait_us = MIN(wait_us, (gint64)poll_ms * 1000);
        if (ready != NULL && now - last < (gint64)gap_ms * 1000)
            wait_us = MIN(wait_us, MAX(1000, (gint64)gap_ms * 1000 - (now - last)));
        timer = g_timeout_source_new((guint)MAX(1, (wait_us + 999) / 1000));
        g_source_set_callback(timer, flag_up, &fired, NULL);
        g_source_attach(timer, NULL);
        while (!fired && (ready == NULL || d->events == events))
            g_main_context_iteration(NULL, TRUE);
        g_source_destroy(timer);
        g_source_unref(timer);
    }
}

static void
sleep_following(Driver *d, guint ms)
{
    (void)wait_until(d, ms, 0, 0, NULL, NULL);
}

/* the job, followed through PropertiesChanged on the source's bus */

static void
job_apply(Driver *d, const char *sender, GVariant *changed, gint64 received)
{
    GVariantIter iter;
    const char *key;
    GVariant *value;
    const char *phase = NULL;

    g_variant_iter_init(&iter, changed);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value))
        g_hash_table_insert(d->job_props, g_strdup(key), value);
    if (g_variant_lookup(changed, "Phase", "&s", &phase) && column_of(phase) >= 0) {
        Change c = { column_of(phase), received };
        g_autoptr(GVariant) timings =
            g_variant_lookup_value(changed, "Timings", G_VARIANT_TYPE("a{st}"));
        GVariant *started = g_hash_table_lookup(d->job_props, "Started");

        /* A daemon restarted after a kill may carry the job on; its timings start afresh, and
         * what it does came after the kill: where it happened is when it was heard. */
        if (timings != NULL && started != NULL && g_strcmp0(sender, d->job_sender) == 0) {
            guint64 sum = 0, ms;
            GVariantIter t;

            g_variant_iter_init(&t, timings);
            while (g_variant_iter_next(&t, "{&st}", NULL, &ms))
                sum += ms;
            /* every phase follows the previous one: their times add up to the change */
            c.began = MIN(received, g_variant_get_int64(started) + (gint64)sum * 1000);
        }
        g_array_append_val(d->timeline, c);
        d->phase = c.phase;
        d->entered |= 1u << c.phase;
    }
}

static void
on_signal(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
          const char *member, GVariant *params, gpointer user_data)
{
    Driver *d = user_data;
    const char *target;
    g_autoptr(GVariant) changed = NULL;

    d->events++;
    if (!d->following || connection != d->bus[host_index(d->job_host)] ||
        !g_str_equal(iface, "org.freedesktop.DBus.Properties") ||
        !g_str_equal(member, "PropertiesChanged") ||
        !g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
        return;
    g_variant_get(params, "(&s@a{sv}@as)", &target, &changed, NULL);
    if (!g_str_equal(target, JOB_IFACE))
        return;
    if (d->job_path == NULL)
        g_ptr_array_add(d->buffered, g_variant_ref_sink(g_variant_new("(os@a{sv}x)", path, sender,
                                                                      changed, g_get_real_time())));
    else if (g_str_equal(path, d->job_path))
        job_apply(d, sender, changed, g_get_real_time());
}

static const char *
job_string(Driver *d, const char *key)
{
    GVariant *v = g_hash_table_lookup(d->job_props, key);

    return v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)
               ? g_variant_get_string(v, NULL)
               : "";
}

static gboolean
job_over(Driver *d)
{
    const char *state = job_string(d, "State");

    return g_str_equal(state, "completed") || g_str_equal(state, "failed") ||
           g_str_equal(state, "cancelled");
}

static char *
job_json(Driver *d)
{
    GVariantBuilder b;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GList) keys = g_hash_table_get_keys(d->job_props);

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    keys = g_list_sort(keys, (GCompareFunc)g_strcmp0);
    for (GList *l = keys; l != NULL; l = l->next)
        g_variant_builder_add(&b, "{sv}", l->data, g_hash_table_lookup(d->job_props, l->data));
    node = json_gvariant_serialize(g_variant_builder_end(&b));
    return json_to_string(node, FALSE);
}

/* The column where something that happened at @t (real time) landed. */
static int
landed_at(Driver *d, gint64 t)
{
    int landed = d->timeline->len > 0 || d->phase < 0 ? PH_PREFLIGHT : d->phase;

    for (guint i = 0; i < d->timeline->len; i++) {
        Change *c = &g_array_index(d->timeline, Change, i);

        if (c->began > t)
            break;
        landed = c->phase;
    }
    return landed;
}

/* buses */

static gboolean
connect_buses(Driver *d, GError **error)
{
    for (int i = 0; i < 2; i++) {
        if (d->bus[i] != NULL) {
            g_dbus_connection_signal_unsubscribe(d->bus[i], d->sub[i]);
            g_clear_object(&d->bus[i]);
        }
        d->bus[i] = xe_test_lab_bus_connect(d->lab, "ab"[i], error);
        if (d->bus[i] == NULL)
            return FALSE;
        /* everything on the bus: a private bus, two daemons and us */
        d->sub[i] = g_dbus_connection_signal_subscribe(
            d->bus[i], NULL, NULL, NULL, NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, d, NULL);
    }
    return TRUE;
}

static GVariant *
call(Driver *d, char host, const char *path, const char *iface, const char *method, GVariant *args,
     const char *reply_type, guint timeout_ms, GError **error)
{
    return g_dbus_connection_call_sync(d->bus[host_index(host)], XE_NAME, path, iface, method, args,
                                       reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, (int)timeout_ms, NULL,
                                       error);
}

static GVariant *
managed_objects(Driver *d, char host, GError **error)
{
    return call(d, host, XE_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
                "(a{oa{sa{sv}}})", ANSWER_MS, error);
}

/* Each object of @objects with @iface: its properties (a{sv}), in path order. */
static GPtrArray *
objects_with(GVariant *objects, const char *iface)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
    g_autoptr(GVariant) dict = NULL;
    GVariantIter iter;
    GVariant *ifaces;

    if (objects == NULL)
        return out;
    dict = g_variant_get_child_value(objects, 0);
    g_variant_iter_init(&iter, dict);
    while (g_variant_iter_next(&iter, "{&o@a{sa{sv}}}", NULL, &ifaces)) {
        GVariant *props = g_variant_lookup_value(ifaces, iface, G_VARIANT_TYPE_VARDICT);

        if (props != NULL)
            g_ptr_array_add(out, props);
        g_variant_unref(ifaces);
    }
    return out;
}

static const char *
prop_str(GVariant *props, const char *key)
{
    const char *s = NULL;

    return g_variant_lookup(props, key, "&s", &s) ? s : "";
}

/* The lab */

static char *
ram_file(Driver *d)
{
    g_autofree char *parent = g_path_get_dirname(xe_test_lab_dir(d->lab));
    char *path = g_build_filename(parent, "faults-guest-ram-64M", NULL);
    struct stat st;

    /* The guests' RAM: random, so that QEMU moves 64 MiB (zero pages cost nothing) and the
     * live phase lasts about a second at the policy's 64 MiB/s. Mapped private
     * (share=off): no guest writes it back. */
    if (stat(path, &st) < 0 || st.st_size != 64 << 20) {
        g_autofree guint8 *buf = g_malloc(1 << 20);
        g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
        FILE *f = fopen(tmp, "w");

        g_assert(f != NULL);
        for (int i = 0; i < 64; i++) {
            for (int j = 0; j < (1 << 20) / 4; j++)
                ((guint32 *)buf)[j] = g_random_int();
            g_assert(fwrite(buf, 1, 1 << 20, f) == 1 << 20);
        }
        g_assert(fclose(f) == 0);
        g_assert(rename(tmp, path) == 0);
    }
    /* QEMU opens it read-write as the user it runs as */
    xe_test_give_to_qemu_user(path);
    return path;
}

static gboolean
lab_up(Driver *d, GError **error)
{
    const char *extra[] = { "XE_LAB_STATE_TMPFS=1M", NULL };

    g_clear_pointer(&d->vm, g_free);
    return xe_test_lab_up(d->lab, extra, error) && connect_buses(d, error);
}

/* After a violation: a fresh lab, so that the next trial starts clean. */
static void
recover(Driver *d)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *reports = xe_test_lab_sanitizer_reports(d->lab);

    if (reports != NULL)
        g_ptr_array_add(d->violations,
                        g_strdup_printf("sanitizer reports before a lab reset:\n%s", reports));
    d->recoveries++;
    d->following = FALSE;
    xe_test_lab_down(d->lab);
    if (!lab_up(d, &error)) {
        fprintf(stderr, "faults: the lab does not come back: %s\n", error->message);
        d->broken = TRUE;
    }
}

/* VMs */

static gboolean
qemu_of_vm(Driver *d, char host, const char *vm, XeTestLabQemu **out)
{
    g_autoptr(GPtrArray) qemus = xe_test_lab_qemus(d->lab, host);

    for (guint i = 0; i < qemus->len; i++) {
        XeTestLabQemu *q = qemus->pdata[i];

        if (g_strcmp0(q->name, vm) == 0) {
            if (out != NULL)
                *out = g_ptr_array_steal_index(qemus, i);
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
no_qemu_of_vm(Driver *d, gpointer data)
{
    return !qemu_of_vm(d, 'a', data, NULL) && !qemu_of_vm(d, 'b', data, NULL);
}

static gboolean
start_vm(Driver *d, VmKind kind, char host, GError **error)
{
    g_autofree char *name = g_strdup_printf("f%u", ++d->vm_serial);
    g_autofree char *spec = g_strdup_printf("%s/%s.vm", xe_test_lab_dir(d->lab), name);
    g_autofree char *command = NULL;
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    int code;

    if (kind == KIND_REAL)
        command = g_strdup_printf(
            "%s/qemu-vfio -name %s -machine q35,memory-backend=ram0 -object "
            "memory-backend-file,id=ram0,size=64M,mem-path=%s,share=off -accel kvm -accel tcg "
            "-m 64M -nodefaults -no-user-config -display none "
            "-device vfio-pci,host={vf},id=xe-vf",
            xe_test_lab_dir(d->lab), name, d->ram_file);
    else
        command = g_strdup_printf("%s -name %s -m 64M -device vfio-pci,host={vf},id=xe-vf",
                                  g_getenv("XE_FAKE_QEMU"), name);
    text = g_strdup_printf("[vm]\nname=%s\ncommand=%s\nprofile=standard\npolicy=%s\n", name,
                           command, kind == KIND_REAL ? "faults" : "faults-fake");
    if (!g_file_set_contents(spec, text, -1, error))
        return FALSE;
    code = xe_test_lab_ctl(d->lab, host, &out, "vm-add", spec, "--start", NULL);
    if (code != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "vm-add %s on %c: exit %d: %s", name,
                    host, code, out != NULL ? g_strstrip(out) : "");
        return FALSE;
    }
    g_free(d->vm);
    d->vm = g_steal_pointer(&name);
    d->vm_kind = kind;
    d->vm_host = host;
    return TRUE;
}

/* A VM of @kind running somewhere: the one there is, or a new one (the previous one
 * removed when of another kind). */
static gboolean
ensure_vm(Driver *d, VmKind kind, GRand *r, GError **error)
{
    if (d->vm != NULL && d->vm_kind != kind) {
        g_autofree char *out = NULL;
        g_autofree char *old = g_strdup(d->vm);

        (void)xe_test_lab_ctl(d->lab, d->vm_host, &out, "vm-remove", d->vm, NULL);
        if (!wait_until(d, 10000, POLL_MS, 20, no_qemu_of_vm, old)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "vm-remove %s on %c left its QEMU running: %s", old, d->vm_host,
                        out != NULL ? out : "");
            return FALSE;
        }
        g_clear_pointer(&d->vm, g_free);
    }
    if (d->vm != NULL)
        return TRUE;
    return start_vm(d, kind, g_rand_boolean(r) ? 'a' : 'b', error);
}

/* observation: what runs where, and what the daemons say */

typedef struct {
    GPtrArray *qemus[2];  /* XeTestLabQemu */
    GPtrArray *status[2]; /* char *: the QMP run state, or "unanswered (...)" */
    GVariant *objects[2]; /* GetManagedObjects, or NULL */
    char *bus_error[2];
    gint64 latency_us[2];
    JsonNode *reservations[2];
    char *reservations_error[2];
    char *sanitizer;
} Observation;

static void
observation_clear(Observation *o)
{
    for (int i = 0; i < 2; i++) {
        g_clear_pointer(&o->qemus[i], g_ptr_array_unref);
        g_clear_pointer(&o->status[i], g_ptr_array_unref);
        g_clear_pointer(&o->objects[i], g_variant_unref);
        g_clear_pointer(&o->bus_error[i], g_free);
        g_clear_pointer(&o->reservations[i], json_node_unref);
        g_clear_pointer(&o->reservations_error[i], g_free);
    }
    g_clear_pointer(&o->sanitizer, g_free);
}

static void
observe(Driver *d, Observation *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < 2; i++) {
        char host = "ab"[i];
        g_autoptr(GError) error = NULL;
        gint64 t0 = g_get_monotonic_time();

        o->objects[i] = managed_objects(d, host, &error);
        o->latency_us[i] = g_get_monotonic_time() - t0;
        if (o->objects[i] == NULL)
            o->bus_error[i] = g_strdup(error->message);
        g_clear_error(&error);
        o->qemus[i] = xe_test_lab_qemus(d->lab, host);
        o->status[i] = g_ptr_array_new_with_free_func(g_free);
        for (guint q = 0; q < o->qemus[i]->len; q++) {
            XeTestLabQemu *qemu = o->qemus[i]->pdata[q];
            char *status = qemu->qmp != NULL ? xe_test_qmp_status(qemu->qmp, QMP_MS, &error) : NULL;

            if (status == NULL)
                status = g_strdup_printf("unanswered (%s)",
                                         error != NULL ? error->message : "no monitor socket");
            g_clear_error(&error);
            g_ptr_array_add(o->status[i], status);
        }
        o->reservations[i] = xe_test_lab_ctl_json(d->lab, host, &error, "reservations", NULL);
        if (o->reservations[i] == NULL)
            o->reservations_error[i] = g_strdup(error->message);
    }
    o->sanitizer = xe_test_lab_sanitizer_reports(d->lab);
}

static char *
describe(Observation *o)
{
    GString *s = g_string_new(NULL);

    for (int i = 0; i < 2; i++) {
        g_autoptr(GPtrArray) vms = objects_with(o->objects[i], VM_IFACE);
        g_autoptr(GPtrArray) jobs = objects_with(o->objects[i], JOB_IFACE);
        g_autoptr(GPtrArray) incomings = objects_with(o->objects[i], INCOMING_IFACE);
        guint finished = 0;

        g_string_append_printf(s, "    host %c: daemon %s (%.0f ms)\n", "ab"[i],
                               o -> bus_error[i] != NULL ? o -> bus_error[i] : "answers",
                               o->latency_us[i] / 1000.0);
        for (guint q = 0; q < o->qemus[i]->len; q++) {
            XeTestLabQemu *qemu = o->qemus[i]->pdata[q];

            g_string_append_printf(s, "      QEMU pid %d %s VM %s VF %s%s: %s\n", qemu->pid,
                                   qemu->comm, qemu->name ? qemu->name : "?",
                                   qemu->vf ? qemu->vf : "?", qemu->incoming ? " (-incoming)" : "",
                                   (char *)o->status[i]->pdata[q]);
        }
        if (o->qemus[i]->len == 0)
            g_string_append(s, "      no QEMU\n");
        for (guint v = 0; v < vms->len; v++)
            g_string_append_printf(s, "      daemon lists VM %s: %s on %s\n",
                                   prop_str(vms->pdata[v], "Name"),
                                   prop_str(vms->pdata[v], "State"), prop_str(vms->pdata[v], "VF"));
        /* what is in progress, or failed; finished ones only counted (they accumulate) */
        for (guint j = 0; j < jobs->len; j++) {
            const char *state = prop_str(jobs->pdata[j], "State");

            if (g_str_equal(state, "queued") || g_str_equal(state, "running"))
                g_string_append_printf(
                    s, "      job %s (VM %s): %s in %s\n", prop_str(jobs->pdata[j], "Id"),
                    prop_str(jobs->pdata[j], "VM"), state, prop_str(jobs->pdata[j], "Phase"));
            else
                finished++;
        }
        for (guint j = 0; j < incomings->len; j++) {
            const char *state = prop_str(incomings->pdata[j], "State");

            if (!g_str_equal(state, "running") && !g_str_equal(state, "aborted"))
                g_string_append_printf(s, "      incoming %s (VM %s, VF %s): %s%s%s\n",
                                       prop_str(incomings->pdata[j], "Id"),
                                       prop_str(incomings->pdata[j], "VM"),
                                       prop_str(incomings->pdata[j], "VF"), state,
                                       *prop_str(incomings->pdata[j], "Error") ? ": " : "",
                                       prop_str(incomings->pdata[j], "Error"));
            else
                finished++;
        }
        if (finished > 0)
            g_string_append_printf(s, "      (and %u finished jobs and incomings)\n", finished);
        if (o->reservations[i] != NULL) {
            g_autofree char *text = json_to_string(o->reservations[i], FALSE);

            g_string_append_printf(s, "      reservations: %s\n", text);
        } else {
            g_string_append_printf(s, "      reservations: %s\n", o->reservations_error[i]);
        }
    }
    return g_string_free(s, FALSE);
}

/* Settled: both daemons answer, no job running on either, no incoming in progress. */
static gboolean
settled(Driver *d, gpointer data)
{
    char **why = data;

    for (int i = 0; i < 2; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) objects = managed_objects(d, "ab"[i], &error);
        g_autoptr(GPtrArray) jobs = NULL;
        g_autoptr(GPtrArray) incomings = NULL;

        if (objects == NULL) {
            g_free(*why);
            *why =
                g_strdup_printf("the daemon of %c does not answer: %s", "ab"[i], error -> message);
            return FALSE;
        }
        jobs = objects_with(objects, JOB_IFACE);
        incomings = objects_with(objects, INCOMING_IFACE);
        for (guint j = 0; j < jobs->len; j++) {
            const char *state = prop_str(jobs->pdata[j], "State");

            if (g_str_equal(state, "queued") || g_str_equal(state, "running")) {
                g_free(*why);
                *why = g_strdup_printf("job %s on %c is %s in %s", prop_str(jobs->pdata[j], "Id"),
                                       "ab"[i], state, prop_str(jobs->pdata[j], "Phase"));
                return FALSE;
            }
        }
        for (guint j = 0; j < incomings->len; j++) {
            const char *state = prop_str(incomings->pdata[j], "State");

            if (g_str_equal(state, "preparing") || g_str_equal(state, "listening") ||
                g_str_equal(state, "active") || g_str_equal(state, "completed")) {
                g_free(*why);
                *why = g_strdup_printf("incoming %s on %c is %s",
                                       prop_str(incomings->pdata[j], "Id"), "ab"[i], state);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* May the trial's VM be gone? Only when the fault killed the copy that was the VM: the
 * source QEMU before its stream completed, or the incoming one once it ran the VM (Finish
 * comes in verifying). */
static gboolean
loss_allowed(Trial *t)
{
    if (!t->killed_vm_copy)
        return FALSE;
    if (t->fault == F_KILL_SRC_QEMU)
        return t->landed == PH_PREFLIGHT || t->landed == PH_PREPARING ||
               t->landed == PH_MIGRATING || t->landed == PH_SWITCHOVER || t->landed == PH_BACKOFF ||
               (t->landed == PH_DONE && g_strcmp0(t->job_state, "completed") != 0);
    if (t->fault == F_KILL_DST_QEMU)
        return t->landed == PH_VERIFYING || t->landed == PH_CLEANUP ||
               (t->landed == PH_DONE && g_strcmp0(t->job_state, "completed") == 0);
    return FALSE;
}

static gboolean
is_live_vm_state(const char *state)
{
    return !g_str_equal(state, "stopped");
}

/* The invariants over @o; the violations (NULL when none). The trial's VM ends up in
 * *@where: its host, or 0 when it is gone. */
static GPtrArray *
check(Driver *d, Trial *t, Observation *o, char *where)
{
    GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *vms[2];
    GHashTableIter iter;
    gpointer name;

    *where = 0;
    for (int i = 0; i < 2; i++) {
        char host = "ab"[i];

        vms[i] = objects_with(o->objects[i], VM_IFACE);
        if (o->bus_error[i] != NULL)
            g_ptr_array_add(v, g_strdup_printf("the daemon of %c does not answer a D-Bus call "
                                               "within %d ms: %s",
                                               host, ANSWER_MS, o->bus_error[i]));
        else if (o->latency_us[i] > ANSWER_MS * 1000)
            g_ptr_array_add(v, g_strdup_printf("the daemon of %c took %.0f ms to answer", host,
                                               o->latency_us[i] / 1000.0));
        /* every QEMU runs: none paused, inmigrate, postmigrate, or with a dead monitor */
        for (guint q = 0; q < o->qemus[i]->len; q++) {
            XeTestLabQemu *qemu = o->qemus[i]->pdata[q];
            const char *status = o->status[i]->pdata[q];

            if (qemu->name != NULL)
                g_hash_table_add(names, qemu->name);
            if (!g_str_equal(status, "running"))
                g_ptr_array_add(v, g_strdup_printf("QEMU pid %d on %c (VM %s, VF %s%s) is '%s'",
                                                   qemu->pid, host, qemu->name ? qemu->name : "?",
                                                   qemu->vf ? qemu->vf : "?",
                                                   qemu->incoming ? ", started -incoming" : "",
                                                   status));
        }
        for (guint j = 0; j < vms[i]->len; j++)
            g_hash_table_add(names, (gpointer)prop_str(vms[i]->pdata[j], "Name"));
    }
    if (t->vm != NULL)
        g_hash_table_add(names, t->vm);

    /* each VM: running on exactly one host, which lists it; or gone, when allowed */
    g_hash_table_iter_init(&iter, names);
    while (g_hash_table_iter_next(&iter, &name, NULL)) {
        XeTestLabQemu *runs[2] = { NULL, NULL };
        guint n = 0;

        for (int i = 0; i < 2; i++)
            for (guint q = 0; q < o->qemus[i]->len; q++) {
                XeTestLabQemu *qemu = o->qemus[i]->pdata[q];

                if (g_strcmp0(qemu->name, name) == 0 &&
                    g_str_equal(o->status[i]->pdata[q], "running")) {
                    n += runs[i] == NULL;
                    runs[i] = qemu;
                }
            }
        if (n == 2)
            g_ptr_array_add(v, g_strdup_printf("VM %s runs on both hosts (pid %d on a, %d on b)",
                                               (char *)name, runs[0]->pid, runs[1]->pid));
        if (n == 0 && g_strcmp0(name, t->vm) == 0 && !loss_allowed(t))
            g_ptr_array_add(
                v, g_strdup_printf("VM %s is lost: no QEMU runs it on either host", (char *)name));
        if (n == 1 && g_strcmp0(name, t->vm) == 0)
            *where = runs[0] != NULL ? 'a' : 'b';
        for (int i = 0; i < 2; i++) {
            GVariant *listed = NULL;

            for (guint j = 0; j < vms[i]->len; j++)
                if (g_str_equal(prop_str(vms[i]->pdata[j], "Name"), name))
                    listed = vms[i]->pdata[j];
            if (o->objects[i] == NULL)
                continue;
            if (runs[i] != NULL && listed == NULL)
                g_ptr_array_add(v, g_strdup_printf("VM %s runs on %c (pid %d) but its daemon "
                                                   "does not list it",
                                                   (char *)name, "ab"[i], runs[i] -> pid));
            else if (runs[i] != NULL && (!g_str_equal(prop_str(listed, "State"), "running") ||
                                         g_strcmp0(prop_str(listed, "VF"), runs[i]->vf) != 0))
                g_ptr_array_add(v, g_strdup_printf("VM %s runs on %c (pid %d, VF %s) but its "
                                                   "daemon lists it %s on %s",
                                                   (char *)name, "ab"[i], runs[i] -> pid,
                                                   runs[i] -> vf, prop_str(listed, "State"),
                                                   prop_str(listed, "VF")));
            else if (runs[i] == NULL && listed != NULL &&
                     is_live_vm_state(prop_str(listed, "State")))
                g_ptr_array_add(v, g_strdup_printf("the daemon of %c lists VM %s as %s (VF %s) "
                                                   "but no QEMU of it runs there",
                                                   "ab"[i], (char *)name, prop_str(listed, "State"),
                                                   prop_str(listed, "VF")));
        }
    }

    /* reservations: exactly one per VM running on the host, matched by VF */
    for (int i = 0; i < 2; i++) {
        char host = "ab"[i];
        g_autoptr(GHashTable) count = g_hash_table_new(g_str_hash, g_str_equal);
        JsonArray *res;

        if (o->reservations[i] == NULL) {
            g_ptr_array_add(v, g_strdup_printf("reservations of %c unreadable: %s", host,
                                               o->reservations_error[i]));
            continue;
        }
        res = json_node_get_array(o->reservations[i]);
        for (guint j = 0; j < json_array_get_length(res); j++) {
            JsonObject *r = json_array_get_object_element(res, j);
            const char *vf = json_object_get_string_member_with_default(r, "vf", "");
            gboolean wanted = FALSE;

            g_hash_table_insert(
                count, (gpointer)vf,
                GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(count, vf)) + 1));
            for (guint q = 0; q < o->qemus[i]->len; q++)
                wanted |= g_strcmp0(((XeTestLabQemu *)o->qemus[i]->pdata[q])->vf, vf) == 0 &&
                          g_str_equal(o->status[i]->pdata[q], "running");
            if (!wanted)
                g_ptr_array_add(
                    v, g_strdup_printf("reservation %s on %c leaked: VF %s, owner '%s', and no "
                                       "VM runs on that VF",
                                       json_object_get_string_member_with_default(r, "id", "?"),
                                       host, vf,
                                       json_object_get_string_member_with_default(r, "owner", "")));
        }
        for (guint q = 0; q < o->qemus[i]->len; q++) {
            XeTestLabQemu *qemu = o->qemus[i]->pdata[q];
            guint n;

            if (!g_str_equal(o->status[i]->pdata[q], "running") || qemu->vf == NULL)
                continue;
            n = GPOINTER_TO_UINT(g_hash_table_lookup(count, qemu->vf));
            if (n != 1)
                g_ptr_array_add(v,
                                g_strdup_printf("VM %s runs on %c on VF %s, which has %u "
                                                "reservations (1 expected)",
                                                qemu->name ? qemu->name : "?", host, qemu->vf, n));
        }
    }
    if (o->sanitizer != NULL)
        g_ptr_array_add(v, g_strdup_printf("sanitizer reports:\n%s", o->sanitizer));
    for (int i = 0; i < 2; i++)
        g_ptr_array_unref(vms[i]);
    if (v->len == 0)
        g_clear_pointer(&v, g_ptr_array_unref);
    return v;
}

typedef struct {
    Trial *t;
    GPtrArray *violations;
    char *seen;
    char where;
} Hold;

static gboolean
invariants_hold(Driver *d, gpointer data)
{
    Hold *h = data;
    Observation o;

    observe(d, &o);
    g_clear_pointer(&h->violations, g_ptr_array_unref);
    g_clear_pointer(&h->seen, g_free);
    h->violations = check(d, h->t, &o, &h->where);
    h->seen = describe(&o);
    if (o.sanitizer != NULL)
        g_clear_pointer(&o.sanitizer, g_free); /* reported once */
    observation_clear(&o);
    return h->violations == NULL;
}

static void violation(Trial *t, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* The last lines of @host's daemon log. */
static char *
daemon_log_tail(Driver *d, char host)
{
    g_autofree char *path = xe_test_lab_path(d->lab, host, "daemon.log");
    g_autofree char *text = NULL;
    gsize len = 0;
    g_auto(GStrv) lines = NULL;
    guint n;

    if (!g_file_get_contents(path, &text, &len, NULL))
        return g_strdup("(no log)");
    lines = g_strsplit(g_strstrip(text + (len > 4096 ? len - 4096 : 0)), "\n", -1);
    n = g_strv_length(lines);
    return g_strjoinv("\n      ", lines + (n > 8 ? n - 8 : 0));
}

/* injection */

static gboolean
phase_entered(Driver *d, gpointer data)
{
    return (d->entered & (1u << GPOINTER_TO_INT(data))) != 0 || job_over(d) || d->phase == PH_DONE;
}

/* A fault's target may come later than the moment (the incoming QEMU, the transport):
 * waiting for it ends when it comes, or when the job went past where it could. */
static gboolean
job_past(Driver *d, int column)
{
    return job_over(d) || (d->entered & ((1u << column) | (1u << PH_DONE))) != 0;
}

static gboolean
find_dst_qemu(Driver *d, gpointer data)
{
    Trial *t = data;

    return qemu_of_vm(d, t->dst, t->vm, NULL) || job_past(d, PH_DONE);
}

static gboolean
find_bridge(Driver *d, gpointer data)
{
    Trial *t = data;
    GPid daemon = xe_test_lab_daemon_pid(d->lab, t->src);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (proc != NULL && (name = g_dir_read_name(proc)) != NULL) {
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *stat = NULL;
        char comm[64];
        int ppid;

        if (g_ascii_isdigit(name[0]) && g_file_get_contents(path, &stat, NULL, NULL) &&
            sscanf(stat, "%*d (%63[^)]) %*c %d", comm, &ppid) == 2 && ppid == daemon &&
            g_str_has_prefix(comm, "systemd-stdio"))
            return TRUE;
    }
    return job_past(d, PH_CLEANUP); /* the job closes its transport before cleanup */
}

/* The destination's VF for this migration: the incoming's (its daemon reserved it), else
 * the incoming QEMU's. */
static char *
dst_vf(Driver *d, Trial *t)
{
    g_autoptr(GVariant) objects = managed_objects(d, t->dst, NULL);
    g_autoptr(GPtrArray) incomings = objects_with(objects, INCOMING_IFACE);
    g_autoptr(XeTestLabQemu) q = NULL;

    for (guint i = incomings->len; i-- > 0;)
        if (g_str_equal(prop_str(incomings->pdata[i], "VM"), t->vm) &&
            *prop_str(incomings->pdata[i], "VF") != '\0')
            return g_strdup(prop_str(incomings->pdata[i], "VF"));
    if (qemu_of_vm(d, t->dst, t->vm, &q) && q->vf != NULL)
        return g_strdup(q->vf);
    return NULL;
}

static gboolean
have_dst_vf(Driver *d, gpointer data)
{
    g_autofree char *vf = dst_vf(d, data);

    return vf != NULL || job_past(d, PH_DONE);
}

static int
pidfd_open_(GPid pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* SIGKILL, and wait (bounded) for the process to be gone. */
static gboolean
kill_and_wait(GPid pid)
{
    int fd = pidfd_open_(pid);
    struct pollfd p = { fd, POLLIN, 0 };
    gboolean ok = kill(pid, SIGKILL) == 0;

    if (fd >= 0) {
        (void)poll(&p, 1, 5000);
        close(fd);
    }
    return ok;
}

static char *
filler_path(Driver *d, char host)
{
    g_autofree char *state = xe_test_lab_path(d->lab, host, "state");

    return g_build_filename(state, "faults-filler", NULL);
}

/* Fills @host's state directory (a tmpfs) to the last byte. */
static guint64
fill_state_dir(Driver *d, char host)
{
    g_autofree char *path = filler_path(d, host);
    g_autofree char *buf = g_malloc0(64 * 1024);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    guint64 written = 0;
    ssize_t n;

    if (fd < 0)
        return 0;
    for (gsize chunk = 64 * 1024; chunk > 0; chunk /= 2)
        while ((n = write(fd, buf, chunk)) > 0)
            written += (guint64)n;
    close(fd);
    return written;
}

static void
arm_reset(Driver *d, char host, const char *vf, const char *state)
{
    g_autofree char *value = state != NULL ? g_strdup_printf("%s %s", vf, state) : g_strdup(vf);

    (void)xe_test_lab_sim_write(d->lab, host, "flr_on_state", value, NULL);
}

static void
inject(Driver *d, Trial *t)
{
    g_autoptr(GError) error = NULL;
    char host;

    switch (t->fault) {
    case F_KILL_SRC_DAEMON:
    case F_KILL_DST_DAEMON: {
        GPid pid;

        host = t->fault == F_KILL_SRC_DAEMON ? t->src : t->dst;
        pid = xe_test_lab_daemon_pid(d->lab, host);
        t->t_inject = g_get_real_time();
        t->injected = kill_and_wait(pid);
        t->note = g_strdup_printf("daemon pid %d of %c killed", pid, host);
        /* as systemd's Restart= would */
        if (!xe_test_lab_daemon(d->lab, "start", host, &error)) {
            g_autofree char *tail = daemon_log_tail(d, host);

            t->daemon_down = TRUE;
            violation(t,
                      "the daemon of %c does not start again after the kill: %s\n    its "
                      "log ends:\n      %s",
                      host, g_strstrip(error->message), tail);
        }
        break;
    }
    case F_KILL_SRC_QEMU:
        t->t_inject = g_get_real_time();
        t->injected = TRUE;
        t->killed_vm_copy = xe_test_pid_alive(t->src_pid) && kill_and_wait(t->src_pid);
        t->note = g_strdup_printf("source QEMU pid %d %s", t->src_pid,
                                  t->killed_vm_copy ? "killed" : "was already gone");
        break;
    case F_KILL_DST_QEMU: {
        g_autoptr(XeTestLabQemu) q = NULL;

        if (!wait_until(d, TARGET_WAIT_MS, POLL_MS, 0, find_dst_qemu, t) ||
            !qemu_of_vm(d, t->dst, t->vm, &q)) {
            t->note = g_strdup("no incoming QEMU appeared on the destination");
            break;
        }
        t->t_inject = g_get_real_time();
        t->injected = TRUE;
        t->killed_vm_copy = kill_and_wait(q->pid);
        t->note = g_strdup_printf("incoming QEMU pid %d on %c killed", q->pid, t->dst);
        break;
    }
    case F_TRANSPORT_CUT: {
        guint n;

        (void)wait_until(d, TARGET_WAIT_MS, POLL_MS, 0, find_bridge, t);
        t->t_inject = g_get_real_time();
        n = xe_test_lab_cut_transport(d->lab, t->src);
        t->injected = n > 0;
        t->note =
            n > 0 ? g_strdup_printf("%u systemd-stdio-bridge process(es) of %c killed", n, t->src)
                  : g_strdup("the source daemon ran no transport (any more)");
        break;
    }
    case F_RESET_SRC:
    case F_RESET_SRC_FAKE:
        arm_reset(d, t->src, t->src_vf, "stop_copy");
        t->t_inject = g_get_real_time();
        t->injected = xe_test_lab_sim_write(d->lab, t->src, "flr", t->src_vf, &error);
        t->note = g_strdup_printf("FLR of %s on %c, armed for stop_copy%s%s", t->src_vf, t->src,
                                  error ? ": " : "", error ? error->message : "");
        break;
    case F_RESET_DST:
    case F_RESET_DST_FAKE: {
        g_autofree char *vf = NULL;

        if (!wait_until(d, TARGET_WAIT_MS, POLL_MS, 0, have_dst_vf, t) ||
            (vf = dst_vf(d, t)) == NULL) {
            t->note = g_strdup("the destination reserved no VF");
            break;
        }
        arm_reset(d, t->dst, vf, "resuming");
        t->t_inject = g_get_real_time();
        t->injected = xe_test_lab_sim_write(d->lab, t->dst, "flr", vf, &error);
        t->note = g_strdup_printf("FLR of %s on %c, armed for resuming%s%s", vf, t->dst,
                                  error ? ": " : "", error ? error->message : "");
        break;
    }
    case F_FULL_SRC:
    case F_FULL_DST: {
        guint64 bytes;

        host = t->fault == F_FULL_SRC ? t->src : t->dst;
        t->t_inject = g_get_real_time();
        bytes = fill_state_dir(d, host);
        t->injected = TRUE;
        t->note = g_strdup_printf("state directory of %c filled (%" G_GUINT64_FORMAT " KiB)", host,
                                  bytes / 1024);
        break;
    }
    default:
        break;
    }
}

/* after the trial: what the fault left that is the lab's, not the daemons' */
static void
undo(Driver *d, Trial *t)
{
    if (t->fault == F_FULL_SRC || t->fault == F_FULL_DST) {
        g_autofree char *path = filler_path(d, t->fault == F_FULL_SRC ? t->src : t->dst);

        (void)unlink(path);
    }
    if (t->fault == F_RESET_SRC || t->fault == F_RESET_DST || t->fault == F_RESET_SRC_FAKE ||
        t->fault == F_RESET_DST_FAKE)
        for (const char *h = "ab"; *h != '\0'; h++)
            for (int f = 1; f <= 4; f++) {
                g_autofree char *vf = g_strdup_printf("0000:03:00.%d", f);

                arm_reset(d, *h, vf, NULL);
            }
}

/* a trial */

static void
trial_free(Trial *t)
{
    g_free(t->note);
    g_free(t->vm);
    g_free(t->src_vf);
    g_free(t->job_state);
    g_free(t->job_json);
    g_free(t->seen);
    if (t->violations != NULL)
        g_ptr_array_unref(t->violations);
    g_free(t);
}

static void
violation(Trial *t, const char *fmt, ...)
{
    va_list ap;

    if (t->violations == NULL)
        t->violations = g_ptr_array_new_with_free_func(g_free);
    va_start(ap, fmt);
    g_ptr_array_add(t->violations, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static gboolean
start_job(Driver *d, Trial *t, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) props = NULL;
    GVariantBuilder options;
    const char *path;

    d->following = TRUE;
    d->job_host = t->src;
    g_clear_pointer(&d->job_path, g_free);
    g_ptr_array_set_size(d->buffered, 0);
    g_hash_table_remove_all(d->job_props);
    g_array_set_size(d->timeline, 0);
    d->phase = -1;
    d->entered = 0;
    g_clear_pointer(&d->job_sender, g_free);
    {
        g_autoptr(GVariant) owner = g_dbus_connection_call_sync(
            d->bus[host_index(t->src)], "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "GetNameOwner", g_variant_new("(s)", XE_NAME),
            G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, ANSWER_MS, NULL, error);

        if (owner == NULL)
            return FALSE;
        g_variant_get(owner, "(s)", &d->job_sender);
    }
    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    reply = call(d, t->src, XE_PATH, MANAGER_IFACE, "Migrate",
                 g_variant_new("(ss@a{sv})", t->vm, (const char[2]){ t->dst, '\0' },
                               g_variant_builder_end(&options)),
                 "(o)", 10000, error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&o)", &path);
    d->job_path = g_strdup(path);
    props = call(d, t->src, path, "org.freedesktop.DBus.Properties", "GetAll",
                 g_variant_new("(s)", JOB_IFACE), "(a{sv})", 5000, NULL);
    if (props != NULL) {
        g_autoptr(GVariant) dict = g_variant_get_child_value(props, 0);
        GVariant *started = g_variant_lookup_value(dict, "Started", G_VARIANT_TYPE_INT64);

        if (started != NULL)
            g_hash_table_insert(d->job_props, g_strdup("Started"), started);
    }
    /* what changed before the answer, in order */
    for (guint i = 0; i < d->buffered->len; i++) {
        const char *p, *sender;
        g_autoptr(GVariant) changed = NULL;
        gint64 when;

        g_variant_get(d->buffered->pdata[i], "(&o&s@a{sv}x)", &p, &sender, &changed, &when);
        if (g_str_equal(p, path))
            job_apply(d, sender, changed, when);
    }
    g_ptr_array_set_size(d->buffered, 0);
    if (props != NULL) {
        /* the rest of the job as it is now (signals after this are newer) */
        g_autoptr(GVariant) dict = g_variant_get_child_value(props, 0);
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_iter_init(&iter, dict);
        while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
            if (!g_hash_table_contains(d->job_props, key))
                g_hash_table_insert(d->job_props, g_strdup(key), value);
            else
                g_variant_unref(value);
        }
        if (d->phase < 0 && column_of(job_string(d, "Phase")) >= 0) {
            d->phase = column_of(job_string(d, "Phase"));
            d->entered |= 1u << d->phase;
        }
    }
    return TRUE;
}

/* After the settle: every signal already received dispatched, then the job as its daemon
 * shows it now, when that is still the same job (a restarted daemon may carry it on, or
 * number a new one alike). */
static void
job_final(Driver *d, Trial *t)
{
    g_autoptr(GVariant) props = NULL;
    g_autoptr(GVariant) dict = NULL;
    GVariant *ours = g_hash_table_lookup(d->job_props, "Started");
    gint64 started = 0;

    while (g_main_context_iteration(NULL, FALSE))
        ;
    if (d->job_path == NULL || ours == NULL)
        return;
    props = call(d, t->src, d->job_path, "org.freedesktop.DBus.Properties", "GetAll",
                 g_variant_new("(s)", JOB_IFACE), "(a{sv})", ANSWER_MS, NULL);
    if (props == NULL)
        return;
    dict = g_variant_get_child_value(props, 0);
    if (g_variant_lookup(dict, "Started", "x", &started) && started == g_variant_get_int64(ours)) {
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_iter_init(&iter, dict);
        while (g_variant_iter_next(&iter, "{&sv}", &key, &value))
            g_hash_table_insert(d->job_props, g_strdup(key), value);
    }
}

static void
print_trial(Driver *d, Trial *t, guint total)
{
    const char *fault = t->fault == F_NONE ? "clean run" : faults[t->fault].name;

    printf("trial %u/%u: %s, target %s +%u ms, landed %s (seen: %s); %c->%c %s VM %s: %s; "
           "job %s; %s in %.1f s (settled after %.1f s)\n",
           t->index + 1, total, fault, t->target >= 0 ? column_names[t->target] : "-", t->delay_ms,
           column_names[t->landed], t->observed ? t->observed : "-", t->src, t->dst,
           t->kind == KIND_REAL ? "real" : "fake", t->vm ? t->vm : "-",
           t->note ? t->note : "no fault", t->job_state ? t->job_state : "?",
           t->violations ? "VIOLATION" : "invariants hold", (t->t_end - t->t_start) / 1e6,
           (t->t_settled - t->t_start) / 1e6);
    if (t->violations != NULL) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s,
                               "seed %" G_GUINT64_FORMAT ", %s trial %u: %s injected in %s "
                               "(target %s +%u ms), %c->%c, %s VM %s: %s\n",
                               d->seed, d->mode, t->index + 1, fault, column_names[t->landed],
                               t->target >= 0 ? column_names[t->target] : "-", t->delay_ms, t->src,
                               t->dst, t->kind == KIND_REAL ? "real" : "fake", t->vm ? t->vm : "-",
                               t->note ? t->note : "no fault");
        for (guint i = 0; i < t->violations->len; i++)
            g_string_append_printf(s, "  - %s\n", (char *)t->violations->pdata[i]);
        g_string_append_printf(s, "  seen:\n%s", t->seen ? t->seen : "");
        g_string_append_printf(s, "  job: %s\n", t->job_json ? t->job_json : "{}");
        printf("%s", s->str);
        g_ptr_array_add(d->violations, g_string_free(s, FALSE));
    }
    fflush(stdout);
}

/* One migration of the VM to the other host, with @fault injected in @target after a random
 * delay (@r draws it); then the settle and the invariants. */
static Trial *
run_trial(Driver *d, guint index, guint total, Fault fault, int target, GRand *r)
{
    Trial *t = g_new0(Trial, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *why = NULL;
    g_autoptr(XeTestLabQemu) src = NULL;
    Hold hold = { t, NULL, NULL, 0 };
    VmKind kind = fault == F_NONE ? (VmKind)target : faults[fault].kind;

    t->index = index;
    t->fault = fault;
    t->target = fault == F_NONE ? -1 : target;
    t->landed = PH_NOT_INJECTED;
    t->kind = kind;
    t->t_start = g_get_monotonic_time();
    if (!ensure_vm(d, kind, r, &error)) {
        t->src = t->dst = '-';
        violation(t, "no VM to migrate: %s", error->message);
        goto out;
    }
    t->vm = g_strdup(d->vm);
    t->src = d->vm_host;
    t->dst = other(t->src);
    if (!qemu_of_vm(d, t->src, t->vm, &src)) {
        violation(t, "VM %s has no QEMU on %c before the trial", t->vm, t->src);
        goto out;
    }
    t->src_pid = src->pid;
    t->src_vf = g_strdup(src->vf);
    if (fault != F_NONE)
        t->delay_ms = (guint)g_rand_double_range(r, 0, (double)MAX(d->typical_ms[kind][target], 1));
    t->t_start = g_get_monotonic_time();
    if (!start_job(d, t, &error)) {
        violation(t, "Migrate %s to %c refused: %s", t->vm, t->dst, error->message);
        goto out;
    }
    if (fault != F_NONE) {
        if (!wait_until(d, PHASE_WAIT_MS, 0, 0, phase_entered, GINT_TO_POINTER(target)) ||
            (d->entered & (1u << target)) == 0) {
            t->note =
                g_strdup_printf("the job never entered %s (it is %s in %s)", column_names[target],
                                job_string(d, "State"), job_string(d, "Phase"));
        } else {
            sleep_following(d, t->delay_ms);
            t->observed = d->phase >= 0 ? column_names[d->phase] : NULL;
            inject(d, t);
        }
    }
    if (!t->daemon_down && !wait_until(d, SETTLE_MS, POLL_MS, 20, settled, &why))
        violation(t, "not settled after %d s: %s", SETTLE_MS / 1000, why);
    t->t_settled = g_get_monotonic_time();
    job_final(d, t);
    undo(d, t);
    t->job_state = g_strdup(job_string(d, "State"));
    t->job_json = job_json(d);
    if (t->injected)
        t->landed = landed_at(d, t->t_inject);
    d->following = FALSE;
    if (!wait_until(d, t->daemon_down ? 0 : HOLD_MS, POLL_MS, 20, invariants_hold, &hold)) {
        for (guint i = 0; i < hold.violations->len; i++)
            violation(t, "%s", (char *)hold.violations->pdata[i]);
    }
    t->seen = g_steal_pointer(&hold.seen);
    if (hold.where != 0) {
        d->vm_host = hold.where;
    } else if (t->violations == NULL) {
        g_clear_pointer(&d->vm, g_free); /* legitimately gone */
    }
out:
    d->following = FALSE;
    g_clear_pointer(&hold.violations, g_ptr_array_unref);
    g_free(hold.seen);
    t->t_end = g_get_monotonic_time();
    print_trial(d, t, total);
    if (t->violations != NULL)
        recover(d);
    return t;
}

/* calibration: clean runs, each way, give each phase's typical duration */
static gboolean
calibrate(Driver *d, VmKind kind, GString *problems)
{
    GRand *r = g_rand_new_with_seed((guint32)d->seed);

    if (d->calibrated[kind])
        return TRUE;
    for (guint run = 0; run < 2; run++) {
        Trial *t = run_trial(d, run, 2, F_NONE, kind, r);
        GVariant *timings = g_hash_table_lookup(d->job_props, "Timings");

        if (t->violations != NULL || g_strcmp0(t->job_state, "completed") != 0) {
            g_string_append_printf(problems, "a clean %s migration %c->%c: job %s: %s\n",
                                   kind == KIND_REAL ? "real" : "fake", t->src, t->dst,
                                   t->job_state ? t->job_state : "?",
                                   t->job_json ? t->job_json : "");
            trial_free(t);
            g_rand_free(r);
            return FALSE;
        }
        if (timings != NULL && g_variant_is_of_type(timings, G_VARIANT_TYPE("a{st}"))) {
            GVariantIter iter;
            const char *phase;
            guint64 ms;

            g_variant_iter_init(&iter, timings);
            while (g_variant_iter_next(&iter, "{&st}", &phase, &ms)) {
                int c = column_of(phase);

                /* the shorter of the runs: a delay drawn within it lands in the phase */
                if (c >= 0 && c < N_PHASES)
                    d->typical_ms[kind][c] = run == 0 ? ms : MIN(d->typical_ms[kind][c], ms);
            }
        }
        trial_free(t);
    }
    printf("calibration (%s QEMU, shorter of 2 clean runs, ms):",
           kind == KIND_REAL ? "real" : "fake");
    for (int p = 0; p < N_PHASES; p++)
        printf(" %s %" G_GUINT64_FORMAT, column_names[p], d->typical_ms[kind][p]);
    printf("\n");
    fflush(stdout);
    d->calibrated[kind] = TRUE;
    g_rand_free(r);
    return TRUE;
}

/* the plan: which fault in which phase, trial by trial */

typedef struct {
    Fault fault;
    int phase;
} Cell;

static void
shuffle(GArray *cells, guint from, GRand *r)
{
    for (guint i = cells->len; i > from + 1; i--) {
        guint j = from + (guint)g_rand_int_range(r, 0, (gint32)(i - from));
        Cell tmp = g_array_index(cells, Cell, i - 1);

        g_array_index(cells, Cell, i - 1) = g_array_index(cells, Cell, j);
        g_array_index(cells, Cell, j) = tmp;
    }
}

/* Every (fault, phase) of the faults @wanted says, in a seeded order: real-QEMU rows first,
 * then the fake ones (a VM changes kind once), phases shuffled within. */
static GArray *
round_of(gboolean (*wanted)(Fault f, gpointer), gpointer data, GRand *r)
{
    GArray *cells = g_array_new(FALSE, FALSE, sizeof(Cell));

    for (VmKind k = 0; k < N_KINDS; k++) {
        guint from = cells->len;

        for (Fault f = 0; f < N_FAULTS; f++) {
            if (faults[f].kind != k || !wanted(f, data))
                continue;
            for (int p = 0; p < N_PHASES; p++)
                if (faults[f].phases & (1u << p)) {
                    Cell c = { f, p };

                    g_array_append_val(cells, c);
                }
        }
        shuffle(cells, from, r);
    }
    return cells;
}

static gboolean
of_test(Fault f, gpointer data)
{
    return g_str_equal(faults[f].test, data);
}

static gboolean
any_fault(Fault f, gpointer data)
{
    return TRUE;
}

static GRand *
trial_rand(Driver *d, guint index)
{
    guint32 seed[4] = { (guint32)d->seed, (guint32)(d->seed >> 32), g_str_hash(d->mode), index };

    return g_rand_new_with_seed_array(seed, 4);
}

static void
print_matrix(Driver *d)
{
    guint col_total[N_COLUMNS][2] = { { 0 } };
    guint total[2] = { 0, 0 };
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(double));

    printf("\nfault matrix (seed %" G_GUINT64_FORMAT ", %u trials; cells: trials/violations by "
           "the phase the fault landed in)\n",
           d->seed, d->trials_run);
    printf("%-27s", "fault");
    for (int c = 0; c < N_COLUMNS; c++)
        printf(" %10s", column_short[c]);
    printf(" %10s  %s\n", "total", "trial s (median/max)");
    for (Fault f = 0; f < N_FAULTS; f++) {
        guint row[2] = { 0, 0 };
        GArray *dur = d->durations[f];

        for (int c = 0; c < N_COLUMNS; c++)
            for (int k = 0; k < 2; k++)
                row[k] += d->cells[f][c][k];
        if (row[0] == 0)
            continue;
        printf("%-27s", faults[f].name);
        for (int c = 0; c < N_COLUMNS; c++) {
            g_autofree char *cell =
                d->cells[f][c][0] == 0
                    ? g_strdup("-")
                    : g_strdup_printf("%u/%u", d->cells[f][c][0], d->cells[f][c][1]);

            printf(" %10s", cell);
            for (int k = 0; k < 2; k++)
                col_total[c][k] += d->cells[f][c][k];
        }
        {
            g_autofree char *cell = g_strdup_printf("%u/%u", row[0], row[1]);

            g_array_sort(dur, xe_test_cmp_double);
            printf(" %10s  %.1f/%.1f\n", cell, g_array_index(dur, double, dur->len / 2),
                   g_array_index(dur, double, dur->len - 1));
        }
        g_array_append_vals(all, dur->data, dur->len);
        for (int k = 0; k < 2; k++)
            total[k] += row[k];
    }
    printf("%-27s", "total");
    for (int c = 0; c < N_COLUMNS; c++) {
        g_autofree char *cell = col_total[c][0] == 0
                                    ? g_strdup("-")
                                    : g_strdup_printf("%u/%u", col_total[c][0], col_total[c][1]);

        printf(" %10s", cell);
    }
    if (all->len > 0) {
        g_autofree char *cell = g_strdup_printf("%u/%u", total[0], total[1]);

        g_array_sort(all, xe_test_cmp_double);
        printf(" %10s  %.1f/%.1f\n", cell, g_array_index(all, double, all->len / 2),
               g_array_index(all, double, all->len - 1));
    } else {
        printf("\n");
    }
    printf("lab resets after violations: %u\n", d->recoveries);
    fflush(stdout);
}

/* Runs the plan; FALSE when the lab itself failed (calibration, or it did not come back). */
static gboolean
run_plan(Driver *d, GArray *plan, GString *problems)
{
    for (guint i = 0; i < plan->len && !d->broken; i++) {
        Cell *c = &g_array_index(plan, Cell, i);
        GRand *r;
        Trial *t;
        double secs;

        if (!calibrate(d, faults[c->fault].kind, problems))
            return FALSE;
        r = trial_rand(d, i);
        t = run_trial(d, i, plan->len, c->fault, c->phase, r);
        d->trials_run++;
        d->cells[c->fault][t->landed][0]++;
        d->cells[c->fault][t->landed][1] += t->violations != NULL;
        secs = (t->t_end - t->t_start) / 1e6;
        g_array_append_val(d->durations[c->fault], secs);
        trial_free(t);
        g_rand_free(r);
    }
    if (d->broken)
        g_string_append(problems, "the lab could not be brought back after a violation\n");
    return !d->broken;
}

/* Check */

static const char *mode;
static guint64 seed;

static void
setup(void)
{
    g_autoptr(GError) error = NULL;

    driver = g_new0(Driver, 1);
    driver->mode = mode;
    driver->seed = seed;
    driver->lab = xe_test_lab_new(g_getenv("XE_LAB"), g_getenv("XE_LAB_DIR"),
                                  g_getenv("XE_BUILD_ROOT"), g_getenv("XE_MIGRATECTL"));
    driver->buffered = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
    driver->job_props =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
    driver->timeline = g_array_new(FALSE, FALSE, sizeof(Change));
    driver->violations = g_ptr_array_new_with_free_func(g_free);
    for (int f = 0; f < N_FAULTS; f++)
        driver->durations[f] = g_array_new(FALSE, FALSE, sizeof(double));
    driver->ram_file = ram_file(driver);
    if (!lab_up(driver, &error)) {
        g_autofree char *a = daemon_log_tail(driver, 'a');
        g_autofree char *b = daemon_log_tail(driver, 'b');

        ck_abort_msg("lab up: %s\n  a's daemon log ends:\n      %s\n  b's:\n      %s",
                     error ? error->message : "", a, b);
    }
}

static void
teardown(void)
{
    g_autofree char *reports = xe_test_lab_sanitizer_reports(driver->lab);

    for (int i = 0; i < 2; i++)
        if (driver->bus[i] != NULL) {
            g_dbus_connection_signal_unsubscribe(driver->bus[i], driver->sub[i]);
            g_clear_object(&driver->bus[i]);
        }
    xe_test_lab_down(driver->lab);
    ck_assert_msg(reports == NULL, "%s", reports);
}

static guint
trials_wanted(guint fallback)
{
    const char *n = g_getenv("XE_FAULTS_TRIALS");

    return n != NULL && *n != '\0' ? (guint)g_ascii_strtoull(n, NULL, 10) : fallback;
}

START_TEST(test_fault)
{
    g_autoptr(GString) problems = g_string_new(NULL);
    g_autoptr(GRand) r = g_rand_new_with_seed((guint32)(seed ^ g_str_hash(mode)));
    g_autoptr(GArray) plan = g_array_new(FALSE, FALSE, sizeof(Cell));
    guint n = 0;

    /* by default two rounds: each (variant, phase) twice, in two seeded orders */
    for (guint round = 0; plan->len < n || round < 2; round++) {
        g_autoptr(GArray) cells = round_of(of_test, (gpointer)mode, r);

        if (round == 0)
            n = trials_wanted(2 * cells->len);
        g_array_append_vals(plan, cells->data, MIN(cells->len, n - plan->len));
    }
    printf("faults-%s: seed %" G_GUINT64_FORMAT " (XE_FAULTS_SEED=%" G_GUINT64_FORMAT
           " to replay), %u trials\n",
           mode, seed, seed, plan->len);
    for (Fault f = 0; f < N_FAULTS; f++)
        if (of_test(f, (gpointer)mode))
            printf("  %s: %s\n", faults[f].name, faults[f].what);
    fflush(stdout);
    ck_assert_msg(run_plan(driver, plan, problems), "the lab failed: %s", problems->str);
    print_matrix(driver);
    if (driver->violations->len > 0) {
        g_autoptr(GString) all = g_string_new(NULL);

        /* the details are above; Check's message has room for a line per trial */
        for (guint i = 0; i < driver->violations->len; i++) {
            const char *v = driver->violations->pdata[i];
            const char *first = strstr(v, "\n  - ");
            gsize head = strcspn(v, "\n");

            g_string_append_printf(all, "%.*s: %.*s\n", (int)MIN(head, 160), v,
                                   first != NULL ? (int)MIN(strcspn(first + 5, "\n"), 200) : 0,
                                   first != NULL ? first + 5 : "");
        }
        if (all->len > 3500)
            g_string_truncate(all, 3500);
        ck_abort_msg("%u of %u trials violated the invariants (seed %" G_GUINT64_FORMAT
                     ", details above):\n%s",
                     driver->violations->len, driver->trials_run, seed, all->str);
    }
}
END_TEST

START_TEST(bench_matrix)
{
    g_autoptr(GString) problems = g_string_new(NULL);
    g_autoptr(GRand) r = g_rand_new_with_seed((guint32)(seed ^ g_str_hash(mode)));
    g_autoptr(GArray) plan = g_array_new(FALSE, FALSE, sizeof(Cell));
    guint n = trials_wanted(300);
    gint64 t0 = g_get_monotonic_time();

    while (plan->len < n) {
        g_autoptr(GArray) round = round_of(any_fault, NULL, r);

        g_array_append_vals(plan, round->data, MIN(round->len, n - plan->len));
    }
    printf("faults-matrix: seed %" G_GUINT64_FORMAT " (XE_FAULTS_SEED=%" G_GUINT64_FORMAT
           " to replay), %u trials\n",
           seed, seed, plan->len);
    fflush(stdout);
    if (!run_plan(driver, plan, problems))
        printf("stopped: %s", problems->str);
    print_matrix(driver);
    printf("%u violation(s) in %.0f s\n", driver->violations->len, seconds_since(t0));
    for (guint i = 0; i < driver->violations->len; i++)
        printf("%s", (char *)driver->violations->pdata[i]);
    fflush(stdout);
    ck_assert_msg(problems->len == 0, "the lab failed: %s", problems->str);
}
END_TEST

int
main(int argc, char **argv)
{
    Suite *s;
    TCase *tc;
    const char *seed_text = g_getenv("XE_FAULTS_SEED");
    gboolean known = FALSE;
    gboolean ready = getuid() == 0 && g_file_test("/dev/fuse", G_FILE_TEST_EXISTS) &&
                     xe_test_have("qemu-system-x86_64") && xe_test_have("systemd-stdio-bridge") &&
                     xe_test_have("nsenter") && xe_test_have("ip");

    mode = argc > 1 ? argv[1] : "";
    for (Fault f = 0; f < N_FAULTS; f++)
        known |= g_str_equal(faults[f].test, mode);
    if (!known && !g_str_equal(mode, "bench")) {
        fprintf(stderr,
                "usage: %s bench|FAULT (FAULT: kill-source-daemon, "
                "kill-destination-daemon, kill-source-qemu, kill-destination-qemu, "
                "transport-cut, vf-reset-source, vf-reset-destination, state-dir-full)\n",
                argv[0]);
        return 2;
    }
    xe_test_require_peer(ready, "root, /dev/fuse, QEMU, nsenter and systemd-stdio-bridge");
    if (seed_text != NULL && *seed_text != '\0') {
        seed = g_ascii_strtoull(seed_text, NULL, 10);
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();

        seed = (guint64)g_date_time_get_year(now) * 10000 + g_date_time_get_month(now) * 100 +
               g_date_time_get_day_of_month(now);
    }
    s = suite_create(g_str_equal(mode, "bench") ? "faults-matrix" : "faults");
    tc = tcase_create(mode);
    tcase_add_checked_fixture(tc, setup, teardown);
    if (g_str_equal(mode, "bench")) {
        tcase_set_timeout(tc, 14400);
        tcase_add_test(tc, bench_matrix);
    } else {
        tcase_set_timeout(tc, 1800);
        tcase_add_test(tc, test_fault);
    }
    suite_add_tcase(s, tc);
    return xe_test_run_suite(s);
}
