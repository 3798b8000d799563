/* SPDX-License-Identifier: MIT */
#pragma once

/* A Notice is what the person at the seat is told when mamori acts on
 * something they did (docs/notices.md): a summary and a body in Japanese and
 * in English, and the facts behind them for receivers that compose their own
 * text. Building one is pure: no I/O, so every text is unit-tested.
 *
 * Every string a device supplied arrives sanitized (common/text.c); here it is
 * also cut to a readable length and stripped of the bidirectional and
 * invisible formatting characters that could make a notice lie about what it
 * names. Markup escaping is the receiver's job: it knows whether its server
 * renders markup. */

#include <stdbool.h>
#include <stdint.h>

#include "device-bus.h"
#include "event.h"
#include "policy.h"
#include "usb-device.h"

typedef enum NoticeLang {
        NOTICE_LANG_JA,
        NOTICE_LANG_EN,
        _NOTICE_LANG_MAX,
} NoticeLang;

/* Urgency levels of the Desktop Notifications spec. */
typedef enum NoticeUrgency {
        NOTICE_URGENCY_LOW = 0,
        NOTICE_URGENCY_NORMAL = 1,
        NOTICE_URGENCY_CRITICAL = 2,
} NoticeUrgency;

#define NOTICE_FACTS_MAX 12
#define NOTICE_NAME_MAX_CHARS 48    /* in a summary, a product name longer than this is cut with "…" */
#define NOTICE_DEVICE_MAX_CHARS 128 /* in the body and the facts */
/* A kind's bit in NoticePolicy.kinds: 64 bits, as the kinds outgrew 32. */
#define NOTICE_KIND_BIT(k) (UINT64_C(1) << (k))
_Static_assert(_EVENT_KIND_MAX <= 64, "NoticePolicy.kinds has a bit per event kind");
#define NOTICE_DEFAULT_KINDS \
        (NOTICE_KIND_BIT(EVENT_USB_BLOCKED) | NOTICE_KIND_BIT(EVENT_USB_EXPIRING) | \
         NOTICE_KIND_BIT(EVENT_USB_READONLY_VIOLATED) | NOTICE_KIND_BIT(EVENT_DEVICE_BLOCKED) | \
         NOTICE_KIND_BIT(EVENT_DEVICE_BLOCK_FAILED) | NOTICE_KIND_BIT(EVENT_AV_DETECTION))
#define NOTICE_DEFAULT_BURST 3
#define NOTICE_DEFAULT_INTERVAL_SEC 30
#define NOTICE_USB_DEDUP_USEC (60 * USEC_PER_SEC)
#define NOTICE_AV_DEDUP_USEC (6 * 3600 * USEC_PER_SEC)

typedef struct NoticeFact {
        const char *key; /* static */
        char *value;     /* clean, valid UTF-8 */
} NoticeFact;

typedef struct Notice {
        char id[37]; /* the event's id: staff quote it, the central team finds the event */
        EventKind kind;
        char *summary[_NOTICE_LANG_MAX];
        char *body[_NOTICE_LANG_MAX];
        NoticeUrgency urgency;
        const char *icon;     /* freedesktop icon name (static) */
        const char *category; /* Notifications spec category (static) */
        char *replace_key;    /* a later notice with this key replaces this one on screen */
        char *dedup_key;      /* never sent: it may hold a serial number */
        uint64_t dedup_usec;  /* the same dedup_key within this window says nothing new */
        unsigned also;        /* notices held back by the rate limit and folded into this one */
        NoticeFact facts[NOTICE_FACTS_MAX];
        size_t n_facts;
} Notice;

Notice *notice_free(Notice *n);
DEFINE_POINTER_CLEANUP(Notice, notice_free);

/* The event kinds that can make a notice (the others are not for staff). */
bool notice_kind_supported(EventKind k);
/* The kinds in force under a policy (its notice.kinds, or the default). */
uint64_t notice_kinds(const NoticePolicy *p);

/* usb.blocked: what was blocked, why, and what to do. */
int notice_build_usb(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d, const Decision *dec,
                     const char *event_id, Notice **ret);
/* usb.expiring: the approval of this plugged device ends at dec->changes_at. */
int notice_build_usb_expiring(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d, const Decision *dec,
                              usec_t now, const char *event_id, Notice **ret);
/* usb.readonly_violated: a device approved read-only was writable, and blocked. */
int notice_build_usb_readonly_violated(const NoticePolicy *p, const char *policy_ref, const UsbDevice *d,
                                       const Decision *dec, const char *event_id, Notice **ret);
/* A device outside USB (SD card, optical drive, Thunderbolt, FireWire) as a
 * notice names it: what the bus module read (agent/devices' RemovableDevice,
 * which common/ cannot see), every string already sanitized. */
typedef struct NoticeDevice {
        DeviceCategory category;
        const char *vendor, *model;    /* for people; either may be NULL */
        const char *sysname;           /* where it is ("mmc0:aaaa", "sr0"): never its identity */
        const char *id[DEVICE_ID_MAX]; /* device_bus_id_keys() order; NULL: lacking or malformed */
        bool block_failed;             /* the kernel refused the block: the device still works */
} NoticeDevice;

/* device.blocked and device.block_failed: what was blocked (for optical-write,
 * only writing), why, and what to do. */
int notice_build_device(const NoticePolicy *p, const char *policy_ref, const NoticeDevice *d, const Decision *dec,
                        const char *event_id, Notice **ret);
/* av.pattern_stale, av.missing, av.engine_inactive: -EOPNOTSUPP for other kinds. */
int notice_build_event(const NoticePolicy *p, EventKind kind, const char *policy_ref, const char *event_id, Notice **ret);
/* av.detection (issue 15): malware was found on this PC; told by default. */
int notice_build_detection(const NoticePolicy *p, const char *policy_ref, const char *event_id, Notice **ret);

#define NOTICE_WHEN_MAX 64
/* An allow entry's expiry as people read it, in the PC's local time zone:
 * 「2027年3月31日 17:00」 / "31 March 2027 17:00"; a date-only entry (allowed
 * through that day) gives the date alone. expires is the entry's text,
 * expires_at its first instant no longer allowed. 0 or -EINVAL. */
int notice_format_expiry(const char *expires, usec_t expires_at, NoticeLang lang, char buf[static NOTICE_WHEN_MAX]);

/* Folds `also` held-back notices into n: one more line in each body. */
int notice_set_also(Notice *n, unsigned also);

const char *notice_fact(const Notice *n, const char *key);

/* Device text for a notice: trimmed, at most max_chars characters (then "…"),
 * with bidi controls and invisible formatting characters replaced by U+FFFD.
 * NULL (or empty after cleaning) gives NULL. Newly allocated. */
char *notice_display_text(const char *s, size_t max_chars);
