/* xe-qmp.h: the QMP client library, in one include.
 *
 * qmp/ knows QMP and QEMU, and nothing of VFs, hosts or policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "xe-qmp-client.h"
#include "xe-qmp-commands.h"
#include "xe-qmp-error.h"
#include "xe-qmp-migration.h"
#include "xe-qmp-schema.h"
#include "xe-qmp-stream.h"
