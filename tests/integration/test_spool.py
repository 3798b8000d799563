# SPDX-License-Identifier: MIT
"""The spool under the real mamorid: kill -9 in the middle of bursts, a full
spool, a damaged one, and seq across restarts. Events are produced for real:
USB sticks in a umockdev testbed, which mamorid finds (and reports) at every
start. mamori-uplink reads the spool and delivers (kill -9 of one of the two
alone: test_privsep.py)."""
import os
import random
import signal
import struct
import subprocess
import time

import spool_reader
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf, journaled, spool_dir, spool_max_seq


def add_sticks(bed, n, prefix, vendor="0781", product="5567"):
    """n sticks present before mamorid starts: every start reports each one."""
    for i in range(n):
        bed.add_usb(vendor, product, serial=f"{prefix}{i:05d}", uevent=False)


def wait_in_log(agent, offset, needle, timeout):
    deadline = time.monotonic() + timeout
    with open(agent.stderr_path, "rb") as f:
        f.seek(offset)
        buf = b""
        while time.monotonic() < deadline:
            buf = buf[-len(needle):] + f.read()
            if needle in buf:
                return
            time.sleep(0.0005)
    raise AssertionError(f"no {needle!r} in the log within {timeout}s")


def drained(agent):
    """Everything recorded is delivered: the uplink's cursor reached the last record."""
    top = spool_max_seq(agent)
    return top > 0 and agent.uplink.acked() >= top


def test_kill9_during_bursts(bed, make_agent, collector, pki):
    """50 rounds or more of kill -9 of both processes during a burst of 1,000 events
    (the report of 1,000 sticks at start), while batches are in flight,
    failing or hanging.
    Afterwards the collector holds every recorded event, each exactly once
    after de-duplication by id, with contiguous seqs."""
    rng = random.Random(int(os.environ.get("MAMORI_TEST_SEED", "3")))
    add_sticks(bed, 1000, "K")
    a = make_agent(main_conf=collector_conf(collector, pki, batch_max_events=250, timeout=2,
                                            backoff_min="100ms", backoff_max="500ms"))
    cut = 0  # runs whose journal shows part of the burst: the kill landed mid-burst
    rnd = 0
    # 50 rounds at least; more (up to 150) while fewer than 12 kills have landed
    # mid-burst, since on a fast machine a burst can finish inside the sleep.
    while rnd < 50 or (cut < 12 and rnd < 150):
        trouble = rng.random()
        if trouble < 0.15:
            collector.script(500)
        elif trouble < 0.25:
            collector.script("hang")
        offset = os.path.getsize(a.stderr_path) if os.path.exists(a.stderr_path) else 0
        a.start(uplink_ready=False)  # mamorid's burst goes on while the uplink starts
        if rnd % 2 == 0:
            # into the burst: its first commit is journaled, the rest is being written
            wait_in_log(a, offset, b"MAMORI_EVENT_KIND=usb.blocked", 10)
            time.sleep(rng.uniform(0.0, 0.004))
        else:
            time.sleep(rng.uniform(0.0, 0.6))  # anywhere in the burst and its delivery (~0.3s)
        a.stop(signal.SIGKILL)
        with open(a.stderr_path, "rb") as f:
            f.seek(offset)
            n = f.read().count(b"MAMORI_EVENT_KIND=usb.blocked")
        cut += 0 < n < 1000
        rnd += 1
        collector.release()
        collector._released.clear()
    # the last run finishes its work
    offset = os.path.getsize(a.stderr_path)
    a.start()

    def burst_recorded():
        with open(a.stderr_path, "rb") as f:
            f.seek(offset)
            return f.read().count(b"MAMORI_EVENT_KIND=usb.blocked") >= 1000
    wait_for(burst_recorded, 30, interval=0.05, what="the last run's 1,000 events")
    wait_for(lambda: drained(a), 60, interval=0.1, what="the spool to drain")

    feed = check_feed(collector.events())           # unique ids, one id per seq, contiguous
    top = max(feed)
    assert top == spool_max_seq(a), "the collector lacks the newest recorded events"
    # Every event the agent ever reported as recorded (journaled after its
    # commit) reached the collector, with the same seq.
    recorded = journaled(a.log())
    assert len(recorded) >= 1000
    ids = {e["id"]: s for s, e in feed.items()}
    for kind, eid, seq in recorded:
        assert eid in ids, f"recorded event {kind} {eid} (seq {seq}) never reached the collector"
        assert ids[eid] == seq
    # The last run reported all 1,000 sticks.
    last_start = max(s for s, e in feed.items() if e["kind"] == "agent.started")
    serials = {e["device"]["serial"] for s, e in feed.items() if s > last_start and e["kind"] == "usb.blocked"}
    assert len(serials) == 1000
    # A kill can tear a write (never committed, cut at the next start) but never damage a committed record.
    assert not [e for e in feed.values() if e["kind"] == "agent.spool_corrupt" and e["spool"]["damage"] == "corrupt"]
    # Far more events were recorded than one run makes.
    assert top > 3000, top
    runs = []  # usb.blocked recorded by each run that recorded its start
    for seq in sorted(feed):
        if feed[seq]["kind"] == "agent.started":
            runs.append(0)
        elif feed[seq]["kind"] == "usb.blocked" and runs:
            runs[-1] += 1
    partial = sum(1 for r in runs[:-1] if 0 < r < 1000)
    # Bursts were really cut short: half the rounds kill right after a burst's
    # first commit, and rounds go on until 12 runs journaled part of a burst;
    # each of those recorded some of their 1,000, not all (a run whose last
    # commit was not yet journaled may count whole: hence 10, not 12).
    assert partial >= 10, f"only {partial} kills landed mid-burst: {runs}"
    dups = len(collector.events()) - len(feed)
    torn = sum(1 for e in feed.values() if e["kind"] == "agent.spool_corrupt")
    started = sum(1 for e in feed.values() if e["kind"] == "agent.started")
    print(f"\nkill -9: {top} events recorded and delivered exactly once; {dups} resent copies de-duplicated; "
          f"{started} starts recorded, {partial} bursts cut short by the kill in {rnd} rounds; {torn} torn tails cut; "
          f"{len(collector.requests)} requests")
    a.stop()


def test_spool_full_drops_oldest_low_severity_with_exact_count(bed, make_agent, collector, pki):
    allow = ('allow = ( { vendor = "1234"; product = "5678"; any_serial = true; '
             'approved_by = "Test Officer"; label = "approved model"; } );\n')
    add_sticks(bed, 1200, "A", vendor="1234", product="5678")  # usb.allowed: info
    add_sticks(bed, 200, "B")                                   # usb.blocked: high
    # no url yet: nothing leaves (and nothing is in flight) while the spool fills
    a = make_agent(main_conf=collector_conf(spool_mb=1), allow={"10-ok.conf": allow})
    a.start()
    wait_for(lambda: sum(1 for k, _, _ in journaled(a.log()) if k.startswith("usb.")) == 1400, 30,
             what="1,400 USB events recorded")
    segs = [os.path.join(spool_dir(a), f) for f in os.listdir(spool_dir(a)) if f.endswith(".seg")]
    assert sum(os.path.getsize(f) for f in segs) <= 1024 * 1024, "the spool passed its bound"
    assert "Spool full: dropping" in a.log()

    a.write_conf(collector_conf(collector, pki, spool_mb=1))
    a.reload()
    wait_for(lambda: drained(a), 30, interval=0.1, what="the spool to drain")
    evs = collector.events()
    drops = [e for e in evs if e["kind"] == "agent.events_dropped"]
    assert drops, "no drop event"
    dropped = set()
    for d in drops:
        n = 0
        for first, last in d["dropped"]["seq_ranges"]:
            rng = set(range(first, last + 1))
            assert not rng & dropped, "a seq dropped twice"
            dropped |= rng
            n += len(rng)
        assert n == d["dropped"]["count"]                      # each count is exact
        assert d["dropped"]["by_severity"]["info"] == n          # only the lowest severity went
        assert d["severity"] == "high"
    feed = check_feed(evs, allow_gaps=dropped)                  # every other seq is there
    assert not dropped & set(feed), "a dropped event was delivered"
    assert sum(d["dropped"]["count"] for d in drops) == len(dropped)
    kinds = [e["kind"] for e in feed.values()]
    assert kinds.count("usb.blocked") == 200                    # no high event was dropped
    info_made = 1200 + 1                                        # the sticks, and agent.started
    assert kinds.count("usb.allowed") + ("agent.started" in kinds) + len(dropped) == info_made
    # oldest first: every surviving info event is newer than every dropped one
    survivors = [s for s, e in feed.items() if e["severity"] == "info"]
    assert min(survivors) > max(dropped) or not survivors


def flip_byte_in_last_record(agent):
    d = spool_dir(agent)
    seg = sorted(f for f in os.listdir(d) if f.endswith(".seg"))[-1]
    path = os.path.join(d, seg)
    recs = list(spool_reader.records(d))
    last_seq = recs[-1][0]
    with open(path, "r+b") as f:
        data = f.read()
        at = len(data) - 40  # inside the last record's JSON
        f.seek(at)
        f.write(bytes([data[at] ^ 0x20]))
    return last_seq


def test_corrupted_tail_is_cut_and_reported(bed, make_agent, collector, pki):
    a = make_agent()  # no collector yet: events stay in the spool
    a.start()
    for i in range(3):
        bed.add_usb("0781", "5567", serial=f"C{i}")
    a.wait_events("usb.blocked", 3)
    a.stop()
    bad_seq = flip_byte_in_last_record(a)  # agent.stopping
    a.write_conf(collector_conf(collector, pki))
    a.start()
    corrupt = collector.wait_events(1, kind="agent.spool_corrupt")[0]
    collector.wait_events(bad_seq + 1)
    lost = corrupt["spool"]["possibly_lost_seq"]
    assert corrupt["spool"]["damage"] == "corrupt" and corrupt["spool"]["action"] == "cut"
    assert lost["first"] == bad_seq <= lost["last"]
    assert corrupt["spool"]["last_good_seq"] == bad_seq - 1
    feed = check_feed(collector.events(), allow_gaps=set(range(lost["first"], lost["last"] + 1)))
    # what came before is intact and delivered; nothing after reuses a seq that may have been seen
    assert [feed[s]["kind"] for s in range(1, bad_seq)].count("usb.blocked") == 3
    assert min(s for s in feed if s > bad_seq) > lost["last"]
    assert "The spool is damaged" in a.log()
    assert a.proc.poll() is None


def test_torn_tail_is_cut_and_seq_stays_contiguous(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki))
    a.start()
    collector.wait_events(1)
    a.stop(signal.SIGKILL)
    d = spool_dir(a)
    seg = sorted(f for f in os.listdir(d) if f.endswith(".seg"))[-1]
    top = spool_max_seq(a)
    # what a write cut short by a crash leaves: the start of the next record
    head = struct.pack("<IIQQHBB", 0x3152534D, 500, top + 1, 0, 0, 1, 0)
    with open(os.path.join(d, seg), "ab") as f:
        f.write(head + b'{"id":"half')
    a.start()
    torn = collector.wait_events(1, kind="agent.spool_corrupt")[0]
    assert torn["spool"]["damage"] == "torn_write" and "possibly_lost_seq" not in torn["spool"]
    check_feed(collector.events())  # contiguous: the torn record's seq was never shown
    assert torn["seq"] > top


def test_seq_continues_after_restarts(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki))
    # the event log of earlier versions reserved up to 5000: never reuse those
    os.makedirs(a.state, exist_ok=True)
    with open(os.path.join(a.state, "seq"), "w") as f:
        f.write("5000\n")

    def has_serial(serial, count):
        return lambda: sum(1 for e in collector.events("usb.blocked") if e["device"]["serial"] == serial) >= count

    seen = []
    for i, how in enumerate((signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL)):
        a.start()
        bed.add_usb("0781", "5567", serial=f"R{i}")
        wait_for(has_serial(f"R{i}", 1), 10, what=f"R{i} delivered")
        # every stick plugged so far is reported again by this run's scan: wait for those too
        for k in range(i):
            wait_for(has_serial(f"R{k}", i - k + 1), 10, what=f"R{k} reported again")
        wait_for(lambda: drained(a), 10, what="delivery")
        seen.append(spool_max_seq(a))
        a.stop(how)
    a.start()
    for k in range(4):
        wait_for(has_serial(f"R{k}", 4 - k + 1), 10, what=f"R{k} reported by the last run")
    wait_for(lambda: drained(a), 10, what="delivery")
    feed = collector.unique()
    seqs = sorted(e["seq"] for e in feed.values())
    assert seqs[0] == 5000
    assert seqs == list(range(5000, 5000 + len(seqs)))  # no gap, no repeat
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    # delivered segments go, but the newest keeps its last record: the floor survives an empty spool
    assert spool_max_seq(a) == seqs[-1]
