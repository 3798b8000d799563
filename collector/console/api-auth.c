/* SPDX-License-Identifier: MIT */
/* STUB (issue 13 design step): the auth slice replaces this file with
 * /login /logout /me /audit /users and the audit log. */

#include <errno.h>

#include "console-api.h"

const ConsoleRoute console_routes_auth[] = {
        { NULL },
};

int console_audit(const ConsoleRequest *rq, const char *action, const char *target, const char *detail_json) {
        (void) rq;
        (void) action;
        (void) target;
        (void) detail_json;
        return -EOPNOTSUPP;
}
