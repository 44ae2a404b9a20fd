/* xe-migratectl-vm.c: the CLI's VM and migration commands, and the live
 * progress of a migration job (a bar on a terminal, a line per phase
 * otherwise, one JSON object per change with --json).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-migratectl"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xe-migratectl.h"
#include "xe-vm-spec.h"

static GPtrArray *
objects_with(Ctl *ctl, const char *iface)
{
    GList *all = g_dbus_object_manager_get_objects(ctl->manager);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);

    for (GList *l = all; l != NULL; l = l->next) {
        GDBusInterface *i = g_dbus_object_get_interface(l->data, iface);

        if (i != NULL)
            g_ptr_array_add(out, i);
    }
    g_list_free_full(all, g_object_unref);
    return out;
}

static double
mib(guint64 bytes)
{
    return bytes / 1048576.0;
}

/* following a job */

typedef struct {
    Ctl *ctl;
    XeDBusJob *job;
    GMainLoop *loop;
    gboolean tty;
    char *last_phase;
    guint last_attempt;
    gboolean vanished;
} Follow;

static gboolean
job_over(XeDBusJob *job)
{
    const char *state = xe_dbus_job_get_state(job);

    return g_strcmp0(state, "completed") == 0 || g_strcmp0(state, "failed") == 0 ||
           g_strcmp0(state, "cancelled") == 0;
}

/* The VF's migration state between @before and @after, or "" before QEMU announced one. */
static char *
vf_state(XeDBusJob *j, const char *before, const char *after)
{
    const char *state = xe_dbus_job_get_device_state(j);

    return state != NULL && *state != '\0' ? g_strconcat(before, state, after, NULL) : g_strdup("");
}

static void
draw(Follow *f)
{
    XeDBusJob *j = f->job;
    guint64 total = xe_dbus_job_get_ram_total(j), done = xe_dbus_job_get_ram_transferred(j);
    const char *phase = xe_dbus_job_get_phase(j);
    double frac = total > 0 ? MIN(1.0, (double)done / (double)total) : 0;
    int width = 24, filled = (int)(frac * width);

    if (g_str_equal(phase, "done") || g_strcmp0(phase, "cleanup") == 0 ||
        g_strcmp0(phase, "verifying") == 0)
        filled = width, frac = 1;
    if (f->tty) {
        g_autofree char *vf = vf_state(j, " (VF ", ")");

        printf("\r\033[K[%.*s%.*s] %3.0f%% %-21s RAM %.1f/%.1f MiB  device %.1f MiB%s"
               "  %.0f MiB/s  attempt %u/%u",
               filled, "########################", width - filled, "........................",
               frac * 100, phase, mib(done), mib(total), mib(xe_dbus_job_get_device_bytes(j)), vf,
               mib(xe_dbus_job_get_throughput(j)), xe_dbus_job_get_attempt(j),
               xe_dbus_job_get_max_attempts(j));
        fflush(stdout);
    } else if (g_strcmp0(phase, f->last_phase) != 0 ||
               xe_dbus_job_get_attempt(j) != f->last_attempt) {
        g_autofree char *vf = vf_state(j, "  VF ", "");

        printf("%-21s attempt %u/%u  RAM %.1f/%.1f MiB  device %.1f MiB%s\n", phase,
               xe_dbus_job_get_attempt(j), xe_dbus_job_get_max_attempts(j), mib(done), mib(total),
               mib(xe_dbus_job_get_device_bytes(j)), vf);
        fflush(stdout);
    }
    g_free(f->last_phase);
    f->last_phase = g_strdup(phase);
    f->last_attempt = xe_dbus_job_get_attempt(j);
}

static void
on_changed(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, Follow *f)
{
    if (f->ctl->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "job");
        json_builder_add_string_value(b, xe_dbus_job_get_id(f->job));
        json_builder_set_member_name(b, "changed");
        json_builder_add_value(b, json_gvariant_serialize(changed));
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        text = json_to_string(root, FALSE);
        printf("%s\n", text);
        fflush(stdout);
    } else {
        draw(f);
    }
    if (job_over(f->job))
        g_main_loop_quit(f->loop);
}

static void
on_owner(GObject *object, GParamSpec *pspec, Follow *f)
{
    g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(f->job));

    if (owner == NULL) {
        f->vanished = TRUE;
        g_main_loop_quit(f->loop);
    }
}

static void
summary(Follow *f)
{
    XeDBusJob *j = f->job;
    GVariant *timings = xe_dbus_job_get_timings(j);
    GVariant *attempts = xe_dbus_job_get_attempts(j);
    GVariantIter iter;
    const char *klass, *reason, *vf;
    guint64 ms;
    guint n;

    if (f->tty)
        printf("\n");
    printf("job %s: VM %s to %s: %s", xe_dbus_job_get_id(j), xe_dbus_job_get_vm(j),
           xe_dbus_job_get_destination(j), xe_dbus_job_get_state(j));
    if (*xe_dbus_job_get_failure_class(j) != '\0')
        printf(" (%s): %s", xe_dbus_job_get_failure_class(j), xe_dbus_job_get_failure_reason(j));
    printf("\n");
    printf("  attempts    %u\n", xe_dbus_job_get_attempt(j));
    if (attempts != NULL) {
        g_variant_iter_init(&iter, attempts);
        while (g_variant_iter_next(&iter, "(u&s&s&st)", &n, &klass, &reason, &vf, &ms))
            printf("    attempt %u failed after %" G_GUINT64_FORMAT " ms (%s%s%s): %s\n", n, ms,
                   klass, *vf != '\0' ? ", destination VF " : "", vf, reason);
    }
    printf("  downtime    %" G_GUINT64_FORMAT " ms guest-visible, %" G_GUINT64_FORMAT
           " ms by QEMU; limit %" G_GUINT64_FORMAT " ms",
           xe_dbus_job_get_downtime(j), xe_dbus_job_get_qemu_downtime(j),
           xe_dbus_job_get_downtime_limit(j));
    if (xe_dbus_job_get_expected_downtime(j) > 0)
        printf(", VF-aware estimate %" G_GUINT64_FORMAT " ms",
               xe_dbus_job_get_expected_downtime(j));
    printf("\n");
    printf("  total       %.1f ms (QEMU: %" G_GUINT64_FORMAT " ms of migration)\n",
           xe_dbus_job_get_finished(j) > 0
               ? (xe_dbus_job_get_finished(j) - xe_dbus_job_get_started(j)) / 1000.0
               : 0.0,
           xe_dbus_job_get_total_time(j));
    printf("  moved       RAM %.1f MiB, device state %.1f MiB\n",
           mib(xe_dbus_job_get_ram_transferred(j)), mib(xe_dbus_job_get_device_bytes(j)));
    if (timings != NULL) {
        static const char *const order[] = { "preflight", "preparing-destination",
                                             "migrating", "switchover",
                                             "verifying", "cleanup",
                                             "backoff" };

        printf("  phases     ");
        for (guint i = 0; i < G_N_ELEMENTS(order); i++)
            if (g_variant_lookup(timings, order[i], "t", &ms))
                printf(" %s %" G_GUINT64_FORMAT " ms;", order[i], ms);
        printf("\n");
    }
}

static int
job_exit_code(XeDBusJob *job)
{
    const char *state = xe_dbus_job_get_state(job);
    const char *klass = xe_dbus_job_get_failure_class(job);

    if (g_str_equal(state, "completed"))
        return EXIT_OK;
    if (g_str_equal(state, "cancelled"))
        return EXIT_CANCELLED;
    if (g_str_equal(klass, "vetoed"))
        return EXIT_BUSY;
    return g_str_equal(klass, "incompatible") ? EXIT_INCOMPATIBLE : EXIT_FAILED;
}

static XeDBusJob *
get_job(Ctl *ctl, const char *id, GError **error)
{
    g_autofree char *path = xe_bus_object_path("job", id);
    g_autoptr(GDBusObject) object = g_dbus_object_manager_get_object(ctl->manager, path);
    XeDBusJob *job = object != NULL ? xe_dbus_object_get_job(XE_DBUS_OBJECT(object)) : NULL;

    if (job == NULL)
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no job %s ('xe-migratectl jobs')", id);
    return job;
}

static int
follow(Ctl *ctl, const char *path)
{
    g_autoptr(GError) error = NULL;
    Follow f = { ctl };
    int code;

    f.job = xe_dbus_job_proxy_new_sync(ctl->connection, G_DBUS_PROXY_FLAGS_NONE, XE_BUS_NAME, path,
                                       NULL, &error);
    if (f.job == NULL)
        return fail("following the job", error);
    f.tty = isatty(STDOUT_FILENO) && !ctl->json;
    f.loop = g_main_loop_new(NULL, FALSE);
    g_signal_connect(f.job, "g-properties-changed", G_CALLBACK(on_changed), &f);
    g_signal_connect(f.job, "notify::g-name-owner", G_CALLBACK(on_owner), &f);
    if (!ctl->json)
        draw(&f);
    if (!job_over(f.job))
        g_main_loop_run(f.loop);
    if (f.vanished) {
        g_printerr("\nxe-migratectl: xe-migrated left the bus during the migration; the job's "
                   "outcome is in its journal\n");
        code = EXIT_UNREACHABLE;
    } else if (ctl->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_properties(b, G_DBUS_PROXY(f.job));
        json_builder_end_object(b);
        print_json(b);
        code = job_exit_code(f.job);
    } else {
        summary(&f);
        code = job_exit_code(f.job);
    }
    g_main_loop_unref(f.loop);
    g_object_unref(f.job);
    g_free(f.last_phase);
    return code;
}

/* commands */

static int
cmd_vms(Ctl *ctl)
{
    g_autoptr(GPtrArray) vms = objects_with(ctl, XE_BUS_NAME ".VM");
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    if (!ctl->json)
        printf("%-16s %-10s %-14s %-8s %-10s %s\n", "VM", "STATE", "VF", "PID", "POLICY", "QMP");
    for (guint i = 0; i < vms->len; i++) {
        XeDBusVM *vm = vms->pdata[i];

        if (ctl->json) {
            json_builder_begin_object(b);
            json_properties(b, G_DBUS_PROXY(vm));
            json_builder_end_object(b);
        } else {
            printf("%-16s %-10s %-14s %-8u %-10s %s\n", xe_dbus_vm_get_name(vm),
                   xe_dbus_vm_get_state(vm), xe_dbus_vm_get_vf(vm), xe_dbus_vm_get_pid(vm),
                   xe_dbus_vm_get_policy(vm), xe_dbus_vm_get_qmp_socket(vm));
        }
    }
    json_builder_end_array(b);
    if (ctl->json)
        print_json(b);
    return EXIT_OK;
}

static int
cmd_jobs(Ctl *ctl)
{
    g_autoptr(GPtrArray) jobs = objects_with(ctl, XE_BUS_NAME ".Job");
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    if (!ctl->json)
        printf("%-5s %-16s %-16s %-10s %-21s %-8s %s\n", "JOB", "VM", "TO", "STATE", "PHASE",
               "ATTEMPT", "RESULT");
    for (guint i = 0; i < jobs->len; i++) {
        XeDBusJob *j = jobs->pdata[i];

        if (ctl->json) {
            json_builder_begin_object(b);
            json_properties(b, G_DBUS_PROXY(j));
            json_builder_end_object(b);
        } else {
            printf("%-5s %-16s %-16s %-10s %-21s %u/%-6u %s\n", xe_dbus_job_get_id(j),
                   xe_dbus_job_get_vm(j), xe_dbus_job_get_destination(j), xe_dbus_job_get_state(j),
                   xe_dbus_job_get_phase(j), xe_dbus_job_get_attempt(j),
                   xe_dbus_job_get_max_attempts(j), xe_dbus_job_get_failure_class(j));
        }
    }
    json_builder_end_array(b);
    if (ctl->json)
        print_json(b);
    return EXIT_OK;
}

/* libvirt domains holding this host's VFs, and whether each can migrate */
static int
cmd_domains(Ctl *ctl)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeDBusManager) m = get_manager(ctl, &error);
    g_autoptr(GVariant) domains = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    GVariantIter iter;
    GVariant *d;

    if (m == NULL || !xe_dbus_manager_call_list_domains_sync(m, &domains, NULL, &error))
        return fail("domains", error);
    json_builder_begin_array(b);
    if (!ctl->json)
        printf("%-16s %-10s %-10s %-30s %s\n", "DOMAIN", "STATE", "MIGRATES", "VFS", "WHY NOT");
    g_variant_iter_init(&iter, domains);
    while ((d = g_variant_iter_next_value(&iter)) != NULL) {
        const char *name = "", *state = "";
        g_autofree const char **vfs = NULL, **problems = NULL;
        g_autofree char *vf_list = NULL;
        gboolean ready = FALSE;

        g_variant_lookup(d, "name", "&s", &name);
        g_variant_lookup(d, "state", "&s", &state);
        g_variant_lookup(d, "ready", "b", &ready);
        g_variant_lookup(d, "vfs", "^a&s", &vfs);
        g_variant_lookup(d, "problems", "^a&s", &problems);
        vf_list = vfs != NULL ? g_strjoinv(",", (char **)vfs) : g_strdup("");
        if (ctl->json) {
            JsonNode *node = json_gvariant_serialize(d);

            json_builder_add_value(b, node);
        } else {
            printf("%-16s %-10s %-10s %-30s %s\n", name, state, ready ? "yes" : "no", vf_list,
                   problems != NULL && problems[0] != NULL ? problems[0] : "");
            /* the first problem shares the domain's line, the others follow it */
            for (guint i = 1; problems != NULL && i < g_strv_length((char **)problems); i++)
                printf("%-69s %s\n", "", problems[i]);
        }
        g_variant_unref(d);
    }
    json_builder_end_array(b);
    if (ctl->json)
        print_json(b);
    return EXIT_OK;
}

gboolean
ctl_vm_command(Ctl *ctl, const char *cmd, char **args, int n, int *ret)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeDBusManager) m = NULL;

    if (g_str_equal(cmd, "vms")) {
        *ret = n == 0 ? cmd_vms(ctl) : usage_error("'vms' takes no argument");
    } else if (g_str_equal(cmd, "domains")) {
        *ret = n == 0 ? cmd_domains(ctl) : usage_error("'domains' takes no argument");
    } else if (g_str_equal(cmd, "domain-prepare")) {
        g_auto(GStrv) changes = NULL;

        if (n != 1) {
            *ret = usage_error("'domain-prepare' takes a libvirt domain's name");
            return TRUE;
        }
        m = get_manager(ctl, &error);
        if (m == NULL ||
            !xe_dbus_manager_call_prepare_domain_sync(m, args[0], &changes, NULL, &error)) {
            *ret = fail(cmd, error);
            return TRUE;
        }
        if (ctl->json) {
            g_autoptr(JsonBuilder) b = json_builder_new();

            json_builder_begin_object(b);
            json_builder_set_member_name(b, "domain");
            json_builder_add_string_value(b, args[0]);
            json_builder_set_member_name(b, "changes");
            json_builder_begin_array(b);
            for (guint i = 0; changes[i] != NULL; i++)
                json_builder_add_string_value(b, changes[i]);
            json_builder_end_array(b);
            json_builder_end_object(b);
            print_json(b);
        } else if (changes[0] == NULL) {
            printf("domain %s has what it needs to migrate: nothing changed\n", args[0]);
        }
        for (guint i = 0; !ctl->json && changes[i] != NULL; i++)
            printf("domain %s: %s\n", args[0], changes[i]);
        *ret = EXIT_OK;
    } else if (g_str_equal(cmd, "jobs")) {
        *ret = n == 0 ? cmd_jobs(ctl) : usage_error("'jobs' takes no argument");
    } else if (g_str_equal(cmd, "job") || g_str_equal(cmd, "cancel") ||
               g_str_equal(cmd, "resolve")) {
        g_autoptr(XeDBusJob) job = NULL;

        if (g_str_equal(cmd, "resolve") &&
            (n != 2 || (!g_str_equal(args[1], "source") && !g_str_equal(args[1], "destination")))) {
            *ret = usage_error("'resolve' takes a job id and 'source' or 'destination'");
            return TRUE;
        }
        if (!g_str_equal(cmd, "resolve") && n != 1) {
            *ret = usage_error("'%s' takes a job id", cmd);
            return TRUE;
        }
        job = get_job(ctl, args[0], &error);
        if (job == NULL) {
            *ret = fail(cmd, error);
        } else if (g_str_equal(cmd, "cancel")) {
            *ret = xe_dbus_job_call_cancel_sync(job, NULL, &error) ? EXIT_OK : fail(cmd, error);
        } else if (g_str_equal(cmd, "resolve")) {
            *ret = xe_dbus_job_call_resolve_sync(job, args[1], NULL, &error) ? EXIT_OK
                                                                             : fail(cmd, error);
        } else {
            g_autoptr(JsonBuilder) b = json_builder_new();

            json_builder_begin_object(b);
            json_properties(b, G_DBUS_PROXY(job));
            json_builder_end_object(b);
            print_json(b);
            *ret = EXIT_OK;
        }
    } else if (g_str_equal(cmd, "vm-add")) {
        g_autoptr(XeVmSpec) spec = NULL;
        g_autofree char *path = NULL;
        GVariantBuilder options;

        if (n != 1) {
            *ret = usage_error("'vm-add' takes a spec file");
            return TRUE;
        }
        spec = xe_vm_spec_load(args[0], &error);
        m = spec != NULL ? get_manager(ctl, &error) : NULL;
        if (m == NULL) {
            *ret = fail(cmd, error);
            return TRUE;
        }
        g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&options, "{sv}", "start", g_variant_new_boolean(ctl->start));
        if (!xe_dbus_manager_call_add_vm_sync(m, xe_vm_spec_to_variant(spec),
                                              g_variant_builder_end(&options), &path, NULL,
                                              &error)) {
            *ret = fail(cmd, error);
            return TRUE;
        }
        printf("%s\n", path);
        *ret = EXIT_OK;
    } else if (g_str_equal(cmd, "vm-remove")) {
        if (n != 1) {
            *ret = usage_error("'vm-remove' takes a VM name");
            return TRUE;
        }
        m = get_manager(ctl, &error);
        *ret = m != NULL && xe_dbus_manager_call_remove_vm_sync(m, args[0], NULL, &error)
                   ? EXIT_OK
                   : fail(cmd, error);
    } else if (g_str_equal(cmd, "migrate")) {
        g_autofree char *path = NULL;
        GVariantBuilder options;

        if (n != 1 || ctl->to == NULL) {
            *ret = usage_error("'migrate' takes a VM name and --to HOST");
            return TRUE;
        }
        m = get_manager(ctl, &error);
        if (m == NULL) {
            *ret = fail(cmd, error);
            return TRUE;
        }
        g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
        if (ctl->policy != NULL)
            g_variant_builder_add(&options, "{sv}", "policy", g_variant_new_string(ctl->policy));
        if (!xe_dbus_manager_call_migrate_sync(m, args[0], ctl->to, g_variant_builder_end(&options),
                                               &path, NULL, &error)) {
            *ret = fail(cmd, error);
            return TRUE;
        }
        if (ctl->detach) {
            printf("%s\n", path);
            *ret = EXIT_OK;
        } else {
            *ret = follow(ctl, path);
        }
    } else {
        return FALSE;
    }
    return TRUE;
}
