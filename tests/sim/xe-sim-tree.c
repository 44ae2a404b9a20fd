/* xe-sim-tree.c: the simulator's tree, audit log, fault injection, and the
 * libfuse3 high-level operations that serve it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define FUSE_USE_VERSION 312

#include "xe-sim-tree.h"

#include "xe-error.h" /* the errno name table, shared with the host layer */

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSFS_FILE_SIZE 4096
#define MAX_STORE       (128 * 1024)

static GMutex sim_lock_;
static GCond sim_cond;
static SimNode *root_node;
static GHashTable *faults;    /* path -> Fault */
static GHashTable *latencies; /* path -> guint ms */
static GString *audit_log;
static guint64 audit_seq;
static GHashTable *blocked;                /* path -> number of writers waiting on it */
static __thread const char *current_write; /* the path a FUSE write works on */

typedef struct {
    int error;
    guint count;
} Fault;

/* An open file with a lifetime (fi->fh): what its release calls. */
typedef struct {
    SimReleaseFunc release;
    gpointer obj;
    int token;
} Holder;

void
xe_sim_lock(void)
{
    g_mutex_lock(&sim_lock_);
}

void
xe_sim_unlock(void)
{
    g_mutex_unlock(&sim_lock_);
}

void
xe_sim_wait(void)
{
    const char *path = current_write != NULL ? current_write : "?";
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(blocked, path));

    g_hash_table_replace(blocked, g_strdup(path), GUINT_TO_POINTER(n + 1));
    g_cond_wait(&sim_cond, &sim_lock_);
    n = GPOINTER_TO_UINT(g_hash_table_lookup(blocked, path));
    if (n <= 1)
        g_hash_table_remove(blocked, path);
    else
        g_hash_table_replace(blocked, g_strdup(path), GUINT_TO_POINTER(n - 1));
}

void
xe_sim_sleep_until(gint64 due)
{
    gint64 now = g_get_monotonic_time();

    if (due <= now)
        return;
    xe_sim_unlock();
    g_usleep((gulong)(due - now));
    xe_sim_lock();
}

void
xe_sim_blocked_show(GString *out)
{
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, blocked);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_string_append_printf(out, "%s\n", (const char *)key);
}

void
xe_sim_broadcast(void)
{
    g_cond_broadcast(&sim_cond);
}

/* nodes */

static SimNode *
node_new(SimNodeType type, const char *name, mode_t mode)
{
    SimNode *node = g_new0(SimNode, 1);

    node->type = type;
    node->name = g_strdup(name);
    node->mode = mode;
    if (type == SIM_NODE_DIR)
        node->children = g_ptr_array_new();
    return node;
}

static void
node_free(SimNode *node)
{
    if (node->children != NULL) {
        for (guint i = 0; i < node->children->len; i++)
            node_free(node->children->pdata[i]);
        g_ptr_array_unref(node->children);
    }
    g_free(node->name);
    g_free(node->target);
    g_free(node);
}

SimNode *
xe_sim_root(void)
{
    if (root_node == NULL) {
        root_node = node_new(SIM_NODE_DIR, "", 0755);
        faults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        latencies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        audit_log = g_string_new(NULL);
        blocked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    return root_node;
}

SimNode *
xe_sim_child(SimNode *dir, const char *name)
{
    if (dir == NULL || dir->type != SIM_NODE_DIR)
        return NULL;
    for (guint i = 0; i < dir->children->len; i++) {
        SimNode *c = dir->children->pdata[i];
        if (g_str_equal(c->name, name))
            return c;
    }
    return NULL;
}

static SimNode *
add_child(SimNode *dir, SimNode *node)
{
    g_assert(dir->type == SIM_NODE_DIR);
    xe_sim_remove(dir, node->name);
    node->parent = dir;
    g_ptr_array_add(dir->children, node);
    return node;
}

SimNode *
xe_sim_mkdir(SimNode *base, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    SimNode *dir = base;

    for (guint i = 0; parts[i] != NULL; i++) {
        SimNode *next;

        if (*parts[i] == '\0')
            continue;
        next = xe_sim_child(dir, parts[i]);
        if (next == NULL)
            next = add_child(dir, node_new(SIM_NODE_DIR, parts[i], 0755));
        dir = next;
    }
    return dir;
}

SimNode *
xe_sim_add_file(SimNode *dir, const char *name, mode_t mode, SimShowFunc show, SimStoreFunc store,
                gpointer obj, int arg)
{
    SimNode *node = node_new(SIM_NODE_FILE, name, mode);

    node->show = show;
    node->store = store;
    node->obj = obj;
    node->arg = arg;
    return add_child(dir, node);
}

SimNode *
xe_sim_add_bin_file(SimNode *dir, const char *name, mode_t mode, SimReadFunc read,
                    SimStoreFunc store, gpointer obj, int arg)
{
    SimNode *node = xe_sim_add_file(dir, name, mode, NULL, store, obj, arg);

    node->read = read;
    return node;
}

static int
show_nothing(SimNode *node, GString *out)
{
    return 0;
}

static int
store_nothing(SimNode *node, const char *buf, gsize len)
{
    return -EINVAL;
}

SimNode *
xe_sim_add_device_node(SimNode *dir, const char *name, mode_t mode)
{
    SimNode *node = xe_sim_add_file(dir, name, mode, show_nothing, store_nothing, NULL, 0);

    node->device = TRUE;
    return node;
}

static gssize
read_nothing(SimNode *node, char *buf, gsize size, guint64 offset)
{
    return 0;
}

SimNode *
xe_sim_add_held_file(SimNode *dir, const char *name, mode_t mode, SimOpenFunc open,
                     SimReleaseFunc release, gpointer obj, int arg)
{
    SimNode *node = xe_sim_add_bin_file(dir, name, mode, read_nothing, NULL, obj, arg);

    node->open = open;
    node->release = release;
    return node;
}

SimNode *
xe_sim_add_link(SimNode *dir, const char *name, const char *target)
{
    SimNode *node = node_new(SIM_NODE_LINK, name, 0777);

    node->target = g_strdup(target);
    return add_child(dir, node);
}

void
xe_sim_remove(SimNode *dir, const char *name)
{
    if (dir == NULL || dir->type != SIM_NODE_DIR)
        return;
    for (guint i = 0; i < dir->children->len; i++) {
        SimNode *c = dir->children->pdata[i];
        if (g_str_equal(c->name, name)) {
            g_ptr_array_remove_index(dir->children, i);
            node_free(c);
            return;
        }
    }
}

SimNode *
xe_sim_lookup(const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    SimNode *node = xe_sim_root();

    for (guint i = 0; parts[i] != NULL && node != NULL; i++) {
        if (*parts[i] == '\0')
            continue;
        node = xe_sim_child(node, parts[i]);
    }
    return node;
}

char *
xe_sim_node_path(SimNode *node)
{
    GPtrArray *names = g_ptr_array_new();
    GString *path = g_string_new(NULL);

    for (; node != NULL && node->parent != NULL; node = node->parent)
        g_ptr_array_add(names, node->name);
    for (guint i = names->len; i > 0; i--) {
        if (path->len > 0)
            g_string_append_c(path, '/');
        g_string_append(path, names->pdata[i - 1]);
    }
    g_ptr_array_unref(names);
    return g_string_free(path, FALSE);
}

/* faults, latency, audit */

void
xe_sim_fault_set(const char *path, int error, guint count)
{
    Fault *fault;

    if (count == 0) {
        g_hash_table_remove(faults, path);
        return;
    }
    fault = g_new0(Fault, 1);
    fault->error = error;
    fault->count = count;
    g_hash_table_replace(faults, g_strdup(path), fault);
}

int
xe_sim_fault_take(const char *path)
{
    Fault *fault = g_hash_table_lookup(faults, path);
    int error;

    if (fault == NULL)
        return 0;
    error = fault->error;
    if (--fault->count == 0)
        g_hash_table_remove(faults, path);
    return error;
}

void
xe_sim_latency_set(const char *path, guint ms)
{
    if (ms == 0)
        g_hash_table_remove(latencies, path);
    else
        g_hash_table_replace(latencies, g_strdup(path), GUINT_TO_POINTER(ms));
}

guint
xe_sim_latency_get(const char *path)
{
    return GPOINTER_TO_UINT(g_hash_table_lookup(latencies, path));
}

void
xe_sim_audit(const char *path, const char *buf, gsize len, int result)
{
    g_string_append_printf(audit_log, "%" G_GUINT64_FORMAT " %s ", ++audit_seq, path);
    for (gsize i = 0; i < len && i < 256; i++) {
        guchar c = (guchar)buf[i];
        if (c == '\n')
            g_string_append(audit_log, "\\n");
        else if (c == ' ')
            g_string_append(audit_log, "\\x20");
        else if (c < 0x20 || c >= 0x7f || c == '\\')
            g_string_append_printf(audit_log, "\\x%02x", c);
        else
            g_string_append_c(audit_log, (char)c);
    }
    if (len == 0)
        g_string_append(audit_log, "\"\"");
    g_string_append_printf(audit_log, " %s\n", result == 0 ? "ok" : xe_sim_errno_name(-result));
}

void
xe_sim_audit_note(const char *format, ...)
{
    va_list args;

    g_string_append_printf(audit_log, "%" G_GUINT64_FORMAT " ", ++audit_seq);
    va_start(args, format);
    g_string_append_vprintf(audit_log, format, args);
    va_end(args);
    g_string_append_c(audit_log, '\n');
}

void
xe_sim_audit_show(GString *out)
{
    g_string_append_len(out, audit_log->str, (gssize)audit_log->len);
}

void
xe_sim_audit_clear(void)
{
    g_string_truncate(audit_log, 0);
    audit_seq = 0;
}

const char *
xe_sim_errno_name(int error)
{
    static char buf[32];
    const char *name = xe_errno_name(error);

    if (!g_str_equal(name, "E?"))
        return name;
    g_snprintf(buf, sizeof(buf), "E%d", error);
    return buf;
}

int
xe_sim_errno_parse(const char *text)
{
    return xe_errno_from_name(text);
}

char *
xe_sim_strip(const char *buf, gsize len)
{
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    return g_strndup(buf, len);
}

int
xe_sim_parse_u64(const char *buf, gsize len, guint base, guint64 max, guint64 *out)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    const char *p = text;
    guint64 value = 0;

    if (strlen(text) != (len > 0 && buf[len - 1] == '\n' ? len - 1 : len))
        return -EINVAL; /* embedded NUL */
    if (*p == '+')
        p++;
    if (base == 0) {
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && g_ascii_isxdigit(p[2])) {
            base = 16;
            p += 2;
        } else if (p[0] == '0' && p[1] != '\0') {
            base = 8;
            p++;
        } else {
            base = 10;
        }
    }
    if (*p == '\0')
        return -EINVAL;
    for (; *p != '\0'; p++) {
        int d = g_ascii_isdigit(*p)    ? *p - '0'
                : g_ascii_isxdigit(*p) ? g_ascii_tolower(*p) - 'a' + 10
                                       : 99;
        if (d >= (int)base)
            return -EINVAL;
        if (value > (G_MAXUINT64 - (guint64)d) / base)
            return -ERANGE;
        value = value * base + (guint64)d;
    }
    if (value > max)
        return -ERANGE;
    *out = value;
    return 0;
}

int
xe_sim_parse_bool(const char *buf, gsize len, gboolean *out)
{
    g_autofree char *text = xe_sim_strip(buf, len);

    switch (text[0]) {
    case '1':
    case 'y':
    case 'Y':
    case 't':
    case 'T':
        *out = TRUE;
        return 0;
    case '0':
    case 'n':
    case 'N':
    case 'f':
    case 'F':
        *out = FALSE;
        return 0;
    case 'o':
    case 'O':
        if (g_ascii_strcasecmp(text, "on") == 0) {
            *out = TRUE;
            return 0;
        }
        if (g_ascii_strcasecmp(text, "off") == 0) {
            *out = FALSE;
            return 0;
        }
        break;
    }
    return -EINVAL;
}

/* FUSE operations */

static void *
sim_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* Every access reaches us: sysfs content is computed on each read. */
    cfg->direct_io = 1;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->use_ino = 0;
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    return NULL;
}

static SimNode *
lookup_locked(const char *path, int *error)
{
    SimNode *node = xe_sim_lookup(path);

    *error = node == NULL ? -ENOENT : 0;
    return node;
}

static int
sim_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    SimNode *node;
    int error;

    memset(st, 0, sizeof(*st));
    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL) {
        switch (node->type) {
        case SIM_NODE_DIR:
            st->st_mode = S_IFDIR | node->mode;
            st->st_nlink = 2;
            break;
        case SIM_NODE_FILE:
            st->st_mode = S_IFREG | node->mode;
            st->st_nlink = 1;
            st->st_size = SYSFS_FILE_SIZE;
            break;
        case SIM_NODE_LINK:
            st->st_mode = S_IFLNK | 0777;
            st->st_nlink = 1;
            st->st_size = (off_t)strlen(node->target);
            break;
        }
        st->st_uid = node->uid;
        st->st_gid = node->gid;
    }
    xe_sim_unlock();
    return error;
}

/* chmod(2) and chown(2): root only (the daemon); the owner and mode are kept. -1 leaves an
 * owner as it is, a NULL @mode the mode. */
static int
set_owner_mode(const char *path, const mode_t *mode, uid_t uid, gid_t gid)
{
    SimNode *node;
    int error;

    if (fuse_get_context()->uid != 0)
        return -EPERM;
    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && mode != NULL)
        node->mode = *mode & 07777;
    if (node != NULL && uid != (uid_t)-1)
        node->uid = uid;
    if (node != NULL && gid != (gid_t)-1)
        node->gid = gid;
    xe_sim_unlock();
    return error;
}

static int
sim_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return set_owner_mode(path, &mode, (uid_t)-1, (gid_t)-1);
}

static int
sim_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    return set_owner_mode(path, NULL, uid, gid);
}

/* The kernel's DAC for a device node: owner, then group, then others (root passes). */
static gboolean
device_allows(const SimNode *node, int acc)
{
    const struct fuse_context *ctx = fuse_get_context();
    mode_t bits = ctx->uid == node->uid   ? (node->mode >> 6) & 7
                  : ctx->gid == node->gid ? (node->mode >> 3) & 7
                                          : node->mode & 7;

    if (ctx->uid == 0)
        return TRUE;
    if ((acc == O_RDONLY || acc == O_RDWR) && !(bits & 4))
        return FALSE;
    return !((acc == O_WRONLY || acc == O_RDWR) && !(bits & 2));
}

static int
sim_readlink(const char *path, char *buf, size_t size)
{
    SimNode *node;
    int error;

    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && node->type != SIM_NODE_LINK)
        error = -EINVAL;
    if (error == 0)
        g_strlcpy(buf, node->target, size);
    xe_sim_unlock();
    return error;
}

static int
sim_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    SimNode *node;
    int error;

    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && node->type != SIM_NODE_DIR)
        error = -ENOTDIR;
    if (error == 0) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        for (guint i = 0; i < node->children->len; i++)
            filler(buf, ((SimNode *)node->children->pdata[i])->name, NULL, 0, 0);
    }
    xe_sim_unlock();
    return error;
}

static int
sim_open(const char *path, struct fuse_file_info *fi)
{
    SimNode *node;
    int error;
    int token = 0;
    int acc = fi->flags & O_ACCMODE;

    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && node->type == SIM_NODE_DIR)
        error = -EISDIR;
    else if (node != NULL && node->device && !device_allows(node, acc))
        error = -EACCES;
    else if (node != NULL && node->open != NULL)
        token = node->open(node, fi->flags); /* a file with a lifetime decides itself */
    /* kernfs: opening for an access the attribute has no method for is EACCES, even for root. */
    else if (node != NULL && (acc == O_RDONLY || acc == O_RDWR) && node->show == NULL &&
             node->read == NULL)
        error = -EACCES;
    else if (node != NULL && (acc == O_WRONLY || acc == O_RDWR) && node->store == NULL)
        error = -EACCES;
    if (token < 0)
        error = token;
    if (error == 0) {
        fi->direct_io = 1;
        fi->fh = 0;
        if (node->open != NULL) {
            Holder *holder = g_new0(Holder, 1);

            holder->release = node->release;
            holder->obj = node->obj;
            holder->token = token;
            fi->fh = (guint64)(guintptr)holder;
        }
    }
    xe_sim_unlock();
    return error;
}

/* The last descriptor of an open file went away (close, exit, or SIGKILL). */
static int
sim_release(const char *path, struct fuse_file_info *fi)
{
    Holder *holder = (Holder *)(guintptr)fi->fh;

    if (holder == NULL)
        return 0;
    xe_sim_lock();
    if (holder->release != NULL)
        holder->release(holder->obj, holder->token);
    xe_sim_broadcast();
    xe_sim_unlock();
    g_free(holder);
    return 0;
}

static int
sim_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    SimNode *node;
    int error;

    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && (node->type != SIM_NODE_FILE || node->store == NULL))
        error = -EACCES;
    xe_sim_unlock();
    return error;
}

static void
sleep_latency(const char *path)
{
    guint ms;

    xe_sim_lock();
    ms = xe_sim_latency_get(path + 1);
    xe_sim_unlock();
    if (ms > 0)
        g_usleep((gulong)ms * 1000); /* simulated kernel latency, lock not held */
}

static int
sim_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
    g_autoptr(GString) out = g_string_new(NULL);
    SimNode *node;
    int error;

    sleep_latency(path);
    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && node->type == SIM_NODE_FILE && node->read != NULL) {
        /* A binary file reads at @offset itself (and may drop the lock meanwhile). */
        gssize n = node->read(node, buf, size, (guint64)offset);

        xe_sim_unlock();
        return (int)n;
    }
    if (node != NULL && (node->type != SIM_NODE_FILE || node->show == NULL))
        error = -EACCES;
    /* An attribute is shown whole at every read and read from @offset. */
    if (error == 0)
        error = node->show(node, out);
    xe_sim_unlock();
    if (error < 0)
        return error;
    if ((gsize)offset >= out->len)
        return 0;
    size = MIN(size, out->len - (gsize)offset);
    memcpy(buf, out->str + offset, size);
    return (int)size;
}

static int
sim_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
    SimNode *node;
    int error;
    g_autofree char *rel = g_strdup(path + 1);

    sleep_latency(path);
    xe_sim_lock();
    node = lookup_locked(path, &error);
    if (node != NULL && (node->type != SIM_NODE_FILE || node->store == NULL))
        error = -EACCES;
    /* sysfs-like files take a page-ish store; a VFIO migration fd takes any size */
    else if (node != NULL && size > MAX_STORE &&
             !(g_str_has_prefix(rel, "sim/vfio/") && g_str_has_suffix(rel, "/data")))
        error = -EINVAL;
    if (error == 0) {
        int injected = xe_sim_fault_take(rel);

        current_write = rel;
        error = injected != 0 ? -injected : node->store(node, buf, size);
        current_write = NULL;
    }
    /* sysfs writes, and the VFIO migration state requests (QEMU's ioctls) */
    if (g_str_has_prefix(rel, "sys/") ||
        (g_str_has_prefix(rel, "sim/vfio/") && g_str_has_suffix(rel, "/state")))
        xe_sim_audit(rel, buf, size, error);
    xe_sim_unlock();
    return error < 0 ? error : (int)size;
}

static const struct fuse_operations sim_ops = {
    .init = sim_init,
    .getattr = sim_getattr,
    .chmod = sim_chmod,
    .chown = sim_chown,
    .readlink = sim_readlink,
    .readdir = sim_readdir,
    .open = sim_open,
    .release = sim_release,
    .truncate = sim_truncate,
    .read = sim_read,
    .write = sim_write,
};

int
xe_sim_fuse_main(const char *mountpoint, gboolean debug, int ready_fd)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    struct fuse_args args;
    struct fuse *fuse;
    struct fuse_loop_config *loop;
    int ret;

    g_ptr_array_add(argv, (char *)"xe-sim");
    g_ptr_array_add(argv, (char *)"-o");
    g_ptr_array_add(argv, (char *)"fsname=xe-sim,subtype=xe-sim,allow_other");
    if (debug)
        g_ptr_array_add(argv, (char *)"-d");
    args = (struct fuse_args)FUSE_ARGS_INIT((int)argv->len, (char **)argv->pdata);
    fuse = fuse_new(&args, &sim_ops, sizeof(sim_ops), NULL);
    fuse_opt_free_args(&args);
    if (fuse == NULL)
        return 1;
    if (fuse_mount(fuse, mountpoint) != 0) {
        fuse_destroy(fuse);
        return 1;
    }
    if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
        fuse_unmount(fuse);
        fuse_destroy(fuse);
        return 1;
    }
    if (ready_fd >= 0) {
        (void)!write(ready_fd, "READY\n", 6);
        close(ready_fd);
    }
    loop = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(loop, 32);
    ret = fuse_loop_mt(fuse, loop);
    fuse_loop_cfg_destroy(loop);
    fuse_remove_signal_handlers(fuse_get_session(fuse));
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    return ret == 0 ? 0 : 1;
}
