/* xe-vm-spec.c: VM launch specs from files and from D-Bus.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-vm-spec"

#include "xe-vm-spec.h"

#include <string.h>

#include "xe-error.h"

#define GROUP "vm"

void
xe_vm_spec_free(XeVmSpec *spec)
{
    if (spec == NULL)
        return;
    g_free(spec->name);
    g_strfreev(spec->argv);
    g_free(spec->profile);
    g_free(spec->policy);
    g_free(spec->qmp);
    g_free(spec->vf);
    g_free(spec);
}

gboolean
xe_vm_name_is_valid(const char *name)
{
    gsize n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > 64)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isalnum(name[i]) && name[i] != '_' && name[i] != '-')
            return FALSE;
    return TRUE;
}

/* The VF's own device: "-device vfio-pci,...,host={vf},...". xe-vfio-pci migrates only
 * with enable-migration=on (it has no DMA dirty logging: with "auto" QEMU blocks the
 * migration), and migration-events=on makes QEMU report the VF's migration states. */
static const char *const vf_properties[] = { "enable-migration", "migration-events" };

static gboolean
is_vf_device(const char *value)
{
    return g_str_has_prefix(value, "vfio-pci,") && strstr(value, "host={vf}") != NULL;
}

/* The value of @key among the device's properties, or NULL. */
static const char *
device_property(char *const *props, const char *key)
{
    gsize len = strlen(key);

    for (guint i = 1; props[i] != NULL; i++)
        if (strncmp(props[i], key, len) == 0 && props[i][len] == '=')
            return props[i] + len + 1;
    return NULL;
}

static gboolean
check_vf_device(const char *value, const char *where, const char *name, GError **error)
{
    g_auto(GStrv) props = g_strsplit(value, ",", -1);

    for (guint i = 0; i < G_N_ELEMENTS(vf_properties); i++) {
        const char *v = device_property(props, vf_properties[i]);

        if (v != NULL && !g_str_equal(v, "on") && !g_str_equal(v, "true")) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: VM '%s': -device %s: %s=%s, but the VF migrates only with %s=on "
                        "(xe-vfio-pci has no DMA dirty logging, so QEMU would block its "
                        "migration); leave it out, xe-migrated sets it",
                        where, name, value, vf_properties[i], v, vf_properties[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
spec_check(XeVmSpec *spec, const char *where, GError **error)
{
    if (!xe_vm_name_is_valid(spec->name)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "%s: name '%s' is not 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", where,
                    spec->name != NULL ? spec->name : "");
        return FALSE;
    }
    if (spec->argv == NULL || spec->argv[0] == NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: VM '%s' has no QEMU command",
                    where, spec->name);
        return FALSE;
    }
    for (guint i = 0; spec->argv[i] != NULL; i++)
        if (g_str_equal(spec->argv[i], "-incoming") || g_str_equal(spec->argv[i], "-qmp") ||
            g_str_equal(spec->argv[i], "-mon")) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: VM '%s': the command must not contain %s; xe-migrated adds the "
                        "monitor and -incoming itself",
                        where, spec->name, spec->argv[i]);
            return FALSE;
        }
    for (guint i = 1; spec->argv[i] != NULL; i++)
        if (g_str_equal(spec->argv[i - 1], "-device") && is_vf_device(spec->argv[i]) &&
            !check_vf_device(spec->argv[i], where, spec->name, error))
            return FALSE;
    if (spec->profile == NULL || *spec->profile == '\0') {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: VM '%s' has no VF profile",
                    where, spec->name);
        return FALSE;
    }
    if ((spec->qmp == NULL) != (spec->vf == NULL)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "%s: VM '%s': an adopted VM needs both 'qmp' and 'vf'", where, spec->name);
        return FALSE;
    }
    if (spec->policy == NULL)
        spec->policy = g_strdup("default");
    if (!xe_vm_name_is_valid(spec->policy)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: bad policy name '%s'", where,
                    spec->policy);
        return FALSE;
    }
    return TRUE;
}

XeVmSpec *
xe_vm_spec_load_from_data(const char *data, const char *where, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(XeVmSpec) spec = g_new0(XeVmSpec, 1);
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) keys = NULL;
    g_autofree char *command = NULL;
    GError *local = NULL;

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: %s", where, local->message);
        g_error_free(local);
        return NULL;
    }
    groups = g_key_file_get_groups(kf, NULL);
    if (g_strv_length(groups) != 1 || !g_str_equal(groups[0], GROUP)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                    "%s: expected exactly one group, [" GROUP "]", where);
        return NULL;
    }
    keys = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (guint i = 0; keys[i] != NULL; i++) {
        const char *k = keys[i];
        g_autofree char *v = g_key_file_get_string(kf, GROUP, k, NULL);

        if (g_str_equal(k, "name"))
            spec->name = g_steal_pointer(&v);
        else if (g_str_equal(k, "command"))
            command = g_steal_pointer(&v);
        else if (g_str_equal(k, "profile"))
            spec->profile = g_steal_pointer(&v);
        else if (g_str_equal(k, "policy"))
            spec->policy = g_steal_pointer(&v);
        else if (g_str_equal(k, "qmp"))
            spec->qmp = g_steal_pointer(&v);
        else if (g_str_equal(k, "vf"))
            spec->vf = g_steal_pointer(&v);
        else if (g_str_equal(k, "downtime-budget-ms")) {
            guint64 ms;

            if (!g_ascii_string_to_unsigned(v, 10, 0, 3600000, &ms, NULL)) {
                g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                            "%s: [" GROUP "] downtime-budget-ms: '%s' is not a number of "
                            "milliseconds (0 to 3600000)",
                            where, v);
                return NULL;
            }
            spec->downtime_budget_ms = ms;
        } else {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "%s: [" GROUP "] unknown key '%s' (name, command, profile, policy, "
                        "downtime-budget-ms, qmp, vf)",
                        where, k);
            return NULL;
        }
    }
    if (command != NULL && !g_shell_parse_argv(command, NULL, &spec->argv, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: [" GROUP "] command: %s",
                    where, local->message);
        g_error_free(local);
        return NULL;
    }
    if (!spec_check(spec, where, error))
        return NULL;
    return g_steal_pointer(&spec);
}

XeVmSpec *
xe_vm_spec_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    GError *local = NULL;

    if (!g_file_get_contents(path, &data, NULL, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "%s", local->message);
        g_error_free(local);
        return NULL;
    }
    return xe_vm_spec_load_from_data(data, path, error);
}

XeVmSpec *
xe_vm_spec_from_variant(GVariant *dict, GError **error)
{
    g_autoptr(XeVmSpec) spec = g_new0(XeVmSpec, 1);
    GVariantIter iter;
    const char *key;
    GVariant *value;

    if (!g_variant_is_of_type(dict, G_VARIANT_TYPE_VARDICT)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "a VM spec is an a{sv}, not %s",
                    g_variant_get_type_string(dict));
        return NULL;
    }
    g_variant_iter_init(&iter, dict);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        g_autoptr(GVariant) v = value;
        const char *want = g_str_equal(key, "argv")                 ? "as"
                           : g_str_equal(key, "downtime-budget-ms") ? "t"
                                                                    : "s";
        char **slot = g_str_equal(key, "name")      ? &spec->name
                      : g_str_equal(key, "profile") ? &spec->profile
                      : g_str_equal(key, "policy")  ? &spec->policy
                      : g_str_equal(key, "qmp")     ? &spec->qmp
                      : g_str_equal(key, "vf")      ? &spec->vf
                                                    : NULL;

        if (slot == NULL && !g_str_equal(key, "argv") && !g_str_equal(key, "downtime-budget-ms")) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "VM spec: unknown key '%s' (name, argv, profile, policy, "
                        "downtime-budget-ms, qmp, vf)",
                        key);
            return NULL;
        }
        if (!g_variant_is_of_type(v, G_VARIANT_TYPE(want))) {
            g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT,
                        "VM spec: '%s' must be of type %s, not %s", key, want,
                        g_variant_get_type_string(v));
            return NULL;
        }
        if (slot != NULL) {
            g_free(*slot);
            *slot = g_variant_dup_string(v, NULL);
        } else if (g_str_equal(key, "argv")) {
            g_strfreev(spec->argv);
            spec->argv = g_variant_dup_strv(v, NULL);
        } else {
            spec->downtime_budget_ms = g_variant_get_uint64(v);
        }
    }
    if (!spec_check(spec, "VM spec", error))
        return NULL;
    return g_steal_pointer(&spec);
}

GVariant *
xe_vm_spec_to_variant(const XeVmSpec *spec)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(spec->name));
    g_variant_builder_add(&b, "{sv}", "argv",
                          g_variant_new_strv((const char *const *)spec->argv, -1));
    g_variant_builder_add(&b, "{sv}", "profile", g_variant_new_string(spec->profile));
    g_variant_builder_add(&b, "{sv}", "policy", g_variant_new_string(spec->policy));
    g_variant_builder_add(&b, "{sv}", "downtime-budget-ms",
                          g_variant_new_uint64(spec->downtime_budget_ms));
    if (spec->qmp != NULL)
        g_variant_builder_add(&b, "{sv}", "qmp", g_variant_new_string(spec->qmp));
    if (spec->vf != NULL)
        g_variant_builder_add(&b, "{sv}", "vf", g_variant_new_string(spec->vf));
    return g_variant_builder_end(&b);
}

char *
xe_vm_spec_to_data(const XeVmSpec *spec)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GString) command = g_string_new(NULL);

    for (guint i = 0; spec->argv[i] != NULL; i++) {
        g_autofree char *quoted = g_shell_quote(spec->argv[i]);

        if (i > 0)
            g_string_append_c(command, ' ');
        g_string_append(command, quoted);
    }
    g_key_file_set_string(kf, GROUP, "name", spec->name);
    g_key_file_set_string(kf, GROUP, "command", command->str);
    g_key_file_set_string(kf, GROUP, "profile", spec->profile);
    g_key_file_set_string(kf, GROUP, "policy", spec->policy);
    g_key_file_set_uint64(kf, GROUP, "downtime-budget-ms", spec->downtime_budget_ms);
    if (spec->qmp != NULL)
        g_key_file_set_string(kf, GROUP, "qmp", spec->qmp);
    if (spec->vf != NULL)
        g_key_file_set_string(kf, GROUP, "vf", spec->vf);
    return g_key_file_to_data(kf, NULL, NULL);
}

XeVmSpec *
xe_vm_spec_copy(const XeVmSpec *spec)
{
    XeVmSpec *copy = g_new0(XeVmSpec, 1);

    copy->name = g_strdup(spec->name);
    copy->argv = g_strdupv(spec->argv);
    copy->profile = g_strdup(spec->profile);
    copy->policy = g_strdup(spec->policy);
    copy->downtime_budget_ms = spec->downtime_budget_ms;
    copy->qmp = g_strdup(spec->qmp);
    copy->vf = g_strdup(spec->vf);
    return copy;
}

GStrv
xe_vm_spec_expand_argv(const XeVmSpec *spec, const char *vf)
{
    GStrvBuilder *b = g_strv_builder_new();
    GStrv out;

    for (guint i = 0; spec->argv[i] != NULL; i++) {
        g_auto(GStrv) parts = g_strsplit(spec->argv[i], "{vf}", -1);
        g_autoptr(GString) arg = g_string_new(NULL);
        g_autofree char *joined = g_strjoinv(vf, parts);

        g_string_append(arg, joined);
        if (i > 0 && g_str_equal(spec->argv[i - 1], "-device") && is_vf_device(spec->argv[i])) {
            g_auto(GStrv) props = g_strsplit(spec->argv[i], ",", -1);

            for (guint p = 0; p < G_N_ELEMENTS(vf_properties); p++)
                if (device_property(props, vf_properties[p]) == NULL)
                    g_string_append_printf(arg, ",%s=on", vf_properties[p]);
        }
        g_strv_builder_add(b, arg->str);
    }
    out = g_strv_builder_end(b);
    g_strv_builder_unref(b);
    return out;
}
