/* xe-test-qemu.h: starts real QEMU processes for tests and benchmarks, with
 * the daemon's own launcher (XeQemuProcess: the monitor socket is bound
 * before QEMU starts and passed as an fd, so a client connects at once).
 * KVM when /dev/kvm opens, else TCG.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "xe-qemu.h"
#include "xe-qmp.h"

G_BEGIN_DECLS

typedef struct {
    char *name;
    char *dir;              /* scratch directory, removed by xe_test_qemu_free() */
    char *qmp_address;      /* unix:DIR/qmp.sock */
    XeQemuProcess *process; /* the production launcher (src/engine/xe-qemu.c) */
} XeTestQemu;

/* The QEMU binary ($QEMU_BIN or qemu-system-x86_64 on PATH), or NULL. */
const char *xe_test_qemu_binary(void);
/* "kvm" when /dev/kvm can be opened read-write, else "tcg". */
const char *xe_test_qemu_accel(void);

/* Starts QEMU with @memory (e.g. "512M"), no devices, no display; with
 * @incoming it waits for migrate-incoming (-incoming defer). */
XeTestQemu *xe_test_qemu_start(const char *name, const char *memory, gboolean incoming,
                               GError **error);
/* The same, with @env (KEY=VALUE, NULL-terminated; may be NULL) added to QEMU's
 * environment and @args (NULL-terminated; may be NULL) appended to its command line. */
XeTestQemu *xe_test_qemu_start_with(const char *name, const char *memory, gboolean incoming,
                                    const char *const *env, const char *const *args,
                                    GError **error);
/* QEMU running the dirtying guest ($XE_DIRTIER, tests/guest/dirtier.S: it rewrites a word of
 * every page of its RAM above 2 MiB, over and over) with @args appended, connected (@client).
 * KVM when its guest runs code here, else TCG: the guest is checked to make progress (some
 * machines have a /dev/kvm whose guests never execute). NULL with @error if it makes none. */
XeTestQemu *xe_test_qemu_start_dirtying(const char *name, const char *memory,
                                        const char *const *env, const char *const *args,
                                        XeQmpClient **client, GError **error);
/* The dirtying guest's passes over its RAM so far (guest-physical 0x7000). */
gboolean xe_test_qemu_guest_passes(XeQmpClient *client, guint32 *passes, GError **error);
/* The 32-bit word at guest-physical @address (HMP xp). */
gboolean xe_test_qemu_guest_word(XeQmpClient *client, guint64 address, guint32 *value,
                                 GError **error);
/* A client connected and negotiated to @qemu, or NULL with @error. Usable
 * outside Check tests (benchmarks): it does not assert. */
XeQmpClient *xe_test_qemu_connect(XeTestQemu *qemu, GError **error);
/* Kills QEMU if it still runs, reaps it and removes its directory. */
void xe_test_qemu_free(XeTestQemu *qemu);

/* @p's monitor, with the events and return-path capabilities on; each event's first time
 * (MIGRATION: its "completed") recorded in @seen (name -> gint64 µs, QEMU's timestamp). */
XeQmpClient *xe_test_qemu_connect_seeing(XeQemuProcess *p, GHashTable *seen);
/* A migration by hand, as an operator runs one without xe-migrated (or libvirt): @src
 * running, @dst started paused (-incoming defer) where @dst_addr reaches it; events and
 * return-path on both sides, migrate-incoming on tcp:@dst_addr:0, migrate, the source's
 * MIGRATION completed, cont on the destination. *@running_ms runs from @t0 (monotonic µs,
 * the caller's start) to cont's answer, *@downtime_ms from the source's STOP event to the
 * destination's RESUME, *@qemu_downtime_ms is the source's own figure. Fails the test on any
 * error. */
void xe_test_qemu_bare_migrate(XeQemuProcess *src, XeQemuProcess *dst, const char *dst_addr,
                               gint64 t0, double *running_ms, double *downtime_ms,
                               double *qemu_downtime_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XeTestQemu, xe_test_qemu_free)

G_END_DECLS
