"""The collector's package in the guest (issue 12), a scenario of
tests/vm/test_e2e.py in its one guest boot:

  run(t, check, deb)  a fresh `dpkg -i` of mamori-collector next to the agent;
      the town's CA made again for 127.0.0.1 (`init-ca --force`), the PC's key
      and request made by openssl and signed by `enroll` (docs/collector.md);
      the agent's collector section pointed at https://127.0.0.1:8443/v1/events
      with that certificate (require_name_match on), heartbeat every 2 s;
      then, on SQLite:
        every event mamorid records arrives once, in seq order, identical to
        the journal's, nothing rejected;
        `systemctl stop mamori` -> host.stopped after stopped_after_sec;
        the uplink frozen (SIGSTOP: heartbeats stop, no agent.stopping) ->
        host.silent after 2 x heartbeat + silent_margin_sec, host.returned
        when it goes on;
      and the same delivery and host.stopped on PostgreSQL (the image's
      cluster, a role and a database made as the docs say, the conninfo
      file root:mamori-collector 0640).
      The agent's configuration and the test's own collector are put back
      afterwards: the later steps see the guest as before.

Every read of the database goes through `mamori-collectorctl` run as root,
as an administrator does (its configuration holds files of the collector's
group). The guest has no network device: everything is on its loopback."""
import collections
import json
import os
import time

from vmtest import log

PORT = 8443
STOPPED_AFTER = 5
SILENT_MARGIN = 3
HEARTBEAT = 2
# Findings come from the collector's timer (sweep_interval_sec = 1) once their
# deadline is past; under TCG the guest is slow: this much later still passes.
SLACK = 15
PG_PASSWORD = "vmtest-only-not-a-secret"

COLLECTOR_CONF = """\
# written by tests/vm/e2e_collector.py
listen = [ "127.0.0.1:%(port)d" ];
tls = {
  cert_file = "/etc/mamori-collector/tls/server.crt";
  key_file = "/etc/mamori-collector/tls/server.key";
  client_ca_file = "/etc/mamori-collector/tls/clients-ca.crt";
  require_client_cert = true;
  require_name_match = true;
};
%(storage)s
findings = {
  silent_margin_sec = %(margin)d;
  stopped_after_sec = %(stopped)d;
  sweep_interval_sec = 1;
};
"""
SQLITE = 'storage = { backend = "sqlite"; path = "/var/lib/mamori-collector/collector.db"; };'
POSTGRES = 'storage = { backend = "postgresql"; conninfo_file = "/etc/mamori-collector/pg.conninfo"; };'

AGENT_CONF = """
# added by tests/vm/e2e_collector.py: mamori-collectord on the guest's loopback
collector = {
  url = "https://127.0.0.1:%d/v1/events";
  ca_file = "/etc/mamori/collector-ca.pem";
  client_cert = "/etc/mamori/client.pem";
  client_key = "/etc/mamori/client.key";
  heartbeat_interval = "%%ds";
};
""" % PORT

# The PC's side of the enrolment (docs/collector.md): its key never leaves it.
ENROL = """set -e
id=$(cat /etc/machine-id)
install -m 0640 -g mamori-uplink /dev/null /etc/mamori/client.key
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout /etc/mamori/client.key -subj "/CN=$id" -out /run/vmtest-pc.csr 2>/dev/null
mamori-collectorctl enroll --csr /run/vmtest-pc.csr --machine-id $id --out /etc/mamori/client.pem
install -m 0644 /etc/mamori-collector/tls/clients-ca.crt /etc/mamori/collector-ca.pem
openssl verify -CAfile /etc/mamori/collector-ca.pem -purpose sslclient /etc/mamori/client.pem
stat -c '%a %U:%G %n' /etc/mamori/client.key
"""

# The database, as docs/collector.md says (as the postgres superuser); the
# image's cluster, not started at boot (vmtest.sh). No TLS to a database on
# the same host's loopback.
PG_SETUP = """set -e
c=$(pg_lsclusters -h | head -1)
if [ -z "$c" ]; then pg_createcluster 15 main >/dev/null; c=$(pg_lsclusters -h | head -1); fi
set -- $c
systemctl start postgresql@$1-$2.service   # (started early, without waiting: see run())
# createuser and createdb in one psql (each program start costs under TCG)
runuser -u postgres -- psql -qAt -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE mamori_collector LOGIN PASSWORD '%(pw)s';
CREATE DATABASE mamori OWNER mamori_collector ENCODING 'UTF8' TEMPLATE template0 LOCALE 'C';
SQL
install -m 0640 -g mamori-collector /dev/null /etc/mamori-collector/pg.conninfo
echo 'host=127.0.0.1 port=5432 dbname=mamori user=mamori_collector password=%(pw)s sslmode=disable' \
    >/etc/mamori-collector/pg.conninfo
pg_lsclusters -h
""" % {"pw": PG_PASSWORD}

LISTENING = ("python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(2); "
             "sys.exit(s.connect_ex((\"127.0.0.1\", %d)) != 0)'" % PORT)


def journal_cursor(t):
    """The journal's position now: events() reads from there, not the whole boot's
    journal (long by now, and slow to read under TCG)."""
    rc, out, _ = t.g("journalctl -q -n 1 -o json", check=True)
    return json.loads(out)["__CURSOR"]


def events_after(t, cursor):
    """mamorid's events recorded after cursor, from the journal (as E2E.events())."""
    rc, out, _ = t.g("journalctl -q -o json --output-fields=MAMORI_EVENT --after-cursor='%s' _COMM=mamorid"
                     % cursor.replace("'", ""), check=True)
    evs = {}
    for line in out.splitlines():
        try:
            e = json.loads(json.loads(line).get("MAMORI_EVENT") or "null")
        except (ValueError, TypeError):
            continue
        if isinstance(e, dict) and "id" in e:
            evs[e["id"]] = e
    return evs


def export(t):
    """Everything the collector stored, in arrival order (ctl export as root):
    (agent events, collector.* finding events, rc, stderr)."""
    rc, out, err = t.g("mamori-collectorctl export --since 2d --format ndjson", timeout=60)
    agent, found = [], []
    for line in out.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        (found if str(e.get("kind", "")).startswith("collector.") else agent).append(e)
    return agent, found, rc, err


def wait_for(t, pred, timeout):
    """Polls export() until pred(agent, found) is true; returns (ok, agent, found, seconds)."""
    t0 = time.monotonic()
    while True:
        agent, found, rc, err = export(t)
        if rc == 0 and pred(agent, found):
            return True, agent, found, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            log("collector: timed out; export rc %d: %s" % (rc, err.strip()[-300:]))
            return False, agent, found, time.monotonic() - t0
        time.sleep(1)


def finding(found, kind, action="open", after=0):
    """The finding events of a kind and action, after the first `after` of them."""
    return [f for f in found[after:] if (f.get("finding") or {}).get("kind") == kind
            and (f.get("finding") or {}).get("action") == action]


def point_agent(t, base, heartbeat):
    """mamori.conf: the administrator's file with the collector section above; reloaded."""
    with open(os.path.join(t.share, "mamori-collector-vm.conf"), "w") as f:
        f.write(base + AGENT_CONF % heartbeat)
    return t.g("cat /mnt/host/mamori-collector-vm.conf >/etc/mamori/mamori.conf && mamorid --check-config && "
               "systemctl reload mamori.service")


def write_collector_conf(t, storage):
    with open(os.path.join(t.share, "collector-vm.conf"), "w") as f:
        f.write(COLLECTOR_CONF % {"port": PORT, "storage": storage, "margin": SILENT_MARGIN,
                                  "stopped": STOPPED_AFTER})
    return t.g("install -m 0644 /mnt/host/collector-vm.conf /etc/mamori-collector/collector.conf && "
               "mamori-collectorctl check-config && systemctl restart mamori-collectord.service && "
               "for i in $(seq 100); do %s && exit 0; sleep 0.2; done; exit 1" % LISTENING, timeout=120)


def delivery(t, check, db, cursor):
    """Every event mamorid recorded after the journal's cursor is stored once, in seq order, as sent."""
    # (heartbeats go to the spool, not to the journal: the reload's events are the journal's)
    end = time.monotonic() + 30
    want = events_after(t, cursor)
    while not any(e["kind"] == "agent.config_changed" for e in want.values()) and time.monotonic() < end:
        time.sleep(0.5)
        want = events_after(t, cursor)
    ok, agent, _, dt = wait_for(t, lambda a, f: set(want) <= {e.get("id") for e in a}, 60)
    log("collector (%s): %d events at the collector %.1fs after they were asked for" % (db, len(want), dt))
    got = collections.Counter(e.get("id") for e in agent)
    check("collector %s: every event mamorid recorded since the switch is stored (%d, %s)"
          % (db, len(want), ", ".join(sorted({e["kind"] for e in want.values()}))),
          ok and want, sorted(set(want) - set(got)))
    check("collector %s: each event once (export and the table's ids)" % db,
          all(n == 1 for n in got.values()), [i for i, n in got.items() if n > 1])
    seqs = [e.get("seq") for e in agent]
    check("collector %s: stored in seq order (arrival order = seq order, no repeat)" % db,
          seqs and all(a < b for a, b in zip(seqs, seqs[1:])), seqs)
    by_id = {e.get("id"): e for e in agent}
    check("collector %s: the stored events are identical to the journal's" % db,
          all(by_id.get(i) == e for i, e in want.items()),
          [(e, by_id.get(i)) for i, e in want.items() if by_id.get(i) != e][:2])
    return agent


def stopped(t, check, db):
    """systemctl stop mamori: host.stopped once stopped_after_sec are over, closed by the start."""
    _, found0, _, _ = export(t)
    n0 = len(found0)
    rc, out, err = t.g("systemctl stop mamori.service")
    t_stop = time.monotonic()
    ok, agent, found, dt = wait_for(t, lambda a, f: finding(f, "host.stopped", after=n0), STOPPED_AFTER + SLACK + 30)
    dt = time.monotonic() - t_stop
    log("collector (%s): host.stopped %.1fs after systemctl stop (stopped_after_sec %d)" % (db, dt, STOPPED_AFTER))
    print("COLLECTOR %s host.stopped after %.1f s (stopped_after_sec %d)" % (db, dt, STOPPED_AFTER), flush=True)
    f = finding(found, "host.stopped", after=n0)
    check("collector %s: the agent's agent.stopping arrived" % db,
          any(e.get("kind") == "agent.stopping" for e in agent[-5:]), [e.get("kind") for e in agent[-5:]])
    detail = (f[0]["finding"].get("detail") or {}) if f else {}
    check("collector %s: systemctl stop mamori -> host.stopped within %d s (took %.1f s)"
          % (db, STOPPED_AFTER + SLACK, dt), f and dt <= STOPPED_AFTER + SLACK, found[n0:])
    check("collector %s: host.stopped not before stopped_after_sec (%d s)" % (db, STOPPED_AFTER),
          f and detail.get("stopped_after_sec") == STOPPED_AFTER and detail.get("stopped_sec", -1) >= STOPPED_AFTER,
          f[:1])
    rc, out, err = t.g("systemctl start mamori.service && systemctl is-active mamori.service")
    ok, agent, found, dt = wait_for(t, lambda a, f: finding(f, "host.stopped", "close", after=n0), 60)
    check("collector %s: mamori started again -> host.stopped closed" % db, ok and rc == 0, (out, err, found[n0:]))


def silent(t, check, db):
    """The uplink frozen: no heartbeat arrives, and no agent.stopping explains it."""
    # the host's heartbeat interval is known to the collector from a heartbeat
    ok, agent, found, _ = wait_for(t, lambda a, f: any(
        e.get("kind") == "agent.heartbeat" and (e.get("heartbeat") or {}).get("interval_sec") == HEARTBEAT
        and e["seq"] > max([x["seq"] for x in a if x.get("kind") == "agent.started"] or [0]) for e in a), 30)
    check("collector %s: heartbeats every %d s arrive" % (db, HEARTBEAT), ok, [e.get("kind") for e in agent[-5:]])
    n0 = len(found)
    rc, pid, _ = t.g("systemctl show -P MainPID mamori-uplink.service")
    pid = pid.strip()
    if not check("collector %s: mamori-uplink runs (its pid to freeze)" % db, pid.isdigit() and int(pid) > 1, pid):
        return
    rc, out, err = t.g("kill -STOP %s" % pid)
    t_stop = time.monotonic()
    threshold = 2 * HEARTBEAT + SILENT_MARGIN
    try:
        ok, agent, found, _ = wait_for(t, lambda a, f: finding(f, "host.silent", after=n0), threshold + SLACK + 30)
        dt = time.monotonic() - t_stop
    finally:
        t.g("kill -CONT %s" % pid)
    log("collector (%s): host.silent %.1fs after the uplink froze (threshold %d s)" % (db, dt, threshold))
    print("COLLECTOR %s host.silent after %.1f s (2 x %d s + %d s)" % (db, dt, HEARTBEAT, SILENT_MARGIN), flush=True)
    f = finding(found, "host.silent", after=n0)
    detail = (f[0]["finding"].get("detail") or {}) if f else {}
    check("collector %s: a silent agent (uplink stopped) -> host.silent within %d s (took %.1f s)"
          % (db, threshold + SLACK, dt), f and rc == 0 and dt <= threshold + SLACK, found[n0:])
    check("collector %s: host.silent after 2 x heartbeat + silent_margin_sec, not before" % db,
          detail.get("threshold_sec") == threshold and detail.get("silent_sec", -1) >= threshold, f[:1])
    ok, agent, found, dt = wait_for(t, lambda a, f: finding(f, "host.returned", "notice", after=n0), 60)
    check("collector %s: the uplink goes on -> host.returned, host.silent closed" % db,
          ok and finding(found, "host.silent", "close", after=n0), found[n0:])


def run(t, check, deb):
    t0 = time.monotonic()
    c = check
    print("--- collector: a fresh install of mamori-collector, the agent delivering to it", flush=True)
    # the test's own collector has 127.0.0.1:8443, as the package's has 0.0.0.0:8443
    t.g("systemctl stop vmtest-collector.service")
    rc, out, err = t.g("dpkg -i /mnt/host/pkg/collector/%s 2>&1" % os.path.basename(deb), timeout=180)
    print("      " + out.rstrip().replace("\n", "\n      "), flush=True)
    c("collector: mamori-collector installs offline with dpkg -i (dependencies complete)", rc == 0, out + err)
    log("collector: dpkg -i done after %.1fs" % (time.monotonic() - t0))
    # the image's PostgreSQL cluster, for the second part: it starts meanwhile
    t.g("c=$(pg_lsclusters -h | head -1) && set -- $c && systemctl start --no-block postgresql@$1-$2.service")
    rc, out, _ = t.g("systemctl is-enabled mamori-collectord.service; "
                     "for i in $(seq 100); do systemctl is-active -q mamori-collectord.service && break; sleep 0.2; "
                     "done; systemctl is-active mamori-collectord.service; "
                     "stat -c '%a %U:%G %n' /etc/mamori-collector/tls/clients-ca.key /etc/mamori-collector/tls/server.key")
    c("collector: the install made a CA and a server key (0600 root, 0640 root:mamori-collector), "
      "enabled and started the unit",
      out.split()[:2] == ["enabled", "active"] and "600 root:root /etc/mamori-collector/tls/clients-ca.key" in out
      and "640 root:mamori-collector /etc/mamori-collector/tls/server.key" in out, out)
    rc, out, err = t.g("mamori-collectorctl check-config")
    c("collector: mamori-collectorctl check-config, run as root, accepts the shipped configuration",
      rc == 0 and out.strip().endswith(": OK"), out + err)

    log("collector: installed after %.1fs" % (time.monotonic() - t0))
    rc, out, err = t.g("mamori-collectorctl init-ca --force --name 'vm test' --server-name 127.0.0.1")
    c("collector: init-ca --force makes the CA and server certificate for 127.0.0.1", rc == 0, out + err)
    rc, out, err = t.g(ENROL)
    print("      " + (out + err).rstrip().replace("\n", "\n      "), flush=True)
    c("collector: the PC's request signed by enroll (CN = machine id), key root:mamori-uplink 0640",
      rc == 0 and "client.pem: OK" in out and "640 root:mamori-uplink /etc/mamori/client.key" in out, out + err)
    log("collector: enrolled after %.1fs" % (time.monotonic() - t0))
    rc, out, err = write_collector_conf(t, SQLITE)
    c("collector: SQLite, mutual TLS, short timers: check-config as root, restart, listening", rc == 0, out + err)

    # the agent: its collector section now names mamori-collectord
    rc, conf, _ = t.g("cp -p /etc/mamori/mamori.conf /run/vmtest-mamori.conf.saved && cat /etc/mamori/mamori.conf",
                      check=True)
    i = conf.find("\n# added by tests/vm/test_e2e.py")
    base = conf[:i + 1] if i >= 0 else conf
    cursor = journal_cursor(t)
    rc, out, err = point_agent(t, base, HEARTBEAT)
    c("collector: the agent pointed at https://127.0.0.1:%d/v1/events with its certificate (reload)" % PORT,
      rc == 0, out + err)
    try:
        t1 = time.monotonic()
        delivery(t, c, "SQLite", cursor)
        rc, out, err = t.g("sqlite3 /var/lib/mamori-collector/collector.db "
                           "'SELECT count(*) FROM rejected; SELECT count(*) - count(DISTINCT id) FROM events'")
        c("collector SQLite: no line rejected, no id twice in the events table", rc == 0 and out.split() == ["0", "0"],
          out + err)
        stopped(t, c, "SQLite")
        silent(t, c, "SQLite")
        rc, out, err = t.g("mamori-collectorctl hosts; mamori-collectorctl findings")
        print("      " + out.rstrip().replace("\n", "\n      "), flush=True)
        log("collector: the SQLite part took %.1fs" % (time.monotonic() - t1))

        print("--- collector: the same on PostgreSQL", flush=True)
        t1 = time.monotonic()
        rc, out, err = t.g("cd / && " + PG_SETUP, timeout=180)
        c("collector PostgreSQL: the cluster runs, role and database made, conninfo root:mamori-collector 0640",
          rc == 0 and "online" in out, out + err)
        log("collector: PostgreSQL ready after %.1fs" % (time.monotonic() - t0))
        rc, out, err = write_collector_conf(t, POSTGRES)
        c("collector PostgreSQL: check-config as root (reads the conninfo), restart, listening", rc == 0, out + err)
        log("collector: on PostgreSQL after %.1fs" % (time.monotonic() - t0))
        cursor = journal_cursor(t)
        # a change that mamorid records (agent.config_changed), to be delivered to PostgreSQL
        rc, out, err = point_agent(t, base, HEARTBEAT + 1)
        c("collector PostgreSQL: the agent's heartbeat_interval changed (reload)", rc == 0, out + err)
        delivery(t, c, "PostgreSQL", cursor)
        rc, out, err = t.g("runuser -u postgres -- psql -qAt -d mamori -c "
                           "'SELECT count(*) FROM rejected' -c 'SELECT count(*) - count(DISTINCT id) FROM events'")
        c("collector PostgreSQL: no line rejected, no id twice in the events table",
          rc == 0 and out.split() == ["0", "0"], out + err)
        log("collector: PostgreSQL delivery checked after %.1fs" % (time.monotonic() - t0))
        stopped(t, c, "PostgreSQL")
        log("collector: the PostgreSQL part took %.1fs" % (time.monotonic() - t1))
    finally:
        # the guest as the later steps know it: the test's collector, the agent on it
        rc, out, err = t.g("systemctl stop mamori-collectord.service; "
                           "cp -p /run/vmtest-mamori.conf.saved /etc/mamori/mamori.conf && "
                           "systemctl start vmtest-collector.service && systemctl reload mamori.service")
        c("collector: the agent's configuration and the test's collector put back", rc == 0, out + err)
    dt = time.monotonic() - t0
    log("collector scenario took %.1fs" % dt)
    print("COLLECTOR SCENARIO took %.1f s" % dt, flush=True)
