/* SPDX-License-Identifier: MIT */
#pragma once

/* What this PC enforces, per clause of the 対策基準 (the event agent.posture
 * and `mamorictl inspect`, docs/events.md §4.9). Each module fills its part
 * of a Posture from its own state (usb_enforcer_posture(), ...) and the
 * Manager puts them together; this file turns a Posture into the event's
 * object and the self-inspection sheet's lines, so that both say the same.
 *
 * Pure: data in, JSON out; no I/O, no logging, no clock (now is given). The
 * strings of a Posture are borrowed: they must live while it is written. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "timeutil.h"

#define POSTURE_ROOT_HUBS_MAX 32
#define POSTURE_UNITS_MAX 16
#define POSTURE_EXPIRING_MAX 32
#define POSTURE_EXPIRING_WINDOW (30 * 24 * 3600 * USEC_PER_SEC)
#define POSTURE_LOCK_RECENT (24 * 3600 * USEC_PER_SEC)
#define POSTURE_NAME_MAX 32 /* "usb12" */

typedef enum PostureVerdict {
        POSTURE_OK,
        POSTURE_CHECK, /* 要確認: nothing is wrong for sure, someone should look */
        POSTURE_NG,    /* the clause is not enforced */
        _POSTURE_VERDICT_MAX,
} PostureVerdict;

const char *posture_verdict_to_string(PostureVerdict v); /* "ok", "check", "ng" */
int posture_verdict_from_string(const char *s);

typedef struct PostureRootHub {
        char name[POSTURE_NAME_MAX];      /* sysname, "usb1" */
        int authorized_default;           /* the sysfs value 0..2 (or -1); INT_MIN: unreadable */
        int interface_authorized_default; /* 0 or 1; negative: unreadable */
} PostureRootHub;

typedef struct PostureUsb {
        const char *policy_ref;
        unsigned block_mask; /* USB_CATEGORY_BIT() */
        bool fail_closed;
        bool monitoring; /* udev's events reach the enforcer */
        PostureRootHub root_hubs[POSTURE_ROOT_HUBS_MAX];
        size_t n_root_hubs, root_hubs_not_shown;
        const char *udev_rule;      /* the rule udev loads (its path); NULL: none or masked */
        const char *initramfs_hook; /* the hook or dracut module; NULL: none */
} PostureUsb;

typedef struct PostureLock {
        const char *policy_ref;
        bool available; /* logind reachable */
        usec_t idle_timeout;
        usec_t last_confirmed; /* CLOCK_REALTIME of the last lock a locker confirmed; 0: none since start */
        usec_t last_failed;    /* ... of the last lock that did not take; 0: none */
} PostureLock;

typedef struct PostureUnit {
        const char *name;
        int active; /* 1 active, 0 inactive, negative: not known yet */
} PostureUnit;

typedef struct PostureAv {
        const char *policy_ref;
        const char *engine; /* "clamav", "generic", "none" */
        const char *state;  /* av's judgement: "ok", "stale", "future", "missing", "unknown" */
        usec_t built_at;    /* CLOCK_REALTIME of the pattern; 0: none read */
        const char *version;
        unsigned max_age_hours;
        PostureUnit units[POSTURE_UNITS_MAX];
        size_t n_units, units_not_shown;
        /* The last detection since mamorid started (issue 15); 0: none. */
        usec_t detection_at;
        const char *detection_engine, *detection_signature;
        bool detection_removable;
        /* antivirus.full_scan (第7-3エ): 0 days: not configured. */
        unsigned full_scan_max_age_days;
        usec_t full_scan_at;         /* the last completed full scan; 0: none known */
        const char *full_scan_state; /* "ok", "overdue", "missing", "future", "unknown" */
} PostureAv;

typedef enum PostureDeliveryState {
        POSTURE_DELIVERY_NOT_CONFIGURED, /* no collector.url: the journal and the spool only */
        POSTURE_DELIVERY_NOT_RUNNING,    /* mamori-uplink does not run */
        POSTURE_DELIVERY_OK,
        POSTURE_DELIVERY_FAILING,  /* failures in a row, or refused */
        POSTURE_DELIVERY_STARTING, /* not running yet: mamorid just started, mamori-uplink starts after it */
        _POSTURE_DELIVERY_MAX,
} PostureDeliveryState;

const char *posture_delivery_state_to_string(PostureDeliveryState s);

typedef struct PostureDelivery {
        PostureDeliveryState state;
        const char *url;     /* the collector; NULL: none */
        const char *uplink;  /* the uplink's own word (idle, sending, waiting, ...); NULL when not running */
        usec_t last_success; /* CLOCK_REALTIME; 0: none since start */
        unsigned failures;
} PostureDelivery;

typedef struct PostureExpiring {
        uint16_t vendor, product;
        const char *serial; /* raw bytes (escaped when written); NULL: any_serial */
        size_t serial_len;
        const char *label, *expires, *file;
        unsigned line;
        usec_t expires_at;
} PostureExpiring;

/* Thunderbolt/USB4 domains and FireWire host drivers: buses whose devices
 * can reach memory by DMA (agent/devices/thunderbolt.c, firewire.c). */
#define POSTURE_TB_DOMAINS_MAX 8
typedef struct PostureTbDomain {
        char name[POSTURE_NAME_MAX]; /* "domain0" */
        char security[16];           /* none, user, secure, dponly, usbonly, nopcie; "" unreadable */
        int iommu;                   /* iommu_dma_protection: 1, 0; negative: unreadable */
} PostureTbDomain;

typedef struct PostureThunderbolt {
        PostureTbDomain domains[POSTURE_TB_DOMAINS_MAX];
        size_t n_domains, domains_not_shown;
        int boltd; /* 1 boltd owns its bus name, 0 it does not, negative: no system bus */
} PostureThunderbolt;

typedef struct PostureFirewire {
        bool ohci_loaded; /* firewire_ohci: a host controller driver, DMA from any node */
} PostureFirewire;
/* The network quarantine (issue 15): written only while active. */
typedef struct PostureQuarantine {
        bool active;
        uint64_t since;     /* seconds since the epoch */
        const char *reason; /* the state file's: "av.detection <event id>", "manual" */
        size_t n_allow;
} PostureQuarantine;

typedef struct Posture {
        PostureUsb usb;
        PostureThunderbolt thunderbolt;
        PostureFirewire firewire;
        PostureLock lock;
        PostureAv av;
        PostureDelivery delivery;
        PostureQuarantine quarantine;
        PostureExpiring expiring[POSTURE_EXPIRING_MAX];
        size_t n_expiring, expiring_not_shown;
} Posture;

/* Adds an allow entry if it ends within POSTURE_EXPIRING_WINDOW of now (and
 * has not ended yet); counts it in expiring_not_shown when the table is full.
 * True when it was taken. The strings are borrowed. */
bool posture_add_expiring(Posture *p, const PostureExpiring *e, usec_t now);

/* One line of the self-inspection sheet. */
typedef struct PostureCheck {
        const char *id;     /* "usb.blocked_categories", ...: mamorictl has its texts */
        const char *clause; /* "対策基準 第3-6" (the policy_ref of the section) */
        char value[256];    /* what was found, in words that need no translation */
        PostureVerdict verdict;
} PostureCheck;

#define POSTURE_CHECKS_MAX 24 /* 15 lines today (issue 15 added av.full_scan) */

/* The sheet's lines; returns how many (<= POSTURE_CHECKS_MAX). */
size_t posture_checks(const Posture *p, usec_t now, PostureCheck ret[static POSTURE_CHECKS_MAX]);
/* The worst verdict of the lines. */
PostureVerdict posture_verdict(const Posture *p, usec_t now);

/* Writes the members "usb", "lock", "antivirus", "delivery", "allow_expiring",
 * "checks" and "verdict" into the object w is in. stable: leaves out what
 * moves by itself (pattern age, times of the last lock and delivery, whether
 * delivery works right now), for the change hash. */
void posture_write(JsonWriter *w, const Posture *p, usec_t now, bool stable);

/* SHA-256 (hex) of the stable form: two postures differ iff their hashes do.
 * -ENOMEM. */
int posture_hash(const Posture *p, usec_t now, char ret[static 65]);
