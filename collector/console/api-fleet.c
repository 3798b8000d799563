/* SPDX-License-Identifier: MIT */
/* STUB (issue 13 design step): the fleet slice replaces this file with
 * /overview, /hosts, /devices, /approvals and /reports. */

#include "console-api.h"

const ConsoleRoute console_routes_fleet[] = {
        { NULL },
};
