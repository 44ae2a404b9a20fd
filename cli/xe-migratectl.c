/* xe-migratectl.c: the command line over xe-migrated's D-Bus API.
 *
 *   xe-migratectl [--bus BUS] [--json] COMMAND [ARGS]
 *
 * Output is a readable table (or --json for machines); errors are one line on
 * stderr that says what failed and what to do. Exit codes: see usage().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migratectl"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-migratectl.h"

static const char usage_text[] =
    "usage: xe-migratectl [--bus system|session|ADDRESS] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  list                          PFs and VFs\n"
    "  show BDF                      one PF or VF, every property\n"
    "  enable PF-BDF COUNT           enable COUNT VFs\n"
    "  disable PF-BDF                disable the PF's VFs\n"
    "  bind VF-BDF DRIVER            bind to xe-vfio-pci or xe\n"
    "  unbind VF-BDF\n"
    "  provision VF-BDF PROFILE      a profile name, or KEY=VALUE pairs\n"
    "  profile VF-BDF                the profile the VF holds\n"
    "  reserve PROFILE [PF-BDF]      reserve a VF provisioned with PROFILE\n"
    "  release RESERVATION\n"
    "  reservations\n"
    "  reset VF-BDF                  function-level reset\n"
    "  check VF-BDF PROFILE          can state saved with PROFILE restore into the VF?\n"
    "  drift                         what the layout asks for and the host lacks\n"
    "  metrics                       what Prometheus is told (its text format; the same as\n"
    "                                the daemon's metrics-file)\n"
    "\n"
    "VMs and migrations:\n"
    "  vm-add FILE [--start]         add the VM of a spec file (NAME.vm): start it, or\n"
    "                                adopt the running QEMU its 'qmp' and 'vf' name\n"
    "  vm-remove NAME                forget a VM (a started one is stopped, its VF reset)\n"
    "  vms\n"
    "  migrate VM --to HOST [--policy NAME] [--detach]\n"
    "                                migrate with a live progress bar (--json: one JSON\n"
    "                                object per change, then the job); --detach prints\n"
    "                                the job and returns\n"
    "  jobs                          migration jobs from this host\n"
    "  job ID                        one job, every property\n"
    "  cancel ID                     stop a migration; the VM keeps running here\n"
    "  resolve ID source|destination for a job waiting for its destination's word (the\n"
    "                                source paused): where the VM runs, when that host\n"
    "                                cannot say any more (the job's reason tells)\n"
    "\n"
    "libvirt domains:\n"
    "  domains                       domains holding this host's Xe VFs: can each migrate,\n"
    "                                and why not\n"
    "  domain-prepare DOMAIN         add what it needs to migrate to its definition (the\n"
    "                                VFs' profiles, the enable-migration override)\n"
    "\n"
    "shell completion:\n"
    "  complete WHAT                 live values, one per line: pfs, vfs, vms, jobs,\n"
    "                                reservations, profiles, policies, hosts\n"
    "\n"
    "exit codes: 0 done, 1 failed, 2 usage, 3 daemon unreachable, 4 not permitted,\n"
    "  5 busy (reserved, in use, vetoed), 6 not found, 7 incompatible (check, migrate),\n"
    "  8 cancelled (migrate)\n";

int
fail(const char *what, GError *error)
{
    int code = EXIT_FAILED;

    g_dbus_error_strip_remote_error(error); /* the exit code says the class */
    if (error->domain == XE_ERROR) {
        switch (error->code) {
        case XE_ERROR_ACCESS_DENIED:
            code = EXIT_DENIED;
            break;
        case XE_ERROR_BUSY:
        case XE_ERROR_VETOED:
            code = EXIT_BUSY;
            break;
        case XE_ERROR_NOT_FOUND:
            code = EXIT_NOT_FOUND;
            break;
        case XE_ERROR_INCOMPATIBLE:
            code = EXIT_INCOMPATIBLE;
            break;
        }
    } else if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
               g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
        code = EXIT_UNREACHABLE;
    }
    g_printerr("xe-migratectl: %s: %s%s\n", what, error->message,
               code == EXIT_UNREACHABLE ? "; is xe-migrated running? (systemctl status xe-migrated)"
                                        : "");
    return code;
}

int G_GNUC_PRINTF(1, 2) usage_error(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *message = NULL;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_printerr("xe-migratectl: %s\n%s", message, usage_text);
    return EXIT_USAGE;
}

static XeDBusObject *
find_object(Ctl *ctl, const char *kind, const char *bdf)
{
    g_autofree char *path = xe_bus_object_path(kind, bdf);
    GDBusObject *object = g_dbus_object_manager_get_object(ctl->manager, path);

    return object != NULL ? XE_DBUS_OBJECT(object) : NULL;
}

static XeDBusVF *
get_vf(Ctl *ctl, const char *bdf, GError **error)
{
    g_autoptr(XeDBusObject) object = find_object(ctl, "vf", bdf);
    XeDBusVF *vf = object != NULL ? xe_dbus_object_get_vf(object) : NULL;

    if (vf == NULL)
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "%s is not an enabled VF on this host ('xe-migratectl list' shows them)", bdf);
    return vf;
}

static XeDBusPF *
get_pf(Ctl *ctl, const char *bdf, GError **error)
{
    g_autoptr(XeDBusObject) object = find_object(ctl, "pf", bdf);
    XeDBusPF *pf = object != NULL ? xe_dbus_object_get_pf(object) : NULL;

    if (pf == NULL)
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "%s is not a physical function xe-migrated knows ('xe-migratectl list')", bdf);
    return pf;
}

/* The daemon bounds every step it takes (the longest: a QEMU systemd neither starts nor
 * stops, 30 s each, a VM that does not quit); a call waits for its answer longer than D-Bus's
 * 25 s, so that the answer, not a timeout of ours, says what happened. */
#define MANAGER_CALL_TIMEOUT_MS (5 * 60 * 1000)

XeDBusManager *
get_manager(Ctl *ctl, GError **error)
{
    XeDBusManager *m = xe_dbus_manager_proxy_new_sync(ctl->connection, G_DBUS_PROXY_FLAGS_NONE,
                                                      XE_BUS_NAME, XE_OBJECT_ROOT, NULL, error);

    if (m != NULL)
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(m), MANAGER_CALL_TIMEOUT_MS);
    return m;
}

void
print_json(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);

    printf("%s\n", text);
}

/* Adds every property of @iface to the JSON object being built. */
void
json_properties(JsonBuilder *b, GDBusProxy *iface)
{
    g_auto(GStrv) names = g_dbus_proxy_get_cached_property_names(iface);

    for (guint i = 0; names != NULL && names[i] != NULL; i++) {
        g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(iface, names[i]);

        json_builder_set_member_name(b, names[i]);
        json_builder_add_value(b, json_gvariant_serialize(v));
    }
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(g_dbus_object_get_object_path(*(GDBusObject **)a),
                     g_dbus_object_get_object_path(*(GDBusObject **)b));
}

/* The PCI address of the PF at object path @path among @objects ("-" if gone). */
static const char *
pf_address(GPtrArray *objects, const char *path)
{
    for (guint i = 0; i < objects->len; i++) {
        g_autoptr(XeDBusPF) pf = xe_dbus_object_get_pf(objects->pdata[i]);

        if (pf != NULL &&
            g_str_equal(g_dbus_object_get_object_path(G_DBUS_OBJECT(objects->pdata[i])), path))
            return xe_dbus_pf_get_address(pf); /* the proxy lives on in the object */
    }
    return "-";
}

static int
cmd_list(Ctl *ctl)
{
    GList *objects = g_dbus_object_manager_get_objects(ctl->manager);
    g_autoptr(GPtrArray) sorted = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(JsonBuilder) b = json_builder_new();

    for (GList *l = objects; l != NULL; l = l->next)
        g_ptr_array_add(sorted, l->data);
    g_list_free(objects);
    g_ptr_array_sort(sorted, compare_paths);

    if (ctl->json) {
        json_builder_begin_object(b);
        for (int pass = 0; pass < 2; pass++) {
            json_builder_set_member_name(b, pass == 0 ? "pfs" : "vfs");
            json_builder_begin_array(b);
            for (guint i = 0; i < sorted->len; i++) {
                XeDBusObject *o = sorted->pdata[i];
                g_autoptr(XeDBusPF) pf = xe_dbus_object_get_pf(o);
                g_autoptr(XeDBusVF) vf = xe_dbus_object_get_vf(o);
                GDBusProxy *iface = pass == 0 ? (GDBusProxy *)pf : (GDBusProxy *)vf;

                if (iface == NULL)
                    continue;
                json_builder_begin_object(b);
                json_properties(b, iface);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
        print_json(b);
        return EXIT_OK;
    }

    printf("%-14s %-8s %-12s %4s %6s %-9s %s\n", "PF", "DEVICE", "DRIVER", "VFS", "TOTAL",
           "MIGRATION", "STATUS");
    for (guint i = 0; i < sorted->len; i++) {
        g_autoptr(XeDBusPF) pf = xe_dbus_object_get_pf(sorted->pdata[i]);

        if (pf == NULL)
            continue;
        printf("%-14s 0x%04x   %-12s %4u %6u %-9s %s\n", xe_dbus_pf_get_address(pf),
               xe_dbus_pf_get_device_id(pf),
               *xe_dbus_pf_get_driver(pf) ? xe_dbus_pf_get_driver(pf) : "-",
               xe_dbus_pf_get_enabled_vfs(pf), xe_dbus_pf_get_total_vfs(pf),
               xe_dbus_pf_get_migration_supported(pf),
               *xe_dbus_pf_get_unusable(pf) ? xe_dbus_pf_get_unusable(pf) : "ok");
    }
    printf("\n%-14s %-14s %3s %-12s %-10s %-5s %-36s %s\n", "VF", "PF", "#", "DRIVER", "PROFILE",
           "POOL", "RESERVATION", "HEALTH");
    for (guint i = 0; i < sorted->len; i++) {
        g_autoptr(XeDBusVF) vf = xe_dbus_object_get_vf(sorted->pdata[i]);
        const char *pf_path;

        if (vf == NULL)
            continue;
        pf_path = xe_dbus_vf_get_pf(vf);
        printf("%-14s %-14s %3u %-12s %-10s %-5s %-36s %s\n", xe_dbus_vf_get_address(vf),
               pf_address(sorted, pf_path), xe_dbus_vf_get_index(vf),
               *xe_dbus_vf_get_driver(vf) ? xe_dbus_vf_get_driver(vf) : "-",
               *xe_dbus_vf_get_profile_name(vf) ? xe_dbus_vf_get_profile_name(vf) : "-",
               xe_dbus_vf_get_in_pool(vf) ? "yes" : "no",
               *xe_dbus_vf_get_reservation(vf) ? xe_dbus_vf_get_reservation(vf) : "-",
               xe_dbus_vf_get_health(vf));
    }
    return EXIT_OK;
}

static int
cmd_show(Ctl *ctl, const char *bdf)
{
    g_autoptr(XeDBusObject) pf_obj = find_object(ctl, "pf", bdf);
    g_autoptr(XeDBusObject) vf_obj = find_object(ctl, "vf", bdf);
    GDBusProxy *iface = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) names = NULL;

    if (pf_obj != NULL)
        iface = G_DBUS_PROXY(xe_dbus_object_peek_pf(pf_obj));
    else if (vf_obj != NULL)
        iface = G_DBUS_PROXY(xe_dbus_object_peek_vf(vf_obj));
    if (iface == NULL) {
        g_set_error(&error, XE_ERROR, XE_ERROR_NOT_FOUND,
                    "%s is neither a PF nor an enabled VF here ('xe-migratectl list')", bdf);
        return fail("show", error);
    }
    if (ctl->json) {
        json_builder_begin_object(b);
        json_properties(b, iface);
        json_builder_end_object(b);
        print_json(b);
        return EXIT_OK;
    }
    names = g_dbus_proxy_get_cached_property_names(iface);
    for (guint i = 0; names != NULL && names[i] != NULL; i++) {
        g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(iface, names[i]);
        g_autofree char *text = g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ||
                                        g_variant_is_of_type(v, G_VARIANT_TYPE_OBJECT_PATH)
                                    ? g_variant_dup_string(v, NULL)
                                    : g_variant_print(v, FALSE);
        printf("%-20s %s\n", names[i], text);
    }
    return EXIT_OK;
}

static int
cmd_reservations(Ctl *ctl)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeDBusManager) m = get_manager(ctl, &error);
    g_autoptr(GVariant) list = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    GVariantIter iter;
    const char *id, *vf, *profile, *owner;
    gint64 created;

    if (m == NULL || !xe_dbus_manager_call_list_reservations_sync(m, &list, NULL, &error))
        return fail("reservations", error);
    if (ctl->json) {
        json_builder_begin_array(b);
        g_variant_iter_init(&iter, list);
        while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &owner, &created)) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_string_value(b, id);
            json_builder_set_member_name(b, "vf");
            json_builder_add_string_value(b, vf);
            json_builder_set_member_name(b, "profile");
            json_builder_add_string_value(b, profile);
            json_builder_set_member_name(b, "owner");
            json_builder_add_string_value(b, owner);
            json_builder_set_member_name(b, "created");
            json_builder_add_int_value(b, created);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        print_json(b);
        return EXIT_OK;
    }
    printf("%-36s %-14s %-16s %s\n", "RESERVATION", "VF", "PROFILE", "OWNER");
    g_variant_iter_init(&iter, list);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &owner, &created))
        printf("%-36s %-14s %-16s %s\n", id, vf, profile, owner);
    return EXIT_OK;
}

static int
done(Ctl *ctl, const char *what, gboolean ok, GError *error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (!ok)
        return fail(what, error);
    if (ctl->json) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_end_object(b);
        print_json(b);
    }
    return EXIT_OK;
}

int
main(int argc, char **argv)
{
    Ctl ctl = { 0 };
    g_autofree char *bus = NULL;
    GOptionEntry entries[] = {
        { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
          "system (default), session, or a bus address ($XE_MIGRATED_BUS)", "BUS" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl.json, "Machine-readable output", NULL },
        { "to", 0, 0, G_OPTION_ARG_STRING, &ctl.to, "migrate: the destination host", "HOST" },
        { "policy", 0, 0, G_OPTION_ARG_STRING, &ctl.policy, "migrate: a policy name", "NAME" },
        { "detach", 0, 0, G_OPTION_ARG_NONE, &ctl.detach, "migrate: return once started", NULL },
        { "start", 0, 0, G_OPTION_ARG_NONE, &ctl.start, "vm-add: start the VM's QEMU", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS]");
    g_autoptr(GError) error = NULL;
    g_autofree char *owner = NULL;
    const char *cmd;
    char **args;
    gboolean ok;
    int n;
    int ret;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, usage_text);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return usage_error("%s", error->message);
    if (argc < 2)
        return usage_error("a command is required");
    cmd = argv[1];
    args = argv + 2;
    n = argc - 2;
    if (bus == NULL && g_getenv("XE_MIGRATED_BUS") != NULL)
        bus = g_strdup(g_getenv("XE_MIGRATED_BUS"));

    xe_error_register_dbus();
    ctl.connection = xe_bus_connect(bus, &error);
    if (ctl.connection == NULL) {
        g_printerr("xe-migratectl: connecting to the %s bus: %s\n", bus ? bus : "system",
                   error->message);
        return EXIT_UNREACHABLE;
    }
    ctl.manager = xe_dbus_object_manager_client_new_sync(
        ctl.connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, XE_BUS_NAME,
        XE_OBJECT_ROOT, NULL, &error);
    owner =
        ctl.manager != NULL
            ? g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(ctl.manager))
            : NULL;
    if (owner == NULL) {
        g_printerr("xe-migratectl: xe-migrated is not on the %s bus (%s); is it running?\n",
                   bus ? bus : "system", error ? error->message : "no owner of " XE_BUS_NAME);
        return EXIT_UNREACHABLE;
    }

#define NEED(k)                                                                            \
    do {                                                                                   \
        if (n != (k))                                                                      \
            return usage_error("'%s' takes %d argument%s", cmd, (k), (k) == 1 ? "" : "s"); \
    } while (0)

    if (g_str_equal(cmd, "complete")) {
        NEED(1);
        ret = ctl_complete(&ctl, args[0]);
    } else if (g_str_equal(cmd, "metrics")) {
        g_autoptr(XeDBusManager) m = NULL;
        g_autofree char *text = NULL;

        NEED(0);
        m = get_manager(&ctl, &error);
        if (m == NULL || !xe_dbus_manager_call_metrics_sync(m, &text, NULL, &error)) {
            ret = fail(cmd, error);
        } else {
            fputs(text, stdout);
            ret = EXIT_OK;
        }
    } else if (g_str_equal(cmd, "list")) {
        NEED(0);
        ret = cmd_list(&ctl);
    } else if (g_str_equal(cmd, "show")) {
        NEED(1);
        ret = cmd_show(&ctl, args[0]);
    } else if (g_str_equal(cmd, "reservations")) {
        NEED(0);
        ret = cmd_reservations(&ctl);
    } else if (g_str_equal(cmd, "enable") || g_str_equal(cmd, "disable")) {
        gboolean enable = g_str_equal(cmd, "enable");
        g_autoptr(XeDBusPF) pf = NULL;
        guint64 count = 0;

        NEED(enable ? 2 : 1);
        if (enable && !g_ascii_string_to_unsigned(args[1], 10, 0, 65535, &count, NULL))
            return usage_error("COUNT must be a number");
        pf = get_pf(&ctl, args[0], &error);
        ok = pf != NULL && (enable ? xe_dbus_pf_call_enable_vfs_sync(pf, (guint)count, NULL, &error)
                                   : xe_dbus_pf_call_disable_vfs_sync(pf, NULL, &error));
        ret = done(&ctl, cmd, ok, error); /* after the call: it sets error */
    } else if (g_str_equal(cmd, "bind") || g_str_equal(cmd, "unbind") ||
               g_str_equal(cmd, "reset")) {
        gboolean bind = g_str_equal(cmd, "bind");
        g_autoptr(XeDBusVF) vf = NULL;

        NEED(bind ? 2 : 1);
        vf = get_vf(&ctl, args[0], &error);
        ok = vf != NULL &&
             (bind                         ? xe_dbus_vf_call_bind_sync(vf, args[1], NULL, &error)
              : g_str_equal(cmd, "unbind") ? xe_dbus_vf_call_unbind_sync(vf, NULL, &error)
                                           : xe_dbus_vf_call_reset_sync(vf, NULL, &error));
        ret = done(&ctl, cmd, ok, error); /* after the call: it sets error */
    } else if (g_str_equal(cmd, "provision")) {
        g_autoptr(XeDBusVF) vf = NULL;
        g_autofree char *profile = NULL;

        if (n < 2)
            return usage_error("'provision' takes a VF and a profile name or KEY=VALUE pairs");
        profile = g_strjoinv(",", args + 1);
        vf = get_vf(&ctl, args[0], &error);
        ok = vf != NULL && xe_dbus_vf_call_apply_profile_sync(vf, profile, NULL, &error);
        ret = done(&ctl, cmd, ok, error); /* after the call: it sets error */
    } else if (g_str_equal(cmd, "profile")) {
        g_autoptr(XeDBusVF) vf = NULL;
        g_autofree char *profile = NULL;

        NEED(1);
        vf = get_vf(&ctl, args[0], &error);
        if (vf == NULL || !xe_dbus_vf_call_read_profile_sync(vf, &profile, NULL, &error))
            return fail(cmd, error);
        if (ctl.json) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            g_auto(GStrv) pairs = g_strsplit(profile, ",", -1);

            json_builder_begin_object(b);
            for (guint i = 0; pairs[i] != NULL; i++) {
                char *eq = strchr(pairs[i], '=');
                if (eq == NULL)
                    continue;
                *eq = '\0';
                json_builder_set_member_name(b, pairs[i]);
                json_builder_add_string_value(b, eq + 1);
            }
            json_builder_end_object(b);
            print_json(b);
        } else {
            g_auto(GStrv) pairs = g_strsplit(profile, ",", -1);
            for (guint i = 0; pairs[i] != NULL; i++)
                printf("%s\n", pairs[i]);
        }
        ret = EXIT_OK;
    } else if (g_str_equal(cmd, "reserve")) {
        g_autoptr(XeDBusManager) m = NULL;
        g_autofree char *path = NULL, *id = NULL;
        GVariantBuilder opts;

        if (n < 1 || n > 2)
            return usage_error("'reserve' takes a profile and, optionally, a PF");
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        if (n == 2)
            g_variant_builder_add(&opts, "{sv}", "pf", g_variant_new_string(args[1]));
        m = get_manager(&ctl, &error);
        if (m == NULL || !xe_dbus_manager_call_reserve_sync(
                             m, args[0], g_variant_builder_end(&opts), &path, &id, NULL, &error))
            return fail(cmd, error);
        {
            g_autoptr(XeDBusObject) o =
                XE_DBUS_OBJECT(g_dbus_object_manager_get_object(ctl.manager, path));
            g_autoptr(XeDBusVF) vf = o != NULL ? xe_dbus_object_get_vf(o) : NULL;
            const char *bdf = vf != NULL ? xe_dbus_vf_get_address(vf) : path;

            if (ctl.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "vf");
                json_builder_add_string_value(b, bdf);
                json_builder_set_member_name(b, "reservation");
                json_builder_add_string_value(b, id);
                json_builder_end_object(b);
                print_json(b);
            } else {
                printf("reserved %s: %s\n", bdf, id);
            }
        }
        ret = EXIT_OK;
    } else if (g_str_equal(cmd, "release")) {
        g_autoptr(XeDBusManager) m = NULL;

        NEED(1);
        m = get_manager(&ctl, &error);
        ok = m != NULL && xe_dbus_manager_call_release_sync(m, args[0], NULL, &error);
        ret = done(&ctl, cmd, ok, error); /* after the call: it sets error */
    } else if (g_str_equal(cmd, "check")) {
        g_autoptr(XeDBusVF) vf = NULL;
        g_autofree char *reason = NULL;
        g_autofree char *profile = NULL;

        if (n < 2)
            return usage_error("'check' takes a VF and a profile name or KEY=VALUE pairs");
        profile = g_strjoinv(",", args + 1);
        vf = get_vf(&ctl, args[0], &error);
        ok = FALSE;
        if (vf == NULL ||
            !xe_dbus_vf_call_check_compatibility_sync(vf, profile, &ok, &reason, NULL, &error))
            return fail(cmd, error);
        if (ctl.json) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "compatible");
            json_builder_add_boolean_value(b, ok);
            json_builder_set_member_name(b, "reason");
            json_builder_add_string_value(b, reason);
            json_builder_end_object(b);
            print_json(b);
        } else {
            printf("%s\n", ok ? "compatible" : reason);
        }
        ret = ok ? EXIT_OK : EXIT_INCOMPATIBLE;
    } else if (g_str_equal(cmd, "drift")) {
        g_autoptr(XeDBusManager) m = get_manager(&ctl, &error);
        const char *const *drift;

        NEED(0);
        if (m == NULL)
            return fail(cmd, error);
        drift = xe_dbus_manager_get_drift(m);
        if (ctl.json) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            json_builder_begin_array(b);
            for (guint i = 0; drift != NULL && drift[i] != NULL; i++)
                json_builder_add_string_value(b, drift[i]);
            json_builder_end_array(b);
            print_json(b);
        } else {
            for (guint i = 0; drift != NULL && drift[i] != NULL; i++)
                printf("%s\n", drift[i]);
        }
        ret = EXIT_OK;
    } else if (ctl_vm_command(&ctl, cmd, args, n, &ret)) {
        /* done */
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    g_object_unref(ctl.manager);
    g_object_unref(ctl.connection);
    g_free(ctl.to);
    g_free(ctl.policy);
    return ret;
}
