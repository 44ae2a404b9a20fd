/* xe-metrics.h: what xe-migrated tells Prometheus, in the text exposition format (for
 * node_exporter's textfile collector, and `xe-migratectl metrics`):
 *
 *   xe_migrated_migrations_total{result,class}     jobs ended: completed, failed, cancelled,
 *                                                  with their failure class ("none")
 *   xe_migrated_migration_attempts_total           attempts of the jobs ended
 *   xe_migrated_migration_downtime_seconds         histogram: guest-visible downtime of the
 *                                                  completed jobs
 *   xe_migrated_migration_duration_seconds         histogram: request to end, all jobs ended
 *   xe_migrated_migration_ram_bytes_total          RAM and device state the completed jobs
 *   xe_migrated_migration_device_bytes_total       moved
 *   xe_migrated_vfs{pf,state}                      this host's VFs: pool (kept ready),
 *                                                  reserved (by a caller), in_use (held for
 *                                                  a VM, a libvirt domain or an incoming),
 *                                                  busy (being prepared), free
 *   xe_migrated_reservation_seconds                histogram: a reservation's request until
 *                                                  it was on disk
 *
 * Counters run from the daemon's start. Main context only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-agent.h"
#include "xe-job.h"

G_BEGIN_DECLS

typedef struct _XeMetrics XeMetrics;

XeMetrics *xe_metrics_new(void);
void xe_metrics_free(XeMetrics *metrics);
/* @job ended (its "finished" is set): its result and figures, counted once. */
void xe_metrics_job_ended(XeMetrics *metrics, XeJob *job);
char *xe_metrics_render(XeMetrics *metrics, XeAgent *agent);

G_END_DECLS
