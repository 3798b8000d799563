# SPDX-License-Identifier: MIT
"""Detections (issue 15 item 1): the real mamorid's report socket and the
real mamori-av-report. Reports from root and from the configured engine user
are taken (av.detection in the spool), another user is refused (run as that
user with setpriv), a flood is rate-limited and counted (av.reports_dropped),
oversized and malformed reports are refused, a file on a USB stick is marked
removable. The real clamav-daemon in the QEMU guest is a later step."""

import array
import calendar
import json
import os
import pwd
import socket
import subprocess
import time

import pytest

from mamori_testlib import wait_for

AV_REPORT = os.environ.get("MAMORI_AV_REPORT") or os.path.join(
    os.environ["MAMORI_BUILD_DIR"], "tools/av-report/mamori-av-report")
MAGIC = b"mamori-av-report 1\n"


def conf(users=None, engine="none"):
    u = f" report_users = [ {', '.join(json.dumps(x) for x in users)} ];" if users is not None else ""
    return f'lock = {{ tty = "ignore"; }};\nantivirus = {{ engine = "{engine}";{u} }};\n'


def sock_path(a):
    return os.path.join(a.runtime, "av-report.sock")


def open_to_all(a):
    """The test's temp dir is 0700; the real /run/mamori is 0755."""
    os.chmod(a.dir, 0o755)
    os.chmod(a.runtime, 0o755)


def send(a, data, timeout=2.0, fds=()):
    """One datagram from an address of our own; returns mamorid's answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind("")  # autobind: an abstract address mamorid can answer to
        s.settimeout(timeout)
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        s.sendmsg([data], anc, 0, sock_path(a))
        return s.recv(256).decode()
    finally:
        s.close()


def report(engine=b"clamav", sig=b"Eicar-Test-Signature", path=b"/home/taro/eicar.com"):
    m = MAGIC + b"engine=" + engine + b"\nsignature=" + sig + b"\n"
    if path is not None:
        m += b"path=" + path + b"\n"
    return m


def run_tool(a, *args, user=None, env=None):
    cmd = [AV_REPORT, "--socket", sock_path(a), *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10, env=env)


def status(a):
    from test_mamorictl import ctl
    return json.loads(ctl(a, "--json", "status").stdout)["detections"]


def test_root_report_is_recorded(make_agent):
    a = make_agent(main_conf=conf()).start()
    t0 = time.monotonic()
    p = run_tool(a, "--engine", "generic-av", "--signature", "Win.Test.EICAR_HDB-1", "--path", "/srv/share/eicar.com")
    assert p.returncode == 0, p.stderr
    ev = a.wait_events("av.detection")[0]
    took = time.monotonic() - t0
    assert took < 1.0, f"took {took:.3f} s"
    av = ev["antivirus"]
    assert av["engine"] == "generic-av" and av["signature"] == "Win.Test.EICAR_HDB-1"
    assert av["path"] == "/srv/share/eicar.com" and av["reporter_uid"] == 0
    assert av["removable"] is False
    assert ev["severity"] == "critical"
    assert "Win.Test.EICAR_HDB-1" in ev["message"]
    st = status(a)
    assert st["count"] == 1 and st["last"]["signature"] == "Win.Test.EICAR_HDB-1"
    assert oct(os.stat(sock_path(a)).st_mode & 0o777) == "0o666"
    # The posture records it (agent.posture again, with last_detection).
    post = a.wait_events("agent.posture", pred=lambda e: "last_detection" in e["posture"]["antivirus"])[0]
    last = post["posture"]["antivirus"]["last_detection"]
    assert last["signature"] == "Win.Test.EICAR_HDB-1" and last["engine"] == "generic-av"
    assert last["removable"] is False
    # ... and mamorictl status says so in text, with nothing else amiss.
    from test_mamorictl import ctl
    text = ctl(a, "status")
    assert "Detections:   none" not in text.stdout
    line = next(l for l in text.stdout.splitlines() if l.startswith("Detections:"))
    assert line.startswith("Detections:   1 since start; the last 20") and line.endswith(
        ": Win.Test.EICAR_HDB-1 in /srv/share/eicar.com (generic-av)"), line
    assert "Full scan:" not in text.stdout  # not configured


def test_status_text_without_detections(make_agent):
    from test_mamorictl import ctl
    a = make_agent(main_conf=conf()).start()
    assert "\nDetections:   none since start\n" in ctl(a, "status").stdout


def test_configured_user_accepted_other_user_refused(make_agent):
    a = make_agent(main_conf=conf(users=["nobody"])).start()
    open_to_all(a)
    p = run_tool(a, "--engine", "clamav", "--signature", "Eicar-Signature", "--path", "/tmp/x", user="nobody")
    assert p.returncode == 0, p.stderr
    ev = a.wait_events("av.detection")[0]
    assert ev["antivirus"]["reporter_uid"] == pwd.getpwnam("nobody").pw_uid

    # Another list: nobody may no longer report.
    a.write_conf(conf(users=["daemon"]))
    a.reload()
    p = run_tool(a, "--signature", "Forged", "--path", "/tmp/y", user="nobody")
    assert p.returncode == 1 and "refused not_allowed" in p.stderr, p.stderr
    time.sleep(0.5)
    assert len(a.events("av.detection")) == 1
    assert status(a)["refused"] == 1
    assert "refused (not an engine's user" in a.log()


def test_clamd_virusevent_environment(make_agent):
    """As clamd runs it: user clamav, engine clamav's default report user."""
    try:
        pwd.getpwnam("clamav")
    except KeyError:
        pytest.skip("no clamav user on this machine")
    a = make_agent(main_conf='lock = { tty = "ignore"; };\nantivirus = { engine = "clamav"; database_dir = "/nonexistent"; };\n').start()
    open_to_all(a)
    env = dict(os.environ, CLAM_VIRUSEVENT_FILENAME="/home/hanako/ダウンロード/eicar.txt",
               CLAM_VIRUSEVENT_VIRUSNAME="Eicar-Signature")
    p = run_tool(a, user="clamav", env=env)
    assert p.returncode == 0, p.stderr
    av = a.wait_events("av.detection")[0]["antivirus"]
    assert av["engine"] == "clamav" and av["signature"] == "Eicar-Signature"
    assert av["path"] == "/home/hanako/ダウンロード/eicar.txt"
    # nobody is not clamav.
    p = run_tool(a, user="nobody", env=env)
    assert p.returncode == 1 and "not_allowed" in p.stderr


def test_flood_is_rate_limited_and_counted(make_agent):
    a = make_agent(main_conf=conf()).start()
    answers = [send(a, report(sig=b"Flood-%d" % i)) for i in range(200)]
    ok = answers.count("ok\n")
    dropped = answers.count("refused rate_limited\n")
    assert ok + dropped == 200
    assert 20 <= ok <= 25, ok  # the burst, and what refilled meanwhile
    a.wait_events("av.detection", count=ok)
    ev = a.wait_events("av.reports_dropped", timeout=20)[0]
    assert ev["antivirus"]["reports_dropped"] == dropped
    assert ev["antivirus"]["burst"] == 20
    assert status(a)["dropped"] == dropped
    time.sleep(0.5)
    assert len(a.events("av.detection")) == ok
    # Refilled: one a second.
    time.sleep(1.1)
    assert send(a, report()) == "ok\n"


def test_refused_flood_does_not_use_up_the_engines_reports(make_agent):
    """A user who may not report cannot starve clamav: refused before the rate limit."""
    a = make_agent(main_conf=conf(users=["daemon"])).start()
    open_to_all(a)
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
            "for i in range(300):\n"
            "    s.sendto(b'mamori-av-report 1\\nengine=x\\nsignature=forged\\n', sys.argv[1])\n")
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", code,
                        sock_path(a)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: status(a)["refused"] == 300, 10, what="300 refused")
    assert send(a, report()) == "ok\n"
    a.wait_events("av.detection")
    assert status(a)["dropped"] == 0
    assert a.events("av.reports_dropped") == []
    # The log is bounded too: five lines, not 300.
    assert a.log().count("refused (not an engine's user") == 5


@pytest.mark.parametrize("data,reason", [
    (b"", "bad_magic"),
    (b"hello\n", "bad_magic"),
    (MAGIC + b"engine=clamav\nsignature=X\npath=/a", "bad_line"),
    (MAGIC + b"engine=clamav\nsignature=X\nuser=root\n", "unknown_key"),
    (MAGIC + b"engine=clamav\nengine=clamav\nsignature=X\n", "duplicate_key"),
    (MAGIC + b"engine=clamav\nsignature=X%0\n", "bad_escape"),
    (MAGIC + b"engine=clamav\nsignature=X%00Y\n", "bad_escape"),
    (MAGIC + b"engine=clamav\nsignature=X\x00Y\n", "bad_line"),
    (MAGIC + b"engine=clamav\nsignature=\x1b[31mX\n", "bad_escape"),
    (MAGIC + b"engine=Clam AV\nsignature=X\n", "bad_engine"),
    (MAGIC + b"signature=X\n", "missing_engine"),
    (MAGIC + b"engine=clamav\n", "missing_signature"),
    (MAGIC + b"engine=clamav\nsignature=\n", "bad_signature"),
    (MAGIC + b"engine=clamav\nsignature=X\npath=etc/passwd\n", "bad_path"),
    (MAGIC + b"engine=clamav\nsignature=" + b"S" * 300 + b"\n", "too_long"),
    (report(path=b"/" + b"a" * 9000), "too_long"),
])
def test_malformed_and_oversized_refused(make_agent, data, reason):
    a = make_agent(main_conf=conf()).start()
    assert send(a, data) == f"refused {reason}\n"
    assert send(a, report()) == "ok\n"  # the next one is still taken
    a.wait_events("av.detection")
    time.sleep(0.3)
    assert len(a.events("av.detection")) == 1
    assert status(a)["malformed"] == 1


def test_hostile_text_is_sanitized_and_passed_fds_closed(make_agent):
    a = make_agent(main_conf=conf()).start()
    pid = a.proc.pid
    before = len(os.listdir(f"/proc/{pid}/fd"))
    r, w = os.pipe()
    try:
        ans = send(a, report(sig=b"Bad\xe2\x80\xaeName%1B[2J", path=b"/home/u/a%0Aforged line\xff.exe"), fds=[r, w])
    finally:
        os.close(r)
        os.close(w)
    assert ans == "ok\n"
    av = a.wait_events("av.detection")[0]["antivirus"]
    assert av["signature"] == "Bad\\u202eName\\x1b[2J"
    assert av["path"] == "/home/u/a\\x0aforged line\\xff.exe"
    assert len(os.listdir(f"/proc/{pid}/fd")) == before


def test_file_on_a_usb_stick_is_removable(bed, make_agent, tmp_path):
    """The mount of the path (a mount table given to mamorid) is on a block
    device below a USB interface (umockdev's sysfs)."""
    dev, ifaces = bed.add_usb("0781", "5567", serial="AVDETECT1")
    host = bed.tb.add_device("scsi", "host9", ifaces[0], [], ["DEVTYPE", "scsi_host"])
    sdy = bed.tb.add_device("block", "sdy", host, ["dev", "8:64", "size", "128"],
                            ["MAJOR", "8", "MINOR", "64", "DEVNAME", "/dev/sdy", "DEVTYPE", "disk"])
    # The kernel's /sys/dev/block/M:m link, which umockdev does not make.
    links = os.path.join(bed.root, "sys/dev/block")
    os.makedirs(links, exist_ok=True)
    os.symlink(os.path.relpath(os.path.join(bed.root, sdy.lstrip("/")), links), os.path.join(links, "8:64"))
    # An encrypted stick: device-mapper's dm-0 on sdy (its slaves/).
    dm = os.path.join(bed.root, "sys/devices/virtual/block/dm-0")
    os.makedirs(os.path.join(dm, "slaves"))
    os.symlink(os.path.relpath(os.path.join(bed.root, sdy.lstrip("/")), os.path.join(dm, "slaves")),
               os.path.join(dm, "slaves", "sdy"))
    os.symlink(os.path.relpath(dm, links), os.path.join(links, "254:0"))
    # A dm device on the fixed disk only.
    dm1 = os.path.join(bed.root, "sys/devices/virtual/block/dm-1")
    os.makedirs(os.path.join(dm1, "slaves"))
    os.symlink("../../../../pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p3", os.path.join(dm1, "slaves", "nvme0n1p3"))
    os.symlink(os.path.relpath(dm1, links), os.path.join(links, "254:1"))
    mi = tmp_path / "mountinfo"
    mi.write_text("21 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
                  "90 21 8:64 / /media/taro/USB\\040STICK rw,nosuid - vfat /dev/sdy rw\n"
                  "91 21 259:3 / /media/taro/USB\\040STICK/inner rw - ext4 /dev/nvme0n1p3 rw\n"
                  "92 21 254:0 / /media/taro/CRYPT rw - ext4 /dev/mapper/luks-1 rw\n"
                  "93 21 254:1 / /srv rw - ext4 /dev/mapper/vg-srv rw\n")
    a = make_agent(main_conf=conf(), extra_env={"MAMORI_MOUNTINFO": str(mi)}).start()
    assert send(a, report(path=b"/media/taro/USB STICK/setup.exe")) == "ok\n"
    av = a.wait_events("av.detection")[0]["antivirus"]
    assert av["removable"] is True and av["bus"] == "usb"
    assert av["mount_point"] == "/media/taro/USB STICK"
    # A mount inside the stick's, on the fixed disk: not removable.
    assert send(a, report(path=b"/media/taro/USB STICK/inner/x")) == "ok\n"
    av = a.wait_events("av.detection", count=2)[1]["antivirus"]
    assert av["removable"] is False and av["mount_point"] == "/media/taro/USB STICK/inner"
    # The rest of the disk.
    assert send(a, report(path=b"/home/taro/x")) == "ok\n"
    av = a.wait_events("av.detection", count=3)[2]["antivirus"]
    assert av["removable"] is False and av["mount_point"] == "/"
    # Through device-mapper: on the stick, and on the fixed disk.
    assert send(a, report(path=b"/media/taro/CRYPT/a.exe")) == "ok\n"
    av = a.wait_events("av.detection", count=4)[3]["antivirus"]
    assert av["removable"] is True and av["bus"] == "usb" and av["mount_point"] == "/media/taro/CRYPT"
    assert send(a, report(path=b"/srv/share/a.exe")) == "ok\n"
    av = a.wait_events("av.detection", count=5)[4]["antivirus"]
    assert av["removable"] is False and av["mount_point"] == "/srv"


# ---- full scans (issue 15 item 4) ----

DAY = 86400


def fullscan_conf(path, days=7):
    return (f'lock = {{ tty = "ignore"; }};\n'
            f'antivirus = {{ engine = "none"; full_scan = {{ max_age_days = {days}; file = "{path}"; }}; }};\n')


def test_full_scan_overdue_from_a_timestamp_file(make_agent, tmp_path):
    stamp = tmp_path / "last-full-scan"
    stamp.write_text("")
    ten_days_ago = time.time() - 10 * DAY
    os.utime(stamp, (ten_days_ago, ten_days_ago))
    a = make_agent(main_conf=fullscan_conf(stamp)).start()
    ev = a.wait_events("av.full_scan_overdue")[0]
    fs = ev["antivirus"]["full_scan"]
    assert fs["state"] == "overdue" and fs["max_age_days"] == 7
    assert 10 * DAY - 60 < fs["age_seconds"] < 10 * DAY + 60
    assert fs["last_completed"].startswith(time.strftime("%Y-%m-%d", time.gmtime(ten_days_ago))[:4])
    assert ev["severity"] == "high"
    from test_mamorictl import ctl
    st = json.loads(ctl(a, "--json", "status").stdout)["full_scan"]
    assert st["state"] == "overdue" and st["last_completed"] == fs["last_completed"]

    # The scan completes (the engine's job touches the file): ok at once, through inotify.
    stamp.write_text("done\n")
    ok = a.wait_events("av.full_scan_ok", timeout=5)[0]
    assert ok["antivirus"]["full_scan"]["state"] == "ok"
    st = json.loads(ctl(a, "--json", "status").stdout)["full_scan"]
    assert st["state"] == "ok"
    post = a.wait_events("agent.posture", pred=lambda e: e["posture"]["antivirus"].get("full_scan", {}).get("state") == "ok")
    assert post[-1]["posture"]["antivirus"]["full_scan"]["max_age_days"] == 7
    assert len(a.events("av.full_scan_overdue")) == 1


def test_full_scan_never_and_within(make_agent, tmp_path):
    stamp = tmp_path / "none-yet"
    a = make_agent(main_conf=fullscan_conf(stamp, days=3)).start()
    ev = a.wait_events("av.full_scan_overdue")[0]
    assert ev["antivirus"]["full_scan"]["state"] == "missing"
    assert ev["antivirus"]["full_scan"]["last_completed"] is None

    # Within the days at start: quiet, and no event.
    stamp2 = tmp_path / "recent"
    stamp2.write_text("")
    two_days_ago = time.time() - 2 * DAY
    os.utime(stamp2, (two_days_ago, two_days_ago))
    b = make_agent(main_conf=fullscan_conf(stamp2, days=3)).start()
    b.wait_log("completed within 3 days")
    time.sleep(0.5)
    assert b.events("av.full_scan_overdue") == []


def test_full_scan_from_a_command(make_agent):
    """The command source: what it prints (epoch seconds) is the last full scan."""
    when = int(time.time() - 20 * DAY)
    a = make_agent(main_conf=('lock = { tty = "ignore"; };\n'
                              'antivirus = { engine = "none"; full_scan = { max_age_days = 14; '
                              f'command = [ "/bin/echo", "{when}" ]; command_output = "epoch"; }}; }};\n')).start()
    fs = a.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert fs["state"] == "overdue" and fs["max_age_days"] == 14
    assert abs(fs["age_seconds"] - 20 * DAY) < 60
    assert fs["source"].startswith("/bin/echo")


# ---- full scans from the journal (full_scan.unit) ----
# Real journal files, made here by systemd-journal-remote from the export
# format: journald's trusted fields (_PID, _UID) are whatever the export says,
# so a genuine entry and a forged one can be written side by side.

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"  # SD_MESSAGE_UNIT_SUCCESS
SCAN_UNIT = "clamav-fullscan.service"
needs_journal_remote = pytest.mark.skipif(not os.access(JOURNAL_REMOTE, os.X_OK),
                                          reason="systemd-journal-remote is not installed")


def journal_entry(days_ago, pid=1, uid=0, unit=SCAN_UNIT, message_id=UNIT_SUCCESS, extra=()):
    """One entry in the journal export format, as PID 1 logs a unit's success.
    One boot: the monotonic clock follows the realtime one, so that entries in
    different files interleave by date (sd-journal orders them by it)."""
    ts = int((time.time() - days_ago * DAY) * 1e6)
    fields = [("__REALTIME_TIMESTAMP", ts), ("__MONOTONIC_TIMESTAMP", ts - int((time.time() - 400 * DAY) * 1e6)),
              ("_BOOT_ID", "0123456789abcdef0123456789abcdef"), ("_MACHINE_ID", "fedcba9876543210fedcba9876543210"),
              ("_HOSTNAME", "pc"), ("_TRANSPORT", "journal"), ("_PID", pid), ("_UID", uid), ("_GID", 0),
              ("PRIORITY", 6), ("SYSLOG_IDENTIFIER", "systemd"), ("MESSAGE_ID", message_id), ("UNIT", unit),
              ("MESSAGE", f"{unit}: Deactivated successfully."), *extra]
    return "".join(f"{k}={v}\n" for k, v in fields if v is not None) + "\n"


def make_journal(dirpath, entries, name="system.journal"):
    """A journal file of these entries (oldest first) in dirpath, root's 0755 as journald's are."""
    os.makedirs(dirpath, exist_ok=True)
    os.chmod(dirpath, 0o755)
    out = os.path.join(dirpath, name)
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run([JOURNAL_REMOTE, "-o", out, "-"], input="".join(entries).encode(), capture_output=True,
                       timeout=30)
    assert p.returncode == 0 and os.path.exists(out), p.stderr.decode()
    return out


def journal_conf(dirpath, days=7, unit=SCAN_UNIT):
    return (f'lock = {{ tty = "ignore"; }};\n'
            f'antivirus = {{ engine = "none"; full_scan = {{ max_age_days = {days}; unit = "{unit}"; '
            f'journal_directory = "{dirpath}"; }}; }};\n')


def age_days(fs):
    return fs["age_seconds"] / DAY


@needs_journal_remote
def test_full_scan_from_the_journal_forged_entries_do_not_count(make_agent, tmp_path):
    jd = tmp_path / "journal"
    # The genuine success ten days ago; since then, forgeries of it: from
    # another process, from a user, for another unit, another message, and
    # a user's journal of its own with a perfect copy (not the system journal).
    make_journal(jd, [journal_entry(10),
                      journal_entry(3, pid=1234),
                      journal_entry(2, uid=1000),
                      journal_entry(1.5, unit="other.service"),
                      journal_entry(1, message_id="98e322203f7a4ed290d09fe03c09fe15"),  # UNIT_FAILED
                      ])
    make_journal(jd, [journal_entry(0.5)], name="user-1000.journal")
    a = make_agent(main_conf=journal_conf(jd)).start()
    ev = a.wait_events("av.full_scan_overdue")[0]
    fs = ev["antivirus"]["full_scan"]
    assert fs["state"] == "overdue" and 9.99 < age_days(fs) < 10.01
    assert fs["source"] == f"journal: {SCAN_UNIT} in {jd}"
    from test_mamorictl import ctl
    st = json.loads(ctl(a, "--json", "status").stdout)["full_scan"]
    assert st["state"] == "overdue" and st["last_completed"] == fs["last_completed"]
    # In text: the date in local time, the source, and a finding of this PC (exit 6).
    text = ctl(a, "status")
    utc = calendar.timegm(time.strptime(fs["last_completed"][:19], "%Y-%m-%dT%H:%M:%S"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(utc))
    assert f"Full scan:    OVERDUE: the last completed {when}" in text.stdout, text.stdout
    assert f"              from journal: {SCAN_UNIT} in {jd}\n" in text.stdout
    assert "full scan (overdue)" in text.stdout and text.returncode == 6


@needs_journal_remote
def test_full_scan_from_the_journal_newest_counts_and_reload_reads_again(make_agent, tmp_path):
    jd = tmp_path / "journal"
    make_journal(jd, [journal_entry(20), journal_entry(9), journal_entry(8, pid=4321)])
    a = make_agent(main_conf=journal_conf(jd)).start()
    fs = a.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert 8.99 < age_days(fs) < 9.01

    # A scan completes (a new journal file, as after a rotation); the
    # journal is not watched, so it is seen on the next read: a reload, even
    # one that leaves the policy as it was.
    make_journal(jd, [journal_entry(20), journal_entry(9), journal_entry(2)])
    time.sleep(0.5)
    assert a.events("av.full_scan_ok") == []
    a.reload()
    a.wait_log("Configuration unchanged")
    ok = a.wait_events("av.full_scan_ok")[0]["antivirus"]["full_scan"]
    assert ok["state"] == "ok" and 1.99 < age_days(ok) < 2.01 and ok["max_age_days"] == 7
    # A reload that changes the policy reads it again too.
    make_journal(jd, [journal_entry(9)])
    a.write_conf(journal_conf(jd, days=6))
    a.reload()
    od = a.wait_events("av.full_scan_overdue", count=2)[1]["antivirus"]["full_scan"]
    assert od["state"] == "overdue" and 8.99 < age_days(od) < 9.01 and od["max_age_days"] == 6
    post = a.wait_events("agent.posture", pred=lambda e: e["posture"]["antivirus"].get("full_scan", {}).get(
        "max_age_days") == 6)
    assert post[-1]["posture"]["antivirus"]["full_scan"]["last_completed"] == od["last_completed"]


@needs_journal_remote
def test_full_scan_from_the_journal_after_rotation(make_agent, tmp_path):
    """The last success in an archived file, older ones in the active one."""
    jd = tmp_path / "journal"
    make_journal(jd, [journal_entry(12), journal_entry(4)],
                 name="system@0123456789abcdef0123456789abcdef-0000000000000001-0005f0a1b2c3d4e5.journal")
    make_journal(jd, [journal_entry(13), journal_entry(3, pid=99)])
    a = make_agent(main_conf=journal_conf(jd, days=5)).start()
    a.wait_log("completed within 5 days")
    from test_mamorictl import ctl
    st = json.loads(ctl(a, "--json", "status").stdout)["full_scan"]
    assert st["state"] == "ok", st
    assert a.events("av.full_scan_overdue") == []


@needs_journal_remote
def test_full_scan_from_the_journal_every_field_is_checked(make_agent, tmp_path):
    """An entry that matches _PID=1 but carries another _PID (or UNIT) as well
    is not PID 1's; past 64 of them mamorid stops looking (bounded work)."""
    jd = tmp_path / "journal"
    doubled = [journal_entry(2, extra=[("_PID", 1234)]), journal_entry(1.5, extra=[("UNIT", "other.service")]),
               journal_entry(1, extra=[("_UID", 1000)])]
    make_journal(jd, [journal_entry(9)] + doubled)
    a = make_agent(main_conf=journal_conf(jd)).start()
    fs = a.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert fs["state"] == "overdue" and 8.99 < age_days(fs) < 9.01

    jd2 = tmp_path / "journal2"
    make_journal(jd2, [journal_entry(9)] + [journal_entry(1 - i / 100, extra=[("_PID", 7)]) for i in range(64)])
    b = make_agent(main_conf=journal_conf(jd2)).start()
    fs = b.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert fs["state"] == "missing" and "within the last entries looked at" in fs["detail"]


@needs_journal_remote
def test_full_scan_from_the_journal_none_is_missing(make_agent, tmp_path):
    jd = tmp_path / "journal"
    make_journal(jd, [journal_entry(1, unit="clamav-freshclam.service")])
    a = make_agent(main_conf=journal_conf(jd)).start()
    fs = a.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert fs["state"] == "missing" and fs["last_completed"] is None
    assert fs["reason"] == "no_full_scan" and SCAN_UNIT in fs["detail"]

    # Within the days: quiet at start.
    jd2 = tmp_path / "journal2"
    make_journal(jd2, [journal_entry(1)])
    b = make_agent(main_conf=journal_conf(jd2, days=3)).start()
    b.wait_log("completed within 3 days")
    time.sleep(0.5)
    assert b.events("av.full_scan_overdue") == []
    from test_mamorictl import ctl
    text = ctl(a, "status").stdout
    assert "Full scan:    NONE KNOWN: no completed full scan (at most 7 days apart)\n" in text
    assert "full scan (missing)" in text
    text = ctl(b, "status").stdout
    assert "(ok: within 3 days)\n" in text and "full scan (" not in text


def test_full_scan_from_this_machines_journal(make_agent):
    """Without journal_directory: the system journal opens (or there is none,
    as in a container), and a unit that never ran is missing, not unreadable."""
    a = make_agent(main_conf=('lock = { tty = "ignore"; };\n'
                              'antivirus = { engine = "none"; full_scan = { unit = "mamori-test-never-ran.service"; }; };\n'))
    a.start()
    fs = a.wait_events("av.full_scan_overdue")[0]["antivirus"]["full_scan"]
    assert fs["state"] == "missing" and fs["reason"] == "no_full_scan", fs
    assert fs["source"] == "journal: mamori-test-never-ran.service"


def test_full_scan_journal_directory_must_be_roots(make_agent, tmp_path):
    """Anyone who can put a file there can write _PID=1 into it: refused at load."""
    jd = tmp_path / "journal"
    os.makedirs(jd)
    os.chmod(jd, 0o777)
    a = make_agent(main_conf=journal_conf(jd))
    rc, out, err = a.check_config()
    assert rc != 0 and "journal_directory" in out + err and "not trusted" in out + err, out + err
