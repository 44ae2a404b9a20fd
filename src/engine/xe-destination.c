/* xe-destination.c: the destination side of a migration attempt.
 *
 * Prepare: reserve a VF for the source VF's exact profile (warm pool first),
 * check it would accept the state (the kernel refuses a restore into a VF
 * provisioned differently), start QEMU paused with -incoming defer, turn on
 * events and return-path (and switchover-ack, multifd when both sides do),
 * and listen. Finish: once the stream completed, run the VM (cont) and keep
 * it as a VM of this host. Abort, or the source's connection going away
 * before Finish: kill the QEMU, reset the VF and release it.
 *
 * The destination QEMU stays paused (-S) after the load until Finish, which
 * the source sends only after its own QEMU reported completed: the VM never
 * runs on both hosts, and while it has not run here the source can resume.
 * Finish records the incoming COMMITTED (xe-journal.h) before it sends `cont`:
 * from then on this host never says the VM does not run here, Abort answers
 * Committed, and a restart makes it a VM of this host. An incoming over stays
 * as a tombstone that answers Finish and Abort by how it ended.
 *
 * Each incoming has its worker; prepare, finish and abort run on it in turn.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-destination"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

#include "xe-flows.h"
#include "xe-vf-device.h"
#include "xe-error.h"
#include "xe-log.h"
#include "xe-qmp-migration.h"

/* What only the worker touches. */
typedef struct {
    XeQemuProcess *process;
    XeQmpClient *client;
    char *log_path;
    char *reservation;
    char *vf;
    XeQmpMigrationStatus status;
    char *error;
    gboolean done;        /* finished or aborted */
    gboolean committed;   /* recorded as this host's VM, `cont` sent or about to be */
    gboolean unconfirmed; /* its QEMU failed to start and may still run: the VF stays held */
    XeEngineSettings *settings;
    XeIncomingEntry *entry; /* what the journal has of it */
    XeIncoming *incoming;   /* (unowned) the record this is the run of */
} Run;

static void
run_free(Run *r)
{
    if (r->client != NULL) {
        g_signal_handlers_disconnect_matched(r->client, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                             r->incoming);
        xe_qmp_client_close(r->client);
    }
    g_clear_object(&r->client);
    g_clear_object(&r->process);
    g_free(r->log_path);
    g_free(r->reservation);
    g_free(r->vf);
    g_free(r->error);
    engine_settings_free(r->settings);
    xe_incoming_entry_free(r->entry);
    g_free(r);
}

/* Records the incoming as @state, durably, and shows it. */
static gboolean
journal(XeIncoming *incoming, Run *r, XeIncomingState state, GError **error)
{
    r->entry->state = state;
    g_free(r->entry->vf);
    r->entry->vf = g_strdup(r->vf);
    g_free(r->entry->reservation);
    r->entry->reservation = g_strdup(r->reservation);
    g_free(r->entry->error);
    r->entry->error = g_strdup(r->error);
    if (r->process != NULL) {
        r->entry->pid = (guint)xe_qemu_process_get_pid(r->process);
        r->entry->start_time = xe_qemu_process_get_start_time(r->process);
    }
    gboolean stored = xe_journal_put_incoming(r->settings->state_dir, r->entry, error);

    /* "committed" is shown only once it is on disk: a source that reads it quits its copy,
     * so a crash must not undo it. Any other state is shown as it is: what a restart makes
     * of an unrecorded one (an abort) agrees with it. */
    if (stored || state != XE_INCOMING_COMMITTED)
        xe_record_post(incoming, "state", xe_incoming_state_to_string(state), NULL);
    return stored;
}

static Run *
run_of(XeIncoming *incoming)
{
    Run *r = g_object_get_data(G_OBJECT(incoming), "xe-run");

    if (r == NULL) {
        r = g_new0(Run, 1);
        r->incoming = incoming;
        g_object_set_data_full(G_OBJECT(incoming), "xe-run", r, (GDestroyNotify)run_free);
    }
    return r;
}

static char *
worker_id(XeIncoming *incoming)
{
    return g_strdup_printf("incoming:%s", xe_incoming_get_id(incoming));
}

/* The last lines QEMU wrote, its start-up notices left out: why a destination refused or
 * died. */
static char *
log_tail(const char *path)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(GPtrArray) said = g_ptr_array_new();
    guint n;

    if (path == NULL || !g_file_get_contents(path, &text, &len, NULL) || len == 0)
        return NULL;
    lines = g_strsplit(text + (len > 4096 ? len - 4096 : 0), "\n", -1);
    n = g_strv_length(lines);

    for (guint i = 0; i < n; i++) {
        g_strstrip(lines[i]);
        /* start-up notices (host CPU features, dirty tracking, IGD quirks) are no reason */
        if (*lines[i] != '\0' && strstr(lines[i], ": warning: ") == NULL &&
            strstr(lines[i], "is unsupported in legacy mode") == NULL)
            g_ptr_array_add(said, lines[i]);
    }
    for (guint i = said->len > 4 ? said->len - 4 : 0; i < said->len; i++) {
        if (out->len > 0)
            g_string_append(out, " | ");
        g_string_append(out, said->pdata[i]);
    }
    return out->len > 0 ? g_string_free(g_steal_pointer(&out), FALSE) : NULL;
}

static void
on_event(XeQmpClient *client, const char *name, JsonObject *data, gint64 timestamp,
         gpointer user_data)
{
    XeIncoming *incoming = user_data;
    Run *r = run_of(incoming);

    if (g_str_equal(name, XE_QMP_EVENT_MIGRATION)) {
        XeQmpMigrationStatus status;

        g_autoptr(GError) error = NULL;

        if (!xe_qmp_event_migration_decode(data, &status, &error)) {
            g_warning("incoming %s: %s", xe_incoming_get_id(incoming), error->message);
            return;
        }
        r->status = status;
        /* (a failed load shows in "error" and "exited": the incoming ends at Abort) */
        if (status == XE_QMP_MIGRATION_STATUS_ACTIVE && !r->committed)
            xe_record_post(incoming, "state", xe_incoming_state_to_string(XE_INCOMING_ACTIVE),
                           NULL);
        else if (status == XE_QMP_MIGRATION_STATUS_COMPLETED && !r->committed)
            xe_record_post(incoming, "state", xe_incoming_state_to_string(XE_INCOMING_COMPLETED),
                           NULL);
    }
}

static void
on_disconnected(XeQmpClient *client, GError *reason, gpointer user_data)
{
    XeIncoming *incoming = user_data;
    Run *r = run_of(incoming);

    if (r->done || r->committed)
        return;
    /* The monitor went away: QEMU is exiting (a destination load failure exits). */
    g_free(r->error);
    r->error = log_tail(r->log_path);
    if (r->error == NULL)
        r->error = g_strdup_printf("its monitor closed (%s) and it said nothing",
                                   reason != NULL ? reason->message : "no reason");
    xe_record_post(incoming, "exited", TRUE, "error", r->error, NULL);
}

typedef struct {
    XeServices *svc;
    XeIncoming *incoming;
    char *profile;
    GVariant *options;
    char *host;
    guint timeout_ms;
    char *why;
    char *owner;
    XeEngineSettings *settings; /* prepare */
    GTask *task;
} Step;

static void
step_free(Step *s)
{
    g_object_unref(s->svc);
    g_object_unref(s->incoming);
    g_free(s->profile);
    g_clear_pointer(&s->options, g_variant_unref);
    g_free(s->host);
    g_free(s->why);
    g_free(s->owner);
    engine_settings_free(s->settings);
    g_clear_object(&s->task);
    g_free(s);
}

static Step *
step_new(XeServices *svc, XeIncoming *incoming, GTask *task)
{
    Step *s = g_new0(Step, 1);

    /* on main: what the worker needs of the record */
    g_object_get(incoming, "owner", &s->owner, NULL);
    s->svc = g_object_ref(svc);
    s->incoming = g_object_ref(incoming);
    s->task = task;
    return s;
}

/* Undo whatever prepare got to: kill QEMU, reset and release the VF; the incoming ends
 * as @end (aborted or failed: it never ran here). */
static void
teardown(XeServices *svc, XeIncoming *incoming, XeIncomingState end, const char *why)
{
    Run *r = run_of(incoming);
    g_autoptr(GError) error = NULL;

    g_assert(!r->committed);
    r->done = TRUE;
    if (r->client != NULL)
        xe_qmp_client_close(r->client);
    if (r->process != NULL)
        xe_services_end_qemu(svc, r->process, 0);
    if (r->unconfirmed) {
        /* its QEMU may still run: the VF stays reserved (the error says how to clear it) */
    } else if (!xe_services_release(svc, r->reservation, TRUE, "xe-migrated (incoming)", &error)) {
        g_warning("incoming %s: %s", xe_incoming_get_id(incoming), error->message);
        g_clear_error(&error);
    }
    if (r->error == NULL)
        r->error = g_strdup(why);
    xe_record_post(incoming, "exited", TRUE, "error", r->error, NULL);
    if (!journal(incoming, r, end, &error))
        g_warning("incoming %s: %s", xe_incoming_get_id(incoming), error->message);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_INCOMING, NULL, r->vf, NULL,
                 "incoming %s of VM %s aborted (%s); %s reset and released",
                 xe_incoming_get_id(incoming), xe_incoming_get_spec(incoming)->name, why,
                 r->vf != NULL ? r->vf : "no VF");
}

static gboolean
main_ended(gpointer data)
{
    Step *s = data;

    xe_services_incoming_ended(s->svc, s->incoming);
    return G_SOURCE_REMOVE;
}

/* The incoming is over: its tombstone stays, its worker goes. */
static void
end_incoming(Step *s)
{
    g_autofree char *id = worker_id(s->incoming);
    Run *r = run_of(s->incoming);

    xe_journal_prune_incomings(r->settings->state_dir, XE_ENGINE_KEEP_FINISHED);
    xe_call_main(xe_services_get_main(s->svc), main_ended, s);
    xe_services_worker_done(s->svc, id);
}

static gboolean
prepare_thread(gpointer data)
{
    Step *s = data;
    XeServices *svc = s->svc;
    XeIncoming *incoming = s->incoming;
    const XeVmSpec *spec = xe_incoming_get_spec(incoming);
    XeEngineSettings *settings = s->settings;
    Run *r = run_of(incoming);
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autofree char *owner =
        g_strdup_printf("incoming:%s:%s", xe_incoming_get_id(incoming), spec->name);
    g_autofree char *reason = NULL;
    g_autofree char *qmp = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *uri = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GHashTable) caps = NULL;
    g_autoptr(XeQmpMigrationInfo) info = NULL;
    gboolean want_ack = FALSE, want_multifd = FALSE, ack = FALSE, multifd = FALSE;
    gboolean vfio_multifd = FALSE;
    guint32 channels = 0;
    GVariantBuilder out;
    GError *error = NULL;

    r->settings = engine_settings_copy(settings);
    r->entry = g_new0(XeIncomingEntry, 1);
    r->entry->id = g_strdup(xe_incoming_get_id(incoming));
    r->entry->vm = g_strdup(spec->name);
    r->entry->spec = xe_vm_spec_to_data(spec);
    r->entry->owner = g_strdup(s->owner);
    g_variant_lookup(s->options, "switchover-ack", "b", &want_ack);
    g_variant_lookup(s->options, "multifd", "b", &want_multifd);
    g_variant_lookup(s->options, "multifd-channels", "u", &channels);
    g_variant_lookup(s->options, "vfio-multifd", "b", &vfio_multifd);

    /* 0. on record before anything is held: a restart finds and undoes what follows */
    if (!journal(incoming, r, XE_INCOMING_PREPARING, &error))
        goto fail;
    /* 1. a VF with the source's provisioning, from the warm pool if one is there */
    if (!xe_services_reserve(svc, s->profile, owner, &r->vf, &r->reservation, &error))
        goto fail;
    xe_record_post(incoming, "vf", r->vf, "reservation", r->reservation, NULL);
    if (!journal(incoming, r, XE_INCOMING_PREPARING, &error))
        goto fail;
    /* 2. would the kernel take the source's state into it? */
    if (!xe_services_agent_run(svc, XE_AGENT_OP_CHECK, r->vf, s->profile, "xe-migrated (incoming)",
                               &reason, &error))
        goto fail;
    if (*reason != '\0') {
        g_set_error(&error, XE_ERROR, XE_ERROR_INCOMPATIBLE,
                    "destination VF %s cannot take the source's state: %s", r->vf, reason);
        goto fail;
    }
    /* 3. QEMU, paused, waiting for the stream */
    if (g_mkdir_with_parents(settings->run_dir, 0750) < 0) {
        int e = errno;

        g_set_error(&error, XE_ERROR, XE_ERROR_FAILED, "cannot create run-dir %s: %s",
                    settings->run_dir, g_strerror(e));
        goto fail;
    }
    qmp = g_strdup_printf("%s/incoming-%s-%s.qmp", settings->run_dir, xe_incoming_get_id(incoming),
                          spec->name);
    r->log_path =
        g_strdup_printf("%s/incoming-%s.log", settings->run_dir, xe_incoming_get_id(incoming));
    argv = xe_vm_spec_expand_argv(spec, r->vf);
    /* its socket on record before it exists: a restart finds the QEMU by it */
    r->entry->qmp = g_strdup(qmp);
    if (!journal(incoming, r, XE_INCOMING_PREPARING, &error))
        goto fail;
    r->process =
        xe_services_spawn(svc, (const char *const *)argv, qmp, r->vf, TRUE, r->log_path, &error);
    if (r->process == NULL) {
        r->unconfirmed = g_error_matches(error, XE_ERROR, XE_ERROR_UNCONFIRMED);
        goto fail;
    }
    xe_record_post(incoming, "pid", (guint)xe_qemu_process_get_pid(r->process), NULL);
    if (!journal(incoming, r, XE_INCOMING_PREPARING, &error))
        goto fail;
    r->client = XE_AWAIT_CALL(&w, xe_qemu_process_connect_async(r->process, NULL, xe_await_cb, &w),
                              xe_qemu_process_connect_finish(r->process, xe_await(&w), &error));
    if (r->client == NULL) {
        g_autofree char *tail = log_tail(r->log_path);

        g_prefix_error(&error, "destination QEMU%s%s: ", tail != NULL ? " said: " : "",
                       tail != NULL ? tail : "");
        goto fail;
    }
    g_signal_connect(r->client, "event", G_CALLBACK(on_event), incoming);
    g_signal_connect(r->client, "disconnected", G_CALLBACK(on_disconnected), incoming);
    /* 4. capabilities: events and return-path always; the rest where asked and known */
    caps =
        XE_AWAIT_CALL(&w, xe_qmp_query_migrate_capabilities_async(r->client, NULL, xe_await_cb, &w),
                      xe_qmp_query_migrate_capabilities_finish(r->client, xe_await(&w), &error));
    if (caps == NULL)
        goto fail;
    ack = want_ack && g_hash_table_contains(caps, "switchover-ack");
    multifd = want_multifd && g_hash_table_contains(caps, "multifd");
    {
        XeQmpCapability set[] = {
            { "events", TRUE },
            { "return-path", TRUE },
            { "switchover-ack", TRUE },
            { "multifd", TRUE },
        };
        gsize n = 2;

        if (ack)
            set[n++] = set[2];
        if (multifd)
            set[n++] = set[3];
        if (!XE_AWAIT_CALL(
                &w, xe_qmp_migrate_set_capabilities_async(r->client, set, n, NULL, xe_await_cb, &w),
                xe_qmp_migrate_set_capabilities_finish(r->client, xe_await(&w), &error)))
            goto fail;
    }
    if (multifd && channels > 0) {
        XeQmpMigrationParameters params = { .has_multifd_channels = TRUE,
                                            .multifd_channels = channels };

        if (!XE_AWAIT_CALL(
                &w, xe_qmp_migrate_set_parameters_async(r->client, &params, NULL, xe_await_cb, &w),
                xe_qmp_migrate_set_parameters_finish(r->client, xe_await(&w), &error)))
            goto fail;
    }
    /* the VF's state through the channels, or not, as on the source */
    if (multifd && !xe_vf_device_set_multifd_transfer(r->client, r->vf, vfio_multifd, NULL, &error))
        goto fail;
    /* 5. listen on a port QEMU picks, and tell where */
    listen = g_strdup_printf(
        "tcp:%s:0", *settings->migration_address != '\0' ? settings->migration_address : "0.0.0.0");
    if (!XE_AWAIT_CALL(&w,
                       xe_qmp_migrate_incoming_async(r->client, listen, FALSE,
                                                     XE_QMP_EXIT_ON_ERROR_DEFAULT, NULL,
                                                     xe_await_cb, &w),
                       xe_qmp_migrate_incoming_finish(r->client, xe_await(&w), &error)))
        goto fail;
    info = XE_AWAIT_CALL(&w, xe_qmp_query_migrate_async(r->client, NULL, xe_await_cb, &w),
                         xe_qmp_query_migrate_finish(r->client, xe_await(&w), &error));
    if (info == NULL)
        goto fail;
    if (info->socket_port == NULL) {
        g_set_error(&error, XE_ERROR, XE_ERROR_FAILED,
                    "the destination QEMU listens, but query-migrate shows no port");
        goto fail;
    }
    uri = g_strdup_printf(
        "tcp:%s:%s", *settings->migration_address != '\0' ? settings->migration_address : s->host,
        info->socket_port);
    r->entry->state = XE_INCOMING_LISTENING;
    xe_record_post(incoming, "uri", uri, "state",
                   xe_incoming_state_to_string(XE_INCOMING_LISTENING), NULL);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_INCOMING, NULL, r->vf, NULL,
                 "incoming %s of VM %s: %s provisioned, QEMU %u listening on %s",
                 xe_incoming_get_id(incoming), spec->name, r->vf,
                 (guint)xe_qemu_process_get_pid(r->process), uri);
    g_variant_builder_init(&out, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&out, "{sv}", "id", g_variant_new_string(xe_incoming_get_id(incoming)));
    g_variant_builder_add(&out, "{sv}", "uri", g_variant_new_string(uri));
    g_variant_builder_add(&out, "{sv}", "vf", g_variant_new_string(r->vf));
    g_variant_builder_add(&out, "{sv}", "switchover-ack", g_variant_new_boolean(ack));
    g_variant_builder_add(&out, "{sv}", "multifd", g_variant_new_boolean(multifd));
    g_task_return_pointer(s->task, g_variant_ref_sink(g_variant_builder_end(&out)),
                          (GDestroyNotify)g_variant_unref);
    step_free(s);
    return G_SOURCE_REMOVE;

fail:
    if (r->entry->spec == NULL) /* not even on record: nothing held */
        r->entry->spec = g_strdup("");
    teardown(svc, incoming, XE_INCOMING_FAILED, error->message);
    g_task_return_error(s->task, error);
    end_incoming(s);
    step_free(s);
    return G_SOURCE_REMOVE;
}

void
incoming_prepare(XeServices *svc, XeIncoming *incoming, const char *profile, GVariant *options,
                 const char *host, GTask *task)
{
    Step *s = step_new(svc, incoming, task);
    g_autofree char *id = worker_id(incoming);

    s->settings = xe_services_get_settings(svc);
    s->profile = g_strdup(profile);
    s->options = g_variant_ref(options);
    s->host = g_strdup(host);
    xe_worker_invoke(xe_services_worker_new(svc, id), prepare_thread, s, NULL);
}

/* Finish: the source completed; run the VM here and keep it. */

typedef struct {
    XeServices *svc;
    const XeVmSpec *spec;
    Run *run;
    const char *qmp;
    XeVmState state;
    XeVm *vm;
} Adopt;

static gboolean
main_adopt(gpointer data)
{
    Adopt *a = data;

    a->vm = xe_vm_new(a->spec, xe_services_get_main(a->svc));
    g_object_set(a->vm, "vf", a->run->vf, "reservation", a->run->reservation, "qmp-socket", a->qmp,
                 "pid", (guint)xe_qemu_process_get_pid(a->run->process), "state",
                 xe_vm_state_to_string(a->state), NULL);
    xe_vm_set_process(a->vm, G_OBJECT(a->run->process));
    xe_services_vm_arrived(a->svc, a->vm);
    return G_SOURCE_REMOVE;
}

static gboolean
deadline_passed(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* After the commit: `cont` until QEMU says running. A reply lost on the way is asked
 * again (over a fresh monitor connection if need be); the VM is never given up on while
 * its QEMU lives. FALSE once the QEMU has exited. */
static gboolean
run_vm(Run *r, gboolean *running)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;

    *running = FALSE;
    for (guint round = 0; round < 5 && !xe_qemu_process_has_exited(r->process); round++) {
        g_autoptr(XeQmpStatus) status = NULL;
        g_autoptr(GError) error = NULL;

        if (r->client == NULL || !xe_qmp_client_is_connected(r->client)) {
            g_clear_object(&r->client);
            r->client =
                XE_AWAIT_CALL(&w, xe_qemu_process_connect_async(r->process, NULL, xe_await_cb, &w),
                              xe_qemu_process_connect_finish(r->process, xe_await(&w), &error));
            if (r->client == NULL) {
                g_warning("destination QEMU %d: %s", (int)xe_qemu_process_get_pid(r->process),
                          error->message);
                (void)xe_sleep(200, NULL);
                continue;
            }
        }
        (void)XE_AWAIT_CALL(&w, xe_qmp_cont_async(r->client, NULL, xe_await_cb, &w),
                            xe_qmp_cont_finish(r->client, xe_await(&w), NULL));
        status = XE_AWAIT_CALL(&w, xe_qmp_query_status_async(r->client, NULL, xe_await_cb, &w),
                               xe_qmp_query_status_finish(r->client, xe_await(&w), &error));
        if (status != NULL && status->running) {
            *running = TRUE;
            return TRUE;
        }
    }
    return !xe_qemu_process_has_exited(r->process);
}

static gboolean
finish_thread(gpointer data)
{
    Step *s = data;
    XeIncoming *incoming = s->incoming;
    Run *r = run_of(incoming);
    const XeVmSpec *spec = xe_incoming_get_spec(incoming);
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();
    g_autofree char *qmp = NULL;
    GSource *timer = g_timeout_source_new(s->timeout_ms);
    gboolean expired = FALSE, running = FALSE;
    GError *error = NULL;

    if (r->committed) {
        /* a second Finish (the first one's answer was lost): it is here */
        g_source_unref(timer);
        g_task_return_boolean(s->task, TRUE);
        step_free(s);
        return G_SOURCE_REMOVE;
    }
    if (r->done || r->client == NULL) {
        g_set_error(&error, XE_ERROR, XE_ERROR_FAILED, "incoming %s was aborted",
                    xe_incoming_get_id(incoming));
        goto out;
    }
    /* The source saw completed; the destination's own event may trail it. */
    g_source_set_callback(timer, deadline_passed, &expired, NULL);
    g_source_attach(timer, context);
    while (r->status != XE_QMP_MIGRATION_STATUS_COMPLETED &&
           r->status != XE_QMP_MIGRATION_STATUS_FAILED && xe_qmp_client_is_connected(r->client) &&
           !expired)
        g_main_context_iteration(context, TRUE);
    g_source_destroy(timer);
    if (r->status != XE_QMP_MIGRATION_STATUS_COMPLETED) {
        g_autofree char *tail = log_tail(r->log_path);

        g_set_error(&error, XE_ERROR, XE_ERROR_FAILED,
                    "the destination did not complete the load (%s)%s%s",
                    expired ? "timed out" : xe_qmp_migration_status_to_string(r->status),
                    tail != NULL ? ": " : "", tail != NULL ? tail : "");
        goto out;
    }
    /* The commit: on record before `cont`. Should it fail, nothing ran here, and the
     * source may still resume. */
    if (!journal(incoming, r, XE_INCOMING_COMMITTED, &error)) {
        g_prefix_error(&error, "the VM was not run here: ");
        xe_record_post(incoming, "state", xe_incoming_state_to_string(XE_INCOMING_COMPLETED), NULL);
        goto out;
    }
    r->committed = TRUE;
    if (!run_vm(r, &running)) {
        g_autoptr(GError) local = NULL;

        /* its QEMU died after the commit: the VM may have run here; it is gone */
        r->done = TRUE;
        g_free(r->error);
        r->error = log_tail(r->log_path);
        if (!xe_services_release(s->svc, r->reservation, TRUE, "xe-migrated (incoming)", &local))
            g_warning("incoming %s: %s", xe_incoming_get_id(incoming), local->message);
        g_clear_error(&local);
        xe_record_post(incoming, "exited", TRUE, "error", r->error != NULL ? r->error : "", NULL);
        if (!journal(incoming, r, XE_INCOMING_LOST, &local))
            g_warning("incoming %s: %s", xe_incoming_get_id(incoming), local->message);
        xe_log_event(G_LOG_LEVEL_WARNING, XE_MESSAGE_INCOMING, NULL, r->vf, NULL,
                     "VM %s: its QEMU died as it was started here (%s)", spec->name,
                     r->error != NULL ? r->error : "no last words");
        g_set_error(&error, XE_ERROR, XE_ERROR_COMMITTED,
                    "VM %s was committed here, and its QEMU then died: the VM is gone", spec->name);
        g_source_unref(timer);
        g_task_return_error(s->task, error);
        end_incoming(s);
        step_free(s);
        return G_SOURCE_REMOVE;
    }
    /* The VM is this host's now (running, or paused where `cont` would not take). */
    r->done = TRUE;
    if (r->client != NULL) {
        g_signal_handlers_disconnect_matched(r->client, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                             incoming);
        xe_qmp_client_close(r->client);
        g_clear_object(&r->client);
    }
    qmp = g_strdup(xe_qemu_process_get_qmp_address(r->process) + strlen("unix:"));
    {
        Adopt a = { s->svc, spec, r, qmp, running ? XE_VM_RUNNING : XE_VM_PAUSED, NULL };

        xe_call_main(xe_services_get_main(s->svc), main_adopt, &a);
        g_clear_object(&a.vm);
    }
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_INCOMING, NULL, r->vf, NULL,
                 "VM %s arrived and %s on %s", spec->name, running ? "runs" : "stays paused",
                 r->vf);
    if (running)
        g_task_return_boolean(s->task, TRUE);
    else
        g_task_return_new_error(s->task, XE_ERROR, XE_ERROR_COMMITTED,
                                "VM %s is this host's, but its QEMU stays paused after cont",
                                spec->name);
    /* Recorded after the answer: the source's wait (the guest's downtime) holds one fsync,
     * the commit's. Until these land, the committed incoming is what a restart goes by. */
    if (!engine_vm_store(r->settings, spec, qmp, r->vf, r->process, FALSE, &error)) {
        g_warning("%s", error->message);
        g_clear_error(&error);
    }
    if (!journal(incoming, r, XE_INCOMING_RUNNING, &error)) {
        g_warning("incoming %s: %s", xe_incoming_get_id(incoming), error->message);
        g_clear_error(&error);
    }
    g_source_unref(timer);
    end_incoming(s);
    step_free(s);
    return G_SOURCE_REMOVE;

out:
    g_source_unref(timer);
    g_task_return_error(s->task, error);
    step_free(s);
    return G_SOURCE_REMOVE;
}

/* An incoming that is over answers by how it ended; NULL when it is not over. */
static GError *
over_answer(XeIncoming *incoming, gboolean finishing)
{
    g_autofree char *state = NULL;
    g_autofree char *why = NULL;
    XeIncomingState st;

    g_object_get(incoming, "state", &state, "error", &why, NULL);
    if (!xe_incoming_state_from_string(state, &st))
        return NULL;
    switch (st) {
    case XE_INCOMING_RUNNING:
        return finishing ? g_error_new_literal(XE_ERROR, XE_ERROR_FAILED, "") /* success */
                         : g_error_new(XE_ERROR, XE_ERROR_COMMITTED,
                                       "incoming %s: VM %s runs here; it cannot be aborted",
                                       xe_incoming_get_id(incoming),
                                       xe_incoming_get_spec(incoming)->name);
    case XE_INCOMING_COMMITTED:
        return finishing ? NULL /* on its worker */
                         : g_error_new(XE_ERROR, XE_ERROR_COMMITTED,
                                       "incoming %s: VM %s is being started here; it cannot be "
                                       "aborted",
                                       xe_incoming_get_id(incoming),
                                       xe_incoming_get_spec(incoming)->name);
    case XE_INCOMING_LOST:
        return g_error_new(XE_ERROR, XE_ERROR_COMMITTED,
                           "incoming %s: VM %s was committed here, and its QEMU then died (%s)",
                           xe_incoming_get_id(incoming), xe_incoming_get_spec(incoming)->name, why);
    case XE_INCOMING_ABORTED:
    case XE_INCOMING_FAILED:
        return finishing
                   ? g_error_new(XE_ERROR, XE_ERROR_FAILED, "incoming %s %s before it ran: %s",
                                 xe_incoming_get_id(incoming), state, why)
                   : g_error_new_literal(XE_ERROR, XE_ERROR_FAILED, ""); /* success */
    default:
        return NULL;
    }
}

void
incoming_finish(XeServices *svc, XeIncoming *incoming, guint timeout_ms, GTask *task)
{
    Step *s = step_new(svc, incoming, task);
    g_autofree char *id = worker_id(incoming);
    XeWorker *worker = xe_services_worker_lookup(svc, id);
    GError *over = over_answer(incoming, TRUE);

    s->timeout_ms = CLAMP(timeout_ms, 1000, 600000);
    if (over != NULL && *over->message == '\0') {
        g_error_free(over);
        g_task_return_boolean(task, TRUE); /* it runs here already */
    } else if (over != NULL) {
        g_task_return_error(task, over);
    } else if (worker == NULL) {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_FAILED, "incoming %s is over",
                                xe_incoming_get_id(incoming));
    } else {
        xe_worker_invoke(worker, finish_thread, s, NULL);
        return;
    }
    step_free(s);
}

static gboolean
abort_thread(gpointer data)
{
    Step *s = data;
    Run *r = run_of(s->incoming);

    if (r->committed) {
        g_task_return_new_error(s->task, XE_ERROR, XE_ERROR_COMMITTED,
                                "incoming %s: VM %s was started here; it cannot be aborted",
                                xe_incoming_get_id(s->incoming),
                                xe_incoming_get_spec(s->incoming)->name);
    } else {
        if (!r->done) {
            teardown(s->svc, s->incoming, XE_INCOMING_ABORTED, s->why);
            end_incoming(s);
        }
        g_task_return_boolean(s->task, TRUE);
    }
    step_free(s);
    return G_SOURCE_REMOVE;
}

void
incoming_abort(XeServices *svc, XeIncoming *incoming, const char *why, GTask *task)
{
    Step *s = step_new(svc, incoming, task);
    g_autofree char *id = worker_id(incoming);
    XeWorker *worker = xe_services_worker_lookup(svc, id);
    GError *over = over_answer(incoming, FALSE);

    s->why = g_strdup(why != NULL ? why : "aborted by the source");
    if (over != NULL && *over->message == '\0') {
        g_error_free(over);
        g_task_return_boolean(task, TRUE); /* ended before it ran: nothing to undo */
    } else if (over != NULL) {
        g_task_return_error(task, over);
    } else if (worker == NULL) {
        g_task_return_boolean(task, TRUE);
    } else {
        xe_worker_invoke(worker, abort_thread, s, NULL);
        return;
    }
    step_free(s);
}

/* restart */

void
incoming_reconcile(XeServices *svc, const XeEngineSettings *s, XeIncomingEntry *e)
{
    g_autoptr(GError) error = NULL;
    gboolean alive;

    /* died before the pid was on record: the QEMU is whoever holds its socket */
    if (e->pid == 0 && e->qmp != NULL && *e->qmp != '\0') {
        e->pid = xe_qmp_socket_server_pid(e->qmp);
        e->start_time = xe_process_start_time(e->pid);
    }
    alive = e->pid != 0 && xe_process_is_alive(e->pid, e->start_time);

    if (e->state == XE_INCOMING_COMMITTED && alive) {
        g_autoptr(XeVmSpec) spec = xe_vm_spec_load_from_data(e->spec, e->id, &error);
        g_autofree char *address = g_strdup_printf("unix:%s", e->qmp);
        g_auto(XeAwait) w = XE_AWAIT_INIT;
        g_autoptr(XeQmpClient) client = NULL;

        if (spec == NULL) {
            g_warning("incoming %s: %s", e->id, error->message);
            return;
        }
        /* it was to run here: make sure it does (cont may never have been sent) */
        client = engine_qmp_connect(address, NULL, NULL);
        if (client != NULL) {
            (void)XE_AWAIT_CALL(&w, xe_qmp_cont_async(client, NULL, xe_await_cb, &w),
                                xe_qmp_cont_finish(client, xe_await(&w), NULL));
            xe_qmp_client_close(client);
        }
        g_free(spec->qmp);
        g_free(spec->vf);
        spec->qmp = g_strdup(e->qmp);
        spec->vf = g_strdup(e->vf);
        if (!xe_journal_put_vm(s->state_dir, spec, e->pid, e->start_time, FALSE, &error)) {
            g_warning("incoming %s: %s", e->id, error->message);
            return; /* stays committed: the next start tries again */
        }
        e->state = XE_INCOMING_RUNNING;
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_INCOMING, NULL, e->vf, NULL,
                     "incoming %s: VM %s was committed here before the restart; it is this "
                     "host's",
                     e->id, e->vm);
    } else {
        /* never committed: it never ran here; or committed and its QEMU is gone */
        if (alive && !xe_process_kill_wait(e->pid, e->start_time, 10000))
            g_warning("incoming %s: QEMU %u did not die", e->id, e->pid);
        if (e->reservation != NULL && *e->reservation != '\0' &&
            !xe_services_release(svc, e->reservation, TRUE, "xe-migrated (restart)", &error)) {
            g_warning("incoming %s: %s", e->id, error->message);
            g_clear_error(&error);
        }
        if (e->qmp != NULL && *e->qmp != '\0')
            (void)g_unlink(e->qmp);
        g_free(e->error);
        e->error = g_strdup(e->state == XE_INCOMING_COMMITTED
                                ? "its QEMU ended while xe-migrated was down"
                                : "xe-migrated restarted before it was committed");
        e->state = e->state == XE_INCOMING_COMMITTED ? XE_INCOMING_LOST : XE_INCOMING_ABORTED;
        xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_INCOMING, NULL, e->vf, NULL,
                     "incoming %s of VM %s %s after the restart; %s reset and released", e->id,
                     e->vm, xe_incoming_state_to_string(e->state), e->vf != NULL ? e->vf : "no VF");
    }
    if (!xe_journal_put_incoming(s->state_dir, e, &error))
        g_warning("incoming %s: %s", e->id, error->message);
}
