/* fuzz-qmp-stream.c: libFuzzer target for everything QEMU's monitor can make
 * us parse: the stream framer, fed in chunks whose sizes the input chooses,
 * and each complete message through every typed reply parser and event
 * decoder, holding each to its contract: a failure always carries a GError in
 * XE_QMP_ERROR with a message, a success never does. A breach abort()s: a
 * worker awaiting a reply that failed without a reason would wait forever.
 *
 * Built with -Dfuzzing=true (clang); fuzz-replay.c runs the same function
 * over the seed corpus in every build, as the qmp-fuzz-corpus test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "xe-qmp.h"
#include "xe-qmp-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* decoders */

static gpointer
parse_migration_info(JsonNode *ret, const char *command, GError **error)
{
    return xe_qmp_migration_info_parse(ret, error);
}

static gpointer
parse_schema(JsonNode *ret, const char *command, GError **error)
{
    return xe_qmp_schema_parse(ret, error);
}

/* Every reply parser of qmp/: the ones behind the typed commands. */
static const struct {
    const char *command;
    XeQmpReplyParser parse;
    GDestroyNotify free_result;
} reply_decoders[] = {
    { "query-version", xe_qmp_parse_version, (GDestroyNotify)xe_qmp_version_free },
    { "query-status", xe_qmp_parse_status, (GDestroyNotify)xe_qmp_status_free },
    { "query-migrate", parse_migration_info, (GDestroyNotify)xe_qmp_migration_info_free },
    { "query-migrate-capabilities", xe_qmp_parse_migrate_capabilities,
      (GDestroyNotify)g_hash_table_unref },
    { "query-migrate-parameters", xe_qmp_parse_migrate_parameters, g_free },
    { "query-memory-size-summary", xe_qmp_parse_memory_size, g_free },
    { "qom-list", xe_qmp_parse_qom_list, (GDestroyNotify)g_ptr_array_unref },
    { "query-qmp-schema", parse_schema, (GDestroyNotify)xe_qmp_schema_free },
};

static gboolean
decode_migration(JsonObject *data, GError **error)
{
    XeQmpMigrationStatus status;

    return xe_qmp_event_migration_decode(data, &status, error);
}

static gboolean
decode_migration_pass(JsonObject *data, GError **error)
{
    guint64 pass;

    return xe_qmp_event_migration_pass_decode(data, &pass, error);
}

static gboolean
decode_vfio_migration(JsonObject *data, GError **error)
{
    const char *id, *path;
    XeQmpVfioState state;

    return xe_qmp_event_vfio_migration_decode(data, &id, &path, &state, error);
}

/* Every event decoder of qmp/. */
static const struct {
    const char *event;
    gboolean (*decode)(JsonObject *data, GError **error);
} event_decoders[] = {
    { XE_QMP_EVENT_MIGRATION, decode_migration },
    { XE_QMP_EVENT_MIGRATION_PASS, decode_migration_pass },
    { XE_QMP_EVENT_VFIO_MIGRATION, decode_vfio_migration },
};

/* the contract */

static void
check_contract(const char *decoder, gboolean ok, const GError *error)
{
    if (!ok && error == NULL) {
        fprintf(stderr, "%s: failed without a GError\n", decoder);
        abort();
    }
    if (ok && error != NULL) {
        fprintf(stderr, "%s: succeeded, yet set a GError: %s\n", decoder, error->message);
        abort();
    }
    if (error != NULL &&
        (error->domain != XE_QMP_ERROR || error->message == NULL || error->message[0] == '\0')) {
        fprintf(stderr, "%s: failed with an error outside XE_QMP_ERROR or without a message\n",
                decoder);
        abort();
    }
}

/* Runs @node through every decoder: the reply parsers as a "return" value,
 * the event decoders as "data" when it is an object. */
static void
decode_everywhere(JsonNode *node)
{
    for (gsize i = 0; i < G_N_ELEMENTS(reply_decoders); i++) {
        g_autoptr(GError) error = NULL;
        gpointer value = reply_decoders[i].parse(node, reply_decoders[i].command, &error);

        check_contract(reply_decoders[i].command, value != NULL, error);
        if (value != NULL)
            reply_decoders[i].free_result(value);
    }
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(event_decoders); i++) {
        g_autoptr(GError) error = NULL;
        gboolean ok = event_decoders[i].decode(json_node_get_object(node), &error);

        check_contract(event_decoders[i].event, ok, error);
    }
}

static gboolean
on_message(JsonObject *message, gpointer user_data)
{
    g_autoptr(JsonNode) whole = json_node_init_object(json_node_alloc(), message);
    JsonNode *ret = json_object_get_member(message, "return");
    JsonNode *data = json_object_get_member(message, "data");

    /* The message itself, and the members a reply or an event hands on. */
    decode_everywhere(whole);
    if (ret != NULL)
        decode_everywhere(ret);
    if (data != NULL)
        decode_everywhere(data);
    return TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small bounds so that the fuzzer reaches them. */
    XeQmpStream *stream = xe_qmp_stream_new(4096, 16);
    gsize chunk;

    if (size == 0) {
        xe_qmp_stream_free(stream);
        return 0;
    }
    chunk = 1 + data[0] % 64;
    data++;
    size--;
    for (gsize off = 0; off < size; off += chunk) {
        g_autoptr(GError) error = NULL;

        if (!xe_qmp_stream_feed(stream, data + off, MIN(chunk, size - off), on_message, NULL,
                                &error)) {
            check_contract("the stream framer", FALSE, error);
            break;
        }
    }
    xe_qmp_stream_free(stream);
    return 0;
}
