/* xe-worker.h: a thread with its own main context, for work that is a
 * sequence of steps: a migration, the destination side of one.
 *
 * As libvirt runs a migration job in a thread of its own, each job here owns
 * an XeWorker: its QMP clients, timers and peer D-Bus calls live on the
 * worker's context, so the flow reads top to bottom with xe_await() between
 * asynchronous steps, and a slow QEMU never holds up the daemon's main loop.
 * What belongs to the daemon (the agent, reservations, hooks) stays on the
 * main context: xe_await_main() starts an operation there and waits for it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _XeWorker XeWorker;

XeWorker *xe_worker_new(const char *name);
/* Stops the thread once the work queued so far has run. Nobody ever joins a worker (a
 * thread that waits on the main context must never be waited for by it): the thread frees
 * @worker itself, then runs @exited(@data) on @notify. @worker is not to be used after. */
void xe_worker_stop(XeWorker *worker, GMainContext *notify, GSourceFunc exited, gpointer data);
GMainContext *xe_worker_get_context(XeWorker *worker);
/* Runs @func(@data) on the thread that runs @context, in the order queued; never on the
 * caller's (g_main_context_invoke() runs it on the calling thread whenever @context is not
 * acquired at that moment: a worker starting, a main loop between two iterations). */
void xe_context_post(GMainContext *context, GSourceFunc func, gpointer data,
                     GDestroyNotify destroy);

/* Runs @func(@data) on the worker's thread as a step: in the order queued, one after the
 * other, never inside another step (not even one that waits), never on the caller's thread.
 * Its return value is ignored. */
void xe_worker_invoke(XeWorker *worker, GSourceFunc func, gpointer data, GDestroyNotify destroy);

/* Waiting for an asynchronous call, on the calling thread's default context:
 *
 *   XeAwait w = XE_AWAIT_INIT;
 *   xe_qmp_query_status_async(client, cancellable, xe_await_cb, &w);
 *   status = xe_qmp_query_status_finish(client, xe_await(&w), &error);
 *   xe_await_reset(&w);   (before reusing it; g_auto(XeAwait) clears it)
 *
 * The callback may run on any thread. */
typedef struct {
    GMainContext *context;
    GAsyncResult *result;
} XeAwait;
#define XE_AWAIT_INIT                             \
    {                                             \
        g_main_context_ref_thread_default(), NULL \
    }

void xe_await_cb(GObject *source, GAsyncResult *result, gpointer user_data);
GAsyncResult *xe_await(XeAwait *await);
void xe_await_reset(XeAwait *await);
void xe_await_clear(XeAwait *await);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(XeAwait, xe_await_clear)

/* Starts an asynchronous call and waits for it, in one expression whose
 * value is @finish's; @await is reset for the next call:
 *
 *   ok = XE_AWAIT_CALL(&w, xe_qmp_cont_async(c, NULL, xe_await_cb, &w),
 *                      xe_qmp_cont_finish(c, xe_await(&w), &error));
 */
#define XE_AWAIT_CALL(await, start, finish)     \
    __extension__({                             \
        start;                                  \
        __auto_type xe_await_value_ = (finish); \
        xe_await_reset(await);                  \
        xe_await_value_;                        \
    })

/* Calls @start(@data, xe_await_cb, @await) on @main (the daemon's context),
 * then waits on the calling thread for the result. */
typedef void (*XeMainStart)(gpointer data, GAsyncReadyCallback callback, gpointer user_data);
GAsyncResult *xe_await_main(XeAwait *await, GMainContext *main, XeMainStart start, gpointer data);

/* Runs @func(@data) on @main and waits for it to return. */
void xe_call_main(GMainContext *main, GSourceFunc func, gpointer data);

/* Sleeps @ms on the calling thread's context; FALSE when @cancellable fired. */
gboolean xe_sleep(guint64 ms, GCancellable *cancellable);

G_END_DECLS
