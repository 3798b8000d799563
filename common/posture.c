/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "posture.h"
#include "sha256.h"
#include "string-table.h"
#include "text.h"
#include "usb-classify.h"

static const char *const posture_verdict_table[_POSTURE_VERDICT_MAX] = {
        [POSTURE_OK] = "ok",
        [POSTURE_CHECK] = "check",
        [POSTURE_NG] = "ng",
};
DEFINE_STRING_TABLE_LOOKUP(posture_verdict, PostureVerdict);

static const char *const posture_delivery_state_table[_POSTURE_DELIVERY_MAX] = {
        [POSTURE_DELIVERY_NOT_CONFIGURED] = "not_configured",
        [POSTURE_DELIVERY_NOT_RUNNING] = "not_running",
        [POSTURE_DELIVERY_OK] = "ok",
        [POSTURE_DELIVERY_FAILING] = "failing",
        [POSTURE_DELIVERY_STARTING] = "starting",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(posture_delivery_state, PostureDeliveryState);

#define POSTURE_REF_DELIVERY "対策基準 第3-8, 第5-8"

bool posture_add_expiring(Posture *p, const PostureExpiring *e, usec_t now) {
        assert(p);
        assert(e);

        if (e->expires_at == USEC_INFINITY || e->expires_at <= now || e->expires_at - now > POSTURE_EXPIRING_WINDOW)
                return false;
        if (p->n_expiring >= POSTURE_EXPIRING_MAX) {
                p->expiring_not_shown++;
                return false;
        }
        p->expiring[p->n_expiring++] = *e;
        return true;
}

/* ---- the sheet ---- */

static PostureCheck *posture_line(PostureCheck *c, size_t *n, const char *id, const char *clause, PostureVerdict v,
                                  const char *format, ...) _printf_(6, 7);
static PostureCheck *posture_line(PostureCheck *c, size_t *n, const char *id, const char *clause, PostureVerdict v,
                                  const char *format, ...) {
        PostureCheck *l;
        va_list ap;

        assert(*n < POSTURE_CHECKS_MAX);
        l = &c[(*n)++];
        *l = (PostureCheck){ .id = id, .clause = clause, .verdict = v };
        va_start(ap, format);
        (void) vsnprintf(l->value, sizeof l->value, format, ap);
        va_end(ap);
        return l;
}

static void posture_append(char *buf, size_t size, const char *format, ...) _printf_(3, 4);
static void posture_append(char *buf, size_t size, const char *format, ...) {
        size_t used = strnlen(buf, size);
        va_list ap;

        if (used + 1 >= size)
                return;
        va_start(ap, format);
        (void) vsnprintf(buf + used, size - used, format, ap);
        va_end(ap);
}

static void posture_checks_usb(const PostureUsb *u, PostureCheck *c, size_t *n) {
        const char *ref = u->policy_ref ?: "対策基準 第3-6";
        const unsigned all = USB_CATEGORY_BIT(USB_CATEGORY_STORAGE) | USB_CATEGORY_BIT(USB_CATEGORY_MTP) |
                             USB_CATEGORY_BIT(USB_CATEGORY_PTP) | USB_CATEGORY_BIT(USB_CATEGORY_TETHERING);
        char cats[128] = "";
        size_t open = 0, unknown = 0;
        PostureCheck *l;

        for (unsigned k = USB_CATEGORY_STORAGE; k < _USB_CATEGORY_MAX; k++)
                if (u->block_mask & USB_CATEGORY_BIT(k))
                        posture_append(cats, sizeof cats, "%s%s", cats[0] ? ", " : "",
                                       usb_category_to_string((UsbCategory) k));
        /* Storage is what the clause is about; the others are how data leaves too. */
        (void) posture_line(c, n, "usb.blocked_categories", ref,
                            !(u->block_mask & USB_CATEGORY_BIT(USB_CATEGORY_STORAGE)) ? POSTURE_NG
                            : (u->block_mask & all) != all                            ? POSTURE_CHECK
                                                                                      : POSTURE_OK,
                            "%s", cats[0] ? cats : "none");
        /* Fail-closed blocks everything, but no valid configuration is in force. */
        (void) posture_line(c, n, "usb.fail_closed", ref, u->fail_closed ? POSTURE_CHECK : POSTURE_OK, "%s",
                            u->fail_closed ? "yes" : "no");
        (void) posture_line(c, n, "usb.monitor", ref, u->monitoring ? POSTURE_OK : POSTURE_NG, "%s",
                            u->monitoring ? "yes" : "no");

        l = posture_line(c, n, "usb.root_hubs", ref, POSTURE_OK, "%s", "");
        for (size_t i = 0; i < u->n_root_hubs; i++) {
                const PostureRootHub *h = &u->root_hubs[i];
                if (h->interface_authorized_default < 0)
                        unknown++;
                else if (h->interface_authorized_default != 0)
                        open++;
                posture_append(l->value, sizeof l->value, "%s%s=%s", i ? " " : "", h->name,
                               h->interface_authorized_default < 0 ? "?"
                               : h->interface_authorized_default   ? "1"
                                                                   : "0");
        }
        if (u->root_hubs_not_shown > 0)
                posture_append(l->value, sizeof l->value, " (+%zu)", u->root_hubs_not_shown);
        if (u->n_root_hubs == 0)
                posture_append(l->value, sizeof l->value, "none");
        l->verdict = open > 0 ? POSTURE_NG : unknown > 0 || u->n_root_hubs == 0 ? POSTURE_CHECK : POSTURE_OK;

        (void) posture_line(c, n, "usb.udev_rule", ref, u->udev_rule ? POSTURE_OK : POSTURE_NG, "%s",
                            u->udev_rule ?: "missing");
        /* Without it a stick plugged in at power-on works until mamorid starts. */
        (void) posture_line(c, n, "usb.initramfs_hook", ref, u->initramfs_hook ? POSTURE_OK : POSTURE_CHECK, "%s",
                            u->initramfs_hook ?: "missing");
}

static void posture_checks_lock(const PostureLock *k, usec_t now, PostureCheck *c, size_t *n) {
        const char *ref = k->policy_ref ?: "対策基準 第3-2エ";
        bool confirmed = k->last_confirmed > 0 && now - k->last_confirmed <= POSTURE_LOCK_RECENT;
        bool failed = k->last_failed > 0 && now - k->last_failed <= POSTURE_LOCK_RECENT &&
                      k->last_failed > k->last_confirmed;

        (void) posture_line(c, n, "lock.idle_timeout", ref, k->available ? POSTURE_OK : POSTURE_NG, "%llu s%s",
                            (unsigned long long) (k->idle_timeout / USEC_PER_SEC),
                            k->available ? "" : " (logind not reachable)");
        /* No lock in a day is no fault (nobody left the PC idle): someone looks. */
        (void) posture_line(c, n, "lock.confirmed_last_day", ref,
                            failed      ? POSTURE_NG
                            : confirmed ? POSTURE_OK
                                        : POSTURE_CHECK,
                            "%s",
                            failed      ? "failed"
                            : confirmed ? "yes"
                                        : "no");
}

static const char *posture_unit_state(const PostureUnit *u) {
        return u->active < 0 ? "unknown" : u->active ? "active" : "inactive";
}

static void posture_checks_av(const PostureAv *a, usec_t now, PostureCheck *c, size_t *n) {
        const char *ref = a->policy_ref ?: "対策基準 第7-2イ";
        bool none = !a->engine || strcmp(a->engine, "none") == 0;
        size_t inactive = 0, unknown = 0;
        PostureCheck *l;

        (void) posture_line(c, n, "av.engine", ref, none ? POSTURE_CHECK : POSTURE_OK, "%s", a->engine ?: "none");
        if (!none) {
                bool ok = a->state && strcmp(a->state, "ok") == 0;
                bool not_read = !a->state || strcmp(a->state, "unknown") == 0;
                if (a->built_at > 0)
                        l = posture_line(c, n, "av.pattern_age", ref, POSTURE_OK, "%.1f h (max %u h)",
                                         now > a->built_at ? (double) (now - a->built_at) / (3600.0 * USEC_PER_SEC) : 0.0,
                                         a->max_age_hours);
                else
                        l = posture_line(c, n, "av.pattern_age", ref, POSTURE_OK, "%s (max %u h)",
                                         a->state ?: "unknown", a->max_age_hours);
                l->verdict = ok ? POSTURE_OK : not_read ? POSTURE_CHECK : POSTURE_NG;
        }
        l = posture_line(c, n, "av.units", ref, POSTURE_OK, "%s", "");
        for (size_t i = 0; i < a->n_units; i++) {
                inactive += a->units[i].active == 0;
                unknown += a->units[i].active < 0;
                posture_append(l->value, sizeof l->value, "%s%s=%s", i ? " " : "", a->units[i].name ?: "?",
                               posture_unit_state(&a->units[i]));
        }
        if (a->units_not_shown > 0)
                posture_append(l->value, sizeof l->value, " (+%zu)", a->units_not_shown);
        if (a->n_units == 0)
                posture_append(l->value, sizeof l->value, "none");
        l->verdict = inactive > 0 ? POSTURE_NG : unknown > 0 || a->n_units == 0 ? POSTURE_CHECK : POSTURE_OK;
        /* 第7-3エ, when antivirus.full_scan is configured: the age of the last full scan. */
        if (a->full_scan_max_age_days > 0) {
                bool fs_ok = a->full_scan_state && strcmp(a->full_scan_state, "ok") == 0;
                bool fs_unknown = !a->full_scan_state || strcmp(a->full_scan_state, "unknown") == 0;
                if (a->full_scan_at > 0)
                        l = posture_line(c, n, "av.full_scan", "対策基準 第7-3エ", POSTURE_OK, "%.1f d (max %u d)",
                                         now > a->full_scan_at ? (double) (now - a->full_scan_at) / (double) USEC_PER_DAY
                                                               : 0.0,
                                         a->full_scan_max_age_days);
                else
                        l = posture_line(c, n, "av.full_scan", "対策基準 第7-3エ", POSTURE_OK, "%s (max %u d)",
                                         a->full_scan_state ?: "unknown", a->full_scan_max_age_days);
                l->verdict = fs_ok ? POSTURE_OK : fs_unknown ? POSTURE_CHECK : POSTURE_NG;
        }
}

static void posture_checks_delivery(const PostureDelivery *d, PostureCheck *c, size_t *n) {
        (void) posture_line(c, n, "delivery.collector", POSTURE_REF_DELIVERY, d->url ? POSTURE_OK : POSTURE_CHECK, "%s",
                            d->url ?: "none");
        (void) posture_line(c, n, "delivery.state", POSTURE_REF_DELIVERY,
                            d->state == POSTURE_DELIVERY_OK ? POSTURE_OK
                            : d->state == POSTURE_DELIVERY_NOT_CONFIGURED || d->state == POSTURE_DELIVERY_STARTING
                                    ? POSTURE_CHECK
                                    : POSTURE_NG,
                            "%s", posture_delivery_state_to_string(d->state));
}

/* Thunderbolt: "none" tunnels PCIe (DMA) without asking anyone. FireWire:
 * a loaded host driver lets any node on the cable read memory by DMA where
 * the IOMMU does not stop it: worth a look, not a fault by itself. */
static void posture_checks_dma_buses(const Posture *p, PostureCheck *c, size_t *n) {
        const char *ref = p->usb.policy_ref ?: "対策基準 第3-6";
        size_t none = 0, unknown = 0;
        PostureCheck *l;

        l = posture_line(c, n, "thunderbolt.security", ref, POSTURE_OK, "%s", "");
        for (size_t i = 0; i < p->thunderbolt.n_domains; i++) {
                const PostureTbDomain *d = &p->thunderbolt.domains[i];
                none += streq(d->security, "none");
                unknown += d->security[0] == 0;
                posture_append(l->value, sizeof l->value, "%s%s=%s", i ? " " : "", d->name,
                               d->security[0] ? d->security : "?");
        }
        if (p->thunderbolt.domains_not_shown > 0)
                posture_append(l->value, sizeof l->value, " (+%zu)", p->thunderbolt.domains_not_shown);
        if (p->thunderbolt.n_domains == 0)
                posture_append(l->value, sizeof l->value, "no domain");
        else if (p->thunderbolt.boltd >= 0)
                posture_append(l->value, sizeof l->value, " (boltd %s)", p->thunderbolt.boltd ? "running" : "absent");
        l->verdict = none > 0 ? POSTURE_NG : unknown > 0 ? POSTURE_CHECK : POSTURE_OK;
        (void) posture_line(c, n, "firewire.host_driver", ref, p->firewire.ohci_loaded ? POSTURE_CHECK : POSTURE_OK,
                            "%s", p->firewire.ohci_loaded ? "firewire_ohci loaded (DMA)" : "none");
}

size_t posture_checks(const Posture *p, usec_t now, PostureCheck ret[static POSTURE_CHECKS_MAX]) {
        size_t n = 0;

        assert(p);
        assert(ret);

        posture_checks_usb(&p->usb, ret, &n);
        posture_checks_dma_buses(p, ret, &n);
        posture_checks_lock(&p->lock, now, ret, &n);
        posture_checks_av(&p->av, now, ret, &n);
        posture_checks_delivery(&p->delivery, ret, &n);
        /* An approval about to end: renew it or let it go, on purpose. */
        (void) posture_line(ret, &n, "allow.expiring", p->usb.policy_ref ?: "対策基準 第3-6",
                            p->n_expiring + p->expiring_not_shown > 0 ? POSTURE_CHECK : POSTURE_OK, "%zu",
                            p->n_expiring + p->expiring_not_shown);
        return n;
}

PostureVerdict posture_verdict(const Posture *p, usec_t now) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        PostureVerdict v = POSTURE_OK;
        size_t n = posture_checks(p, now, c);

        for (size_t i = 0; i < n; i++)
                if (c[i].verdict > v)
                        v = c[i].verdict;
        return v;
}

/* ---- the object ---- */

static void posture_kv_time(JsonWriter *w, const char *key, usec_t t) {
        char buf[RFC3339_MAX];

        json_key(w, key);
        if (t == 0 || t == USEC_INFINITY)
                json_null(w);
        else
                json_string(w, format_rfc3339(buf, t));
}

static void posture_write_usb(JsonWriter *w, const PostureUsb *u) {
        json_key(w, "usb");
        json_object_begin(w);
        json_kv_string(w, "policy_ref", u->policy_ref);
        json_key(w, "blocked_categories");
        json_array_begin(w);
        for (unsigned k = USB_CATEGORY_STORAGE; k < _USB_CATEGORY_MAX; k++)
                if (u->block_mask & USB_CATEGORY_BIT(k))
                        json_string(w, usb_category_to_string((UsbCategory) k));
        json_array_end(w);
        json_kv_bool(w, "fail_closed", u->fail_closed);
        json_kv_bool(w, "monitoring", u->monitoring);
        json_key(w, "root_hubs");
        json_array_begin(w);
        for (size_t i = 0; i < u->n_root_hubs; i++) {
                const PostureRootHub *h = &u->root_hubs[i];
                json_object_begin(w);
                json_kv_string(w, "name", h->name);
                json_key(w, "authorized_default");
                if (h->authorized_default == INT_MIN)
                        json_null(w);
                else
                        json_int(w, h->authorized_default);
                json_key(w, "interface_authorized_default");
                if (h->interface_authorized_default < 0)
                        json_null(w);
                else
                        json_int(w, h->interface_authorized_default);
                json_object_end(w);
        }
        json_array_end(w);
        if (u->root_hubs_not_shown > 0)
                json_kv_uint(w, "root_hubs_not_shown", u->root_hubs_not_shown);
        json_kv_string(w, "udev_rule", u->udev_rule);
        json_kv_string(w, "initramfs_hook", u->initramfs_hook);
        json_object_end(w);
}

static void posture_write_dma_buses(JsonWriter *w, const Posture *p) {
        json_key(w, "thunderbolt");
        json_object_begin(w);
        json_key(w, "domains");
        json_array_begin(w);
        for (size_t i = 0; i < p->thunderbolt.n_domains; i++) {
                const PostureTbDomain *d = &p->thunderbolt.domains[i];
                json_object_begin(w);
                json_kv_string(w, "name", d->name);
                json_kv_string(w, "security", d->security[0] ? d->security : NULL);
                json_key(w, "iommu_dma_protection");
                if (d->iommu < 0)
                        json_null(w);
                else
                        json_bool(w, d->iommu > 0);
                json_object_end(w);
        }
        json_array_end(w);
        if (p->thunderbolt.domains_not_shown > 0)
                json_kv_uint(w, "domains_not_shown", p->thunderbolt.domains_not_shown);
        json_key(w, "boltd");
        if (p->thunderbolt.boltd < 0)
                json_null(w);
        else
                json_bool(w, p->thunderbolt.boltd > 0);
        json_object_end(w);
        json_key(w, "firewire");
        json_object_begin(w);
        json_key(w, "host_drivers");
        json_array_begin(w);
        if (p->firewire.ohci_loaded)
                json_string(w, "firewire_ohci");
        json_array_end(w);
        json_object_end(w);
}

static void posture_write_lock(JsonWriter *w, const PostureLock *k, usec_t now, bool stable) {
        json_key(w, "lock");
        json_object_begin(w);
        json_kv_string(w, "policy_ref", k->policy_ref);
        json_kv_bool(w, "logind", k->available);
        json_kv_uint(w, "idle_timeout_sec", k->idle_timeout / USEC_PER_SEC);
        json_kv_bool(w, "confirmed_last_day", k->last_confirmed > 0 && now - k->last_confirmed <= POSTURE_LOCK_RECENT);
        json_kv_bool(w, "failed_last_day", k->last_failed > 0 && now - k->last_failed <= POSTURE_LOCK_RECENT);
        if (!stable) {
                posture_kv_time(w, "last_confirmed", k->last_confirmed);
                posture_kv_time(w, "last_failed", k->last_failed);
        }
        json_object_end(w);
}

static void posture_write_av(JsonWriter *w, const PostureAv *a, usec_t now, bool stable) {
        json_key(w, "antivirus");
        json_object_begin(w);
        json_kv_string(w, "policy_ref", a->policy_ref);
        json_kv_string(w, "engine", a->engine);
        json_kv_string(w, "state", a->state);
        json_kv_uint(w, "max_age_hours", a->max_age_hours);
        /* The pattern's date is stable; its age is not. */
        posture_kv_time(w, "pattern_built_at", a->built_at);
        json_kv_string(w, "pattern_version", a->version);
        if (!stable) {
                json_key(w, "pattern_age_hours");
                if (a->built_at > 0)
                        json_double(w, now > a->built_at ? (double) ((now - a->built_at) / (360 * USEC_PER_SEC)) / 10.0
                                                         : 0.0);
                else
                        json_null(w);
        }
        json_key(w, "units");
        json_array_begin(w);
        for (size_t i = 0; i < a->n_units; i++) {
                json_object_begin(w);
                json_kv_string(w, "name", a->units[i].name);
                json_kv_string(w, "state", posture_unit_state(&a->units[i]));
                json_object_end(w);
        }
        json_array_end(w);
        if (a->units_not_shown > 0)
                json_kv_uint(w, "units_not_shown", a->units_not_shown);
        if (a->full_scan_max_age_days > 0) {
                json_key(w, "full_scan");
                json_object_begin(w);
                json_kv_string(w, "state", a->full_scan_state);
                posture_kv_time(w, "last_completed", a->full_scan_at);
                json_kv_uint(w, "max_age_days", a->full_scan_max_age_days);
                json_object_end(w);
        }
        if (a->detection_at > 0) {
                json_key(w, "last_detection");
                json_object_begin(w);
                posture_kv_time(w, "at", a->detection_at);
                json_kv_string(w, "engine", a->detection_engine);
                json_kv_string(w, "signature", a->detection_signature);
                json_kv_bool(w, "removable", a->detection_removable);
                json_object_end(w);
        }
        json_object_end(w);
}

/* Whether delivery works right now comes and goes with the network (and
 * the uplink starts after mamorid): the heartbeat and the delivery events
 * follow it. The posture records it, but only a collector set or removed
 * is a change of posture. */
static bool posture_delivery_moves(const PostureDelivery *d) {
        return d->state != POSTURE_DELIVERY_NOT_CONFIGURED;
}

static void posture_write_delivery(JsonWriter *w, const PostureDelivery *d, bool stable) {
        json_key(w, "delivery");
        json_object_begin(w);
        json_kv_string(w, "policy_ref", POSTURE_REF_DELIVERY);
        if (!stable || !posture_delivery_moves(d))
                json_kv_string(w, "state", posture_delivery_state_to_string(d->state));
        json_kv_string(w, "url", d->url);
        if (!stable) {
                json_kv_string(w, "uplink", d->uplink);
                posture_kv_time(w, "last_success", d->last_success);
                json_kv_uint(w, "failures", d->failures);
        }
        json_object_end(w);
}

static void posture_write_expiring(JsonWriter *w, const Posture *p) {
        char id[10];

        json_key(w, "allow_expiring");
        json_array_begin(w);
        for (size_t i = 0; i < p->n_expiring; i++) {
                const PostureExpiring *e = &p->expiring[i];
                snprintf(id, sizeof id, "%04x:%04x", e->vendor, e->product);
                json_object_begin(w);
                json_kv_string(w, "device", id);
                if (e->serial) {
                        /* as a device's serial shows in usb.* events: escaped */
                        _cleanup_free_ char *clean = text_sanitize(e->serial, e->serial_len, 4 * e->serial_len + 4, NULL);
                        json_kv_string(w, "serial", clean);
                } else
                        json_kv_bool(w, "any_serial", true);
                json_kv_string(w, "label", e->label);
                json_kv_string(w, "expires", e->expires);
                posture_kv_time(w, "expires_at", e->expires_at);
                json_kv_string(w, "file", e->file);
                json_kv_uint(w, "line", e->line);
                json_object_end(w);
        }
        json_array_end(w);
        if (p->expiring_not_shown > 0)
                json_kv_uint(w, "allow_expiring_not_shown", p->expiring_not_shown);
}

void posture_write(JsonWriter *w, const Posture *p, usec_t now, bool stable) {
        PostureCheck c[POSTURE_CHECKS_MAX];
        PostureVerdict worst = POSTURE_OK;
        size_t n;

        assert(w);
        assert(p);

        posture_write_usb(w, &p->usb);
        posture_write_dma_buses(w, p);
        posture_write_lock(w, &p->lock, now, stable);
        posture_write_av(w, &p->av, now, stable);
        posture_write_delivery(w, &p->delivery, stable);
        posture_write_expiring(w, p);
        if (p->quarantine.active) {
                /* cut off the network (issue 15): until an admin releases it */
                json_key(w, "quarantine");
                json_object_begin(w);
                json_kv_bool(w, "active", true);
                json_kv_uint(w, "since", p->quarantine.since);
                json_kv_string(w, "reason", p->quarantine.reason);
                json_kv_uint(w, "allow", p->quarantine.n_allow);
                json_object_end(w);
        }

        n = posture_checks(p, now, c);
        json_key(w, "checks");
        json_array_begin(w);
        for (size_t i = 0; i < n; i++) {
                json_object_begin(w);
                json_kv_string(w, "id", c[i].id);
                json_kv_string(w, "clause", c[i].clause);
                /* The pattern's age moves by itself: its verdict stays in the stable
                 * form; delivery's state is left out of it (see above). */
                bool moves = streq(c[i].id, "delivery.state") && posture_delivery_moves(&p->delivery);
                if (!stable || (!moves && !streq(c[i].id, "av.pattern_age") && !streq(c[i].id, "av.full_scan")))
                        json_kv_string(w, "value", c[i].value);
                if (!stable || !moves)
                        json_kv_string(w, "verdict", posture_verdict_to_string(c[i].verdict));
                json_object_end(w);
                if (c[i].verdict > worst)
                        worst = c[i].verdict;
        }
        json_array_end(w);
        if (!stable) /* the lines' verdicts say it there */
                json_kv_string(w, "verdict", posture_verdict_to_string(worst));
}

int posture_hash(const Posture *p, usec_t now, char ret[static 65]) {
        JsonWriter w = JSON_WRITER_INIT;
        uint8_t digest[SHA256_DIGEST_SIZE];

        assert(p);
        assert(ret);

        json_object_begin(&w);
        posture_write(&w, p, now, true);
        json_object_end(&w);
        if (json_error(&w) < 0) {
                json_writer_free(&w);
                return -ENOMEM;
        }
        sha256(w.buf, w.len, digest);
        sha256_to_hex(digest, ret);
        json_writer_free(&w);
        return 0;
}
