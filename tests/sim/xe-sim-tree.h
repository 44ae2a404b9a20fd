/* xe-sim-tree.h: the simulator's file tree: directories, attribute files with
 * show/store callbacks (sysfs and debugfs semantics: one write() is one
 * store, the result is its errno), binary files read at an offset (sysfs
 * bin_attribute, a VFIO data fd), files with a lifetime (open/release, as a
 * VFIO device fd), and symlinks; plus the audit log and the injected faults
 * and latencies that every write passes through.
 *
 * The tree is guarded by one lock (xe_sim_lock()); FUSE handlers take it, and a
 * store that must block (as the kernel blocks disabling a VF that is open)
 * waits on xe_sim_wait() which releases it. FUSE runs multi-threaded, so a
 * handler that sleeps without the lock (xe_sim_sleep_until()) stalls no other
 * file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _SimNode SimNode;

/* show: append the file's content to @out; return 0 or a negative errno.
 * store: handle one write of @len bytes; return 0 or a negative errno. */
typedef int (*SimShowFunc)(SimNode *node, GString *out);
typedef int (*SimStoreFunc)(SimNode *node, const char *buf, gsize len);
/* read: copy up to @size bytes at @offset into @buf; return the count (0 at
 * the end) or a negative errno. Called with the lock held; it may drop it
 * (xe_sim_sleep_until()) and must then not use @node again. */
typedef gssize (*SimReadFunc)(SimNode *node, char *buf, gsize size, guint64 offset);
/* open: a token (>= 0) or a negative errno. Every successful open is matched
 * by exactly one release(obj, token) when the last descriptor of it is closed,
 * by close() or by the death of its holder (SIGKILL included: FUSE sends
 * RELEASE either way). */
typedef int (*SimOpenFunc)(SimNode *node, int flags);
typedef void (*SimReleaseFunc)(gpointer obj, int token);

typedef enum { SIM_NODE_DIR, SIM_NODE_FILE, SIM_NODE_LINK } SimNodeType;

struct _SimNode {
    SimNodeType type;
    char *name;
    SimNode *parent;
    mode_t mode;            /* permission bits as sysfs shows them */
    GPtrArray *children;    /* DIR: in creation order */
    char *target;           /* LINK: relative target */
    SimShowFunc show;       /* FILE: NULL = not readable (EACCES on open for read) */
    SimStoreFunc store;     /* FILE: NULL = not writable (EACCES on open for write) */
    SimReadFunc read;       /* FILE: read at an offset instead of show (a binary file) */
    SimOpenFunc open;       /* FILE: a file with a lifetime: open and release hooks */
    SimReleaseFunc release; /* FILE: with open */
    gpointer obj;           /* FILE: the model object */
    int arg;                /* FILE: a small argument (GT index, ...) */
    uid_t uid;              /* owner (root unless chown'ed) */
    gid_t gid;
    gboolean device;        /* a device node: its owner and mode are enforced on open */
};

/* Lock / wait (see above). */
void xe_sim_lock(void);
void xe_sim_unlock(void);
void xe_sim_wait(void); /* releases the lock while waiting for xe_sim_broadcast() */
void xe_sim_broadcast(void);
/* Sleeps until the monotonic time @due (microseconds) without the lock, which
 * it takes again before returning: the caller revalidates what it had. */
void xe_sim_sleep_until(gint64 due);
/* The paths whose writes are waiting right now, one per line. */
void xe_sim_blocked_show(GString *out);

SimNode *xe_sim_root(void);
/* Creates (or returns the existing) directory @path below @base ("a/b/c"). */
SimNode *xe_sim_mkdir(SimNode *base, const char *path);
SimNode *xe_sim_add_file(SimNode *dir, const char *name, mode_t mode, SimShowFunc show,
                         SimStoreFunc store, gpointer obj, int arg);
/* A binary file: @read serves reads at any offset (like a sysfs bin_attribute). */
SimNode *xe_sim_add_bin_file(SimNode *dir, const char *name, mode_t mode, SimReadFunc read,
                             SimStoreFunc store, gpointer obj, int arg);
/* A file with a lifetime: @open decides each open (whatever its access mode),
 * @release(obj, token) ends each successful one; reads give nothing (EOF). */
SimNode *xe_sim_add_held_file(SimNode *dir, const char *name, mode_t mode, SimOpenFunc open,
                              SimReleaseFunc release, gpointer obj, int arg);
SimNode *xe_sim_add_link(SimNode *dir, const char *name, const char *target);
/* A device node (/dev/vfio/<G>), root's with @mode: open checks its owner and mode for
 * anyone but root, as the kernel's DAC does (sysfs files are not checked); root may chown
 * and chmod it. Reads give nothing; writes are EINVAL. */
SimNode *xe_sim_add_device_node(SimNode *dir, const char *name, mode_t mode);
/* Removes @name (and all below it) from @dir; no-op if absent. */
void xe_sim_remove(SimNode *dir, const char *name);
SimNode *xe_sim_child(SimNode *dir, const char *name);
/* Looks up an absolute path ("/sys/bus/pci/...") without following links,
 * except in its directory part. */
SimNode *xe_sim_lookup(const char *path);
/* The path of @node relative to the mount root, without the leading "/". */
char *xe_sim_node_path(SimNode *node);

/* Fault injection: the next @count writes to @path fail with @error (a
 * positive errno); count 0 clears. Latency: every access to @path first
 * sleeps @ms (0 clears). @path is relative to the mount root. */
void xe_sim_fault_set(const char *path, int error, guint count);
void xe_sim_latency_set(const char *path, guint ms);
/* Called by the FUSE layer: the injected errno for this write (0 if none,
 * and consumes one), and the latency. */
int xe_sim_fault_take(const char *path);
guint xe_sim_latency_get(const char *path);

/* The audit log of every write below sys/ and to sim/vfio/<VF>/state:
 * "SEQ PATH VALUE RESULT". */
void xe_sim_audit(const char *path, const char *buf, gsize len, int result);
/* A line of its own: "SEQ TEXT" (the model's events, e.g. migration arcs). */
void xe_sim_audit_note(const char *format, ...) G_GNUC_PRINTF(1, 2);
void xe_sim_audit_show(GString *out);
void xe_sim_audit_clear(void);

/* errno <-> "EBUSY". Unknown names give 0; unknown numbers "E<n>". */
const char *xe_sim_errno_name(int error);
int xe_sim_errno_parse(const char *text);

/* Parses an unsigned integer as the kernel's kstrto* do (base 0 or 10,
 * one trailing newline allowed). Returns 0, -EINVAL or -ERANGE. */
int xe_sim_parse_u64(const char *buf, gsize len, guint base, guint64 max, guint64 *out);
/* kstrtobool: 1/y/Y/t/T/on -> TRUE, 0/n/N/f/F/off -> FALSE, else -EINVAL. */
int xe_sim_parse_bool(const char *buf, gsize len, gboolean *out);
/* The written value without its one trailing newline, NUL-terminated. */
char *xe_sim_strip(const char *buf, gsize len);

/* Serves the tree at @mountpoint until unmounted or SIGTERM/SIGINT; once
 * mounted, writes "READY\n" to @ready_fd (if >= 0) and closes it. */
int xe_sim_fuse_main(const char *mountpoint, gboolean debug, int ready_fd);

G_END_DECLS
