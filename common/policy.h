/* SPDX-License-Identifier: MIT */
#pragma once

/* The Policy is the parsed configuration: immutable once built, shared by
 * reference. A reload builds a new one and swaps it in only when it is valid.
 * policy_decide() is a pure function of (policy, device, time). */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "device-bus.h"
#include "quarantine-state.h"
#include "timeutil.h"
#include "usb-device.h"

#define POLICY_REF_USB_DEFAULT "対策基準 第3-6"
#define POLICY_REF_LOCK_DEFAULT "対策基準 第3-2エ"
#define POLICY_REF_AV_DEFAULT "対策基準 第7-2イ"
/* What staff are cited in an antivirus notice: their own duty, to check data
 * from outside (職員等の遵守事項), not the administrators' clause. */
#define POLICY_REF_AV_STAFF_DEFAULT "対策基準 第7-3ア"

/* What an allow entry lets the device do with its storage (issue 14). */
typedef enum AllowAccess {
        ALLOW_ACCESS_READ_WRITE, /* the default */
        ALLOW_ACCESS_READ_ONLY,  /* block devices set read-only before anything mounts them */
        _ALLOW_ACCESS_MAX,
} AllowAccess;

typedef struct AllowEntry {
        char *file;
        unsigned line;
        /* bus = "mmc" | "optical" | "thunderbolt" | "firewire": the entry names
         * the device by id[] (device_bus_id_keys() order), and vendor, product
         * and serial are unused. USB (the default) uses those instead. */
        DeviceBus bus;
        char *id[DEVICE_ID_MAX];
        uint16_t vendor, product;
        bool any_serial;
        char *serial; /* exact bytes; NULL with any_serial */
        size_t serial_len;
        char *label, *approved_by, *approved_on, *ticket, *expires;
        usec_t expires_at; /* first instant it no longer allows; USEC_INFINITY if never */
        /* access = "read-only" | "read-write" (issue 14, read-only approvals) */
        AllowAccess access;
} AllowEntry;

#define USB_EXPIRY_WARNING_DEFAULT (15 * 60 * USEC_PER_SEC)

typedef struct UsbPolicy {
        unsigned block_mask; /* USB_CATEGORY_BIT() of the categories to block */
        char *policy_ref;
        AllowEntry *entries;
        size_t n_entries;
        UsbDriverEntry *drivers; /* usb.drivers: added to usb-drivers.c's table */
        size_t n_drivers;
        usec_t repeat_window;  /* usb.repeat_window: blocks of one device coalesced; 0: off */
        usec_t expiry_warning; /* usb.expiry_warning: a plugged device's approval ends in this; 0: off */
} UsbPolicy;

/* devices = { block = [ ... ]; }: the categories outside USB that are
 * blocked unless an entry allows the device (the USB categories of the same
 * list go to UsbPolicy.block_mask). */
typedef struct DevicesPolicy {
        unsigned block_mask; /* DEVICE_CATEGORY_BIT() of the categories to block */
} DevicesPolicy;

/* notice = { ... }: what the person at the seat is told (agent/notice*.c,
 * docs/notices.md). Zero means "not set": the module applies its defaults. */
typedef struct NoticePolicy {
        bool disabled;
        bool kinds_set;
        uint64_t kinds; /* NOTICE_KIND_BIT(EventKind) for each kind that makes a notice */
        /* Whom staff ask for a permission (the approver's role) and whom they
         * tell (the contact: section, phone, extension). NULL: not set, and
         * the notice says so in neutral words; no role is named in code. */
        char *approver, *approver_en;
        char *contact, *contact_en; /* the contact's section (the old one-string `contact`) */
        char *contact_phone, *contact_extension;
        unsigned burst, interval_sec;
} NoticePolicy;
/* lock = { ... }: idle screen lock through logind (agent/lock/lock.c). */
typedef enum LockTtyAction {
        LOCK_TTY_IGNORE,
        LOCK_TTY_REPORT,    /* lock.idle_session once per idle period */
        LOCK_TTY_TERMINATE, /* report, then end the session after tty_idle_timeout */
        _LOCK_TTY_ACTION_MAX,
} LockTtyAction;

#define LOCK_IDLE_TIMEOUT_DEFAULT (300 * USEC_PER_SEC)
#define LOCK_VERIFY_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define LOCK_TTY_TIMEOUT_FACTOR 6 /* tty idle_timeout when not given: 6 x lock.idle_timeout */

typedef struct LockPolicy {
        usec_t idle_timeout;     /* graphical sessions: lock after this much idle time */
        usec_t verify_timeout;   /* LockedHint must turn true within this */
        LockTtyAction tty;       /* tty and remote sessions */
        usec_t tty_idle_timeout; /* when LOCK_TTY_TERMINATE ends a session; >= idle_timeout */
        char *policy_ref;
} LockPolicy;

/* antivirus = { ... }: pattern age (agent/av/av.c). */
typedef enum AvEngine {
        AV_ENGINE_CLAMAV,
        AV_ENGINE_GENERIC,
        AV_ENGINE_NONE,
        _AV_ENGINE_MAX,
} AvEngine;

typedef enum AvCommandOutput {
        AV_OUTPUT_DATE,        /* a date and time, e.g. ISO 8601 or mdatp's "Sept 08, 2022 at 01:57:03 PM" */
        AV_OUTPUT_EPOCH,       /* seconds since 1970 */
        AV_OUTPUT_MINUTES_AGO, /* e.g. mdatp's definitions_updated_minutes_ago */
        _AV_OUTPUT_MAX,
} AvCommandOutput;

#define AV_DATABASE_DIR_DEFAULT "/var/lib/clamav"
#define AV_MAX_AGE_HOURS_DEFAULT 24
#define AV_COMMAND_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
#define AV_FULL_SCAN_MAX_AGE_DAYS_DEFAULT 7

/* antivirus.full_scan = { ... } (対策基準 第7-3エ, issue 15): when the last
 * full scan completed, from a file's mtime or what a command prints (the
 * generic sources of the pattern check, agent/av/av-generic.c). */
typedef struct AvFullScanPolicy {
        bool enabled; /* the group is there */
        unsigned max_age_days;
        char *file;
        char **command;
        size_t n_command;
        AvCommandOutput command_output;
        usec_t command_timeout;
} AvFullScanPolicy;

/* antivirus.scan = { ... } (対策基準 第7-3ア, issue 15 item 3): media from
 * outside are scanned by clamd when mounted (agent/av/av-scan.c). */
#define AV_SCAN_SOCKET_DEFAULT "/run/clamav/clamd.ctl"
#define AV_SCAN_TIMEOUT_DEFAULT (600 * USEC_PER_SEC)
typedef struct AvScanPolicy {
        bool on_mount;
        char *socket; /* clamd's LocalSocket; never NULL once parsed */
        usec_t timeout;
} AvScanPolicy;

typedef struct AvPolicy {
        AvEngine engine;
        char *database_dir; /* clamav: where daily.cvd/.cld live; generic: watched for changes (optional) */
        unsigned max_age_hours;
        char **units; /* systemd units that must be active, e.g. "clamav-freshclam.service" */
        size_t n_units;
        char *pattern_file; /* generic: the pattern date is this file's mtime */
        char **command;     /* generic: argv (absolute path first) that prints the pattern date */
        size_t n_command;
        AvCommandOutput command_output;
        usec_t command_timeout;
        char *policy_ref;
        /* Who may report a detection (issue 15) besides root: user names or
         * numeric uids; not set: "clamav" with engine clamav, none otherwise. */
        char **report_users;
        size_t n_report_users;
        bool report_users_set;
        AvFullScanPolicy full_scan;
        AvScanPolicy scan;
        char *staff_policy_ref; /* cited in notices to staff */
} AvPolicy;

/* collector = { ... }: where and how events are delivered (agent/report/uplink.c). */
typedef struct CollectorSettings {
        char *url; /* NULL: events stay in the spool and the journal */
        char *ca_file, *pin, *client_cert, *client_key, *token_file;
        char *proxy;               /* NULL: no proxy, whatever the environment says */
        usec_t heartbeat_interval; /* 0: no heartbeat */
        usec_t timeout;            /* bound on one request */
        usec_t backoff_min, backoff_max;
        unsigned batch_max_events;
        bool gzip;
} CollectorSettings;

#define COLLECTOR_HEARTBEAT_DEFAULT (15 * 60 * USEC_PER_SEC)
#define COLLECTOR_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
#define COLLECTOR_BACKOFF_MIN_DEFAULT (1 * USEC_PER_SEC)
#define COLLECTOR_BACKOFF_MAX_DEFAULT (5 * 60 * USEC_PER_SEC)
#define COLLECTOR_BATCH_DEFAULT 1000u

/* spool = { ... } (agent/report/spool.c). */
typedef struct SpoolSettings {
        uint64_t max_bytes;
} SpoolSettings;

/* site = { ... }: labels carried in every event's envelope (docs/events.md
 * §3), for grouping PCs centrally. NULL: not set. */
#define SITE_LABEL_MAX 128
typedef struct SiteLabels {
        char *department, *location;
} SiteLabels;

/* quarantine = { ... }: cutting the PC off the network (issue 15,
 * docs/quarantine.md). mamorid writes the state file; mamori-netguard
 * applies it. The allowed destinations are addresses: mamorid does no DNS. */
#define QUARANTINE_ON_AV_DETECTION (UINT32_C(1) << 0)
typedef struct QuarantinePolicy {
        bool configured; /* the section is there */
        uint32_t on;     /* QUARANTINE_ON_* bits: what engages it by itself */
        size_t n_allow;
        QuarantineCidr allow[QUARANTINE_ALLOW_MAX];
} QuarantinePolicy;

/* Sections of mamori.conf that other modules own hang off the Policy as
 * plain settings; each is parsed in config.c and documented in docs/. */
typedef struct Policy {
        unsigned n_ref;
        bool failsafe; /* built because the configuration was missing or broken */
        char hash[65]; /* SHA-256 over every file read, in order */
        char *config_path;
        char *allow_dir;
        char **files; /* every file that went into this policy */
        char **texts; /* and what it held, as read (the last-good snapshot) */
        size_t *text_lens;
        size_t n_files;
        UsbPolicy usb;
        DevicesPolicy devices;
        NoticePolicy notice;
        LockPolicy lock;
        AvPolicy av;
        CollectorSettings collector;
        SpoolSettings spool;
        SiteLabels site;
        QuarantinePolicy quarantine;
} Policy;

void collector_settings_init(CollectorSettings *c);
void collector_settings_done(CollectorSettings *c);

Policy *policy_ref(Policy *p);
Policy *policy_unref(Policy *p);
DEFINE_POINTER_CLEANUP(Policy, policy_unref);

/* Blocks every category and allows nothing: what runs when no valid
 * configuration can be had. */
int policy_new_failsafe(const char *config_path, Policy **ret);
Policy *policy_alloc(void);

const char *lock_tty_action_to_string(LockTtyAction a);
int lock_tty_action_from_string(const char *s);
const char *av_engine_to_string(AvEngine e);
int av_engine_from_string(const char *s);
const char *av_command_output_to_string(AvCommandOutput o);
int av_command_output_from_string(const char *s);
/* Defaults for what a configuration left out (also used by the fail-safe policy). */
int policy_set_lock_av_defaults(Policy *p);

typedef enum DecisionReason {
        DECISION_ALLOWED,         /* an entry matched and is in force */
        DECISION_UNKNOWN,         /* no entry for this vendor:product */
        DECISION_EXPIRED,         /* an entry matched but has expired */
        DECISION_SERIAL_MISMATCH, /* entries for vendor:product exist, none for this serial */
        DECISION_NO_SERIAL,       /* entries for vendor:product need a serial; the device has none */
        DECISION_NO_POLICY,       /* fail-closed: no valid configuration */
        /* issue 14: set by the enforcer, never by policy_decide(), on a
         * read-only approval it could not keep read-only */
        DECISION_READONLY_VIOLATED,    /* found writable: blocked until plugged in again */
        DECISION_READONLY_UNAVAILABLE, /* its decision for udev could not be written */
        /* issue 15 item 3: set by the enforcer (usb-infected.h), never by
         * policy_decide(): malware found on it by the media scan; blocked
         * whatever allows it, until mamorid restarts */
        DECISION_INFECTED,
        _DECISION_REASON_MAX,
} DecisionReason;

typedef struct Decision {
        bool relevant; /* the device has an interface of a blocked category */
        bool allow;
        DecisionReason reason;
        const AllowEntry *entry;     /* the entry that allowed, or that expired / mismatched */
        unsigned blocked_categories; /* device categories that the policy blocks */
        usec_t changes_at;           /* when time alone changes this decision; USEC_INFINITY if never */
        AllowAccess access;          /* the allowing entry's; read-write when no entry allowed */
} Decision;

const char *decision_reason_to_string(DecisionReason r);
const char *allow_access_to_string(AllowAccess a);
int allow_access_from_string(const char *s);

/* Does the decision let the device's storage in read-only? */
static inline bool decision_read_only(const Decision *dec) {
        return dec->relevant && dec->allow && dec->access == ALLOW_ACCESS_READ_ONLY;
}

Decision policy_decide(const Policy *p, const UsbDevice *d, usec_t now_realtime);

/* The same for a device of a category outside USB, named by its bus's
 * identity values id[] (device_bus_id_keys() order; NULL where the device
 * lacks one, which no entry then matches). Decision.blocked_categories holds
 * DEVICE_CATEGORY_BIT(category) when the category is blocked. Pure. */
Decision policy_decide_device(const Policy *p, DeviceCategory category, const char *const id[DEVICE_ID_MAX],
                              usec_t now_realtime);

/* Should this interface be kept unauthorized under the decision? */
static inline bool decision_blocks_interface(const Decision *dec, const UsbInterface *i) {
        return dec->relevant && !dec->allow && (dec->blocked_categories & USB_CATEGORY_BIT(i->category));
}
