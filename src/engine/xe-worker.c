/* xe-worker.c: threads with their own main context, and waiting on them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-worker"

#include "xe-worker.h"

struct _XeWorker {
    GThread *thread;
    GMainContext *context;
    GMainLoop *loop;
    /* set by xe_worker_stop(): told once the thread is done */
    GMainContext *notify;
    GSourceFunc exited;
    gpointer exited_data;
};

static gpointer
worker_thread(gpointer data)
{
    XeWorker *w = data;

    g_main_context_push_thread_default(w->context);
    g_main_loop_run(w->loop);
    /* Let what was queued before the stop finish (the callbacks of cancelled calls). */
    while (g_main_context_iteration(w->context, FALSE))
        ;
    g_main_context_pop_thread_default(w->context);
    /* Nobody joins this thread: it frees its worker and says so. */
    if (w->exited != NULL)
        xe_context_post(w->notify, w->exited, w->exited_data, NULL);
    g_clear_pointer(&w->notify, g_main_context_unref);
    g_main_loop_unref(w->loop);
    g_main_context_unref(w->context);
    g_free(w);
    return NULL;
}

XeWorker *
xe_worker_new(const char *name)
{
    XeWorker *w = g_new0(XeWorker, 1);

    w->context = g_main_context_new();
    w->loop = g_main_loop_new(w->context, FALSE);
    w->thread = g_thread_new(name, worker_thread, w);
    return w;
}

static gboolean
quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void
xe_worker_stop(XeWorker *w, GMainContext *notify, GSourceFunc exited, gpointer data)
{
    if (w == NULL)
        return;
    w->notify = notify != NULL ? g_main_context_ref(notify) : NULL;
    w->exited = exited;
    w->exited_data = data;
    g_thread_unref(w->thread); /* detached: the thread frees @w */
    xe_context_post(w->context, quit_loop, w->loop, NULL);
}

GMainContext *
xe_worker_get_context(XeWorker *w)
{
    return w->context;
}

void
xe_context_post(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
    GSource *source = g_idle_source_new();

    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, func, data, destroy);
    g_source_attach(source, context);
    g_source_unref(source);
}

void
xe_worker_invoke(XeWorker *w, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
    xe_context_post(w->context, func, data, destroy);
}

void
xe_await_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAwait *w = user_data;

    g_atomic_pointer_set(&w->result, g_object_ref(result));
    g_main_context_wakeup(w->context);
}

GAsyncResult *
xe_await(XeAwait *w)
{
    while (g_atomic_pointer_get(&w->result) == NULL)
        g_main_context_iteration(w->context, TRUE);
    return w->result;
}

void
xe_await_reset(XeAwait *w)
{
    g_clear_object(&w->result);
}

void
xe_await_clear(XeAwait *w)
{
    g_clear_object(&w->result);
    g_clear_pointer(&w->context, g_main_context_unref);
}

typedef struct {
    XeMainStart start;
    gpointer data;
    XeAwait *await;
} MainStart;

static gboolean
main_start(gpointer data)
{
    MainStart *m = data;

    m->start(m->data, xe_await_cb, m->await);
    g_free(m);
    return G_SOURCE_REMOVE;
}

GAsyncResult *
xe_await_main(XeAwait *w, GMainContext *main, XeMainStart start, gpointer data)
{
    MainStart *m = g_new0(MainStart, 1);

    g_assert(w->result == NULL);
    m->start = start;
    m->data = data;
    m->await = w;
    xe_context_post(main, main_start, m, NULL);
    return xe_await(w);
}

typedef struct {
    GSourceFunc func;
    gpointer data;
    GMutex lock;
    GCond cond;
    gboolean done;
} MainCall;

static gboolean
main_call(gpointer data)
{
    MainCall *c = data;

    c->func(c->data);
    g_mutex_lock(&c->lock);
    c->done = TRUE;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
    return G_SOURCE_REMOVE;
}

void
xe_call_main(GMainContext *main, GSourceFunc func, gpointer data)
{
    MainCall c = { .func = func, .data = data };

    if (g_main_context_is_owner(main)) {
        func(data);
        return;
    }
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    xe_context_post(main, main_call, &c, NULL);
    g_mutex_lock(&c.lock);
    while (!c.done)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}

static gboolean
sleep_over(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

static void
sleep_cancelled(GCancellable *cancellable, gpointer data)
{
    g_main_context_wakeup(data);
}

gboolean
xe_sleep(guint64 ms, GCancellable *cancellable)
{
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
    gboolean over = FALSE;
    GSource *timer = g_timeout_source_new((guint)MIN(ms, G_MAXUINT));
    gulong id = 0;

    g_source_set_callback(timer, sleep_over, &over, NULL);
    g_source_attach(timer, context);
    if (cancellable != NULL)
        id = g_cancellable_connect(cancellable, G_CALLBACK(sleep_cancelled),
                                   g_main_context_ref(context),
                                   (GDestroyNotify)g_main_context_unref);
    while (!over && !g_cancellable_is_cancelled(cancellable))
        g_main_context_iteration(context, TRUE);
    g_cancellable_disconnect(cancellable, id);
    g_source_destroy(timer);
    g_source_unref(timer);
    return over;
}
