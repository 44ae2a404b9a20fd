/* xe-test-sim.h: a live xe-sim mount for a test: started on a fresh
 * directory, ready when it says so (--ready-fd), gone with the test (SIGTERM,
 * and PR_SET_PDEATHSIG should the test die first).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *root; /* the mount point */
    GPid pid;
} XeTestSim;

/* TRUE when /dev/fuse and fusermount3 are there. */
gboolean xe_test_fuse_available(void);
/* Starts xe-sim ($XE_SIM) with @config_text (a key file, or NULL for the
 * defaults: one BMG PF at 0000:03:00.0). Fails the test on error. */
XeTestSim *xe_test_sim_start(const char *config_text);
void xe_test_sim_stop(XeTestSim *sim);

char *xe_test_sim_path(XeTestSim *sim, const char *rel);
/* Plain open(2)/write(2) of @value (no newline added): 0 or the errno. */
int xe_test_sim_write(XeTestSim *sim, const char *rel, const char *value);
int xe_test_sim_write_len(XeTestSim *sim, const char *rel, const char *value, gsize len);
/* Plain read: the content (NULL with *err set on failure). */
char *xe_test_sim_read(XeTestSim *sim, const char *rel, int *err);
/* Writes a control file under sim/, failing the test if refused. */
void xe_test_sim_control(XeTestSim *sim, const char *file, const char *value);
/* The audit log, then cleared. */
char *xe_test_sim_take_audit(XeTestSim *sim);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeTestSim, xe_test_sim_stop)

G_END_DECLS
