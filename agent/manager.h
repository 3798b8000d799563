/* SPDX-License-Identifier: MIT */
#pragma once

/* The one Manager: the event loop, the running policy and every module.
 * Data flows one way: sources -> classify -> decide -> act -> event -> sink. */

#include <signal.h>
#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "event-sink.h"
#include "event.h"
#include "hostinfo.h"
#include "policy.h"

typedef struct Reporting Reporting;
typedef struct UsbMonitor UsbMonitor;
typedef struct UsbEnforcer UsbEnforcer;
typedef struct MmcEnforcer MmcEnforcer;
typedef struct Control Control;
typedef struct NoticeSender NoticeSender;
typedef struct SysBus SysBus;
typedef struct SessionTracker SessionTracker;
typedef struct LockEnforcer LockEnforcer;
typedef struct AvMonitor AvMonitor;
typedef struct ThunderboltEnforcer ThunderboltEnforcer;
typedef struct FirewireEnforcer FirewireEnforcer;
typedef struct Quarantine Quarantine;
typedef struct AvDetect AvDetect;
typedef struct AvFullScan AvFullScan;
typedef struct AvScan AvScan;

typedef struct ManagerOptions {
        const char *config_path;
        const char *allow_dir;   /* NULL: "<dir of config>/allow.d" */
        const char *state_dir;   /* NULL: $STATE_DIRECTORY or /var/lib/mamori */
        const char *runtime_dir; /* NULL: $RUNTIME_DIRECTORY or /run/mamori */
} ManagerOptions;

/* "errors": [ { "file", "line", "message" } ] (at most 50; "errors_not_shown"). */
void manager_write_config_errors(JsonWriter *w, const ConfigErrors *errs);

typedef struct Manager {
        sd_event *event;
        char *config_path, *allow_dir, *state_dir, *runtime_dir;

        Policy *policy; /* never NULL after manager_start(): fail-safe if need be */
        ConfigErrors start_errors;
        /* The errors of the files on disk when the last reload was refused;
         * empty once a reload succeeds (mamorictl status, mamorictl reload). */
        ConfigErrors refused_errors;
        usec_t refused_at; /* CLOCK_REALTIME of that refusal */
        /* The files on disk were refused at start and the last good policy
         * (config-snapshot.h) is in force instead; saved at last_good_saved. */
        bool last_good;
        usec_t last_good_saved;
        char saved_hash[65]; /* the hash of the snapshot on disk, "" if none written */

        HostInfo host;
        /* Where every event goes, in order: reporting, notice, control (event-sink.h). */
        EventSinks *sinks;
        Reporting *reporting; /* spool, uplink, netwatch, heartbeat (agent/report/reporting.h) */

        UsbEnforcer *usb;
        UsbMonitor *usb_monitor;
        /* SD/MMC cards (agent/devices/mmc.h) */
        MmcEnforcer *mmc;
        /* optical drives (agent/devices/optical.h) */
        struct OpticalEnforcer *optical;

        Control *control;     /* mamorictl's socket; NULL if it could not be set up */
        NoticeSender *notice; /* tells the person at the seat (agent/notice/notice.c) */

        SysBus *sysbus;           /* the system bus, reconnected when lost */
        SessionTracker *sessions; /* logind's sessions; also names the user at seat0 */
        LockEnforcer *lock;       /* idle lock (lock.c) */
        AvMonitor *av;            /* antivirus pattern age and units (av.c) */
        /* Thunderbolt/USB4 and FireWire SBP-2 (agent/devices/thunderbolt.c, firewire.c) */
        ThunderboltEnforcer *thunderbolt;
        FirewireEnforcer *firewire;
        /* The network quarantine's state file and netguard's status (agent/quarantine/);
         * NULL if it could not be set up. An av.detection calls quarantine_on_detection(). */
        Quarantine *quarantine;
        AvDetect *av_detect;     /* the engines' detection reports (av-detect.c) */
        AvFullScan *av_fullscan; /* the age of the last full scan (av-fullscan.c) */
        AvScan *av_scan;         /* media scanned by clamd when mounted (av-scan.c) */

        sd_event_source *sig_term, *sig_int, *sig_hup, *sig_usr1, *sig_usr2;
        sd_event_source *status_timer; /* coalesces systemd's status line (manager_update_status()) */
        char *status_sent;             /* the status line systemd has */
        /* agent.posture (manager-posture.c): the next look, the daily one, and
         * the hash of the last posture recorded ("" before the first). */
        sd_event_source *posture_soon, *posture_daily;
        char posture_hash[65];
        usec_t started_at;
        usec_t started_at_realtime;
        unsigned long long n_events;
        bool stopping;
} Manager;

/* Blocks the signals mamorid handles (TERM, INT, HUP, USR1, USR2, CHLD):
 * first thing in main(), so that one sent while it starts waits for the
 * event loop instead of killing it. */
int manager_block_signals(sigset_t *ret_old);

int manager_new(const ManagerOptions *opt, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_POINTER_CLEANUP(Manager, manager_free);

/* Loads the policy (fail-closed on error), opens the sinks, starts every
 * module and tells systemd we are ready. */
int manager_start(Manager *m);
int manager_run(Manager *m);
/* SIGHUP: a new policy replaces the running one only when it is valid. */
int manager_reload(Manager *m);

/* Hands an event to every sink (reporting: seq, spool, then journal; notice;
 * control), with what it is about (ctx, may be NULL). Takes ownership.
 * Returns the first error of a sink, each logged already. */
int manager_emit_with(Manager *m, Event *e, const EventContext *ctx);
static inline int manager_emit(Manager *m, Event *e) {
        return manager_emit_with(m, e, NULL);
}
/* manager_emit_with() for a module that is given an emitter. */
EventEmitter manager_emitter(Manager *m);
/* Opens the spool and registers the reporting sink, first of all sinks;
 * m->policy must be set. Part of manager_start() (and the benchmarks). */
int manager_start_reporting(Manager *m);
/* The event as one line of JSON with this host's envelope (e->seq as set). */
int manager_render_event(Manager *m, Event *e, char **ret, size_t *ret_len);

/* systemd's status line (sd_notify STATUS=): manager_update_status() sends it
 * at most once a second, and only when its text changed, so that a flood of
 * plugs is not a flood of messages to PID 1 (whose notify socket, when full,
 * would block or drop them); manager_send_status() sends it now (start, reload). */
void manager_update_status(Manager *m);
void manager_send_status(Manager *m);
