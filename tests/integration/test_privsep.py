# SPDX-License-Identifier: MIT
"""Privilege separation (issue 11): mamorid (root) records events in its
spool, mamori-uplink (its own user) reads the spool and delivers. Two
processes, each of which can die or be denied while the other goes on:
kill -9 of either during bursts, the uplink down while sticks are plugged,
a spool the uplink cannot read, a delivery cursor tampered with by the
uplink's user. The delivery contract of docs/events.md holds throughout:
nothing recorded is lost, no seq is given twice, a copy is only ever the
same event again (at-least-once)."""
import json
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import time
import zlib

import pytest

import fault_lib
import spool_reader
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf, journaled, spool_dir, spool_max_seq

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
NOBODY = 65534


def ctl(agent, *args):
    env = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    return subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                          capture_output=True, text=True, env=env, timeout=20)


def status(agent):
    p = ctl(agent, "--json", "status")
    assert p.returncode in (0, 3), p.stdout + p.stderr
    return json.loads(p.stdout)


def serials(events):
    return [e["device"]["serial"] for e in events if e["kind"] == "usb.blocked"]


def drained(agent):
    top = spool_max_seq(agent)
    return top > 0 and agent.uplink.acked() >= top


def check_everything_delivered(agent, collector, allow_gaps=()):
    """Every event mamorid journaled as recorded reached the collector with
    its seq; the feed is contiguous, one id per seq, copies identical."""
    feed = check_feed(collector.events(), allow_gaps=allow_gaps)
    ids = {e["id"]: s for s, e in feed.items()}
    recorded = journaled(agent.log())
    assert recorded
    for kind, eid, seq in recorded:
        assert eid in ids, f"recorded event {kind} {eid} (seq {seq}) never reached the collector"
        assert ids[eid] == seq, f"{kind} {eid} recorded as seq {seq}, delivered as seq {ids[eid]}"
    assert max(feed) == spool_max_seq(agent), "the collector lacks the newest recorded events"
    return feed


# ---- kill -9 of either process during bursts ----

def test_kill9_of_either_process_during_bursts(bed, make_agent, collector, pki):
    """50 kills in all, one process at a time, while the other goes on:
    mamorid in the middle of a stream of plugs (the sticks plugged while it
    is down are reported by its next start, all at once: the uplink's
    burst), the uplink in the middle of delivering such a burst, with
    batches in flight or failing. In the end the collector holds every
    recorded event with its seq, seqs contiguous (none given twice), and the
    copies sent again are the same events, no more than the batches the
    uplink's kills cut short."""
    rng = random.Random(int(os.environ.get("MAMORI_TEST_SEED", "11")))
    batch = 16
    for i in range(40):
        bed.add_usb("0781", "5567", serial=f"K{i:05d}", uevent=False)
    a = make_agent(main_conf=collector_conf(collector, pki, batch_max_events=batch, timeout=2,
                                            backoff_min="100ms", backoff_max="500ms"))
    a.start()
    t0 = time.monotonic()
    kills = {"mamorid": 0, "uplink": 0}
    plugged = []
    mid_stream = 0  # mamorid's kills after it recorded part of the stream
    cut = 0         # the uplink's kills with events waiting for it
    for rnd in range(50):
        if rng.random() < 0.15:
            collector.script(500)
        if rnd % 2 == 0:
            # mamorid: killed in a stream of 8 plugs, the rest plugged while it is down
            if not a.running():
                a.start(uplink=False)
            offset = a.log_size()
            at = rng.randint(2, 6)
            mine = []
            for k in range(8):
                serial = f"L{len(plugged):05d}"
                bed.add_usb("0781", "5567", serial=serial)
                plugged.append(serial)
                mine.append(serial)
                if k == 0:
                    # the stream is being recorded: its first event is journaled
                    a.wait_log(f'serial "{serial}"', 10, since=offset, interval=0.001)
                if k == at:
                    time.sleep(rng.uniform(0.0, 0.003))
                    a.kill9()
                    kills["mamorid"] += 1
                    with open(a.stderr_path, "rb") as f:
                        f.seek(offset)
                        log = f.read()
                    # some of the stream recorded, some still on its way
                    mid_stream += sum(f'serial "{x}"'.encode() in log for x in mine) < len(mine)
        else:
            # the uplink: killed while it delivers the burst of mamorid's start
            n0 = len(collector.events("usb.blocked"))
            a.start(uplink=False, wait_ready=False)
            wait_for(lambda: len(collector.events("usb.blocked")) > n0, 10, interval=0.001,
                     what="the delivery of the burst under way")
            # early in the burst: the uplink drains one in a few ms
            time.sleep(rng.uniform(0.0, 0.005))
            killed_at = time.time() * 1e6
            a.uplink.kill9()
            kills["uplink"] += 1
            acked = a.uplink.acked()
            # an event of before the kill that the uplink had not delivered yet
            cut += any(seq > acked and t < killed_at for seq, t, *_ in spool_reader.records(spool_dir(a)))
            a.uplink.start(wait_ready=False)
        assert a.uplink.running(), a.uplink.run_log()[-3000:]
    took = time.monotonic() - t0
    a.uplink.wait_notify("READY=1")
    bed.add_usb("0781", "5567", serial="FINAL")
    wait_for(lambda: "FINAL" in serials(collector.events()), 30, what="the last stick delivered")
    wait_for(lambda: drained(a), 30, interval=0.1, what="the spool to drain")

    feed = check_everything_delivered(a, collector)
    # Every stick reached the collector, those plugged while mamorid was down too.
    assert set(plugged) <= set(serials(feed.values()))
    # Only what was in flight when the uplink died comes twice: its cursor
    # survives a kill -9, and mamorid's restarts never make it resend.
    dups = len(collector.events()) - len(collector.unique())
    assert dups <= kills["uplink"] * batch, f"{dups} copies for {kills['uplink']} kills of the uplink"
    # A kill can tear mamorid's write (cut at its next start), never a committed record.
    assert not [e for e in feed.values() if e["kind"] == "agent.spool_corrupt" and e["spool"]["damage"] == "corrupt"]
    # The kills landed where they should: mamorid's in the stream it was
    # recording, the uplink's with events waiting.
    assert mid_stream >= 10, f"only {mid_stream} of mamorid's kills came after it recorded part of the stream"
    assert cut >= 10, f"only {cut} of the uplink's kills came with events waiting"
    print(f"\nkill -9 x{sum(kills.values())} ({kills}) in {took:.1f}s: {max(feed)} events delivered, "
          f"{dups} copies sent again, {mid_stream} streams and {cut} deliveries cut short, {len(collector.requests)} requests")
    assert a.stop() == 0


# ---- the uplink down: blocking never waits for it ----

@pytest.mark.parametrize("how", ["kill9", "stop"])
def test_blocking_goes_on_while_the_uplink_is_down(bed, make_agent, collector, pki, how):
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    collector.wait_events(1, kind="agent.started")
    if how == "kill9":
        a.uplink.kill9()
    else:
        assert a.uplink.stop() == 0
    st = status(a)["uplink"]
    assert st["running"] is False, st
    p = ctl(a, "--json", "flush")
    rep = json.loads(p.stdout)
    assert rep["uplink"] is False and "mamori-uplink is not running" in rep["detail"], rep

    plugged = [f"DOWN{i}" for i in range(5)]
    for s in plugged:
        t0 = time.monotonic()
        _, ifs = bed.add_usb("0781", "5567", serial=s)
        wait_for(lambda: bed.authorized(ifs[0]) == "0", 5, interval=0.002, what=f"{s} blocked")
        took = time.monotonic() - t0
        assert took < 1.0, f"blocking took {took:.3f}s while the uplink is down"
    # recorded durably (journaled once committed), and kept in the spool
    wait_for(lambda: [k for k, _, _ in journaled(a.log())].count("usb.blocked") == len(plugged), 10,
             what="the sticks' events recorded")
    assert sorted(serials(a.events("usb.blocked"))) == plugged
    assert serials(collector.events()) == []

    a.uplink.start()
    wait_for(lambda: set(plugged) <= set(serials(collector.events())), 15, what="the events delivered")
    check_everything_delivered(a, collector)
    wait_for(lambda: status(a)["uplink"]["running"] is True, 5, what="status: running")
    assert a.stop() == 0


# ---- a spool the uplink cannot read ----

UPLINK_GID = 64123  # the group mamori-uplink of the test's mount namespace


@pytest.fixture
def uplink_group(tmp_path):
    """The system group mamori-uplink (sysusers.d makes it on a real
    install), in a mount namespace of the test's own: its /etc/group is a
    copy with that line added, bind-mounted; nothing leaks to the machine."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    fault_lib.private_mounts()
    group = tmp_path / "group"
    with open("/etc/group") as f:
        text = f.read()
    group.write_text(text + ("" if text.endswith("\n") else "\n") + f"mamori-uplink:x:{UPLINK_GID}:\n")
    os.chmod(group, 0o644)
    fault_lib.bind_file("/etc/group", str(group))
    try:
        yield UPLINK_GID
    finally:
        fault_lib.umount("/etc/group")


def _pki_for(gid, pki, d):
    """The collector's files as packaging installs them: the client key
    root:mamori-uplink 0640, readable by the uplink and root alone."""
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    out = dict(pki)
    for key, mode in (("ca", 0o644), ("client_cert", 0o644), ("client_key", 0o640)):
        dst = os.path.join(d, os.path.basename(pki[key]))
        shutil.copyfile(pki[key], dst)
        os.chown(dst, 0, gid if key == "client_key" else 0)
        os.chmod(dst, mode)
        out[key] = dst
    return out


def test_uplink_cannot_read_the_spool(bed, make_agent, collector, pki, uplink_group):
    """The uplink as its own user (nobody, group mamori-uplink here) reads a
    spool that tmpfiles made root:mamori-uplink 2750, with the client key
    root:mamori-uplink 0640. Denied (the directory root's alone), it says
    so clearly, in its log and in status, and goes on running; mamorid
    keeps every event; readable again, they are delivered by its retry (a
    backoff armed only while the spool cannot be read: the uplink cannot
    watch a directory it cannot read), or at once by `mamorictl flush`,
    which its log names."""
    a = make_agent()
    os.chmod(a.dir, 0o711)
    mine = _pki_for(uplink_group, pki, os.path.join(a.dir, "pki"))
    a.write_conf(collector_conf(collector, mine, backoff_min="200ms", backoff_max="1s"))
    # mamorid loads the same file: the key's packaging mode is no error to it either
    rc, out, err = a.check_config()
    assert rc == 0, out + err
    # what systemd (StateDirectoryMode=0711) and tmpfiles.d make before the services start
    os.makedirs(a.state, mode=0o711)
    os.chmod(a.state, 0o711)
    d = spool_dir(a)
    os.mkdir(d)
    os.chown(d, 0, uplink_group)
    os.chmod(d, 0o2750)
    a.uplink.user = (NOBODY, uplink_group)
    a.start()
    with open(f"/proc/{a.uplink.proc.pid}/status") as f:
        assert re.search(r"^Uid:\s+65534\s", f.read(), re.M), "the uplink does not run as nobody"
    collector.wait_events(1, kind="agent.started")

    # The spool's group is not the uplink's any more: it cannot list or open anything.
    a.uplink.stop()
    os.chmod(d, 0o2700)
    offset = a.uplink.log_size()
    a.uplink.start()
    plugged = [f"DENIED{i}" for i in range(3)]
    for s in plugged:
        bed.add_usb("0781", "5567", serial=s)
    wait_for(lambda: sorted(serials(a.events("usb.blocked"))) == plugged, 10, what="the events recorded")
    a.uplink.wait_log("Permission denied", 10, since=offset)
    line = [x for x in a.uplink.run_log().splitlines() if "Permission denied" in x][0]
    assert d in line, f"the error does not name the spool: {line}"
    st = wait_for(lambda: (lambda u: u if u.get("last_error") and "spool" in u["last_error"] else None)(
        status(a)["uplink"]), 10, what="status naming the unreadable spool")
    assert st["running"] is True, st
    assert a.uplink.status()["LAST_ERROR"], a.uplink.status()
    assert serials(collector.events()) == []
    assert a.uplink.running()

    # The log says how to go on once it is fixed; readable again, the retry
    # (no new event, no flush) delivers what was kept.
    assert "mamorictl flush" in line or "mamorictl flush" in a.uplink.run_log(), a.uplink.run_log()[-3000:]
    assert "retried in" in a.uplink.run_log(), a.uplink.run_log()[-3000:]
    os.chmod(d, 0o2750)
    try:
        # the backoff doubles from 1 s: at most 16 s by now
        wait_for(lambda: set(plugged) <= set(serials(collector.events())), 40, what="the kept events delivered")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- the uplink's log ---\n{a.uplink.run_log()[-4000:]}") from None
    wait_for(lambda: status(a)["uplink"].get("last_error") is None, 10, what="the error gone from status")
    check_everything_delivered(a, collector)
    assert a.stop() == 0


# ---- a cursor file tampered with by the uplink's user ----

TAMPER = ["garbage", "past-end", "past-sane", "rolled-back", "fifo", "symlink", "huge"]


@pytest.mark.parametrize("case", TAMPER)
def test_tampered_uplink_cursor(bed, make_agent, collector, pki, case):
    """The uplink's cursor (its state directory, its user's file) says
    what was delivered; mamorid reads it before each commit to retire
    delivered segments. Garbage, a seq past the spool's end, one rolled
    back, a FIFO, a symlink, a huge file: mamorid neither loses an event nor
    blocks nor crashes, records the damage once (agent.spool_corrupt, file
    "uplink cursor"), and everything is delivered once the uplink is back."""
    a = make_agent(main_conf=collector_conf(collector, pki)).start()
    for i in range(2):
        bed.add_usb("0781", "5567", serial=f"OK{i}")
    collector.wait_events(3)
    try:
        wait_for(lambda: drained(a), 10, what="delivered")
    except AssertionError as e:
        recs = [(r[0], json.loads(r[4])["kind"]) for r in spool_reader.records(spool_dir(a))]
        with open(os.path.join(spool_dir(a), "committed"), "rb") as f:
            committed = f.read().hex()
        raise AssertionError(f"{e}: {recs} acked {a.uplink.acked()} committed {committed}\n{a.uplink.log()[-2000:]}")
    top1 = a.uplink.acked()
    gen = spool_reader.cursor_generation(a.uplink.cursor)
    assert gen >= 0 and top1 >= 3
    assert a.uplink.stop() == 0
    # Recorded while the uplink is away: mamorid's copy of the cursor stays at top1.
    waiting = [f"WAIT{i}" for i in range(3)]
    for s in waiting:
        bed.add_usb("0781", "5567", serial=s)
    wait_for(lambda: set(waiting) <= set(serials(a.events("usb.blocked"))), 10, what="recorded")
    wait_for(lambda: spool_reader.acked(spool_dir(a)) == top1, 5, what=f"mamorid's cursor at {top1}")
    top2 = spool_max_seq(a)

    path = a.uplink.cursor
    os.unlink(path)
    outside = os.path.join(a.dir, "outside")
    claimed = None
    if case == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(1024))
    elif case == "past-end":
        claimed = top2 + 1000
        spool_reader.write_cursor(path, gen + 1, claimed)
    elif case == "past-sane":
        claimed = 2**64 - 1
        spool_reader.write_cursor(path, gen + 1, claimed)
    elif case == "rolled-back":
        spool_reader.write_cursor(path, gen + 1, 1)
    elif case == "fifo":
        os.mkfifo(path, 0o644)
    elif case == "symlink":
        spool_reader.write_cursor(outside, gen + 1, top2)  # a sane value, but not the uplink's file
        os.symlink(outside, path)
    elif case == "huge":
        spool_reader.write_cursor(path, gen + 1, top1)  # the value it had, in a sparse terabyte
        os.truncate(path, 1 << 40)

    # mamorid reads the cursor at its next commit: a plug, blocked at once all the same
    offset = a.log_size()
    t0 = time.monotonic()
    _, ifs = bed.add_usb("0781", "5567", serial="AFTER0")
    wait_for(lambda: bed.authorized(ifs[0]) == "0", 5, interval=0.002, what="AFTER0 blocked")
    assert time.monotonic() - t0 < 1.0
    wait_for(lambda: "AFTER0" in serials(a.events("usb.blocked")), 10, what="AFTER0 recorded")

    def reports():
        return [e for e in a.events("agent.spool_corrupt") if e["spool"].get("file") == "uplink cursor"]
    damaged = case not in ("rolled-back", "huge")  # acks only move forward; the first 4 KiB are the cursor
    if damaged:
        wait_for(reports, 10, what="agent.spool_corrupt for the uplink cursor")
        ev = reports()[0]
        if claimed is not None:
            assert ev["spool"]["damage"] == "seq_out_of_range" and ev["spool"]["claimed_seq"] == claimed, ev
        a.wait_log(path, 5, since=offset)  # the log names the file
    # Once per distinct value (or change of the file): another commit says nothing new.
    bed.add_usb("0781", "5567", serial="AFTER1")
    wait_for(lambda: "AFTER1" in serials(a.events("usb.blocked")), 10, what="AFTER1 recorded")
    assert len(reports()) == (1 if damaged else 0), reports()
    # Nothing was retired on the word of the tampered file: every waiting event is still there.
    assert spool_reader.acked(spool_dir(a)) == top1
    kept = set(serials(spool_reader.events(spool_dir(a), undelivered_only=True)))
    assert set(waiting) | {"AFTER0", "AFTER1"} <= kept
    assert a.running()
    # A restart of mamorid with the file still there: it opens, and keeps everything.
    assert a.stop(uplink=False) == 0
    a.start(uplink=False)
    assert set(waiting) <= set(serials(spool_reader.events(spool_dir(a), undelivered_only=True)))

    # The uplink's user puts things right (a rolled-back cursor may stay:
    # it only sends again what was delivered), and the uplink delivers.
    if case not in ("rolled-back", "huge"):
        os.unlink(path)
    a.uplink.start()
    wait_for(lambda: set(waiting) | {"AFTER0", "AFTER1"} <= set(serials(collector.events())), 15,
             what="the waiting events delivered")
    wait_for(lambda: drained(a), 10, what="drained")
    check_everything_delivered(a, collector)
    assert stat.S_ISREG(os.lstat(a.uplink.cursor).st_mode)
    assert a.stop() == 0


# ---- the durability rule: nothing past the committed mark ----

def _write_committed(spool, seq):
    """spool/committed as mamorid writes it after each commit's fdatasync:
    "MSK1", pad, the last durable seq, crc32 of the first 16 bytes."""
    b = struct.pack("<4sIQ", b"MSK1", 0, seq)
    with open(os.path.join(spool, "committed"), "r+b") as f:
        f.write(b + struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF))


def test_uplink_sends_nothing_past_the_committed_mark(bed, make_agent, collector, pki):
    """A record mamorid wrote but has not made durable (its fdatasync and
    the committed mark still to come) could be torn by a crash and its seq
    handed out again: the uplink never sends it. Five events recorded, the
    mark set back to 2: the first batch holds 1 and 2 only; the mark moved
    on, the rest follows."""
    a = make_agent()  # no collector: everything stays in the spool
    a.start()
    for i in range(4):
        bed.add_usb("0781", "5567", serial=f"M{i}")
    a.wait_events("usb.blocked", 4)
    assert a.stop() == 0
    top = spool_max_seq(a)
    assert top >= 5
    d = spool_dir(a)
    _write_committed(d, 2)
    a.write_conf(collector_conf(collector, pki))
    a.uplink.start()  # mamorid is not running: nothing moves the mark but the test
    collector.wait_events(2)
    first = collector.requests[0]
    assert [e["seq"] for e in first["events"]] == [1, 2], [e["seq"] for e in first["events"]]
    assert sorted(e["seq"] for e in collector.events()) == [1, 2]
    wait_for(lambda: a.uplink.acked() == 2, 5, what="the uplink's cursor at 2")
    # the mark moves (inotify wakes the uplink): the rest goes
    _write_committed(d, top)
    collector.wait_events(top)
    check_feed(collector.events())
    assert max(e["seq"] for e in collector.events()) == top
    assert a.uplink.stop() == 0
