# SPDX-License-Identifier: MIT
"""End to end (issue 12 item 9): the real mamorid and mamori-uplink, USB
sticks in a umockdev testbed, delivering over mutual TLS (a CA made at test
time, collector.make_pki) to the real mamori-collectord, on SQLite and on a
real PostgreSQL that this file starts in a temporary directory (initdb and
pg_ctl as an unprivileged user, a Unix socket in that directory only).

What must hold: every event the agent recorded is stored once, in seq order
per host; two collectors on one database store a batch once; kill -9 of the
collector in the middle of batches loses nothing and stores nothing twice;
a stopped database gets 503 + Retry-After and nothing is lost once it is
back; a stopped agent becomes host.stopped, a silent one host.silent and
host.returned; a forged machine_id is a rejected line or a
host.new_certificate finding. Every wait has a deadline."""

import glob
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from collectord_lib import Collectord, add_client, conf_text, event, ndjson
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf, journaled, spool_max_seq

NOBODY = "nobody"
MACHINE_ID = open("/etc/machine-id").read().strip()  # the agent's host.machine_id


# ---- PostgreSQL of our own ----

def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)))
    if not found:
        pytest.fail("no PostgreSQL under /usr/lib/postgresql (tools/dev/install-deps.sh test)")
    return os.path.dirname(found[-1])


class Postgres:
    """A PostgreSQL server in a temporary directory, run by an unprivileged
    user (the server refuses root), listening on a Unix socket only."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="mamori-e2e-pg-")
        self.as_user = ["runuser", "-u", NOBODY, "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, NOBODY)
        os.chmod(self.dir, 0o700)
        self.port = 20000 + os.getpid() % 20000  # names the socket file only
        self.data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "mamori", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            # fsync off: the tests kill the collector, never the server
            f.write(f"listen_addresses = ''\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                    "max_connections = 60\nfsync = off\n")
        self.dbs = 0
        self.start()

    def _run(self, prog, *args, timeout=90):
        p = subprocess.run([*self.as_user, os.path.join(self.bin, prog), *args], capture_output=True, text=True,
                           timeout=timeout)
        assert p.returncode == 0, f"{prog} {args}: {p.stdout}{p.stderr}{self.server_log()}"
        return p.stdout

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return "\n--- server.log ---\n" + f.read()[-3000:]
        except OSError:
            return ""

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "60", "-m", mode, "stop")

    def conninfo(self, db="postgres"):
        return f"host={self.dir} port={self.port} user=mamori dbname={db} connect_timeout=5"

    def psql(self, sql, db="postgres"):
        out = self._run("psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(db), "-c", sql)
        return [line.split("\t") for line in out.splitlines() if line]

    def new_db(self):
        self.dbs += 1
        name = f"e2e{self.dbs}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def close(self):
        subprocess.run([*self.as_user, os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    p = Postgres()
    yield p
    p.close()


# ---- the PKI and the collectors ----

@pytest.fixture(scope="module")
def epki(tmp_path_factory):
    from collector import make_pki
    d = tmp_path_factory.mktemp("epki")
    os.chmod(d, 0o755)
    p = make_pki(str(d))
    # the agent's certificate named after its machine_id (require_name_match)
    p["agent"] = add_client(p, "agent", MACHINE_ID)
    # another PC's, with its own machine_id and host name
    p["host_b_id"] = "b" * 32
    p["host_b"] = add_client(p, "host-b", p["host_b_id"], san="pc-b")
    return p


class Db:
    """Reads what a collector stored, straight from its database."""

    def __init__(self, backend, path=None, pg=None, name=None):
        self.backend, self.path, self.pg, self.name = backend, path, pg, name

    def rows(self, sql):
        if self.backend == "sqlite":
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                return [[str(x) for x in r] for r in con.execute(sql).fetchall()]
            finally:
                con.close()
        return self.pg.psql(sql, self.name)

    def count(self, machine_id=MACHINE_ID):
        return int(self.rows(f"SELECT count(*) FROM events WHERE machine_id = '{machine_id}' "
                             "AND kind NOT LIKE 'collector.%'")[0][0])


def make_collectord(d, pki, backend, pg=None, db=None, **conf):
    c = Collectord(d, pki, **conf)
    if backend == "postgresql":
        path = os.path.join(c.d, "pg.conninfo")
        with open(path, "w") as f:
            f.write(pg.conninfo(db) + "\n")
        os.chmod(path, 0o600)
        text = conf_text(c.d, pki, c.port, **conf)
        text = re.sub(r"^storage = .*$", f'storage = {{ backend = "postgresql"; conninfo_file = "{path}"; }};', text,
                      flags=re.M)
        c.write_conf(text)
        c.db = Db("postgresql", pg=pg, name=db)
    else:
        c.db = Db("sqlite", path=os.path.join(c.d, "state", "collector.db"))
    c.url = f"https://127.0.0.1:{c.port}/v1/events"
    return c


def log_since(c, offset):
    with open(c.log_path, "rb") as f:
        f.seek(offset)
        return f.read()


def kill9(c):
    c.proc.kill()
    c.proc.wait(10)
    c.log.close()
    c.proc = None


@pytest.fixture
def collectors(tmp_path, epki):
    started = []

    def make(backend="sqlite", pg=None, db=None, **conf):
        c = make_collectord(tmp_path / f"c{len(started)}", epki, backend, pg, db, **conf)
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


def agent_conf(c, pki, cert=None, **keys):
    keys.setdefault("batch_max_events", 25)
    cert = cert or pki["agent"]
    text = collector_conf(c.url, pki, token_file=os.path.join(c.d, "token"), **keys)
    return text.replace(pki["client_cert"], cert[0]).replace(pki["client_key"], cert[1])


def add_sticks(bed, n, prefix):
    for i in range(n):
        bed.add_usb("0781", "5567", serial=f"{prefix}{i:04d}", uevent=False)


def plug(bed, n, prefix):
    for i in range(n):
        bed.add_usb("0781", "5567", serial=f"{prefix}{i:04d}")


def drained(agent):
    top = spool_max_seq(agent)
    return top > 0 and agent.uplink.acked() >= top


def blocked_recorded(agent):
    return sum(1 for k, _, _ in journaled(agent.log()) if k == "usb.blocked")


def wait_delivered(agent, blocked, timeout=30):
    """Every stick's event recorded (journaled once durable), then every
    recorded event delivered (the uplink's cursor reached the spool's end)."""
    wait_for(lambda: blocked_recorded(agent) >= blocked, timeout, interval=0.05, what=f"{blocked} usb.blocked recorded")
    wait_for(lambda: drained(agent), timeout, interval=0.05, what="the spool delivered")


def export_agent_events(c, machine_id=MACHINE_ID):
    return [e for e in c.export_all()
            if e["host"]["machine_id"] == machine_id and not e["kind"].startswith("collector.")]


def findings_of(c, machine_id=MACHINE_ID):
    return [e for e in c.export_all() if e["kind"].startswith("collector.") and e["host"]["machine_id"] == machine_id]


def check_stored_once_in_order(agent, c):
    """The collector holds every event the agent recorded, once, with its
    seq; arrival order is seq order; the database agrees with the export."""
    evs = export_agent_events(c)
    ids = [e["id"] for e in evs]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events stored twice"
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs), "stored out of seq order"
    feed = check_feed(evs)  # one id per seq, seq contiguous from 1
    assert max(feed) == spool_max_seq(agent), "the collector lacks the newest recorded events"
    by_id = {e["id"]: e["seq"] for e in evs}
    recorded = journaled(agent.log())
    assert recorded
    for kind, eid, seq in recorded:
        assert by_id.get(eid) == seq, f"recorded {kind} {eid} (seq {seq}) stored as {by_id.get(eid)}"
    rows = c.db.rows(f"SELECT count(*), count(DISTINCT id), count(DISTINCT seq), min(seq), max(seq) FROM events "
                     f"WHERE machine_id = '{MACHINE_ID}' AND kind NOT LIKE 'collector.%'")[0]
    assert [int(x) for x in rows] == [len(evs), len(evs), len(evs), 1, max(feed)], rows
    return feed


def cert_fingerprint(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.split("=", 1)[1].strip().replace(":", "").lower()


# ---- 1. every event stored once, in seq order, on both backends ----

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_delivered_once_in_seq_order(request, bed, make_agent, collectors, epki, backend):
    pg = request.getfixturevalue("pg") if backend == "postgresql" else None
    c = collectors(backend, pg, pg.new_db() if pg else None, tls={"require_name_match": True}).start()
    add_sticks(bed, 60, "S")
    a = make_agent(main_conf=agent_conf(c, epki, batch_max_events=16)).start()
    plug(bed, 20, "P")
    wait_delivered(a, 80)
    feed = check_stored_once_in_order(a, c)
    assert sum(e["kind"] == "usb.blocked" for e in feed.values()) == 80
    # over mutual TLS: the host's row holds the agent certificate's fingerprint
    fp = c.db.rows(f"SELECT cert_fingerprint, max_seq FROM hosts WHERE machine_id = '{MACHINE_ID}'")
    assert fp == [[cert_fingerprint(epki["agent"][0]), str(max(feed))]], fp
    assert a.stop() == 0


# ---- 2. two collectors on one PostgreSQL database ----

def test_two_instances_one_database(bed, make_agent, collectors, epki, pg):
    db = pg.new_db()
    c1 = collectors("postgresql", pg, db).start()
    c2 = collectors("postgresql", pg, db).start()
    add_sticks(bed, 40, "T")
    a = make_agent(main_conf=agent_conf(c1, epki, batch_max_events=8)).start()
    wait_delivered(a, 40)
    # The agent now points at the second one; what it sends next lands in the same database.
    a.write_conf(agent_conf(c2, epki, batch_max_events=8))
    a.reload()
    plug(bed, 20, "U")
    wait_delivered(a, 60)
    check_stored_once_in_order(a, c2)
    # The same batches replayed to both instances at once: stored once, the rest duplicates.
    lines = export_agent_events(c1)
    body = ndjson(lines)
    answers = []

    def post(c):
        st, _, ans = c.post(body, cert=epki["agent"])
        answers.append((st, json.loads(ans)))
    threads = [threading.Thread(target=post, args=(c,)) for c in (c1, c2, c1, c2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [st for st, _ in answers] == [200] * 4, answers
    assert all(ans == {"stored": 0, "duplicates": len(lines), "rejected": 0} for _, ans in answers), answers
    # New batches of another PC raced to both instances: each event stored by exactly one.
    host_b = epki["host_b_id"]
    batches = [[event(s, machine_id=host_b, host_name="pc-b") for s in range(i * 20 + 1, i * 20 + 21)]
               for i in range(10)]
    stored = []

    def race(c, evs):
        st, _, ans = c.post(ndjson(evs), cert=epki["host_b"])
        assert st == 200, ans
        stored.append(json.loads(ans)["stored"])
    for evs in batches:
        ts = [threading.Thread(target=race, args=(c, evs)) for c in (c1, c2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    assert sum(stored) == 200 and len(stored) == 20, stored
    rows = c1.db.rows(f"SELECT count(*), count(DISTINCT id), count(DISTINCT seq) FROM events "
                      f"WHERE machine_id = '{host_b}' AND kind NOT LIKE 'collector.%'")
    assert rows == [["200", "200", "200"]], rows
    check_stored_once_in_order(a, c1)  # the agent's feed seen through the first instance
    assert a.stop() == 0


# ---- 3. kill -9 of the collector in the middle of batches ----

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_collector_kill9_during_batches(request, bed, make_agent, collectors, epki, backend):
    pg = request.getfixturevalue("pg") if backend == "postgresql" else None
    rng = random.Random(int(os.environ.get("MAMORI_TEST_SEED", "12")))
    c = collectors(backend, pg, pg.new_db() if pg else None).start()
    add_sticks(bed, 100, "K")
    a = make_agent(main_conf=agent_conf(c, epki, batch_max_events=2, timeout=2, backoff_min="100ms",
                                        backoff_max="300ms")).start()
    rounds, cut, t0 = 50, 0, time.monotonic()
    since = 0
    for rnd in range(rounds):
        # what the agent's two processes told "systemd" (the test): read, so
        # that their sd_notify never waits on a full socket
        a.poll_notify()
        a.uplink.poll_notify()
        # the collector is taking the batches of the backlog (the 100 sticks of
        # the start, then what was plugged while it was down): kill it a few ms
        # in (its log says each batch it committed: cheaper to watch than a query)
        try:
            wait_for(lambda: b"stored, " in log_since(c, since), 15, interval=0.001,
                     what=f"round {rnd}: a batch stored")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- collector ---\n{c.log_text()[-3000:]}\n--- uplink ---\n"
                                 f"{a.uplink.run_log()[-3000:]}") from None
        time.sleep(rng.uniform(0.0, 0.003))
        kill9(c)
        cut += spool_max_seq(a) > a.uplink.acked()  # records not delivered: the kill cut the stream
        plug(bed, 10, f"R{rnd:02d}-")  # the next backlog, recorded while the collector is down
        since = os.path.getsize(c.log_path)
        c.start()
    took = time.monotonic() - t0
    wait_delivered(a, 100 + 10 * rounds, 60)
    feed = check_stored_once_in_order(a, c)
    assert sum(e["kind"] == "usb.blocked" for e in feed.values()) == 100 + 10 * rounds
    dups = sum(int(m) for m in re.findall(r"stored, (\d+) duplicates", c.log_text()))
    print(f"\n{backend}: {rounds} kill -9 in {took:.1f}s, {cut} with batches still to come; {max(feed)} events "
          f"stored once; {dups} resent copies answered as duplicates")
    assert cut >= 40, f"only {cut} of {rounds} kills came with batches still to come"
    assert a.stop() == 0


# ---- 4. the database stopped: 503, the agent retries, nothing lost ----

def test_database_stopped(bed, make_agent, collectors, epki, pg):
    c = collectors("postgresql", pg, pg.new_db()).start()
    a = make_agent(main_conf=agent_conf(c, epki)).start()
    wait_for(lambda: drained(a), 20, interval=0.05, what="agent.started delivered")
    pg.stop()
    try:
        offset = a.uplink.log_size()
        plug(bed, 10, "D")
        a.uplink.wait_log("the collector answered HTTP 503", 20, since=offset)
        st, h, _ = c.post(ndjson([event(1, machine_id=epki["host_b_id"], host_name="pc-b")]), cert=epki["host_b"])
        assert st == 503 and int(h["Retry-After"]) >= 1, (st, h)
        assert not drained(a)
    finally:
        pg.start()
    wait_delivered(a, 10, 40)
    feed = check_stored_once_in_order(a, c)
    assert sum(e["kind"] == "usb.blocked" for e in feed.values()) == 10
    assert "answered 503" in c.log_text()
    assert a.stop() == 0


# ---- 5. findings: host.stopped, host.silent, host.returned ----

def finding(c, kind, action="open", after=0):
    got = [e for e in findings_of(c) if e["finding"]["kind"] == kind and e["finding"]["action"] == action]
    return got[after] if len(got) > after else None


def test_findings_stopped_silent_returned(bed, make_agent, collectors, epki):
    c = collectors(findings={"silent_margin_sec": 1, "stopped_after_sec": 2, "sweep_interval_sec": 1}).start()
    a = make_agent(main_conf=agent_conf(c, epki, heartbeat_interval=1)).start()
    wait_for(lambda: c.db.rows(f"SELECT heartbeat_interval_sec FROM hosts WHERE machine_id = '{MACHINE_ID}'")
             == [["1"]], 15, interval=0.1, what="a heartbeat stored")

    # mamorid stopped cleanly (systemctl stop mamori): its agent.stopping is delivered
    # by the uplink, and no start follows within stopped_after_sec
    t0 = time.monotonic()
    assert a.stop(uplink=False) == 0
    f = wait_for(lambda: finding(c, "host.stopped"), 15, interval=0.1, what="host.stopped")
    took = time.monotonic() - t0
    assert f["host"]["machine_id"] == MACHINE_ID and f["severity"] == "high", f
    assert 2 <= took < 2 + 1 + 5, took  # stopped_after_sec, a sweep, and slack for a busy machine
    assert finding(c, "host.silent") is None  # the stop explains the silence
    a.uplink.stop()

    # back: the stop is closed; then both processes die (the PC switched off, the
    # agent removed): no stop, heartbeats every second, silent after 2 x 1 + 1 s
    a.start()
    wait_for(lambda: finding(c, "host.stopped", "close"), 15, interval=0.1, what="host.stopped closed by the start")
    n = c.db.count()
    wait_for(lambda: c.db.count() > n + 1, 10, interval=0.1, what="heartbeats after the start")
    a.uplink.kill9()
    a.kill9()
    t0 = time.monotonic()
    f = wait_for(lambda: finding(c, "host.silent"), 20, interval=0.1, what="host.silent")
    took = time.monotonic() - t0
    assert f["finding"]["detail"]["heartbeat_interval_sec"] == 1, f
    assert took < 3 + 1 + 5, took
    assert finding(c, "host.returned", "notice") is None

    a.start()
    r = wait_for(lambda: finding(c, "host.returned", "notice"), 15, interval=0.1, what="host.returned")
    assert r["finding"]["detail"]["silent_sec"] >= 3, r
    wait_for(lambda: finding(c, "host.silent", "close"), 5, interval=0.1, what="host.silent closed")
    print(f"\nhost.stopped and host.silent raised, host.returned after {r['finding']['detail']['silent_sec']}s")
    ctl = os.environ.get("MAMORI_COLLECTORCTL")
    if ctl and os.path.exists(ctl):
        # the team's view: mamori-collectorctl findings, from the same database
        p = subprocess.run([ctl, "-c", c.conf_path, "findings"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        rows = [line.split() for line in p.stdout.splitlines()[1:-1]]
        kinds = {(r[3], r[1]) for r in rows if len(r) > 3}
        assert {("host.stopped", "closed"), ("host.silent", "closed"), ("host.returned", "closed")} <= kinds, p.stdout
    assert a.stop() == 0


# ---- 6. a forged machine_id: another host's certificate ----

def test_forged_machine_id(bed, make_agent, collectors, epki):
    # require_name_match on: the agent's own certificate names its machine_id
    c = collectors(tls={"require_name_match": True}).start()
    a = make_agent(main_conf=agent_conf(c, epki)).start()
    wait_for(lambda: drained(a), 20, interval=0.05, what="the agent's events delivered")
    n = c.db.count()
    assert n >= 1
    # host B's certificate sends a line for the agent's host (and one of its own)
    forged = event(10**6, machine_id=MACHINE_ID, host_name="forged")
    st, _, ans = c.post(ndjson([forged, event(1, machine_id=epki["host_b_id"], host_name="pc-b")]),
                        cert=epki["host_b"])
    assert st == 200 and json.loads(ans) == {"stored": 1, "duplicates": 0, "rejected": 1}, ans
    rej = c.db.rows("SELECT machine_id, reason, raw FROM rejected")
    assert len(rej) == 1 and forged["id"] in rej[0][2], rej
    assert c.db.count() == n and c.db.rows(f"SELECT count(*) FROM events WHERE id = '{forged['id']}'") == [["0"]]
    assert a.stop() == 0

    # off: stored, and the collector notices another certificate speaking for the host
    c2 = collectors(tls={"require_name_match": False}).start()
    a.write_conf(agent_conf(c2, epki))
    a.start()
    wait_for(lambda: drained(a) and c2.db.count() > 0, 20, interval=0.05, what="the agent's events delivered")
    assert not [f for f in findings_of(c2) if f["finding"]["kind"] == "host.new_certificate"]
    forged = event(10**6, machine_id=MACHINE_ID, host_name="forged")
    st, _, ans = c2.post(ndjson([forged]), cert=epki["host_b"])
    assert st == 200 and json.loads(ans)["stored"] == 1, ans
    f = wait_for(lambda: finding(c2, "host.new_certificate"), 10, interval=0.1, what="host.new_certificate")
    assert f["host"]["machine_id"] == MACHINE_ID, f
    assert cert_fingerprint(epki["host_b"][0]) in json.dumps(f["finding"]["detail"]), f
    assert a.stop() == 0


# ---- 7. a detection reaches the central team (issue 15 item 6) ----

def test_detection_reaches_the_collector(bed, make_agent, collectors, epki):
    """A finding handed to mamori-av-report (what clamd's VirusEvent runs)
    until the collector has stored av.detection: the figure "detection ->
    av.detection at the collector". Reports are spaced so that mamorid's
    rate limit (20 at once, then one a second) never holds one back."""
    av_report = os.environ.get("MAMORI_AV_REPORT") or os.path.join(
        os.environ["MAMORI_BUILD_DIR"], "tools/av-report/mamori-av-report")
    c = collectors("sqlite").start()
    text = agent_conf(c, epki, batch_max_events=25) + \
        'lock = { tty = "ignore"; };\nantivirus = { engine = "none"; };\n'
    a = make_agent(main_conf=text).start()
    sock = os.path.join(a.runtime, "av-report.sock")
    wait_for(lambda: os.path.exists(sock), 10, what="the report socket")

    def stored(sig):
        return int(c.db.rows("SELECT count(*) FROM events WHERE kind = 'av.detection' "
                             f"AND json LIKE '%{sig}%'")[0][0]) if c.db.path and os.path.exists(c.db.path) else 0

    took = []
    for i in range(25):
        sig = f"Test.Delivery-{i:03d}"
        t0 = time.monotonic()
        p = subprocess.run([av_report, "--socket", sock, "--engine", "generic-av", "--signature", sig,
                            "--path", f"/home/taro/f{i}.com"], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        wait_for(lambda: stored(sig) == 1, 10, interval=0.005, what=f"{sig} at the collector")
        took.append((time.monotonic() - t0) * 1000)
        time.sleep(0.3)
    took.sort()
    p50, p99 = took[len(took) // 2], took[-1]
    print(f"FIGURE detection -> av.detection stored by the collector (SQLite, mutual TLS, {len(took)} reports): "
          f"p50 {p50:.1f} ms, max {p99:.1f} ms", flush=True)
    # the staff notice and the quarantine need a second; the central team is
    # told within two even on a loaded CI machine
    assert p99 < 2000, took
    assert a.stop() == 0
