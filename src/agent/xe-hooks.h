/* xe-hooks.h: phase hooks for fleet tools.
 *
 * Every executable regular file in the hooks directory runs at each phase, in
 * name order, as `HOOK PHASE` with a JSON document on stdin (the VF, the
 * reservation, the job...). A hook of a phase whose name starts with "pre-"
 * may veto with a non-zero exit: its stderr becomes the error and later hooks
 * do not run. Other phases only inform: failures are logged. Each hook has a
 * timeout (a pre- hook that times out vetoes). A hook, or the directory, that
 * anyone but root (or the daemon's own user) could write is refused: it does
 * not run, and in a pre- phase that is a veto.
 *
 * Phases so far: vf-reserved, vf-released, vf-reset, layout-applied.
 *
 * stdin is a sealed in-memory file, not a pipe: a hook need not read it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _XeHooks XeHooks;

XeHooks *xe_hooks_new(const char *dir, guint timeout_ms);
void xe_hooks_free(XeHooks *hooks);

/* Runs the hooks of @phase with @document on stdin (not modified). The run
 * keeps what it needs: @hooks may be freed before it completes. */
void xe_hooks_run_async(XeHooks *hooks, const char *phase, JsonNode *document,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data);
/* FALSE with XE_ERROR_VETOED when a pre- phase hook vetoed. */
gboolean xe_hooks_run_finish(XeHooks *hooks, GAsyncResult *result, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeHooks, xe_hooks_free)

G_END_DECLS
