/* test-dispatch.c: suite "daemon", the D-Bus service's tables and
 * conversions on their own (daemon/xe-service*.c): every method of the
 * interface XML is in the method table exactly once (the list comes from the
 * generated interface info, not from a copy), every method that takes
 * options names their types, every method names a polkit action that
 * org.xemigrated.XeMigrated1.policy declares (and the file declares nothing
 * else), the options check, and the conversion of errors from other domains
 * into named XE_ERROR ones.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "xe-error.h"
#include "xe-qmp-error.h"
#include "xe-service-private.h"
#include "xe-test-util.h"

static GDBusInterfaceInfo *
interface_info(guint i)
{
    GDBusInterfaceInfo *(*const infos[])(void) = {
        xe_dbus_manager_interface_info, xe_dbus_pf_interface_info,  xe_dbus_vf_interface_info,
        xe_dbus_vm_interface_info,      xe_dbus_job_interface_info, xe_dbus_incoming_interface_info,
    };

    return i < G_N_ELEMENTS(infos) ? infos[i]() : NULL;
}

static gboolean
takes_options(const GDBusMethodInfo *m)
{
    for (guint a = 0; m->in_args != NULL && m->in_args[a] != NULL; a++)
        if (g_str_equal(m->in_args[a]->name, "options"))
            return TRUE;
    return FALSE;
}

START_TEST(test_every_method_of_the_xml_once_in_the_table)
{
    gsize n = 0;
    const XeServiceMethod *table = xe_service_get_methods(&n);
    guint methods = 0;
    GDBusInterfaceInfo *info;

    for (guint i = 0; (info = interface_info(i)) != NULL; i++) {
        for (guint m = 0; info->methods != NULL && info->methods[m] != NULL; m++) {
            const GDBusMethodInfo *method = info->methods[m];
            guint found = 0;

            for (gsize t = 0; t < n; t++) {
                if (!g_str_equal(table[t].interface, info->name) ||
                    !g_str_equal(table[t].method, method->name))
                    continue;
                found++;
                ck_assert_msg(table[t].handler != NULL, "%s.%s has no handler", info->name,
                              method->name);
                ck_assert_msg(table[t].action <= XE_SERVICE_RELOAD, "%s.%s has no action",
                              info->name, method->name);
                ck_assert_msg(takes_options(method) || table[t].options == NULL,
                              "%s.%s lists options it has no argument for", info->name,
                              method->name);
            }
            ck_assert_msg(found == 1, "%s.%s is in the method table %u times", info->name,
                          method->name, found);
            methods++;
        }
    }
    /* ... and nothing in the table that the XML lacks */
    ck_assert_uint_eq(methods, n);
}
END_TEST

START_TEST(test_every_interface_of_the_xml_is_known)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusNodeInfo) node = NULL;

    /* the interfaces above are those of the XML itself (one added there shows here) */
    ck_assert_msg(g_file_get_contents(g_getenv("XE_DBUS_XML"), &xml, NULL, &error), "%s",
                  error ? error->message : "XE_DBUS_XML unset");
    node = g_dbus_node_info_new_for_xml(xml, &error);
    ck_assert_msg(node != NULL, "%s", error ? error->message : "");
    for (guint i = 0; node->interfaces[i] != NULL; i++) {
        gboolean found = FALSE;
        GDBusInterfaceInfo *info;

        for (guint g = 0; (info = interface_info(g)) != NULL; g++)
            found |= g_str_equal(info->name, node->interfaces[i]->name);
        ck_assert_msg(found, "%s is not checked against the method table",
                      node->interfaces[i]->name);
    }
}
END_TEST

START_TEST(test_reads_open_to_anyone_changes_need_an_action)
{
    static const char *const open[] = { "ListReservations", "ListDomains", "DomainState", "Metrics",
                                        NULL };
    static const char *const vf_reads[] = { "ReadProfile", "CheckCompatibility", NULL };
    gsize n = 0;
    const XeServiceMethod *table = xe_service_get_methods(&n);

    for (gsize t = 0; t < n; t++) {
        const char *m = table[t].method;

        ck_assert_msg(g_strv_contains(open, m) == (table[t].action == XE_SERVICE_OPEN),
                      "%s.%s: open is only for reads of the host", table[t].interface, m);
        ck_assert_msg(g_strv_contains(vf_reads, m) == (table[t].action == XE_SERVICE_READ_VF),
                      "%s.%s: wrong action", table[t].interface, m);
    }
    ck_assert_ptr_null(xe_service_lookup_method(XE_BUS_NAME ".Manager", "Frobnicate"));
    ck_assert_ptr_nonnull(xe_service_lookup_method(XE_BUS_NAME ".VF", "ApplyProfile"));
}
END_TEST

/* The polkit policy file: action id -> its <allow_any> default. */
typedef struct {
    GHashTable *actions;
    char *current;
    gboolean in_allow_any;
} PolicyFile;

static void
policy_start(GMarkupParseContext *ctx, const char *element, const char **names, const char **values,
             gpointer data, GError **error)
{
    PolicyFile *p = data;

    if (g_str_equal(element, "action")) {
        for (guint i = 0; names[i] != NULL; i++)
            if (g_str_equal(names[i], "id")) {
                g_free(p->current);
                p->current = g_strdup(values[i]);
                g_hash_table_insert(p->actions, g_strdup(values[i]), g_strdup(""));
            }
    }
    p->in_allow_any = g_str_equal(element, "allow_any");
}

static void
policy_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data, GError **error)
{
    PolicyFile *p = data;

    if (p->in_allow_any && p->current != NULL)
        g_hash_table_insert(p->actions, g_strdup(p->current), g_strndup(text, len));
}

static void
policy_end(GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
    ((PolicyFile *)data)->in_allow_any = FALSE;
}

START_TEST(test_every_action_declared_for_polkit)
{
    static const GMarkupParser parser = { policy_start, policy_end, policy_text, NULL, NULL };
    PolicyFile p = { g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free), NULL };
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
    g_autofree char *xml = NULL;
    g_autoptr(GError) error = NULL;
    GHashTableIter iter;
    gpointer id, allow_any;
    gsize n = 0;
    const XeServiceMethod *table = xe_service_get_methods(&n);

    ck_assert_msg(g_file_get_contents(g_getenv("XE_POLKIT_POLICY"), &xml, NULL, &error), "%s",
                  error ? error->message : "XE_POLKIT_POLICY unset");
    ck_assert_msg(g_markup_parse_context_parse(ctx, xml, -1, &error) &&
                      g_markup_parse_context_end_parse(ctx, &error),
                  "%s", error ? error->message : "");
    for (gsize t = 0; t < n; t++) {
        const char *action = xe_service_action_id(table[t].action);

        if (action == NULL)
            continue;
        ck_assert_msg(g_hash_table_contains(p.actions, action),
                      "%s.%s: action %s is not in the polkit policy file", table[t].interface,
                      table[t].method, action);
        g_hash_table_add(used, (gpointer)action);
        ck_assert_msg(*xe_service_action_purpose(table[t].action) != '\0', "%s has no purpose",
                      action);
    }
    g_hash_table_iter_init(&iter, p.actions);
    while (g_hash_table_iter_next(&iter, &id, &allow_any)) {
        ck_assert_msg(g_hash_table_contains(used, id), "%s: no method needs it", (char *)id);
        /* only reads of a VF are granted to anyone by default */
        ck_assert_msg(g_str_equal(allow_any, "yes") ==
                          g_str_equal(id, "org.xemigrated.XeMigrated1.read-vf"),
                      "%s: allow_any=%s", (char *)id, (char *)allow_any);
    }
    g_hash_table_unref(p.actions);
    g_free(p.current);
}
END_TEST

/* options */

static GVariant *
vardict(const char *text)
{
    g_autoptr(GError) error = NULL;
    GVariant *v = g_variant_parse(G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

    ck_assert_msg(v != NULL, "%s: %s", text, error ? error->message : "");
    return g_variant_ref_sink(v);
}

static const struct {
    const char *method;
    const char *options;
    const char *error; /* NULL: accepted */
} option_cases[] = {
    { "Reserve", "@a{sv} {}", NULL },
    { "Reserve", "{'pf': <'0000:03:00.0'>}", NULL },
    { "Reserve", "{'pf': <int32 3>}",
      "Reserve: option 'pf' must be a string (type 's'), not type 'i'" },
    { "Reserve", "{'colour': <'red'>}", "Reserve: unknown option 'colour' (it takes pf)" },
    { "AddVM", "{'start': <true>}", NULL },
    { "AddVM", "{'start': <'yes'>}",
      "AddVM: option 'start' must be a boolean (type 'b'), not type 's'" },
    { "Migrate", "{'policy': <'strict'>}", NULL },
    { "Migrate", "{'policy': <['a']>}",
      "Migrate: option 'policy' must be a string (type 's'), not type 'as'" },
    { "PrepareIncoming",
      "{'host': <'a'>, 'switchover-ack': <true>, 'multifd': <false>, 'multifd-channels': "
      "<uint32 4>}",
      NULL },
    { "PrepareIncoming", "{'multifd-channels': <4>}",
      "PrepareIncoming: option 'multifd-channels' must be an unsigned 32-bit integer (type 'u'), "
      "not type 'i'" },
};

START_TEST(test_options_checked_against_the_table)
{
    const XeServiceMethod *m =
        xe_service_lookup_method(XE_BUS_NAME ".Manager", option_cases[_i].method);
    g_autoptr(GVariant) options = vardict(option_cases[_i].options);
    g_autoptr(GError) error = NULL;
    gboolean ok;

    ck_assert_ptr_nonnull(m);
    ok = xe_service_check_options(options, m->options, m->method, &error);
    if (option_cases[_i].error == NULL) {
        ck_assert_msg(ok, "%s", error ? error->message : "");
        return;
    }
    ck_assert(!ok);
    ck_assert(g_error_matches(error, XE_ERROR, XE_ERROR_INVALID_ARGUMENT));
    ck_assert_str_eq(error->message, option_cases[_i].error);
}
END_TEST

START_TEST(test_options_of_a_method_that_takes_none)
{
    g_autoptr(GVariant) options = vardict("{'x': <1>}");
    g_autoptr(GError) error = NULL;

    ck_assert(!xe_service_check_options(options, NULL, "Frobnicate", &error));
    ck_assert_str_eq(error->message, "Frobnicate: unknown option 'x' (it takes no options)");
}
END_TEST

/* errors */

static const struct {
    GQuark (*domain)(void);
    int code;
    int want;
} error_cases[] = {
    { xe_qmp_error_quark, XE_QMP_ERROR_TIMEOUT, XE_ERROR_TIMED_OUT },
    { xe_qmp_error_quark, XE_QMP_ERROR_COMMAND_FAILED, XE_ERROR_FAILED },
    { xe_qmp_error_quark, XE_QMP_ERROR_BAD_REPLY, XE_ERROR_BAD_DATA },
    { g_io_error_quark, G_IO_ERROR_TIMED_OUT, XE_ERROR_TIMED_OUT },
    { g_io_error_quark, G_IO_ERROR_CANCELLED, XE_ERROR_CANCELLED },
    { g_io_error_quark, G_IO_ERROR_NOT_FOUND, XE_ERROR_NOT_FOUND },
    { g_io_error_quark, G_IO_ERROR_CONNECTION_REFUSED, XE_ERROR_FAILED },
    { g_dbus_error_quark, G_DBUS_ERROR_NO_REPLY, XE_ERROR_TIMED_OUT },
    { g_dbus_error_quark, G_DBUS_ERROR_SERVICE_UNKNOWN, XE_ERROR_FAILED },
    { g_file_error_quark, G_FILE_ERROR_NOENT, XE_ERROR_NOT_FOUND },
    { g_key_file_error_quark, G_KEY_FILE_ERROR_PARSE, XE_ERROR_BAD_DATA },
};

START_TEST(test_foreign_errors_become_named_xe_errors)
{
    GError *error =
        g_error_new(error_cases[_i].domain(), error_cases[_i].code, "Timeout was reached");
    g_autoptr(GError) mapped = xe_service_error_for_bus(error, "AddVM: adopting VM 'web'");
    g_autofree char *name = NULL;

    xe_error_register_dbus();
    ck_assert_msg(g_error_matches(mapped, XE_ERROR, error_cases[_i].want), "%s %d -> %s %d",
                  g_quark_to_string(error_cases[_i].domain()), error_cases[_i].code,
                  g_quark_to_string(mapped->domain), mapped->code);
    ck_assert_str_eq(mapped->message, "AddVM: adopting VM 'web': Timeout was reached");
    name = g_dbus_error_encode_gerror(mapped);
    ck_assert_msg(g_str_has_prefix(name, "org.xemigrated.XeMigrated1.Error."), "%s", name);
}
END_TEST

START_TEST(test_xe_errors_pass_unchanged)
{
    GError *error = g_error_new(XE_ERROR, XE_ERROR_BUSY, "reserved");
    GError *same = xe_service_error_for_bus(error, "Bind");

    ck_assert_ptr_eq(same, error);
    ck_assert_str_eq(same->message, "reserved");
    g_error_free(same);
}
END_TEST

START_TEST(test_every_xe_error_code_has_a_name)
{
    xe_error_register_dbus();
    for (int code = XE_ERROR_FAILED; code <= XE_ERROR_UNCONFIRMED; code++) {
        g_autoptr(GError) error = g_error_new_literal(XE_ERROR, code, "x");
        g_autofree char *name = g_dbus_error_encode_gerror(error);

        ck_assert_msg(g_str_has_prefix(name, "org.xemigrated.XeMigrated1.Error."), "%d: %s", code,
                      name);
    }
}
END_TEST

static Suite *
dispatch_suite(void)
{
    Suite *s = suite_create("daemon-dispatch");
    TCase *tc;

    tc = tcase_create("table");
    tcase_add_test(tc, test_every_method_of_the_xml_once_in_the_table);
    tcase_add_test(tc, test_every_interface_of_the_xml_is_known);
    tcase_add_test(tc, test_reads_open_to_anyone_changes_need_an_action);
    tcase_add_test(tc, test_every_action_declared_for_polkit);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_loop_test(tc, test_options_checked_against_the_table, 0, G_N_ELEMENTS(option_cases));
    tcase_add_test(tc, test_options_of_a_method_that_takes_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_foreign_errors_become_named_xe_errors, 0,
                        G_N_ELEMENTS(error_cases));
    tcase_add_test(tc, test_xe_errors_pass_unchanged);
    tcase_add_test(tc, test_every_xe_error_code_has_a_name);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return xe_test_run_suite(dispatch_suite());
}
