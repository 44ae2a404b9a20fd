/* xe-journal.c: the engine's durable records (see xe-journal.h), as key files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-journal"

#include "xe-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "xe-error.h"

static const char *const incoming_states[] = {
    [XE_INCOMING_PREPARING] = "preparing", [XE_INCOMING_LISTENING] = "listening",
    [XE_INCOMING_ACTIVE] = "active",       [XE_INCOMING_COMPLETED] = "completed",
    [XE_INCOMING_COMMITTED] = "committed", [XE_INCOMING_RUNNING] = "running",
    [XE_INCOMING_FAILED] = "failed",       [XE_INCOMING_ABORTED] = "aborted",
    [XE_INCOMING_LOST] = "lost",
};

const char *
xe_incoming_state_to_string(XeIncomingState state)
{
    g_return_val_if_fail((guint)state < G_N_ELEMENTS(incoming_states), "unknown");
    return incoming_states[state];
}

gboolean
xe_incoming_state_from_string(const char *text, XeIncomingState *state)
{
    for (guint i = 0; i < G_N_ELEMENTS(incoming_states); i++)
        if (g_strcmp0(text, incoming_states[i]) == 0) {
            *state = (XeIncomingState)i;
            return TRUE;
        }
    return FALSE;
}

gboolean
xe_incoming_state_is_final(XeIncomingState state)
{
    return state == XE_INCOMING_RUNNING || state == XE_INCOMING_FAILED ||
           state == XE_INCOMING_ABORTED || state == XE_INCOMING_LOST;
}

gboolean
xe_incoming_state_is_committed(XeIncomingState state)
{
    return state == XE_INCOMING_COMMITTED || state == XE_INCOMING_RUNNING ||
           state == XE_INCOMING_LOST;
}

void
xe_incoming_entry_free(XeIncomingEntry *e)
{
    if (e == NULL)
        return;
    g_free(e->id);
    g_free(e->vm);
    g_free(e->spec);
    g_free(e->owner);
    g_free(e->vf);
    g_free(e->reservation);
    g_free(e->qmp);
    g_free(e->error);
    g_free(e);
}

XeJobEntry *
xe_job_entry_copy(const XeJobEntry *e)
{
    XeJobEntry *c = g_new0(XeJobEntry, 1);

    *c = *e;
    c->id = g_strdup(e->id);
    c->vm = g_strdup(e->vm);
    c->host = g_strdup(e->host);
    c->policy = g_strdup(e->policy);
    c->caller = g_strdup(e->caller);
    c->incoming = g_strdup(e->incoming);
    c->incoming_id = g_strdup(e->incoming_id);
    c->dest_vf = g_strdup(e->dest_vf);
    return c;
}

void
xe_job_entry_free(XeJobEntry *e)
{
    if (e == NULL)
        return;
    g_free(e->id);
    g_free(e->vm);
    g_free(e->host);
    g_free(e->policy);
    g_free(e->caller);
    g_free(e->incoming);
    g_free(e->incoming_id);
    g_free(e->dest_vf);
    g_free(e);
}

/* files */

static gboolean
fsync_dir(const char *dir, GError **error)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e;

    if (fd >= 0 && fsync(fd) == 0) {
        close(fd);
        return TRUE;
    }
    e = errno;
    if (fd >= 0)
        close(fd);
    g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "%s: fsync: %s", dir, g_strerror(e));
    return FALSE;
}

/* Writes @kf as DIR/NAME durably: the file is either the old or the new one. */
static gboolean
put(const char *state_dir, const char *sub, const char *name, GKeyFile *kf, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, sub, NULL);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *data = g_key_file_to_data(kf, NULL, NULL);
    g_autoptr(GError) local = NULL;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;

        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "recording %s: cannot create %s: %s", name,
                    dir, g_strerror(e));
        return FALSE;
    }
    if (!g_file_set_contents_full(path, data, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0600, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "recording %s: %s", path, local->message);
        return FALSE;
    }
    return fsync_dir(dir, error);
}

/* Removes DIR/NAME; with @durable the removal survives a crash too. */
static gboolean
drop(const char *state_dir, const char *sub, const char *name, gboolean durable, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, sub, NULL);
    g_autofree char *path = g_build_filename(dir, name, NULL);

    if (g_unlink(path) < 0 && errno != ENOENT) {
        int e = errno;

        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "removing %s: %s", path, g_strerror(e));
        return FALSE;
    }
    return !durable || fsync_dir(dir, error);
}

/* Every DIR/ *SUFFIX file, parsed by @load; unreadable ones are named in @warnings. */
static GPtrArray *
load_all(const char *state_dir, const char *sub, const char *suffix,
         gpointer (*load)(GKeyFile *kf, const char *path, GError **error), GDestroyNotify free,
         GPtrArray *warnings)
{
    g_autofree char *dir = g_build_filename(state_dir, sub, NULL);
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func(free);
    const char *name;

    while (listing != NULL && (name = g_dir_read_name(listing)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) error = NULL;
        gpointer entry = NULL;

        if (!g_str_has_suffix(name, suffix))
            continue;
        if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error))
            entry = load(kf, path, &error);
        if (entry != NULL)
            g_ptr_array_add(out, entry);
        else if (warnings != NULL)
            g_ptr_array_add(warnings, g_strdup_printf("%s: %s", path, error->message));
    }
    return out;
}

static char *
get_string(GKeyFile *kf, const char *group, const char *key, const char *path, GError **error)
{
    char *v = g_key_file_get_string(kf, group, key, NULL);

    if (v == NULL)
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "%s: [%s] has no '%s'", path, group, key);
    return v;
}

static guint64
get_number(GKeyFile *kf, const char *group, const char *key)
{
    g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);

    return v != NULL ? g_ascii_strtoull(v, NULL, 10) : 0;
}

static void
set_number(GKeyFile *kf, const char *group, const char *key, guint64 value)
{
    g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, value);

    g_key_file_set_string(kf, group, key, v);
}

static void
set_string(GKeyFile *kf, const char *group, const char *key, const char *value)
{
    g_key_file_set_string(kf, group, key, value != NULL ? value : "");
}

/* incomings */

gboolean
xe_journal_put_incoming(const char *state_dir, const XeIncomingEntry *e, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *name = g_strconcat(e->id, ".in", NULL);

    set_string(kf, "incoming", "id", e->id);
    set_string(kf, "incoming", "vm", e->vm);
    set_string(kf, "incoming", "spec", e->spec);
    set_string(kf, "incoming", "owner", e->owner);
    set_string(kf, "incoming", "state", xe_incoming_state_to_string(e->state));
    set_string(kf, "incoming", "vf", e->vf);
    set_string(kf, "incoming", "reservation", e->reservation);
    set_string(kf, "incoming", "qmp", e->qmp);
    set_number(kf, "incoming", "pid", e->pid);
    set_number(kf, "incoming", "start-time", e->start_time);
    set_string(kf, "incoming", "error", e->error);
    set_number(kf, "incoming", "changed", (guint64)g_get_real_time());
    return put(state_dir, "incomings", name, kf, error);
}

static gpointer
load_incoming(GKeyFile *kf, const char *path, GError **error)
{
    g_autoptr(XeIncomingEntry) e = g_new0(XeIncomingEntry, 1);
    g_autofree char *state = NULL;

    if ((e->id = get_string(kf, "incoming", "id", path, error)) == NULL ||
        (e->vm = get_string(kf, "incoming", "vm", path, error)) == NULL ||
        (e->spec = get_string(kf, "incoming", "spec", path, error)) == NULL ||
        (state = get_string(kf, "incoming", "state", path, error)) == NULL)
        return NULL;
    if (!xe_incoming_state_from_string(state, &e->state)) {
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "%s: unknown state '%s'", path, state);
        return NULL;
    }
    e->owner = g_key_file_get_string(kf, "incoming", "owner", NULL);
    e->vf = g_key_file_get_string(kf, "incoming", "vf", NULL);
    e->reservation = g_key_file_get_string(kf, "incoming", "reservation", NULL);
    e->qmp = g_key_file_get_string(kf, "incoming", "qmp", NULL);
    e->error = g_key_file_get_string(kf, "incoming", "error", NULL);
    e->pid = (guint)get_number(kf, "incoming", "pid");
    e->start_time = get_number(kf, "incoming", "start-time");
    e->changed = (gint64)get_number(kf, "incoming", "changed");
    return g_steal_pointer(&e);
}

static int
by_changed(gconstpointer a, gconstpointer b)
{
    const XeIncomingEntry *x = *(XeIncomingEntry *const *)a, *y = *(XeIncomingEntry *const *)b;

    return (x->changed > y->changed) - (x->changed < y->changed);
}

GPtrArray *
xe_journal_load_incomings(const char *state_dir, GPtrArray *warnings)
{
    GPtrArray *all = load_all(state_dir, "incomings", ".in", load_incoming,
                              (GDestroyNotify)xe_incoming_entry_free, warnings);

    g_ptr_array_sort(all, by_changed);
    return all;
}

void
xe_journal_prune_incomings(const char *state_dir, guint keep)
{
    g_autoptr(GPtrArray) all = xe_journal_load_incomings(state_dir, NULL);
    guint over = 0;

    for (guint i = 0; i < all->len; i++)
        over += xe_incoming_state_is_final(((XeIncomingEntry *)all->pdata[i])->state);
    for (guint i = 0; i < all->len && over > keep; i++) {
        XeIncomingEntry *e = all->pdata[i];
        g_autofree char *name = g_strconcat(e->id, ".in", NULL);
        g_autoptr(GError) error = NULL;

        if (!xe_incoming_state_is_final(e->state))
            continue;
        if (!drop(state_dir, "incomings", name, FALSE, &error))
            g_warning("%s", error->message);
        over--;
    }
}

/* jobs */

gboolean
xe_journal_put_job(const char *state_dir, const XeJobEntry *e, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *name = g_strconcat(e->id, ".job", NULL);

    set_string(kf, "job", "id", e->id);
    set_string(kf, "job", "vm", e->vm);
    set_string(kf, "job", "host", e->host);
    set_string(kf, "job", "policy", e->policy);
    set_string(kf, "job", "caller", e->caller);
    set_number(kf, "job", "attempt", e->attempt);
    set_string(kf, "job", "incoming", e->incoming);
    set_string(kf, "job", "incoming-id", e->incoming_id);
    set_string(kf, "job", "destination-vf", e->dest_vf);
    set_number(kf, "job", "started", (guint64)e->started);
    set_number(kf, "job", "source-pid", e->source_pid);
    set_number(kf, "job", "source-start-time", e->source_start);
    return put(state_dir, "jobs", name, kf, error);
}

gboolean
xe_journal_drop_job(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *name = g_strconcat(id, ".job", NULL);

    return drop(state_dir, "jobs", name, TRUE, error);
}

static gpointer
load_job(GKeyFile *kf, const char *path, GError **error)
{
    g_autoptr(XeJobEntry) e = g_new0(XeJobEntry, 1);

    if ((e->id = get_string(kf, "job", "id", path, error)) == NULL ||
        (e->vm = get_string(kf, "job", "vm", path, error)) == NULL ||
        (e->host = get_string(kf, "job", "host", path, error)) == NULL)
        return NULL;
    e->policy = g_key_file_get_string(kf, "job", "policy", NULL);
    e->caller = g_key_file_get_string(kf, "job", "caller", NULL);
    e->incoming = g_key_file_get_string(kf, "job", "incoming", NULL);
    e->incoming_id = g_key_file_get_string(kf, "job", "incoming-id", NULL);
    e->dest_vf = g_key_file_get_string(kf, "job", "destination-vf", NULL);
    e->attempt = (guint)get_number(kf, "job", "attempt");
    e->started = (gint64)get_number(kf, "job", "started");
    e->source_pid = (guint)get_number(kf, "job", "source-pid");
    e->source_start = get_number(kf, "job", "source-start-time");
    return g_steal_pointer(&e);
}

GPtrArray *
xe_journal_load_jobs(const char *state_dir, GPtrArray *warnings)
{
    return load_all(state_dir, "jobs", ".job", load_job, (GDestroyNotify)xe_job_entry_free,
                    warnings);
}

guint
xe_journal_max_id(GPtrArray *entries, gboolean incomings)
{
    guint max = 0;

    for (guint i = 0; entries != NULL && i < entries->len; i++) {
        const char *id = incomings ? ((XeIncomingEntry *)entries->pdata[i])->id
                                   : ((XeJobEntry *)entries->pdata[i])->id;

        max = MAX(max, (guint)g_ascii_strtoull(id, NULL, 10));
    }
    return max;
}

/* VMs */

gboolean
xe_journal_put_vm(const char *state_dir, const XeVmSpec *spec, guint pid, guint64 start_time,
                  gboolean adopted, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = xe_vm_spec_to_data(spec);
    g_autofree char *name = g_strconcat(spec->name, ".vm", NULL);

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, error))
        return FALSE;
    set_number(kf, "process", "pid", pid);
    set_number(kf, "process", "start-time", start_time);
    g_key_file_set_boolean(kf, "process", "adopted", adopted);
    return put(state_dir, "vms", name, kf, error);
}

XeVmSpec *
xe_journal_load_vm(const char *path, guint *pid, guint64 *start_time, gboolean *adopted,
                   GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error))
        return NULL;
    *pid = (guint)get_number(kf, "process", "pid");
    *start_time = get_number(kf, "process", "start-time");
    /* (a record from before this key: its QEMU was adopted, as it then looked) */
    *adopted = !g_key_file_has_key(kf, "process", "adopted", NULL) ||
               g_key_file_get_boolean(kf, "process", "adopted", NULL);
    (void)g_key_file_remove_group(kf, "process", NULL);
    data = g_key_file_to_data(kf, NULL, NULL);
    return xe_vm_spec_load_from_data(data, path, error);
}

gboolean
xe_journal_drop_vm(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *file = g_strconcat(name, ".vm", NULL);

    /* not fsynced (it runs on the main loop): a record a crash brings back names a QEMU that
     * is gone, and the next start releases what it held */
    return drop(state_dir, "vms", file, FALSE, error);
}
