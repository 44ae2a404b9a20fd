/* xe-agent.c: the host agent: snapshot, operations, reservations, warm pool,
 * layout convergence and reconciliation after a restart.
 *
 * Threads: the main thread owns the snapshot, the reservation table, the
 * pool map and the claims; workers (GTask threads) run sysfs under host_lock,
 * one at a time. state_lock guards what the host guard reads from a worker.
 *
 * The warm pool and convergence: a convergence (a worker holding host_lock
 * throughout) provisions pool VFs that the main thread's pool map may still
 * show as they were before a reload. So a warm pick claims its VF (from then
 * on the convergence's guard leaves it alone) and reads it back under
 * host_lock, after any convergence under way, before it is handed out; a VF
 * that does not hold what was asked for is never handed out.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-agent"

#include "xe-agent.h"

#include <string.h>

#include "xe-error.h"
#include "xe-histogram.h"
#include "xe-hooks.h"
#include "xe-log.h"
#include "xe-reservations.h"

#define TAG(fn) ((gpointer)(guintptr)(fn))

struct _XeAgent {
    GObject parent_instance;

    XeHost *host;
    XeConfig *config;
    XeHooks *hooks;
    XeReservations *reservations; /* writes: main thread under state_lock */
    GHashTable *claimed;          /* VF -> TRUE: being prepared for a reservation */
    GHashTable *pool;             /* VF -> profile name: kept ready */
    GHashTable *busy;             /* VF -> count of operations under way */
    GHashTable *releasing;        /* reservation ids being released */
    GMutex host_lock;
    GMutex state_lock;
    GMutex persist_lock;
    guint64 persist_seq;   /* main thread: last snapshot handed to a writer */
    guint64 persisted_seq; /* under persist_lock: last snapshot written */
    GPtrArray *unwritten;  /* Released: releases whose write failed, done once one succeeds */
    guint64 written_seq;   /* main thread: last snapshot known written */
    guint retry_source;    /* writes the table again after a failed write */
    guint retry_ms;

    XeHistogram reserve_seconds; /* main thread: from a reservation's request to its write */

    GPtrArray *pfs;        /* XePfInfo */
    GPtrArray *vfs;        /* XeAgentVf */
    GStrv drift;           /* all of the below */
    GStrv reconcile_drift; /* found at start; kept until a reservation goes */
    GStrv converge_drift;  /* what the last convergence could not fix */
    GPtrArray *pool_drift; /* pool VFs found not holding their profile since */
    gboolean converging;
    gboolean converge_again;
    XeConfig *pending_config; /* a reload that arrived while converging */
    GTask *pending_reload;
};

enum { SIGNAL_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST];

G_DEFINE_TYPE(XeAgent, xe_agent, G_TYPE_OBJECT)

/* A release whose write failed: done once a later write succeeds (the tables written since
 * leave the reservation out). */
typedef struct {
    char *id;
    char *vf;
    char *pf;
    char *profile;
    char *caller;
    guint64 seq; /* the write that failed */
} Released;

static void released_free(Released *x);

/* The VF a worker job may touch although it is claimed (its own claim). */
static __thread const char *worker_claim;

static void
agent_vf_free(XeAgentVf *vf)
{
    g_free(vf->info.bdf);
    g_free(vf->info.pf_bdf);
    g_free(vf->info.driver);
    g_free(vf->info.override);
    g_free(vf->profile);
    g_free(vf->profile_name);
    g_free(vf->reservation);
    g_free(vf->health);
    g_free(vf);
}

static void
xe_agent_finalize(GObject *object)
{
    XeAgent *self = XE_AGENT(object);

    g_clear_object(&self->host);
    xe_config_free(self->config);
    xe_hooks_free(self->hooks);
    xe_reservations_free(self->reservations);
    g_hash_table_unref(self->claimed);
    g_hash_table_unref(self->pool);
    g_hash_table_unref(self->busy);
    g_hash_table_unref(self->releasing);
    g_ptr_array_unref(self->unwritten);
    g_clear_handle_id(&self->retry_source, g_source_remove);
    g_clear_pointer(&self->pfs, g_ptr_array_unref);
    g_clear_pointer(&self->vfs, g_ptr_array_unref);
    g_strfreev(self->drift);
    g_strfreev(self->reconcile_drift);
    g_strfreev(self->converge_drift);
    g_ptr_array_unref(self->pool_drift);
    xe_config_free(self->pending_config);
    g_clear_object(&self->pending_reload);
    g_mutex_clear(&self->host_lock);
    g_mutex_clear(&self->state_lock);
    g_mutex_clear(&self->persist_lock);
    G_OBJECT_CLASS(xe_agent_parent_class)->finalize(object);
}

static void
xe_agent_init(XeAgent *self)
{
    g_mutex_init(&self->host_lock);
    g_mutex_init(&self->state_lock);
    g_mutex_init(&self->persist_lock);
    self->claimed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->pool = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    self->busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->releasing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    self->unwritten = g_ptr_array_new_with_free_func((GDestroyNotify)released_free);
    self->pool_drift = g_ptr_array_new_with_free_func(g_free);
    {
        static const double bounds[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30 };

        xe_histogram_init(&self->reserve_seconds, bounds, G_N_ELEMENTS(bounds));
    }
    self->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)xe_pf_info_free);
    self->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)agent_vf_free);
    self->drift = g_new0(char *, 1);
}

static void
xe_agent_class_init(XeAgentClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = xe_agent_finalize;
    /* XeAgent::changed: the snapshot, reservations or drift changed. */
    signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

/* the guard: asked by XeHost (in a worker) before any change to a VF */

static gboolean
agent_guard(XeHost *host, const char *vf_bdf, XeHostOp op, char **reason, gpointer user_data)
{
    XeAgent *self = user_data;
    const XeReservation *r;
    gboolean ok = TRUE;

    if (g_strcmp0(worker_claim, vf_bdf) == 0)
        return TRUE;
    g_mutex_lock(&self->state_lock);
    r = xe_reservations_lookup_vf(self->reservations, vf_bdf);
    if (r != NULL) {
        static const char *const hints[] = {
            [XE_RESERVATION_OWNER_CALLER] = "release it first",
            [XE_RESERVATION_OWNER_VM] = "remove the VM first",
            [XE_RESERVATION_OWNER_INCOMING] = "it is free once the migration finishes or is "
                                              "aborted",
            [XE_RESERVATION_OWNER_DOMAIN] = "it is free once the libvirt domain stops or "
                                            "migrates away (should its release hook never "
                                            "run: xe-migratectl release ID)",
        };
        g_autofree char *owner = xe_reservation_owner_display(r);

        *reason = g_strdup_printf("it is reserved (reservation %s, by %s); %s", r->id, owner,
                                  hints[r->kind]);
        ok = FALSE;
    } else if (g_hash_table_contains(self->claimed, vf_bdf)) {
        *reason = g_strdup("it is being prepared for a reservation");
        ok = FALSE;
    }
    g_mutex_unlock(&self->state_lock);
    return ok;
}

XeAgent *
xe_agent_new(const char *sysfs_root, XeConfig *config, GError **error)
{
    g_autoptr(XeAgent) self = g_object_new(XE_TYPE_AGENT, NULL);

    self->config = config;
    self->host = xe_host_new(sysfs_root);
    self->hooks = xe_hooks_new(config->hooks_dir, config->hook_timeout_ms);
    self->reservations = xe_reservations_new(config->state_dir);
    if (!xe_reservations_load(self->reservations, error))
        return NULL;
    xe_host_set_guard(self->host, agent_guard, self, NULL);
    return g_steal_pointer(&self);
}

XeHost *
xe_agent_get_host(XeAgent *self)
{
    return self->host;
}

const XeConfig *
xe_agent_get_config(XeAgent *self)
{
    return self->config;
}

GPtrArray *
xe_agent_get_pfs(XeAgent *self)
{
    return self->pfs;
}

GPtrArray *
xe_agent_get_vfs(XeAgent *self)
{
    return self->vfs;
}

GStrv
xe_agent_get_drift(XeAgent *self)
{
    return self->drift;
}

XeProfile *
xe_agent_resolve_profile(XeAgent *self, const char *text, char **name, GError **error)
{
    const XeProfile *named = xe_config_get_profile(self->config, text);

    if (name != NULL)
        *name = named != NULL ? g_strdup(text) : NULL;
    if (named != NULL)
        return g_memdup2(named, sizeof(*named));
    if (strchr(text, '=') == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "no profile named '%s' in the configuration (or give key=value pairs)", text);
        return NULL;
    }
    return xe_profile_parse(text, error);
}

/* Whether @have provides every member @want sets, with the same value. */
static gboolean
profile_satisfies(const XeProfile *have, const XeProfile *want)
{
    g_autoptr(XeProfile) subset = g_memdup2(have, sizeof(*have));
    g_autoptr(XeProfile) asked = g_memdup2(want, sizeof(*want));
    g_autofree char *a = NULL, *b = NULL;

    /* Identity (device, revision) is what CHECK compares; provisioning is what a pool
     * VF must hold. A profile read from a source VF carries both. */
    asked->set = want->set & ~XE_PROFILE_IDENTITY;
    subset->set = asked->set & have->set;
    if (subset->set != asked->set)
        return FALSE;
    a = xe_profile_to_string(subset);
    b = xe_profile_to_string(asked);
    return g_str_equal(a, b);
}

/* Whether the profile text of a snapshot VF provides @want. */
static gboolean
profile_text_satisfies(const char *text, const XeProfile *want)
{
    g_autoptr(XeProfile) have = text != NULL ? xe_profile_parse(text, NULL) : NULL;

    return have != NULL && profile_satisfies(have, want);
}

/* snapshots: taken in a worker, installed on the main thread */

typedef struct {
    GPtrArray *pfs; /* XePfInfo */
    GPtrArray *vfs; /* XeAgentVf with info, profile and health only */
} Snapshot;

static void
snapshot_free(Snapshot *s)
{
    if (s == NULL)
        return;
    g_ptr_array_unref(s->pfs);
    g_ptr_array_unref(s->vfs);
    g_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Snapshot, snapshot_free)

static Snapshot *
snapshot_take(XeHost *host)
{
    Snapshot *s = g_new0(Snapshot, 1);
    g_autoptr(GError) error = NULL;

    s->pfs = xe_host_list_pfs(host, &error);
    if (s->pfs == NULL) {
        g_warning("listing PFs: %s", error->message);
        s->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)xe_pf_info_free);
    }
    s->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)agent_vf_free);
    for (guint i = 0; i < s->pfs->len; i++) {
        XePfInfo *pf = s->pfs->pdata[i];
        g_autoptr(GPtrArray) vfs = NULL;

        if (pf->unusable_reason != NULL)
            continue;
        vfs = xe_host_list_vfs(host, pf->bdf, NULL);
        for (guint v = 0; vfs != NULL && v < vfs->len; v++) {
            XeVfInfo *info = vfs->pdata[v];
            XeAgentVf *vf = g_new0(XeAgentVf, 1);
            g_autoptr(GError) perr = NULL;
            g_autoptr(XeProfile) profile = xe_host_read_profile(host, info->bdf, &perr);

            vf->info = *info;
            memset(info, 0, sizeof(*info)); /* moved */
            if (profile != NULL)
                vf->profile = xe_profile_to_string(profile);
            vf->health = profile == NULL ? g_strdup_printf("profile unreadable: %s", perr->message)
                         : vf->info.driver == NULL ? g_strdup("unbound")
                                                   : g_strdup("ok");
            g_ptr_array_add(s->vfs, vf);
        }
    }
    return s;
}

/* Derives each VF's reservation, pool and in-use view from the main-thread state. */
static void
agent_derive(XeAgent *self)
{
    for (guint i = 0; i < self->vfs->len; i++) {
        XeAgentVf *vf = self->vfs->pdata[i];
        const XeReservation *r = xe_reservations_lookup_vf(self->reservations, vf->info.bdf);
        const char *pool = g_hash_table_lookup(self->pool, vf->info.bdf);

        g_free(vf->reservation);
        vf->reservation = g_strdup(r != NULL ? r->id : "");
        g_free(vf->profile_name);
        vf->profile_name = g_strdup(pool != NULL ? pool : r != NULL ? r->profile : "");
        vf->in_pool = pool != NULL && r == NULL;
        vf->in_use = r != NULL || g_hash_table_contains(self->claimed, vf->info.bdf) ||
                     g_hash_table_contains(self->busy, vf->info.bdf);
    }
}

static void agent_check_pool(XeAgent *self);

/* Installs @snap (taken) and derives the view. */
static void
agent_install(XeAgent *self, Snapshot *snap)
{
    g_ptr_array_unref(self->pfs);
    g_ptr_array_unref(self->vfs);
    self->pfs = g_steal_pointer(&snap->pfs);
    self->vfs = g_steal_pointer(&snap->vfs);
    g_free(snap);
    agent_check_pool(self);
    agent_derive(self);
}

/* Drift is what reconciliation found at start, what the last convergence could not fix,
 * and the pool VFs found since not holding what they are kept for. */
static void
agent_update_drift(XeAgent *self)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new();

    for (guint i = 0; self->reconcile_drift != NULL && self->reconcile_drift[i] != NULL; i++)
        g_ptr_array_add(all, self->reconcile_drift[i]);
    for (guint i = 0; self->converge_drift != NULL && self->converge_drift[i] != NULL; i++)
        g_ptr_array_add(all, self->converge_drift[i]);
    for (guint i = 0; i < self->pool_drift->len; i++)
        g_ptr_array_add(all, self->pool_drift->pdata[i]);
    g_ptr_array_add(all, NULL);
    g_strfreev(self->drift);
    self->drift = g_strdupv((char **)all->pdata);
}

static void
agent_changed(XeAgent *self)
{
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

/* Re-derives the VF view after main-thread state changed (no I/O). */
static void
agent_rederive(XeAgent *self)
{
    agent_derive(self);
    agent_changed(self);
}

static XeAgentVf *
agent_find_vf(XeAgent *self, const char *bdf)
{
    for (guint i = 0; i < self->vfs->len; i++) {
        XeAgentVf *vf = self->vfs->pdata[i];
        if (g_str_equal(vf->info.bdf, bdf))
            return vf;
    }
    return NULL;
}

/* persistence */

typedef struct {
    char *state_dir;
    char *json;
    guint64 seq;
    GAsyncReadyCallback callback; /* the writer's caller, after persist_done() */
    gpointer user_data;
} Persist;

static void
persist_free(Persist *p)
{
    g_free(p->state_dir);
    g_free(p->json);
    g_free(p);
}

static void
persist_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeAgent *self = source;
    Persist *p = data;
    GError *error = NULL;
    gboolean ok = TRUE;

    g_mutex_lock(&self->persist_lock);
    /* Writers may finish out of order: only a newer table replaces the file. */
    if (p->seq > self->persisted_seq) {
        ok = xe_reservations_write_json(p->state_dir, p->json, &error);
        if (ok)
            self->persisted_seq = p->seq;
    }
    g_mutex_unlock(&self->persist_lock);
    if (ok)
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static void agent_persist_async(XeAgent *self, GAsyncReadyCallback callback, gpointer user_data);
static void agent_released_on_disk(XeAgent *self, guint64 seq);

static void
retry_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        g_debug("writing the reservation table again: %s", error->message);
}

static gboolean
retry_write(gpointer user_data)
{
    XeAgent *self = user_data;

    self->retry_source = 0;
    agent_persist_async(self, retry_written, NULL);
    return G_SOURCE_REMOVE;
}

/* Every write ends here first: after a failure, the table (memory is the truth) is written
 * again, with backoff, until a write succeeds; releases that waited for one are done then. */
static void
persist_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    Persist *p = g_task_get_task_data(G_TASK(result));

    if (g_task_had_error(G_TASK(result))) {
        if (self->retry_source == 0) {
            self->retry_ms = CLAMP(self->retry_ms * 2, 250, 2000);
            self->retry_source = g_timeout_add(self->retry_ms, retry_write, self);
        }
    } else {
        self->retry_ms = 0;
        agent_released_on_disk(self, p->seq);
    }
    p->callback(source, result, p->user_data);
}

/* Writes the reservation table as it is now, off the main loop; in order with every other
 * write (a newer table is never replaced by an older one). */
static void
agent_persist_async(XeAgent *self, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, NULL, persist_done, NULL);
    Persist *p = g_new0(Persist, 1);

    p->state_dir = g_strdup(self->config->state_dir);
    p->json = xe_reservations_to_json(self->reservations);
    p->seq = ++self->persist_seq;
    p->callback = callback;
    p->user_data = user_data;
    g_task_set_task_data(task, p, (GDestroyNotify)persist_free);
    g_task_run_in_thread(task, persist_thread);
}

/* hooks */

static void
hook_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    /* Informative phases: failures are already logged by xe-hooks. */
    (void)xe_hooks_run_finish(user_data, result, NULL);
}

static void
agent_hook(XeAgent *self, const char *phase, const char *pf, const char *vf,
           const char *reservation, const char *profile, const char *owner)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) doc = NULL;
    const struct {
        const char *key, *value;
    } members[] = { { "phase", phase },     { "pf", pf },
                    { "vf", vf },           { "reservation", reservation },
                    { "profile", profile }, { "owner", owner } };

    json_builder_begin_object(b);
    for (gsize i = 0; i < G_N_ELEMENTS(members); i++) {
        if (members[i].value == NULL)
            continue;
        json_builder_set_member_name(b, members[i].key);
        json_builder_add_string_value(b, members[i].value);
    }
    json_builder_end_object(b);
    doc = json_builder_get_root(b);
    xe_hooks_run_async(self->hooks, phase, doc, NULL, hook_done, self->hooks);
}

/* operations */

typedef struct {
    XeAgentOp op;
    char *target;
    char *arg;
    guint count;
    char *caller;
    XeProfile *profile; /* resolved on the main thread */
    char *profile_name;
    char *claim; /* the VF the job may touch despite its claim */
    char *result;
    Snapshot *snap;
} Job;

static void
job_free(Job *job)
{
    g_free(job->target);
    g_free(job->arg);
    g_free(job->caller);
    xe_profile_free(job->profile);
    g_free(job->profile_name);
    g_free(job->claim);
    g_free(job->result);
    snapshot_free(job->snap);
    g_free(job);
}

static gboolean
job_execute(XeHost *host, Job *job, GError **error)
{
    switch (job->op) {
    case XE_AGENT_OP_ENABLE_VFS:
        return xe_host_enable_vfs(host, job->target, job->count, error);
    case XE_AGENT_OP_DISABLE_VFS:
        return xe_host_disable_vfs(host, job->target, error);
    case XE_AGENT_OP_BIND:
        return xe_host_bind_vf(host, job->target, job->arg, error);
    case XE_AGENT_OP_UNBIND:
        return xe_host_unbind_vf(host, job->target, error);
    case XE_AGENT_OP_APPLY_PROFILE:
        return xe_host_apply_profile(host, job->target, job->profile, error);
    case XE_AGENT_OP_RESET:
        return xe_host_reset_vf(host, job->target, error);
    case XE_AGENT_OP_PREPARE:
        return xe_host_bind_vf(host, job->target, XE_DRIVER_VFIO, error) &&
               xe_host_apply_profile(host, job->target, job->profile, error);
    case XE_AGENT_OP_MIGRATION_SIZE: {
        guint64 size;

        if (!xe_host_vf_migration_size(host, job->target, &size, error))
            return FALSE;
        job->result = g_strdup_printf("%" G_GUINT64_FORMAT, size);
        return TRUE;
    }
    case XE_AGENT_OP_READ_PROFILE:
    case XE_AGENT_OP_CHECK: {
        g_autoptr(XeProfile) have = xe_host_read_profile(host, job->target, error);
        g_autoptr(GError) why = NULL;

        if (have == NULL)
            return FALSE;
        if (job->op == XE_AGENT_OP_READ_PROFILE)
            job->result = xe_profile_to_string(have);
        else
            job->result = xe_profile_check_compatible(job->profile, have, &why)
                              ? g_strdup("")
                              : g_strdup(why->message);
        return TRUE;
    }
    }
    g_assert_not_reached();
}

static gboolean
op_changes_host(XeAgentOp op)
{
    return op != XE_AGENT_OP_READ_PROFILE && op != XE_AGENT_OP_CHECK &&
           op != XE_AGENT_OP_MIGRATION_SIZE;
}

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeAgent *self = source;
    Job *job = data;
    GError *error = NULL;
    gboolean ok;

    g_mutex_lock(&self->host_lock);
    worker_claim = job->claim;
    ok = job_execute(self->host, job, &error);
    if (op_changes_host(job->op))
        job->snap = snapshot_take(self->host);
    worker_claim = NULL;
    g_mutex_unlock(&self->host_lock);
    if (ok)
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

gboolean
xe_agent_query_sync(XeAgent *self, XeAgentOp op, const char *vf, char **out, GError **error)
{
    Job job = { .op = op, .target = (char *)vf };
    gboolean ok;

    g_return_val_if_fail(op == XE_AGENT_OP_READ_PROFILE || op == XE_AGENT_OP_MIGRATION_SIZE, FALSE);
    g_mutex_lock(&self->host_lock);
    ok = job_execute(self->host, &job, error);
    g_mutex_unlock(&self->host_lock);
    if (ok)
        *out = job.result;
    else
        g_free(job.result);
    return ok;
}

static void
busy_add(XeAgent *self, const char *vf)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->busy, vf));

    g_hash_table_replace(self->busy, g_strdup(vf), GUINT_TO_POINTER(n + 1));
}

static void
busy_remove(XeAgent *self, const char *vf)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->busy, vf));

    if (n <= 1)
        g_hash_table_remove(self->busy, vf);
    else
        g_hash_table_replace(self->busy, g_strdup(vf), GUINT_TO_POINTER(n - 1));
}

static void agent_converge(XeAgent *self);

static void
log_op(XeAgent *self, Job *job)
{
    const char *pf = NULL;
    XeAgentVf *vf = agent_find_vf(self, job->target);

    if (vf != NULL)
        pf = vf->info.pf_bdf;
    switch (job->op) {
    case XE_AGENT_OP_ENABLE_VFS:
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VFS_ENABLED, job->target, NULL, job->caller,
                     "%s: %u VFs enabled", job->target, job->count);
        break;
    case XE_AGENT_OP_DISABLE_VFS:
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VFS_ENABLED, job->target, NULL, job->caller,
                     "%s: VFs disabled", job->target);
        break;
    case XE_AGENT_OP_BIND:
    case XE_AGENT_OP_UNBIND:
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_BOUND, pf, job->target, job->caller,
                     "%s bound to %s", job->target, job->arg != NULL ? job->arg : "no driver");
        break;
    case XE_AGENT_OP_APPLY_PROFILE:
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_PROVISIONED, pf, job->target, job->caller,
                     "%s provisioned: %s", job->target, job->arg);
        break;
    case XE_AGENT_OP_RESET:
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_RESET, pf, job->target, job->caller,
                     "%s reset (FLR)", job->target);
        agent_hook(self, "vf-reset", pf, job->target, NULL, NULL, job->caller);
        break;
    default:
        break;
    }
}

static void
run_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    g_autoptr(GTask) outer = user_data;
    Job *job = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;
    gboolean ok = g_task_propagate_boolean(G_TASK(result), &error);

    if (job->op != XE_AGENT_OP_ENABLE_VFS && job->op != XE_AGENT_OP_DISABLE_VFS)
        busy_remove(self, job->target);
    if (job->snap != NULL) {
        agent_install(self, g_steal_pointer(&job->snap));
        agent_changed(self);
    }
    if (!ok) {
        g_task_return_error(outer, error);
        return;
    }
    log_op(self, job);
    /* VF counts changed: the pool may need (re)filling. */
    if (job->op == XE_AGENT_OP_ENABLE_VFS || job->op == XE_AGENT_OP_DISABLE_VFS)
        agent_converge(self);
    g_task_return_pointer(outer, g_steal_pointer(&job->result), g_free);
}

/* A warm-pool VF is the layout's: provisioning it by hand is refused (the pool would hand
 * it out with values other than its profile's). */
static gboolean
agent_may_provision(XeAgent *self, const char *vf_bdf, GError **error)
{
    const char *pool = g_hash_table_lookup(self->pool, vf_bdf);
    XeAgentVf *vf = agent_find_vf(self, vf_bdf);
    const char *pf = vf != NULL ? vf->info.pf_bdf : "its PF";

    if (pool == NULL || xe_reservations_lookup_vf(self->reservations, vf_bdf) != NULL)
        return TRUE;
    g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                "%s is in the warm pool of profile '%s' (the layout of %s keeps it ready): to "
                "take it out, reserve it (Reserve '%s'), or lower pool=%s:N in [layout %s] and "
                "reload",
                vf_bdf, pool, pf, pool, pool, pf);
    return FALSE;
}

void
xe_agent_run_async(XeAgent *self, XeAgentOp op, const char *target, const char *arg, guint count,
                   const char *caller, GCancellable *cancellable, GAsyncReadyCallback callback,
                   gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(GTask) inner = g_task_new(self, cancellable, run_done, outer);
    Job *job = g_new0(Job, 1);
    GError *error = NULL;

    g_task_set_source_tag(outer, TAG(xe_agent_run_async));
    job->op = op;
    job->target = g_strdup(target);
    job->arg = g_strdup(arg);
    job->count = count;
    job->caller = g_strdup(caller);
    if ((op == XE_AGENT_OP_APPLY_PROFILE || op == XE_AGENT_OP_PREPARE) &&
        !agent_may_provision(self, target, &error)) {
        g_task_return_error(outer, error);
        g_object_unref(outer);
        job_free(job);
        return;
    }
    if (op == XE_AGENT_OP_APPLY_PROFILE || op == XE_AGENT_OP_CHECK || op == XE_AGENT_OP_PREPARE) {
        job->profile = xe_agent_resolve_profile(self, arg, &job->profile_name, &error);
        if (job->profile == NULL) {
            g_task_return_error(outer, error);
            g_object_unref(outer);
            job_free(job);
            return;
        }
    }
    if (op != XE_AGENT_OP_ENABLE_VFS && op != XE_AGENT_OP_DISABLE_VFS)
        busy_add(self, target);
    g_task_set_task_data(inner, job, (GDestroyNotify)job_free);
    g_task_run_in_thread(inner, job_thread);
}

gboolean
xe_agent_run_finish(XeAgent *self, GAsyncResult *result, char **out, GError **error)
{
    GError *local = NULL;
    char *value = g_task_propagate_pointer(G_TASK(result), &local);

    if (local != NULL) {
        g_propagate_error(error, local);
        return FALSE;
    }
    if (out != NULL)
        *out = value;
    else
        g_free(value);
    return TRUE;
}

/* layout convergence (a worker job) */

/* Reserved or claimed VFs are left alone through the host guard, which reads
 * the live tables: no copy can go stale while the job runs. */
typedef struct {
    GPtrArray *layouts;   /* borrowed from the config: the config outlives the job */
    GHashTable *profiles; /* borrowed too */
    GHashTable *pool;     /* out: VF -> profile name */
    GPtrArray *drift;     /* out */
    Snapshot *snap;       /* out */
} Converge;

static void
converge_free(Converge *c)
{
    g_hash_table_unref(c->pool);
    g_clear_pointer(&c->drift, g_ptr_array_unref);
    snapshot_free(c->snap);
    g_free(c);
}

static void G_GNUC_PRINTF(2, 3) drift(Converge *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(c->drift, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void
converge_layout(XeHost *host, Converge *c, const XeLayout *layout)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XePfInfo) pf = xe_host_get_pf(host, layout->pf_bdf, &error);
    g_autoptr(GPtrArray) vfs = NULL;
    guint next = 0;

    if (pf == NULL) {
        drift(c, "layout %s: %s", layout->pf_bdf, error->message);
        return;
    }
    if (pf->unusable_reason != NULL) {
        drift(c, "layout %s: %s", layout->pf_bdf, pf->unusable_reason);
        return;
    }
    /* SR-IOV cannot resize: disable (the guard refuses if any VF is held), then enable. */
    if (pf->num_vfs != layout->vfs &&
        ((pf->num_vfs > 0 && !xe_host_disable_vfs(host, layout->pf_bdf, &error)) ||
         (layout->vfs > 0 && !xe_host_enable_vfs(host, layout->pf_bdf, layout->vfs, &error)))) {
        drift(c, "layout %s: %u VFs enabled, the layout wants %u: %s", layout->pf_bdf, pf->num_vfs,
              layout->vfs, error->message);
        g_clear_error(&error);
    }
    vfs = xe_host_list_vfs(host, layout->pf_bdf, &error);
    if (vfs == NULL) {
        drift(c, "layout %s: %s", layout->pf_bdf, error->message);
        return;
    }
    for (guint e = 0; e < layout->pool->len; e++) {
        const XePoolEntry *entry = &g_array_index(layout->pool, XePoolEntry, e);
        const XeProfile *profile = g_hash_table_lookup(c->profiles, entry->profile);
        guint ready = 0;

        while (ready < entry->count && next < vfs->len) {
            XeVfInfo *vf = vfs->pdata[next++];

            if (!xe_host_check_guard(host, vf->bdf, XE_HOST_OP_BIND, NULL))
                continue; /* reserved, or claimed by a reservation */
            if (!xe_host_bind_vf(host, vf->bdf, XE_DRIVER_VFIO, &error) ||
                !xe_host_apply_profile(host, vf->bdf, profile, &error)) {
                drift(c, "pool %s on %s: %s", entry->profile, layout->pf_bdf, error->message);
                g_clear_error(&error);
                continue;
            }
            g_hash_table_insert(c->pool, g_strdup(vf->bdf), g_strdup(entry->profile));
            ready++;
        }
        if (ready < entry->count)
            drift(c, "pool %s on %s: %u of %u VFs ready (no more unreserved VFs)", entry->profile,
                  layout->pf_bdf, ready, entry->count);
    }
}

static void
converge_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeAgent *self = source;
    Converge *c = data;

    g_mutex_lock(&self->host_lock);
    for (guint i = 0; i < c->layouts->len; i++)
        converge_layout(self->host, c, c->layouts->pdata[i]);
    c->snap = snapshot_take(self->host);
    g_mutex_unlock(&self->host_lock);
    g_task_return_boolean(task, TRUE);
}

static void agent_set_config(XeAgent *self, XeConfig *config);
static void agent_converge_full(XeAgent *self, GTask *outer);

static void
converge_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    Converge *c = g_task_get_task_data(G_TASK(result));
    g_autoptr(GTask) outer = user_data;

    /* Reserved meanwhile? Then it is not in the pool any more. */
    g_hash_table_remove_all(self->pool);
    {
        GHashTableIter iter;
        gpointer vf, name;

        g_hash_table_iter_init(&iter, c->pool);
        while (g_hash_table_iter_next(&iter, &vf, &name))
            if (xe_reservations_lookup_vf(self->reservations, vf) == NULL)
                g_hash_table_insert(self->pool, g_strdup(vf), g_strdup(name));
    }
    for (guint i = 0; i < c->drift->len; i++)
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_DRIFT, NULL, NULL, NULL, "%s",
                     (char *)c->drift->pdata[i]);
    g_ptr_array_add(c->drift, NULL);
    g_strfreev(self->converge_drift);
    self->converge_drift = (GStrv)g_ptr_array_free(g_steal_pointer(&c->drift), FALSE);
    /* the pool was provisioned anew */
    g_ptr_array_set_size(self->pool_drift, 0);
    agent_update_drift(self);
    agent_install(self, g_steal_pointer(&c->snap));
    self->converging = FALSE;
    xe_log_event(G_LOG_LEVEL_INFO, XE_MESSAGE_LAYOUT_APPLIED, NULL, NULL, NULL,
                 "layout applied: %u VFs in the warm pool, %u drift items",
                 g_hash_table_size(self->pool), g_strv_length(self->drift));
    agent_changed(self);
    agent_hook(self, "layout-applied", NULL, NULL, NULL, NULL, NULL);
    if (outer != NULL)
        g_task_return_boolean(outer, TRUE);
    if (self->pending_config != NULL) {
        /* The jobs borrow the configuration: swap only now that none runs. */
        agent_set_config(self, g_steal_pointer(&self->pending_config));
        self->converge_again = FALSE;
        agent_converge_full(self, g_steal_pointer(&self->pending_reload));
    } else if (self->converge_again) {
        self->converge_again = FALSE;
        agent_converge(self);
    }
}

static void
agent_set_config(XeAgent *self, XeConfig *config)
{
    xe_config_free(self->config);
    self->config = config;
    xe_hooks_free(self->hooks);
    self->hooks = xe_hooks_new(config->hooks_dir, config->hook_timeout_ms);
}

static void
agent_converge_full(XeAgent *self, GTask *outer)
{
    GTask *task;
    Converge *c;

    if (self->converging) {
        self->converge_again = TRUE;
        if (outer != NULL) {
            g_task_return_boolean(outer, TRUE);
            g_object_unref(outer);
        }
        return;
    }
    self->converging = TRUE;
    task = g_task_new(self, NULL, converge_done, outer);
    c = g_new0(Converge, 1);
    c->layouts = self->config->layouts;
    c->profiles = self->config->profiles;
    c->pool = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    c->drift = g_ptr_array_new_with_free_func(g_free);
    g_task_set_task_data(task, c, (GDestroyNotify)converge_free);
    g_task_run_in_thread(task, converge_thread);
    g_object_unref(task);
}

static void
agent_converge(XeAgent *self)
{
    agent_converge_full(self, NULL);
}

/* start: snapshot, reconcile reservations, converge */

static void
start_snapshot_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeAgent *self = source;
    Snapshot *snap;

    g_mutex_lock(&self->host_lock);
    snap = snapshot_take(self->host);
    g_mutex_unlock(&self->host_lock);
    g_task_return_pointer(task, snap, (GDestroyNotify)snapshot_free);
}

static void
start_snapshot_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    GTask *outer = user_data;
    Snapshot *snap = g_task_propagate_pointer(G_TASK(result), NULL);
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *list = xe_reservations_list(self->reservations);

    agent_install(self, snap);
    /* Reservations from before the restart must match what sysfs shows; a mismatch is
     * reported, and the reservation kept, never guessed away. */
    for (guint i = 0; i < list->len; i++) {
        XeReservation *r = list->pdata[i];
        XeAgentVf *vf = agent_find_vf(self, r->vf_bdf);

        if (vf == NULL)
            g_ptr_array_add(found,
                            g_strdup_printf("reservation %s: VF %s is not enabled any more (kept; "
                                            "release it once the VF is accounted for)",
                                            r->id, r->vf_bdf));
        else if (g_strcmp0(vf->info.driver, XE_DRIVER_VFIO) != 0)
            g_ptr_array_add(
                found, g_strdup_printf("reservation %s: VF %s is bound to %s, not xe-vfio-pci "
                                       "(kept; it changed while the daemon was not running?)",
                                       r->id, r->vf_bdf,
                                       vf->info.driver != NULL ? vf->info.driver : "no driver"));
    }
    g_ptr_array_add(found, NULL);
    g_strfreev(self->reconcile_drift);
    self->reconcile_drift = g_strdupv((char **)found->pdata);
    agent_update_drift(self);
    agent_converge_full(self, outer);
}

void
xe_agent_start_async(XeAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(GTask) task = g_task_new(self, cancellable, start_snapshot_done, outer);

    g_task_run_in_thread(task, start_snapshot_thread);
}

gboolean
xe_agent_start_finish(XeAgent *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
xe_agent_reload_async(XeAgent *self, XeConfig *config, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);

    if (self->converging) {
        /* Converge jobs borrow the layouts: the new configuration waits for the running
         * one, then converges; a newer reload replaces a waiting one. */
        if (self->pending_reload != NULL) {
            g_task_return_boolean(self->pending_reload, TRUE);
            g_clear_object(&self->pending_reload);
        }
        xe_config_free(self->pending_config);
        self->pending_config = config;
        self->pending_reload = outer;
        return;
    }
    agent_set_config(self, config);
    agent_converge_full(self, outer);
}

gboolean
xe_agent_reload_finish(XeAgent *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* reservations */

/* A reservation being made or released, until it is on disk. */
typedef struct {
    char *id; /* once reserved */
    char *vf;
    char *pf;
    char *on_pf; /* the PF asked for, or NULL */
    char *profile_text;
    char *profile_name; /* NULL unless a configured name */
    XeProfile *want;    /* what the VF must hold */
    XeReservationOwner kind;
    char *owner;      /* who holds it */
    char *caller;     /* who releases it */
    GHashTable *seen; /* pool VFs checked and found wanting */
    gboolean cold;
    gint64 started; /* monotonic µs: the request */
} Reserve;

static void
reserve_free(Reserve *r)
{
    g_free(r->id);
    g_free(r->vf);
    g_free(r->pf);
    g_free(r->on_pf);
    g_free(r->profile_text);
    g_free(r->profile_name);
    xe_profile_free(r->want);
    g_free(r->owner);
    g_free(r->caller);
    g_clear_pointer(&r->seen, g_hash_table_unref);
    g_free(r);
}

static void
claim(XeAgent *self, const char *vf)
{
    g_mutex_lock(&self->state_lock);
    g_hash_table_add(self->claimed, g_strdup(vf));
    g_mutex_unlock(&self->state_lock);
}

static void
unclaim(XeAgent *self, const char *vf)
{
    g_mutex_lock(&self->state_lock);
    g_hash_table_remove(self->claimed, vf);
    g_mutex_unlock(&self->state_lock);
}

static void
persisted_logged(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *what = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        g_warning("%s: %s; written again until it succeeds", what, error->message);
}

static void
reserve_persisted(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    g_autoptr(GTask) outer = user_data;
    Reserve *r = g_task_get_task_data(outer);
    GError *error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        /* Not on disk: not reserved. */
        g_mutex_lock(&self->state_lock);
        xe_reservations_remove(self->reservations, r->id, NULL);
        g_mutex_unlock(&self->state_lock);
        agent_rederive(self);
        g_prefix_error(&error, "reserving %s: ", r->vf);
        g_task_return_error(outer, error);
        agent_converge(self); /* a pool VF it took goes back */
        return;
    }
    {
        const XeReservation *res = xe_reservations_lookup(self->reservations, r->id);
        g_autofree char *holder = res != NULL ? xe_reservation_owner_display(res) : NULL;

        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_RESERVED, r->pf, r->vf, r->owner,
                     "%s reserved (%s) for %s, %s", r->vf, r->id,
                     holder != NULL ? holder : r->owner,
                     r->cold ? "prepared cold" : "from the warm pool");
    }
    agent_hook(self, "vf-reserved", r->pf, r->vf, r->id, r->profile_text, r->owner);
    xe_histogram_observe(&self->reserve_seconds,
                         (g_get_monotonic_time() - r->started) / (double)G_USEC_PER_SEC);
    g_task_return_boolean(outer, TRUE);
    agent_converge(self); /* refill the pool */
}

/* Records the reservation of r->vf (main thread) and persists it. */
static void
reserve_commit(XeAgent *self, GTask *outer)
{
    Reserve *r = g_task_get_task_data(outer);
    const XeReservation *res;
    GError *error = NULL;

    g_mutex_lock(&self->state_lock);
    g_hash_table_remove(self->claimed, r->vf);
    res = xe_reservations_add(self->reservations, r->vf, r->pf,
                              r->profile_name != NULL ? r->profile_name : r->profile_text, r->kind,
                              r->owner, &error);
    g_mutex_unlock(&self->state_lock);
    if (res == NULL) {
        agent_rederive(self);
        g_task_return_error(outer, error);
        g_object_unref(outer);
        return;
    }
    r->id = g_strdup(res->id);
    g_hash_table_remove(self->pool, r->vf);
    agent_rederive(self);
    agent_persist_async(self, reserve_persisted, outer);
}

static void
reserve_cold_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    GTask *outer = user_data;
    Reserve *r = g_task_get_task_data(outer);
    Job *job = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;

    if (job->snap != NULL)
        agent_install(self, g_steal_pointer(&job->snap));
    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        unclaim(self, r->vf);
        agent_rederive(self);
        g_prefix_error(&error, "preparing %s for the reservation: ", r->vf);
        g_task_return_error(outer, error);
        g_object_unref(outer);
        return;
    }
    reserve_commit(self, outer);
}

static gboolean
vf_free_for(XeAgent *self, XeAgentVf *vf, const char *pf_bdf)
{
    return (pf_bdf == NULL || g_str_equal(vf->info.pf_bdf, pf_bdf)) &&
           xe_reservations_lookup_vf(self->reservations, vf->info.bdf) == NULL &&
           !g_hash_table_contains(self->claimed, vf->info.bdf) &&
           !g_hash_table_contains(self->busy, vf->info.bdf);
}

/* A pool VF read back before it is handed out. */
typedef struct {
    char *vf;
    char *driver;  /* out: NULL when unbound */
    char *profile; /* out */
} PoolCheck;

static void
pool_check_free(PoolCheck *k)
{
    g_free(k->vf);
    g_free(k->driver);
    g_free(k->profile);
    g_free(k);
}

static void
pool_check_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeAgent *self = source;
    PoolCheck *k = data;
    g_autoptr(XeVfInfo) info = NULL;
    g_autoptr(XeProfile) profile = NULL;
    GError *error = NULL;

    /* Under the host lock: after any convergence under way, which may have rewritten it. */
    g_mutex_lock(&self->host_lock);
    info = xe_host_get_vf(self->host, k->vf, &error);
    if (info != NULL)
        profile = xe_host_read_profile(self->host, k->vf, &error);
    g_mutex_unlock(&self->host_lock);
    if (profile == NULL) {
        g_task_return_error(task, error);
        return;
    }
    k->driver = g_strdup(info->driver);
    k->profile = xe_profile_to_string(profile);
    g_task_return_boolean(task, TRUE);
}

/* Why the pool VF @vf does not hold what it is kept for (@driver, @profile as read), or NULL. */
static char *
pool_vf_wrong(const char *driver, const char *profile, const XeProfile *want)
{
    g_autofree char *wanted = want != NULL ? xe_profile_to_string(want) : NULL;

    if (g_strcmp0(driver, XE_DRIVER_VFIO) != 0)
        return g_strdup_printf("is bound to %s, not %s", driver != NULL ? driver : "no driver",
                               XE_DRIVER_VFIO);
    if (profile == NULL)
        return g_strdup("has a profile that cannot be read");
    if (want == NULL)
        return g_strdup("is kept for a profile the configuration no longer has");
    if (!profile_text_satisfies(profile, want))
        return g_strdup_printf("holds %s, not the pool's %s (written behind the daemon's back?)",
                               profile, wanted);
    return NULL;
}

/* Takes @bdf out of the pool because @why; reported as drift until the layout converges
 * again (which provisions the pool anew). */
static void
agent_pool_out(XeAgent *self, const char *bdf, const char *why)
{
    const char *name = g_hash_table_lookup(self->pool, bdf);
    XeAgentVf *vf = agent_find_vf(self, bdf);
    const char *pf = vf != NULL ? vf->info.pf_bdf : NULL;
    char *item;

    if (name == NULL)
        return;
    if (self->converging) {
        /* the pool is being provisioned anew: what it was kept for may have changed */
        g_hash_table_remove(self->pool, bdf);
        return;
    }
    item = g_strdup_printf("pool %s on %s: %s %s; out of the warm pool until the layout converges "
                           "again",
                           name, pf != NULL ? pf : "?", bdf, why);
    xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_DRIFT, pf, bdf, NULL, "%s", item);
    g_ptr_array_add(self->pool_drift, item);
    g_hash_table_remove(self->pool, bdf);
    agent_update_drift(self);
}

/* After a new snapshot: a pool VF that no longer holds its pool's profile (written behind
 * the daemon's back, unbound, gone) leaves the pool, and that is drift. */
static void
agent_check_pool(XeAgent *self)
{
    g_autoptr(GPtrArray) vfs = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer bdf, name;

    if (self->converging)
        return; /* the convergence sets the pool when it is done */
    g_hash_table_iter_init(&iter, self->pool);
    while (g_hash_table_iter_next(&iter, &bdf, &name))
        g_ptr_array_add(vfs, g_strdup(bdf));
    for (guint i = 0; i < vfs->len; i++) {
        const char *v = vfs->pdata[i];
        XeAgentVf *vf = agent_find_vf(self, v);
        const XeProfile *want =
            xe_config_get_profile(self->config, g_hash_table_lookup(self->pool, v));
        g_autofree char *why = NULL;

        if (xe_reservations_lookup_vf(self->reservations, v) != NULL ||
            g_hash_table_contains(self->claimed, v) || g_hash_table_contains(self->busy, v))
            continue;
        why = vf == NULL ? g_strdup("is not enabled any more")
                         : pool_vf_wrong(vf->info.driver, vf->profile, want);
        if (why != NULL)
            agent_pool_out(self, v, why);
    }
}

static void reserve_pick(XeAgent *self, GTask *outer);

static void
reserve_pool_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    GTask *outer = user_data;
    Reserve *r = g_task_get_task_data(outer);
    PoolCheck *k = g_task_get_task_data(G_TASK(result));
    g_autoptr(GError) error = NULL;
    XeAgentVf *vf = agent_find_vf(self, k->vf);
    g_autofree char *why = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        why = g_strdup_printf("cannot be read back (%s)", error->message);
    } else {
        if (vf != NULL) {
            /* what sysfs says now, also for the VF's D-Bus object */
            g_free(vf->profile);
            vf->profile = g_strdup(k->profile);
            g_free(vf->info.driver);
            vf->info.driver = g_strdup(k->driver);
        }
        why = pool_vf_wrong(k->driver, k->profile, r->want);
    }
    if (why == NULL) {
        reserve_commit(self, outer);
        return;
    }
    /* Never handed out with values other than those asked for: the next one, or a cold one. */
    unclaim(self, k->vf);
    g_hash_table_add(r->seen, g_strdup(k->vf));
    if (g_hash_table_contains(self->pool, k->vf)) {
        const XeProfile *kept =
            xe_config_get_profile(self->config, g_hash_table_lookup(self->pool, k->vf));
        g_autofree char *pool_why =
            error != NULL ? g_steal_pointer(&why) : pool_vf_wrong(k->driver, k->profile, kept);

        if (pool_why != NULL)
            agent_pool_out(self, k->vf, pool_why);
    }
    agent_rederive(self);
    reserve_pick(self, outer);
}

/* Picks a VF for the reservation in @outer: from the warm pool (read back first), else a
 * cold one (bound and provisioned first). Main thread: decisions are never made twice. */
static void
reserve_pick(XeAgent *self, GTask *outer)
{
    Reserve *r = g_task_get_task_data(outer);
    XeAgentVf *pick = NULL;

    /* Warm: a pool VF kept for this profile (or holding it), per the snapshot. It is claimed
     * (convergence leaves it alone from now on) and read back under the host lock, so a
     * convergence under way (a reload's) cannot have changed it unseen. */
    for (guint i = 0; i < self->vfs->len && pick == NULL; i++) {
        XeAgentVf *vf = self->vfs->pdata[i];
        const char *pool = g_hash_table_lookup(self->pool, vf->info.bdf);

        if (pool == NULL || g_hash_table_contains(r->seen, vf->info.bdf) ||
            !vf_free_for(self, vf, r->on_pf) || g_strcmp0(vf->info.driver, XE_DRIVER_VFIO) != 0)
            continue;
        if (r->profile_name != NULL ? g_str_equal(pool, r->profile_name)
                                    : profile_text_satisfies(vf->profile, r->want))
            pick = vf;
    }
    if (pick != NULL) {
        g_autoptr(GTask) task = g_task_new(self, NULL, reserve_pool_checked, outer);
        PoolCheck *k = g_new0(PoolCheck, 1);

        g_free(r->vf);
        g_free(r->pf);
        r->vf = g_strdup(pick->info.bdf);
        r->pf = g_strdup(pick->info.pf_bdf);
        r->cold = FALSE;
        claim(self, r->vf);
        agent_rederive(self);
        k->vf = g_strdup(r->vf);
        g_task_set_task_data(task, k, (GDestroyNotify)pool_check_free);
        g_task_run_in_thread(task, pool_check_thread);
        return;
    }
    /* Cold: an enabled VF outside the pool, bound and provisioned first. */
    for (guint i = 0; i < self->vfs->len && pick == NULL; i++) {
        XeAgentVf *vf = self->vfs->pdata[i];

        if (!g_hash_table_contains(self->pool, vf->info.bdf) && vf_free_for(self, vf, r->on_pf))
            pick = vf;
    }
    if (pick == NULL) {
        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_BUSY,
                                "no free VF%s%s for profile '%s': every enabled VF is reserved, "
                                "busy or kept in the pool for another profile",
                                r->on_pf != NULL ? " on " : "", r->on_pf != NULL ? r->on_pf : "",
                                r->profile_text);
        g_object_unref(outer);
        return;
    }
    g_free(r->vf);
    g_free(r->pf);
    r->vf = g_strdup(pick->info.bdf);
    r->pf = g_strdup(pick->info.pf_bdf);
    r->cold = TRUE;
    claim(self, r->vf);
    {
        g_autoptr(GTask) task = g_task_new(self, NULL, reserve_cold_done, outer);
        Job *job = g_new0(Job, 1);

        job->op = XE_AGENT_OP_PREPARE;
        job->target = g_strdup(r->vf);
        job->claim = g_strdup(r->vf);
        job->profile = g_memdup2(r->want, sizeof(*r->want));
        g_task_set_task_data(task, job, (GDestroyNotify)job_free);
        g_task_run_in_thread(task, job_thread);
    }
}

void
xe_agent_reserve_async(XeAgent *self, const char *profile, const char *pf_bdf,
                       XeReservationOwner kind, const char *owner, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    Reserve *r = g_new0(Reserve, 1);
    GError *error = NULL;

    g_task_set_source_tag(outer, TAG(xe_agent_reserve_async));
    g_task_set_task_data(outer, r, (GDestroyNotify)reserve_free);
    r->started = g_get_monotonic_time();
    r->profile_text = g_strdup(profile);
    r->on_pf = g_strdup(pf_bdf);
    r->kind = kind;
    r->owner = g_strdup(owner);
    r->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->want = xe_agent_resolve_profile(self, profile, &r->profile_name, &error);
    if (r->want == NULL) {
        g_task_return_error(outer, error);
        g_object_unref(outer);
        return;
    }
    reserve_pick(self, outer);
}

void
xe_agent_reserve_vf_async(XeAgent *self, const char *vf_bdf, const char *profile,
                          XeReservationOwner kind, const char *owner, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    Reserve *r = g_new0(Reserve, 1);
    XeAgentVf *vf = agent_find_vf(self, vf_bdf);

    g_task_set_source_tag(outer, TAG(xe_agent_reserve_async));
    g_task_set_task_data(outer, r, (GDestroyNotify)reserve_free);
    r->started = g_get_monotonic_time();
    r->profile_text = g_strdup(profile);
    r->kind = kind;
    r->owner = g_strdup(owner);
    if (vf == NULL) {
        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_NOT_FOUND, "no enabled VF %s", vf_bdf);
        g_object_unref(outer);
        return;
    }
    if (!vf_free_for(self, vf, NULL)) {
        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_BUSY,
                                "%s is already reserved or busy; one VM per VF", vf_bdf);
        g_object_unref(outer);
        return;
    }
    r->vf = g_strdup(vf->info.bdf);
    r->pf = g_strdup(vf->info.pf_bdf);
    reserve_commit(self, outer);
}

gboolean
xe_agent_reserve_finish(XeAgent *self, GAsyncResult *result, char **vf_bdf, char **reservation,
                        GError **error)
{
    Reserve *r = g_task_get_task_data(G_TASK(result));

    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    *vf_bdf = g_strdup(r->vf);
    *reservation = g_strdup(r->id);
    return TRUE;
}

/* The write without @id is on disk: the release is done. */
static void
release_done(XeAgent *self, const char *id, const char *vf, const char *pf, const char *profile,
             const char *caller)
{
    g_mutex_lock(&self->state_lock);
    xe_reservations_remove(self->reservations, id, NULL);
    g_mutex_unlock(&self->state_lock);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_RELEASED, pf, vf, caller,
                 "%s released (%s) by %s", vf, id, caller);
    agent_hook(self, "vf-released", pf, vf, id, profile, caller);
    g_hash_table_remove(self->releasing, id);
    /* A released VF may rejoin the pool; a reconciled mismatch may be gone. */
    g_strfreev(self->reconcile_drift);
    self->reconcile_drift = NULL;
    agent_update_drift(self);
    agent_rederive(self);
}

static void
released_free(Released *x)
{
    g_free(x->id);
    g_free(x->vf);
    g_free(x->pf);
    g_free(x->profile);
    g_free(x->caller);
    g_free(x);
}

static void
agent_released_on_disk(XeAgent *self, guint64 seq)
{
    gboolean any = FALSE;

    self->written_seq = MAX(self->written_seq, seq);
    for (guint i = 0; i < self->unwritten->len;) {
        Released *x = self->unwritten->pdata[i];

        if (x->seq >= seq) {
            i++;
            continue;
        }
        release_done(self, x->id, x->vf, x->pf, x->profile, x->caller);
        g_ptr_array_remove_index(self->unwritten, i);
        any = TRUE;
    }
    if (any)
        agent_converge(self);
}

static void
release_persisted(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    g_autoptr(GTask) outer = user_data;
    Reserve *r = g_task_get_task_data(outer);
    Persist *p = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error) && p->seq >= self->written_seq) {
        /* Not on disk: it stays reserved as it was (same id, owner and VF), left out of the
         * table that is written again until a write succeeds; the release is done then. */
        Released *x = g_new0(Released, 1);

        x->id = g_strdup(r->id);
        x->vf = g_strdup(r->vf);
        x->pf = g_strdup(r->pf);
        x->profile = g_strdup(r->profile_text);
        x->caller = g_strdup(r->caller);
        x->seq = p->seq;
        g_ptr_array_add(self->unwritten, x);
        g_prefix_error(&error, "releasing %s: ", r->id);
        g_task_return_new_error(outer, error->domain, error->code,
                                "%s; it stays reserved, with its id, until the state file can be "
                                "written: the release completes then",
                                error->message);
        g_error_free(error);
        return;
    }
    /* (a failed write that a later, successful one superseded is no failure) */
    g_clear_error(&error);
    release_done(self, r->id, r->vf, r->pf, r->profile_text, r->caller);
    g_task_return_boolean(outer, TRUE);
    agent_converge(self);
}

/* The table without the reservation goes to disk first; until it is there, the VF stays
 * reserved in memory (nobody else can take it, and a failed write changes nothing). */
static void
release_commit(XeAgent *self, GTask *outer)
{
    Reserve *r = g_task_get_task_data(outer);

    g_mutex_lock(&self->state_lock);
    (void)xe_reservations_set_releasing(self->reservations, r->id, TRUE, NULL);
    g_mutex_unlock(&self->state_lock);
    agent_persist_async(self, release_persisted, outer);
}

static void
release_reset_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAgent *self = XE_AGENT(source);
    GTask *outer = user_data;
    Reserve *r = g_task_get_task_data(outer);
    Job *job = g_task_get_task_data(G_TASK(result));
    GError *error = NULL;

    busy_remove(self, r->vf);
    if (job->snap != NULL)
        agent_install(self, g_steal_pointer(&job->snap));
    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        /* A VF whose state may survive must not serve anyone else: keep it reserved. */
        g_hash_table_remove(self->releasing, r->id);
        agent_changed(self);
        g_prefix_error(&error,
                       "releasing %s: the reset before release failed, so it stays "
                       "reserved: ",
                       r->id);
        g_task_return_error(outer, error);
        g_object_unref(outer);
        return;
    }
    xe_log_event(G_LOG_LEVEL_INFO, XE_MESSAGE_VF_RESET, r->pf, r->vf, r->caller,
                 "%s reset (FLR) before release", r->vf);
    release_commit(self, outer);
}

/* "VM 'web'", "incoming migration '3:web'", "caller uid 0 (:1.42)" */
static char *
owner_phrase(XeReservationOwner kind, const char *owner)
{
    const char *prefix = xe_reservation_owner_to_string(kind);
    gsize n = strlen(prefix);
    const char *name = strncmp(owner, prefix, n) == 0 && owner[n] == ':' ? owner + n + 1 : owner;

    switch (kind) {
    case XE_RESERVATION_OWNER_VM:
        return g_strdup_printf("VM '%s'", name);
    case XE_RESERVATION_OWNER_INCOMING:
        return g_strdup_printf("incoming migration '%s'", name);
    case XE_RESERVATION_OWNER_DOMAIN:
        return g_strdup_printf("libvirt domain '%s'", name);
    case XE_RESERVATION_OWNER_CALLER:
    default:
        return g_strdup_printf("caller %s", name);
    }
}

static const char *const release_hints[] = {
    [XE_RESERVATION_OWNER_CALLER] = "release it through Manager.Release",
    [XE_RESERVATION_OWNER_VM] = "remove the VM instead (Manager.RemoveVM, xe-migratectl vm-remove)",
    [XE_RESERVATION_OWNER_INCOMING] = "it goes when the migration finishes or is aborted",
    [XE_RESERVATION_OWNER_DOMAIN] = "it goes when the domain stops or migrates away; should "
                                    "its release hook never have run, xe-migratectl release ID "
                                    "frees it",
};

static const char *const kind_phrases[] = {
    [XE_RESERVATION_OWNER_CALLER] = "a caller",
    [XE_RESERVATION_OWNER_VM] = "a VM",
    [XE_RESERVATION_OWNER_INCOMING] = "an incoming migration",
    [XE_RESERVATION_OWNER_DOMAIN] = "a libvirt domain",
};

void
xe_agent_release_async(XeAgent *self, const char *reservation, gboolean reset,
                       XeReservationOwner as, const char *caller, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    const XeReservation *res = xe_reservations_lookup(self->reservations, reservation);
    Reserve *r;

    g_task_set_source_tag(outer, TAG(xe_agent_release_async));
    if (res == NULL) {
        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_NOT_FOUND, "no reservation '%s'",
                                reservation);
        g_object_unref(outer);
        return;
    }
    /* a domain's reservation outlives a libvirtd that never ran the hook's release: the
     * operator's Manager.Release clears it */
    if (res->kind != as &&
        !(res->kind == XE_RESERVATION_OWNER_DOMAIN && as == XE_RESERVATION_OWNER_CALLER)) {
        g_autofree char *holder = owner_phrase(res->kind, res->owner);

        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_BUSY,
                                "reservation %s is held by %s, not by %s: %s", res->id, holder,
                                kind_phrases[as], release_hints[res->kind]);
        g_object_unref(outer);
        return;
    }
    if (g_hash_table_contains(self->releasing, res->id)) {
        g_task_return_new_error(outer, XE_ERROR, XE_ERROR_BUSY,
                                "reservation %s is being released already (should the state "
                                "file not be writable, once it is)",
                                res->id);
        g_object_unref(outer);
        return;
    }
    r = g_new0(Reserve, 1);
    r->id = g_strdup(res->id);
    r->vf = g_strdup(res->vf_bdf);
    r->pf = g_strdup(res->pf_bdf);
    r->profile_text = g_strdup(res->profile);
    r->kind = res->kind;
    r->owner = g_strdup(res->owner);
    r->caller = g_strdup(caller);
    g_task_set_task_data(outer, r, (GDestroyNotify)reserve_free);
    g_hash_table_add(self->releasing, g_strdup(r->id));
    if (reset) {
        /* The FLR runs while the VF is still reserved: nobody can take it half-clean. */
        g_autoptr(GTask) task = g_task_new(self, cancellable, release_reset_done, outer);
        Job *job = g_new0(Job, 1);

        job->op = XE_AGENT_OP_RESET;
        job->target = g_strdup(r->vf);
        job->claim = g_strdup(r->vf);
        job->caller = g_strdup(caller);
        busy_add(self, r->vf);
        g_task_set_task_data(task, job, (GDestroyNotify)job_free);
        g_task_run_in_thread(task, job_thread);
        return;
    }
    release_commit(self, outer);
}

gboolean
xe_agent_release_finish(XeAgent *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean
xe_agent_transfer_reservation(XeAgent *self, const char *reservation, XeReservationOwner kind,
                              const char *owner, GError **error)
{
    const XeReservation *res = xe_reservations_lookup(self->reservations, reservation);
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;

    g_return_val_if_fail((guint)kind <= XE_RESERVATION_OWNER_DOMAIN, FALSE);
    if (res == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no reservation '%s'", reservation);
        return FALSE;
    }
    if (g_hash_table_contains(self->releasing, res->id)) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "reservation %s is being released; it cannot change hands", res->id);
        return FALSE;
    }
    before = xe_reservation_owner_display(res);
    g_mutex_lock(&self->state_lock);
    (void)xe_reservations_set_owner(self->reservations, res->id, kind, owner, NULL);
    g_mutex_unlock(&self->state_lock);
    after = xe_reservation_owner_display(res);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_VF_RESERVED, res->pf_bdf, res->vf_bdf, owner,
                 "%s: reservation %s passes from %s to %s", res->vf_bdf, res->id, before, after);
    agent_changed(self);
    /* Written like any change of the table, in order with the others. */
    agent_persist_async(self, persisted_logged,
                        g_strdup_printf("recording that %s holds reservation %s", after, res->id));
    return TRUE;
}

GStrv
xe_agent_reservations_of(XeAgent *self, const char *owner)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *all;

    g_mutex_lock(&self->state_lock);
    all = xe_reservations_list(self->reservations);
    for (guint i = 0; i < all->len; i++) {
        const XeReservation *r = all->pdata[i];
        g_autofree char *who = xe_reservation_owner_display(r);

        if (!r->releasing && g_str_equal(who, owner))
            g_ptr_array_add(ids, g_strdup(r->id));
    }
    g_mutex_unlock(&self->state_lock);
    g_ptr_array_add(ids, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&ids), FALSE);
}

gboolean
xe_agent_reservation_get(XeAgent *self, const char *reservation, char **vf_bdf, char **owner)
{
    const XeReservation *r;

    g_mutex_lock(&self->state_lock);
    r = xe_reservations_lookup(self->reservations, reservation);
    if (r != NULL) {
        *vf_bdf = g_strdup(r->vf_bdf);
        *owner = xe_reservation_owner_display(r);
    }
    g_mutex_unlock(&self->state_lock);
    return r != NULL;
}

gboolean
xe_agent_reservation_of_vf(XeAgent *self, const char *vf_bdf, char **reservation, char **owner)
{
    const XeReservation *r;

    g_mutex_lock(&self->state_lock);
    r = xe_reservations_lookup_vf(self->reservations, vf_bdf);
    if (r != NULL) {
        *reservation = g_strdup(r->id);
        *owner = xe_reservation_owner_display(r);
    }
    g_mutex_unlock(&self->state_lock);
    return r != NULL;
}

XeReservationOwner
xe_agent_reservation_owner_kind(XeAgent *self, const char *reservation)
{
    const XeReservation *r = xe_reservations_lookup(self->reservations, reservation);

    return r != NULL ? r->kind : XE_RESERVATION_OWNER_CALLER;
}

/* hooks, for the engine */

static void
hooks_ran(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) outer = user_data;
    GError *error = NULL;

    if (!xe_hooks_run_finish(NULL, result, &error))
        g_task_return_error(outer, error);
    else
        g_task_return_boolean(outer, TRUE);
}

void
xe_agent_run_hooks_async(XeAgent *self, const char *phase, JsonNode *document,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);

    xe_hooks_run_async(self->hooks, phase, document, cancellable, hooks_ran, outer);
}

gboolean
xe_agent_run_hooks_finish(XeAgent *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

GVariant *
xe_agent_list_reservations(XeAgent *self)
{
    GVariantBuilder b;
    GPtrArray *list = xe_reservations_list(self->reservations);

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssssx)"));
    for (guint i = 0; i < list->len; i++) {
        XeReservation *r = list->pdata[i];
        g_autofree char *owner = xe_reservation_owner_display(r);

        g_variant_builder_add(&b, "(ssssx)", r->id, r->vf_bdf, r->profile, owner, r->created);
    }
    return g_variant_builder_end(&b);
}

const XeHistogram *
xe_agent_get_reserve_latency(XeAgent *self)
{
    return &self->reserve_seconds;
}
