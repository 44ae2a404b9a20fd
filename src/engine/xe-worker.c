/* xe-worker.c: threads with their own main context, and waiting on them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-worker"

#include "xe-worker.h"

/* A step: a function the worker runs at its top level, never inside another step. */
typedef struct {
    GSourceFunc func;
    gpointer data;
    GDestroyNotify destroy;
} Step;

struct _XeWorker {
    GThread *thread;
    GMainContext *context;
    GMutex lock;
    GQueue steps;      /* (under lock) Step *, in the order queued */
    gboolean stopping; /* (under lock) set by xe_worker_stop() */
    /* set by xe_worker_stop(): told once the thread is done */
    GMainContext *notify;
    GSourceFunc exited;
    gpointer exited_data;
};

static Step *
next_step(XeWorker *w, gboolean *stop)
{
    Step *step;

    g_mutex_lock(&w->lock);
    step = g_queue_pop_head(&w->steps);
    *stop = step == NULL && w->stopping;
    g_mutex_unlock(&w->lock);
    return step;
}

/* Steps are not sources of the worker's context: a step that waits (xe_await) iterates
 * that context, and a queued step dispatched there would run inside it (an Abort in the
 * middle of a Prepare). The thread runs them one after the other, between iterations. */
static gpointer
worker_thread(gpointer data)
{
    XeWorker *w = data;
    gboolean stop = FALSE;

    g_main_context_push_thread_default(w->context);
    while (!stop) {
        Step *step = next_step(w, &stop);

        if (step != NULL) {
            (void)step->func(step->data);
            if (step->destroy != NULL)
                step->destroy(step->data);
            g_free(step);
        } else if (!stop) {
            g_main_context_iteration(w->context, TRUE);
        }
    }
    /* Let what was queued before the stop finish (the callbacks of cancelled calls). */
    while (g_main_context_iteration(w->context, FALSE))
        ;
    g_main_context_pop_thread_default(w->context);
    /* Nobody joins this thread: it frees its worker and says so. */
    if (w->exited != NULL)
        xe_context_post(w->notify, w->exited, w->exited_data, NULL);
    g_clear_pointer(&w->notify, g_main_context_unref);
    g_main_context_unref(w->context);
    g_mutex_clear(&w->lock);
    g_free(w);
    return NULL;
}

XeWorker *
xe_worker_new(const char *name)
{
    XeWorker *w = g_new0(XeWorker, 1);

    w->context = g_main_context_new();
    g_mutex_init(&w->lock);
    g_queue_init(&w->steps);
    w->thread = g_thread_new(name, worker_thread, w);
    return w;
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
    g_mutex_lock(&w->lock);
    w->stopping = TRUE;
    g_main_context_wakeup(w->context); /* (under the lock: the thread may free @w after it) */
    g_mutex_unlock(&w->lock);
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
    Step *step = g_new0(Step, 1);

    step->func = func;
    step->data = data;
    step->destroy = destroy;
    g_mutex_lock(&w->lock);
    g_assert(!w->stopping);
    g_queue_push_tail(&w->steps, step);
    g_main_context_wakeup(w->context);
    g_mutex_unlock(&w->lock);
}

void
xe_await_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    XeAwait *w = user_data;
    /* once the result is out the waiter may return and clear @w: nothing of @w after */
    g_autoptr(GMainContext) context = g_main_context_ref(w->context);

    g_atomic_pointer_set(&w->result, g_object_ref(result));
    g_main_context_wakeup(context);
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
