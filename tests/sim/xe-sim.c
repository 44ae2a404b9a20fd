/* xe-sim.c: the simulated Xe GPU host, a FUSE file system.
 *
 *   xe-sim [--config FILE] [--ready-fd N] [--debug] ROOT
 *
 * Presents under ROOT the sysfs and debugfs files of Intel Xe SR-IOV PFs and
 * their VFs, answering writes with the kernel's errnos, plus a control
 * directory ROOT/sim/ for tests (see tests/sim/README.md). Stays in the
 * foreground until SIGTERM, SIGINT or unmount (fusermount3 -u ROOT).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xe-sim-model.h"

/* ROOT/sim/ control files */

static char *
normalize_path(const char *text)
{
    while (*text == '/')
        text++;
    return g_strdup(text);
}

/* "PATH ERRNO [COUNT]" */
static int
store_fail(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(text), " \t", -1);
    g_autofree char *path = NULL;
    guint64 count = 1;
    int error;

    if (g_strv_length(f) < 2 || g_strv_length(f) > 3)
        return -EINVAL;
    error = xe_sim_errno_parse(f[1]);
    if (error == 0 && !g_str_equal(f[1], "0"))
        return -EINVAL;
    if (f[2] != NULL && !g_ascii_string_to_unsigned(f[2], 10, 0, G_MAXUINT, &count, NULL))
        return -EINVAL;
    path = normalize_path(f[0]);
    xe_sim_fault_set(path, error, error == 0 ? 0 : (guint)count);
    return 0;
}

/* "PATH MS" */
static int
store_latency(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(text), " \t", -1);
    g_autofree char *path = NULL;
    guint64 ms;

    if (g_strv_length(f) != 2 || !g_ascii_string_to_unsigned(f[1], 10, 0, 600000, &ms, NULL))
        return -EINVAL;
    path = normalize_path(f[0]);
    xe_sim_latency_set(path, (guint)ms);
    return 0;
}

/* "VF-BDF" */
static int
store_flr(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *bdf = xe_sim_strip(buf, len);

    return xe_sim_model_flr(g_strstrip(bdf));
}

/* "VF-BDF STATE" (STATE empty clears) */
static int
store_flr_on_state(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(text), " \t", 2);

    if (f[0] == NULL || *f[0] == '\0')
        return -EINVAL;
    return xe_sim_model_flr_on_state(f[0], f[1] != NULL ? g_strstrip(f[1]) : "");
}

/* "VF-BDF 0|1" */
static int
store_opened(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(text), " \t", -1);
    gboolean value;

    if (g_strv_length(f) != 2 || xe_sim_parse_bool(f[1], strlen(f[1]), &value) < 0)
        return -EINVAL;
    return xe_sim_model_set_opened(f[0], value);
}

/* "BDF DRIVER ERRNO" (ERRNO 0 clears) */
static int
store_probe_fail(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);
    g_auto(GStrv) f = g_strsplit_set(g_strstrip(text), " \t", -1);
    int error;

    if (g_strv_length(f) != 3)
        return -EINVAL;
    error = xe_sim_errno_parse(f[2]);
    if (error == 0 && !g_str_equal(f[2], "0"))
        return -EINVAL;
    return xe_sim_model_set_probe_failure(f[0], f[1], error);
}

/* bytes per second, 0 = unlimited */
static int
show_vfio_rate(SimNode *node, GString *out)
{
    g_string_append_printf(out, "%" G_GUINT64_FORMAT "\n", xe_sim_model_get_vfio_rate());
    return 0;
}

static int
store_vfio_rate(SimNode *node, const char *buf, gsize len)
{
    guint64 rate;
    int r = xe_sim_parse_u64(buf, len, 0, G_MAXUINT64, &rate);

    if (r == 0)
        xe_sim_model_set_vfio_rate(rate);
    return r;
}

static int
show_audit(SimNode *node, GString *out)
{
    xe_sim_audit_show(out);
    return 0;
}

static int
store_audit(SimNode *node, const char *buf, gsize len)
{
    g_autofree char *text = xe_sim_strip(buf, len);

    if (!g_str_equal(text, "clear"))
        return -EINVAL;
    xe_sim_audit_clear();
    return 0;
}

static int
show_blocked(SimNode *node, GString *out)
{
    xe_sim_blocked_show(out);
    return 0;
}

static void
build_control(void)
{
    SimNode *sim = xe_sim_mkdir(xe_sim_root(), "sim");

    xe_sim_add_file(sim, "fail", 0200, NULL, store_fail, NULL, 0);
    xe_sim_add_file(sim, "latency", 0200, NULL, store_latency, NULL, 0);
    xe_sim_add_file(sim, "flr", 0200, NULL, store_flr, NULL, 0);
    xe_sim_add_file(sim, "flr_on_state", 0200, NULL, store_flr_on_state, NULL, 0);
    xe_sim_add_file(sim, "opened", 0200, NULL, store_opened, NULL, 0);
    xe_sim_add_file(sim, "probe_fail", 0200, NULL, store_probe_fail, NULL, 0);
    xe_sim_add_file(sim, "audit", 0644, show_audit, store_audit, NULL, 0);
    xe_sim_add_file(sim, "blocked", 0444, show_blocked, NULL, NULL, 0);
    xe_sim_add_file(sim, "vfio_rate", 0644, show_vfio_rate, store_vfio_rate, NULL, 0);
}

/* configuration */

static gboolean
get_uint(GKeyFile *kf, const char *group, const char *key, guint64 *out, GError **error)
{
    g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);
    guint64 v;
    char *end;

    if (text == NULL)
        return TRUE; /* keep the default */
    g_strstrip(text);
    errno = 0;
    v = g_ascii_strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s] %s: '%s' is not a number", group, key, text);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static SimPfConfig *
pf_from_group(GKeyFile *kf, const char *group, GError **error)
{
    const char *bdf = group + strlen("pf ");
    g_autoptr(GError) local = NULL;
    SimPfConfig *c = xe_sim_pf_config_new_default(bdf);
    guint d, b, s, f;
    struct {
        const char *key;
        guint64 value;
    } keys[] = {
        { "device-id", c->device_id },
        { "revision", c->revision },
        { "vf-device-id", c->vf_device_id },
        { "total-vfs", c->total_vfs },
        { "vf-offset", c->vf_offset },
        { "vf-stride", c->vf_stride },
        { "vram-size", c->vram_size },
        { "ggtt-size", c->ggtt_size },
        { "contexts", c->contexts },
        { "doorbells", c->doorbells },
        { "tiles", c->tiles },
        { "gts-per-tile", c->gts_per_tile },
    };
    gboolean vf_dev_set = g_key_file_has_key(kf, group, "vf-device-id", NULL);

    if (sscanf(bdf, "%x:%x:%x.%x", &d, &b, &s, &f) != 4 || strlen(bdf) != 12) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s]: expected a PCI address like [pf 0000:03:00.0]", group);
        xe_sim_pf_config_free(c);
        return NULL;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        if (!get_uint(kf, group, keys[i].key, &keys[i].value, error)) {
            xe_sim_pf_config_free(c);
            return NULL;
        }
    }
    c->device_id = (guint)keys[0].value;
    c->revision = (guint)keys[1].value;
    c->vf_device_id = vf_dev_set ? (guint)keys[2].value : c->device_id;
    c->total_vfs = (guint)keys[3].value;
    c->vf_offset = (guint)keys[4].value;
    c->vf_stride = (guint)keys[5].value;
    c->vram_size = keys[6].value;
    c->ggtt_size = keys[7].value;
    c->contexts = keys[8].value;
    c->doorbells = keys[9].value;
    c->tiles = (guint)keys[10].value;
    c->gts_per_tile = (guint)keys[11].value;
    if (c->tiles * c->gts_per_tile == 0 || c->tiles * c->gts_per_tile > SIM_MAX_GTS) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "[%s]: tiles x gts-per-tile must be 1 to %d", group, SIM_MAX_GTS);
        xe_sim_pf_config_free(c);
        return NULL;
    }
    if (g_key_file_has_key(kf, group, "guc-version", NULL)) {
        g_free(c->guc_version);
        c->guc_version = g_key_file_get_string(kf, group, "guc-version", NULL);
    }
    if (g_key_file_has_key(kf, group, "migration", NULL)) {
        c->migration = g_key_file_get_boolean(kf, group, "migration", &local);
        if (local != NULL) {
            g_propagate_prefixed_error(error, g_steal_pointer(&local), "[%s] migration: ", group);
            xe_sim_pf_config_free(c);
            return NULL;
        }
    }
    if (g_key_file_has_key(kf, group, "memirq", NULL))
        c->memirq = g_key_file_get_boolean(kf, group, "memirq", NULL);
    return c;
}

int
main(int argc, char **argv)
{
    g_autofree char *config = NULL;
    gboolean debug = FALSE;
    int ready_fd = -1;
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Configuration file", "FILE" },
        { "ready-fd", 0, 0, G_OPTION_ARG_INT, &ready_fd, "Write READY to this fd once mounted",
          "N" },
        { "debug", 'd', 0, G_OPTION_ARG_NONE, &debug, "FUSE debug output", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("ROOT - simulated Intel Xe SR-IOV host");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) pf_configs = g_ptr_array_new();
    guint64 max_vfs = G_MAXUINT32;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2) {
        fprintf(stderr, "xe-sim: %s\nusage: xe-sim [--config FILE] [--ready-fd N] ROOT\n",
                error != NULL ? error->message : "ROOT is required");
        return 2;
    }
    if (config != NULL) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_file(kf, config, G_KEY_FILE_NONE, &error)) {
            fprintf(stderr, "xe-sim: %s: %s\n", config, error->message);
            return 2;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (guint i = 0; groups[i] != NULL; i++) {
            if (g_str_has_prefix(groups[i], "pf ")) {
                SimPfConfig *c = pf_from_group(kf, groups[i], &error);
                if (c == NULL) {
                    fprintf(stderr, "xe-sim: %s: %s\n", config, error->message);
                    return 2;
                }
                g_ptr_array_add(pf_configs, c);
            } else if (g_str_equal(groups[i], "module")) {
                if (!get_uint(kf, "module", "max-vfs", &max_vfs, &error)) {
                    fprintf(stderr, "xe-sim: %s: %s\n", config, error->message);
                    return 2;
                }
            } else {
                fprintf(stderr, "xe-sim: %s: unknown group [%s] (expected [pf BDF] or [module])\n",
                        config, groups[i]);
                return 2;
            }
        }
    }
    if (pf_configs->len == 0)
        g_ptr_array_add(pf_configs, xe_sim_pf_config_new_default("0000:03:00.0"));

    xe_sim_model_init((SimPfConfig *const *)pf_configs->pdata, pf_configs->len,
                      (guint)MIN(max_vfs, G_MAXUINT32));
    build_control();
    return xe_sim_fuse_main(argv[1], debug, ready_fd);
}
