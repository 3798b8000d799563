/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device-report.h"
#include "firewire.h"
#include "log.h"
#include "thunderbolt-shared.h"

#define FW_BUS "/sys/bus/firewire"
#define FW_SBP2_DRIVER "firewire_sbp2"
#define FW_SBP2_SPECIFIER 0x00609eUL /* ANSI NCITS */
#define FW_SBP2_VERSION 0x010483UL   /* SBP-2 */

struct FirewireEnforcer {
        sd_event *event;
        EventEmitter emitter;
        Policy *policy;
        TbfwMonitor monitor;
        TbfwTable seen;
};

FirewireEnforcer *firewire_enforcer_free(FirewireEnforcer *f) {
        if (!f)
                return NULL;
        tbfw_monitor_stop(&f->monitor);
        tbfw_table_done(&f->seen);
        policy_unref(f->policy);
        sd_event_unref(f->event);
        free(f);
        return NULL;
}

int firewire_enforcer_new(sd_event *event, EventEmitter emitter, FirewireEnforcer **ret) {
        FirewireEnforcer *f;

        assert(event);
        assert(ret);

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->event = sd_event_ref(event);
        f->emitter = emitter;
        *ret = f;
        return 0;
}

static bool firewire_blocking(const FirewireEnforcer *f) {
        return f->policy && (f->policy->devices.block_mask & DEVICE_CATEGORY_BIT(DEVICE_CATEGORY_FIREWIRE));
}

/* While FireWire storage is blocked nothing binds by itself: mamorid probes
 * each unit it lets in (drivers_probe), so a blocked disk never appears, not
 * even for the moment before an unbind. Checked again at every device: the
 * bus comes back with autoprobe on when firewire-core is loaded again. */
static void firewire_set_autoprobe(FirewireEnforcer *f) {
        bool want = !firewire_blocking(f);
        char buf[8];
        int r;

        if (tbfw_read_attr(FW_BUS, "drivers_autoprobe", buf, sizeof buf) < 0)
                return; /* no FireWire bus (firewire-core not loaded) */
        if ((buf[0] != '0') == want)
                return;
        r = tbfw_write_attr(FW_BUS, "drivers_autoprobe", want ? "1\n" : "0\n");
        if (r < 0)
                log_warning_errno(r, "Cannot turn FireWire's drivers_autoprobe %s: %m", want ? "on" : "off");
        else
                log_info("FireWire drivers_autoprobe is %s.", want ? "on" : "off (mamorid probes the units it lets in)");
}

/* A unit without a driver, let in: the bus looks for one. */
static const char *firewire_probe(const char *sysname) {
        int r = tbfw_write_name(FW_BUS "/drivers_probe", sysname);

        if (r < 0) {
                log_warning_errno(r, "FireWire %s: cannot probe a driver: %m", sysname);
                return "none";
        }
        return "probed";
}

void firewire_enforcer_set_policy(FirewireEnforcer *f, Policy *p) {
        Policy *old;

        assert(f);
        old = f->policy;
        f->policy = policy_ref(p);
        policy_unref(old);
        firewire_set_autoprobe(f);
}

/* "0x00609e" as the kernel prints it: exactly "0x" and 6 hex digits. */
static bool firewire_attr_is(sd_device *dev, const char *attr, unsigned long want) {
        const char *v;
        char *end;
        unsigned long n;

        if (sd_device_get_sysattr_value(dev, attr, &v) < 0)
                return false;
        if (strlen(v) != 8 || v[0] != '0' || v[1] != 'x' || strspn(v + 2, "0123456789abcdefABCDEF") != 6)
                return false;
        n = strtoul(v + 2, &end, 16);
        return *end == 0 && n == want;
}

static void firewire_report(FirewireEnforcer *f, TbfwSeen *s, const RemovableDevice *d, const Decision *dec,
                            const char *done) {
        TbfwAction action = !dec->allow ? (d->block_error < 0 ? TBFW_BLOCK_FAILED : TBFW_BLOCKED) : TBFW_ALLOWED;
        Event *e = NULL;
        JsonWriter *w;
        NoticeDevice nd;

        if (s->reported == action && s->reported_reason == (int) dec->reason)
                return;
        s->reported = action;
        s->reported_reason = (int) dec->reason;
        if (device_report_build(f->policy, d, dec, &e) < 0)
                return (void) log_oom();
        w = event_body(e);
        json_key(w, "firewire");
        json_object_begin(w);
        json_kv_string(w, "done", done);
        json_object_end(w);
        device_report_notice_device(d, &nd);
        (void) event_emit(&f->emitter, e,
                          &(EventContext){ .decision = dec, .removable = &nd, .now = now_usec(CLOCK_REALTIME) });
}

static void firewire_handle(sd_device *dev, sd_device_action_t action, void *userdata) {
        FirewireEnforcer *f = userdata;
        _cleanup_(removable_device_freep) RemovableDevice *d = NULL;
        _cleanup_(sd_device_unrefp) sd_device *live = NULL;
        const char *syspath, *sysname, *driver = NULL, *v;
        const char *done = "none";
        sd_device *node;
        bool sbp2_bound;
        TbfwSeen *s;
        Decision dec;
        int r;

        if (sd_device_get_syspath(dev, &syspath) < 0 || sd_device_get_sysname(dev, &sysname) < 0)
                return;
        if (action == SD_DEVICE_REMOVE) {
                tbfw_table_forget(&f->seen, syspath);
                return;
        }
        if (action != SD_DEVICE_ADD && action != SD_DEVICE_CHANGE && action != SD_DEVICE_MOVE &&
            action != SD_DEVICE_BIND && action != SD_DEVICE_UNBIND)
                return;
        if (action == SD_DEVICE_ADD)
                firewire_set_autoprobe(f);
        /* Units ("fw1.0") only: a node ("fw1") holds no driver of its own. */
        if (!strchr(sysname, '.'))
                return;
        /* The driver bound now (its link), not the one a queued uevent names:
         * a "bind" read after our unbind must not unbind twice. */
        if (sd_device_new_from_syspath(&live, syspath) >= 0)
                (void) sd_device_get_driver(live, &driver);
        sbp2_bound = streq_ptr(driver, FW_SBP2_DRIVER);
        /* Storage by what the unit says, or by the driver that took it. */
        if (!sbp2_bound && !(firewire_attr_is(dev, "specifier_id", FW_SBP2_SPECIFIER) &&
                             firewire_attr_is(dev, "version", FW_SBP2_VERSION))) {
                /* Not storage (audio, IP over 1394): let in as the kernel would. */
                if (!driver && action == SD_DEVICE_ADD)
                        (void) firewire_probe(sysname);
                return;
        }

        d = removable_device_new(DEVICE_BUS_FIREWIRE, DEVICE_CATEGORY_FIREWIRE, syspath, sysname);
        if (!d)
                return (void) log_oom();
        /* The GUID is the node's (the unit's parent), as the kernel prints it. */
        if (sd_device_get_parent(dev, &node) >= 0) {
                if (sd_device_get_sysattr_value(node, "guid", &v) >= 0 && removable_device_set_id(d, 0, v) == -EINVAL)
                        log_warning("FireWire %s: malformed guid, no allow entry can match it.", d->sysname);
                if (sd_device_get_sysattr_value(node, "vendor_name", &v) >= 0)
                        (void) removable_device_set_text(&d->vendor, v);
        }
        if (sd_device_get_sysattr_value(dev, "model_name", &v) >= 0)
                (void) removable_device_set_text(&d->model, v);
        if (driver)
                (void) removable_device_set_text(&d->driver, driver);

        dec = policy_decide_device(f->policy, DEVICE_CATEGORY_FIREWIRE, (const char *const *) d->id,
                                   now_usec(CLOCK_REALTIME));
        tbfw_monitor_due(&f->monitor, dec.changes_at);
        s = tbfw_table_get(&f->seen, syspath);
        if (!s)
                return (void) log_oom();
        if (!dec.relevant) {
                /* not blocked: bound as it would be, listed all the same */
                if (!driver && action == SD_DEVICE_ADD)
                        (void) firewire_probe(sysname);
                removable_device_free(s->device);
                s->device = TAKE_PTR(d);
                s->reported = TBFW_NONE;
                s->reported_reason = -1;
                return;
        }

        if (dec.allow) {
                if (!driver)
                        /* Unbound (autoprobe off, or unbound by us now or in an
                         * earlier run): the bus looks for its driver. */
                        done = firewire_probe(sysname);
                s->undone = false;
        } else if (sbp2_bound) {
                r = tbfw_write_name(FW_BUS "/drivers/" FW_SBP2_DRIVER "/unbind", sysname);
                if (r == -ENODEV)
                        r = 0; /* unbound meanwhile: what we wanted */
                if (r < 0) {
                        d->block_error = r;
                        done = "unbind_refused";
                } else {
                        s->undone = true;
                        done = "unbound";
                        d->driver = mfree(d->driver);
                }
        }
        firewire_report(f, s, d, &dec, done);
        removable_device_free(s->device);
        s->device = TAKE_PTR(d);
}

int firewire_enforcer_start(FirewireEnforcer *f) {
        assert(f);
        assert(f->policy);

        return tbfw_monitor_start(&f->monitor, f->event, "firewire", firewire_handle, f);
}

void firewire_enforcer_write_devices(FirewireEnforcer *f, JsonWriter *w) {
        if (f)
                tbfw_table_write(&f->seen, f->policy, w);
}

int firewire_enforcer_scan(FirewireEnforcer *f) {
        assert(f);

        return tbfw_scan("firewire", firewire_handle, f);
}

void firewire_posture(PostureFirewire *ret) {
        assert(ret);

        /* Loaded as a module or built in: either way it has its /sys/module directory. */
        *ret = (PostureFirewire){ .ohci_loaded = access("/sys/module/firewire_ohci", F_OK) >= 0 };
}
