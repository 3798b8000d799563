/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "device-report.h"
#include "text.h"

/* Identity values are short (DEVICE_ID_VALUE_MAX); names shown to people too. */
#define REMOVABLE_TEXT_MAX 256

RemovableDevice *removable_device_new(DeviceBus bus, DeviceCategory category, const char *syspath, const char *sysname) {
        _cleanup_(removable_device_freep) RemovableDevice *d = calloc(1, sizeof *d);

        assert(bus < _DEVICE_BUS_MAX);
        assert(category < _DEVICE_CATEGORY_MAX);
        if (!d)
                return NULL;
        d->bus = bus;
        d->category = category;
        d->syspath = syspath ? strdup(syspath) : NULL;
        /* a kernel name, but printed: sanitized like everything else */
        d->sysname = text_sanitize(strempty(sysname), strlen(strempty(sysname)), REMOVABLE_TEXT_MAX, NULL);
        if ((syspath && !d->syspath) || !d->sysname)
                return NULL;
        return TAKE_PTR(d);
}

RemovableDevice *removable_device_free(RemovableDevice *d) {
        if (!d)
                return NULL;
        free(d->syspath);
        free(d->sysname);
        for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                free(d->id[k]);
        free(d->vendor);
        free(d->model);
        free(d->driver);
        free(d);
        return NULL;
}

int removable_device_set_id(RemovableDevice *d, size_t k, const char *value) {
        char *v;

        assert(d);
        if (k >= device_bus_n_id_keys(d->bus))
                return -EINVAL;
        d->id[k] = mfree(d->id[k]);
        if (!device_bus_id_valid(d->bus, k, value))
                return -EINVAL;
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        device_bus_id_normalize(d->bus, k, v); /* compared with entries normalized the same way */
        d->id[k] = v;
        return 0;
}

int removable_device_set_text(char **field, const char *value) {
        char *v;

        assert(field);
        *field = mfree(*field);
        if (!value)
                return 0;
        v = text_sanitize(value, strlen(value), REMOVABLE_TEXT_MAX, NULL);
        if (!v)
                return -ENOMEM;
        *field = v;
        return 0;
}

void device_report_notice_device(const RemovableDevice *d, NoticeDevice *ret) {
        assert(d);
        assert(ret);

        *ret = (NoticeDevice){
                .category = d->category,
                .vendor = d->vendor,
                .model = d->model,
                .sysname = d->sysname,
                .block_failed = d->block_error < 0,
        };
        for (size_t k = 0; k < DEVICE_ID_MAX; k++)
                ret->id[k] = d->id[k];
}

void device_report_write_device(JsonWriter *w, const RemovableDevice *d) {
        const char *const *keys;

        assert(w);
        assert(d);

        keys = device_bus_id_keys(d->bus);
        json_key(w, "device");
        json_object_begin(w);
        json_kv_string(w, "bus", device_bus_to_string(d->bus));
        json_kv_string(w, "category", device_category_to_string(d->category));
        for (size_t k = 0; keys[k]; k++)
                json_kv_string(w, keys[k], d->id[k]); /* null: the device lacks it or sent a malformed value */
        if (d->vendor)
                json_kv_string(w, "manufacturer", d->vendor);
        if (d->model)
                json_kv_string(w, "product", d->model);
        json_kv_string(w, "bus_path", d->sysname);
        if (d->driver)
                json_kv_string(w, "driver", d->driver);
        json_object_end(w);
}

static void device_report_write_rule(JsonWriter *w, const AllowEntry *e) {
        json_key(w, "rule");
        json_object_begin(w);
        json_kv_string(w, "file", e->file);
        json_kv_uint(w, "line", e->line);
        if (e->label)
                json_kv_string(w, "label", e->label);
        if (e->approved_by)
                json_kv_string(w, "approved_by", e->approved_by);
        if (e->approved_on)
                json_kv_string(w, "approved_on", e->approved_on);
        if (e->expires)
                json_kv_string(w, "expires", e->expires);
        if (e->ticket)
                json_kv_string(w, "ticket", e->ticket);
        json_object_end(w);
}

const char *device_report_explanation(const RemovableDevice *d, const Decision *dec) {
        assert(d);
        assert(dec);

        switch (dec->reason) {
        case DECISION_ALLOWED:
                return dec->relevant ? "allowed by an allow entry" : "its category is not blocked";
        case DECISION_EXPIRED:
                return "its allow entry has expired";
        case DECISION_NO_POLICY:
                return "no valid configuration is loaded, so every category is blocked";
        case DECISION_INFECTED:
                return "malware was found on it by the scan of media from outside; blocked until mamorid restarts";
        default:
                for (size_t k = 0; k < device_bus_n_id_keys(d->bus); k++)
                        if (!d->id[k])
                                return "the device does not give its full identity, so no allow entry can match it";
                return "no allow entry for this device";
        }
}

int device_report_build(const Policy *p, const RemovableDevice *d, const Decision *dec, Event **ret) {
        _cleanup_(event_freep) Event *e = NULL;
        const char *const *keys;
        bool blocked, failed;
        JsonWriter *w;
        int r;

        assert(p);
        assert(d);
        assert(dec);
        assert(ret);

        blocked = dec->relevant && !dec->allow;
        failed = blocked && d->block_error < 0;
        e = event_new(failed ? EVENT_DEVICE_BLOCK_FAILED : blocked ? EVENT_DEVICE_BLOCKED : EVENT_DEVICE_ALLOWED);
        if (!e)
                return -ENOMEM;
        r = event_set_policy_ref(e, p->usb.policy_ref ? p->usb.policy_ref : POLICY_REF_USB_DEFAULT);
        if (r < 0)
                return r;
        keys = device_bus_id_keys(d->bus);
        /* the names only when the device has some (a card has none): no empty '" "' */
        r = event_set_message(e, "%s %s %s%s%s%s%s%s %s \"%s\" at %s: %s%s%s",
                              failed    ? "FAILED to block"
                              : blocked ? "Blocked"
                                        : "Allowed",
                              device_bus_to_string(d->bus), device_category_to_string(d->category),
                              d->vendor || d->model ? " \"" : "", strempty(d->vendor), d->vendor && d->model ? " " : "",
                              strempty(d->model), d->vendor || d->model ? "\"" : "", strna(keys[0]),
                              d->id[0] ? d->id[0] : "(none)", d->sysname, device_report_explanation(d, dec),
                              failed ? "; the kernel refused: " : "", failed ? strerror(-d->block_error) : "");
        if (r < 0)
                return r;

        w = event_body(e);
        device_report_write_device(w, d);
        json_key(w, "decision");
        json_object_begin(w);
        json_kv_string(w, "action", failed ? "block_failed" : blocked ? "blocked" : "allowed");
        json_kv_string(w, "reason", dec->relevant ? decision_reason_to_string(dec->reason) : "category_not_blocked");
        json_kv_string(w, "explanation", device_report_explanation(d, dec));
        if (failed)
                json_kv_string(w, "error", strerror(-d->block_error));
        if (dec->entry)
                device_report_write_rule(w, dec->entry);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        if (json_error(w) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}
