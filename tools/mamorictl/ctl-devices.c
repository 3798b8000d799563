/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "device-bus.h"

static int by_bus_path(const void *a, const void *b) {
        json_object *x = jget(*(json_object *const *) a, "device"), *y = jget(*(json_object *const *) b, "device");
        return strverscmp(strempty(jstr(x, "bus_path")), strempty(jstr(y, "bus_path")));
}

/* "10-somu.conf:3 総務課 貸出用" for the entry that allows (or allowed, when
 * it expired), the reason in words otherwise. */
static char *rule_text(json_object *dev, json_object *dec) {
        json_object *rule = jget(dec, "rule");
        const char *reason = jstr(dec, "reason");
        bool expired = streq_ptr(reason, "expired");
        char *s = NULL;

        if (rule && (streq_ptr(reason, "allowed") || expired)) {
                const char *file = strempty(jstr(rule, "file")), *slash = strrchr(file, '/'),
                           *label = jstr(rule, "label");
                if (asprintf(&s, "%s%s:%lld%s%s", expired ? "expired: " : "", slash ? slash + 1 : file,
                             jint(rule, "line", 0), label ? " " : "", strempty(label)) < 0)
                        return NULL;
                return s;
        }
        if (streq_ptr(reason, "category_not_blocked"))
                return strdup(jbool(dev, "root_hub", false) ? "root hub" : "not a blocked category");
        return strdup(strempty(jstr(dec, "explanation")));
}

int verb_devices(const CtlOptions *o_, int argc, char **argv) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "no-legend", no_argument, NULL, 'L' },
                { "wide", no_argument, NULL, 'w' },
                {},
        };
        static const char *const headers[] = { "BUS", "ID", "SERIAL", "CATEGORY", "DECISION", "RULE / REASON", "PRODUCT" };
        /* Caps on a terminal, so that a row fits; none with --wide or into a pipe. */
        static const size_t caps[][2] = { { 2, 24 }, { 5, 48 }, { 6, 40 } };
        CtlOptions o = *o_;
        bool legend = true, wide = false, cut = false;
        _cleanup_(jputp) json_object *rep = NULL;
        _cleanup_(ctl_table_freep) CtlTable *t = NULL;
        _cleanup_free_ json_object **devs = NULL;
        json_object *arr;
        size_t n;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "w", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        o.json = true;
                        break;
                case 'L':
                        legend = false;
                        break;
                case 'w':
                        wide = true;
                        break;
                default:
                        return CTL_EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "mamorictl devices: unexpected argument '%s'\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }

        r = ctl_call(&o, "devices", &rep);
        if (r != 0)
                return r;
        arr = jget(rep, "devices");
        n = arr && json_object_get_type(arr) == json_type_array ? json_object_array_length(arr) : 0;
        devs = calloc(n ? n : 1, sizeof *devs);
        if (!devs)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; i < n; i++)
                devs[i] = json_object_array_get_idx(arr, i);
        qsort(devs, n, sizeof *devs, by_bus_path);

        if (o.json) {
                /* The daemon's own objects, in bus order. */
                json_object *out = json_object_new_array_ext((int) n);
                for (size_t i = 0; out && i < n; i++)
                        json_object_array_add(out, json_object_get(devs[i]));
                puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(out);
                return CTL_EXIT_OK;
        }

        t = ctl_table_new(ELEMENTSOF(headers), headers);
        if (!t)
                return CTL_EXIT_FAILURE;
        wide = wide || !isatty(STDOUT_FILENO);
        for (size_t k = 0; !wide && k < ELEMENTSOF(caps); k++)
                ctl_table_set_max_width(t, caps[k][0], caps[k][1]);
        for (size_t i = 0; i < n; i++) {
                json_object *dev = devs[i], *d = jget(dev, "device"), *dec = jget(dev, "decision");
                _cleanup_free_ char *id = NULL, *rule = rule_text(dev, dec), *product = NULL;
                const char *action = jstr(dec, "action"), *cat = jstr(d, "category");

                if (asprintf(&id, "%s:%s", strna(jstr(d, "vendor_id")), strna(jstr(d, "product_id"))) < 0 ||
                    asprintf(&product, "%s%s%s", strempty(jstr(d, "manufacturer")),
                             jstr(d, "manufacturer") && jstr(d, "product") ? " " : "", strempty(jstr(d, "product"))) < 0)
                        return CTL_EXIT_FAILURE;
                if (jbool(dev, "root_hub", false))
                        cat = "hub";
                /* Another bus (device.bus, common/device-bus.h): its identity values, ':'-joined. */
                int bus = device_bus_from_string(jstr(d, "bus"));
                if (bus > DEVICE_BUS_USB) {
                        const char *const *keys = device_bus_id_keys((DeviceBus) bus);
                        char joined[DEVICE_ID_MAX * (DEVICE_ID_VALUE_MAX + 1) + 1] = "";
                        size_t len = 0;
                        for (size_t k = 0; keys[k] && len < sizeof joined; k++) {
                                int w = snprintf(joined + len, sizeof joined - len, "%s%s", k ? ":" : "",
                                                 jstr(d, keys[k]) ?: "?");
                                len += w > 0 ? (size_t) w : 0;
                        }
                        free(id);
                        id = strdup(joined); /* a longer identity is cut at the buffer */
                        if (!id)
                                return CTL_EXIT_FAILURE;
                }
                const char *cells[] = {
                        jstr(d, "bus_path"),
                        id,
                        bus > DEVICE_BUS_USB            ? "-"
                        : jbool(d, "has_serial", false) ? jstr(d, "serial")
                                                        : "(none)",
                        cat,
                        streq_ptr(action, "none") ? "-" : action,
                        rule,
                        product,
                };
                for (size_t k = 0; !wide && k < ELEMENTSOF(caps); k++)
                        cut = cut || (cells[caps[k][0]] && ctl_text_width(cells[caps[k][0]]) > caps[k][1]);
                if (ctl_table_add_row(t, cells) < 0)
                        return CTL_EXIT_FAILURE;
        }
        ctl_table_print(t, legend);
        if (legend)
                printf("\n%zu device%s.%s\n", n, n == 1 ? "" : "s",
                       cut ? " Some text is cut (…): mamorictl devices --wide shows it whole." : "");
        return CTL_EXIT_OK;
}
