/* xe-hooks.c: running phase hooks: one at a time, in name order, each with a
 * deadline, never blocking the main loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-hooks"

#include "xe-hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xe-error.h"

#define MAX_STDERR 4096

struct _XeHooks {
    char *dir;
    guint timeout_ms;
};

typedef struct {
    char *phase;
    gboolean may_veto;
    char *input; /* the JSON document */
    GStrv hooks; /* paths, in order */
    guint next;
    GSubprocess *running;
    char *running_path;
    guint timeout_ms; /* copied: the XeHooks may go (a reload) while a run goes on */
    GSource *timeout;
    gboolean timed_out;
} Run;

static void
run_free(Run *run)
{
    g_free(run->phase);
    g_free(run->input);
    g_strfreev(run->hooks);
    g_clear_object(&run->running);
    g_free(run->running_path);
    if (run->timeout != NULL) {
        g_source_destroy(run->timeout);
        g_source_unref(run->timeout);
    }
    g_free(run);
}

XeHooks *
xe_hooks_new(const char *dir, guint timeout_ms)
{
    XeHooks *hooks = g_new0(XeHooks, 1);

    hooks->dir = g_strdup(dir);
    hooks->timeout_ms = timeout_ms;
    return hooks;
}

void
xe_hooks_free(XeHooks *hooks)
{
    if (hooks == NULL)
        return;
    g_free(hooks->dir);
    g_free(hooks);
}

/* Refused: writable by a user other than root and us, or by a group or all. */
static const char *
unsafe_reason(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return "it is owned by another user";
    if (st->st_mode & S_IWOTH)
        return "anyone may write it";
    if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
        return "a group other than root may write it";
    return NULL;
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* The hooks to run, in name order; refused ones go to @refused. */
static GStrv
list_hooks(XeHooks *hooks, GString *refused)
{
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) dir = g_dir_open(hooks->dir, 0, NULL);
    struct stat st;
    const char *name;
    const char *why;

    if (dir == NULL)
        return g_new0(char *, 1); /* no directory: no hooks */
    if (stat(hooks->dir, &st) == 0 && (why = unsafe_reason(&st)) != NULL) {
        g_string_append_printf(refused, "hooks directory %s refused: %s", hooks->dir, why);
        return g_new0(char *, 1);
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(hooks->dir, name, NULL);

        if (name[0] == '.' || lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (st.st_mode & 0111) == 0)
            continue;
        why = unsafe_reason(&st);
        if (why != NULL) {
            g_string_append_printf(refused, "%shook %s refused: %s", refused->len ? "; " : "", path,
                                   why);
            continue;
        }
        g_ptr_array_add(paths, g_steal_pointer(&path));
    }
    g_ptr_array_sort(paths, compare_names);
    g_ptr_array_add(paths, NULL);
    return (GStrv)g_ptr_array_steal(paths, NULL);
}

static void run_next(GTask *task);

/* The document as a sealed in-memory file: the hook's stdin. A file, not a
 * pipe, so a hook that never reads it cannot make our write fail or raise
 * SIGPIPE. */
static int
input_fd(const char *json, GError **error)
{
    gsize len = strlen(json);
    int fd = memfd_create("xe-hook-input", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd < 0 || write(fd, json, len) != (gssize)len || lseek(fd, 0, SEEK_SET) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "preparing a hook's input: %s",
                    g_strerror(e));
        return -1;
    }
    return fd;
}

static gboolean
hook_timed_out(gpointer user_data)
{
    Run *run = g_task_get_task_data(G_TASK(user_data));

    run->timed_out = TRUE;
    g_clear_pointer(&run->timeout, g_source_unref);
    if (run->running != NULL)
        g_subprocess_force_exit(run->running);
    return G_SOURCE_REMOVE;
}

static void
hook_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Run *run = g_task_get_task_data(task);
    g_autoptr(GBytes) err_bytes = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *err_text = NULL;
    gboolean ok;

    ok = g_subprocess_communicate_finish(G_SUBPROCESS(source), result, NULL, &err_bytes, &error);
    if (run->timeout != NULL) {
        g_source_destroy(run->timeout);
        g_clear_pointer(&run->timeout, g_source_unref);
    }
    if (ok && err_bytes != NULL) {
        gsize len;
        const char *data = g_bytes_get_data(err_bytes, &len);
        err_text = len > 0 ? g_strndup(data, MIN(len, MAX_STDERR)) : g_strdup("");
        g_strstrip(err_text);
    }
    if (!ok) {
        err_text = g_strdup(error->message);
    } else if (run->timed_out) {
        g_free(err_text);
        err_text = g_strdup_printf("timed out after %u ms and was killed", run->timeout_ms);
        ok = FALSE;
    } else if (!g_subprocess_get_if_exited(run->running) ||
               g_subprocess_get_exit_status(run->running) != 0) {
        if (err_text == NULL || *err_text == '\0') {
            g_free(err_text);
            err_text = g_subprocess_get_if_exited(run->running)
                           ? g_strdup_printf("exited with status %d",
                                             g_subprocess_get_exit_status(run->running))
                           : g_strdup_printf("killed by signal %d",
                                             g_subprocess_get_term_sig(run->running));
        }
        ok = FALSE;
    }
    if (!ok) {
        if (run->may_veto) {
            g_task_return_new_error(task, XE_ERROR, XE_ERROR_VETOED, "%s hook %s vetoed: %s",
                                    run->phase, run->running_path, err_text);
            return;
        }
        g_warning("%s hook %s failed: %s", run->phase, run->running_path, err_text);
    }
    g_clear_object(&run->running);
    run_next(g_steal_pointer(&task));
}

static void
run_next(GTask *task)
{
    Run *run = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    const char *path = run->hooks[run->next];
    int fd;

    if (path == NULL) {
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    run->next++;
    g_free(run->running_path);
    run->running_path = g_strdup(path);
    run->timed_out = FALSE;
    fd = input_fd(run->input, &error);
    if (fd >= 0) {
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);

        g_subprocess_launcher_take_stdin_fd(launcher, fd);
        run->running = g_subprocess_launcher_spawn(launcher, &error, path, run->phase, NULL);
    }
    if (run->running == NULL) {
        if (run->may_veto) {
            g_task_return_new_error(task, XE_ERROR, XE_ERROR_VETOED, "%s hook %s vetoed: %s",
                                    run->phase, path, error->message);
            g_object_unref(task);
            return;
        }
        g_warning("%s hook %s: %s", run->phase, path, error->message);
        run_next(task);
        return;
    }
    run->timeout = g_timeout_source_new(run->timeout_ms);
    g_source_set_callback(run->timeout, hook_timed_out, task, NULL);
    g_source_attach(run->timeout, g_task_get_context(task));
    g_subprocess_communicate_async(run->running, NULL, g_task_get_cancellable(task), hook_done,
                                   task);
}

void
xe_hooks_run_async(XeHooks *hooks, const char *phase, JsonNode *document, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    Run *run = g_new0(Run, 1);
    g_autoptr(GString) refused = g_string_new(NULL);

    g_task_set_task_data(task, run, (GDestroyNotify)run_free);
    run->timeout_ms = hooks->timeout_ms;
    run->phase = g_strdup(phase);
    run->may_veto = g_str_has_prefix(phase, "pre-");
    run->input = json_to_string(document, FALSE);
    run->hooks = list_hooks(hooks, refused);
    if (refused->len > 0) {
        if (run->may_veto) {
            g_task_return_new_error(task, XE_ERROR, XE_ERROR_VETOED, "%s: %s", phase, refused->str);
            g_object_unref(task);
            return;
        }
        g_warning("%s: %s", phase, refused->str);
    }
    run_next(task);
}

gboolean
xe_hooks_run_finish(XeHooks *hooks, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
