/* SPDX-License-Identifier: MIT */
/* The schema text of the SQLite and PostgreSQL backends, and the helpers both share. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-id128.h>

#include "macro.h"
#include "sha256.h"
#include "store-schema.h"

/* Version 1. Notes that apply to both:
 * - events.row_id is the arrival order and the export cursor; SQLite's
 *   AUTOINCREMENT never reuses a row_id, even after the retention deleted
 *   the newest rows.
 * - findings: at most one open row (closed_at IS NULL) per (machine_id,
 *   kind), held by a partial unique index.
 * - hosts.due_at: the next time findings_on_timer() has work (0: none); the
 *   sweep finds due hosts through the partial index, never a scan. */
static const char sqlite_v1[] = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
                                "CREATE TABLE events (\n"
                                "  row_id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  id TEXT NOT NULL UNIQUE,\n"
                                "  machine_id TEXT NOT NULL,\n"
                                "  seq INTEGER NOT NULL,\n"
                                "  time INTEGER NOT NULL,\n"
                                "  received_at INTEGER NOT NULL,\n"
                                "  kind TEXT NOT NULL,\n"
                                "  severity TEXT NOT NULL,\n"
                                "  policy_ref TEXT, user_name TEXT,\n"
                                "  device_vendor TEXT, device_product TEXT, device_serial TEXT,\n"
                                "  content_hash BLOB NOT NULL,\n"
                                "  json TEXT NOT NULL);\n"
                                "CREATE INDEX events_host ON events (machine_id, seq);\n"
                                "CREATE INDEX events_received ON events (received_at);\n"
                                "CREATE INDEX events_severity ON events (severity, received_at);\n"
                                "CREATE INDEX events_kind ON events (kind, received_at);\n"
                                "CREATE TABLE rejected (\n"
                                "  row_id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  received_at INTEGER NOT NULL,\n"
                                "  peer TEXT, machine_id TEXT,\n"
                                "  line_no INTEGER NOT NULL,\n"
                                "  reason TEXT NOT NULL,\n"
                                "  line_len INTEGER NOT NULL,\n"
                                "  raw BLOB NOT NULL);\n"
                                "CREATE INDEX rejected_received ON rejected (received_at);\n"
                                "CREATE TABLE hosts (\n"
                                "  machine_id TEXT PRIMARY KEY,\n"
                                "  host_name TEXT NOT NULL DEFAULT '',\n"
                                "  agent_version TEXT NOT NULL DEFAULT '',\n"
                                "  policy_hash TEXT NOT NULL DEFAULT '',\n"
                                "  cert_fingerprint TEXT NOT NULL DEFAULT '',\n"
                                "  first_seen INTEGER NOT NULL DEFAULT 0,\n"
                                "  last_seen INTEGER NOT NULL DEFAULT 0,\n"
                                "  last_event_time INTEGER NOT NULL DEFAULT 0,\n"
                                "  max_seq INTEGER NOT NULL DEFAULT 0,\n"
                                "  events INTEGER NOT NULL DEFAULT 0,\n"
                                "  heartbeat_interval_sec INTEGER NOT NULL DEFAULT 0,\n"
                                "  last_kind TEXT NOT NULL DEFAULT '',\n"
                                "  fail_closed INTEGER NOT NULL DEFAULT 0,\n"
                                "  silent INTEGER NOT NULL DEFAULT 0,\n"
                                "  silent_since INTEGER NOT NULL DEFAULT 0,\n"
                                "  stopped INTEGER NOT NULL DEFAULT 0,\n"
                                "  stopping_at INTEGER NOT NULL DEFAULT 0,\n"
                                "  spool_depth INTEGER NOT NULL DEFAULT 0,\n"
                                "  due_at INTEGER NOT NULL DEFAULT 0);\n"
                                "CREATE INDEX hosts_due ON hosts (due_at) WHERE due_at > 0;\n"
                                "CREATE TABLE gaps (\n"
                                "  machine_id TEXT NOT NULL REFERENCES hosts (machine_id) ON DELETE CASCADE,\n"
                                "  first_seq INTEGER NOT NULL,\n"
                                "  last_seq INTEGER NOT NULL,\n"
                                "  seen_at INTEGER NOT NULL,\n"
                                "  explained INTEGER NOT NULL DEFAULT 0,\n"
                                "  PRIMARY KEY (machine_id, first_seq));\n"
                                "CREATE TABLE findings (\n"
                                "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  machine_id TEXT NOT NULL,\n"
                                "  kind TEXT NOT NULL,\n"
                                "  severity TEXT NOT NULL,\n"
                                "  state TEXT NOT NULL,\n"
                                "  first_at INTEGER NOT NULL,\n"
                                "  last_at INTEGER NOT NULL,\n"
                                "  closed_at INTEGER,\n"
                                "  count INTEGER NOT NULL DEFAULT 1,\n"
                                "  detail TEXT NOT NULL DEFAULT '{}',\n"
                                "  message TEXT NOT NULL DEFAULT '');\n"
                                "CREATE UNIQUE INDEX findings_open ON findings (machine_id, kind) WHERE closed_at IS NULL;\n"
                                "CREATE INDEX findings_closed ON findings (closed_at) WHERE closed_at IS NOT NULL;\n"
                                "CREATE TABLE triage (\n"
                                "  finding_id INTEGER NOT NULL REFERENCES findings (id) ON DELETE CASCADE,\n"
                                "  at INTEGER NOT NULL,\n"
                                "  who TEXT NOT NULL,\n"
                                "  state TEXT NOT NULL,\n"
                                "  comment TEXT NOT NULL DEFAULT '');\n"
                                "CREATE INDEX triage_finding ON triage (finding_id, at);\n";

/* PostgreSQL: events is partitioned by month on received_at (µs, a bigint
 * range; partitions are events_YYYYMM, made by the backend ahead of need).
 * A unique index on a partitioned table must hold the partition key, so the
 * de-duplication key lives in event_ids (id PRIMARY KEY, with the content
 * hash), inserted first with ON CONFLICT DO NOTHING: two instances storing
 * the same event serialize on that row, and the loser sees a duplicate. */
static const char postgres_v1[] = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
                                  "CREATE TABLE event_ids (\n"
                                  "  id TEXT PRIMARY KEY,\n"
                                  "  received_at BIGINT NOT NULL,\n"
                                  "  content_hash BYTEA NOT NULL);\n"
                                  "CREATE INDEX event_ids_received ON event_ids (received_at);\n"
                                  "CREATE SEQUENCE events_row_id_seq;\n"
                                  "CREATE TABLE events (\n"
                                  "  row_id BIGINT NOT NULL DEFAULT nextval('events_row_id_seq'),\n"
                                  "  id TEXT NOT NULL,\n"
                                  "  machine_id TEXT NOT NULL,\n"
                                  "  seq BIGINT NOT NULL,\n"
                                  "  time BIGINT NOT NULL,\n"
                                  "  received_at BIGINT NOT NULL,\n"
                                  "  kind TEXT NOT NULL,\n"
                                  "  severity TEXT NOT NULL,\n"
                                  "  policy_ref TEXT, user_name TEXT,\n"
                                  "  device_vendor TEXT, device_product TEXT, device_serial TEXT,\n"
                                  "  content_hash BYTEA NOT NULL,\n"
                                  "  json TEXT NOT NULL\n"
                                  ") PARTITION BY RANGE (received_at);\n"
                                  "ALTER SEQUENCE events_row_id_seq OWNED BY events.row_id;\n"
                                  "CREATE INDEX events_row ON events (row_id);\n"
                                  "CREATE INDEX events_id ON events (id);\n"
                                  "CREATE INDEX events_host ON events (machine_id, seq);\n"
                                  "CREATE INDEX events_received ON events (received_at);\n"
                                  "CREATE INDEX events_severity ON events (severity, received_at);\n"
                                  "CREATE INDEX events_kind ON events (kind, received_at);\n"
                                  "CREATE TABLE rejected (\n"
                                  "  row_id BIGSERIAL PRIMARY KEY,\n"
                                  "  received_at BIGINT NOT NULL,\n"
                                  "  peer TEXT, machine_id TEXT,\n"
                                  "  line_no BIGINT NOT NULL,\n"
                                  "  reason TEXT NOT NULL,\n"
                                  "  line_len BIGINT NOT NULL,\n"
                                  "  raw BYTEA NOT NULL);\n"
                                  "CREATE INDEX rejected_received ON rejected (received_at);\n"
                                  "CREATE TABLE hosts (\n"
                                  "  machine_id TEXT PRIMARY KEY,\n"
                                  "  host_name TEXT NOT NULL DEFAULT '',\n"
                                  "  agent_version TEXT NOT NULL DEFAULT '',\n"
                                  "  policy_hash TEXT NOT NULL DEFAULT '',\n"
                                  "  cert_fingerprint TEXT NOT NULL DEFAULT '',\n"
                                  "  first_seen BIGINT NOT NULL DEFAULT 0,\n"
                                  "  last_seen BIGINT NOT NULL DEFAULT 0,\n"
                                  "  last_event_time BIGINT NOT NULL DEFAULT 0,\n"
                                  "  max_seq BIGINT NOT NULL DEFAULT 0,\n"
                                  "  events BIGINT NOT NULL DEFAULT 0,\n"
                                  "  heartbeat_interval_sec BIGINT NOT NULL DEFAULT 0,\n"
                                  "  last_kind TEXT NOT NULL DEFAULT '',\n"
                                  "  fail_closed BIGINT NOT NULL DEFAULT 0,\n"
                                  "  silent BIGINT NOT NULL DEFAULT 0,\n"
                                  "  silent_since BIGINT NOT NULL DEFAULT 0,\n"
                                  "  stopped BIGINT NOT NULL DEFAULT 0,\n"
                                  "  stopping_at BIGINT NOT NULL DEFAULT 0,\n"
                                  "  spool_depth BIGINT NOT NULL DEFAULT 0,\n"
                                  "  due_at BIGINT NOT NULL DEFAULT 0);\n"
                                  "CREATE INDEX hosts_due ON hosts (due_at) WHERE due_at > 0;\n"
                                  "CREATE TABLE gaps (\n"
                                  "  machine_id TEXT NOT NULL REFERENCES hosts (machine_id) ON DELETE CASCADE,\n"
                                  "  first_seq BIGINT NOT NULL,\n"
                                  "  last_seq BIGINT NOT NULL,\n"
                                  "  seen_at BIGINT NOT NULL,\n"
                                  "  explained BIGINT NOT NULL DEFAULT 0,\n"
                                  "  PRIMARY KEY (machine_id, first_seq));\n"
                                  "CREATE TABLE findings (\n"
                                  "  id BIGSERIAL PRIMARY KEY,\n"
                                  "  machine_id TEXT NOT NULL,\n"
                                  "  kind TEXT NOT NULL,\n"
                                  "  severity TEXT NOT NULL,\n"
                                  "  state TEXT NOT NULL,\n"
                                  "  first_at BIGINT NOT NULL,\n"
                                  "  last_at BIGINT NOT NULL,\n"
                                  "  closed_at BIGINT,\n"
                                  "  count BIGINT NOT NULL DEFAULT 1,\n"
                                  "  detail TEXT NOT NULL DEFAULT '{}',\n"
                                  "  message TEXT NOT NULL DEFAULT '');\n"
                                  "CREATE UNIQUE INDEX findings_open ON findings (machine_id, kind) WHERE closed_at IS NULL;\n"
                                  "CREATE INDEX findings_closed ON findings (closed_at) WHERE closed_at IS NOT NULL;\n"
                                  "CREATE TABLE triage (\n"
                                  "  finding_id BIGINT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,\n"
                                  "  at BIGINT NOT NULL,\n"
                                  "  who TEXT NOT NULL,\n"
                                  "  state TEXT NOT NULL,\n"
                                  "  comment TEXT NOT NULL DEFAULT '');\n"
                                  "CREATE INDEX triage_finding ON triage (finding_id, at);\n";

/* Version 2: the review console's own tables (issue 13). The console
 * writes only these; the feed (events, findings) stays the store's.
 * - users: local accounts, password_hash is crypt(3) yescrypt ("$y$…");
 * - sessions: the SHA-256 of the cookie's 256-bit id, never the id itself,
 *   so a copy of the table opens no session; idle (last_seen) and absolute
 *   (expires_at) expiry are checked by the server;
 * - audit: logins, failed logins, exports, triage, approvals, settings;
 *   no route of the console changes or deletes a row;
 * - triage_state / triage_log: the triage of events and findings (target
 *   'event' with the event id, or 'finding' with the finding id);
 * - approvals: what the console produced for the admin to distribute;
 * - settings: e.g. the current policy hashes the team marks;
 * - events.department: the envelope's site.department, for the filter.
 * v1's triage table was never written: dropped. */
static const char sqlite_v2[] = "CREATE TABLE users (\n"
                                "  name TEXT PRIMARY KEY,\n"
                                "  role TEXT NOT NULL,\n"
                                "  password_hash TEXT NOT NULL,\n"
                                "  disabled INTEGER NOT NULL DEFAULT 0,\n"
                                "  created_at INTEGER NOT NULL,\n"
                                "  updated_at INTEGER NOT NULL,\n"
                                "  failed_logins INTEGER NOT NULL DEFAULT 0,\n"
                                "  locked_until INTEGER NOT NULL DEFAULT 0,\n"
                                "  last_login INTEGER NOT NULL DEFAULT 0);\n"
                                "CREATE TABLE sessions (\n"
                                "  id_hash TEXT PRIMARY KEY,\n"
                                "  user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,\n"
                                "  csrf TEXT NOT NULL,\n"
                                "  created_at INTEGER NOT NULL,\n"
                                "  last_seen INTEGER NOT NULL,\n"
                                "  expires_at INTEGER NOT NULL,\n"
                                "  peer TEXT NOT NULL DEFAULT '');\n"
                                "CREATE INDEX sessions_user ON sessions (user_name);\n"
                                "CREATE INDEX sessions_expires ON sessions (expires_at);\n"
                                "CREATE TABLE audit (\n"
                                "  row_id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  at INTEGER NOT NULL,\n"
                                "  user_name TEXT NOT NULL DEFAULT '',\n"
                                "  action TEXT NOT NULL,\n"
                                "  target TEXT,\n"
                                "  detail TEXT NOT NULL DEFAULT '{}',\n"
                                "  peer TEXT NOT NULL DEFAULT '');\n"
                                "CREATE INDEX audit_at ON audit (at);\n"
                                "CREATE TABLE triage_state (\n"
                                "  target TEXT NOT NULL,\n"
                                "  target_id TEXT NOT NULL,\n"
                                "  state TEXT NOT NULL,\n"
                                "  assignee TEXT,\n"
                                "  updated_at INTEGER NOT NULL,\n"
                                "  updated_by TEXT NOT NULL,\n"
                                "  PRIMARY KEY (target, target_id));\n"
                                "CREATE INDEX triage_state_state ON triage_state (target, state);\n"
                                "CREATE TABLE triage_log (\n"
                                "  row_id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  target TEXT NOT NULL,\n"
                                "  target_id TEXT NOT NULL,\n"
                                "  at INTEGER NOT NULL,\n"
                                "  user_name TEXT NOT NULL,\n"
                                "  action TEXT NOT NULL,\n"
                                "  state TEXT NOT NULL,\n"
                                "  assignee TEXT,\n"
                                "  comment TEXT NOT NULL DEFAULT '');\n"
                                "CREATE INDEX triage_log_target ON triage_log (target, target_id, at);\n"
                                "CREATE TABLE approvals (\n"
                                "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                                "  created_at INTEGER NOT NULL,\n"
                                "  created_by TEXT NOT NULL,\n"
                                "  vendor TEXT NOT NULL,\n"
                                "  product TEXT NOT NULL,\n"
                                "  serial TEXT,\n"
                                "  any_serial INTEGER NOT NULL DEFAULT 0,\n"
                                "  label TEXT,\n"
                                "  approved_by TEXT NOT NULL,\n"
                                "  approved_on TEXT NOT NULL,\n"
                                "  expires TEXT,\n"
                                "  ticket TEXT,\n"
                                "  access TEXT NOT NULL DEFAULT 'read-write',\n"
                                "  allow_text TEXT NOT NULL);\n"
                                "CREATE INDEX approvals_device ON approvals (vendor, product, serial);\n"
                                "CREATE TABLE settings (\n"
                                "  key TEXT PRIMARY KEY,\n"
                                "  value TEXT NOT NULL,\n"
                                "  updated_at INTEGER NOT NULL,\n"
                                "  updated_by TEXT NOT NULL);\n"
                                "DROP TABLE triage;\n"
                                "ALTER TABLE events ADD COLUMN department TEXT\n"
                                "  GENERATED ALWAYS AS (json_extract(json, '$.site.department')) VIRTUAL;\n"
                                "CREATE INDEX events_department ON events (department, received_at);\n";

static const char postgres_v2[] = "CREATE TABLE users (\n"
                                  "  name TEXT PRIMARY KEY,\n"
                                  "  role TEXT NOT NULL,\n"
                                  "  password_hash TEXT NOT NULL,\n"
                                  "  disabled BIGINT NOT NULL DEFAULT 0,\n"
                                  "  created_at BIGINT NOT NULL,\n"
                                  "  updated_at BIGINT NOT NULL,\n"
                                  "  failed_logins BIGINT NOT NULL DEFAULT 0,\n"
                                  "  locked_until BIGINT NOT NULL DEFAULT 0,\n"
                                  "  last_login BIGINT NOT NULL DEFAULT 0);\n"
                                  "CREATE TABLE sessions (\n"
                                  "  id_hash TEXT PRIMARY KEY,\n"
                                  "  user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,\n"
                                  "  csrf TEXT NOT NULL,\n"
                                  "  created_at BIGINT NOT NULL,\n"
                                  "  last_seen BIGINT NOT NULL,\n"
                                  "  expires_at BIGINT NOT NULL,\n"
                                  "  peer TEXT NOT NULL DEFAULT '');\n"
                                  "CREATE INDEX sessions_user ON sessions (user_name);\n"
                                  "CREATE INDEX sessions_expires ON sessions (expires_at);\n"
                                  "CREATE TABLE audit (\n"
                                  "  row_id BIGSERIAL PRIMARY KEY,\n"
                                  "  at BIGINT NOT NULL,\n"
                                  "  user_name TEXT NOT NULL DEFAULT '',\n"
                                  "  action TEXT NOT NULL,\n"
                                  "  target TEXT,\n"
                                  "  detail TEXT NOT NULL DEFAULT '{}',\n"
                                  "  peer TEXT NOT NULL DEFAULT '');\n"
                                  "CREATE INDEX audit_at ON audit (at);\n"
                                  "CREATE TABLE triage_state (\n"
                                  "  target TEXT NOT NULL,\n"
                                  "  target_id TEXT NOT NULL,\n"
                                  "  state TEXT NOT NULL,\n"
                                  "  assignee TEXT,\n"
                                  "  updated_at BIGINT NOT NULL,\n"
                                  "  updated_by TEXT NOT NULL,\n"
                                  "  PRIMARY KEY (target, target_id));\n"
                                  "CREATE INDEX triage_state_state ON triage_state (target, state);\n"
                                  "CREATE TABLE triage_log (\n"
                                  "  row_id BIGSERIAL PRIMARY KEY,\n"
                                  "  target TEXT NOT NULL,\n"
                                  "  target_id TEXT NOT NULL,\n"
                                  "  at BIGINT NOT NULL,\n"
                                  "  user_name TEXT NOT NULL,\n"
                                  "  action TEXT NOT NULL,\n"
                                  "  state TEXT NOT NULL,\n"
                                  "  assignee TEXT,\n"
                                  "  comment TEXT NOT NULL DEFAULT '');\n"
                                  "CREATE INDEX triage_log_target ON triage_log (target, target_id, at);\n"
                                  "CREATE TABLE approvals (\n"
                                  "  id BIGSERIAL PRIMARY KEY,\n"
                                  "  created_at BIGINT NOT NULL,\n"
                                  "  created_by TEXT NOT NULL,\n"
                                  "  vendor TEXT NOT NULL,\n"
                                  "  product TEXT NOT NULL,\n"
                                  "  serial TEXT,\n"
                                  "  any_serial BIGINT NOT NULL DEFAULT 0,\n"
                                  "  label TEXT,\n"
                                  "  approved_by TEXT NOT NULL,\n"
                                  "  approved_on TEXT NOT NULL,\n"
                                  "  expires TEXT,\n"
                                  "  ticket TEXT,\n"
                                  "  access TEXT NOT NULL DEFAULT 'read-write',\n"
                                  "  allow_text TEXT NOT NULL);\n"
                                  "CREATE INDEX approvals_device ON approvals (vendor, product, serial);\n"
                                  "CREATE TABLE settings (\n"
                                  "  key TEXT PRIMARY KEY,\n"
                                  "  value TEXT NOT NULL,\n"
                                  "  updated_at BIGINT NOT NULL,\n"
                                  "  updated_by TEXT NOT NULL);\n"
                                  "DROP TABLE triage;\n"
                                  "ALTER TABLE events ADD COLUMN department TEXT\n"
                                  "  GENERATED ALWAYS AS ((json::jsonb -> 'site') ->> 'department') STORED;\n"
                                  "CREATE INDEX events_department ON events (department, received_at);\n";

/* Version 3: the console's event and finding lists (issue 13, events
 * slice): the indexes its filters and keyset paging use (received_at,
 * row_id DESC; tools/bench/bench-console-events measures them at 10^7).
 * One (filter, received_at) index per filter: the planner walks it newest
 * first and stops at the page. In SQLite every index ends with the rowid
 * (row_id), so (kind, received_at) of v1 is (kind, received_at, row_id).
 * The clause filter is a prefix, made a range: PostgreSQL's index holds
 * the bytes' order (COLLATE "C"), whatever the database's collation.
 * hosts_name: `host=<name>`; findings_machine: the findings of a host. */
static const char sqlite_v3[] = "CREATE INDEX events_machine_received ON events (machine_id, received_at);\n"
                                "CREATE INDEX events_user ON events (user_name, received_at);\n"
                                "CREATE INDEX events_device ON events (device_vendor, device_product, received_at);\n"
                                "CREATE INDEX events_clause ON events (policy_ref, received_at);\n"
                                "CREATE INDEX hosts_name ON hosts (host_name);\n"
                                "CREATE INDEX findings_machine ON findings (machine_id, id);\n";
static const char postgres_v3[] = "CREATE INDEX events_machine_received ON events (machine_id, received_at);\n"
                                  "CREATE INDEX events_user ON events (user_name, received_at);\n"
                                  "CREATE INDEX events_device ON events (device_vendor, device_product, received_at);\n"
                                  "CREATE INDEX events_clause ON events (policy_ref COLLATE \"C\", received_at);\n"
                                  "CREATE INDEX hosts_name ON hosts (host_name);\n"
                                  "CREATE INDEX findings_machine ON findings (machine_id, id);\n";

/* Version 4: the console's fleet pages (issue 13, fleet slice), so that the
 * overview never scans events (api-fleet.c, console_fleet_refresh):
 * - console_fleet_state: the high-water events.row_id the rollups hold;
 * - console_daily: events per (day in the console's zone as YYYYMMDD, kind,
 *   severity, policy_ref, department), '' for none;
 * - console_monthly: events per (YYYYMM, policy_ref, dim 'host'|'user',
 *   name): the monthly report's top PCs and users per clause;
 * - console_hosts: the last agent.posture per host, summarised (its row in
 *   events is posture_row);
 * - console_device_daily, console_device_seen, console_devices: usb.blocked
 *   per device ('' for no serial) and day; per device and host or user,
 *   with the first and last time; per device, with its last row (the
 *   device's strings). */
static const char sqlite_v4[] = "CREATE TABLE console_fleet_state (\n"
                                "  id INTEGER PRIMARY KEY,\n"
                                "  last_row INTEGER NOT NULL DEFAULT 0,\n"
                                "  updated_at INTEGER NOT NULL DEFAULT 0);\n"
                                "INSERT INTO console_fleet_state (id, last_row, updated_at) VALUES (1, 0, 0);\n"
                                "CREATE TABLE console_daily (\n"
                                "  day INTEGER NOT NULL,\n"
                                "  kind TEXT NOT NULL,\n"
                                "  severity TEXT NOT NULL,\n"
                                "  policy_ref TEXT NOT NULL DEFAULT '',\n"
                                "  department TEXT NOT NULL DEFAULT '',\n"
                                "  n INTEGER NOT NULL DEFAULT 0,\n"
                                "  PRIMARY KEY (day, kind, severity, policy_ref, department));\n"
                                "CREATE TABLE console_monthly (\n"
                                "  month INTEGER NOT NULL,\n"
                                "  policy_ref TEXT NOT NULL,\n"
                                "  dim TEXT NOT NULL,\n"
                                "  name TEXT NOT NULL,\n"
                                "  n INTEGER NOT NULL DEFAULT 0,\n"
                                "  PRIMARY KEY (month, policy_ref, dim, name));\n"
                                "CREATE TABLE console_hosts (\n"
                                "  machine_id TEXT PRIMARY KEY,\n"
                                "  posture_row INTEGER NOT NULL DEFAULT 0,\n"
                                "  posture_at INTEGER NOT NULL DEFAULT 0,\n"
                                "  department TEXT,\n"
                                "  verdict TEXT,\n"
                                "  av_state TEXT,\n"
                                "  av_age_tenths INTEGER,\n"
                                "  av_stale INTEGER NOT NULL DEFAULT 0);\n"
                                "CREATE INDEX console_hosts_stale ON console_hosts (av_stale) WHERE av_stale = 1;\n"
                                "CREATE INDEX console_hosts_department ON console_hosts (department);\n"
                                "CREATE INDEX findings_host ON findings (machine_id, id);\n"
                                "CREATE INDEX approvals_expires ON approvals (expires) WHERE expires IS NOT NULL;\n"
                                "CREATE TABLE console_device_daily (\n"
                                "  day INTEGER NOT NULL,\n"
                                "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                "  n INTEGER NOT NULL DEFAULT 0,\n"
                                "  PRIMARY KEY (day, vendor, product, serial));\n"
                                "CREATE TABLE console_device_seen (\n"
                                "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                "  dim TEXT NOT NULL, name TEXT NOT NULL,\n"
                                "  n INTEGER NOT NULL DEFAULT 0,\n"
                                "  first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, last_row INTEGER NOT NULL,\n"
                                "  PRIMARY KEY (vendor, product, serial, dim, name));\n"
                                "CREATE TABLE console_devices (\n"
                                "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                "  n INTEGER NOT NULL DEFAULT 0,\n"
                                "  first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, last_row INTEGER NOT NULL,\n"
                                "  PRIMARY KEY (vendor, product, serial));\n";
static const char postgres_v4[] = "CREATE TABLE console_fleet_state (\n"
                                  "  id INTEGER PRIMARY KEY,\n"
                                  "  last_row BIGINT NOT NULL DEFAULT 0,\n"
                                  "  updated_at BIGINT NOT NULL DEFAULT 0);\n"
                                  "INSERT INTO console_fleet_state (id, last_row, updated_at) VALUES (1, 0, 0);\n"
                                  "CREATE TABLE console_daily (\n"
                                  "  day BIGINT NOT NULL,\n"
                                  "  kind TEXT NOT NULL,\n"
                                  "  severity TEXT NOT NULL,\n"
                                  "  policy_ref TEXT NOT NULL DEFAULT '',\n"
                                  "  department TEXT NOT NULL DEFAULT '',\n"
                                  "  n BIGINT NOT NULL DEFAULT 0,\n"
                                  "  PRIMARY KEY (day, kind, severity, policy_ref, department));\n"
                                  "CREATE TABLE console_monthly (\n"
                                  "  month BIGINT NOT NULL,\n"
                                  "  policy_ref TEXT NOT NULL,\n"
                                  "  dim TEXT NOT NULL,\n"
                                  "  name TEXT NOT NULL,\n"
                                  "  n BIGINT NOT NULL DEFAULT 0,\n"
                                  "  PRIMARY KEY (month, policy_ref, dim, name));\n"
                                  "CREATE TABLE console_hosts (\n"
                                  "  machine_id TEXT PRIMARY KEY,\n"
                                  "  posture_row BIGINT NOT NULL DEFAULT 0,\n"
                                  "  posture_at BIGINT NOT NULL DEFAULT 0,\n"
                                  "  department TEXT,\n"
                                  "  verdict TEXT,\n"
                                  "  av_state TEXT,\n"
                                  "  av_age_tenths BIGINT,\n"
                                  "  av_stale BIGINT NOT NULL DEFAULT 0);\n"
                                  "CREATE INDEX console_hosts_stale ON console_hosts (av_stale) WHERE av_stale = 1;\n"
                                  "CREATE INDEX console_hosts_department ON console_hosts (department);\n"
                                  "CREATE INDEX findings_host ON findings (machine_id, id);\n"
                                  "CREATE INDEX approvals_expires ON approvals (expires) WHERE expires IS NOT NULL;\n"
                                  "CREATE TABLE console_device_daily (\n"
                                  "  day BIGINT NOT NULL,\n"
                                  "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                  "  n BIGINT NOT NULL DEFAULT 0,\n"
                                  "  PRIMARY KEY (day, vendor, product, serial));\n"
                                  "CREATE TABLE console_device_seen (\n"
                                  "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                  "  dim TEXT NOT NULL, name TEXT NOT NULL,\n"
                                  "  n BIGINT NOT NULL DEFAULT 0,\n"
                                  "  first_at BIGINT NOT NULL, last_at BIGINT NOT NULL, last_row BIGINT NOT NULL,\n"
                                  "  PRIMARY KEY (vendor, product, serial, dim, name));\n"
                                  "CREATE TABLE console_devices (\n"
                                  "  vendor TEXT NOT NULL, product TEXT NOT NULL, serial TEXT NOT NULL,\n"
                                  "  n BIGINT NOT NULL DEFAULT 0,\n"
                                  "  first_at BIGINT NOT NULL, last_at BIGINT NOT NULL, last_row BIGINT NOT NULL,\n"
                                  "  PRIMARY KEY (vendor, product, serial));\n";

static const StoreMigration sqlite_migrations[] = {
        { 1, sqlite_v1 },
        { 2, sqlite_v2 },
        { 3, sqlite_v3 },
        { 4, sqlite_v4 },
};
static const StoreMigration postgres_migrations[] = {
        { 1, postgres_v1 },
        { 2, postgres_v2 },
        { 3, postgres_v3 },
        { 4, postgres_v4 },
};

const StoreMigration *store_schema_migrations(StoreDialect d, size_t *n) {
        if (d == STORE_DIALECT_POSTGRES) {
                *n = ELEMENTSOF(postgres_migrations);
                return postgres_migrations;
        }
        *n = ELEMENTSOF(sqlite_migrations);
        return sqlite_migrations;
}

const char *const store_severity_classes[5] = { "info", "low", "medium", "high", "critical" };

unsigned store_retention_days(const RetentionConfig *rc, const char *severity) {
        const unsigned days[5] = { rc->info_days, rc->low_days, rc->medium_days, rc->high_days, rc->critical_days };
        for (size_t i = 0; i < ELEMENTSOF(days); i++)
                if (severity && strcmp(severity, store_severity_classes[i]) == 0)
                        return days[i];
        return 0; /* unknown: kept */
}

void store_new_uuid(char ret[37]) {
        sd_id128_t id;
        if (sd_id128_randomize(&id) < 0)
                abort(); /* getrandom() failing: nothing sensible to store under */
        sd_id128_to_uuid_string(id, ret);
}

int store_cursor_parse(const char *s, int64_t *ret) {
        if (!s || !*s) {
                *ret = 0;
                return 0;
        }
        if (strlen(s) > 19 || strspn(s, "0123456789") != strlen(s))
                return -EINVAL;
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || *end || v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int null_strcmp(const char *a, const char *b) {
        return strcmp(a ?: "", b ?: "");
}

typedef struct OrderCtx {
        const StoreEvent *ev;
} OrderCtx;

static int event_order_cmp(const void *a, const void *b, void *userdata) {
        const StoreEvent *ev = ((OrderCtx *) userdata)->ev;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        int r = null_strcmp(ev[i].machine_id, ev[j].machine_id);
        if (r != 0)
                return r;
        if (ev[i].seq != ev[j].seq)
                return ev[i].seq < ev[j].seq ? -1 : 1;
        return i < j ? -1 : i > j;
}

void store_event_order(const StoreBatch *b, size_t *idx) {
        OrderCtx ctx = { b->events };
        for (size_t i = 0; i < b->n_events; i++)
                idx[i] = i;
        qsort_r(idx, b->n_events, sizeof(size_t), event_order_cmp, &ctx);
}

int store_collector_event(const FindingChange *f, const HostState *h, int64_t now_us, char uuid[37], char *kind,
                          size_t kind_size, char *buf, size_t size, StoreEvent *ev) {
        store_new_uuid(uuid);
        int n = snprintf(kind, kind_size, "collector.%s", f->kind);
        if (n < 0 || (size_t) n >= kind_size)
                return -ENOBUFS;
        int len = findings_event_json(f, h, uuid, now_us, buf, size);
        if (len < 0)
                return len;
        *ev = (StoreEvent){
                .id = uuid,
                .machine_id = h->machine_id,
                .seq = 0,
                .time_us = now_us,
                .kind = kind,
                .severity = f->severity,
                .json = buf,
                .json_len = (size_t) len,
        };
        sha256(buf, (size_t) len, ev->content_hash);
        return 0;
}

void store_month_bounds(int64_t t_us, int64_t *start_us, int64_t *end_us, unsigned *yyyymm) {
        time_t t = (time_t) (t_us >= 0 ? t_us / 1000000 : (t_us - 999999) / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        struct tm start = { .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1 };
        struct tm end = { .tm_year = tm.tm_year + (tm.tm_mon == 11), .tm_mon = (tm.tm_mon + 1) % 12, .tm_mday = 1 };
        *start_us = (int64_t) timegm(&start) * 1000000;
        *end_us = (int64_t) timegm(&end) * 1000000;
        if (yyyymm)
                *yyyymm = (unsigned) (tm.tm_year + 1900) * 100 + (unsigned) tm.tm_mon + 1;
}
