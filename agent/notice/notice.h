/* SPDX-License-Identifier: MIT */
#pragma once

/* Notices for the person at the seat (docs/notices.md).
 *
 * An event sink (event-sink.h), after reporting: facts come in, a signal
 * goes out, nothing comes back. mamorid owns NOTICE_BUS_NAME on the
 * system bus (only root may, by units/org.mamori.Notice1.conf) and
 * broadcasts
 *
 *   org.mamori.Notice1.Notice(s id, s kind, a{ss} summary, a{ss} body, a{sv} details)
 *
 * on NOTICE_BUS_PATH; mamori-notify in each graphical session shows it.
 * The bus is connected lazily, on the first notice, and again after it went
 * away: nothing here wakes the loop while nothing happens, and nothing
 * waits (the connection, the name request and the signal are all queued). */

#include <systemd/sd-event.h>

#include "event-sink.h"
#include "event.h"
#include "notice-bus.h"
#include "notice-text.h"
#include "policy.h"
#include "usb-device.h"

typedef struct NoticeSender NoticeSender;

int notice_sender_new(sd_event *event, NoticeSender **ret);
NoticeSender *notice_sender_free(NoticeSender *n);
/* The policy in force: at start and after every reload (takes a reference).
 * Notices are off until there is one. */
void notice_sender_set_policy(NoticeSender *n, Policy *p);

/* The sink (event-sink.h): a notice for each event of a kind that has one
 * (notice.kinds). usb.blocked and usb.expiring need the device and the
 * decision in the EventContext; a usb.blocked of a plug already told about
 * (ctx->told) is not news. device.blocked and device.block_failed need
 * ctx->removable (a bus module leaves it NULL when the block is no news). */
EventSink notice_sink(NoticeSender *n);

/* One entry of mamorictl status's "checks": name "notices", state ok,
 * disabled or degraded (the last notice could not be sent, or the bus
 * refused us the name), and the counters. */
void notice_write_check(NoticeSender *n, JsonWriter *w);

/* Counters for status and tests. */
typedef struct NoticeStats {
        unsigned long long sent, deduplicated, held, undelivered;
} NoticeStats;
NoticeStats notice_sender_stats(const NoticeSender *n);
