/* SPDX-License-Identifier: MIT */
/* The last-good snapshot in the state directory (config-snapshot.c): parsed,
 * and when it parses, its files loaded as a policy; what loads formats back
 * to a snapshot that parses to the same files. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ConfigSnapshot s = { 0 }, again = { 0 };
        Policy *p = NULL;
        ConfigErrors errs = { 0 };
        char *out = NULL;
        size_t out_len = 0;
        int r;

        if (size > 1u << 20)
                return 0;
        r = config_snapshot_parse((const char *) data, size, &s);
        if (r < 0) {
                if (r != -EINVAL && r != -ENOMEM)
                        abort();
                return 0;
        }
        if (config_load_texts(s.paths, s.texts, s.lens, s.n, &p, &errs) == 0) {
                p->allow_dir = strdup(s.allow_dir);
                if (p->allow_dir && config_snapshot_format(p, s.saved, &out, &out_len) == 0) {
                        if (config_snapshot_parse(out, out_len, &again) != 0 || again.n != s.n ||
                            strcmp(again.hash, p->hash) != 0)
                                abort();
                        for (size_t i = 0; i < s.n; i++)
                                if (again.lens[i] != s.lens[i] || memcmp(again.texts[i], s.texts[i], s.lens[i]) != 0 ||
                                    strcmp(again.paths[i], s.paths[i]) != 0)
                                        abort();
                }
        }
        free(out);
        config_snapshot_done(&again);
        policy_unref(p);
        config_errors_done(&errs);
        config_snapshot_done(&s);
        return 0;
}
