/* SPDX-License-Identifier: MIT */
/* STUB (issue 13 design step): the events slice replaces this file with
 * /events, /findings and their triage. */

#include "console-api.h"

const ConsoleRoute console_routes_events[] = {
        { NULL },
};
