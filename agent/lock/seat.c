/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-login.h>

#include "macro.h"
#include "seat.h"
#include "text.h"

void seat_user_done(SeatUser *u) {
        assert(u);
        free(u->name);
        free(u->session);
        *u = (SeatUser){ 0 };
}

/* logind writes NAME= into /run/systemd/users/<uid>. */
static char *seat_user_name_from_logind(uid_t uid) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[512];

        snprintf(path, sizeof path, "/run/systemd/users/%u", (unsigned) uid);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof line, f)) {
                if (startswith(line, "NAME=")) {
                        size_t l = strcspn(line + 5, "\n");
                        return text_sanitize(line + 5, l, 256, NULL);
                }
        }
        return NULL;
}

int seat_active_user(SeatUser *ret) {
        assert(ret);
        _cleanup_free_ char *session = NULL;
        uid_t uid;
        int r;

        *ret = (SeatUser){ 0 };
        r = sd_seat_get_active("seat0", &session, &uid);
        if (r < 0)
                return r;
        ret->uid = uid;
        ret->known = 1;
        ret->session = text_sanitize(session, strlen(session), 64, NULL);
        ret->name = seat_user_name_from_logind(uid);
        return 0;
}
