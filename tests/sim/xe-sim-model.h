/* xe-sim-model.h: the simulated Xe PFs and VFs and the sysfs/debugfs trees
 * they show, with the kernel's formats and errnos (see
 * shared/reference/kernel-interfaces.md and its Simulation checklist).
 *
 * The model builds and tears down its subtrees as its state changes: VF
 * device directories, links and IOMMU groups appear on sriov_numvfs, driver
 * links on bind (and vfio-dev/ on binding xe-vfio-pci), sriov_admin/ and
 * debugfs while the PF is bound to xe.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-sim-tree.h"

G_BEGIN_DECLS

#define SIM_MAX_GTS 4

typedef struct {
    char *bdf;
    guint device_id;
    guint revision;
    guint vf_device_id;
    guint total_vfs;
    guint vf_offset;
    guint vf_stride;
    guint64 vram_size;
    guint64 ggtt_size;
    guint64 contexts;  /* per GT */
    guint64 doorbells; /* per GT */
    char *guc_version; /* "70.54.0" */
    guint tiles;
    guint gts_per_tile;
    gboolean migration; /* the kernel supports VF migration on this part */
    gboolean memirq;    /* memory-based interrupts */
} SimPfConfig;

/* VFIO migration states (include/uapi/linux/vfio.h values). */
typedef enum {
    SIM_MIG_ERROR = 0,
    SIM_MIG_STOP = 1,
    SIM_MIG_RUNNING = 2,
    SIM_MIG_STOP_COPY = 3,
    SIM_MIG_RESUMING = 4,
    SIM_MIG_RUNNING_P2P = 5,
    SIM_MIG_PRE_COPY = 6,
    SIM_MIG_PRE_COPY_P2P = 7,
} SimMigState;

void xe_sim_model_init(SimPfConfig *const *pfs, guint n_pfs, guint max_vfs_param);
/* The defaults: one BMG PF at 0000:03:00.0. */
SimPfConfig *xe_sim_pf_config_new_default(const char *bdf);
void xe_sim_pf_config_free(SimPfConfig *config);

/* Control interface (ROOT/sim/...), each returns 0 or a negative errno. */
int xe_sim_model_flr(const char *vf_bdf);
int xe_sim_model_flr_on_state(const char *vf_bdf, const char *state); /* "" clears */
int xe_sim_model_set_opened(const char *vf_bdf, gboolean opened);
/* Makes @driver's probe of @bdf fail with @error (0 clears). */
int xe_sim_model_set_probe_failure(const char *bdf, const char *driver, int error);
/* The rate of every VF's save and restore (reads and writes of its migration
 * data), in bytes per second; 0 = unlimited (the default). */
void xe_sim_model_set_vfio_rate(guint64 bytes_per_second);
guint64 xe_sim_model_get_vfio_rate(void);

const char *xe_sim_mig_state_name(SimMigState state);

G_END_DECLS
