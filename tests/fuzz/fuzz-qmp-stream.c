/* fuzz-qmp-stream.c: libFuzzer target for everything QEMU's monitor can make
 * us parse: the stream framer, fed in chunks whose sizes the input chooses,
 * and each complete message through the typed reply and event parsers.
 *
 * Built with -Dfuzzing=true (clang); fuzz-replay.c runs the same function
 * over the seed corpus in every build, as the qmp-fuzz-corpus test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stddef.h>
#include <stdint.h>

#include "xe-qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
on_message(JsonObject *message, gpointer user_data)
{
    JsonNode *ret = json_object_get_member(message, "return");
    JsonNode *data = json_object_get_member(message, "data");

    if (ret != NULL) {
        XeQmpMigrationInfo *info = xe_qmp_migration_info_parse(ret, NULL);
        XeQmpSchema *schema = xe_qmp_schema_parse(ret, NULL);

        xe_qmp_migration_info_free(info);
        xe_qmp_schema_free(schema);
    }
    if (data != NULL && JSON_NODE_HOLDS_OBJECT(data)) {
        JsonObject *obj = json_node_get_object(data);
        XeQmpMigrationStatus status;
        XeQmpVfioState state;
        const char *id, *path;
        guint64 pass;

        (void)xe_qmp_event_migration_parse(obj, &status);
        (void)xe_qmp_event_migration_pass_parse(obj, &pass);
        (void)xe_qmp_event_vfio_migration_parse(obj, &id, &path, &state);
    }
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
        if (!xe_qmp_stream_feed(stream, data + off, MIN(chunk, size - off), on_message, NULL, NULL))
            break;
    }
    xe_qmp_stream_free(stream);
    return 0;
}
