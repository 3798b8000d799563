# SPDX-License-Identifier: MIT
"""The state directory on a full disk at start: the spool cannot be opened,
and mamorid goes on journal only (agent/report/reporting.c): it enforces, every
event reaches the journal (marked as not spooled), the control socket and the
heartbeat say so, and nothing is sent (there is nothing to send from)."""
import json
import os
import re
import subprocess

import fault_lib
from mamori_testlib import wait_for
from reporting_lib import collector_conf, journaled

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


def ctl(agent, *args):
    env = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    p = subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), "--json", *args],
                       capture_output=True, text=True, env=env, timeout=20)
    assert p.returncode in (0, 3), p.stderr
    return p.stdout


def not_spooled(agent, kind):
    """The MAMORI_EVENT JSON of the journal lines of kind marked as not spooled."""
    out = []
    for line in agent.log().splitlines():
        if f"MAMORI_EVENT_KIND={kind} " in line and "MAMORI_EVENT_NOT_SPOOLED=the spool is unavailable" in line:
            m = re.search(r"MAMORI_EVENT=(\{.*\})(?: MAMORI_EVENT_NOT_SPOOLED=|$)", line)
            assert m, line
            out.append(json.loads(m.group(1)))
    return out


def test_full_disk_at_start_means_journal_only(bed, make_agent, collector, pki):
    a = make_agent(main_conf=collector_conf(collector, pki, heartbeat_interval=1))
    fault_lib.mount_tmpfs(a.state, size="64k")
    try:
        fault_lib.fill(a.state)
        a.start()  # starts all the same: enforcement does not depend on the disk
        dev, (iface,) = bed.add_usb("0781", "5567", serial="FULLDISK1")
        wait_for(lambda: bed.authorized(iface) == "0", 5, what="the stick blocked")
        wait_for(lambda: not_spooled(a, "usb.blocked"), 5, what="usb.blocked in the journal")
        ev = not_spooled(a, "usb.blocked")[0]
        assert ev["device"]["serial"] == "FULLDISK1"
        assert ev.get("seq", 0) == 0  # no spool, no seq: none is ever handed out twice
        assert not_spooled(a, "agent.started")
        assert "events go to the journal only" in a.log() and "No space left on device" in a.log()
        # Not journaled as durable: no line without the mark.
        assert [k for k, _, _ in journaled(a.log()) if k == "usb.blocked"] == []
        # The heartbeat and the control socket say where the events are.
        wait_for(lambda: not_spooled(a, "agent.heartbeat"), 5, what="a heartbeat")
        hb = not_spooled(a, "agent.heartbeat")[0]["heartbeat"]
        assert hb["spool"] == {"error": "unavailable: journal only"}
        st = json.loads(ctl(a, "status"))
        assert st["spool"] == {"error": "unavailable: journal only"}
        assert st["uplink"]["events_sent"] == 0
        recent = [json.loads(x) for x in ctl(a, "events").splitlines() if x.strip()]
        assert "FULLDISK1" in [e["device"]["serial"] for e in recent if e["kind"] == "usb.blocked"]
        assert collector.requests == []
        assert a.stop() == 0
    finally:
        if a.proc and a.proc.poll() is None:
            a.stop()
        fault_lib.umount(a.state)
