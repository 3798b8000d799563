# SPDX-License-Identifier: MIT
"""Issue 16: a collector misconfiguration makes the agent wait, not throw
batches away. Against the real TLS test collector (collector.py), which is
told to answer as a misconfigured one does: 401 for a token rotated on the
collector, 404 for a path that moved. Every batch stays in the spool, the
uplink's status file says STATE=refused, mamorid records
agent.delivery_refused once per change of status (not per retry), and once
the setting is fixed by a reload everything arrives once, in seq order, with
its ids. Only 400, 415 and 422 (this content can never be stored) and a
single event still too large (413) go to the dead-letter directory."""
import glob
import json
import os
import shlex
import shutil
import subprocess

import pytest
import spool_reader
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf, journaled, spool_dir

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
UPLINK_REFUSED_MESSAGE_ID = "0f5906adbe5746879f308317c6bd129f"


def ctl(agent, *args):
    env = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    env.pop("NO_COLOR", None)
    return subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                          capture_output=True, text=True, env=env, timeout=20)


def plug_sticks(bed, n, start=0):
    for i in range(n):
        bed.add_usb("0781", "5567", serial=f"S{start + i:05d}")


def recorded(agent, kind):
    """The events of a kind mamorid journaled as recorded (durable in the spool)."""
    return [j for j in journaled(agent.log()) if j[0] == kind]


def dead_letters(agent):
    return sorted(glob.glob(os.path.join(agent.uplink.dead_letter, "*.ndjson")))


def undelivered(agent):
    return spool_reader.events(spool_dir(agent), undelivered_only=True, cursor=agent.uplink.cursor)


def wait_requests(collector, n, timeout=20):
    wait_for(lambda: len(collector.requests) >= n, timeout,
             what=f"{n} requests to the collector (it has {len(collector.requests)})")


def check_arrived_once_in_order(collector, spooled):
    """Every event the spool held arrived, with its id, once, in seq order."""
    accepted = collector.events()
    seqs = [e["seq"] for e in accepted]
    assert seqs == sorted(set(seqs)), f"not once each in seq order: {seqs}"
    by_seq = check_feed(accepted)
    for seq, ev in spooled.items():
        assert seq in by_seq and by_seq[seq]["id"] == ev["id"], (seq, ev["kind"])
    return by_seq


def test_token_rotated_on_the_collector_waits_then_arrives(bed, make_agent, collector, pki, tmp_path):
    token = tmp_path / "token"
    token.write_text("old-token\n")
    os.chmod(token, 0o600)
    # The token was rotated on the collector before this PC got the new one.
    collector.rule = lambda path, headers, events: \
        None if headers.get("Authorization") == "Bearer new-token" else (401, {"WWW-Authenticate": 'Bearer realm="mamori"'})
    a = make_agent(main_conf=collector_conf(collector, pki, token_file=str(token), backoff_min="100ms",
                                            backoff_max="500ms", heartbeat_interval=1)).start()
    plug_sticks(bed, 3)
    a.wait_events("usb.blocked", 3)

    st = a.uplink.status
    wait_for(lambda: (st() or {}).get("STATE") == "refused", 10, what="STATE=refused in the uplink's status file")
    assert st()["REFUSED_STATUS"] == "401" and "test says 401" in st()["REFUSED_ANSWER"], st()
    since = st()["REFUSED_SINCE"]
    wait_for(lambda: recorded(a, "agent.delivery_refused"), 10, what="agent.delivery_refused recorded")
    # Retries go on, every one refused: the alarm is not raised again.
    n = len(collector.requests)
    wait_requests(collector, n + 4)
    assert {r["status"] for r in collector.requests} == {401}
    assert len(recorded(a, "agent.delivery_refused")) == 1, recorded(a, "agent.delivery_refused")
    assert a.uplink.log().count("MESSAGE_ID=" + UPLINK_REFUSED_MESSAGE_ID) == 1
    assert st()["REFUSED_SINCE"] == since
    # Nothing was thrown away: no dead letter, nothing acknowledged, the spool keeps every event.
    assert dead_letters(a) == [] and collector.rejected == []
    assert a.uplink.acked() == 0
    kept = undelivered(a)
    assert [e["kind"] for e in kept].count("usb.blocked") == 3
    spooled = {e["seq"]: e for e in kept}

    # mamorictl status: refused, in its words, and "not working as configured".
    p = ctl(a, "status")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "NOT WORKING AS CONFIGURED" in p.stdout and "refuses the events: HTTP 401" in p.stdout, p.stdout
    assert "(refused" in p.stdout and "Refused:      HTTP 401 since" in p.stdout, p.stdout
    assert "token" in p.stdout and "test says 401" in p.stdout, p.stdout
    assert "\033[" not in p.stdout  # no colours into a pipe
    if shutil.which("script"):  # on a terminal: the refused state in red
        env = dict(os.environ, UMOCKDEV_DIR=a.bed.root, TERM="xterm")
        env.pop("NO_COLOR", None)
        cmd = shlex.join([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), "status"])
        tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, env=env,
                             timeout=20, stdin=subprocess.DEVNULL).stdout
        assert "(\033[1;31mrefused\033[0m" in tty and "\033[1;31mHTTP 401 since" in tty, repr(tty)
        tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                             env=dict(env, NO_COLOR="1"), timeout=20, stdin=subprocess.DEVNULL).stdout
        assert "refused" in tty and "\033[" not in tty, repr(tty)
    u = json.loads(ctl(a, "--json", "status").stdout)["uplink"]
    assert u["state"] == "refused" and u["refused"]["status"] == 401, u
    assert u["refused"]["since"] and "test says 401" in u["refused"]["answer"], u

    # The admin puts the new token on the PC and reloads: everything arrives.
    token.write_text("new-token\n")
    a.reload()
    wait_for(lambda: recorded(a, "agent.delivery_resumed"), 15, what="agent.delivery_resumed recorded")
    top = max(s for _, _, s in journaled(a.log()))
    wait_for(lambda: a.uplink.acked() >= top, 15, what=f"everything up to seq {top} delivered")
    by_seq = check_arrived_once_in_order(collector, spooled)
    refused = collector.events("agent.delivery_refused")
    assert len(refused) == 1, refused
    r = refused[0]
    assert r["severity"] == "high" and r["refused"]["status"] == 401 and r["refused"]["url"] == collector.url, r
    assert "test says 401" in r["refused"]["answer"] and r["refused"]["since"], r
    resumed = collector.events("agent.delivery_resumed")
    assert len(resumed) == 1 and resumed[0]["resumed"]["refused_status"] == 401, resumed
    assert resumed[0]["resumed"]["refused_since"] == r["refused"]["since"]
    # The heartbeats recorded meanwhile said so too.
    hb = [e["heartbeat"]["uplink"] for e in by_seq.values() if e["kind"] == "agent.heartbeat"]
    refused_hb = [h for h in hb if h["state"] == "refused"]
    assert refused_hb, hb
    assert refused_hb[0]["refused"]["status"] == 401 and refused_hb[0]["refused"]["since"] == r["refused"]["since"]
    assert "test says 401" in refused_hb[0]["refused"]["answer"]
    wait_for(lambda: st()["STATE"] in ("idle", "sending"), 5, what="the refused state over")
    assert "REFUSED_STATUS" not in st() and dead_letters(a) == []


def test_wrong_path_then_fixed_by_a_reload(bed, make_agent, collector, pki):
    # The collector moved to /v1/events; this PC still says /v0/events.
    collector.rule = lambda path, headers, events: None if path == "/v1/events" else 404
    wrong = collector.url.replace("/v1/", "/v0/")
    a = make_agent(main_conf=collector_conf(wrong, pki, backoff_min="100ms", backoff_max="500ms")).start()
    plug_sticks(bed, 2)
    a.wait_events("usb.blocked", 2)
    # No heartbeat and no mamorictl: the inotify watch alone tells mamorid.
    wait_for(lambda: recorded(a, "agent.delivery_refused"), 10, what="agent.delivery_refused recorded")
    n = len(collector.requests)
    wait_requests(collector, n + 3)
    assert {r["status"] for r in collector.requests} == {404} and {r["path"] for r in collector.requests} == {"/v0/events"}
    assert len(recorded(a, "agent.delivery_refused")) == 1
    assert dead_letters(a) == [] and a.uplink.acked() == 0
    spooled = {e["seq"]: e for e in undelivered(a)}
    assert "collector.url" in ctl(a, "status").stdout  # what a 404 usually means

    a.write_conf(collector_conf(collector, pki, backoff_min="100ms", backoff_max="500ms"))
    a.reload()
    wait_for(lambda: recorded(a, "agent.delivery_resumed"), 15, what="agent.delivery_resumed recorded")
    top = max(s for _, _, s in journaled(a.log()))
    wait_for(lambda: a.uplink.acked() >= top, 15, what=f"everything up to seq {top} delivered")
    check_arrived_once_in_order(collector, spooled)
    ev = collector.events("agent.delivery_refused")
    assert len(ev) == 1 and ev[0]["refused"]["status"] == 404 and ev[0]["refused"]["url"] == wrong, ev
    assert dead_letters(a) == []


def test_a_change_of_status_is_a_new_alarm(bed, make_agent, collector, pki):
    """401, then 403 (the token fixed, the certificate not enrolled): two
    alarms, one per status; retries of each add none."""
    collector.rule = lambda path, headers, events: 401
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="100ms", backoff_max="300ms")).start()
    wait_for(lambda: recorded(a, "agent.delivery_refused"), 10, what="the first alarm")
    collector.rule = lambda path, headers, events: 403
    wait_for(lambda: (a.uplink.status() or {}).get("REFUSED_STATUS") == "403", 10, what="REFUSED_STATUS=403")
    wait_for(lambda: len(recorded(a, "agent.delivery_refused")) == 2, 10, what="the second alarm")
    n = len(collector.requests)
    wait_requests(collector, n + 3)
    assert len(recorded(a, "agent.delivery_refused")) == 2
    assert "client certificate" in ctl(a, "status").stdout
    # A 503 is another class: the refused state ends, the batch still waits.
    collector.rule = lambda path, headers, events: 503
    wait_for(lambda: (a.uplink.status() or {}).get("STATE") == "waiting", 10, what="STATE=waiting after a 503")
    wait_for(lambda: recorded(a, "agent.delivery_resumed"), 10, what="agent.delivery_resumed")
    assert dead_letters(a) == [] and a.uplink.acked() == 0
    collector.rule = None
    top = max(s for _, _, s in journaled(a.log()))
    wait_for(lambda: a.uplink.acked() >= top, 15, what=f"everything up to seq {top} delivered")
    assert [e["refused"]["status"] for e in collector.events("agent.delivery_refused")] == [401, 403]


@pytest.mark.parametrize("status", [400, 415, 422])
def test_content_that_can_never_be_stored_is_dead_lettered(bed, make_agent, collector, pki, status):
    collector.script(status)
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    wait_for(lambda: collector.requests and collector.requests[0]["status"] == status, 10, what=f"the {status}")
    rejected = collector.requests[0]["events"]
    plug_sticks(bed, 3)
    collector.wait_events(3, kind="usb.blocked")
    files = dead_letters(a)
    assert len(files) == 1, files
    with open(files[0]) as f:
        lines = [json.loads(x) for x in f]
    meta = lines[0]["mamori_dead_letter"]
    assert meta["status"] == status and f"test says {status}" in meta["response"] and "reason" not in meta
    assert [e["id"] for e in lines[1:]] == [e["id"] for e in rejected]
    # the rest flows, nothing twice, and no alarm: this is not a refusal
    delivered = check_feed(collector.events(), allow_gaps={e["seq"] for e in rejected})
    assert not set(delivered) & {e["seq"] for e in rejected}
    assert recorded(a, "agent.delivery_refused") == [] and "STATE=refused" not in open(a.uplink.status_path).read()


def test_a_single_event_too_large_is_dead_lettered_with_the_reason(bed, make_agent, collector, pki):
    """413 halves the batch; an event that is still too large alone is
    dead-lettered with the reason, and everything around it arrives."""
    def too_large(path, headers, events):
        return 413 if any(e.get("device", {}).get("serial") == "HUGE" for e in events) else None

    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    collector.wait_events(1, kind="agent.started")
    collector.rule = too_large
    a.uplink.stop()  # so that the next batch holds all of them
    plug_sticks(bed, 3)
    bed.add_usb("0781", "5567", serial="HUGE")
    plug_sticks(bed, 3, start=3)
    a.wait_events("usb.blocked", 7)
    a.uplink.start()
    collector.wait_events(6, kind="usb.blocked")
    wait_for(lambda: dead_letters(a), 10, what="the dead letter")
    files = dead_letters(a)
    assert len(files) == 1, files
    with open(files[0]) as f:
        lines = [json.loads(x) for x in f]
    meta = lines[0]["mamori_dead_letter"]
    assert meta["status"] == 413 and meta["count"] == 1 and len(lines) == 2, meta
    assert meta["reason"] == "a single event larger than the collector accepts", meta
    assert lines[1]["device"]["serial"] == "HUGE"
    statuses = [r["status"] for r in collector.requests]
    assert statuses.count(413) >= 2, statuses  # halved at least once before the single event
    delivered = check_feed(collector.events(), allow_gaps={lines[1]["seq"]})
    assert lines[1]["seq"] not in delivered
    assert "a single event larger than the collector accepts" in a.uplink.log()
    assert recorded(a, "agent.delivery_refused") == []


def test_a_refusal_longer_than_the_spool_holds_is_reported(bed, make_agent, collector, pki):
    """The held-back question of issue 16: a collector that keeps refusing
    (a week, here a full 1 MiB spool) makes the spool's bound decide: the
    oldest events go, agent.events_dropped says exactly which, and once the
    collector accepts again every seq is either delivered or named dropped."""
    collector.rule = lambda path, headers, events: 401
    a = make_agent(main_conf=collector_conf(collector, pki, spool_mb=1, backoff_min="100ms", backoff_max="500ms"))
    # Large events, so that fewer sticks fill the 1 MiB spool: long strings
    # and a serial that needs escapes (it also carries serial_hex).
    for i in range(500):
        bed.add_usb("1234", "5678", serial=b"\x7f" * 250 + f"{i:05d}".encode(), manufacturer="M" * 250,
                    product_name="P" * 250, uevent=False)
    a.start()
    wait_for(lambda: recorded(a, "agent.events_dropped"), 60, what="a drop while refused")
    wait_for(lambda: recorded(a, "agent.delivery_refused"), 10, what="the alarm")
    assert dead_letters(a) == [] and a.uplink.acked() == 0
    collector.rule = None
    wait_for(lambda: recorded(a, "agent.delivery_resumed"), 30, what="agent.delivery_resumed")
    top = max(s for _, _, s in journaled(a.log()))
    wait_for(lambda: a.uplink.acked() >= top, 60, what=f"everything up to seq {top} delivered or dropped")
    dropped = set()
    for d in collector.events("agent.events_dropped"):
        for first, last in d["dropped"]["seq_ranges"]:
            dropped |= set(range(first, last + 1))
    assert dropped
    by_seq = check_feed(collector.events(), allow_gaps=dropped)
    assert not set(by_seq) & dropped  # nothing both dropped and delivered
    assert len(collector.events("agent.delivery_refused")) == 1 and dead_letters(a) == []
