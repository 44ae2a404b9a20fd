/* xe-reservations.c: the reservation table and its atomic state file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-reservations"

#include "xe-reservations.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "xe-error.h"
#include "xe-pci.h"

#define STATE_VERSION 1

struct _XeReservations {
    char *state_dir;
    GPtrArray *items; /* XeReservation, oldest first */
};

static const char *const owner_names[] = {
    [XE_RESERVATION_OWNER_CALLER] = "caller",
    [XE_RESERVATION_OWNER_VM] = "vm",
    [XE_RESERVATION_OWNER_INCOMING] = "incoming",
    [XE_RESERVATION_OWNER_DOMAIN] = "domain",
};

const char *
xe_reservation_owner_to_string(XeReservationOwner kind)
{
    g_return_val_if_fail((guint)kind < G_N_ELEMENTS(owner_names), "caller");
    return owner_names[kind];
}

gboolean
xe_reservation_owner_from_string(const char *text, XeReservationOwner *kind)
{
    for (guint i = 0; text != NULL && i < G_N_ELEMENTS(owner_names); i++) {
        if (g_str_equal(text, owner_names[i])) {
            *kind = (XeReservationOwner)i;
            return TRUE;
        }
    }
    return FALSE;
}

char *
xe_reservation_owner_display(const XeReservation *r)
{
    const char *kind = xe_reservation_owner_to_string(r->kind);
    gsize n = strlen(kind);

    if (strncmp(r->owner, kind, n) == 0 && r->owner[n] == ':')
        return g_strdup(r->owner);
    return g_strdup_printf("%s:%s", kind, r->owner);
}

static void
reservation_free(XeReservation *r)
{
    g_free(r->id);
    g_free(r->vf_bdf);
    g_free(r->pf_bdf);
    g_free(r->profile);
    g_free(r->owner);
    g_free(r);
}

XeReservations *
xe_reservations_new(const char *state_dir)
{
    XeReservations *self = g_new0(XeReservations, 1);

    self->state_dir = g_strdup(state_dir);
    self->items = g_ptr_array_new_with_free_func((GDestroyNotify)reservation_free);
    return self;
}

void
xe_reservations_free(XeReservations *self)
{
    if (self == NULL)
        return;
    g_ptr_array_unref(self->items);
    g_free(self->state_dir);
    g_free(self);
}

GPtrArray *
xe_reservations_list(XeReservations *self)
{
    return self->items;
}

const XeReservation *
xe_reservations_lookup(XeReservations *self, const char *id)
{
    for (guint i = 0; i < self->items->len; i++) {
        XeReservation *r = self->items->pdata[i];
        if (g_str_equal(r->id, id))
            return r;
    }
    return NULL;
}

const XeReservation *
xe_reservations_lookup_vf(XeReservations *self, const char *vf_bdf)
{
    for (guint i = 0; i < self->items->len; i++) {
        XeReservation *r = self->items->pdata[i];
        if (g_str_equal(r->vf_bdf, vf_bdf))
            return r;
    }
    return NULL;
}

static XeReservation *
reservation_find(XeReservations *self, const char *id, GError **error)
{
    for (guint i = 0; i < self->items->len; i++) {
        XeReservation *r = self->items->pdata[i];
        if (g_str_equal(r->id, id))
            return r;
    }
    g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no reservation '%s'", id);
    return NULL;
}

static XeReservation *
reservation_new(const char *id, const char *vf, const char *pf, const char *profile,
                XeReservationOwner kind, const char *owner, gint64 created)
{
    XeReservation *r = g_new0(XeReservation, 1);

    r->id = g_strdup(id);
    r->vf_bdf = g_strdup(vf);
    r->pf_bdf = g_strdup(pf);
    r->profile = g_strdup(profile != NULL ? profile : "");
    r->kind = kind;
    r->owner = g_strdup(owner != NULL ? owner : "");
    r->created = created;
    return r;
}

const XeReservation *
xe_reservations_add(XeReservations *self, const char *vf_bdf, const char *pf_bdf,
                    const char *profile, XeReservationOwner kind, const char *owner, GError **error)
{
    const XeReservation *held = xe_reservations_lookup_vf(self, vf_bdf);
    g_autofree char *id = NULL;
    XeReservation *r;

    if (held != NULL) {
        g_set_error(error, XE_ERROR, XE_ERROR_BUSY, "VF %s is already reserved (%s, by %s)", vf_bdf,
                    held->id, held->owner);
        return NULL;
    }
    id = g_uuid_string_random();
    r = reservation_new(id, vf_bdf, pf_bdf, profile, kind, owner, g_get_real_time());
    g_ptr_array_add(self->items, r);
    return r;
}

gboolean
xe_reservations_set_owner(XeReservations *self, const char *id, XeReservationOwner kind,
                          const char *owner, GError **error)
{
    XeReservation *r = reservation_find(self, id, error);

    if (r == NULL)
        return FALSE;
    r->kind = kind;
    g_free(r->owner);
    r->owner = g_strdup(owner != NULL ? owner : "");
    return TRUE;
}

gboolean
xe_reservations_set_releasing(XeReservations *self, const char *id, gboolean releasing,
                              GError **error)
{
    XeReservation *r = reservation_find(self, id, error);

    if (r == NULL)
        return FALSE;
    r->releasing = releasing;
    return TRUE;
}

gboolean
xe_reservations_remove(XeReservations *self, const char *id, GError **error)
{
    for (guint i = 0; i < self->items->len; i++) {
        if (g_str_equal(((XeReservation *)self->items->pdata[i])->id, id)) {
            g_ptr_array_remove_index(self->items, i);
            return TRUE;
        }
    }
    g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "no reservation '%s'", id);
    return FALSE;
}

char *
xe_reservations_to_json(XeReservations *self)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, STATE_VERSION);
    json_builder_set_member_name(b, "reservations");
    json_builder_begin_array(b);
    for (guint i = 0; i < self->items->len; i++) {
        XeReservation *r = self->items->pdata[i];

        if (r->releasing)
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, r->id);
        json_builder_set_member_name(b, "vf");
        json_builder_add_string_value(b, r->vf_bdf);
        json_builder_set_member_name(b, "pf");
        json_builder_add_string_value(b, r->pf_bdf);
        json_builder_set_member_name(b, "profile");
        json_builder_add_string_value(b, r->profile);
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, xe_reservation_owner_to_string(r->kind));
        json_builder_set_member_name(b, "owner");
        json_builder_add_string_value(b, r->owner);
        json_builder_set_member_name(b, "created");
        json_builder_add_int_value(b, r->created);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_to_string(root, TRUE);
}

static gboolean
fsync_path(const char *path, int flags, GError **error)
{
    int fd = open(path, flags | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "syncing %s: %s", path, g_strerror(e));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

gboolean
xe_reservations_write_json(const char *state_dir, const char *json, GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, XE_RESERVATIONS_FILE, NULL);
    g_autoptr(GError) local = NULL;

    if (g_mkdir_with_parents(state_dir, 0700) < 0) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "creating the state directory %s: %s",
                    state_dir, g_strerror(errno));
        return FALSE;
    }
    /* g_file_set_contents_full with DURABLE: write to a temporary, fsync, rename. */
    if (!g_file_set_contents_full(path, json, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0600, &local)) {
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "writing %s: %s", path, local->message);
        return FALSE;
    }
    /* ... and the rename itself must reach the disk. */
    return fsync_path(state_dir, O_RDONLY | O_DIRECTORY, error);
}

gboolean
xe_reservations_save(XeReservations *self, GError **error)
{
    g_autofree char *json = xe_reservations_to_json(self);

    return xe_reservations_write_json(self->state_dir, json, error);
}

static gboolean G_GNUC_PRINTF(3, 4)
    state_error(GError **error, const char *path, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, XE_ERROR, XE_ERROR_BAD_DATA,
                "state file %s: %s; fix or remove it (the daemon does not guess)", path, what);
    return FALSE;
}

static const char *
member_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n != NULL && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n)
                                                                     : NULL;
}

gboolean
xe_reservations_load(XeReservations *self, GError **error)
{
    g_autofree char *path = g_build_filename(self->state_dir, XE_RESERVATIONS_FILE, NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func((GDestroyNotify)reservation_free);
    JsonObject *obj;
    JsonNode *list;

    if (!g_file_get_contents(path, &data, NULL, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_ptr_array_set_size(self->items, 0);
            return TRUE;
        }
        g_set_error(error, XE_ERROR, XE_ERROR_FAILED, "reading %s: %s", path, local->message);
        return FALSE;
    }
    root = json_from_string(data, &local);
    if (root == NULL)
        return state_error(error, path, "not JSON: %s", local->message);
    if (!JSON_NODE_HOLDS_OBJECT(root))
        return state_error(error, path, "not a JSON object");
    obj = json_node_get_object(root);
    if (json_object_get_int_member_with_default(obj, "version", 0) != STATE_VERSION)
        return state_error(error, path, "version is not %d", STATE_VERSION);
    list = json_object_get_member(obj, "reservations");
    if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list))
        return state_error(error, path, "'reservations' is not a list");
    for (guint i = 0; i < json_array_get_length(json_node_get_array(list)); i++) {
        JsonNode *n = json_array_get_element(json_node_get_array(list), i);
        JsonObject *o;
        const char *id, *vf, *pf;
        XePciAddress a;
        XeReservationOwner kind = XE_RESERVATION_OWNER_CALLER; /* files from before kinds */

        if (!JSON_NODE_HOLDS_OBJECT(n))
            return state_error(error, path, "reservation %u is not an object", i + 1);
        o = json_node_get_object(n);
        id = member_string(o, "id");
        vf = member_string(o, "vf");
        pf = member_string(o, "pf");
        if (id == NULL || !g_uuid_string_is_valid(id))
            return state_error(error, path, "reservation %u: 'id' is not a UUID", i + 1);
        if (vf == NULL || !xe_pci_address_parse(vf, &a, NULL))
            return state_error(error, path, "reservation %u: 'vf' is not a PCI address", i + 1);
        if (pf == NULL || !xe_pci_address_parse(pf, &a, NULL))
            return state_error(error, path, "reservation %u: 'pf' is not a PCI address", i + 1);
        if (json_object_has_member(o, "kind") &&
            !xe_reservation_owner_from_string(member_string(o, "kind"), &kind))
            return state_error(error, path,
                               "reservation %u: 'kind' is not \"caller\", \"vm\" or \"incoming\"",
                               i + 1);
        for (guint j = 0; j < items->len; j++)
            if (g_str_equal(((XeReservation *)items->pdata[j])->vf_bdf, vf))
                return state_error(error, path, "reservation %u: VF %s is reserved twice", i + 1,
                                   vf);
        g_ptr_array_add(items,
                        reservation_new(id, vf, pf, member_string(o, "profile"), kind,
                                        member_string(o, "owner"),
                                        json_object_get_int_member_with_default(o, "created", 0)));
    }
    g_ptr_array_unref(self->items);
    self->items = g_steal_pointer(&items);
    return TRUE;
}
