/* SPDX-License-Identifier: MIT */
#pragma once

/* The connection to the system bus ($DBUS_SYSTEM_BUS_ADDRESS or
 * /run/dbus/system_bus_socket), shared by every module that talks to logind
 * or systemd. When the bus goes away, a new connection waits for the socket
 * to come back through inotify (sd-bus "watch bind"), not by polling; the
 * listeners hear "lost" and, once the new connection said Hello, "connected",
 * and set up their matches and state again. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct SysBus SysBus;

/* bus is the new connection, or NULL when the connection was lost. */
typedef void (*SysBusHandler)(SysBus *b, sd_bus *bus, void *userdata);

int sysbus_new(sd_event *event, SysBus **ret);
SysBus *sysbus_free(SysBus *b);
DEFINE_POINTER_CLEANUP(SysBus, sysbus_free);

int sysbus_add_listener(SysBus *b, SysBusHandler handler, void *userdata);
void sysbus_remove_listener(SysBus *b, SysBusHandler handler, void *userdata);
int sysbus_start(SysBus *b);

/* The connection once it is up (Hello done), else NULL. */
sd_bus *sysbus_get(SysBus *b);
/* How many times a connection came up: 1 after start, more after reconnects. */
unsigned sysbus_n_connections(SysBus *b);

/* Whether signal m comes from sender: the unique name of the peer's current
 * owner, or "org.freedesktop.DBus" for the bus itself; NULL when the owner is
 * not known (then nothing passes). A signal with a destination (sent to us
 * alone) never passes: our peers broadcast theirs. A forged signal is counted
 * and logged, at most once a minute. */
bool sysbus_signal_from(SysBus *b, sd_bus_message *m, const char *sender);
/* How many forged signals were dropped. */
uint64_t sysbus_n_dropped(SysBus *b);
