/* xe-test-services.h: the engine's services (xe-services.h) as fakes, for
 * running the source and destination flows alone: a host whose VFs are always
 * on xe-vfio-pci, reservations that are names, stand-in QEMU processes (sleep)
 * whose monitors are scripted fake QMP peers, and a log of every call the
 * flows make, which a test waits on with a deadline.
 *
 * Log lines: "reserve OWNER -> VF RESERVATION", "check VF", "release RESERVATION
 * reset|keep", "hooks PHASE", "spawn PID", "end-qemu PID", "vm-left NAME",
 * "vm-kept NAME STATE", "vm-arrived NAME RESERVATION", "incoming-ended ID".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-services.h"

G_BEGIN_DECLS

#define XE_TYPE_TEST_SERVICES (xe_test_services_get_type())
G_DECLARE_FINAL_TYPE(XeTestServices, xe_test_services, XE, TEST_SERVICES, GObject)

/* Services on the calling thread's default context (its main), over scratch
 * state, run and policy directories, reaching peer daemons through @transport. */
XeTestServices *xe_test_services_new(const char *const *transport);
/* The settings flows get (a test may change them before it starts a flow). */
XeEngineSettings *xe_test_services_get_settings(XeTestServices *self);
/* A policy file NAME.policy in the policy directory. */
void xe_test_services_add_policy(XeTestServices *self, const char *name, const char *text);
/* What the destination's check answers: "" (the VF takes the state) or why not. */
void xe_test_services_set_check(XeTestServices *self, const char *reason);
/* Runs @func(@data) on the flow's worker when the hooks of @phase run, before they
 * return (one callback per phase). */
typedef void (*XeTestHookFunc)(gpointer data);
void xe_test_services_on_hook(XeTestServices *self, const char *phase, XeTestHookFunc func,
                              gpointer data);
/* The monitor the next spawned QEMU gets (queued, one per spawn). */
void xe_test_services_push_monitor(XeTestServices *self, const char *qmp_path);

/* A running VM of this host named @name holding @vf under @reservation, whose QEMU is a
 * stand-in process with its monitor at @qmp_path. */
XeVm *xe_test_services_add_vm(XeTestServices *self, const char *name, const char *vf,
                              const char *reservation, const char *qmp_path);
/* A VM that arrived (vm_arrived), NULL if none. */
XeVm *xe_test_services_get_vm(XeTestServices *self, const char *name);

/* Whether the log has a line equal to @line; how many start with @prefix. */
gboolean xe_test_services_saw(XeTestServices *self, const char *line);
guint xe_test_services_count(XeTestServices *self, const char *prefix);
/* The whole log, one call per line. */
char *xe_test_services_log(XeTestServices *self);
/* Iterates the main context until the log has @line; fails the test after @timeout_ms. */
void xe_test_services_wait(XeTestServices *self, const char *line, guint timeout_ms);
/* Iterates the main context until every worker has exited; fails after @timeout_ms. */
void xe_test_services_drain(XeTestServices *self, guint timeout_ms);
/* The daemon stops (xe_services_get_stopping() fires). */
void xe_test_services_stop(XeTestServices *self);

G_END_DECLS
