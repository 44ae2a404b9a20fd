/* xe-job-run.c: a running job's phases, timings, failed attempts and hooks (xe-job-run.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-job"

#include "xe-job-run.h"

#include "xe-log.h"
#include "xe-worker.h"

void
xe_job_run_init(XeJobRun *run, XeServices *svc, XeJob *job)
{
    *run = (XeJobRun){
        .svc = g_object_ref(svc),
        .job = g_object_ref(job),
        .timings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free),
        .attempts = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref),
    };
}

void
xe_job_run_clear(XeJobRun *run)
{
    g_clear_object(&run->svc);
    g_clear_object(&run->job);
    g_clear_pointer(&run->timings, g_hash_table_unref);
    g_clear_pointer(&run->attempts, g_ptr_array_unref);
}

static GVariant *
timings_variant(XeJobRun *run)
{
    GVariantBuilder b;
    GHashTableIter iter;
    gpointer key, value;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
    g_hash_table_iter_init(&iter, run->timings);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_variant_builder_add(&b, "{st}", key, *(guint64 *)value);
    return g_variant_builder_end(&b);
}

void
xe_job_run_phase(XeJobRun *run, XeJobPhase phase)
{
    gint64 now = g_get_monotonic_time();

    if (run->in_phase) {
        const char *name = xe_job_phase_to_string(run->phase); /* static: a key as it is */
        guint64 *ms = g_hash_table_lookup(run->timings, name);

        if (ms == NULL) {
            ms = g_new0(guint64, 1);
            g_hash_table_insert(run->timings, (gpointer)name, ms);
        }
        *ms += (guint64)(now - run->phase_started) / 1000;
    }
    run->phase = phase;
    run->in_phase = TRUE;
    run->phase_started = now;
    xe_record_post(run->job, "phase", xe_job_phase_to_string(phase), "timings",
                   timings_variant(run), NULL);
}

void
xe_job_run_attempt_failed(XeJobRun *run, guint attempt, XeFailureClass klass, const char *reason,
                          const char *destination_vf, gint64 started)
{
    g_ptr_array_add(run->attempts, g_variant_ref_sink(g_variant_new(
                                       "(ussst)", attempt, xe_failure_to_string(klass), reason,
                                       destination_vf != NULL ? destination_vf : "",
                                       (guint64)(g_get_monotonic_time() - started) / 1000)));
    xe_record_post(run->job, "attempts",
                   g_variant_new_array(G_VARIANT_TYPE("(ussst)"), (GVariant **)run->attempts->pdata,
                                       run->attempts->len),
                   NULL);
}

typedef struct {
    XeJob *job;
    JsonNode *doc;
} JobJson;

static gboolean
main_job_json(gpointer data)
{
    JobJson *j = data;

    j->doc = xe_job_to_json(j->job);
    return G_SOURCE_REMOVE;
}

gboolean
xe_job_run_hooks(XeJobRun *run, const char *hook_phase, const char *vf, const char *destination_vf,
                 GError **error)
{
    JobJson j = { run->job, NULL };
    g_autoptr(JsonNode) doc = NULL;
    JsonObject *obj;

    /* after every change posted so far */
    xe_call_main(xe_services_get_main(run->svc), main_job_json, &j);
    doc = j.doc;
    obj = json_node_get_object(doc);
    json_object_set_string_member(obj, "phase", hook_phase);
    json_object_set_string_member(obj, "job-phase",
                                  run->in_phase ? xe_job_phase_to_string(run->phase) : "");
    json_object_set_string_member(obj, "vf", vf != NULL ? vf : "");
    json_object_set_string_member(obj, "destination-vf",
                                  destination_vf != NULL ? destination_vf : "");
    return xe_services_hooks(run->svc, hook_phase, doc, error);
}

void
xe_job_run_inform(XeJobRun *run, const char *hook_phase, const char *vf, const char *destination_vf)
{
    (void)xe_job_run_hooks(run, hook_phase, vf, destination_vf, NULL);
}

gboolean
xe_job_run_backoff(XeJobRun *run, const XePolicy *policy, guint attempt, XeFailureClass klass,
                   const char *reason, const char *vf, const char *destination_vf,
                   GCancellable *cancellable)
{
    guint64 delay = xe_policy_backoff_ms(policy, attempt, g_random_double_range(-1, 1));

    xe_job_run_phase(run, XE_JOB_PHASE_BACKOFF);
    xe_log_event(G_LOG_LEVEL_MESSAGE, XE_MESSAGE_MIGRATION_RETRYING, NULL, vf, NULL,
                 "job %s: attempt %u failed (%s: %s); retrying in %" G_GUINT64_FORMAT " ms",
                 xe_job_get_id(run->job), attempt, xe_failure_to_string(klass), reason, delay);
    xe_job_run_inform(run, "retrying", vf, destination_vf);
    return xe_sleep(delay, cancellable);
}
