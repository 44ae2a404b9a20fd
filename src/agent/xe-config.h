/* xe-config.h: xe-migrated's configuration, a GKeyFile
 * (/etc/xe-migrated/xe-migrated.conf; the shipped defaults are
 * policy/xe-migrated.conf, which documents every key):
 *
 *   [daemon]          version, allowed-group, hooks-dir, hook-timeout-ms, state-dir,
 *                     run-dir, policy-dir, transport, migration-address, emulators
 *   [profile NAME]    a VF provisioning profile (xe-profile.h keys)
 *   [layout PF-BDF]   vfs=N and pool=PROFILE:COUNT,... (VFs kept bound and provisioned)
 *
 * Anything unknown or malformed is an error that names the file, the group,
 * the key and what was expected: a daemon must not guess at its host layout.
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

typedef struct {
    char *path;          /* where it was read from, NULL for built-in defaults */
    char *allowed_group; /* callers in this group may change things (root always may) */
    char *hooks_dir;
    guint hook_timeout_ms;
    char *state_dir;
    char *run_dir;    /* QMP sockets and logs of the QEMUs the daemon starts */
    char *policy_dir; /* NAME.policy files */
    GStrv transport;  /* the command that reaches another host's daemon bus; "{host}" in it */
    char *migration_address; /* where other hosts reach this one's QEMUs; "" = its host name */
    GStrv emulators;         /* a spec's argv[0] must be one of these, exactly */
    GHashTable *profiles;    /* name -> XeProfile */
    GPtrArray *layouts;      /* XeLayout, in file order */
} XeConfig;

/* The built-in defaults (what policy/xe-migrated.conf says, with no layout). */
XeConfig *xe_config_new_default(void);
XeConfig *xe_config_load(const char *path, GError **error);
XeConfig *xe_config_load_from_data(const char *data, const char *name, GError **error);
void xe_config_free(XeConfig *config);

const XeLayout *xe_config_get_layout(const XeConfig *config, const char *pf_bdf);
const XeProfile *xe_config_get_profile(const XeConfig *config, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeConfig, xe_config_free)

G_END_DECLS
