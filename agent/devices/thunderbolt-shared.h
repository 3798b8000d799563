/* SPDX-License-Identifier: MIT */
#pragma once

/* What the Thunderbolt and FireWire enforcers (thunderbolt.c, firewire.c)
 * share: a udev monitor on one subsystem with a scan of the devices already
 * there, the table of devices seen (what was last reported, what mamorid
 * itself did to each), and sysfs writes. Prefix tbfw_. */

#include <stdbool.h>

#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "device-report.h"
#include "json.h"
#include "macro.h"
#include "timeutil.h"

typedef enum TbfwAction {
        TBFW_NONE, /* nothing reported yet */
        TBFW_ALLOWED,
        TBFW_BLOCKED,
        TBFW_BLOCK_FAILED,
} TbfwAction;

/* One device seen since it was plugged in (or since mamorid started). */
typedef struct TbfwSeen {
        char *syspath;
        TbfwAction reported;     /* the action of the last event about it */
        int reported_reason;     /* DecisionReason of that event; -1: none */
        bool undone;             /* mamorid de-authorized or unbound it */
        RemovableDevice *device; /* as last read (mamorictl devices); owned */
} TbfwSeen;

typedef struct TbfwTable {
        TbfwSeen *items;
        size_t n;
} TbfwTable;

/* The device's entry, added when missing (NULL: out of memory). */
TbfwSeen *tbfw_table_get(TbfwTable *t, const char *syspath);
void tbfw_table_forget(TbfwTable *t, const char *syspath);
void tbfw_table_done(TbfwTable *t);
/* Every device seen, for `mamorictl devices`: {"device", "decision"} each,
 * decided now under p (the action: what was done last). */
void tbfw_table_write(const TbfwTable *t, const Policy *p, JsonWriter *w);

typedef void (*TbfwHandler)(sd_device *dev, sd_device_action_t action, void *userdata);

typedef struct TbfwMonitor {
        sd_device_monitor *monitor;
        TbfwHandler handler;
        void *userdata;
        const char *subsystem;   /* static */
        sd_event_source *expiry; /* CLOCK_REALTIME: when an allow entry in use ends */
        usec_t due;              /* its time; USEC_INFINITY: not armed */
} TbfwMonitor;

/* Listens to the subsystem's uevents, then hands every present device to the
 * handler as an "add" (the same order as usb-monitor.c: nothing is lost). */
int tbfw_monitor_start(TbfwMonitor *m, sd_event *event, const char *subsystem, TbfwHandler handler, void *userdata);
void tbfw_monitor_stop(TbfwMonitor *m);
/* A decision changes by itself at t (Decision.changes_at: an entry ends):
 * every device of the subsystem is decided again then. */
void tbfw_monitor_due(TbfwMonitor *m, usec_t t);
/* Every present device of the subsystem, as an "add" (a reload). */
int tbfw_scan(const char *subsystem, TbfwHandler handler, void *userdata);

/* Writes value to dir/attr (an attribute: "authorized"). */
int tbfw_write_attr(const char *dir, const char *attr, const char *value);
/* Writes "name\n" to a bus file (bind, unbind, drivers_probe): O_APPEND, so
 * that a plain-file mock keeps every name written. */
int tbfw_write_name(const char *path, const char *name);
/* The first line of dir/attr, without its newline; -errno. */
int tbfw_read_attr(const char *dir, const char *attr, char *buf, size_t size);
