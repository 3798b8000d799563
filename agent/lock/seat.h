/* SPDX-License-Identifier: MIT */
#pragma once

/* The user in front of the machine: the active session of seat0, as logind
 * tells. Read from logind's state files (no NSS lookups, which can block). */

#include <sys/types.h>

typedef struct SeatUser {
        char *name;    /* sanitized, NULL if unknown */
        char *session; /* sanitized session id */
        uid_t uid;
        int known;     /* 0 when no active session */
} SeatUser;

int seat_active_user(SeatUser *ret);
void seat_user_done(SeatUser *u);
