/* xe-vf-device.c: the VF's vfio-pci device inside a QEMU, found over QMP.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "xe-vf-device"

#include "xe-vf-device.h"

#include "xe-error.h"
#include "xe-qmp-commands.h"
#include "xe-worker.h"

static const char *const containers[] = { "/machine/peripheral", "/machine/peripheral-anon" };

char *
xe_vf_device_find(XeQmpClient *qmp, const char *vf, GCancellable *cancellable, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;

    for (guint c = 0; c < G_N_ELEMENTS(containers); c++) {
        g_autoptr(GPtrArray) children = NULL;

        children = XE_AWAIT_CALL(
            &w, xe_qmp_qom_list_async(qmp, containers[c], cancellable, xe_await_cb, &w),
            xe_qmp_qom_list_finish(qmp, xe_await(&w), error));
        if (children == NULL)
            return NULL;
        for (guint i = 0; i < children->len; i++) {
            const XeQmpObjectProperty *child = children->pdata[i];
            g_autofree char *path = NULL;
            g_autoptr(JsonNode) host = NULL;

            if (!g_str_equal(child->type, "child<vfio-pci>"))
                continue;
            path = g_strdup_printf("%s/%s", containers[c], child->name);
            host = XE_AWAIT_CALL(
                &w, xe_qmp_qom_get_async(qmp, path, "host", cancellable, xe_await_cb, &w),
                xe_qmp_qom_get_finish(qmp, xe_await(&w), error));
            if (host == NULL)
                return NULL;
            if (JSON_NODE_HOLDS_VALUE(host) && json_node_get_value_type(host) == G_TYPE_STRING &&
                g_ascii_strcasecmp(json_node_get_string(host), vf) == 0)
                return g_steal_pointer(&path);
        }
    }
    g_set_error(error, XE_ERROR, XE_ERROR_NOT_FOUND, "QEMU has no vfio-pci device for VF %s", vf);
    return NULL;
}

gboolean
xe_vf_device_set_multifd_transfer(XeQmpClient *qmp, const char *vf, gboolean on,
                                  GCancellable *cancellable, GError **error)
{
    g_auto(XeAwait) w = XE_AWAIT_INIT;
    g_autofree char *path = xe_vf_device_find(qmp, vf, cancellable, error);
    g_autoptr(JsonNode) value = NULL;

    if (path == NULL)
        return FALSE;
    value = json_node_init_string(json_node_alloc(), on ? "on" : "off");
    if (!XE_AWAIT_CALL(&w,
                       xe_qmp_qom_set_async(qmp, path, "x-migration-multifd-transfer", value,
                                            cancellable, xe_await_cb, &w),
                       xe_qmp_qom_set_finish(qmp, xe_await(&w), error))) {
        g_prefix_error(error, "%s: x-migration-multifd-transfer=%s: ", path, on ? "on" : "off");
        return FALSE;
    }
    return TRUE;
}
