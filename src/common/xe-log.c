/* xe-log.c: structured journal events.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migrated"

#include "xe-log.h"

#include <string.h>

void
xe_log_event(GLogLevelFlags level, const char *message_id, const char *pf, const char *vf,
             const char *caller, const char *format, ...)
{
    va_list ap;
    g_autofree char *message = NULL;
    const GLogField fields[] = {
        { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
        { "MESSAGE_ID", message_id, -1 },
        { "MESSAGE", NULL, -1 },
        { "XE_PF", pf != NULL ? pf : "", -1 },
        { "XE_VF", vf != NULL ? vf : "", -1 },
        { "XE_CALLER", caller != NULL ? caller : "", -1 },
    };
    GLogField copy[G_N_ELEMENTS(fields)];

    va_start(ap, format);
    message = g_strdup_vprintf(format, ap);
    va_end(ap);
    memcpy(copy, fields, sizeof(fields));
    copy[2].value = message;
    g_log_structured_array(level, copy, G_N_ELEMENTS(copy));
}
