/* xe-test-lab.h: the two-host lab (scripts/lab) seen from a test: bringing it
 * up and down, its daemons stopped, killed and started, xe-migratectl on
 * either host, xe-sim's control files, the transport cut, and what runs in a
 * host's network namespace read from /proc (QEMU processes, their VM, VF and
 * monitor socket) and asked over QMP, independently of the daemons. Nothing
 * here asserts: the fault matrix keeps going after a failure and reports it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _XeTestLab XeTestLab;

/* A lab at @dir, run by @script (scripts/lab) from the build at @build_root,
 * with @migratectl (xe-migratectl). Nothing starts until xe_test_lab_up(). */
XeTestLab *xe_test_lab_new(const char *script, const char *dir, const char *build_root,
                           const char *migratectl);
void xe_test_lab_free(XeTestLab *lab);

const char *xe_test_lab_dir(XeTestLab *lab);

/* scripts/lab up, with @extra_env (NULL or a NULL-terminated KEY=VALUE list, e.g.
 * XE_LAB_STATE_TMPFS=1M) added to the environment; then reads DIR/env. */
gboolean xe_test_lab_up(XeTestLab *lab, const char *const *extra_env, GError **error);
/* scripts/lab down (idempotent). */
void xe_test_lab_down(XeTestLab *lab);
/* scripts/lab stop|start|kill DIR HOST: one daemon stopped, started (it answers on its
 * bus once this returns) or killed with SIGKILL. */
gboolean xe_test_lab_daemon(XeTestLab *lab, const char *what, char host, GError **error);

/* What DIR/env says: XE_LAB_A_BUS, XE_LAB_B_NS, ...; NULL when absent. */
const char *xe_test_lab_env(XeTestLab *lab, const char *key);
const char *xe_test_lab_bus(XeTestLab *lab, char host);
const char *xe_test_lab_sim(XeTestLab *lab, char host);
const char *xe_test_lab_ns(XeTestLab *lab, char host);
/* DIR/HOST/SUB, e.g. "state" or "daemon.log". */
char *xe_test_lab_path(XeTestLab *lab, char host, const char *sub);
/* The pid of @host's daemon now (DIR/HOST/daemon.pid), 0 when unknown. */
GPid xe_test_lab_daemon_pid(XeTestLab *lab, char host);

/* A private connection to @host's bus. */
GDBusConnection *xe_test_lab_bus_connect(XeTestLab *lab, char host, GError **error);

/* xe-migratectl --bus HOST'S-BUS ARGS... (NULL-terminated): its exit status, or -1 when it
 * could not run; its stdout and stderr in *@out. */
int xe_test_lab_ctl(XeTestLab *lab, char host, char **out, ...) G_GNUC_NULL_TERMINATED;
/* xe-migratectl --json ARGS... parsed; NULL with @error when it fails or is no JSON. */
JsonNode *xe_test_lab_ctl_json(XeTestLab *lab, char host, GError **error,
                               ...) G_GNUC_NULL_TERMINATED;

/* A write to xe-sim's control file sim/@file on @host (in place, one write()). */
gboolean xe_test_lab_sim_write(XeTestLab *lab, char host, const char *file, const char *value,
                               GError **error);

/* Kills (SIGKILL) the transport commands (systemd-stdio-bridge) that @host's daemon runs
 * to reach other hosts; returns how many. */
guint xe_test_lab_cut_transport(XeTestLab *lab, char host);

/* A QEMU process (qemu-system-* or xe-fake-qemu) running in a host's namespace, as /proc
 * shows it: its VM from -name, its VF from the command line (string=BDF or host=BDF),
 * whether it was started to receive a migration, and the monitor socket it listens on. */
typedef struct {
    GPid pid;
    char *comm;
    char *name;
    char *vf;
    gboolean incoming;
    char *qmp;
} XeTestLabQemu;

void xe_test_lab_qemu_free(XeTestLabQemu *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeTestLabQemu, xe_test_lab_qemu_free)

/* The QEMU processes alive (zombies excluded) in @host's network namespace, like
 * `ip netns pids NS` filtered by comm; XeTestLabQemu elements. */
GPtrArray *xe_test_lab_qemus(XeTestLab *lab, char host);
/* TRUE while @pid runs (a zombie does not). */
gboolean xe_test_pid_alive(GPid pid);

/* query-status over the QMP socket @path: the run state ("running", "paused",
 * "inmigrate", "postmigrate", ...), or NULL with @error after @timeout_ms (QEMU's monitor
 * takes one client at a time: a client that holds it shows as a timeout). */
char *xe_test_qmp_status(const char *path, guint timeout_ms, GError **error);

/* What the lab's daemons and QEMU stand-ins reported to their logs ("Sanitizer",
 * "runtime error:") since the previous call, or NULL. */
char *xe_test_lab_sanitizer_reports(XeTestLab *lab);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeTestLab, xe_test_lab_free)

G_END_DECLS
