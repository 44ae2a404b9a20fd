/* xe-policy.c: loading policies and the downtime arithmetic.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-policy"

#include "xe-policy.h"

#include <math.h>
#include <string.h>

#include "xe-error.h"
#include "xe-profile.h" /* xe_size_parse() */

#define GROUP "policy"

void
xe_policy_free(XePolicy *policy)
{
    if (policy == NULL)
        return;
    g_free(policy->name);
    g_free(policy);
}

XePolicy *
xe_policy_new_default(void)
{
    XePolicy *p = g_new0(XePolicy, 1);

    p->name = g_strdup("default");
    p->downtime_budget_ms = 2000;
    p->switchover_bandwidth = 0;
    p->device_bandwidth = 0;
    p->max_bandwidth = 0;
    p->setup_overhead_ms = 50;
    p->downtime_steps = 4;
    p->step_interval_ms = 5000;
    p->auto_converge = FALSE;
    p->completion_timeout_ms = 600000;
    p->stall_timeout_ms = 30000;
    p->switchover_ack_timeout_ms = 30000;
    p->retries = 3;
    p->backoff_initial_ms = 1000;
    p->backoff_max_ms = 30000;
    p->backoff_jitter = 0.2;
    p->multifd = FALSE;
    p->multifd_channels = 2;
    p->vfio_multifd = FALSE;
    return p;
}

/* Sets @error and returns NULL, for the parser's early returns. */
static gpointer G_GNUC_PRINTF(3, 4)
    policy_error(GError **error, const char *name, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: [" GROUP "] %s", name, what);
    return NULL;
}

typedef enum { KEY_U64, KEY_UINT, KEY_BOOL, KEY_FRACTION, KEY_BANDWIDTH } KeyKind;

static const struct {
    const char *key;
    KeyKind kind;
    gsize offset;
    guint64 min, max;
} keys[] = {
    { "downtime-budget-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, downtime_budget_ms), 1, 2000000 },
    { "switchover-bandwidth", KEY_BANDWIDTH, G_STRUCT_OFFSET(XePolicy, switchover_bandwidth), 0,
      G_MAXINT64 },
    { "device-bandwidth", KEY_BANDWIDTH, G_STRUCT_OFFSET(XePolicy, device_bandwidth), 0,
      G_MAXINT64 },
    { "max-bandwidth", KEY_BANDWIDTH, G_STRUCT_OFFSET(XePolicy, max_bandwidth), 0, G_MAXINT64 },
    { "setup-overhead-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, setup_overhead_ms), 0, 60000 },
    { "downtime-steps", KEY_UINT, G_STRUCT_OFFSET(XePolicy, downtime_steps), 1, 100 },
    { "step-interval-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, step_interval_ms), 100, 3600000 },
    { "auto-converge", KEY_BOOL, G_STRUCT_OFFSET(XePolicy, auto_converge), 0, 1 },
    { "completion-timeout-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, completion_timeout_ms), 1000,
      86400000 },
    { "stall-timeout-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, stall_timeout_ms), 1000, 86400000 },
    { "switchover-ack-timeout-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, switchover_ack_timeout_ms),
      100, 3600000 },
    { "retries", KEY_UINT, G_STRUCT_OFFSET(XePolicy, retries), 0, 100 },
    { "backoff-initial-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, backoff_initial_ms), 0, 3600000 },
    { "backoff-max-ms", KEY_U64, G_STRUCT_OFFSET(XePolicy, backoff_max_ms), 0, 3600000 },
    { "backoff-jitter", KEY_FRACTION, G_STRUCT_OFFSET(XePolicy, backoff_jitter), 0, 1 },
    { "multifd", KEY_BOOL, G_STRUCT_OFFSET(XePolicy, multifd), 0, 1 },
    { "multifd-channels", KEY_UINT, G_STRUCT_OFFSET(XePolicy, multifd_channels), 1, 255 },
    { "vfio-multifd", KEY_BOOL, G_STRUCT_OFFSET(XePolicy, vfio_multifd), 0, 1 },
};

/* "auto" (0), or bytes per second: a size (K, M, G, T) with an optional "/s". */
static gboolean
parse_bandwidth(const char *text, guint64 *out)
{
    g_autofree char *t = g_strstrip(g_strdup(text));

    if (g_str_equal(t, "auto")) {
        *out = 0;
        return TRUE;
    }
    if (g_str_has_suffix(t, "/s"))
        t[strlen(t) - 2] = '\0';
    return xe_size_parse(t, out) && *out <= G_MAXINT64;
}

static XePolicy *
policy_from_keyfile(GKeyFile *kf, const char *name, GError **error)
{
    g_autoptr(XePolicy) p = xe_policy_new_default();
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_auto(GStrv) present = NULL;

    for (guint i = 0; groups[i] != NULL; i++)
        if (!g_str_equal(groups[i], GROUP)) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: unknown group [%s] (a policy has one [" GROUP "] group)", name,
                        groups[i]);
            return NULL;
        }
    present = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (guint i = 0; present != NULL && present[i] != NULL; i++) {
        g_autofree char *value = g_key_file_get_value(kf, GROUP, present[i], NULL);
        gboolean found = FALSE;

        g_strstrip(value);
        if (g_str_equal(present[i], "name")) {
            g_free(p->name);
            p->name = g_strdup(value);
            continue;
        }
        for (gsize k = 0; k < G_N_ELEMENTS(keys) && !found; k++) {
            guint8 *field = (guint8 *)p + keys[k].offset;
            guint64 v;

            if (!g_str_equal(present[i], keys[k].key))
                continue;
            found = TRUE;
            switch (keys[k].kind) {
            case KEY_BOOL:
                if (g_str_equal(value, "true") || g_str_equal(value, "false"))
                    *(gboolean *)field = g_str_equal(value, "true");
                else
                    return policy_error(error, name, "%s='%s': expected true or false", present[i],
                                        value);
                break;
            case KEY_FRACTION: {
                char *end;
                double d = g_ascii_strtod(value, &end);
                if (*value == '\0' || *end != '\0' || !(d >= 0.0 && d <= 1.0))
                    return policy_error(error, name, "%s='%s': expected a fraction from 0 to 1",
                                        present[i], value);
                *(double *)field = d;
                break;
            }
            case KEY_BANDWIDTH:
                if (!parse_bandwidth(value, &v))
                    return policy_error(error, name,
                                        "%s='%s': expected auto or bytes per second (K, M, G "
                                        "suffixes)",
                                        present[i], value);
                *(guint64 *)field = v;
                break;
            case KEY_U64:
            case KEY_UINT:
                if (!g_ascii_string_to_unsigned(value, 10, keys[k].min, keys[k].max, &v, NULL))
                    return policy_error(error, name,
                                        "%s='%s': expected a whole number from %" G_GUINT64_FORMAT
                                        " to %" G_GUINT64_FORMAT,
                                        present[i], value, keys[k].min, keys[k].max);
                if (keys[k].kind == KEY_U64)
                    *(guint64 *)field = v;
                else
                    *(guint *)field = (guint)v;
                break;
            }
        }
        if (!found)
            return policy_error(error, name, "unknown key '%s'", present[i]);
    }
    if (p->backoff_max_ms < p->backoff_initial_ms)
        return policy_error(error, name,
                            "backoff-max-ms (%" G_GUINT64_FORMAT
                            ") is below backoff-initial-ms (%" G_GUINT64_FORMAT ")",
                            p->backoff_max_ms, p->backoff_initial_ms);
    return g_steal_pointer(&p);
}

XePolicy *
xe_policy_load_from_data(const char *data, const char *name, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: %s", name, local->message);
        return NULL;
    }
    return policy_from_keyfile(kf, name, error);
}

XePolicy *
xe_policy_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &data, NULL, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "reading the policy: %s", local->message);
        return NULL;
    }
    return xe_policy_load_from_data(data, path, error);
}

guint64
xe_policy_estimate_downtime_ms(const XePolicy *policy, guint64 vf_state_bytes,
                               guint64 ram_residual_bytes, guint64 bandwidth)
{
    guint64 vf_rate;

    if (bandwidth == 0)
        bandwidth = policy->switchover_bandwidth;
    if (bandwidth == 0)
        return G_MAXUINT64; /* unknown bandwidth: cannot promise anything */
    vf_rate = policy->device_bandwidth > 0 ? MIN(bandwidth, policy->device_bandwidth) : bandwidth;
    return (guint64)ceill((long double)vf_state_bytes * 1000.0L / (long double)vf_rate +
                          (long double)ram_residual_bytes * 1000.0L / (long double)bandwidth) +
           policy->setup_overhead_ms;
}

gboolean
xe_policy_check_budget(const XePolicy *policy, guint64 vf_state_bytes, guint64 ram_residual_bytes,
                       guint64 bandwidth, GError **error)
{
    guint64 estimate =
        xe_policy_estimate_downtime_ms(policy, vf_state_bytes, ram_residual_bytes, bandwidth);
    guint64 bw = bandwidth != 0 ? bandwidth : policy->switchover_bandwidth;

    if (estimate == G_MAXUINT64) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "policy '%s': no switchover bandwidth to estimate the downtime with (set "
                    "switchover-bandwidth, or let the engine measure it)",
                    policy->name);
        return FALSE;
    }
    if (estimate <= policy->downtime_budget_ms)
        return TRUE;
    if (policy->device_bandwidth > 0 && policy->device_bandwidth < bw)
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "policy '%s': %.2f GiB of VF state at the device's %.2f GiB/s and %.2f GiB "
                    "of dirty RAM at %.2f GiB/s need about %" G_GUINT64_FORMAT " ms of downtime, "
                    "above the budget of %" G_GUINT64_FORMAT " ms; raise downtime-budget-ms, or "
                    "shrink the VF's VRAM",
                    policy->name, vf_state_bytes / 1073741824.0,
                    policy->device_bandwidth / 1073741824.0, ram_residual_bytes / 1073741824.0,
                    bw / 1073741824.0, estimate, policy->downtime_budget_ms);
    else
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "policy '%s': %.2f GiB of VF state and %.2f GiB of dirty RAM at %.2f GiB/s "
                    "need about %" G_GUINT64_FORMAT " ms of downtime, above the budget of "
                    "%" G_GUINT64_FORMAT " ms; raise downtime-budget-ms or the switchover "
                    "bandwidth, or shrink the VF's VRAM",
                    policy->name, vf_state_bytes / 1073741824.0, ram_residual_bytes / 1073741824.0,
                    bw / 1073741824.0, estimate, policy->downtime_budget_ms);
    return FALSE;
}

guint64
xe_policy_downtime_step_ms(const XePolicy *policy, guint64 estimate_ms, guint step)
{
    guint64 start = MIN(estimate_ms, policy->downtime_budget_ms);
    guint steps = MAX(policy->downtime_steps, 1);

    if (step + 1 >= steps)
        return policy->downtime_budget_ms;
    return start + (policy->downtime_budget_ms - start) * step / (steps - 1);
}

guint64
xe_policy_backoff_ms(const XePolicy *policy, guint attempt, double u)
{
    double base = (double)policy->backoff_initial_ms;
    double delay;

    for (guint i = 1; i < attempt && base < (double)policy->backoff_max_ms; i++)
        base *= 2;
    base = MIN(base, (double)policy->backoff_max_ms);
    delay = base * (1.0 + policy->backoff_jitter * CLAMP(u, -1.0, 1.0));
    return (guint64)MAX(delay, 0.0);
}
