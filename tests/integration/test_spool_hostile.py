# SPDX-License-Identifier: MIT
"""What a crash, a broken disk or someone with a shell can leave in
/var/lib/mamori/spool, under the real mamorid: a sparse terabyte segment, a
cursor or seq floor past any record, files of the wrong type under the
spool's names, a spool directory that is a symlink. Each time mamorid starts,
records agent.spool_corrupt, keeps every good event, and delivers the old and
the new ones (docs/events.md, spool.damage)."""
import os
import signal

import pytest

import spool_reader
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf, spool_dir, spool_max_seq

TIB = 1 << 40


def record_some(make_agent, bed, n=3, prefix="H"):
    """A run without a collector: n sticks reported, every event left in the spool."""
    a = make_agent()
    a.start()
    for i in range(n):
        bed.add_usb("0781", "5567", serial=f"{prefix}{i}")
    a.wait_events("usb.blocked", n)
    assert a.stop() == 0
    return a, spool_max_seq(a)


def segments(a):
    d = spool_dir(a)
    return sorted(f for f in os.listdir(d) if f.endswith(".seg"))


def restart_with_collector(a, collector, pki):
    a.write_conf(collector_conf(collector, pki))
    a.start()
    assert a.proc.poll() is None


def damage_events(collector, damage, count=1):
    def got():
        evs = [e for e in collector.unique().values()
               if e["kind"] == "agent.spool_corrupt" and e["spool"]["damage"] == damage]
        return evs if len(evs) >= count else None
    return wait_for(got, 30, what=f"{count} agent.spool_corrupt ({damage})")


def new_event_delivered(a, bed, collector, serial):
    bed.add_usb("0781", "5567", serial=serial)
    wait_for(lambda: any(e["device"]["serial"] == serial for e in collector.events("usb.blocked")), 15,
             what=f"{serial} delivered")


def write_cursor(a, gen, acked, slot=None):
    """One checksummed slot of mamorid's ack cursor in the spool, in the slot
    the generation goes to."""
    spool_reader.write_cursor(os.path.join(spool_dir(a), "cursor"), gen, acked, slot)


def test_sparse_terabyte_segments(bed, make_agent, collector, pki):
    a, top = record_some(make_agent, bed)
    d = spool_dir(a)
    newest = os.path.join(d, segments(a)[-1])
    good = os.path.getsize(newest)
    os.truncate(newest, TIB)                                   # the real one, extended
    with open(os.path.join(d, "00000000ffffffff.seg"), "wb") as f:  # and one of its own
        f.truncate(TIB)
    restart_with_collector(a, collector, pki)
    ev = damage_events(collector, "oversized")[0]
    assert ev["spool"]["action"] == "cut" and ev["spool"]["bytes"] == TIB - good
    assert "possibly_lost_seq" not in ev["spool"]
    # Every event of the first run is delivered, then the new ones.
    new_event_delivered(a, bed, collector, "AFTER1")
    feed = check_feed(collector.events())
    assert [feed[s]["kind"] for s in range(1, top + 1)].count("usb.blocked") == 3
    assert max(feed) > top
    assert os.path.getsize(newest) < 1 << 20  # cut back, then written on
    assert "00000000ffffffff.seg" not in os.listdir(d)
    assert "agent.spool_corrupt" in a.log()


@pytest.mark.parametrize("case", ["max", "past-records", "past-sane", "wild-generation"])
def test_cursor_out_of_range(bed, make_agent, collector, pki, case):
    a, top = record_some(make_agent, bed)
    acked, gen, floor = {
        "max": (2**64 - 1, 7, None),
        "past-records": (top + 1000, 7, top + 1000),
        "past-sane": (2**60, 7, None),
        "wild-generation": (2**64 - 1, 2**64 - 1, None),
    }[case]
    write_cursor(a, gen, acked)
    restart_with_collector(a, collector, pki)
    ev = damage_events(collector, "seq_out_of_range")[0]
    assert ev["spool"]["claimed_seq"] == acked and ev["spool"]["file"] == "cursor"
    assert ev["spool"]["last_good_seq"] == top
    new_event_delivered(a, bed, collector, "AFTER1")
    # Nothing was delivered before: all of it comes now. A sane cursor past the
    # records stays a floor (no seq comes twice): the feed jumps over it.
    gaps = set(range(top + 1, floor + 1)) if floor else set()
    feed = check_feed(collector.events(), allow_gaps=gaps)
    assert [feed[s]["kind"] for s in range(1, top + 1)].count("usb.blocked") == 3
    assert min(s for s in feed if s > top) == (floor or top) + 1
    # Delivery goes on across a restart: the cursors are sane again (the
    # uplink's, which started from the spool's, and mamorid's copy).
    wait_for(lambda: a.uplink.acked() >= spool_max_seq(a), 15, what="the spool drained")
    assert a.uplink.acked() < 2**52
    assert spool_reader.acked(spool_dir(a)) < 2**52
    a.stop()
    a.start()
    new_event_delivered(a, bed, collector, "AFTER2")
    assert not [e for e in collector.events("agent.spool_corrupt") if e["seq"] > max(feed)]
    check_feed(collector.events(), allow_gaps=gaps)


def test_old_seq_file_far_in_the_future(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki))
    os.makedirs(a.state, exist_ok=True)
    with open(os.path.join(a.state, "seq"), "w") as f:
        f.write("18446744073709551615\n")
    a.start()
    ev = damage_events(collector, "seq_out_of_range")[0]
    assert ev["spool"]["file"] == "seq" and ev["spool"]["claimed_seq"] == 2**64 - 1
    new_event_delivered(a, bed, collector, "AFTER1")
    check_feed(collector.events())  # from 1, contiguous


def test_foreign_files_under_spool_names(bed, make_agent, collector, pki):
    a, top = record_some(make_agent, bed)
    d = spool_dir(a)
    outside = os.path.join(a.dir, "outside")
    with open(outside, "w") as f:
        f.write("not the spool's\n")
    os.mkdir(os.path.join(d, "00000000000f0000.seg"))
    with open(os.path.join(d, "00000000000f0000.seg", "inside"), "w") as f:
        f.write("x")
    os.symlink(outside, os.path.join(d, "00000000000f0001.seg"))
    os.mkfifo(os.path.join(d, "00000000000f0002.seg"))
    os.mkdir(os.path.join(d, "0000000000000001.seg.tmp"))
    os.unlink(os.path.join(d, "cursor"))
    os.symlink(outside, os.path.join(d, "cursor"))
    restart_with_collector(a, collector, pki)
    evs = damage_events(collector, "foreign_file", 5)
    assert {e["spool"]["file"] for e in evs} == {"00000000000f0000.seg", "00000000000f0001.seg", "00000000000f0002.seg",
                                                  "0000000000000001.seg.tmp", "cursor"}
    new_event_delivered(a, bed, collector, "AFTER1")
    feed = check_feed(collector.events())
    assert [feed[s]["kind"] for s in range(1, top + 1)].count("usb.blocked") == 3
    assert open(outside).read() == "not the spool's\n"
    names = os.listdir(d)
    assert "00000000000f0000.seg.bad-0" in names  # not empty: moved aside, kept for whoever looks
    for gone in ("00000000000f0001.seg", "00000000000f0002.seg", "0000000000000001.seg.tmp"):
        assert gone not in names
    assert os.path.isfile(os.path.join(d, "cursor")) and not os.path.islink(os.path.join(d, "cursor"))
    a.stop(signal.SIGTERM)


@pytest.mark.parametrize("case", ["file", "foreign-directory"])
def test_spool_directory_not_ours(bed, make_agent, collector, pki, case):
    """A file where the spool directory belongs, or a directory of another
    user (who could change the spool under mamorid): moved to spool.bad-0,
    a new spool made, the damage recorded and delivered."""
    a, top = record_some(make_agent, bed)
    d = spool_dir(a)
    os.rename(d, os.path.join(a.dir, "old-spool"))
    if case == "file":
        with open(d, "w") as f:
            f.write("not a directory\n")
    else:
        os.mkdir(d, 0o777)
        os.chown(d, 65534, 65534)
    restart_with_collector(a, collector, pki)
    ev = damage_events(collector, "foreign_file")[0]
    assert ev["spool"]["file"] == "spool"
    new_event_delivered(a, bed, collector, "AFTER1")
    st = os.lstat(d)
    # 02750: readable by its group (mamori-uplink, from tmpfiles), nobody else
    assert os.path.isdir(d) and st.st_uid == 0 and st.st_mode & 0o7777 == 0o2750
    assert os.path.exists(d + ".bad-0")
