/* test-state.c: suite "daemon", the daemon's building blocks in src/:
 * the configuration (xe-config) and its check against the host, the
 * reservation table with its owner kinds and atomic state file
 * (xe-reservations), and phase hooks (xe-hooks).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "xe-config.h"
#include "xe-error.h"
#include "xe-hooks.h"
#include "xe-reservations.h"
#include "xe-test-util.h"

static void
assert_error(const GError *error, int code, const char *part)
{
    ck_assert_msg(error != NULL, "expected an error containing '%s'", part);
    ck_assert_msg(error->domain == XE_ERROR && error->code == code, "wrong error (%d): %s",
                  error->code, error->message);
    ck_assert_msg(strstr(error->message, part) != NULL, "'%s' lacks '%s'", error->message, part);
}

/* configuration */

START_TEST(test_config_shipped_defaults_load)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeConfig) c = xe_config_load(g_getenv("XE_POLICY_CONFIG"), &error);

    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    ck_assert_str_eq(c->hooks_dir, "/etc/xe-migrated/hooks.d");
    ck_assert_uint_eq(c->hook_timeout_ms, 10000);
    ck_assert_str_eq(c->state_dir, "/var/lib/xe-migrated");
    ck_assert_uint_eq(c->layouts->len, 0);
}
END_TEST

START_TEST(test_config_layout_and_profiles)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeConfig) c =
        xe_config_load_from_data("[layout 0000:03:00.0]\nvfs=4\npool=small:2, big:1\n"
                                 "[profile small]\nexec_quantum_ms=20\nvram_quota=1G\n"
                                 "[profile big]\nvram_quota=4G\nggtt_quota=512M\n"
                                 "[daemon]\nstate-dir=/run/x\nhook-timeout-ms=500\n",
                                 "test.conf", &error);
    const XeLayout *l;
    const XeProfile *p;

    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    l = xe_config_get_layout(c, "0000:03:00.0");
    ck_assert_ptr_nonnull(l);
    ck_assert_uint_eq(l->vfs, 4);
    ck_assert_uint_eq(l->pool->len, 2);
    ck_assert_str_eq(g_array_index(l->pool, XePoolEntry, 0).profile, "small");
    ck_assert_uint_eq(g_array_index(l->pool, XePoolEntry, 1).count, 1);
    p = xe_config_get_profile(c, "big");
    ck_assert_uint_eq(p->vram_quota, 4ull << 30);
    ck_assert_str_eq(c->state_dir, "/run/x");
    ck_assert_uint_eq(c->hook_timeout_ms, 500);
}
END_TEST

static const struct {
    const char *text;
    const char *error;
} bad_configs[] = {
    { "[dæmon]\n", "t.conf: [dæmon] unknown group" },
    { "[daemon]\ncolour=red\n", "t.conf: [daemon] unknown key 'colour'" },
    { "[daemon]\nqemu-user=root\n", "qemu-user='root': QEMU never runs as root" },
    { "[daemon]\nqemu-launcher=maybe\n", "qemu-launcher='maybe': one of auto, fork or systemd" },
    { "[daemon]\nallowed-group=wheel\n",
      "t.conf: [daemon] allowed-group is gone: polkit authorizes callers now" },
    { "[daemon]\nversion=2\n", "version=2: this xe-migrated reads version 1" },
    { "[daemon]\nhook-timeout-ms=soon\n", "hook-timeout-ms='soon': expected a whole number" },
    { "[daemon]\nstate-dir=relative\n", "state-dir='relative' must be absolute" },
    { "[layout 3:0.0]\nvfs=1\n", "[layout 3:0.0] '3:0.0' is not a PCI address" },
    { "[layout 0000:03:00.0]\npool=x:1\n", "vfs=N is required" },
    { "[layout 0000:03:00.0]\nvfs=2\npool=ghost:1\n",
      "pool: profile 'ghost' is not defined (add a [profile ghost] group)" },
    { "[profile p]\nvram_quota=1G\n[layout 0000:03:00.0]\nvfs=2\npool=p:3\n",
      "pool keeps 3 VFs ready but vfs=2 enables fewer" },
    { "[profile p]\nvram_quota=1G\n[layout 0000:03:00.0]\nvfs=2\npool=p\n",
      "pool: 'p' is not PROFILE:COUNT" },
    { "[profile p]\nvram_quota=lots\n", "[profile p] profile: vram_quota='lots' is not a size" },
    { "[profile p]\nsched_priority=high\n", "a VF takes low or normal" },
    { "not a key file", "t.conf: " },
};

START_TEST(test_config_errors_say_where)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XeConfig) c = xe_config_load_from_data(bad_configs[_i].text, "t.conf", &error);

    ck_assert_ptr_null(c);
    assert_error(error, XE_ERROR_INVALID_ARGUMENT, bad_configs[_i].error);
}
END_TEST

/* qemu-launcher: what the file says, and auto resolved by the check (systemd only for root,
 * where systemd is the init system) */
START_TEST(test_config_qemu_launcher)
{
    static const struct {
        const char *text;
        XeQemuLauncher launcher;
    } cases[] = {
        { "", XE_QEMU_LAUNCHER_AUTO },
        { "[daemon]\nqemu-launcher=auto\n", XE_QEMU_LAUNCHER_AUTO },
        { "[daemon]\nqemu-launcher=fork\n", XE_QEMU_LAUNCHER_FORK },
        { "[daemon]\nqemu-launcher=systemd\n", XE_QEMU_LAUNCHER_SYSTEMD },
    };
    g_autofree char *dir = xe_test_mkdtemp("xe-launcher");
    g_autofree char *text =
        g_strdup_printf("[daemon]\nstate-dir=%s/state\nrun-dir=%s/run\n", dir, dir);
    g_autoptr(XeConfig) c = NULL;
    g_autoptr(GError) error = NULL;
    gboolean systemd = geteuid() == 0 && g_file_test("/run/systemd/system", G_FILE_TEST_IS_DIR);

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(XeConfig) one = xe_config_load_from_data(cases[i].text, "t.conf", &error);

        ck_assert_msg(one != NULL, "%s", error ? error->message : "");
        ck_assert_str_eq(xe_qemu_launcher_to_string(one->qemu_launcher),
                         xe_qemu_launcher_to_string(cases[i].launcher));
    }
    c = xe_config_load_from_data(text, "t.conf", &error);
    ck_assert_msg(c != NULL && xe_config_check(c, &error), "%s", error ? error->message : "");
    ck_assert_str_eq(xe_qemu_launcher_to_string(c->qemu_launcher), systemd ? "systemd" : "fork");
    xe_test_rmtree(dir);
}
END_TEST

START_TEST(test_config_missing_file)
{
    g_autoptr(GError) error = NULL;

    ck_assert_ptr_null(xe_config_load("/nonexistent/xe-migrated.conf", &error));
    assert_error(error, XE_ERROR_NOT_FOUND, "reading the configuration");
}
END_TEST

/* the configuration against the host: directories, hooks, group */

typedef struct {
    char *dir;  /* scratch */
    char *file; /* a regular file in it */
} Scratch;

static Scratch *
scratch_new(void)
{
    Scratch *s = g_new0(Scratch, 1);

    s->dir = xe_test_mkdtemp("xe-check");
    s->file = g_build_filename(s->dir, "a-file", NULL);
    ck_assert(g_file_set_contents(s->file, "", 0, NULL));
    return s;
}

static void
scratch_free(Scratch *s)
{
    xe_test_rmtree(s->dir);
    g_free(s->dir);
    g_free(s->file);
    g_free(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Scratch, scratch_free)

/* A [daemon] group with every directory in @s, then @extra. */
static XeConfig *
check_config(Scratch *s, const char *extra)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strdup_printf("[daemon]\nstate-dir=%s/state\nrun-dir=%s/run\n"
                                            "hooks-dir=%s\n%s",
                                            s->dir, s->dir, s->dir, extra);
    XeConfig *c = xe_config_load_from_data(text, "t.conf", &error);

    ck_assert_msg(c != NULL, "%s", error ? error->message : "");
    return c;
}

START_TEST(test_config_check_creates_state_and_run_dirs)
{
    g_autoptr(Scratch) s = scratch_new();
    g_autoptr(XeConfig) c = check_config(s, "");
    g_autoptr(XeConfig) defaults = xe_config_new_default();
    g_autoptr(GError) error = NULL;
    g_autofree char *state = g_build_filename(s->dir, "state", NULL);
    g_autofree char *run = g_build_filename(s->dir, "run", NULL);
    g_autoptr(GDir) left = NULL;

    ck_assert_msg(xe_config_check(c, &error), "%s", error ? error->message : "");
    ck_assert(g_file_test(state, G_FILE_TEST_IS_DIR));
    ck_assert(g_file_test(run, G_FILE_TEST_IS_DIR));
    left = g_dir_open(state, 0, NULL);
    ck_assert_ptr_null(g_dir_read_name(left)); /* the write it tried is gone */
    /* The built-in hooks-dir may be missing (no hooks); only a configured one must exist. */
    g_free(defaults->state_dir);
    defaults->state_dir = g_strdup(state);
    g_free(defaults->run_dir);
    defaults->run_dir = g_strdup(run);
    g_free(defaults->hooks_dir);
    defaults->hooks_dir = g_strdup("/nonexistent/hooks.d");
    ck_assert_msg(xe_config_check(defaults, &error), "%s", error ? error->message : "");
}
END_TEST

/* @text with @DIR@ standing for the scratch directory */
static char *
in_scratch(Scratch *s, const char *text)
{
    GString *out = g_string_new(text);

    g_string_replace(out, "@DIR@", s->dir, 0);
    return g_string_free(out, FALSE);
}

static const struct {
    const char *extra;    /* more [daemon] keys; @DIR@ is the scratch directory */
    const char *override; /* hooks-dir from the command line, or NULL */
    const char *error;    /* @DIR@ is the scratch directory */
    int errnum;
} bad_checks[] = {
    { "hooks-dir=@DIR@/hoks.d\n", NULL,
      "t.conf: [daemon] hooks-dir=@DIR@/hoks.d: the hooks directory is not there: No such file "
      "or directory (ENOENT); a wrong path would silently turn off every hook, pre-migrate vetoes "
      "included",
      ENOENT },
    { "hooks-dir=@DIR@/a-file\n", NULL, "t.conf: [daemon] hooks-dir=@DIR@/a-file: not a directory",
      ENOTDIR },
    { "state-dir=@DIR@/a-file/state\n", NULL,
      "t.conf: [daemon] state-dir=@DIR@/a-file/state: cannot create the directory: Not a directory "
      "(ENOTDIR)",
      ENOTDIR },
    { "run-dir=@DIR@/a-file\n", NULL, "t.conf: [daemon] run-dir=@DIR@/a-file: ", 0 },
    { "state-dir=/sys\n", NULL,
      "t.conf: [daemon] state-dir=/sys: the daemon cannot write there (tried creating a file)", 0 },
    { "", "@DIR@/typo",
      "--hooks-dir=@DIR@/typo (in place of t.conf: [daemon] hooks-dir): the hooks directory is "
      "not there",
      ENOENT },
    { "qemu-user=xe-no-such-user\n", NULL,
      "t.conf: [daemon] qemu-user=xe-no-such-user: no such user; create it or fix the name", 0 },
};

START_TEST(test_config_check_refusals_say_where_and_why)
{
    g_autoptr(Scratch) s = scratch_new();
    g_autofree char *extra = in_scratch(s, bad_checks[_i].extra);
    g_autofree char *want = in_scratch(s, bad_checks[_i].error);
    g_autoptr(XeConfig) c = check_config(s, extra);
    g_autoptr(GError) error = NULL;

    if (bad_checks[_i].override != NULL) {
        g_autofree char *dir = in_scratch(s, bad_checks[_i].override);
        xe_config_override_dir(c, "hooks-dir", dir);
    }
    ck_assert(!xe_config_check(c, &error));
    assert_error(error, XE_ERROR_INVALID_ARGUMENT, want);
    if (bad_checks[_i].errnum != 0)
        ck_assert_int_eq(xe_error_get_errno(error), bad_checks[_i].errnum);
}
END_TEST

/* reservations */

START_TEST(test_reservations_round_trip)
{
    g_autofree char *dir = xe_test_mkdtemp("xe-state");
    g_autoptr(GError) error = NULL;
    XeReservations *r = xe_reservations_new(dir);
    XeReservations *again = xe_reservations_new(dir);
    const XeReservation *a, *b, *c;
    g_autofree char *id_a = NULL, *id_b = NULL, *shown_a = NULL, *shown_b = NULL;
    g_autofree char *path = g_build_filename(dir, XE_RESERVATIONS_FILE, NULL);
    struct stat st;

    ck_assert(xe_reservations_load(r, &error)); /* no file: empty */
    a = xe_reservations_add(r, "0000:03:00.1", "0000:03:00.0", "small", XE_RESERVATION_OWNER_CALLER,
                            "uid 0", &error);
    id_a = g_strdup(a->id);
    b = xe_reservations_add(r, "0000:03:00.2", "0000:03:00.0", "", XE_RESERVATION_OWNER_VM,
                            "vm:web", &error);
    ck_assert_ptr_nonnull(b);
    id_b = g_strdup(b->id);
    ck_assert_ptr_null(xe_reservations_add(r, "0000:03:00.1", "0000:03:00.0", "",
                                           XE_RESERVATION_OWNER_CALLER, "x", &error));
    assert_error(error, XE_ERROR_BUSY, "VF 0000:03:00.1 is already reserved");
    g_clear_error(&error);
    ck_assert(xe_reservations_save(r, &error));
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    ck_assert(xe_reservations_load(again, &error));
    ck_assert_uint_eq(xe_reservations_list(again)->len, 2);
    c = xe_reservations_lookup(again, id_a);
    ck_assert_str_eq(c->vf_bdf, "0000:03:00.1");
    ck_assert_str_eq(c->profile, "small");
    ck_assert_str_eq(c->owner, "uid 0");
    ck_assert_int_eq(c->kind, XE_RESERVATION_OWNER_CALLER);
    shown_a = xe_reservation_owner_display(c);
    ck_assert_str_eq(shown_a, "caller:uid 0");
    ck_assert_int_eq(xe_reservations_lookup(again, id_b)->kind, XE_RESERVATION_OWNER_VM);
    shown_b = xe_reservation_owner_display(xe_reservations_lookup(again, id_b));
    ck_assert_str_eq(shown_b, "vm:web"); /* not "vm:vm:web" */
    ck_assert(xe_reservations_remove(again, id_a, &error));
    ck_assert(!xe_reservations_remove(again, id_a, &error));
    assert_error(error, XE_ERROR_NOT_FOUND, "no reservation");
    ck_assert_ptr_null(xe_reservations_lookup_vf(again, "0000:03:00.1"));
    xe_reservations_free(r);
    xe_reservations_free(again);
    xe_test_rmtree(dir);
}
END_TEST

static const struct {
    const char *json;
    const char *error;
} bad_states[] = {
    { "{", "not JSON" },
    { "[]", "not a JSON object" },
    { "{\"version\": 9, \"reservations\": []}", "version is not 1" },
    { "{\"version\": 1}", "'reservations' is not a list" },
    { "{\"version\": 1, \"reservations\": [5]}", "reservation 1 is not an object" },
    { "{\"version\": 1, \"reservations\": [{\"id\": \"x\"}]}",
      "reservation 1: 'id' is not a UUID" },
    { "{\"version\": 1, \"reservations\": [{\"id\": \"0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", "
      "\"vf\": \"03:00.1\", \"pf\": \"0000:03:00.0\"}]}",
      "reservation 1: 'vf' is not a PCI address" },
    { "{\"version\": 1, \"reservations\": [{\"id\": \"0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", "
      "\"vf\": \"0000:03:00.1\", \"pf\": \"0000:03:00.0\", \"kind\": \"admin\"}]}",
      "reservation 1: 'kind' is not \"caller\", \"vm\" or \"incoming\"" },
    { "{\"version\": 1, \"reservations\": [{\"id\": \"0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", "
      "\"vf\": \"0000:03:00.1\", \"pf\": \"0000:03:00.0\", \"kind\": 1}]}",
      "reservation 1: 'kind' is not" },
    { "{\"version\": 1, \"reservations\": ["
      "{\"id\": \"0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", \"vf\": \"0000:03:00.1\", \"pf\": "
      "\"0000:03:00.0\"},"
      "{\"id\": \"1b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", \"vf\": \"0000:03:00.1\", \"pf\": "
      "\"0000:03:00.0\"}]}",
      "reservation 2: VF 0000:03:00.1 is reserved twice" },
};

START_TEST(test_reservations_bad_state_file)
{
    g_autofree char *dir = xe_test_mkdtemp("xe-state");
    g_autofree char *path = g_build_filename(dir, XE_RESERVATIONS_FILE, NULL);
    g_autoptr(GError) error = NULL;
    XeReservations *r = xe_reservations_new(dir);

    ck_assert(g_file_set_contents(path, bad_states[_i].json, -1, NULL));
    ck_assert(!xe_reservations_load(r, &error));
    assert_error(error, XE_ERROR_BAD_DATA, bad_states[_i].error);
    ck_assert_ptr_nonnull(strstr(error->message, "fix or remove it"));
    xe_reservations_free(r);
    xe_test_rmtree(dir);
}
END_TEST

START_TEST(test_reservations_file_without_kinds_is_callers)
{
    g_autofree char *dir = xe_test_mkdtemp("xe-state");
    g_autofree char *path = g_build_filename(dir, XE_RESERVATIONS_FILE, NULL);
    g_autoptr(GError) error = NULL;
    XeReservations *r = xe_reservations_new(dir);
    const XeReservation *res;

    /* as a daemon from before owner kinds wrote it */
    ck_assert(g_file_set_contents(path,
                                  "{\"version\": 1, \"reservations\": [{\"id\": "
                                  "\"0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11\", \"vf\": "
                                  "\"0000:03:00.1\", \"pf\": \"0000:03:00.0\", \"profile\": "
                                  "\"small\", \"owner\": \"vm:web\", \"created\": 5}]}",
                                  -1, NULL));
    ck_assert_msg(xe_reservations_load(r, &error), "%s", error ? error->message : "");
    res = xe_reservations_lookup(r, "0b7ad6a4-4b8e-4d3f-9a0e-4a4b2e6f3c11");
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(res->kind, XE_RESERVATION_OWNER_CALLER);
    ck_assert_str_eq(res->owner, "vm:web");
    xe_reservations_free(r);
    xe_test_rmtree(dir);
}
END_TEST

START_TEST(test_reservations_owner_kinds_and_releasing)
{
    g_autofree char *dir = xe_test_mkdtemp("xe-state");
    g_autoptr(GError) error = NULL;
    XeReservations *r = xe_reservations_new(dir);
    XeReservations *again = xe_reservations_new(dir);
    XeReservationOwner kind = XE_RESERVATION_OWNER_CALLER;
    const XeReservation *a, *b;
    g_autofree char *id_a = NULL, *id_b = NULL, *json = NULL, *shown = NULL;

    for (guint k = XE_RESERVATION_OWNER_CALLER; k <= XE_RESERVATION_OWNER_INCOMING; k++) {
        ck_assert(xe_reservation_owner_from_string(xe_reservation_owner_to_string(k), &kind));
        ck_assert_int_eq(kind, k);
    }
    ck_assert(!xe_reservation_owner_from_string("admin", &kind));
    ck_assert(!xe_reservation_owner_from_string(NULL, &kind));

    a = xe_reservations_add(r, "0000:03:00.1", "0000:03:00.0", "small",
                            XE_RESERVATION_OWNER_INCOMING, "incoming:1:web", &error);
    id_a = g_strdup(a->id);
    b = xe_reservations_add(r, "0000:03:00.2", "0000:03:00.0", "small", XE_RESERVATION_OWNER_CALLER,
                            "uid 0", &error);
    id_b = g_strdup(b->id);
    /* an arrived VM takes over its incoming's reservation: same id, new owner */
    ck_assert(xe_reservations_set_owner(r, id_a, XE_RESERVATION_OWNER_VM, "vm:web", &error));
    ck_assert(!xe_reservations_set_owner(r, "nope", XE_RESERVATION_OWNER_VM, "x", &error));
    assert_error(error, XE_ERROR_NOT_FOUND, "no reservation 'nope'");
    g_clear_error(&error);
    /* one being released stays in the table (its VF held) but not in the file */
    ck_assert(xe_reservations_set_releasing(r, id_b, TRUE, &error));
    ck_assert_ptr_nonnull(xe_reservations_lookup_vf(r, "0000:03:00.2"));
    json = xe_reservations_to_json(r);
    ck_assert_ptr_null(strstr(json, id_b));
    ck_assert_ptr_nonnull(strstr(json, "\"kind\" : \"vm\""));
    ck_assert(xe_reservations_save(r, &error));
    ck_assert(xe_reservations_load(again, &error));
    ck_assert_uint_eq(xe_reservations_list(again)->len, 1);
    ck_assert_int_eq(xe_reservations_lookup(again, id_a)->kind, XE_RESERVATION_OWNER_VM);
    shown = xe_reservation_owner_display(xe_reservations_lookup(again, id_a));
    ck_assert_str_eq(shown, "vm:web");
    xe_reservations_free(r);
    xe_reservations_free(again);
    xe_test_rmtree(dir);
}
END_TEST

/* hooks */

typedef struct {
    char *dir;
    char *out;
} HookDir;

static HookDir *
hook_dir_new(void)
{
    HookDir *h = g_new0(HookDir, 1);

    h->dir = xe_test_mkdtemp("xe-hooks");
    h->out = g_build_filename(h->dir, ".out", NULL);
    chmod(h->dir, 0755);
    return h;
}

static void
hook_dir_free(HookDir *h)
{
    xe_test_rmtree(h->dir);
    g_free(h->dir);
    g_free(h->out);
    g_free(h);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookDir, hook_dir_free)

static void
add_hook(HookDir *h, const char *name, const char *body, mode_t mode)
{
    g_autofree char *path = g_build_filename(h->dir, name, NULL);
    g_autofree char *script = g_strdup_printf("#!/bin/sh\n%s\n", body);

    ck_assert(g_file_set_contents(path, script, -1, NULL));
    ck_assert_int_eq(chmod(path, mode), 0);
}

static GError *
run_hooks(HookDir *h, const char *phase, guint timeout_ms)
{
    g_autoptr(XeHooks) hooks = xe_hooks_new(h->dir, timeout_ms);
    g_autoptr(JsonNode) doc =
        json_from_string("{\"vf\": \"0000:03:00.1\", \"reservation\": \"r1\"}", NULL);
    XeTestResult r = { 0 };
    GError *error = NULL;

    xe_hooks_run_async(hooks, phase, doc, NULL, xe_test_result_cb, &r);
    xe_hooks_run_finish(hooks, xe_test_result_wait(&r, 20000, phase), &error);
    xe_test_result_clear(&r);
    return error;
}

START_TEST(test_hooks_get_phase_and_json_in_order)
{
    g_autoptr(HookDir) h = hook_dir_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *b1 = g_strdup_printf("echo \"10 $1 $(cat)\" >> %s", h->out);
    g_autofree char *b2 = g_strdup_printf("echo \"20 $1\" >> %s", h->out);
    g_autofree char *out = NULL;

    add_hook(h, "20-second", b2, 0755);
    add_hook(h, "10-first", b1, 0755);
    add_hook(h, "30-not-executable", "exit 1", 0644);
    error = run_hooks(h, "vf-reserved", 5000);
    ck_assert_ptr_null(error);
    ck_assert(g_file_get_contents(h->out, &out, NULL, NULL));
    ck_assert_str_eq(out, "10 vf-reserved {\"vf\":\"0000:03:00.1\",\"reservation\":\"r1\"}\n"
                          "20 vf-reserved\n");
}
END_TEST

START_TEST(test_hooks_pre_phase_veto)
{
    g_autoptr(HookDir) h = hook_dir_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) informative = NULL;
    g_autofree char *b2 = g_strdup_printf("touch %s", h->out);

    add_hook(h, "10-policy", "echo 'maintenance window closed' >&2; exit 3", 0755);
    add_hook(h, "20-after", b2, 0755);
    error = run_hooks(h, "pre-migrate", 5000);
    assert_error(error, XE_ERROR_VETOED, "pre-migrate hook ");
    ck_assert_msg(strstr(error->message, "10-policy vetoed: maintenance window closed") != NULL,
                  "%s", error->message);
    ck_assert(!g_file_test(h->out, G_FILE_TEST_EXISTS)); /* later hooks did not run */
    /* The same failure in an informative phase is only logged, and the rest run. */
    informative = run_hooks(h, "vf-released", 5000);
    ck_assert_ptr_null(informative);
    ck_assert(g_file_test(h->out, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_hooks_timeout)
{
    g_autoptr(HookDir) h = hook_dir_new();
    g_autoptr(GError) error = NULL;

    add_hook(h, "10-slow", "exec sleep 30", 0755);
    error = run_hooks(h, "pre-migrate", 200);
    assert_error(error, XE_ERROR_VETOED, "timed out after 200 ms and was killed");
}
END_TEST

START_TEST(test_hooks_writable_by_others_refused)
{
    g_autoptr(HookDir) h = hook_dir_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) informative = NULL;
    g_autofree char *body = g_strdup_printf("touch %s", h->out);

    add_hook(h, "10-open", body, 0757); /* world-writable */
    error = run_hooks(h, "pre-migrate", 5000);
    assert_error(error, XE_ERROR_VETOED, "10-open refused: anyone may write it");
    informative = run_hooks(h, "vf-reset", 5000);
    ck_assert_ptr_null(informative);
    ck_assert(!g_file_test(h->out, G_FILE_TEST_EXISTS)); /* never ran */
}
END_TEST

START_TEST(test_hooks_run_outlives_its_hooks)
{
    g_autoptr(HookDir) h = hook_dir_new();
    g_autoptr(JsonNode) doc = json_from_string("{}", NULL);
    g_autoptr(GError) error = NULL;
    XeHooks *hooks = xe_hooks_new(h->dir, 200);
    XeTestResult r = { 0 };

    /* A reload replaces the daemon's XeHooks while a run may still be going. */
    add_hook(h, "10-slow", "exec sleep 30", 0755);
    xe_hooks_run_async(hooks, "pre-migrate", doc, NULL, xe_test_result_cb, &r);
    xe_hooks_free(hooks);
    ck_assert(!xe_hooks_run_finish(NULL, xe_test_result_wait(&r, 20000, "hooks"), &error));
    assert_error(error, XE_ERROR_VETOED, "timed out after 200 ms and was killed");
    xe_test_result_clear(&r);
}
END_TEST

START_TEST(test_hooks_missing_dir_is_no_hooks)
{
    g_autoptr(XeHooks) hooks = xe_hooks_new("/nonexistent/hooks.d", 1000);
    g_autoptr(JsonNode) doc = json_from_string("{}", NULL);
    g_autoptr(GError) error = NULL;
    XeTestResult r = { 0 };

    xe_hooks_run_async(hooks, "pre-migrate", doc, NULL, xe_test_result_cb, &r);
    ck_assert(xe_hooks_run_finish(hooks, xe_test_result_wait(&r, 5000, "hooks"), &error));
    xe_test_result_clear(&r);
}
END_TEST

static Suite *
state_suite(void)
{
    Suite *s = suite_create("daemon-state");
    TCase *tc;

    tc = tcase_create("config");
    tcase_add_test(tc, test_config_shipped_defaults_load);
    tcase_add_test(tc, test_config_layout_and_profiles);
    tcase_add_loop_test(tc, test_config_errors_say_where, 0, G_N_ELEMENTS(bad_configs));
    tcase_add_test(tc, test_config_qemu_launcher);
    tcase_add_test(tc, test_config_missing_file);
    tcase_add_test(tc, test_config_check_creates_state_and_run_dirs);
    tcase_add_loop_test(tc, test_config_check_refusals_say_where_and_why, 0,
                        G_N_ELEMENTS(bad_checks));
    suite_add_tcase(s, tc);

    tc = tcase_create("reservations");
    tcase_add_test(tc, test_reservations_round_trip);
    tcase_add_loop_test(tc, test_reservations_bad_state_file, 0, G_N_ELEMENTS(bad_states));
    tcase_add_test(tc, test_reservations_file_without_kinds_is_callers);
    tcase_add_test(tc, test_reservations_owner_kinds_and_releasing);
    suite_add_tcase(s, tc);

    tc = tcase_create("hooks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hooks_get_phase_and_json_in_order);
    tcase_add_test(tc, test_hooks_pre_phase_veto);
    tcase_add_test(tc, test_hooks_timeout);
    tcase_add_test(tc, test_hooks_writable_by_others_refused);
    tcase_add_test(tc, test_hooks_run_outlives_its_hooks);
    tcase_add_test(tc, test_hooks_missing_dir_is_no_hooks);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return xe_test_run_suite(state_suite());
}
