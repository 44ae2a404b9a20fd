/* xe-failure.c: failure classification, most specific evidence first.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-failure"

#include "xe-failure.h"

#include <string.h>

static const char *const names[] = {
    [XE_FAILURE_NONE] = "none",
    [XE_FAILURE_VF_RESET] = "vf-reset",
    [XE_FAILURE_DESTINATION_DIED] = "destination-died",
    [XE_FAILURE_TRANSPORT] = "transport",
    [XE_FAILURE_INCOMPATIBLE] = "incompatible",
    [XE_FAILURE_TIMEOUT] = "timeout",
    [XE_FAILURE_CANCELLED] = "cancelled",
    [XE_FAILURE_VETOED] = "vetoed",
    [XE_FAILURE_UNKNOWN] = "unknown",
};
G_STATIC_ASSERT(G_N_ELEMENTS(names) == XE_FAILURE_UNKNOWN + 1);

const char *
xe_failure_to_string(XeFailureClass klass)
{
    return (guint)klass <= XE_FAILURE_UNKNOWN ? names[klass] : "unknown";
}

gboolean
xe_failure_is_retryable(XeFailureClass klass)
{
    return klass == XE_FAILURE_VF_RESET || klass == XE_FAILURE_DESTINATION_DIED ||
           klass == XE_FAILURE_TRANSPORT;
}

static gboolean
mentions(const char *text, const char *const *needles)
{
    if (text == NULL)
        return FALSE;
    for (guint i = 0; needles[i] != NULL; i++)
        if (g_strstr_len(text, -1, needles[i]) != NULL)
            return TRUE;
    return FALSE;
}

/* ENODEV as QEMU words it: the stream error of an aborted VF migration file. */
static const char *const enodev[] = { "No such device", "ENODEV", NULL };
/* The socket dropping under the stream. */
static const char *const broken[] = {
    "Connection reset by peer", "Broken pipe",   "Unable to write to socket",
    "Input/output error",       "Channel error", NULL
};
static const char *const connect_failed[] = { "Failed to connect", "Connection refused",
                                              "No route to host", "Network is unreachable", NULL };
/* A destination load that refused the state: the source sees only this. */
static const char *const sibling[] = { "Sibling indicated error", NULL };
static const char *const load_refused[] = { "Invalid argument", "error while loading state",
                                            "Unknown savevm section", NULL };
/* QEMU 10's VFIO state moved one way and expected the other (x-migration-multifd-transfer
 * set differently on the two ends) */
static const char *const multifd_mismatch[] = { "but doing multifd transfer",
                                                "not doing multifd transfer", NULL };

XeFailureClass
xe_failure_classify(const XeFailureEvidence *e, char **reason)
{
    const char *src = e->source_error != NULL ? e->source_error : "";
    const char *dst = e->destination_error != NULL ? e->destination_error : "";
    XeFailureClass klass;
    const char *why;

    if (e->cancelled) {
        klass = XE_FAILURE_CANCELLED;
        why = "cancelled";
    } else if (e->vf_reset_seen_source || e->reset_event_source ||
               (mentions(src, enodev) && !mentions(src, sibling))) {
        klass = XE_FAILURE_VF_RESET;
        why = "the source VF was reset during save: the kernel aborted its migration stream";
    } else if (e->vf_reset_seen_destination || e->reset_event_destination ||
               mentions(dst, enodev)) {
        /* ENODEV from a restore: the device and revision were checked before the
         * stream started (CHECK on the destination VF), so it is the reset's. */
        klass = XE_FAILURE_VF_RESET;
        why = "the destination VF was reset during resume: the kernel aborted the restore";
    } else if (e->timed_out) {
        klass = XE_FAILURE_TIMEOUT;
        why = "no completion within the policy's timeout, or progress stalled";
    } else if (mentions(dst, multifd_mismatch)) {
        klass = XE_FAILURE_INCOMPATIBLE;
        why = "the two QEMUs disagree on moving the VF's state through the multifd channels "
              "(x-migration-multifd-transfer differs: the policy's vfio-multifd sets both ends)";
    } else if (mentions(src, sibling) || mentions(dst, load_refused)) {
        /* A refusal with no reset behind it: identity or provisioning differ. */
        klass = XE_FAILURE_INCOMPATIBLE;
        why = "the destination refused the VF state (device, revision or provisioning differ)";
    } else if (e->destination_exited) {
        klass = XE_FAILURE_DESTINATION_DIED;
        why = "the destination QEMU exited";
    } else if (e->transport_down || mentions(src, connect_failed)) {
        klass = XE_FAILURE_TRANSPORT;
        why = "the destination could not be reached";
    } else if (mentions(src, broken)) {
        klass = XE_FAILURE_TRANSPORT;
        why = "the migration stream broke";
    } else {
        klass = XE_FAILURE_UNKNOWN;
        why = "no evidence points to a known cause";
    }
    if (reason != NULL) {
        GString *r = g_string_new(why);

        if (*src != '\0')
            g_string_append_printf(r, "; source: %s", src);
        if (*dst != '\0')
            g_string_append_printf(r, "; destination: %s", dst);
        *reason = g_string_free(r, FALSE);
    }
    return klass;
}

/* QEMU 10.0's blocker texts (hw/vfio/migration.c, vfio-emulation.md 1.2 and fact 4). */
static const struct {
    const char *text;
    const char *fix;
} blockers[] = {
    { "VFIO device doesn't support device and IOMMU dirty tracking",
      "xe-vfio-pci has no DMA dirty logging, so QEMU migrates the VF only when its vfio-pci "
      "device has enable-migration=on: xe-migrated sets it on the VMs it starts; for an adopted "
      "QEMU restart it with -device vfio-pci,...,enable-migration=on (libvirt: a "
      "<qemu:override> of the hostdev's enable-migration)" },
    { "VFIO migration is not supported in kernel",
      "the VF's driver offers no migration: bind it to xe-vfio-pci on a PF whose GuC firmware "
      "supports VF migration (70.54 or later)" },
};

char *
xe_failure_explain_blocker(const char *reason)
{
    for (guint i = 0; i < G_N_ELEMENTS(blockers); i++)
        if (strstr(reason, blockers[i].text) != NULL)
            return g_strdup_printf("%s (%s)", reason, blockers[i].fix);
    return g_strdup(reason);
}
