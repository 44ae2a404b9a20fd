/* xe-qmp-private.h: helpers shared by the qmp/ sources, and the internal
 * entry points that the fuzzer and the qmp tests reach past the public API
 * (in the manner of libvirt's *priv.h). Nothing outside qmp/ and tests/
 * includes this header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-commands.h"

G_BEGIN_DECLS

/* GTask source tags are functions by convention; ISO C (-Wpedantic) does not
 * convert function pointers to gpointer implicitly. */
#define XE_QMP_TAG(fn) ((gpointer)(guintptr)(fn))

/* The most abandoned command ids (timed out or cancelled, their late reply
 * to be dropped) a client remembers; the oldest is forgotten first. */
#define XE_QMP_MAX_ABANDONED 1024u

/* "an object", "an array", "null", "a string", "a boolean", "an integer" or
 * "a number with a fraction": what @node is, for error messages. */
const char *xe_qmp_node_kind(JsonNode *node);

/* The reply parsers behind the typed commands, each an XeQmpReplyParser:
 * a value, or NULL with @error set (XE_QMP_ERROR_BAD_REPLY). */
gpointer xe_qmp_parse_version(JsonNode *ret, const char *command, GError **error);
gpointer xe_qmp_parse_status(JsonNode *ret, const char *command, GError **error);
gpointer xe_qmp_parse_memory_size(JsonNode *ret, const char *command, GError **error);
gpointer xe_qmp_parse_qom_list(JsonNode *ret, const char *command, GError **error);
gpointer xe_qmp_parse_migrate_capabilities(JsonNode *ret, const char *command, GError **error);
gpointer xe_qmp_parse_migrate_parameters(JsonNode *ret, const char *command, GError **error);

/* Number of abandoned ids @self remembers (at most XE_QMP_MAX_ABANDONED). */
guint xe_qmp_client_get_n_abandoned(XeQmpClient *self);

G_END_DECLS
