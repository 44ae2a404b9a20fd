/* xe-config.c: parsing and checking xe-migrated.conf.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-config"

#include "xe-config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "xe-error.h"
#include "xe-pci.h"

#define GROUP_DAEMON   "daemon"
#define PREFIX_PROFILE "profile "
#define PREFIX_LAYOUT  "layout "

#define DEFAULT_HOOKS_DIR       "/etc/xe-migrated/hooks.d"
#define DEFAULT_POLICY_DIR      "/etc/xe-migrated/policies"
#define DEFAULT_HOOK_TIMEOUT_MS 10000
#define DEFAULT_PEER_TIMEOUT_MS 60000
#define DEFAULT_STATE_DIR       "/var/lib/xe-migrated"
#define DEFAULT_RUN_DIR         "/run/xe-migrated"
#define DEFAULT_TRANSPORT       "ssh -oBatchMode=yes -- {host} systemd-stdio-bridge"
#define DEFAULT_EMULATORS       "qemu-system-x86_64"
#define DEFAULT_QEMU_USER       "xe-qemu"

static void
layout_free(XeLayout *layout)
{
    for (guint i = 0; i < layout->pool->len; i++)
        g_free(g_array_index(layout->pool, XePoolEntry, i).profile);
    g_array_unref(layout->pool);
    g_free(layout->pf_bdf);
    g_free(layout);
}

void
xe_config_free(XeConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->path);
    g_free(config->hooks_dir);
    g_free(config->state_dir);
    g_free(config->run_dir);
    g_free(config->policy_dir);
    g_strfreev(config->transport);
    g_free(config->migration_address);
    g_free(config->libvirt_uri);
    g_free(config->libvirt_migration_uri);
    g_free(config->metrics_file);
    g_strfreev(config->emulators);
    g_free(config->qemu_user);
    g_hash_table_unref(config->profiles);
    g_ptr_array_unref(config->layouts);
    g_free(config);
}

XeConfig *
xe_config_new_default(void)
{
    XeConfig *c = g_new0(XeConfig, 1);

    c->hooks_dir = g_strdup(DEFAULT_HOOKS_DIR);
    c->hook_timeout_ms = DEFAULT_HOOK_TIMEOUT_MS;
    c->peer_timeout_ms = DEFAULT_PEER_TIMEOUT_MS;
    c->state_dir = g_strdup(DEFAULT_STATE_DIR);
    c->run_dir = g_strdup(DEFAULT_RUN_DIR);
    c->policy_dir = g_strdup(DEFAULT_POLICY_DIR);
    c->transport = g_strsplit(DEFAULT_TRANSPORT, " ", -1);
    c->migration_address = g_strdup("");
    c->libvirt_uri = g_strdup("qemu:///system");
    c->libvirt_migration_uri = g_strdup("");
    c->metrics_file = g_strdup("");
    c->libvirt_reconcile_s = 60;
    c->emulators = g_strsplit(DEFAULT_EMULATORS, ";", -1);
    c->qemu_user = g_strdup(DEFAULT_QEMU_USER);
    c->profiles =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)xe_profile_free);
    c->layouts = g_ptr_array_new_with_free_func((GDestroyNotify)layout_free);
    return c;
}

static gboolean G_GNUC_PRINTF(4, 5)
    config_error(GError **error, const char *file, const char *group, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: [%s] %s", file, group, what);
    return FALSE;
}

static gboolean
check_keys(GKeyFile *kf, const char *file, const char *group, const char *const *known,
           GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
        if (!g_strv_contains(known, keys[i])) {
            g_autofree char *list = g_strjoinv(", ", (char **)known);
            return config_error(error, file, group, "unknown key '%s' (known: %s)", keys[i], list);
        }
    return TRUE;
}

static gboolean
get_uint(GKeyFile *kf, const char *file, const char *group, const char *key, guint max, guint *out,
         GError **error)
{
    g_autofree char *text = g_key_file_get_value(kf, group, key, NULL);
    guint64 v;

    if (text == NULL)
        return TRUE;
    g_strstrip(text);
    if (!g_ascii_string_to_unsigned(text, 10, 0, max, &v, NULL))
        return config_error(error, file, group, "%s='%s': expected a whole number from 0 to %u",
                            key, text, max);
    *out = (guint)v;
    return TRUE;
}

static gboolean
get_string(GKeyFile *kf, const char *group, const char *key, char **inout)
{
    g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);

    if (text == NULL)
        return FALSE;
    g_free(*inout);
    *inout = g_strstrip(g_steal_pointer(&text));
    return TRUE;
}

static const char *const launcher_names[] = {
    [XE_QEMU_LAUNCHER_AUTO] = "auto",
    [XE_QEMU_LAUNCHER_FORK] = "fork",
    [XE_QEMU_LAUNCHER_SYSTEMD] = "systemd",
};

const char *
xe_qemu_launcher_to_string(XeQemuLauncher launcher)
{
    return launcher < G_N_ELEMENTS(launcher_names) ? launcher_names[launcher] : "unknown";
}

static gboolean
launcher_from_string(const char *text, XeQemuLauncher *launcher)
{
    for (guint i = 0; i < G_N_ELEMENTS(launcher_names); i++)
        if (g_strcmp0(text, launcher_names[i]) == 0) {
            *launcher = (XeQemuLauncher)i;
            return TRUE;
        }
    return FALSE;
}

static gboolean
parse_daemon(GKeyFile *kf, const char *file, XeConfig *c, GError **error)
{
    static const char *const known[] = { "version",
                                         "hooks-dir",
                                         "hook-timeout-ms",
                                         "peer-timeout-ms",
                                         "state-dir",
                                         "run-dir",
                                         "policy-dir",
                                         "transport",
                                         "migration-address",
                                         "emulators",
                                         "qemu-user",
                                         "qemu-launcher",
                                         "libvirt-uri",
                                         "libvirt-migration-uri",
                                         "libvirt-reconcile-s",
                                         "metrics-file",
                                         NULL };
    guint version = XE_CONFIG_VERSION;
    g_autofree char *transport = NULL;

    if (!g_key_file_has_group(kf, GROUP_DAEMON))
        return TRUE;
    if (g_key_file_has_key(kf, GROUP_DAEMON, "allowed-group", NULL))
        return config_error(error, file, GROUP_DAEMON,
                            "allowed-group is gone: polkit authorizes callers now; the "
                            "shipped rule (50-xe-migrated.rules) grants every action to the "
                            "group xe-migrated, and a rule of your own can grant them to "
                            "another: remove the key");
    if (!check_keys(kf, file, GROUP_DAEMON, known, error) ||
        !get_uint(kf, file, GROUP_DAEMON, "version", 1000, &version, error) ||
        !get_uint(kf, file, GROUP_DAEMON, "hook-timeout-ms", 3600000, &c->hook_timeout_ms, error) ||
        !get_uint(kf, file, GROUP_DAEMON, "peer-timeout-ms", 3600000, &c->peer_timeout_ms, error) ||
        !get_uint(kf, file, GROUP_DAEMON, "libvirt-reconcile-s", 86400, &c->libvirt_reconcile_s,
                  error))
        return FALSE;
    if (c->libvirt_reconcile_s == 0)
        return config_error(error, file, GROUP_DAEMON,
                            "libvirt-reconcile-s must be above 0 (an incoming domain's "
                            "reservation is younger than its QEMU for a moment)");
    if (version != XE_CONFIG_VERSION)
        return config_error(error, file, GROUP_DAEMON,
                            "version=%u: this xe-migrated reads version %d", version,
                            XE_CONFIG_VERSION);
    if (c->hook_timeout_ms == 0)
        return config_error(error, file, GROUP_DAEMON, "hook-timeout-ms must be above 0");
    if (c->peer_timeout_ms < 1000)
        return config_error(error, file, GROUP_DAEMON,
                            "peer-timeout-ms=%u: a peer daemon gets at least 1000 ms",
                            c->peer_timeout_ms);
    if (get_string(kf, GROUP_DAEMON, "hooks-dir", &c->hooks_dir))
        c->hooks_dir_from = XE_CONFIG_FROM_FILE;
    if (get_string(kf, GROUP_DAEMON, "state-dir", &c->state_dir))
        c->state_dir_from = XE_CONFIG_FROM_FILE;
    if (get_string(kf, GROUP_DAEMON, "run-dir", &c->run_dir))
        c->run_dir_from = XE_CONFIG_FROM_FILE;
    get_string(kf, GROUP_DAEMON, "policy-dir", &c->policy_dir);
    if (get_string(kf, GROUP_DAEMON, "qemu-user", &c->qemu_user))
        c->qemu_user_from = XE_CONFIG_FROM_FILE;
    if (*c->qemu_user == '\0' || g_str_equal(c->qemu_user, "root") ||
        g_str_equal(c->qemu_user, "0"))
        return config_error(error, file, GROUP_DAEMON,
                            "qemu-user='%s': QEMU never runs as root; name the user it runs as "
                            "(the package creates xe-qemu)",
                            c->qemu_user);
    if (g_key_file_has_key(kf, GROUP_DAEMON, "qemu-launcher", NULL)) {
        g_autofree char *launcher = NULL;

        get_string(kf, GROUP_DAEMON, "qemu-launcher", &launcher);
        if (!launcher_from_string(launcher, &c->qemu_launcher))
            return config_error(error, file, GROUP_DAEMON,
                                "qemu-launcher='%s': one of auto, fork or systemd", launcher);
    }
    get_string(kf, GROUP_DAEMON, "migration-address", &c->migration_address);
    get_string(kf, GROUP_DAEMON, "libvirt-uri", &c->libvirt_uri);
    get_string(kf, GROUP_DAEMON, "libvirt-migration-uri", &c->libvirt_migration_uri);
    get_string(kf, GROUP_DAEMON, "metrics-file", &c->metrics_file);
    if (*c->metrics_file != '\0' && !g_path_is_absolute(c->metrics_file))
        return config_error(error, file, GROUP_DAEMON,
                            "metrics-file=%s: an absolute path, or empty for none",
                            c->metrics_file);
    {
        const char *dirs[][2] = { { "hooks-dir", c->hooks_dir },
                                  { "state-dir", c->state_dir },
                                  { "run-dir", c->run_dir },
                                  { "policy-dir", c->policy_dir } };

        for (guint i = 0; i < G_N_ELEMENTS(dirs); i++)
            if (!g_path_is_absolute(dirs[i][1]))
                return config_error(error, file, GROUP_DAEMON, "%s='%s' must be absolute",
                                    dirs[i][0], dirs[i][1]);
    }
    if (g_key_file_has_key(kf, GROUP_DAEMON, "emulators", NULL)) {
        g_auto(GStrv) list = g_key_file_get_string_list(kf, GROUP_DAEMON, "emulators", NULL, NULL);

        if (list == NULL || list[0] == NULL)
            return config_error(error, file, GROUP_DAEMON,
                                "emulators must name at least one QEMU binary");
        for (guint i = 0; list[i] != NULL; i++)
            g_strstrip(list[i]);
        g_strfreev(c->emulators);
        c->emulators = g_steal_pointer(&list);
    }
    if (get_string(kf, GROUP_DAEMON, "transport", &transport)) {
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) argv = NULL;

        if (!g_shell_parse_argv(transport, NULL, &argv, &local))
            return config_error(error, file, GROUP_DAEMON, "transport='%s': %s", transport,
                                local->message);
        if (strstr(transport, "{host}") == NULL)
            return config_error(error, file, GROUP_DAEMON,
                                "transport='%s' has no {host}: the command must say which "
                                "host it reaches",
                                transport);
        g_strfreev(c->transport);
        c->transport = g_steal_pointer(&argv);
    }
    return TRUE;
}

static gboolean
parse_profile(GKeyFile *kf, const char *file, const char *group, XeConfig *c, GError **error)
{
    const char *name = group + strlen(PREFIX_PROFILE);
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    g_autoptr(GString) text = g_string_new(NULL);
    g_autoptr(GError) local = NULL;
    XeProfile *profile;

    if (*name == '\0' || strchr(name, ' ') != NULL || strchr(name, ':') != NULL ||
        strchr(name, ',') != NULL)
        return config_error(error, file, group, "a profile name is one word without ':' or ','");
    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        g_autofree char *value = g_key_file_get_value(kf, group, keys[i], NULL);
        g_string_append_printf(text, "%s%s=%s", i ? "," : "", keys[i], g_strstrip(value));
    }
    profile = xe_profile_parse(text->str, &local);
    if (profile == NULL)
        return config_error(error, file, group, "%s", local->message);
    g_hash_table_replace(c->profiles, g_strdup(name), profile);
    return TRUE;
}

static gboolean
parse_layout(GKeyFile *kf, const char *file, const char *group, XeConfig *c, GError **error)
{
    static const char *const known[] = { "vfs", "pool", NULL };
    const char *bdf = group + strlen(PREFIX_LAYOUT);
    g_autofree char *pool_text = NULL;
    XeLayout *layout;
    XePciAddress addr;
    guint in_pool = 0;

    if (!xe_pci_address_parse(bdf, &addr, NULL))
        return config_error(error, file, group, "'%s' is not a PCI address like 0000:03:00.0", bdf);
    if (xe_config_get_layout(c, bdf) != NULL)
        return config_error(error, file, group, "declared twice");
    if (!check_keys(kf, file, group, known, error))
        return FALSE;
    layout = g_new0(XeLayout, 1);
    layout->pf_bdf = g_strdup(bdf);
    layout->pool = g_array_new(FALSE, TRUE, sizeof(XePoolEntry));
    g_ptr_array_add(c->layouts, layout);
    if (!g_key_file_has_key(kf, group, "vfs", NULL))
        return config_error(error, file, group, "vfs=N is required");
    if (!get_uint(kf, file, group, "vfs", 4096, &layout->vfs, error))
        return FALSE;

    pool_text = g_key_file_get_value(kf, group, "pool", NULL);
    if (pool_text != NULL) {
        g_auto(GStrv) items = g_strsplit(pool_text, ",", -1);

        for (guint i = 0; items[i] != NULL; i++) {
            char *item = g_strstrip(items[i]);
            char *colon = strchr(item, ':');
            XePoolEntry entry = { 0 };
            guint64 count;

            if (*item == '\0')
                continue;
            if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 4096, &count, NULL))
                return config_error(error, file, group,
                                    "pool: '%s' is not PROFILE:COUNT (COUNT from 1)", item);
            *colon = '\0';
            if (xe_config_get_profile(c, item) == NULL)
                return config_error(error, file, group,
                                    "pool: profile '%s' is not defined (add a [profile %s] group)",
                                    item, item);
            entry.profile = g_strdup(item);
            entry.count = (guint)count;
            g_array_append_val(layout->pool, entry);
            in_pool += entry.count;
        }
    }
    if (in_pool > layout->vfs)
        return config_error(error, file, group, "pool keeps %u VFs ready but vfs=%u enables fewer",
                            in_pool, layout->vfs);
    return TRUE;
}

static XeConfig *
config_from_keyfile(GKeyFile *kf, const char *name, GError **error)
{
    g_autoptr(XeConfig) c = xe_config_new_default();
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

    c->path = g_strdup(name);
    if (!parse_daemon(kf, name, c, error))
        return NULL;
    /* Profiles first: layouts refer to them wherever they stand in the file. */
    for (guint i = 0; groups[i] != NULL; i++)
        if (g_str_has_prefix(groups[i], PREFIX_PROFILE) &&
            !parse_profile(kf, name, groups[i], c, error))
            return NULL;
    for (guint i = 0; groups[i] != NULL; i++) {
        if (g_str_equal(groups[i], GROUP_DAEMON) || g_str_has_prefix(groups[i], PREFIX_PROFILE))
            continue;
        if (g_str_has_prefix(groups[i], PREFIX_LAYOUT)) {
            if (!parse_layout(kf, name, groups[i], c, error))
                return NULL;
            continue;
        }
        config_error(error, name, groups[i],
                     "unknown group (expected [daemon], [profile NAME] or [layout PF-BDF])");
        return NULL;
    }
    return g_steal_pointer(&c);
}

XeConfig *
xe_config_load_from_data(const char *data, const char *name, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;

    if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: %s", name, local->message);
        return NULL;
    }
    return config_from_keyfile(kf, name, error);
}

XeConfig *
xe_config_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &data, NULL, &local)) {
        g_set_error(error, XE_ERROR,
                    g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? XE_ERROR_NOT_FOUND
                                                                             : XE_ERROR_FAILED,
                    "reading the configuration: %s", local->message);
        return NULL;
    }
    return xe_config_load_from_data(data, path, error);
}

void
xe_config_override_dir(XeConfig *config, const char *key, const char *value)
{
    char **slot = g_str_equal(key, "state-dir") ? &config->state_dir : &config->hooks_dir;

    g_return_if_fail(g_str_equal(key, "state-dir") || g_str_equal(key, "hooks-dir"));
    g_free(*slot);
    *slot = g_strdup(value);
    if (g_str_equal(key, "state-dir"))
        config->state_dir_from = XE_CONFIG_FROM_COMMAND_LINE;
    else
        config->hooks_dir_from = XE_CONFIG_FROM_COMMAND_LINE;
}

/* checking the [daemon] group against the host */

/* "FILE: [daemon] KEY=VALUE", saying where the value came from. */
static char *
where(const XeConfig *c, XeConfigSource from, const char *key, const char *value)
{
    const char *file = c->path != NULL ? c->path : "built-in defaults";

    switch (from) {
    case XE_CONFIG_FROM_FILE:
        return g_strdup_printf("%s: [%s] %s=%s", file, GROUP_DAEMON, key, value);
    case XE_CONFIG_FROM_COMMAND_LINE:
        return g_strdup_printf("--%s=%s (in place of %s: [%s] %s)", key, value, file, GROUP_DAEMON,
                               key);
    case XE_CONFIG_FROM_DEFAULT:
    default:
        return g_strdup_printf("%s: [%s] %s=%s (the default)", file, GROUP_DAEMON, key, value);
    }
}

/* "AT: WHY: STRERROR (ENAME); HINT", the errno kept */
static gboolean
check_error(GError **error, int errnum, const XeConfig *c, XeConfigSource from, const char *key,
            const char *value, const char *why, const char *hint)
{
    g_autofree char *at = where(c, from, key, value);
    GError *e = errnum != 0
                    ? xe_error_new_errno(XE_ERROR_INVALID_ARGUMENT, errnum, "%s: %s", at, why)
                    : g_error_new(XE_ERROR, XE_ERROR_INVALID_ARGUMENT, "%s: %s", at, why);

    if (hint != NULL) {
        char *message = g_strdup_printf("%s; %s", e->message, hint);

        g_free(e->message);
        e->message = message;
    }
    g_propagate_error(error, e);
    return FALSE;
}

/* A directory the daemon writes: there (or created with @mode) and writable, which is tried. */
static gboolean
check_writable_dir(const XeConfig *c, XeConfigSource from, const char *key, const char *dir,
                   int mode, GError **error)
{
    g_autofree char *probe = g_build_filename(dir, ".xe-migrated-XXXXXX", NULL);
    GStatBuf st;
    int fd;

    if (g_mkdir_with_parents(dir, mode) < 0)
        return check_error(error, errno, c, from, key, dir, "cannot create the directory", NULL);
    if (g_stat(dir, &st) < 0)
        return check_error(error, errno, c, from, key, dir, "cannot read the directory", NULL);
    if (!S_ISDIR(st.st_mode))
        return check_error(error, ENOTDIR, c, from, key, dir, "not a directory", NULL);
    fd = g_mkstemp_full(probe, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return check_error(error, errno, c, from, key, dir,
                           "the daemon cannot write there (tried creating a file)", NULL);
    close(fd);
    (void)g_unlink(probe);
    return TRUE;
}

/* qemu-user: its uid, gid and groups, looked up once here (NSS: blocking). Set in the file,
 * it must exist and not be root; left at the default, a missing user is a warning, and QEMU
 * is refused until it exists. */
static gboolean
resolve_qemu_user(XeConfig *c, GError **error)
{
    struct passwd pw, *found = NULL;
    char buf[16384];
    int n = XE_QEMU_MAX_GROUPS;
    int e = getpwnam_r(c->qemu_user, &pw, buf, sizeof(buf), &found);

    memset(&c->qemu, 0, sizeof(c->qemu));
    if (found == NULL && c->qemu_user_from == XE_CONFIG_FROM_DEFAULT) {
        g_warning("the user QEMU runs as, %s, does not exist: no VM can start here until it "
                  "does (systemd-sysusers xe-migrated.conf creates it) or qemu-user names "
                  "another",
                  c->qemu_user);
        return TRUE;
    }
    if (found == NULL)
        return check_error(error, e, c, c->qemu_user_from, "qemu-user", c->qemu_user,
                           e != 0 ? "cannot look the user up" : "no such user",
                           "create it or fix the name");
    if (pw.pw_uid == 0)
        return check_error(error, 0, c, c->qemu_user_from, "qemu-user", c->qemu_user,
                           "that is root (uid 0): QEMU never runs as root", NULL);
    if (getgrouplist(pw.pw_name, pw.pw_gid, c->qemu.groups, &n) < 0)
        return check_error(error, 0, c, c->qemu_user_from, "qemu-user", c->qemu_user,
                           "in too many groups", "QEMU takes 64 at most");
    c->qemu.found = TRUE;
    c->qemu.uid = pw.pw_uid;
    c->qemu.gid = pw.pw_gid;
    c->qemu.n_groups = (guint)n;
    return TRUE;
}

gboolean
xe_config_check(XeConfig *c, GError **error)
{
    if (!check_writable_dir(c, c->state_dir_from, "state-dir", c->state_dir, 0700, error) ||
        !check_writable_dir(c, c->run_dir_from, "run-dir", c->run_dir, 0750, error) ||
        !resolve_qemu_user(c, error))
        return FALSE;
    /* systemd starts services as another user for root only; it is the init system when
     * it made this directory (sd_booted()) */
    if (c->qemu_launcher == XE_QEMU_LAUNCHER_AUTO)
        c->qemu_launcher = geteuid() == 0 && g_file_test("/run/systemd/system", G_FILE_TEST_IS_DIR)
                               ? XE_QEMU_LAUNCHER_SYSTEMD
                               : XE_QEMU_LAUNCHER_FORK;
    else if (c->qemu_launcher == XE_QEMU_LAUNCHER_SYSTEMD && geteuid() != 0)
        return check_error(error, 0, c, XE_CONFIG_FROM_FILE, "qemu-launcher", "systemd",
                           "only a daemon running as root has systemd start QEMU as qemu-user",
                           "use fork (QEMU then runs as the daemon's user)");
    if (c->hooks_dir_from != XE_CONFIG_FROM_DEFAULT) {
        GStatBuf st;

        if (g_stat(c->hooks_dir, &st) < 0)
            return check_error(error, errno, c, c->hooks_dir_from, "hooks-dir", c->hooks_dir,
                               "the hooks directory is not there",
                               "a wrong path would silently turn off every hook, pre-migrate "
                               "vetoes included: create it or fix the path");
        if (!S_ISDIR(st.st_mode))
            return check_error(error, ENOTDIR, c, c->hooks_dir_from, "hooks-dir", c->hooks_dir,
                               "not a directory", NULL);
    }
    return TRUE;
}

const XeLayout *
xe_config_get_layout(const XeConfig *config, const char *pf_bdf)
{
    for (guint i = 0; i < config->layouts->len; i++) {
        XeLayout *l = config->layouts->pdata[i];
        if (g_str_equal(l->pf_bdf, pf_bdf))
            return l;
    }
    return NULL;
}

const XeProfile *
xe_config_get_profile(const XeConfig *config, const char *name)
{
    return g_hash_table_lookup(config->profiles, name);
}
