/* xe-profile.c: VF profiles over sriov_admin (sysfs) and debugfs.
 *
 * Where each member lives (vfK = the VF's 1-based id, T tiles, G GTs):
 *   exec_quantum_ms, preempt_timeout_us  sysfs sriov_admin/vfK/profile/ (all GTs at once)
 *   sched_priority                       debugfs sriov/vfK/tileT/gtG/sched_priority (numeric;
 *                                        the sysfs file is read-only for VFs)
 *   vram_quota                           sysfs sriov_admin/vfK/profile/vram_quota when present
 *                                        (7.0), else debugfs sriov/vfK/tileT/vram_quota
 *   ggtt_quota                           debugfs sriov/vfK/tileT/ggtt_quota
 *   contexts_quota, doorbells_quota      debugfs sriov/vfK/tileT/gtG/
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-profile"

#include "xe-profile.h"

#include <string.h>

#include "xe-error.h"

gboolean
xe_size_parse(const char *text, guint64 *out)
{
    g_autofree char *num = g_strdup(text);
    guint64 mult = 1;
    gsize len = strlen(num);

    if (len > 0) {
        switch (g_ascii_toupper(num[len - 1])) {
        case 'K':
            mult = 1ull << 10;
            break;
        case 'M':
            mult = 1ull << 20;
            break;
        case 'G':
            mult = 1ull << 30;
            break;
        case 'T':
            mult = 1ull << 40;
            break;
        }
        if (mult != 1)
            num[len - 1] = '\0';
    }
    if (!g_ascii_string_to_unsigned(num, 10, 0, G_MAXUINT64 / mult, out, NULL))
        return FALSE;
    *out *= mult;
    return TRUE;
}

void
xe_profile_free(XeProfile *profile)
{
    g_free(profile);
}

static const struct {
    XeProfileField field;
    const char *name;
    gsize offset;
    gboolean size; /* takes K/M/G */
} members[] = {
    { XE_PROFILE_EXEC_QUANTUM, "exec_quantum_ms", G_STRUCT_OFFSET(XeProfile, exec_quantum_ms),
      FALSE },
    { XE_PROFILE_PREEMPT_TIMEOUT, "preempt_timeout_us",
      G_STRUCT_OFFSET(XeProfile, preempt_timeout_us), FALSE },
    { XE_PROFILE_SCHED_PRIORITY, "sched_priority", 0, FALSE },
    { XE_PROFILE_VRAM, "vram_quota", G_STRUCT_OFFSET(XeProfile, vram_quota), TRUE },
    { XE_PROFILE_GGTT, "ggtt_quota", G_STRUCT_OFFSET(XeProfile, ggtt_quota), TRUE },
    { XE_PROFILE_CONTEXTS, "contexts_quota", G_STRUCT_OFFSET(XeProfile, contexts_quota), FALSE },
    { XE_PROFILE_DOORBELLS, "doorbells_quota", G_STRUCT_OFFSET(XeProfile, doorbells_quota), FALSE },
};

static const char *const priority_names[] = { "low", "normal", "high" };

static guint64 *
member_value(XeProfile *p, gsize i)
{
    return (guint64 *)((guint8 *)p + members[i].offset);
}

static gboolean
parse_number(const char *key, const char *text, gboolean size, guint64 *out, GError **error)
{
    gboolean ok = size ? xe_size_parse(text, out)
                       : g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, out, NULL);

    if (!ok) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "profile: %s='%s' is not a %s", key,
                    text, size ? "size (bytes, or with K, M, G, T)" : "non-negative integer");
        return FALSE;
    }
    if (!size && *out > G_MAXUINT32) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "profile: %s=%s is above the field's 32 bits", key, text);
        return FALSE;
    }
    return TRUE;
}

XeProfile *
xe_profile_parse(const char *text, GError **error)
{
    g_autoptr(XeProfile) p = g_new0(XeProfile, 1);
    g_auto(GStrv) pairs = g_strsplit_set(text != NULL ? text : "", ", \t\n", -1);

    for (guint i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        g_autofree char *key = NULL;
        const char *value;
        gboolean found = FALSE;

        if (*pairs[i] == '\0')
            continue;
        if (eq == NULL) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "profile: '%s' is not KEY=VALUE", pairs[i]);
            return NULL;
        }
        key = g_strndup(pairs[i], (gsize)(eq - pairs[i]));
        value = eq + 1;
        if (g_str_equal(key, "device_id") || g_str_equal(key, "revision")) {
            /* identity, as xe_profile_to_string() prints it: read back, never applied */
            guint64 v;
            gboolean hex = g_str_has_prefix(value, "0x");

            if (!g_ascii_string_to_unsigned(value + (hex ? 2 : 0), hex ? 16 : 10, 0, 0xffff, &v,
                                            NULL)) {
                g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                            "profile: %s='%s' is not a number", key, value);
                return NULL;
            }
            if (g_str_equal(key, "device_id"))
                p->device_id = (guint)v;
            else
                p->revision = (guint)v;
            p->set |= XE_PROFILE_IDENTITY;
            continue;
        }
        for (gsize m = 0; m < G_N_ELEMENTS(members) && !found; m++) {
            if (!g_str_equal(key, members[m].name))
                continue;
            found = TRUE;
            if (members[m].field == XE_PROFILE_SCHED_PRIORITY) {
                if (g_str_equal(value, "low"))
                    p->sched_priority = XE_PRIORITY_LOW;
                else if (g_str_equal(value, "normal"))
                    p->sched_priority = XE_PRIORITY_NORMAL;
                else {
                    g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                                "profile: sched_priority='%s': a VF takes low or normal", value);
                    return NULL;
                }
            } else if (!parse_number(key, value, members[m].size, member_value(p, m), error)) {
                return NULL;
            }
            p->set |= members[m].field;
        }
        if (!found) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "profile: unknown key '%s' (known: exec_quantum_ms, preempt_timeout_us, "
                        "sched_priority, vram_quota, ggtt_quota, contexts_quota, doorbells_quota)",
                        key);
            return NULL;
        }
    }
    if (p->set == 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "profile: no KEY=VALUE given");
        return NULL;
    }
    return g_steal_pointer(&p);
}

char *
xe_profile_to_string(const XeProfile *profile)
{
    GString *s = g_string_new(NULL);

    for (gsize m = 0; m < G_N_ELEMENTS(members); m++) {
        if ((profile->set & members[m].field) == 0)
            continue;
        if (s->len > 0)
            g_string_append_c(s, ',');
        if (members[m].field == XE_PROFILE_SCHED_PRIORITY)
            g_string_append_printf(s, "sched_priority=%s",
                                   priority_names[MIN(profile->sched_priority, 2)]);
        else
            g_string_append_printf(s, "%s=%" G_GUINT64_FORMAT, members[m].name,
                                   *member_value((XeProfile *)profile, m));
    }
    if (profile->set & XE_PROFILE_IDENTITY)
        g_string_append_printf(s, "%sdevice_id=0x%04x,revision=%u", s->len ? "," : "",
                               profile->device_id, profile->revision);
    return g_string_free(s, FALSE);
}

/* Where a VF's files are. */
typedef struct {
    char *admin;      /* sys/bus/pci/devices/<PF>/sriov_admin/vfK */
    char *debug;      /* sys/kernel/debug/dri/<PF>/sriov/vfK */
    GPtrArray *tiles; /* "tileT" dirs (relative to debug) */
    GPtrArray *gts;   /* "tileT/gtG" dirs (relative to debug) */
} VfFiles;

static void
vf_files_clear(VfFiles *f)
{
    g_free(f->admin);
    g_free(f->debug);
    g_clear_pointer(&f->tiles, g_ptr_array_unref);
    g_clear_pointer(&f->gts, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfFiles, vf_files_clear)

static gboolean
vf_files_init(XeHost *host, const char *vf_bdf, VfFiles *f, GError **error)
{
    XeSysfs *sysfs = xe_host_get_sysfs(host);
    g_autofree char *pf = NULL;
    g_auto(GStrv) tiles = NULL;
    guint vfid;

    if (!xe_host_vf_locate(host, vf_bdf, &pf, &vfid, error))
        return FALSE;
    f->admin = g_strdup_printf("sys/bus/pci/devices/%s/sriov_admin/vf%u", pf, vfid);
    f->debug = g_strdup_printf("sys/kernel/debug/dri/%s/sriov/vf%u", pf, vfid);
    f->tiles = g_ptr_array_new_with_free_func(g_free);
    f->gts = g_ptr_array_new_with_free_func(g_free);
    tiles = xe_sysfs_list(sysfs, f->debug, error);
    if (tiles == NULL) {
        g_prefix_error(error,
                       "provisioning needs debugfs (mount -t debugfs none /sys/kernel/debug): ");
        return FALSE;
    }
    for (guint t = 0; tiles[t] != NULL; t++) {
        g_autofree char *tile_rel = NULL;
        g_auto(GStrv) gts = NULL;

        if (!g_str_has_prefix(tiles[t], "tile"))
            continue;
        g_ptr_array_add(f->tiles, g_strdup(tiles[t]));
        tile_rel = g_strdup_printf("%s/%s", f->debug, tiles[t]);
        gts = xe_sysfs_list(sysfs, tile_rel, error);
        if (gts == NULL)
            return FALSE;
        for (guint g = 0; gts[g] != NULL; g++)
            if (g_str_has_prefix(gts[g], "gt"))
                g_ptr_array_add(f->gts, g_strdup_printf("%s/%s", tiles[t], gts[g]));
    }
    if (f->tiles->len == 0 || f->gts->len == 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA, "%s has no tile or GT directories",
                    f->debug);
        return FALSE;
    }
    return TRUE;
}

/* One file write of an apply. */
typedef struct {
    char *rel;
    char *value;   /* what to write */
    char *old;     /* what it read before */
    gboolean done; /* written (to be rolled back on failure) */
} Write;

static void
write_free(Write *w)
{
    g_free(w->rel);
    g_free(w->value);
    g_free(w->old);
    g_free(w);
}

static void
plan_add(GPtrArray *plan, char *rel, const char *value)
{
    Write *w = g_new0(Write, 1);

    w->rel = rel;
    w->value = g_strdup(value);
    g_ptr_array_add(plan, w);
}

/* The files that hold @field, one per GT or tile as the member requires. */
static void
plan_field(GPtrArray *plan, VfFiles *f, XeHost *host, XeProfileField field, const char *value)
{
    XeSysfs *sysfs = xe_host_get_sysfs(host);
    g_autofree char *vram_sysfs = g_strdup_printf("%s/profile/vram_quota", f->admin);

    switch (field) {
    case XE_PROFILE_EXEC_QUANTUM:
        plan_add(plan, g_strdup_printf("%s/profile/exec_quantum_ms", f->admin), value);
        break;
    case XE_PROFILE_PREEMPT_TIMEOUT:
        plan_add(plan, g_strdup_printf("%s/profile/preempt_timeout_us", f->admin), value);
        break;
    case XE_PROFILE_VRAM:
        if (xe_sysfs_exists(sysfs, vram_sysfs)) {
            plan_add(plan, g_steal_pointer(&vram_sysfs), value);
            break;
        }
        for (guint t = 0; t < f->tiles->len; t++)
            plan_add(plan,
                     g_strdup_printf("%s/%s/vram_quota", f->debug, (char *)f->tiles->pdata[t]),
                     value);
        break;
    case XE_PROFILE_GGTT:
        for (guint t = 0; t < f->tiles->len; t++)
            plan_add(plan,
                     g_strdup_printf("%s/%s/ggtt_quota", f->debug, (char *)f->tiles->pdata[t]),
                     value);
        break;
    case XE_PROFILE_SCHED_PRIORITY:
    case XE_PROFILE_CONTEXTS:
    case XE_PROFILE_DOORBELLS: {
        const char *name = field == XE_PROFILE_SCHED_PRIORITY ? "sched_priority"
                           : field == XE_PROFILE_CONTEXTS     ? "contexts_quota"
                                                              : "doorbells_quota";
        for (guint g = 0; g < f->gts->len; g++)
            plan_add(plan, g_strdup_printf("%s/%s/%s", f->debug, (char *)f->gts->pdata[g], name),
                     value);
        break;
    }
    case XE_PROFILE_IDENTITY:
        break;
    }
}

static GPtrArray *
plan_profile(XeHost *host, VfFiles *f, const XeProfile *profile)
{
    GPtrArray *plan = g_ptr_array_new_with_free_func((GDestroyNotify)write_free);

    for (gsize m = 0; m < G_N_ELEMENTS(members); m++) {
        char value[32];

        if ((profile->set & members[m].field) == 0)
            continue;
        if (members[m].field == XE_PROFILE_SCHED_PRIORITY)
            g_snprintf(value, sizeof(value), "%u", (guint)profile->sched_priority);
        else
            g_snprintf(value, sizeof(value), "%" G_GUINT64_FORMAT,
                       *member_value((XeProfile *)profile, m));
        plan_field(plan, f, host, members[m].field, value);
    }
    return plan;
}

/* The value a file reads, as a number ("[low] normal" reads as its index). */
static gboolean
read_value(XeSysfs *sysfs, const char *rel, guint64 *out, GError **error)
{
    return xe_sysfs_read_u64(sysfs, rel, out, error);
}

static gboolean
read_uniform(XeHost *host, VfFiles *f, XeProfileField field, guint64 *out, GError **error)
{
    g_autoptr(GPtrArray) plan = g_ptr_array_new_with_free_func((GDestroyNotify)write_free);
    XeSysfs *sysfs = xe_host_get_sysfs(host);

    plan_field(plan, f, host, field, "");
    for (guint i = 0; i < plan->len; i++) {
        Write *w = plan->pdata[i];
        guint64 v;

        if (!read_value(sysfs, w->rel, &v, error))
            return FALSE;
        if (i > 0 && v != *out) {
            g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA,
                        "%s reads %" G_GUINT64_FORMAT " but %s reads %" G_GUINT64_FORMAT
                        ": the GTs or tiles differ; apply a profile to make them equal",
                        w->rel, v, ((Write *)plan->pdata[0])->rel, *out);
            return FALSE;
        }
        *out = v;
    }
    return TRUE;
}

XeProfile *
xe_host_read_profile(XeHost *host, const char *vf_bdf, GError **error)
{
    g_auto(VfFiles) f = { 0 };
    g_autoptr(XeProfile) p = g_new0(XeProfile, 1);
    XeSysfs *sysfs = xe_host_get_sysfs(host);
    g_autofree char *dev = g_strdup_printf("sys/bus/pci/devices/%s/device", vf_bdf);
    g_autofree char *rev = g_strdup_printf("sys/bus/pci/devices/%s/revision", vf_bdf);
    guint64 id, revision;

    if (!vf_files_init(host, vf_bdf, &f, error))
        return NULL;
    for (gsize m = 0; m < G_N_ELEMENTS(members); m++) {
        guint64 v = 0;

        if (!read_uniform(host, &f, members[m].field, &v, error))
            return NULL;
        if (members[m].field == XE_PROFILE_SCHED_PRIORITY)
            p->sched_priority = (XePriority)MIN(v, XE_PRIORITY_HIGH);
        else
            *member_value(p, m) = v;
        p->set |= members[m].field;
    }
    if (!xe_sysfs_read_u64(sysfs, dev, &id, error) ||
        !xe_sysfs_read_u64(sysfs, rev, &revision, error))
        return NULL;
    p->device_id = (guint)id;
    p->revision = (guint)revision;
    p->set |= XE_PROFILE_IDENTITY;
    return g_steal_pointer(&p);
}

gboolean
xe_host_apply_profile(XeHost *host, const char *vf_bdf, const XeProfile *profile, GError **error)
{
    g_auto(VfFiles) f = { 0 };
    g_autoptr(GPtrArray) plan = NULL;
    XeSysfs *sysfs = xe_host_get_sysfs(host);
    GError *failure = NULL;

    if ((profile->set & ~XE_PROFILE_IDENTITY) == 0)
        return TRUE;
    if (profile->set & XE_PROFILE_SCHED_PRIORITY && profile->sched_priority > XE_PRIORITY_NORMAL) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "sched_priority high is for the PF only; a VF takes low or normal");
        return FALSE;
    }
    if (!vf_files_init(host, vf_bdf, &f, error) ||
        !xe_host_check_guard(host, vf_bdf, XE_HOST_OP_PROVISION, error))
        return FALSE;
    plan = plan_profile(host, &f, profile);

    /* Read everything first: nothing is written unless all of it can be restored. */
    for (guint i = 0; i < plan->len; i++) {
        Write *w = plan->pdata[i];
        guint64 v;

        if (!read_value(sysfs, w->rel, &v, error))
            return FALSE;
        w->old = g_strdup_printf("%" G_GUINT64_FORMAT, v);
    }
    for (guint i = 0; i < plan->len && failure == NULL; i++) {
        Write *w = plan->pdata[i];
        guint64 got;

        if (g_str_equal(w->old, w->value))
            continue;
        if (!xe_sysfs_write(sysfs, w->rel, w->value, &failure))
            break;
        w->done = TRUE;
        if (!read_value(sysfs, w->rel, &got, &failure))
            break;
        if (g_ascii_strtoull(w->value, NULL, 10) != got)
            failure = g_error_new(XE_ERROR, XE_ERROR_VERIFY_FAILED,
                                  "wrote %s to %s but it reads %" G_GUINT64_FORMAT, w->value,
                                  w->rel, got);
    }
    if (failure == NULL)
        return TRUE;

    /* Roll back, newest first; a rollback failure is added to the error. */
    for (guint i = plan->len; i > 0; i--) {
        Write *w = plan->pdata[i - 1];
        g_autoptr(GError) undo = NULL;

        if (w->done && !xe_sysfs_write(sysfs, w->rel, w->old, &undo)) {
            g_warning("rolling back %s to %s: %s", w->rel, w->old, undo->message);
            g_prefix_error(&failure, "(rollback of %s failed too: %s) ", w->rel, undo->message);
        }
    }
    g_prefix_error(&failure, "provisioning %s (rolled back): ", vf_bdf);
    g_propagate_error(error, failure);
    return FALSE;
}

static gboolean G_GNUC_PRINTF(2, 3) incompatible(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, XE_ERROR, XE_ERROR_INCOMPATIBLE, msg);
    return FALSE;
}

gboolean
xe_profile_check_compatible(const XeProfile *src, const XeProfile *dst, GError **error)
{
    static const struct {
        XeProfileField field;
        const char *code;
        gboolean exact;
        const char *why;
    } rules[] = {
        { XE_PROFILE_GGTT, "ggtt", TRUE, "the kernel restores GGTT only into the same size" },
        { XE_PROFILE_VRAM, "vram", FALSE, "the saved VRAM must fit" },
        { XE_PROFILE_CONTEXTS, "contexts", FALSE, "the guest's GuC contexts must fit" },
        { XE_PROFILE_DOORBELLS, "doorbells", FALSE, "the guest's doorbells must fit" },
    };

    if (src->set & XE_PROFILE_IDENTITY) {
        if (!(dst->set & XE_PROFILE_IDENTITY))
            return incompatible(error, "unknown: the destination's device identity is unknown");
        if (src->device_id != dst->device_id)
            return incompatible(error,
                                "device-id: source 0x%04x, destination 0x%04x (the kernel "
                                "refuses the restore with ENODEV)",
                                src->device_id, dst->device_id);
        if (src->revision != dst->revision)
            return incompatible(error,
                                "revision: source %u, destination %u (the kernel refuses the "
                                "restore with ENODEV)",
                                src->revision, dst->revision);
    }
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        gsize m = 0;
        guint64 a, b;

        if (!(src->set & rules[r].field))
            continue;
        while (members[m].field != rules[r].field)
            m++;
        if (!(dst->set & rules[r].field))
            return incompatible(error, "unknown: the destination's %s is unknown", members[m].name);
        a = *member_value((XeProfile *)src, m);
        b = *member_value((XeProfile *)dst, m);
        if (rules[r].exact ? a != b : b < a)
            return incompatible(
                error, "%s: source %" G_GUINT64_FORMAT ", destination %" G_GUINT64_FORMAT " (%s)",
                rules[r].code, a, b, rules[r].why);
    }
    return TRUE;
}
