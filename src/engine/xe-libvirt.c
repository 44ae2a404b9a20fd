/* xe-libvirt.c: the daemon's libvirt connection, and what it asks libvirt about GPU domains:
 * which of the host's domains hold this host's Xe VFs and whether each can migrate
 * (Manager.ListDomains), and adding what one needs to its persistent definition
 * (Manager.PrepareDomain); and the reservations of domains that do not run here, which
 * libvirt went on without (an incoming it gave up after the hook, a release hook that could
 * not reach the daemon): reset and released, at start and every libvirt-reconcile-s.
 *
 * libvirt's C API blocks: every call runs on a thread of its own (GTask), never on the main
 * loop. The connection (libvirt's connections are thread-safe) is opened on first use from
 * the configuration's libvirt-uri and opened again when libvirtd went away meanwhile. These
 * calls never run from the qemu hook's path: the hook runs inside libvirt's job.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-libvirt"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <string.h>

#include "xe-engine-private.h"
#include "xe-error.h"
#include "xe-libvirt-xml.h"

struct _XeLibvirt {
    GMutex lock;
    virConnectPtr conn;
    char *uri;
};

XeLibvirt *
xe_libvirt_new(void)
{
    XeLibvirt *lv = g_new0(XeLibvirt, 1);

    g_mutex_init(&lv->lock);
    return lv;
}

void
xe_libvirt_free(XeLibvirt *lv)
{
    if (lv == NULL)
        return;
    if (lv->conn != NULL)
        virConnectClose(lv->conn);
    g_free(lv->uri);
    g_mutex_clear(&lv->lock);
    g_free(lv);
}

static gboolean
libvirt_error(GError **error, const char *what)
{
    const char *message = virGetLastErrorMessage();

    g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "%s: %s", what,
                message != NULL ? message : "unknown libvirt error");
    return FALSE;
}

/* Blocking. A connection of its own for the caller (virConnectClose() it), to @uri. */
static virConnectPtr
connect_libvirt(XeLibvirt *lv, const char *uri, GError **error)
{
    virConnectPtr conn;

    if (uri == NULL || *uri == '\0') {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "no libvirt-uri in the configuration: xe-migrated does not look at libvirt "
                    "on this host");
        return NULL;
    }
    g_mutex_lock(&lv->lock);
    if (lv->conn != NULL && (g_strcmp0(lv->uri, uri) != 0 || virConnectIsAlive(lv->conn) != 1)) {
        virConnectClose(lv->conn);
        lv->conn = NULL;
    }
    conn = lv->conn;
    if (conn != NULL)
        virConnectRef(conn);
    g_mutex_unlock(&lv->lock);
    if (conn != NULL)
        return conn;
    /* opened outside the lock: a libvirtd that hangs holds up this call only */
    conn = virConnectOpen(uri);
    if (conn == NULL) {
        g_autofree char *what = g_strdup_printf("cannot connect to libvirt at %s", uri);

        libvirt_error(error, what);
        return NULL;
    }
    g_mutex_lock(&lv->lock);
    if (lv->conn == NULL) {
        lv->conn = conn;
        virConnectRef(conn);
        g_free(lv->uri);
        lv->uri = g_strdup(uri);
    }
    g_mutex_unlock(&lv->lock);
    return conn;
}

/* The shared connection went away under a call (libvirtd restarted): forget it, so that the
 * next call opens another. */
static gboolean
connection_lost(XeLibvirt *lv, virConnectPtr conn)
{
    virErrorPtr e = virGetLastError();
    gboolean lost = e != NULL && (e->domain == VIR_FROM_RPC || e->code == VIR_ERR_SYSTEM_ERROR ||
                                  e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_RPC);

    if (!lost)
        return FALSE;
    g_mutex_lock(&lv->lock);
    if (lv->conn == conn) {
        virConnectClose(lv->conn);
        lv->conn = NULL;
    }
    g_mutex_unlock(&lv->lock);
    return TRUE;
}

static const char *
state_text(virDomainPtr dom)
{
    static const char *const states[] = {
        [VIR_DOMAIN_NOSTATE] = "no state",       [VIR_DOMAIN_RUNNING] = "running",
        [VIR_DOMAIN_BLOCKED] = "blocked",        [VIR_DOMAIN_PAUSED] = "paused",
        [VIR_DOMAIN_SHUTDOWN] = "shutting down", [VIR_DOMAIN_SHUTOFF] = "shut off",
        [VIR_DOMAIN_CRASHED] = "crashed",        [VIR_DOMAIN_PMSUSPENDED] = "suspended",
    };
    int state = VIR_DOMAIN_NOSTATE, reason;

    if (virDomainGetState(dom, &state, &reason, 0) < 0 || state < 0 ||
        state >= (int)G_N_ELEMENTS(states))
        return "unknown";
    /* an incoming migration's domain is no running copy (a source's daemon asks) */
    if (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_MIGRATION)
        return "paused (migration)";
    if (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_STARTING_UP)
        return "paused (starting up)";
    return states[state];
}

/* The domain's hostdevs that are VFs of this host's Xe PFs (@vfs: a set of addresses). */
static GStrv
xe_vfs_of(const char *xml, GHashTable *vfs, GError **error)
{
    g_autoptr(XeLibvirtDomain) d = xe_libvirt_domain_parse(xml, error);
    g_auto(GStrv) hostdevs = NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

    if (d == NULL)
        return NULL;
    hostdevs = xe_libvirt_domain_get_hostdevs(d);
    for (guint i = 0; hostdevs[i] != NULL; i++)
        if (g_hash_table_contains(vfs, hostdevs[i]))
            g_ptr_array_add(out, g_strdup(hostdevs[i]));
    g_ptr_array_add(out, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

typedef struct {
    char *uri;
    GHashTable *vfs;        /* this host's VF addresses */
    char *name;             /* PrepareDomain's */
    GVariant *reservations; /* the reconcile's: a(ssssx), as the agent lists them */
    guint min_age_s;
} Request;

static void
request_free(Request *r)
{
    g_free(r->uri);
    g_hash_table_unref(r->vfs);
    g_free(r->name);
    g_clear_pointer(&r->reservations, g_variant_unref);
    g_free(r);
}

/* main: what a libvirt call needs from the engine, copied for its thread */
static GTask *
request_new(XeEngine *self, const char *name, GCancellable *cancellable,
            GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    Request *r = g_new0(Request, 1);
    GPtrArray *vfs = xe_agent_get_vfs(self->agent);

    r->uri = g_strdup(xe_agent_get_config(self->agent)->libvirt_uri);
    r->vfs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < vfs->len; i++)
        g_hash_table_add(r->vfs, g_strdup(((XeAgentVf *)vfs->pdata[i])->info.bdf));
    r->name = g_strdup(name);
    g_task_set_task_data(task, r, (GDestroyNotify)request_free);
    return task;
}

/* One domain's entry, or NULL when it holds none of this host's VFs. */
static GVariant *
describe(XeAgent *agent, virDomainPtr dom, GHashTable *vfs, GError **error)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
    g_autofree char *inactive = NULL;
    g_auto(GStrv) mine = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    gboolean next_start_ready = FALSE;
    GVariantBuilder b;

    g_autoptr(GError) local = NULL;

    if (xml == NULL)
        return libvirt_error(error, "reading a domain's XML"), NULL;
    mine = xe_vfs_of(xml, vfs, &local);
    if (mine == NULL) {
        /* a domain whose XML xe-migrated cannot read is the one its operator must see */
        g_ptr_array_add(problems, g_strdup(local->message));
        mine = g_new0(char *, 1);
    } else if (mine[0] == NULL) {
        return NULL;
    }
    for (guint i = 0; mine[i] != NULL; i++) {
        g_auto(GStrv) missing = xe_libvirt_xml_missing(xml, mine[i], &local);

        if (missing == NULL && local != NULL) {
            g_ptr_array_add(problems, g_strdup(local->message));
            g_clear_error(&local);
        }
        for (guint j = 0; missing != NULL && missing[j] != NULL; j++)
            g_ptr_array_add(problems, g_strdup(missing[j]));
        /* running: the hook reserved its VFs at start, unless it started unprepared */
        if (virDomainIsActive(dom) == 1) {
            g_autofree char *id = NULL, *holder = NULL;
            g_autofree char *owner = g_strdup_printf("domain:%s", virDomainGetName(dom));

            if (!xe_agent_reservation_of_vf(agent, mine[i], &id, &holder) ||
                !g_str_equal(holder, owner))
                g_ptr_array_add(problems,
                                g_strdup_printf("VF %s is not reserved for the domain: xe-migrated "
                                                "does not guard it (it started before it was "
                                                "prepared; domain-prepare reserves it)",
                                                mine[i]));
        }
    }
    /* running: what it runs with is what migrates; a prepared definition waits for a start */
    if (problems->len > 0 && virDomainIsActive(dom) == 1 && virDomainIsPersistent(dom) == 1 &&
        (inactive = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE)) != NULL) {
        next_start_ready = TRUE;
        for (guint i = 0; mine[i] != NULL && next_start_ready; i++) {
            g_autoptr(GError) def_error = NULL;
            g_auto(GStrv) missing = xe_libvirt_xml_missing(inactive, mine[i], &def_error);

            next_start_ready = missing == NULL && def_error == NULL;
        }
        if (next_start_ready)
            g_ptr_array_add(problems, g_strdup("its definition has all of this: the domain runs "
                                               "without it until it is started again"));
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(virDomainGetName(dom)));
    g_variant_builder_add(&b, "{sv}", "state", g_variant_new_string(state_text(dom)));
    g_variant_builder_add(&b, "{sv}", "persistent",
                          g_variant_new_boolean(virDomainIsPersistent(dom) == 1));
    g_variant_builder_add(&b, "{sv}", "vfs", g_variant_new_strv((const char *const *)mine, -1));
    g_variant_builder_add(&b, "{sv}", "ready", g_variant_new_boolean(problems->len == 0));
    g_variant_builder_add(
        &b, "{sv}", "problems",
        g_variant_new_strv((const char *const *)problems->pdata, (gssize)problems->len));
    return g_variant_builder_end(&b);
}

static void
list_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Request *r = data;
    GError *error = NULL;
    virConnectPtr conn = connect_libvirt(self->libvirt, r->uri, &error);
    virDomainPtr *doms = NULL;
    GVariantBuilder list;
    int n;

    if (conn == NULL) {
        g_task_return_error(task, error);
        return;
    }
    n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0 && connection_lost(self->libvirt, conn)) {
        virConnectClose(conn);
        conn = connect_libvirt(self->libvirt, r->uri, &error);
        if (conn == NULL) {
            g_task_return_error(task, error);
            return;
        }
        n = virConnectListAllDomains(conn, &doms, 0);
    }
    if (n < 0) {
        libvirt_error(&error, "listing libvirt's domains");
        virConnectClose(conn);
        g_task_return_error(task, error);
        return;
    }
    g_variant_builder_init(&list, G_VARIANT_TYPE("aa{sv}"));
    for (int i = 0; i < n; i++) {
        g_autoptr(GError) local = NULL;
        GVariant *entry = describe(self->agent, doms[i], r->vfs, &local);

        if (entry != NULL)
            g_variant_builder_add_value(&list, entry);
        else if (local != NULL)
            g_warning("domain %s: %s", virDomainGetName(doms[i]), local->message);
        virDomainFree(doms[i]);
    }
    g_free(doms);
    virConnectClose(conn);
    g_task_return_pointer(task, g_variant_ref_sink(g_variant_builder_end(&list)),
                          (GDestroyNotify)g_variant_unref);
}

void
xe_engine_list_domains_async(XeEngine *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = request_new(self, NULL, cancellable, callback, user_data);

    g_task_run_in_thread(task, list_thread);
}

GVariant *
xe_engine_list_domains_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static GStrv
prepare(XeEngine *self, virConnectPtr conn, Request *r, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, r->name);
    g_autofree char *xml = NULL, *edited = NULL, *again = NULL;
    g_auto(GStrv) mine = NULL;
    g_autoptr(GPtrArray) profiles = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) changes = NULL;
    virDomainJobInfo job = { 0 };
    gboolean active;

    if (dom == NULL) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "libvirt has no domain '%s'", r->name);
        else
            libvirt_error(error, "looking the domain up");
        return NULL;
    }
    active = virDomainIsActive(dom) == 1;
    if (virDomainIsPersistent(dom) != 1) {
        g_set_error(error, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                    "domain '%s' is transient: it has no definition to add to (define it, "
                    "virsh define, then prepare it)",
                    r->name);
        virDomainFree(dom);
        return NULL;
    }
    /* a migration under way could undefine it here meanwhile: a define would bring it back */
    if (active && virDomainGetJobInfo(dom, &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "domain '%s' has a libvirt job under way (a migration?): prepare it once "
                    "that is over",
                    r->name);
        virDomainFree(dom);
        return NULL;
    }
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    if (xml == NULL) {
        libvirt_error(error, "reading the domain's definition");
        virDomainFree(dom);
        return NULL;
    }
    mine = xe_vfs_of(xml, r->vfs, error);
    if (mine == NULL || mine[0] == NULL) {
        if (mine != NULL)
            g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND,
                        "domain '%s' has no hostdev that is a VF of this host's Xe PFs", r->name);
        virDomainFree(dom);
        return NULL;
    }
    for (guint i = 0; mine[i] != NULL; i++) {
        g_autofree char *profile = NULL;

        if (!xe_agent_query_sync(self->agent, XE_AGENT_OP_READ_PROFILE, mine[i], &profile, error)) {
            g_prefix_error(error, "domain '%s', VF %s: reading its profile: ", r->name, mine[i]);
            virDomainFree(dom);
            return NULL;
        }
        g_ptr_array_add(profiles, g_steal_pointer(&profile));
    }
    g_ptr_array_add(profiles, NULL);
    edited = xe_libvirt_xml_prepare(xml, (const char *const *)mine,
                                    (const char *const *)profiles->pdata, &changes, error);
    if (edited == NULL) {
        virDomainFree(dom);
        return NULL;
    }
    /* still the same definition, still persistent, right before defining it */
    again =
        virDomainIsPersistent(dom) == 1 ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
    virDomainFree(dom);
    if (again == NULL || !g_str_equal(again, xml)) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY,
                    "domain '%s' changed (or went) while it was being prepared: nothing was "
                    "defined; try again",
                    r->name);
        return NULL;
    }
    if (changes[0] != NULL) {
        virDomainPtr defined = virDomainDefineXML(conn, edited);

        if (defined == NULL) {
            g_autofree char *what = g_strdup_printf("libvirt refused domain '%s' with what it "
                                                    "needs added",
                                                    r->name);

            return libvirt_error(error, what), NULL;
        }
        virDomainFree(defined);
        g_message("domain %s prepared for migration: %u change(s)", r->name,
                  g_strv_length(changes));
    }
    if (active) {
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *owner = g_strdup_printf("domain:%s", r->name);

        for (guint i = 0; changes[i] != NULL; i++)
            g_ptr_array_add(all, g_strdup(changes[i]));
        if (changes[0] != NULL)
            g_ptr_array_add(all, g_strdup("the domain runs: these apply from its next start"));
        /* a domain started unprepared went past the hook: its VFs are held for it now */
        for (guint i = 0; mine[i] != NULL; i++) {
            g_autofree char *id = NULL, *holder = NULL, *got = NULL;
            g_autoptr(GError) local = NULL;

            if (xe_agent_reservation_of_vf(self->agent, mine[i], &id, &holder)) {
                if (!g_str_equal(holder, owner))
                    g_ptr_array_add(all, g_strdup_printf("VF %s is reserved by %s (reservation "
                                                         "%s), not for the domain: left as it is",
                                                         mine[i], holder, id));
                continue;
            }
            g_clear_pointer(&id, g_free);
            if (!engine_reserve(self, profiles->pdata[i], mine[i], owner, &got, &id, &local)) {
                g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                           "domain '%s': reserving its running VF %s: ", r->name,
                                           mine[i]);
                return NULL;
            }
            g_ptr_array_add(all, g_strdup_printf("VF %s reserved for the running domain "
                                                 "(reservation %s)",
                                                 mine[i], id));
        }
        g_ptr_array_add(all, NULL);
        g_strfreev(changes);
        changes = (GStrv)g_ptr_array_free(g_steal_pointer(&all), FALSE);
    }
    return g_steal_pointer(&changes);
}

static void
prepare_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Request *r = data;
    GError *error = NULL;
    virConnectPtr conn = connect_libvirt(self->libvirt, r->uri, &error);
    g_autoptr(GMainContext) context = g_main_context_new();
    GStrv changes;

    if (conn == NULL) {
        g_task_return_error(task, error);
        return;
    }
    /* the agent's calls (a reservation) wait on this thread's own context */
    g_main_context_push_thread_default(context);
    changes = prepare(self, conn, r, &error);
    g_main_context_pop_thread_default(context);
    virConnectClose(conn);
    if (changes == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, changes, (GDestroyNotify)g_strfreev);
}

void
xe_engine_prepare_domain_async(XeEngine *self, const char *name, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = request_new(self, name, cancellable, callback, user_data);

    g_task_run_in_thread(task, prepare_thread);
}

GStrv
xe_engine_prepare_domain_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* Blocking: whether @name is active on @conn. FALSE with @error when libvirt cannot say. */
static gboolean
domain_active(virConnectPtr conn, const char *name, gboolean *active, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);

    if (dom == NULL && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        g_autofree char *what = g_strdup_printf("cannot tell whether domain %s runs", name);

        return libvirt_error(error, what);
    }
    *active = dom != NULL && virDomainIsActive(dom) == 1;
    if (dom != NULL)
        virDomainFree(dom);
    return TRUE;
}

typedef gboolean (*DomainCall)(virConnectPtr conn, const char *name, gpointer out, GError **error);

/* Blocking: @call for domain @name on a connection to @uri, once more on a fresh connection
 * when libvirtd went away under the first. */
static gboolean
call_on_domain(XeLibvirt *lv, const char *uri, DomainCall call, const char *name, gpointer out,
               GError **error)
{
    virConnectPtr conn = connect_libvirt(lv, uri, error);
    gboolean ok;

    if (conn == NULL)
        return FALSE;
    ok = call(conn, name, out, error);
    if (!ok && connection_lost(lv, conn)) {
        virConnectClose(conn);
        g_clear_error(error);
        if ((conn = connect_libvirt(lv, uri, error)) == NULL)
            return FALSE;
        ok = call(conn, name, out, error);
    }
    virConnectClose(conn);
    return ok;
}

gboolean
engine_libvirt_domain_active(XeEngine *self, const char *uri, const char *name, gboolean *active,
                             GError **error)
{
    return call_on_domain(self->libvirt, uri, (DomainCall)domain_active, name, active, error);
}

/* Blocking: @name's state as ListDomains words it, "" when libvirt has no such domain. */
static gboolean
domain_state(virConnectPtr conn, const char *name, char **state, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    int s = VIR_DOMAIN_NOSTATE, reason;

    if (dom == NULL && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
        *state = g_strdup("");
        return TRUE;
    }
    if (dom == NULL || virDomainGetState(dom, &s, &reason, 0) < 0) {
        g_autofree char *what = g_strdup_printf("cannot tell the state of domain %s", name);

        if (dom != NULL)
            virDomainFree(dom);
        return libvirt_error(error, what);
    }
    *state = g_strdup(state_text(dom));
    virDomainFree(dom);
    return TRUE;
}

static void
state_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Request *r = data;
    GError *error = NULL;
    char *state = NULL;

    if (call_on_domain(self->libvirt, r->uri, (DomainCall)domain_state, r->name, &state, &error))
        g_task_return_pointer(task, state, g_free);
    else
        g_task_return_error(task, error);
    engine_thread_exited(self);
}

void
xe_engine_domain_state_async(XeEngine *self, const char *name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = request_new(self, name, cancellable, callback, user_data);
    Request *r = g_task_get_task_data(task);

    if (r->uri == NULL || *r->uri == '\0') {
        g_task_return_new_error(task, XE_ERROR, XE_ERROR_NOT_SUPPORTED,
                                "libvirt-uri is empty in this host's configuration: xe-migrated "
                                "does not look at libvirt here");
        return;
    }
    self->live_workers++;
    g_task_run_in_thread(task, state_thread);
}

char *
xe_engine_domain_state_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* reconciling: the domains' reservations against what runs */

static void
reconcile_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    XeEngine *self = source;
    Request *r = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainContext) context = g_main_context_new();
    virConnectPtr conn = NULL;
    GVariantIter iter;
    const char *id, *vf, *profile, *owner;
    gint64 created, now = g_get_real_time();
    guint released = 0;

    g_variant_iter_init(&iter, r->reservations);
    g_main_context_push_thread_default(context);
    while (g_variant_iter_next(&iter, "(&s&s&s&sx)", &id, &vf, &profile, &owner, &created)) {
        const char *name = g_str_has_prefix(owner, "domain:") ? owner + strlen("domain:") : NULL;
        gboolean runs;
        g_autoptr(GError) local = NULL;

        /* younger ones may be an incoming whose QEMU is not up yet */
        if (name == NULL || now - created < (gint64)r->min_age_s * G_USEC_PER_SEC)
            continue;
        if (conn == NULL && (conn = connect_libvirt(self->libvirt, r->uri, &error)) == NULL)
            break; /* libvirt cannot say: nothing is decided without it */
        if (!domain_active(conn, name, &runs, &local)) {
            g_warning("%s: its VF %s stays reserved", local->message, vf);
            continue;
        }
        if (runs)
            continue;
        if (!engine_release(self, id, TRUE, "xe-migrated (libvirt reconcile)", &local)) {
            g_warning("domain %s: %s", name, local->message);
            continue;
        }
        released++;
        g_message("domain %s does not run on this host: its VF %s reset and reservation %s "
                  "released (libvirt went on without the hook's release)",
                  name, vf, id);
    }
    g_main_context_pop_thread_default(context);
    if (conn != NULL)
        virConnectClose(conn);
    if (error != NULL && r->uri != NULL && *r->uri != '\0')
        g_message("libvirt reconcile: %s; the domains' reservations stay as they are",
                  error->message);
    g_task_return_int(task, released);
    engine_thread_exited(self);
}

void
xe_engine_libvirt_reconcile_async(XeEngine *self, guint min_age_s, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = request_new(self, NULL, cancellable, callback, user_data);
    Request *r = g_task_get_task_data(task);

    r->reservations = g_variant_ref_sink(xe_agent_list_reservations(self->agent));
    r->min_age_s = min_age_s;
    if (self->shutting_down || *r->uri == '\0') {
        g_task_return_int(task, 0);
        return;
    }
    /* counted with the engine's workers: a stopping daemon waits for its releases */
    self->live_workers++;
    g_task_run_in_thread(task, reconcile_thread);
}

guint
xe_engine_libvirt_reconcile_finish(XeEngine *self, GAsyncResult *result, GError **error)
{
    gssize n = g_task_propagate_int(G_TASK(result), error);

    return n > 0 ? (guint)n : 0;
}

/* a migrated domain's definition */

/* Blocking: @name's persistent definition with each Xe VF that names one of the source's
 * addresses @fix->moved records pointed at the VF that took its place here. */
static gboolean
fix_definition(virConnectPtr conn, const char *name, XeDefinitionFix *fix, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    g_autofree char *def_xml = NULL, *out = NULL;
    g_autoptr(XeLibvirtDomain) def = NULL;
    GPtrArray *defined;
    virDomainPtr redefined;
    gboolean ok = FALSE;

    fix->changed = fix->settled = FALSE;
    if (dom == NULL)
        return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ||
               libvirt_error(error, "looking the domain up");
    if (virDomainIsActive(dom) != 1 || virDomainIsPersistent(dom) != 1) {
        ok = TRUE; /* nothing runs, or nothing is defined yet: nothing to point anywhere */
        goto out;
    }
    def_xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    if (def_xml == NULL) {
        libvirt_error(error, "reading the domain's definition");
        goto out;
    }
    if ((def = xe_libvirt_domain_parse(def_xml, error)) == NULL)
        goto out;
    defined = xe_libvirt_domain_get_vfs(def);
    for (guint i = 0; i < defined->len; i++) {
        g_autofree char *was = g_strdup(((XeLibvirtVf *)defined->pdata[i])->host);
        const char *now = g_hash_table_lookup(fix->moved, was);

        if (now == NULL || g_str_equal(now, was))
            continue;
        if (!xe_libvirt_domain_retarget(def, i, now, NULL, error))
            goto out;
        g_message("domain %s arrived by migration: its definition names VF %s now, the one that "
                  "took the place of the source host's %s",
                  name, now, was);
        fix->changed = TRUE;
    }
    if (fix->changed) {
        out = xe_libvirt_domain_to_xml(def);
        redefined = virDomainDefineXML(conn, out);
        if (redefined == NULL) {
            libvirt_error(error, "defining the domain with this host's VFs");
            goto out;
        }
        virDomainFree(redefined);
    }
    fix->settled = TRUE;
    ok = TRUE;
out:
    virDomainFree(dom);
    return ok;
}

gboolean
engine_libvirt_fix_definition(XeEngine *self, const char *uri, const char *name,
                              XeDefinitionFix *fix, GError **error)
{
    return call_on_domain(self->libvirt, uri, (DomainCall)fix_definition, name, fix, error);
}
