/* SPDX-License-Identifier: MIT */
#pragma once

/* The D-Bus names of the notice path, shared by mamorid (agent/notice/notice.c)
 * and mamori-notify (tools/notify/). Documented in docs/notices.md and
 * units/org.mamori.Notice1.xml. */

#define NOTICE_BUS_NAME "org.mamori.Notice1"
#define NOTICE_BUS_PATH "/org/mamori/Notice1"
#define NOTICE_BUS_INTERFACE "org.mamori.Notice1"
#define NOTICE_BUS_SIGNAL "Notice"
#define NOTICE_BUS_SIGNATURE "ssa{ss}a{ss}a{sv}"

/* mamori-notify owns this on the session bus: one instance per session. */
#define NOTIFY_SESSION_BUS_NAME "org.mamori.Notify1"
