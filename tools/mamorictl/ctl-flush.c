/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "ctl.h"

int verb_flush(const CtlOptions *o, int argc, char **argv) {
        _cleanup_(jputp) json_object *rep = NULL;
        int r;

        if (argc > 1) {
                fprintf(stderr, "mamorictl flush: unexpected argument '%s'\n", argv[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_call(o, "flush", &rep);
        if (r != 0)
                return r;
        if (o->json) {
                puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                return CTL_EXIT_OK;
        }
        if (jbool(rep, "uplink", false))
                printf("Flushing: %s\n", strna(jstr(rep, "detail")));
        else
                printf("Pending reports written; nothing to post: %s.\n", strna(jstr(rep, "detail")));
        return CTL_EXIT_OK;
}
