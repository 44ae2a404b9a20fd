/* xe-policy.h: migration policies (policy/NAME.policy, GKeyFile) and the
 * device-aware downtime arithmetic they drive.
 *
 * xe-vfio-pci has no pre-copy: the whole VF state, VRAM included, moves while
 * the guest is stopped. So the downtime a migration needs is at least the
 * VF's migration_size plus the RAM still dirty at switchover, over the
 * bandwidth available then; QEMU's default 300 ms limit never converges for
 * a VF with gigabytes of state. A policy states the budget the guest may be
 * stopped for, and the engine refuses up front a migration whose estimate
 * exceeds it, or steps QEMU's downtime-limit from the estimate up to the
 * budget while RAM converges (instead of Nova's fixed steps from a guess).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *name;
    guint64 downtime_budget_ms;    /* the most the guest may be stopped */
    guint64 switchover_bandwidth;  /* bytes/s at switchover; 0 = measure (QEMU's estimate) */
    guint64 device_bandwidth;      /* bytes/s the VF saves and restores at; 0 = not limiting */
    guint64 max_bandwidth;         /* bytes/s during the live phase; 0 = unlimited */
    guint64 setup_overhead_ms;     /* fixed cost of a switchover beyond moving bytes */
    guint downtime_steps;          /* downtime-limit steps from the estimate to the budget */
    guint64 step_interval_ms;      /* time between steps */
    gboolean auto_converge;        /* throttle the vCPUs when RAM does not converge */
    guint64 completion_timeout_ms; /* the whole migration */
    guint64 stall_timeout_ms;      /* no progress in RAM or device bytes for this long */
    guint64 switchover_ack_timeout_ms;
    guint retries; /* further attempts after a retryable failure */
    guint64 backoff_initial_ms;
    guint64 backoff_max_ms;
    double backoff_jitter; /* 0..1: +- this fraction of each delay */
    gboolean multifd;
    guint multifd_channels;
    gboolean vfio_multifd; /* x-migration-multifd-transfer (QEMU >= 10.0) */
} XePolicy;

/* The built-in default (what policy/default.policy says). */
XePolicy *xe_policy_new_default(void);
XePolicy *xe_policy_load(const char *path, GError **error);
XePolicy *xe_policy_load_from_data(const char *data, const char *name, GError **error);
void xe_policy_free(XePolicy *policy);

/* The downtime the switchover needs, in ms: @vf_state_bytes over @bandwidth (bytes/s) or
 * the policy's device bandwidth, whichever is slower (the VF's state streams through both),
 * plus @ram_residual_bytes over @bandwidth, plus the policy's fixed overhead. @bandwidth 0
 * uses the policy's switchover bandwidth. */
guint64 xe_policy_estimate_downtime_ms(const XePolicy *policy, guint64 vf_state_bytes,
                                       guint64 ram_residual_bytes, guint64 bandwidth);

/* Pre-flight: FALSE with XE_ERROR_NOT_SUPPORTED and a sentence naming the
 * numbers and what to change when the estimate exceeds the budget. */
gboolean xe_policy_check_budget(const XePolicy *policy, guint64 vf_state_bytes,
                                guint64 ram_residual_bytes, guint64 bandwidth, GError **error);

/* The downtime-limit for step @step (0-based) of the policy's steps: from
 * @estimate_ms (at least) up to the budget, evenly. */
guint64 xe_policy_downtime_step_ms(const XePolicy *policy, guint64 estimate_ms, guint step);

/* The delay before retry @attempt (1 = the first retry): exponential from
 * backoff_initial_ms, capped at backoff_max_ms, scaled by (1 + jitter * @u)
 * with @u uniform in [-1, 1] (pass g_random_double_range(-1, 1)). */
guint64 xe_policy_backoff_ms(const XePolicy *policy, guint attempt, double u);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XePolicy, xe_policy_free)

G_END_DECLS
