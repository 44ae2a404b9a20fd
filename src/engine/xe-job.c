/* xe-job.c: XeJob, a migration job (see xe-job.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-job"

#include "xe-job.h"

#include "xe-error.h"

#define S(n)    g_param_spec_string(n, NULL, NULL, "", 0)
#define U(n)    g_param_spec_uint(n, NULL, NULL, 0, G_MAXUINT, 0, 0)
#define T(n)    g_param_spec_uint64(n, NULL, NULL, 0, G_MAXUINT64, 0, 0)
#define X(n)    g_param_spec_int64(n, NULL, NULL, 0, G_MAXINT64, 0, 0)
#define B(n)    g_param_spec_boolean(n, NULL, NULL, FALSE, 0)
#define V(n, t) g_param_spec_variant(n, NULL, NULL, G_VARIANT_TYPE(t), NULL, 0)

struct _XeJob {
    XeRecord parent_instance;
    char *id;
    GCancellable *cancellable;
    GCancellable *wake; /* cancelled when an operator resolves a waiting job */
    gint awaiting;      /* (atomic) the job waits for its destination's word */
    gint resolution;    /* (atomic) XeJobResolution */
};

G_DEFINE_TYPE(XeJob, xe_job, XE_TYPE_RECORD)

static const char *const states[] = {
    [XE_JOB_QUEUED] = "queued", [XE_JOB_RUNNING] = "running",     [XE_JOB_COMPLETED] = "completed",
    [XE_JOB_FAILED] = "failed", [XE_JOB_CANCELLED] = "cancelled",
};

static const char *const phases[] = {
    [XE_JOB_PHASE_PREFLIGHT] = "preflight",
    [XE_JOB_PHASE_PREPARING_DESTINATION] = "preparing-destination",
    [XE_JOB_PHASE_MIGRATING] = "migrating",
    [XE_JOB_PHASE_SWITCHOVER] = "switchover",
    [XE_JOB_PHASE_VERIFYING] = "verifying",
    [XE_JOB_PHASE_CLEANUP] = "cleanup",
    [XE_JOB_PHASE_BACKOFF] = "backoff",
    [XE_JOB_PHASE_DONE] = "done",
};

const char *
xe_job_state_to_string(XeJobState state)
{
    g_return_val_if_fail((guint)state < G_N_ELEMENTS(states), "unknown");
    return states[state];
}

const char *
xe_job_phase_to_string(XeJobPhase phase)
{
    g_return_val_if_fail((guint)phase < G_N_ELEMENTS(phases), "unknown");
    return phases[phase];
}

static void
xe_job_finalize(GObject *object)
{
    XeJob *self = XE_JOB(object);

    g_free(self->id);
    g_clear_object(&self->cancellable);
    g_clear_object(&self->wake);
    G_OBJECT_CLASS(xe_job_parent_class)->finalize(object);
}

static void
xe_job_init(XeJob *self)
{
    self->cancellable = g_cancellable_new();
    self->wake = g_cancellable_new();
}

static void
xe_job_class_init(XeJobClass *klass)
{
    GParamSpec *p[] = {
        NULL,
        S("id"),
        S("vm"),
        S("destination"),
        S("policy"),
        S("caller"),
        S("state"),
        S("phase"),
        U("attempt"),
        U("max-attempts"),
        T("ram-transferred"),
        T("ram-total"),
        T("ram-remaining"),
        T("device-bytes"),
        S("device-state"),
        T("throughput"),
        T("downtime-limit"),
        T("expected-downtime"),
        T("downtime"),
        T("qemu-downtime"),
        T("total-time"),
        T("time-to-running"),
        V("timings", "a{st}"),
        V("attempts", "a(ussst)"),
        S("failure-class"),
        S("failure-reason"),
        X("started"),
        X("finished"),
    };

    G_OBJECT_CLASS(klass)->finalize = xe_job_finalize;
    xe_record_class_install(XE_RECORD_CLASS(klass), p, G_N_ELEMENTS(p));
}

XeJob *
xe_job_new(GMainContext *context, const char *id, const char *vm, const char *destination,
           const char *policy, const char *caller)
{
    XeJob *job = g_object_new(
        XE_TYPE_JOB, "id", id, "vm", vm, "destination", destination, "policy", policy, "caller",
        caller, "state", states[XE_JOB_QUEUED], "phase", phases[XE_JOB_PHASE_PREFLIGHT], "started",
        g_get_real_time(), "timings", g_variant_new_array(G_VARIANT_TYPE("{st}"), NULL, 0),
        "attempts", g_variant_new_array(G_VARIANT_TYPE("(ussst)"), NULL, 0), NULL);

    xe_record_bind(job, context);
    job->id = g_strdup(id);
    return job;
}

const char *
xe_job_get_id(XeJob *job)
{
    return job->id;
}

GCancellable *
xe_job_get_cancellable(XeJob *job)
{
    return job->cancellable;
}

void
xe_job_cancel(XeJob *job)
{
    g_cancellable_cancel(job->cancellable);
}

GCancellable *
xe_job_get_wake(XeJob *job)
{
    return job->wake;
}

void
xe_job_set_awaiting(XeJob *job, gboolean awaiting)
{
    g_atomic_int_set(&job->awaiting, awaiting);
}

gboolean
xe_job_resolve(XeJob *job, const char *where, GError **error)
{
    XeJobResolution r =
        g_strcmp0(where, "source")
            ? g_strcmp0(where, "destination") ? XE_JOB_UNRESOLVED : XE_JOB_VM_ON_DESTINATION
            : XE_JOB_VM_ON_SOURCE;

    if (r == XE_JOB_UNRESOLVED) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "job %s: '%s' is not where a VM runs: 'source' or 'destination'", job->id,
                    where != NULL ? where : "");
        return FALSE;
    }
    if (!g_atomic_int_get(&job->awaiting)) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "job %s does not wait for its destination's word: nothing to resolve", job->id);
        return FALSE;
    }
    g_atomic_int_set(&job->resolution, r);
    g_cancellable_cancel(job->wake);
    return TRUE;
}

XeJobResolution
xe_job_take_resolution(XeJob *job)
{
    XeJobResolution r = (XeJobResolution)g_atomic_int_and(&job->resolution, 0);

    /* a word is for the wait it ended, never for a later one */
    if (r != XE_JOB_UNRESOLVED)
        g_cancellable_reset(job->wake);
    return r;
}

gboolean
xe_job_is_finished(XeJob *job)
{
    g_autofree char *state = NULL;

    g_object_get(job, "state", &state, NULL);
    return g_strcmp0(state, states[XE_JOB_COMPLETED]) == 0 ||
           g_strcmp0(state, states[XE_JOB_FAILED]) == 0 ||
           g_strcmp0(state, states[XE_JOB_CANCELLED]) == 0;
}

JsonNode *
xe_job_to_json(XeJob *job)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree GParamSpec **props = NULL;
    guint n;

    props = g_object_class_list_properties(G_OBJECT_GET_CLASS(job), &n);
    json_builder_begin_object(b);
    for (guint i = 0; i < n; i++) {
        g_auto(GValue) v = G_VALUE_INIT;

        g_value_init(&v, props[i]->value_type);
        g_object_get_property(G_OBJECT(job), props[i]->name, &v);
        json_builder_set_member_name(b, props[i]->name);
        switch (props[i]->value_type) {
        case G_TYPE_STRING:
            json_builder_add_string_value(b, g_value_get_string(&v));
            break;
        case G_TYPE_UINT:
            json_builder_add_int_value(b, g_value_get_uint(&v));
            break;
        case G_TYPE_UINT64:
            json_builder_add_int_value(b, (gint64)g_value_get_uint64(&v));
            break;
        case G_TYPE_INT64:
            json_builder_add_int_value(b, g_value_get_int64(&v));
            break;
        case G_TYPE_BOOLEAN:
            json_builder_add_boolean_value(b, g_value_get_boolean(&v));
            break;
        default: {
            GVariant *variant = g_value_get_variant(&v);

            if (variant != NULL)
                json_builder_add_value(b, json_gvariant_serialize(variant));
            else
                json_builder_add_null_value(b);
        }
        }
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
