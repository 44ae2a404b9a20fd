/* xe-histogram.c: a Prometheus histogram (xe-histogram.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "xe-histogram.h"

void
xe_histogram_init(XeHistogram *h, const double *bounds, guint n)
{
    *h = (XeHistogram){ .n_bounds = MIN(n, XE_HISTOGRAM_MAX_BUCKETS) };
    for (guint i = 0; i < h->n_bounds; i++)
        h->bounds[i] = bounds[i];
}

void
xe_histogram_observe(XeHistogram *h, double value)
{
    guint i = 0;

    while (i < h->n_bounds && value > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += value;
    h->count++;
}

void
xe_histogram_render(const XeHistogram *h, const char *name, const char *labels, GString *out)
{
    const char *sep = *labels != '\0' ? "," : "";
    char number[G_ASCII_DTOSTR_BUF_SIZE];
    guint64 cumulative = 0;

    for (guint i = 0; i <= h->n_bounds; i++) {
        cumulative += h->counts[i];
        if (i < h->n_bounds)
            g_ascii_formatd(number, sizeof(number), "%g", h->bounds[i]);
        g_string_append_printf(out, "%s_bucket{%s%sle=\"%s\"} %" G_GUINT64_FORMAT "\n", name,
                               labels, sep, i < h->n_bounds ? number : "+Inf", cumulative);
    }
    g_ascii_formatd(number, sizeof(number), "%.6f", h->sum);
    g_string_append_printf(out, "%s_sum%s%s%s %s\n", name, *labels != '\0' ? "{" : "", labels,
                           *labels != '\0' ? "}" : "", number);
    g_string_append_printf(out, "%s_count%s%s%s %" G_GUINT64_FORMAT "\n", name,
                           *labels != '\0' ? "{" : "", labels, *labels != '\0' ? "}" : "",
                           h->count);
}
