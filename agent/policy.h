/* SPDX-License-Identifier: MIT */
#pragma once

/* The Policy is the parsed configuration: immutable once built, shared by
 * reference. A reload builds a new one and swaps it in only when it is valid.
 * policy_decide() is a pure function of (policy, device, time). */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"
#include "usb-device.h"

#define POLICY_REF_USB_DEFAULT "対策基準 第3-6"

typedef struct AllowEntry {
        char *file;
        unsigned line;
        uint16_t vendor, product;
        bool any_serial;
        char *serial; /* exact bytes; NULL with any_serial */
        size_t serial_len;
        char *label, *approved_by, *approved_on, *ticket, *expires;
        usec_t expires_at; /* first instant it no longer allows; USEC_INFINITY if never */
} AllowEntry;

typedef struct UsbPolicy {
        unsigned block_mask; /* USB_CATEGORY_BIT() of the categories to block */
        char *policy_ref;
        AllowEntry *entries;
        size_t n_entries;
} UsbPolicy;

/* notice = { ... }: what the person at the seat is told (agent/notice*.c,
 * docs/notices.md). Zero means "not set": the module applies its defaults. */
typedef struct NoticePolicy {
        bool disabled;
        bool kinds_set;
        uint32_t kinds; /* bit (1u << EventKind) for each kind that makes a notice */
        char *contact, *contact_en;
        unsigned burst, interval_sec;
} NoticePolicy;

/* Sections of mamori.conf that other modules own hang off the Policy as
 * plain settings; each is parsed in config.c and documented in docs/. */
typedef struct Policy {
        unsigned n_ref;
        bool failsafe;    /* built because the configuration was missing or broken */
        char hash[65];    /* SHA-256 over every file read, in order */
        char *config_path;
        char *allow_dir;
        char **files;     /* every file that went into this policy */
        size_t n_files;
        UsbPolicy usb;
        NoticePolicy notice;
} Policy;

Policy *policy_ref(Policy *p);
Policy *policy_unref(Policy *p);
DEFINE_POINTER_CLEANUP(Policy, policy_unref);

/* Blocks every category and allows nothing: what runs when no valid
 * configuration can be had. */
int policy_new_failsafe(const char *config_path, Policy **ret);
Policy *policy_alloc(void);

typedef enum DecisionReason {
        DECISION_ALLOWED,        /* an entry matched and is in force */
        DECISION_UNKNOWN,        /* no entry for this vendor:product */
        DECISION_EXPIRED,        /* an entry matched but has expired */
        DECISION_SERIAL_MISMATCH,/* entries for vendor:product exist, none for this serial */
        DECISION_NO_SERIAL,      /* entries for vendor:product need a serial; the device has none */
        DECISION_NO_POLICY,      /* fail-closed: no valid configuration */
        _DECISION_REASON_MAX,
} DecisionReason;

typedef struct Decision {
        bool relevant;            /* the device has an interface of a blocked category */
        bool allow;
        DecisionReason reason;
        const AllowEntry *entry;  /* the entry that allowed, or that expired / mismatched */
        unsigned blocked_categories; /* device categories that the policy blocks */
        usec_t changes_at;        /* when time alone changes this decision; USEC_INFINITY if never */
} Decision;

const char *decision_reason_to_string(DecisionReason r);

Decision policy_decide(const Policy *p, const UsbDevice *d, usec_t now_realtime);

/* Should this interface be kept unauthorized under the decision? */
static inline bool decision_blocks_interface(const Decision *dec, const UsbInterface *i) {
        return dec->relevant && !dec->allow && (dec->blocked_categories & USB_CATEGORY_BIT(i->category));
}
