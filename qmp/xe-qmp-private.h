/* xe-qmp-private.h: helpers shared by the qmp/ sources only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/* GTask source tags are functions by convention; ISO C (-Wpedantic) does not
 * convert function pointers to gpointer implicitly. */
#define XE_QMP_TAG(fn) ((gpointer)(guintptr)(fn))
