# SPDX-License-Identifier: MIT
"""Delivery when something goes wrong on the way (agent/uplink/uplink.c): a
collector that finds a batch too large (413), a dead-letter directory on a
full filesystem, a reload that takes collector.url away while a request is
out. Real faults: the collector of collector.py, a full tmpfs. mamori-uplink
(agent.uplink) delivers and says so in its own log; mamorid reports its
state (mamorictl status) from the uplink's status file."""
import glob
import json
import os
import subprocess

import fault_lib
from mamori_testlib import wait_for
from reporting_lib import check_feed, collector_conf

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


def status(agent):
    env = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), "--json", "status"],
                       capture_output=True, text=True, env=env, timeout=20)
    assert p.returncode in (0, 3), p.stderr
    return json.loads(p.stdout)


def test_413_halves_the_batch_down_to_one_event_then_dead_letters_it(bed, make_agent, collector, pki):
    collector.stop()  # down while the events gather: they go as one batch
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="200ms", backoff_max="1s")).start()
    for i in range(3):
        bed.add_usb("0781", "5567", serial=f"BIG{i:02d}")
    a.wait_events("usb.blocked", 3)
    collector.script(413, 413, 413)
    collector.start()
    wait_for(lambda: len([r for r in collector.requests if r["status"] == 200]) >= 4, 15,
             what="the rest delivered one by one")
    reqs = collector.requests
    # agent.started, agent.posture and the three blocks
    assert [(r["status"], r["count"]) for r in reqs[:3]] == [(413, 5), (413, 2), (413, 1)], \
        [(r["status"], r["count"]) for r in reqs]
    assert all(r["count"] == 1 for r in reqs[3:])  # at most as many as the last 413 let through
    # The one event a 413 refused on its own went to the dead-letter directory.
    files = glob.glob(os.path.join(a.uplink.dead_letter, "*.ndjson"))
    assert len(files) == 1, files
    with open(files[0]) as f:
        lines = [json.loads(x) for x in f]
    assert lines[0]["mamori_dead_letter"]["status"] == 413 and lines[0]["mamori_dead_letter"]["count"] == 1
    dead = lines[1]
    assert dead["id"] == reqs[2]["events"][0]["id"]
    delivered = check_feed(collector.events(), allow_gaps={dead["seq"]})
    assert sorted(delivered) == [s for s in range(1, 6) if s != dead["seq"]]
    log = a.uplink.log()
    assert "refused a batch of 5 events as too large (HTTP 413); sending at most 2" in log
    assert "refused a batch of 2 events as too large (HTTP 413); sending at most 1" in log
    assert "with HTTP 413" in log and "moved to" in log


def test_a_rejected_batch_stays_in_the_spool_while_the_dead_letter_disk_is_full(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki, backoff_min="200ms", backoff_max="1s"))
    dl = a.uplink.dead_letter
    fault_lib.mount_tmpfs(dl, size="16k")
    try:
        filler = fault_lib.fill(dl)
        collector.script(400, 400)
        a.start()
        wait_for(lambda: len(collector.requests) >= 2, 15, what="the 400 and its retry")
        first, second = collector.requests[0], collector.requests[1]
        assert first["status"] == second["status"] == 400
        # The same batch again: it was kept, not acknowledged and lost.
        assert first["headers"]["X-Mamori-Batch"] == second["headers"]["X-Mamori-Batch"]
        assert [e["id"] for e in first["events"]] == [e["id"] for e in second["events"]]
        # Both 400s handled (the second one too, or freeing the space below
        # would let it go to the dead-letter directory, rightly).
        a.uplink.wait_log("HTTP 400, and the batch cannot be moved to", 5, count=2)
        assert f"cannot be moved to {dl}: No space left on device" in a.uplink.log()
        assert glob.glob(os.path.join(dl, "*.ndjson")) == [] and glob.glob(os.path.join(dl, "*.tmp")) == []
        # Space again: the collector now takes the batch (no third 400 scripted), nothing was lost.
        os.unlink(filler)
        collector.wait_events(len(first["events"]), timeout=15)
        got = {e["id"] for e in collector.events()}
        assert {e["id"] for e in first["events"]} <= got
        check_feed(collector.events())
    finally:
        a.stop()
        fault_lib.umount(dl)


def test_url_removed_by_a_reload_while_a_request_is_out(bed, make_agent, collector, pki):
    collector.script("hang")
    a = make_agent(main_conf=collector_conf(collector, pki, timeout=60)).start()
    wait_for(lambda: collector.hanging == 1, 10, what="a hanging request")
    sent = collector.requests[0]["events"]
    a.write_conf(collector_conf(None))  # the collector section, without url
    a.reload()
    assert status(a)["uplink"]["state"] == "sending"  # still out
    collector.release()  # the hanging request ends (no answer)
    wait_for(lambda: status(a)["uplink"]["state"] == "off", 10, what="the uplink off")
    st = status(a)["uplink"]
    assert st["url"] is None and st["events_sent"] == 0
    # Nothing was delivered, nothing acknowledged: the events wait in the spool.
    assert collector.events() == []
    assert {e["id"] for e in sent} <= {e["id"] for e in a.events()}
    n = len(collector.requests)
    # ...and go, the same ones, once the url is back.
    a.write_conf(collector_conf(collector, pki))
    a.reload()
    collector.wait_events(len(sent), timeout=15)
    assert {e["id"] for e in sent} <= {e["id"] for e in collector.events()}
    assert len(collector.requests) > n
    check_feed(collector.events())


def test_a_delivery_the_spool_cannot_record_is_sent_again(bed, make_agent, collector, pki, tmp_path):
    """The collector takes a batch, and the disk of the uplink's state
    directory fails before its delivery cursor is written (an ext4 shut down
    as on a disk error): the batch is not counted as delivered, and after a
    restart on the repaired disk it goes again, the very same events (same ids)."""
    conf = collector_conf(collector, pki, backoff_min="200ms", backoff_max="1s")
    a = make_agent(main_conf=conf)
    image = str(tmp_path / "state.img")
    state = a.uplink.state
    fault_lib.mount_ext4(image, state)
    mounted = True
    try:
        collector.script("hold")
        a.start()
        wait_for(lambda: collector.hanging == 1, 10, what="the first batch out")
        held = collector.requests[0]["events"]
        assert [e["kind"] for e in held] == ["agent.started", "agent.posture"]
        fault_lib.shutdown_fs(state)
        collector.release()  # ...and the collector takes it: 200
        a.uplink.wait_log("Cannot record the delivery of events 1-2 in the spool; they will be sent again", 10)
        st = status(a)["uplink"]
        assert st["events_sent"] == 0 and st["failures"] >= 1, st
        assert st["last_error"] == "cannot record the delivery in the spool", st
        assert [e["id"] for e in collector.events()] == [e["id"] for e in held]
        a.stop()
        fault_lib.umount(state)
        mounted = False
        # The disk repaired (mounted again): the cursor never moved, so the
        # event is sent again, identical.
        fault_lib.mount_ext4(image, state)
        mounted = True
        a.start()
        wait_for(lambda: [e["id"] for e in collector.events()].count(held[0]["id"]) == 2, 15,
                 what="the event sent again")
        check_feed(collector.events())  # the copies are identical
    finally:
        a.stop()
        if mounted:
            fault_lib.umount(state)
