/* xe-migratectl-complete.c: `xe-migratectl complete WHAT`, the live values shell completion
 * offers (cli/xe-migratectl.bash-completion), asked from the daemon, one per line, sorted,
 * each once:
 *
 *   pfs, vfs       the PF and VF addresses it knows
 *   vms            its VMs' names, and the libvirt domains holding this host's VFs
 *   jobs           its jobs' ids
 *   reservations   its reservations' ids
 *   profiles       the profile names its VFs carry (the warm pool's)
 *   policies       the policies its VMs and jobs name
 *   hosts          the hosts its jobs went to
 *
 * Nothing is printed for what the daemon cannot say (libvirt off, say): a completion offers
 * less, never an error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migratectl"

#include <stdio.h>

#include "xe-migratectl.h"

static void
add(GHashTable *set, const char *value)
{
    if (value != NULL && *value != '\0')
        g_hash_table_add(set, g_strdup(value));
}

static void
from_objects(Ctl *ctl, const char *what, GHashTable *set)
{
    GList *objects = g_dbus_object_manager_get_objects(ctl->manager);

    for (GList *l = objects; l != NULL; l = l->next) {
        XeDBusObject *o = l->data;
        g_autoptr(XeDBusPF) pf = xe_dbus_object_get_pf(o);
        g_autoptr(XeDBusVF) vf = xe_dbus_object_get_vf(o);
        g_autoptr(XeDBusVM) vm = xe_dbus_object_get_vm(o);
        g_autoptr(XeDBusJob) job = xe_dbus_object_get_job(o);

        if (g_str_equal(what, "pfs") && pf != NULL)
            add(set, xe_dbus_pf_get_address(pf));
        else if (g_str_equal(what, "vfs") && vf != NULL)
            add(set, xe_dbus_vf_get_address(vf));
        else if (g_str_equal(what, "profiles") && vf != NULL)
            add(set, xe_dbus_vf_get_profile_name(vf));
        else if (g_str_equal(what, "vms") && vm != NULL)
            add(set, xe_dbus_vm_get_name(vm));
        else if (g_str_equal(what, "policies") && vm != NULL)
            add(set, xe_dbus_vm_get_policy(vm));
        else if (g_str_equal(what, "policies") && job != NULL)
            add(set, xe_dbus_job_get_policy(job));
        else if (g_str_equal(what, "jobs") && job != NULL)
            add(set, xe_dbus_job_get_id(job));
        else if (g_str_equal(what, "hosts") && job != NULL)
            add(set, xe_dbus_job_get_destination(job));
    }
    g_list_free_full(objects, g_object_unref);
}

static void
from_manager(Ctl *ctl, const char *what, GHashTable *set)
{
    g_autoptr(XeDBusManager) m = get_manager(ctl, NULL);
    g_autoptr(GVariant) list = NULL;
    GVariantIter iter;

    if (m == NULL)
        return;
    if (g_str_equal(what, "reservations") &&
        xe_dbus_manager_call_list_reservations_sync(m, &list, NULL, NULL)) {
        const char *id;

        g_variant_iter_init(&iter, list);
        while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, NULL, NULL, NULL, NULL))
            add(set, id);
    } else if (g_str_equal(what, "vms") &&
               xe_dbus_manager_call_list_domains_sync(m, &list, NULL, NULL)) {
        GVariant *d;

        g_variant_iter_init(&iter, list);
        while ((d = g_variant_iter_next_value(&iter)) != NULL) {
            const char *name = NULL;

            if (g_variant_lookup(d, "name", "&s", &name))
                add(set, name);
            g_variant_unref(d);
        }
    }
}

static gint
by_text(gconstpointer a, gconstpointer b, gpointer data)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

int
ctl_complete(Ctl *ctl, const char *what)
{
    static const char *const known[] = { "pfs",      "vfs",      "vms",   "jobs", "reservations",
                                         "profiles", "policies", "hosts", NULL };
    g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree const char **values = NULL;
    guint n;

    if (!g_strv_contains(known, what))
        return usage_error("'complete' takes one of pfs, vfs, vms, jobs, reservations, "
                           "profiles, policies, hosts; not '%s'",
                           what);
    from_objects(ctl, what, set);
    from_manager(ctl, what, set);
    values = (const char **)g_hash_table_get_keys_as_array(set, &n);
    g_qsort_with_data(values, (gint)n, sizeof(char *), by_text, NULL);
    for (guint i = 0; i < n; i++)
        printf("%s\n", values[i]);
    return EXIT_OK;
}
