/* SPDX-License-Identifier: MIT */
#pragma once

/* An Event is one record of the violation feed. Producers (usb, lock, av,
 * agent) fill a kind and a body; event_render() adds the envelope that every
 * event shares (id, seq, time, host, agent, policy_ref, user) and produces
 * one line of JSON. The schema is documented in docs/events.md. */

#include <stdbool.h>
#include <stdint.h>

#include "json.h"
#include "macro.h"
#include "timeutil.h"

typedef enum EventSeverity {
        EVENT_SEVERITY_INFO,
        EVENT_SEVERITY_LOW,
        EVENT_SEVERITY_MEDIUM,
        EVENT_SEVERITY_HIGH,
        EVENT_SEVERITY_CRITICAL,
        _EVENT_SEVERITY_MAX,
} EventSeverity;

typedef enum EventKind {
        EVENT_USB_BLOCKED,
        EVENT_USB_ALLOWED,
        EVENT_AGENT_STARTED,
        EVENT_AGENT_STOPPING,
        EVENT_AGENT_CONFIG_CHANGED,
        EVENT_AGENT_CONFIG_ERROR,
        EVENT_AGENT_HEARTBEAT,
        EVENT_AGENT_EVENTS_DROPPED,
        EVENT_AGENT_TEST,
        EVENT_LOCK_ENFORCED,
        EVENT_LOCK_FAILED,
        EVENT_LOCK_IDLE_SESSION,
        EVENT_LOCK_SESSION_TERMINATED,
        EVENT_AV_PATTERN_STALE,
        EVENT_AV_PATTERN_OK,
        EVENT_AV_MISSING,
        EVENT_AV_ENGINE_INACTIVE,
        EVENT_AGENT_SPOOL_CORRUPT,
        EVENT_USB_BLOCK_FAILED,
        EVENT_USB_EXPIRING,
        EVENT_AGENT_DELIVERY_REFUSED,
        EVENT_AGENT_DELIVERY_RESUMED,
        EVENT_AGENT_POSTURE,
        EVENT_DEVICE_BLOCKED, /* a device outside USB (mmc, optical, thunderbolt, firewire) */
        EVENT_DEVICE_ALLOWED,
        EVENT_DEVICE_BLOCK_FAILED,
        EVENT_USB_READONLY_VIOLATED, /* issue 14: a read-only approval found writable */
        /* the network quarantine (issue 15, docs/quarantine.md) */
        EVENT_NET_QUARANTINED,
        EVENT_NET_QUARANTINE_RELEASED,
        EVENT_NET_QUARANTINE_TAMPERED,
        EVENT_AV_DETECTION,       /* an engine found malware (issue 15) */
        EVENT_AV_REPORTS_DROPPED, /* detection reports over the rate limit */
        EVENT_AV_FULL_SCAN_OVERDUE,
        EVENT_AV_FULL_SCAN_OK,
        EVENT_MEDIA_SCANNED, /* media from outside scanned when mounted (issue 15 item 3) */
        _EVENT_KIND_MAX,
} EventKind;

typedef struct EventKindInfo {
        const char *name;       /* "usb.blocked" */
        const char *message_id; /* journal MESSAGE_ID, 32 hex digits */
        EventSeverity severity; /* default severity */
        int log_level;          /* journal priority */
} EventKindInfo;

const EventKindInfo *event_kind_info(EventKind k);
const char *event_severity_to_string(EventSeverity s);
int event_kind_from_string(const char *s);

typedef struct Event {
        EventKind kind;
        EventSeverity severity;
        char id[37];  /* UUID, set by event_new() */
        uint64_t seq; /* set when recorded */
        usec_t time;  /* CLOCK_REALTIME, set by event_new() */
        char *policy_ref;
        char *message;   /* one human line, English, sanitized text only */
        JsonWriter body; /* an object whose members are spliced into the event */
} Event;

Event *event_new(EventKind kind);
Event *event_free(Event *e);
DEFINE_POINTER_CLEANUP(Event, event_free);

int event_set_policy_ref(Event *e, const char *ref);
int event_set_message(Event *e, const char *format, ...) _printf_(2, 3);

/* The body writer, positioned inside the body object: write "key": value pairs. */
static inline JsonWriter *event_body(Event *e) {
        return &e->body;
}

typedef struct EventEnvelope {
        const char *host_name;
        const char *machine_id;
        const char *agent_version;
        const char *policy_hash;
        const char *user_name; /* user of the active seat session, or NULL */
        int64_t user_uid;      /* -1 when unknown */
        const char *session_id;
        const char *site_department; /* site = { ... } of mamori.conf; NULL: not set */
        const char *site_location;
} EventEnvelope;

/* One line of JSON (no newline). */
int event_render(Event *e, const EventEnvelope *env, char **ret, size_t *ret_len);
