/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "ctl.h"

/* "file:line: message" for each error of a refused configuration. */
void ctl_print_refused(FILE *f, json_object *refused, const char *indent) {
        json_object *errs = jget(refused, "errors");
        size_t n = errs && json_object_get_type(errs) == json_type_array ? json_object_array_length(errs) : 0;

        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(errs, i);
                _cleanup_free_ char *file = ctl_safe_text(strna(jstr(e, "file")));
                _cleanup_free_ char *msg = ctl_safe_text(strna(jstr(e, "message")));
                if (jint(e, "line", 0) > 0)
                        fprintf(f, "%s%s:%lld: %s\n", indent, strna(file), jint(e, "line", 0), strna(msg));
                else
                        fprintf(f, "%s%s: %s\n", indent, strna(file), strna(msg));
        }
}

/* Reloads and waits for mamorid's verdict: ExecReload= of mamori.service, so
 * that `systemctl reload mamori` fails when the files on disk are refused. */
int verb_reload(const CtlOptions *o, int argc, char **argv) {
        _cleanup_(jputp) json_object *rep = NULL;
        json_object *refused;
        int r;

        if (argc > 1) {
                fprintf(stderr, "mamorictl reload: unexpected argument '%s'\n", argv[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_call(o, "reload", &rep);
        if (r != 0)
                return r;
        refused = jget(rep, "refused");
        if (o->json)
                puts(json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (jbool(rep, "reloaded", false))
                printf("Reloaded: policy %.12s is in force.\n", strna(jstr(rep, "policy")));
        else {
                fprintf(stderr, "Reload refused: the configuration on disk has errors; policy %.12s stays in force%s.\n",
                        strna(jstr(rep, "policy")),
                        jbool(rep, "fail_closed", false) ? " (fail-closed: every category is blocked)" : "");
                ctl_print_refused(stderr, refused, "  ");
                fputs("Fix the files (mamorictl check-config), then run: systemctl reload mamori\n", stderr);
        }
        return jbool(rep, "reloaded", false) ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}
