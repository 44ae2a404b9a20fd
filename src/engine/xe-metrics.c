/* xe-metrics.c: the Prometheus exposition of xe-metrics.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-engine"

#include "xe-metrics.h"

#include "xe-histogram.h"

struct _XeMetrics {
    GHashTable *ended; /* "result\nclass" -> guint64 */
    guint64 attempts;
    XeHistogram downtime; /* seconds */
    XeHistogram duration; /* seconds */
    guint64 ram_bytes;
    guint64 device_bytes;
};

XeMetrics *
xe_metrics_new(void)
{
    static const double downtime[] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60 };
    static const double duration[] = { 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800 };
    XeMetrics *m = g_new0(XeMetrics, 1);

    m->ended = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    xe_histogram_init(&m->downtime, downtime, G_N_ELEMENTS(downtime));
    xe_histogram_init(&m->duration, duration, G_N_ELEMENTS(duration));
    return m;
}

void
xe_metrics_free(XeMetrics *m)
{
    if (m == NULL)
        return;
    g_hash_table_unref(m->ended);
    g_free(m);
}

void
xe_metrics_job_ended(XeMetrics *m, XeJob *job)
{
    g_autofree char *state = NULL, *klass = NULL, *key = NULL;
    guint attempt = 0;
    guint64 downtime = 0, ram = 0, device = 0, *count;
    gint64 started = 0, finished = 0;

    if (g_object_get_data(G_OBJECT(job), "xe-metrics-counted") != NULL)
        return;
    g_object_set_data(G_OBJECT(job), "xe-metrics-counted", GINT_TO_POINTER(TRUE));
    g_object_get(job, "state", &state, "failure-class", &klass, "attempt", &attempt, "downtime",
                 &downtime, "ram-transferred", &ram, "device-bytes", &device, "started", &started,
                 "finished", &finished, NULL);
    key = g_strdup_printf("%s\n%s", state, klass != NULL && *klass != '\0' ? klass : "none");
    if ((count = g_hash_table_lookup(m->ended, key)) == NULL) {
        count = g_new0(guint64, 1);
        g_hash_table_insert(m->ended, g_strdup(key), count);
    }
    (*count)++;
    m->attempts += attempt;
    if (finished > started)
        xe_histogram_observe(&m->duration, (finished - started) / (double)G_USEC_PER_SEC);
    if (g_strcmp0(state, xe_job_state_to_string(XE_JOB_COMPLETED)) == 0) {
        /* (a job a restart finished knows no downtime: none is made up) */
        if (downtime > 0)
            xe_histogram_observe(&m->downtime, downtime / 1000.0);
        m->ram_bytes += ram;
        m->device_bytes += device;
    }
}

/* a label value as the exposition format quotes it */
static char *
label(const char *value)
{
    GString *out = g_string_new(NULL);

    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\\' || *c == '"')
            g_string_append_c(out, '\\');
        if (*c == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *c);
    }
    return g_string_free(out, FALSE);
}

static void
help(GString *out, const char *name, const char *type, const char *text)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A counter without labels: its help, its type and its value. */
static void
counter(GString *out, const char *name, const char *text, guint64 value)
{
    help(out, name, "counter", text);
    g_string_append_printf(out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

char *
xe_metrics_render(XeMetrics *m, XeAgent *agent)
{
    static const char *const states[] = { "pool", "reserved", "in_use", "busy", "free" };
    GString *out = g_string_new(NULL);
    g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(m->ended), (GCompareFunc)g_strcmp0);
    GPtrArray *pfs = xe_agent_get_pfs(agent);
    GPtrArray *vfs = xe_agent_get_vfs(agent);

    help(out, "xe_migrated_migrations_total", "counter",
         "Migration jobs ended since the daemon started, by result and failure class.");
    for (GList *l = keys; l != NULL; l = l->next) {
        g_auto(GStrv) parts = g_strsplit(l->data, "\n", 2);
        g_autofree char *result = label(parts[0]), *klass = label(parts[1]);

        g_string_append_printf(out,
                               "xe_migrated_migrations_total{result=\"%s\",class=\"%s\"} "
                               "%" G_GUINT64_FORMAT "\n",
                               result, klass, *(guint64 *)g_hash_table_lookup(m->ended, l->data));
    }
    counter(out, "xe_migrated_migration_attempts_total",
            "Attempts of the migration jobs ended (a retried job counts each).", m->attempts);
    help(out, "xe_migrated_migration_downtime_seconds", "histogram",
         "Guest-visible downtime of the completed migrations.");
    xe_histogram_render(&m->downtime, "xe_migrated_migration_downtime_seconds", "", out);
    help(out, "xe_migrated_migration_duration_seconds", "histogram",
         "Time from a migration's request to its end, all results.");
    xe_histogram_render(&m->duration, "xe_migrated_migration_duration_seconds", "", out);
    counter(out, "xe_migrated_migration_ram_bytes_total",
            "Guest RAM the completed migrations moved.", m->ram_bytes);
    counter(out, "xe_migrated_migration_device_bytes_total",
            "VF device state (VRAM included) the completed migrations moved.", m->device_bytes);
    help(out, "xe_migrated_vfs", "gauge",
         "This host's Xe VFs by state: in the warm pool, reserved by a caller, in use (held "
         "for a VM, a libvirt domain or an incoming migration), busy (being prepared), free.");
    for (guint p = 0; p < pfs->len; p++) {
        const char *pf = ((XePfInfo *)pfs->pdata[p])->bdf;
        g_autofree char *pf_label = label(pf);
        guint count[G_N_ELEMENTS(states)] = { 0 };

        for (guint i = 0; i < vfs->len; i++) {
            const XeAgentVf *vf = vfs->pdata[i];

            if (g_strcmp0(vf->info.pf_bdf, pf) != 0)
                continue;
            if (*vf->reservation != '\0')
                /* a VM's, a domain's or an incoming's: a QEMU has it, or is about to */
                count[xe_agent_reservation_owner_kind(agent, vf->reservation) ==
                              XE_RESERVATION_OWNER_CALLER
                          ? 1
                          : 2]++;
            else
                count[vf->in_use ? 3 : vf->in_pool ? 0 : 4]++;
        }
        for (guint s = 0; s < G_N_ELEMENTS(states); s++)
            g_string_append_printf(out, "xe_migrated_vfs{pf=\"%s\",state=\"%s\"} %u\n", pf_label,
                                   states[s], count[s]);
    }
    help(out, "xe_migrated_reservation_seconds", "histogram",
         "Time from a VF reservation's request until it was on disk.");
    xe_histogram_render(xe_agent_get_reserve_latency(agent), "xe_migrated_reservation_seconds", "",
                        out);
    return g_string_free(out, FALSE);
}
