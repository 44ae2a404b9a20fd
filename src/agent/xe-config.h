/* xe-config.h: xe-migrated's configuration, a GKeyFile
 * (/etc/xe-migrated/xe-migrated.conf; the shipped defaults are
 * policy/xe-migrated.conf, which documents every key):
 *
 *   [daemon]          version, hooks-dir, hook-timeout-ms, peer-timeout-ms, qemu-user,
 *                     libvirt-uri, libvirt-migration-uri, libvirt-reconcile-s, metrics-file,
 *                     state-dir, run-dir, policy-dir, transport, migration-address, emulators
 *   [profile NAME]    a VF provisioning profile (xe-profile.h keys)
 *   [layout PF-BDF]   vfs=N and pool=PROFILE:COUNT,... (VFs kept bound and provisioned)
 *
 * Anything unknown or malformed is an error that names the file, the group,
 * the key and what was expected: a daemon must not guess at its host layout.
 * xe_config_check() then tries what the [daemon] group names on this host
 * (directories usable, the group there), at start and before a reload.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "xe-profile.h"

G_BEGIN_DECLS

#define XE_CONFIG_VERSION 1

typedef struct {
    char *profile;
    guint count;
} XePoolEntry;

typedef struct {
    char *pf_bdf;
    guint vfs;    /* VFs to enable */
    GArray *pool; /* XePoolEntry: VFs to keep ready per profile */
} XeLayout;

/* Where a [daemon] value came from, for the errors that name it. */
typedef enum {
    XE_CONFIG_FROM_DEFAULT,      /* built in */
    XE_CONFIG_FROM_FILE,         /* the key in the file */
    XE_CONFIG_FROM_COMMAND_LINE, /* an option of the daemon (--state-dir, --hooks-dir) */
} XeConfigSource;

#define XE_QEMU_MAX_GROUPS 64

/* The user the daemon starts QEMU as (qemu-user), resolved by xe_config_check(). */
typedef struct {
    gboolean found; /* the user exists; else QEMU is not started (a daemon running as root) */
    uid_t uid;
    gid_t gid;
    guint n_groups;
    gid_t groups[XE_QEMU_MAX_GROUPS]; /* its supplementary groups (kvm, ...) */
} XeQemuUser;

/* How the daemon starts QEMU (qemu-launcher). */
typedef enum {
    XE_QEMU_LAUNCHER_AUTO,    /* systemd when it is the init system, else fork */
    XE_QEMU_LAUNCHER_FORK,    /* a child of the daemon, switched to qemu-user (needs
                               * CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL) */
    XE_QEMU_LAUNCHER_SYSTEMD, /* a transient systemd service of its own, as qemu-user */
} XeQemuLauncher;

const char *xe_qemu_launcher_to_string(XeQemuLauncher launcher);

typedef struct {
    char *path; /* where it was read from, NULL for built-in defaults */
    char *hooks_dir;
    guint hook_timeout_ms;
    guint peer_timeout_ms; /* one call to another host's daemon (PrepareIncoming, Finish) */
    char *state_dir;
    char *run_dir;    /* QMP sockets and logs of the QEMUs the daemon starts */
    char *policy_dir; /* NAME.policy files */
    GStrv transport;  /* the command that reaches another host's daemon bus; "{host}" in it */
    char *migration_address;      /* where other hosts reach this one's QEMUs; "" = its host name */
    GStrv emulators;              /* a spec's argv[0] must be one of these, exactly */
    char *qemu_user;              /* QEMU runs as this user, never as root */
    XeQemuUser qemu;              /* qemu_user resolved (xe_config_check()) */
    XeQemuLauncher qemu_launcher; /* never AUTO after xe_config_check() */
    char *libvirt_uri;            /* this host's libvirt ("" : none) */
    char *libvirt_migration_uri;  /* how other hosts' libvirtd reach it ("": qemu+tls://HOST) */
    guint libvirt_reconcile_s;    /* how old a domain's reservation must be, and how often */
    char *metrics_file;           /* Prometheus textfile the daemon keeps ("": none) */
    GHashTable *profiles;         /* name -> XeProfile */
    GPtrArray *layouts;           /* XeLayout, in file order */
    XeConfigSource hooks_dir_from, state_dir_from, run_dir_from, qemu_user_from;
} XeConfig;

/* The built-in defaults (what policy/xe-migrated.conf says, with no layout). */
XeConfig *xe_config_new_default(void);
XeConfig *xe_config_load(const char *path, GError **error);
XeConfig *xe_config_load_from_data(const char *data, const char *name, GError **error);
void xe_config_free(XeConfig *config);

/* Sets the [daemon] directory @key ("state-dir" or "hooks-dir") from the daemon's
 * command-line option of the same name. */
void xe_config_override_dir(XeConfig *config, const char *key, const char *value);
/* Checks, on this host, what the [daemon] group names: the state and run
 * directories exist (created if missing) and are writable (tried: a file is
 * created and removed), the hooks directory exists when one is configured (a
 * typo must not silently turn off pre-migrate vetoes; the built-in default may
 * be missing: no hooks). Each refusal
 * (XE_ERROR_INVALID_ARGUMENT) names the file, the group, the key and why, and
 * keeps the errno. Blocking: call it off the main loop. */
gboolean xe_config_check(XeConfig *config, GError **error);

const XeLayout *xe_config_get_layout(const XeConfig *config, const char *pf_bdf);
const XeProfile *xe_config_get_profile(const XeConfig *config, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeConfig, xe_config_free)

G_END_DECLS
