/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "string-table.h"
#include "usb-report.h"

const char *usb_report_interface_action(const Decision *dec, const UsbInterface *i) {
        assert(dec);
        assert(i);

        if (decision_blocks_interface(dec, i))
                return i->block_error < 0 ? "block_failed" : "blocked";
        if (dec->relevant && (dec->blocked_categories & USB_CATEGORY_BIT(i->category)))
                return "allowed";
        /* Not of a blocked category: mamorid let it in (it started
         * unauthorized), or never wrote to it. */
        if (i->done == USB_INTERFACE_AUTHORIZED)
                return "authorized";
        if (i->done == USB_INTERFACE_BLOCKED)
                return "blocked";
        return "untouched";
}

static const char *const usb_report_category_source_table[] = {
        [USB_CATEGORY_FROM_CLASS] = "class",         [USB_CATEGORY_FROM_MODALIAS] = "modalias",
        [USB_CATEGORY_FROM_DRIVER] = "driver",       [USB_CATEGORY_FROM_UDEV] = "udev",
        [USB_CATEGORY_FROM_ALTERNATE] = "alternate",
};

DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING_FALLBACK(usb_report_category_source, UsbCategorySource, "class");

const char *usb_category_source_phrase(UsbCategorySource s) {
        switch (s) {
        case USB_CATEGORY_FROM_DRIVER:
                return "its bound driver";
        case USB_CATEGORY_FROM_MODALIAS:
                return "the driver that would bind,";
        case USB_CATEGORY_FROM_UDEV:
                return "the udev property";
        case USB_CATEGORY_FROM_ALTERNATE:
                return "its alternate setting";
        default:
                return "its class";
        }
}

static void usb_report_write_hex_byte(JsonWriter *w, const char *key, uint8_t v) {
        char b[3];
        snprintf(b, sizeof b, "%02x", v);
        json_kv_string(w, key, b);
}

void usb_report_write_categories(JsonWriter *w, const char *key, unsigned mask) {
        assert(w);
        assert(key);

        json_key(w, key);
        json_array_begin(w);
        for (unsigned c = USB_CATEGORY_STORAGE; c < _USB_CATEGORY_MAX; c++)
                if (mask & USB_CATEGORY_BIT(c))
                        json_string(w, usb_category_to_string((UsbCategory) c));
        json_array_end(w);
}

void usb_report_write_device(JsonWriter *w, const UsbDevice *d, const Decision *dec) {
        char id[5];

        assert(w);
        assert(d);
        assert(dec);

        json_key(w, "device");
        json_object_begin(w);
        /* the one device shape of every bus (device.* events): "bus" first */
        json_kv_string(w, "bus", "usb");
        snprintf(id, sizeof id, "%04x", d->vendor);
        json_kv_string(w, "vendor_id", id);
        snprintf(id, sizeof id, "%04x", d->product);
        json_kv_string(w, "product_id", id);
        json_kv_bool(w, "has_serial", d->has_serial);
        if (d->has_serial)
                json_kv_string(w, "serial", d->serial);
        if (d->serial_hex)
                json_kv_string(w, "serial_hex", d->serial_hex);
        if (d->manufacturer)
                json_kv_string(w, "manufacturer", d->manufacturer);
        if (d->product_name)
                json_kv_string(w, "product", d->product_name);
        if (d->strings_truncated)
                json_kv_bool(w, "strings_truncated", true);
        json_kv_string(w, "bus_path", d->sysname);
        if (d->busnum)
                json_kv_uint(w, "busnum", d->busnum);
        if (d->devnum)
                json_kv_uint(w, "devnum", d->devnum);
        json_kv_string(w, "category", usb_category_to_string(usb_category_primary(d->categories)));
        usb_report_write_categories(w, "categories", d->categories);
        json_key(w, "interfaces");
        json_array_begin(w);
        for (size_t k = 0; k < d->n_interfaces; k++) {
                const UsbInterface *i = &d->interfaces[k];
                json_object_begin(w);
                json_kv_string(w, "id", i->sysname);
                json_kv_uint(w, "number", i->number);
                usb_report_write_hex_byte(w, "class", i->cls);
                usb_report_write_hex_byte(w, "subclass", i->subclass);
                usb_report_write_hex_byte(w, "protocol", i->protocol);
                if (i->name)
                        json_kv_string(w, "name", i->name);
                json_kv_string(w, "category", usb_category_to_string(i->category));
                if (i->category_source != USB_CATEGORY_FROM_CLASS) {
                        json_kv_string(w, "category_from", usb_report_category_source_to_string(i->category_source));
                        if (i->category_by)
                                json_kv_string(w, "category_by", i->category_by);
                }
                if (i->driver)
                        json_kv_string(w, "driver", i->driver);
                json_kv_string(w, "action", usb_report_interface_action(dec, i));
                if (i->block_error < 0 && decision_blocks_interface(dec, i))
                        json_kv_string(w, "error", strerror(-i->block_error));
                if (i->authorized >= 0)
                        json_kv_bool(w, "authorized", i->authorized);
                json_object_end(w);
        }
        json_array_end(w);
        if (d->interfaces_from_descriptors)
                json_kv_string(w, "interfaces_source", "descriptors");
        json_object_end(w);
}

void usb_report_write_rule(JsonWriter *w, const AllowEntry *e) {
        assert(w);
        assert(e);

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
        json_kv_bool(w, "any_serial", e->any_serial);
        json_object_end(w);
}

const char *usb_report_explanation(const UsbDevice *d, const Decision *dec) {
        assert(d);
        assert(dec);

        switch (dec->reason) {
        case DECISION_ALLOWED:
                return dec->relevant ? "allowed by an allow entry" : "its categories are not blocked";
        case DECISION_UNKNOWN:
                return d->has_serial
                               ? "no allow entry for this device"
                               : "no allow entry for this model; the device has no serial, so only an any_serial entry could allow it";
        case DECISION_EXPIRED:
                return "its allow entry has expired";
        case DECISION_SERIAL_MISMATCH:
                return "allow entries exist for this model, but not for this serial";
        case DECISION_NO_SERIAL:
                return "the device has no serial; only an any_serial entry can allow it";
        case DECISION_NO_POLICY:
                return "no valid configuration is loaded, so every category is blocked";
        case DECISION_READONLY_VIOLATED:
                return "approved read-only, it was found writable; blocked until it is plugged in again";
        case DECISION_READONLY_UNAVAILABLE:
                return "approved read-only, but its read-only decision could not be written for udev";
        case DECISION_INFECTED:
                return "malware was found on it by the scan of media from outside; blocked until mamorid restarts";
        default:
                return "unknown";
        }
}

/* Does the decision block an interface that the kernel did not let mamorid block? */
static bool usb_report_block_failed(const UsbDevice *d, const Decision *dec) {
        for (size_t k = 0; k < d->n_interfaces; k++)
                if (d->interfaces[k].block_error < 0 && decision_blocks_interface(dec, &d->interfaces[k]))
                        return true;
        return false;
}

/* ", 2-1:1.0 (class 07) is storage by its driver usb-storage" for each blocked
 * interface that its class alone would not have made so. */
static char *usb_report_driver_note(const UsbDevice *d, const Decision *dec) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        if (!f)
                return NULL;
        for (size_t k = 0; k < d->n_interfaces; k++) {
                const UsbInterface *i = &d->interfaces[k];
                if (i->category_source == USB_CATEGORY_FROM_CLASS || !decision_blocks_interface(dec, i))
                        continue;
                fprintf(f, "; %s (class %02x) is %s by %s %s", i->sysname, i->cls, usb_category_to_string(i->category),
                        usb_category_source_phrase(i->category_source), strna(i->category_by));
        }
        for (size_t k = 0; k < d->n_interfaces; k++) {
                const UsbInterface *i = &d->interfaces[k];
                if (i->block_error < 0 && decision_blocks_interface(dec, i))
                        fprintf(f, "; the kernel refused to block %s (%s): it stays usable", i->sysname,
                                strerror(-i->block_error));
        }
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int usb_report_build(const Policy *p, const UsbDevice *d, const Decision *dec, Event **ret) {
        _cleanup_(event_freep) Event *e = NULL;
        _cleanup_free_ char *note = NULL;
        bool blocked, failed;
        unsigned shown;
        JsonWriter *w;
        char id[10];
        int r;

        assert(p);
        assert(d);
        assert(dec);
        assert(ret);

        blocked = dec->relevant && !dec->allow;
        failed = blocked && usb_report_block_failed(d, dec);
        shown = dec->relevant ? dec->blocked_categories : d->categories;

        e = event_new(failed ? EVENT_USB_BLOCK_FAILED : blocked ? EVENT_USB_BLOCKED : EVENT_USB_ALLOWED);
        if (!e)
                return -ENOMEM;
        r = event_set_policy_ref(e, p->usb.policy_ref ? p->usb.policy_ref : POLICY_REF_USB_DEFAULT);
        if (r < 0)
                return r;
        note = usb_report_driver_note(d, dec);
        if (!note)
                return -ENOMEM;
        r = event_set_message(e, "%s USB %s %s \"%s %s\" serial \"%s\" at %s: %s%s",
                              failed    ? "FAILED to block"
                              : blocked ? "Blocked"
                                        : "Allowed",
                              usb_category_to_string(usb_category_primary(shown)), usb_device_id(d, id),
                              strempty(d->manufacturer), strempty(d->product_name),
                              d->has_serial ? d->serial : "(none)", d->sysname, usb_report_explanation(d, dec), note);
        if (r < 0)
                return r;

        w = event_body(e);
        usb_report_write_device(w, d, dec);
        json_key(w, "decision");
        json_object_begin(w);
        json_kv_string(w, "action", failed ? "block_failed" : blocked ? "blocked" : "allowed");
        json_kv_string(w, "reason", dec->relevant ? decision_reason_to_string(dec->reason) : "category_not_blocked");
        json_kv_string(w, "explanation", usb_report_explanation(d, dec));
        usb_report_write_categories(w, "blocked_categories", blocked ? dec->blocked_categories : 0);
        if (dec->relevant && dec->allow && !failed)
                json_kv_string(w, "access", allow_access_to_string(dec->access));
        if (dec->entry)
                usb_report_write_rule(w, dec->entry);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        if (json_error(w) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

int usb_report_build_readonly_violated(const Policy *p, const UsbDevice *d, const Decision *dec, const char *what,
                                       const char *where, Event **ret) {
        _cleanup_(event_freep) Event *e = NULL;
        bool mounted = streq(what, "mounted_read_write");
        JsonWriter *w;
        char id[10];
        int r;

        assert(p);
        assert(d);
        assert(dec);
        assert(what);
        assert(where);
        assert(ret);

        e = event_new(EVENT_USB_READONLY_VIOLATED);
        if (!e)
                return -ENOMEM;
        r = event_set_policy_ref(e, p->usb.policy_ref ? p->usb.policy_ref : POLICY_REF_USB_DEFAULT);
        if (r < 0)
                return r;
        r = event_set_message(e, "USB %s \"%s %s\" serial \"%s\" at %s is approved read-only, but %s %s: blocked",
                              usb_device_id(d, id), strempty(d->manufacturer), strempty(d->product_name),
                              d->has_serial ? d->serial : "(none)", d->sysname,
                              mounted ? "a file system of it is mounted read-write at" : "its block device is writable:",
                              where);
        if (r < 0)
                return r;
        w = event_body(e);
        usb_report_write_device(w, d, dec);
        json_key(w, "decision");
        json_object_begin(w);
        json_kv_string(w, "action", "blocked");
        json_kv_string(w, "reason", "readonly_violated");
        json_kv_string(w, "access", allow_access_to_string(dec->access));
        usb_report_write_categories(w, "blocked_categories", dec->blocked_categories);
        if (dec->entry)
                usb_report_write_rule(w, dec->entry);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        json_key(w, "violation");
        json_object_begin(w);
        json_kv_string(w, "what", what);
        json_kv_string(w, mounted ? "mount_point" : "block_device", where);
        json_object_end(w);
        if (json_error(w) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

int usb_report_build_expiring(const Policy *p, const UsbDevice *d, const Decision *dec, usec_t now, Event **ret) {
        _cleanup_(event_freep) Event *e = NULL;
        usec_t left;
        char at[RFC3339_MAX], id[10];
        JsonWriter *w;
        int r;

        assert(p);
        assert(d);
        assert(dec);
        assert(ret);

        left = dec->changes_at > now ? dec->changes_at - now : 0;

        e = event_new(EVENT_USB_EXPIRING);
        if (!e)
                return -ENOMEM;
        r = event_set_policy_ref(e, p->usb.policy_ref ? p->usb.policy_ref : POLICY_REF_USB_DEFAULT);
        if (r < 0)
                return r;
        format_rfc3339(at, dec->changes_at);
        r = event_set_message(e,
                              "Approval of USB %s %s \"%s %s\" serial \"%s\" at %s ends at %s (in %llu s): "
                              "it will be blocked then",
                              usb_category_to_string(usb_category_primary(dec->blocked_categories)), usb_device_id(d, id),
                              strempty(d->manufacturer), strempty(d->product_name), d->has_serial ? d->serial : "(none)",
                              d->sysname, at, (unsigned long long) (left / USEC_PER_SEC));
        if (r < 0)
                return r;
        w = event_body(e);
        usb_report_write_device(w, d, dec);
        json_key(w, "decision");
        json_object_begin(w);
        json_kv_string(w, "action", "allowed");
        json_kv_string(w, "reason", decision_reason_to_string(dec->reason));
        usb_report_write_categories(w, "blocked_categories", 0);
        json_kv_string(w, "access", allow_access_to_string(dec->access));
        if (dec->entry)
                usb_report_write_rule(w, dec->entry);
        json_kv_bool(w, "fail_closed", p->failsafe);
        json_object_end(w);
        json_kv_string(w, "expires_at", at);
        json_kv_uint(w, "expires_in_sec", left / USEC_PER_SEC);
        if (json_error(w) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

char *usb_report_key(const UsbDevice *d, const Decision *dec) {
        _cleanup_free_ char *ifs = NULL;
        size_t len = 0, size = 1;
        char *k;

        assert(d);
        assert(dec);

        /* The interfaces the decision covers are part of it: one that shows up
         * after the report gets an event that names it. */
        for (size_t i = 0; i < d->n_interfaces; i++)
                if (dec->blocked_categories & USB_CATEGORY_BIT(d->interfaces[i].category))
                        size += strlen(d->interfaces[i].sysname) + 1;
        ifs = malloc(size);
        if (!ifs)
                return NULL;
        for (size_t i = 0; i < d->n_interfaces; i++)
                if (dec->blocked_categories & USB_CATEGORY_BIT(d->interfaces[i].category)) {
                        size_t l = strlen(d->interfaces[i].sysname);
                        memcpy(ifs + len, d->interfaces[i].sysname, l);
                        len += l;
                        ifs[len++] = ',';
                }
        ifs[len] = 0;
        /* A block that failed, then held (a later uevent's write): a new event. */
        if (asprintf(&k, "%d|%d|%x|%s|%s:%u|%s|%s", dec->relevant, dec->allow, dec->blocked_categories,
                     decision_reason_to_string(dec->reason), dec->entry ? dec->entry->file : "-",
                     dec->entry ? dec->entry->line : 0, ifs, usb_report_block_failed(d, dec) ? "failed" : "") < 0)
                return NULL;
        return k;
}

char *usb_report_identity(const UsbDevice *d, const Decision *dec) {
        char *k;

        assert(d);
        assert(dec);

        /* serial_hex: a serial's exact bytes when it is not plain text */
        if (asprintf(&k, "%04x:%04x:%d:%s:%s|%d|%d|%x|%s", d->vendor, d->product, d->has_serial,
                     d->has_serial ? strempty(d->serial) : "", strempty(d->serial_hex), dec->relevant, dec->allow,
                     dec->blocked_categories, decision_reason_to_string(dec->reason)) < 0)
                return NULL;
        return k;
}
