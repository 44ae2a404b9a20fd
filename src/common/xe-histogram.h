/* xe-histogram.h: a Prometheus histogram: cumulative counts under fixed upper bounds, the
 * sum and the count of what was observed, and its text exposition. Not thread-safe: one
 * owner observes (on the daemon's main context) and renders.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XE_HISTOGRAM_MAX_BUCKETS 16

typedef struct {
    guint n_bounds;
    double bounds[XE_HISTOGRAM_MAX_BUCKETS]; /* ascending; +Inf is implied */
    guint64 counts[XE_HISTOGRAM_MAX_BUCKETS + 1];
    double sum;
    guint64 count;
} XeHistogram;

/* @bounds: @n ascending upper bounds (at most XE_HISTOGRAM_MAX_BUCKETS). */
void xe_histogram_init(XeHistogram *h, const double *bounds, guint n);
void xe_histogram_observe(XeHistogram *h, double value);
/* Appends NAME_bucket{LABELS,le="..."}, NAME_sum{LABELS} and NAME_count{LABELS} lines;
 * @labels is "" or 'key="value",...' without braces. */
void xe_histogram_render(const XeHistogram *h, const char *name, const char *labels, GString *out);

G_END_DECLS
