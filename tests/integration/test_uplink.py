# SPDX-License-Identifier: MIT
"""Delivery to a real HTTPS collector (mTLS, CA made here): what reaches it,
and what the agent does when the collector is down, failing, slow, or not
the one it should trust. Two processes, as systemd runs them: mamorid
records the events in its spool, mamori-uplink (agent.uplink) reads the
spool and delivers; what the uplink does and meets, it says in its own log."""
import glob
import json
import os
import subprocess
import time

import spool_reader
from mamori_testlib import MAMORID, wait_for
from reporting_lib import check_feed, collector_conf, journaled, spool_dir, spool_max_seq


def plug_sticks(bed, n, start=0, vendor="0781", product="5567"):
    devs = []
    for i in range(n):
        devs.append(bed.add_usb(vendor, product, serial=f"S{start + i:05d}"))
    return devs


def test_delivery_and_format(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    plug_sticks(bed, 3)
    evs = collector.wait_events(5)  # agent.started, agent.posture and the three blocks
    by_seq = check_feed(collector.events())
    kinds = [by_seq[s]["kind"] for s in sorted(by_seq)]
    assert kinds[:2] == ["agent.started", "agent.posture"] and kinds.count("usb.blocked") == 3
    r = collector.requests[0]
    assert r["headers"]["Content-Type"] == "application/x-ndjson"
    assert r["client_cn"] == "agent-0001"  # mTLS: the agent presented its certificate
    for e in evs:
        assert {"id", "seq", "time", "kind", "severity", "host", "agent"} <= set(e)
        assert e["host"]["machine_id"] and e["agent"]["policy_hash"]
    # Each 2xx moved the uplink's delivery cursor: it stands at the newest
    # event, which the collector has, and nothing undelivered remains.
    top = max(by_seq)
    assert spool_max_seq(a) == top
    wait_for(lambda: a.uplink.acked() == top, 5,
             what=f"the delivery cursor at seq {top} (it is at {a.uplink.acked()})")
    assert spool_reader.events(spool_dir(a), undelivered_only=True, cursor=a.uplink.cursor) == []
    # mamorid takes the uplink's cursor as its own at its next commit.
    plug_sticks(bed, 1, start=3)
    collector.wait_events(6)
    wait_for(lambda: spool_reader.acked(spool_dir(a)) >= top, 5,
             what=f"mamorid's copy of the cursor at {top} or more (it is at {spool_reader.acked(spool_dir(a))})")


def test_collector_down_then_up(bed, make_agent, collector, pki):
    collector.stop()  # down; the port stays known
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="200ms", backoff_max="1s")).start()
    plug_sticks(bed, 5)
    a.wait_events("usb.blocked", 5)
    # Tried, failed, waited its backoff and tried again: then nothing was sent.
    wait_for(lambda: a.uplink.log().count("cannot connect to the collector") >= 2, 10, what="a second failed attempt")
    assert collector.requests == []
    collector.start()
    collector.wait_events(7, timeout=10)  # agent.started, agent.posture, five blocks
    by_seq = check_feed(collector.events())
    assert sorted(by_seq) == list(range(1, 8))
    a.uplink.wait_log("Delivery to the collector restored", 5)


def test_500s_are_retried_with_backoff(bed, make_agent, collector, pki):
    collector.script(500, 500, 500)
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="400ms", backoff_max="10s")).start()
    collector.wait_events(1, timeout=15)
    reqs = collector.requests
    assert [r["status"] for r in reqs[:4]] == [500, 500, 500, 200]
    # the same batch, again and again
    assert len({r["headers"]["X-Mamori-Batch"] for r in reqs[:4]}) == 1
    gaps = [reqs[i + 1]["time"] - reqs[i]["time"] for i in range(3)]
    # 400ms * 2^k with equal jitter: [0.2,0.4], [0.4,0.8], [0.8,1.6]; never
    # earlier, a little later (a round trip, timer slack)
    assert 0.2 <= gaps[0] <= 0.9 and 0.4 <= gaps[1] <= 1.3 and 0.8 <= gaps[2] <= 2.1, gaps
    assert gaps[2] > gaps[0]
    assert "answered HTTP 500" in a.uplink.log()
    check_feed(collector.events())


def test_429_retry_after_is_honoured(bed, make_agent, collector, pki):
    collector.script((429, {"Retry-After": "3"}))
    make_agent(main_conf=collector_conf(collector, pki, backoff_min="200ms", backoff_max="1s")).start()
    collector.wait_events(1, timeout=15)
    first, second = collector.requests[0], collector.requests[1]
    assert first["status"] == 429
    waited = second["time"] - first["time"]
    # not before the collector said, and not much later either
    assert 3.0 <= waited <= 4.5, waited


def test_400_for_one_batch_goes_to_dead_letter(bed, make_agent, collector, pki):
    collector.script(400)
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    wait_for(lambda: collector.requests and collector.requests[0]["status"] == 400, 10, what="the 400")
    rejected = collector.requests[0]["events"]
    plug_sticks(bed, 4)
    collector.wait_events(4, kind="usb.blocked")
    files = glob.glob(os.path.join(a.uplink.dead_letter, "*.ndjson"))
    assert len(files) == 1
    with open(files[0]) as f:
        lines = [json.loads(x) for x in f]
    meta = lines[0]["mamori_dead_letter"]
    assert meta["status"] == 400 and "test says 400" in meta["response"]
    assert meta["count"] == len(rejected) == len(lines) - 1
    assert [e["id"] for e in lines[1:]] == [e["id"] for e in rejected]
    # a collector that refuses events is a configuration to fix: status says so
    p = subprocess.run([os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl")),
                        "--socket", os.path.join(a.runtime, "control"), "status"],
                       capture_output=True, text=True, env=dict(os.environ, UMOCKDEV_DIR=a.bed.root), timeout=20)
    assert p.returncode == 3 and "NOT WORKING AS CONFIGURED" in p.stdout and "dead-letter" in p.stdout, p.stdout
    # the rest kept flowing: everything is either delivered or dead-lettered, nothing twice
    delivered = check_feed(collector.events(), allow_gaps={e["seq"] for e in rejected})
    assert not set(delivered) & {e["seq"] for e in rejected}
    assert "rejected events" in a.uplink.log() and "dead-letter" in a.uplink.log()


def test_hanging_collector_times_out_and_retries(bed, make_agent, collector, pki):
    collector.script("hang")
    a = make_agent(main_conf=collector_conf(collector, pki, timeout=2, backoff_min="200ms")).start()
    wait_for(lambda: collector.hanging == 1, 10, what="a hanging request")
    t0 = time.monotonic()
    collector.wait_events(1, timeout=15)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 6, took  # the 2s request bound, then a retry
    assert "did not answer within 2.0s" in a.uplink.log()
    assert collector.requests[0]["events"][0]["id"] == collector.events()[0]["id"]


def test_hang_at_connect(bed, make_agent, collector, pki):
    collector.hang_connections(1)  # TCP accepted, then silence: not even TLS
    a = make_agent(main_conf=collector_conf(collector, pki, timeout=2, backoff_min="200ms")).start()
    collector.wait_events(1, timeout=15)
    assert "did not answer within" in a.uplink.log()


def test_usb_blocking_does_not_wait_for_a_hanging_collector(bed, make_agent, collector, pki):
    collector.script("hang", "hang", "hang")
    a = make_agent(main_conf=collector_conf(collector, pki, timeout=60)).start()
    wait_for(lambda: collector.hanging >= 1, 10, what="a hanging request")
    for i in range(3):
        t0 = time.monotonic()
        dev, ifs = bed.add_usb("0781", "5567", serial=f"HANG{i}")
        wait_for(lambda: bed.authorized(ifs[0]) == "0", 5, interval=0.002, what="authorized=0")
        took = time.monotonic() - t0
        assert took < 1.0, f"blocking took {took:.3f}s while a POST hangs"
    a.wait_events("usb.blocked", 3)  # recorded durably too, meanwhile
    assert collector.hanging == 1 and len(collector.requests) == 1  # still the one request out
    collector.release()


def test_wrong_ca_sends_nothing(bed, make_agent, collector, pki):
    conf = collector_conf(collector, pki, ca_file=pki["other_ca"])
    a = make_agent(main_conf=conf).start()
    plug_sticks(bed, 2)
    a.wait_events("usb.blocked", 2)
    a.uplink.wait_log("certificate is not trusted", 10)
    # A retry after the sticks' events were recorded, refused again: only
    # then is "nothing went out" proved.
    tried = a.uplink.log().count("certificate is not trusted")
    wait_for(lambda: a.uplink.log().count("certificate is not trusted") > tried and len(collector.tls_errors) >= 2, 10,
             what="another refused handshake")
    assert collector.requests == []  # not one byte of an event went out
    assert len(a.events()) >= 3  # still safe in the spool
    line = [x for x in a.uplink.log().splitlines() if "certificate is not trusted" in x][0]
    assert pki["other_ca"] in line


def test_pinned_key(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki, pin=pki["pin"])).start()
    collector.wait_events(1)
    a.stop()
    wrong = "sha256//" + "A" * 43 + "="
    b = make_agent(main_conf=collector_conf(collector, pki, pin=wrong)).start()
    b.uplink.wait_log("does not match collector.pin", 10)
    assert len(collector.requests) == 1  # only the first agent's


def test_missing_client_certificate(bed, make_agent, collector, pki):
    conf = collector_conf(collector, pki, client_cert=None, client_key=None)
    a = make_agent(main_conf=conf).start()
    wait_for(lambda: collector.tls_errors, 10, what="the collector refusing the agent")
    a.uplink.wait_log("client certificate", 10)
    assert [r for r in collector.requests if r["events"]] == []
    assert any("CERTIFICATE" in e.upper() for e in collector.tls_errors)


def test_gzip_and_bearer_token(bed, make_agent, collector, pki, tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken-for-the-test\n")
    os.chmod(token, 0o600)
    make_agent(main_conf=collector_conf(collector, pki, gzip=True, token_file=str(token))).start()
    plug_sticks(bed, 2)
    collector.wait_events(3)
    r = collector.requests[0]
    assert r["headers"]["Content-Encoding"] == "gzip"
    assert r["headers"]["Authorization"] == "Bearer t0ken-for-the-test"
    check_feed(collector.events())


def test_world_readable_token_is_refused(bed, collector, pki, tmp_path):
    token = tmp_path / "token"
    token.write_text("secret\n")
    os.chmod(token, 0o644)
    conf = tmp_path / "mamori.conf"
    conf.write_text(collector_conf(collector, pki, token_file=str(token)))
    r = subprocess.run([MAMORID, "--config", str(conf), "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"{conf}:" in r.stdout and "readable by other users (mode 0644)" in r.stdout


def test_batches_are_bounded(bed, make_agent, collector, pki):
    devs = []
    for i in range(30):
        devs.append(bed.add_usb("0781", "5567", serial=f"B{i:03d}", uevent=False))
    make_agent(main_conf=collector_conf(collector, pki, batch_max_events=7)).start()
    collector.wait_events(31)
    assert max(len(r["events"]) for r in collector.requests) <= 7
    check_feed(collector.events())


def test_without_url_events_stay_in_spool_and_journal(bed, make_agent, collector):
    a = make_agent(uplink=True).start()  # running, as systemd starts it, with nothing to do
    plug_sticks(bed, 2)
    a.wait_events("usb.blocked", 2)
    assert collector.requests == []
    wait_for(lambda: [k for k, _, _ in journaled(a.log())].count("usb.blocked") == 2, 5,
             what="the journal lines, written once the events are durable")
    assert "No collector.url" in a.uplink.log()
    assert a.uplink.status()["STATE"] == "off"


def test_heartbeat(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki, heartbeat_interval=1)).start()
    collector.wait_events(1, kind="agent.started")
    collector.stop()  # events pile up: the heartbeat must show it
    plug_sticks(bed, 1)
    # Down long enough: a heartbeat recorded an event waiting a second or more.
    a.wait_events("agent.heartbeat", pred=lambda h: h["heartbeat"]["spool"]["depth"] >= 1
                  and h["heartbeat"]["spool"]["oldest_unsent_age_sec"] >= 1, timeout=10)
    collector.start()
    hb = collector.wait_events(2, kind="agent.heartbeat", timeout=10)
    for h in hb:
        assert h["agent"]["version"] and len(h["agent"]["policy_hash"]) == 64
        assert h["heartbeat"]["interval_sec"] == 1
        assert {"depth", "oldest_unsent", "oldest_unsent_age_sec", "bytes", "max_bytes"} <= set(h["heartbeat"]["spool"])
        assert h["heartbeat"]["uplink"]["last_success"] is not None  # agent.started went through
        assert h["heartbeat"]["uplink"]["running"] is True  # read from the uplink's status file
    waiting = [h["heartbeat"] for h in hb if h["heartbeat"]["spool"]["depth"] >= 1]
    assert waiting, "no heartbeat saw the events waiting"
    assert max(w["spool"]["oldest_unsent_age_sec"] for w in waiting) >= 1
    assert any(w["uplink"]["failures"] >= 1 and "cannot connect" in w["uplink"]["last_error"] for w in waiting)
    a.stop()


def test_mamorictl_status_and_flush(bed, make_agent, collector, pki):
    ctl_bin = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))

    def ctl(a, *args):
        env = dict(os.environ, UMOCKDEV_DIR=a.bed.root)
        return subprocess.run([ctl_bin, "--socket", os.path.join(a.runtime, "control"), *args],
                              capture_output=True, text=True, env=env, timeout=20)

    # a long backoff, so that only `flush` can explain a quick delivery
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="60s", backoff_max="120s")).start()
    collector.wait_events(1)
    collector.stop()
    plug_sticks(bed, 2)
    a.wait_events("usb.blocked", 2)
    a.uplink.wait_log("retrying in", 10)
    st = json.loads(ctl(a, "--json", "status").stdout)
    assert st["spool"]["depth"] >= 2 and st["spool"]["oldest_unsent"]
    assert st["uplink"]["state"] == "waiting" and "cannot connect" in st["uplink"]["last_error"]
    assert st["uplink"]["last_success"] is not None
    p = ctl(a, "status")
    out = p.stdout
    assert "events waiting to be sent" in out and collector.url in out and "Last post:" in out
    # an unreachable collector is an outage, not mamori failing: the events are kept
    assert "State:        mamori works" in out and p.returncode != 3, (p.returncode, out)

    collector.start()
    t0 = time.monotonic()
    p = ctl(a, "flush")
    assert p.returncode == 0, p.stderr
    assert "Flushing" in p.stdout and collector.url in p.stdout
    collector.wait_events(3, timeout=10)
    assert time.monotonic() - t0 < 5
    wait_for(lambda: json.loads(ctl(a, "--json", "status").stdout)["spool"]["depth"] == 0, 5, what="an empty spool")


def test_broken_config_at_start_still_reaches_the_collector(bed, make_agent, collector, pki):
    # the usb section is broken: mamorid fails closed; the collector section is sound
    broken = 'usb = { block = [ "storage", "floppy" ]; };\n'
    a = make_agent(main_conf=collector_conf(collector, pki, usb=broken)).start()
    err = collector.wait_events(1, kind="agent.config_error")[0]
    assert err["severity"] == "critical" and err["config"]["outcome"] == "fail_closed"
    assert "floppy" in err["config"]["errors"][0]["message"]
    started = collector.wait_events(1, kind="agent.started")[0]
    assert started["config"]["fail_closed"] is True
    assert "the central collector will hear of this" in a.log()
