# SPDX-License-Identifier: MIT
"""Issue 11: how mamorid shows mamori-uplink's delivery state. It reads the
uplink's status file (<uplink runtime>/status, common/uplink-status.h) for
`mamorictl status` and the heartbeat: "running" only while the file parses
and its PID is a live process named mamori-uplink; "state": "not-running"
otherwise. A bad file is logged once, never believed."""

import json
import os
import struct
import subprocess
import time
import zlib

from mamori_testlib import wait_for
from reporting_lib import collector_conf
from spool_reader import CURSOR_MAGIC

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
URL = "https://collector.invalid/v1/events"


def ctl(agent, *args, timeout=20):
    e = dict(os.environ, UMOCKDEV_DIR=agent.bed.root)
    return subprocess.run([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                          capture_output=True, text=True, env=e, timeout=timeout)


def uplink_json(agent):
    p = ctl(agent, "--json", "status")
    assert p.returncode in (0, 3), p.stderr
    return json.loads(p.stdout)["uplink"]


def status_text(pid, **kw):
    now = int(time.time() * 1e6)
    lines = {"PID": pid, "UPDATED": kw.pop("updated", now), "STATE": "waiting", "URL": URL,
             "LAST_SUCCESS": 1764790000000000, "LAST_ATTEMPT": now - 1000000, "NEXT_ATTEMPT": now + 30000000,
             "FAILURES": 3, "LAST_STATUS": 503, "LAST_ERROR": "the collector answered HTTP 503\\nretry",
             "EVENTS_SENT": 10, "BATCHES_SENT": 2, "BATCHES_REJECTED": 1, "EVENTS_REJECTED": 4,
             "BYTES_SENT": 4096, "ACKED_SEQ": 14}
    lines.update(kw)
    return "# written by the test\n" + "".join(f"{k}={v}\n" for k, v in lines.items() if v is not None)


def write_status(run_dir, text):
    """As mamori-uplink does: a temporary file renamed over the old one."""
    tmp = os.path.join(run_dir, ".status.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(run_dir, "status"))


def fake_uplink(tmp_path):
    """A process whose name (comm) is mamori-uplink: sleep, under that name."""
    link = tmp_path / "mamori-uplink"
    link.symlink_to("/bin/sleep")
    p = subprocess.Popen([str(link), "300"])
    wait_for(lambda: open(f"/proc/{p.pid}/comm").read() == "mamori-uplink\n", 5, what="the fake uplink")
    return p


def agent_with_dirs(make_agent, tmp_path, **conf):
    run_dir = tmp_path / "uplink-run"
    run_dir.mkdir()
    a = make_agent(main_conf=collector_conf(URL, **conf),
                   extra_env={"MAMORI_UPLINK_STATE_DIR": str(tmp_path / "uplink-state"),
                              "MAMORI_UPLINK_RUNTIME_DIR": str(run_dir)})
    return a, str(run_dir)


def test_no_status_file_is_not_running(bed, make_agent, tmp_path):
    a, run_dir = agent_with_dirs(make_agent, tmp_path)
    a.start()
    u = uplink_json(a)
    assert u["state"] == "not-running" and u["running"] is False and u["status_age_s"] is None, u
    assert "no status file" in u["detail"], u
    # the policy's url, so that mamorictl still says where events should go
    assert u["url"] == URL and u["last_success"] is None and u["failures"] == 0, u
    out = ctl(a, "status").stdout
    assert f"Collector:    {URL} (not-running)" in out, out


def test_status_of_a_running_uplink(bed, make_agent, tmp_path):
    a, run_dir = agent_with_dirs(make_agent, tmp_path, heartbeat_interval=1)
    p = fake_uplink(tmp_path)
    try:
        write_status(run_dir, status_text(p.pid, URL="https://other.example/\\x41"))
        a.start()
        u = uplink_json(a)
        assert u["running"] is True and u["state"] == "waiting" and "detail" not in u, u
        assert u["url"] == "https://other.example/A", u  # the uplink's word, unescaped
        assert u["failures"] == 3 and u["last_status"] == 503, u
        assert u["last_error"] == "the collector answered HTTP 503\nretry", u
        assert (u["events_sent"], u["batches_sent"], u["batches_rejected"], u["events_rejected"]) == (10, 2, 1, 4), u
        assert u["last_success"] == "2025-12-03T19:26:40.000000Z", u
        assert u["next_attempt"] is not None and 0 <= u["status_age_s"] <= 5, u

        # the heartbeat carries the same object
        hb = a.wait_events("agent.heartbeat",
                           pred=lambda e: e["heartbeat"]["uplink"].get("running") is True)[0]["heartbeat"]
        assert hb["uplink"]["state"] == "waiting" and hb["uplink"]["events_sent"] == 10, hb

        # an old file says how old it is
        write_status(run_dir, status_text(p.pid, STATE="idle", updated=int((time.time() - 120) * 1e6)))
        u = uplink_json(a)
        assert u["state"] == "idle" and u["status_age_s"] >= 119 and u["next_attempt"] is None, u
    finally:
        p.kill()
        p.wait()
    # its process gone: a file left by a crash is not a running uplink
    u = uplink_json(a)
    assert u["running"] is False and u["state"] == "not-running", u
    assert "earlier run" in u["detail"] and u["status_age_s"] is not None, u
    assert u["events_sent"] == 10, u  # what it last said is still shown


def test_pid_of_another_program_is_not_running(bed, make_agent, tmp_path):
    a, run_dir = agent_with_dirs(make_agent, tmp_path)
    a.start()
    write_status(run_dir, status_text(os.getpid()))  # alive, but python
    u = uplink_json(a)
    assert u["running"] is False and u["state"] == "not-running", u


def test_bad_status_files_are_not_believed(bed, make_agent, tmp_path):
    a, run_dir = agent_with_dirs(make_agent, tmp_path)
    p = fake_uplink(tmp_path)
    try:
        a.start()
        path = os.path.join(run_dir, "status")
        bad = [
            status_text(p.pid, STATE="hacked"),
            status_text(p.pid, LAST_ERROR="\\x1b]0;owned\\x07"),  # a terminal escape
            status_text(p.pid, FAILURES="-1"),
            status_text(p.pid)[:-1],  # torn
            status_text(p.pid) + "#" * (16 * 1024),  # too large
        ]
        for i, text in enumerate(bad):
            write_status(run_dir, text)
            u = uplink_json(a)
            assert u["running"] is False and u["state"] == "not-running", (i, u)
            assert "cannot be used" in u["detail"] and u["events_sent"] == 0, (i, u)
            assert "owned" not in json.dumps(u)
        # said once per file, not once per read
        before = a.log().count("Ignoring the status file")
        uplink_json(a)
        uplink_json(a)
        assert a.log().count("Ignoring the status file") == before
        assert before == len(bad), a.log()[-3000:]

        # not a regular file, a link: refused without hanging
        os.unlink(path)
        os.mkfifo(path)
        assert uplink_json(a)["running"] is False
        os.unlink(path)
        good = os.path.join(run_dir, "elsewhere")
        with open(good, "w") as f:
            f.write(status_text(p.pid))
        os.symlink(good, path)
        assert uplink_json(a)["running"] is False
        os.unlink(path)

        # and a good one again is believed
        write_status(run_dir, status_text(p.pid))
        assert uplink_json(a)["running"] is True
    finally:
        p.kill()
        p.wait()


def write_uplink_cursor(state_dir, acked, gen=1):
    """mamori-uplink's delivery cursor (the spool's two-slot format), renamed
    into place as the uplink writes it."""
    b = struct.pack("<IIQQ", CURSOR_MAGIC, 0, gen, acked)
    b += struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF) + b"\0" * 4
    data = bytearray(1024)
    data[(gen % 2) * 512:(gen % 2) * 512 + len(b)] = b
    tmp = os.path.join(state_dir, ".cursor.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(state_dir, "cursor"))


def spool_json(agent):
    p = ctl(agent, "--json", "status")
    assert p.returncode in (0, 3), p.stderr
    return json.loads(p.stdout)["spool"]


def test_uplink_cursor_retires_within_bounds(bed, make_agent, tmp_path):
    """What mamori-uplink delivered retires events; a cursor past what mamorid
    made durable, or unreadable, is reported once and retires nothing."""
    a, run_dir = agent_with_dirs(make_agent, tmp_path)
    state = tmp_path / "uplink-state"
    state.mkdir()
    a.start()
    for i in range(3):
        bed.add_usb("0930", "6545", serial=f"CURSOR{i}")
    a.wait_events("usb.blocked", count=3)
    sp = spool_json(a)
    top = sp["next_seq"] - 1
    assert sp["depth"] >= 3 and sp["delivered_seq"] == 0, sp

    # delivered up to two before the end: two stay
    write_uplink_cursor(str(state), top - 2)
    sp = spool_json(a)
    assert sp["delivered_seq"] == top - 2 and sp["depth"] == 2, sp

    # a cursor past the durable end: not believed, reported once
    write_uplink_cursor(str(state), 1 << 60, gen=2)
    spool_json(a)  # read here; the finding is recorded with the next event
    bed.add_usb("0930", "6545", serial="CURSOR3")
    ev = a.wait_events("agent.spool_corrupt", pred=lambda e: e["spool"]["file"] == "uplink cursor")[0]
    assert ev["spool"]["damage"] == "seq_out_of_range" and ev["spool"]["claimed_seq"] == 1 << 60, ev
    assert "mamori-uplink" in ev["message"], ev
    for _ in range(3):
        sp = spool_json(a)
    assert sp["delivered_seq"] == top - 2, sp
    assert len([e for e in a.events("agent.spool_corrupt") if e["spool"]["file"] == "uplink cursor"]) == 1

    # garbage: unreadable, reported, nothing retired
    with open(state / "cursor", "wb") as f:
        f.write(b"\xff" * 1024)
    spool_json(a)
    bed.add_usb("0930", "6545", serial="CURSOR4")
    ev = a.wait_events("agent.spool_corrupt", count=2,
                       pred=lambda e: e["spool"]["file"] == "uplink cursor")[-1]
    assert ev["spool"]["damage"] == "cursor_unreadable", ev
    assert spool_json(a)["delivered_seq"] == top - 2
    assert a.proc.poll() is None
