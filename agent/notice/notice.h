/* SPDX-License-Identifier: MIT */
#pragma once

/* Notices for the person at the seat (docs/notices.md).
 *
 * The last stage of the data flow, beside the event sinks: facts come in,
 * a signal goes out, nothing comes back. mamorid owns NOTICE_BUS_NAME on the
 * system bus (only root may, by units/org.mamori.Notice1.conf) and
 * broadcasts
 *
 *   org.mamori.Notice1.Notice(s id, s kind, a{ss} summary, a{ss} body, a{sv} details)
 *
 * on NOTICE_BUS_PATH; mamori-notify in each graphical session shows it.
 * The bus is connected lazily, on the first notice, and again after it went
 * away: nothing here wakes the loop while nothing happens, and nothing
 * waits (the connection, the name request and the signal are all queued). */

#include "event.h"
#include "notice-bus.h"
#include "notice-text.h"
#include "policy.h"
#include "usb-device.h"

typedef struct Manager Manager;
typedef struct NoticeSender NoticeSender;

int notice_sender_new(Manager *m, NoticeSender **ret);
NoticeSender *notice_sender_free(NoticeSender *n);

/* Beside the usb.blocked event of this decision (n may be NULL), on a plug
 * or when a device that was usable is blocked (was_usable: then it is news,
 * however recently the same device was told about for the same reason). */
void notice_usb_blocked(NoticeSender *n, const UsbDevice *d, const Decision *dec, const char *event_id,
                        bool was_usable);

/* Beside the usb.expiring event of this (allowing) decision. */
void notice_usb_expiring(NoticeSender *n, const UsbDevice *d, const Decision *dec, usec_t now, const char *event_id);

/* From manager_emit(): the kinds that need no more than the event (antivirus). */
void notice_event(NoticeSender *n, const Event *e);

/* One entry of mamorictl status's "checks": name "notices", state ok,
 * disabled or degraded (the last notice could not be sent, or the bus
 * refused us the name), and the counters. */
void notice_write_check(NoticeSender *n, JsonWriter *w);

/* Counters for status and tests. */
typedef struct NoticeStats {
        unsigned long long sent, deduplicated, held, undelivered;
} NoticeStats;
NoticeStats notice_sender_stats(const NoticeSender *n);
