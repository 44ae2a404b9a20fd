/* xe-migratectl.h: what the CLI's command files share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "xe-bus.h"
#include "xe-dbus-generated.h"
#include "xe-error.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3,
    EXIT_DENIED = 4,
    EXIT_BUSY = 5,
    EXIT_NOT_FOUND = 6,
    EXIT_INCOMPATIBLE = 7,
    EXIT_CANCELLED = 8,
};

typedef struct {
    GDBusConnection *connection;
    GDBusObjectManager *manager;
    gboolean json;
    char *to;
    char *policy;
    gboolean detach;
    gboolean start;
} Ctl;

/* One line on stderr; the exit code for @error's class. */
int fail(const char *what, GError *error);
int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
XeDBusManager *get_manager(Ctl *ctl, GError **error);
void print_json(JsonBuilder *b);
void json_properties(JsonBuilder *b, GDBusProxy *iface);

/* xe-migratectl-vm.c: vm-add, vm-remove, vms, migrate, jobs, job, cancel.
 * FALSE when @cmd is not one of them. */
gboolean ctl_vm_command(Ctl *ctl, const char *cmd, char **args, int n, int *ret);

/* xe-migratectl-complete.c: `complete WHAT`, the live values shell completion offers. */
int ctl_complete(Ctl *ctl, const char *what);
