# SPDX-License-Identifier: MIT
"""mamorictl against the real mamorid under umockdev: every verb, the
allow-entry round trip through the daemon's own parser and enforcement, and
the root-only socket (an unprivileged user gets "permission denied")."""

import json
import pty
import select
import re
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from mamori_testlib import read_line, wait_for

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))
ALLOW_OK = ('allow = (\n  { vendor = "0781"; product = "5567"; serial = "GOOD0001";\n'
            '    label = "総務課 貸出用 1"; approved_by = "CISO Yamada"; expires = "2099-12-31"; }\n);\n')


def ctl(agent, *args, user=None, env=None, timeout=20):
    cmd = [MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    e = dict(os.environ)
    e["UMOCKDEV_DIR"] = agent.bed.root  # Testbed.new() set it with setenv(); os.environ never saw it
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)


def on_a_terminal(agent, *args, timeout=20):
    """mamorictl's stdout on a pseudo-terminal (what an admin sees)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                             stdout=slave, stderr=subprocess.PIPE, env=dict(os.environ, UMOCKDEV_DIR=agent.bed.root))
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(timeout) == 0, p.stderr.read()
        return out.decode().replace("\r\n", "\n")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def ok(p):
    assert p.returncode == 0, f"rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def started_hash(agent):
    return agent.wait_events("agent.started")[0]["agent"]["policy_hash"]


# ---- status ----

def test_status(bed, make_agent):
    a = make_agent(allow={"10-ok.conf": ALLOW_OK}).start()
    h = started_hash(a)
    out = ok(ctl(a, "status"))
    assert f"Policy:       {h}" in out
    assert "Fail-closed:  no" in out
    assert "1 allow entry from 2 files" in out
    assert "Blocking:     storage mtp ptp tethering" in out
    # no collector: the events are not "waiting" for anything (issue 18)
    assert re.search(r"^Spool:        \d+ events? kept on this PC \(no collector configured\)$", out, re.M), out
    assert "Last post:    n/a (no collector configured)" in out
    assert "usb        ok" in out
    assert "State:        mamori works\nFindings:     none\n" in out, out

    st = json.loads(ok(ctl(a, "--json", "status")))
    assert st["policy"]["hash"] == h and st["policy"]["fail_closed"] is False
    assert st["pid"] == a.proc.pid
    assert {c["name"] for c in st["checks"]} >= {"usb"}
    assert st["checks"][0]["root_hubs"] == 2


def test_status_fail_closed_exits_3(bed, make_agent):
    a = make_agent(main_conf="usb = { block = [ \"floppy\" ]; };\n").start()
    p = ctl(a, "status")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "Fail-closed:  YES" in p.stdout
    assert "State:        NOT WORKING AS CONFIGURED: fail-closed, usb (fail_closed)" in p.stdout, p.stdout
    assert ctl(a, "--json", "status").returncode == 3
    assert json.loads(ctl(a, "--json", "status").stdout)["policy"]["fail_closed"] is True


# ---- reload ----

def test_reload_says_when_the_configuration_is_refused(bed, make_agent):
    """`mamorictl reload` (ExecReload= of the unit) waits for mamorid's verdict:
    a refused configuration fails with its errors as file:line, the old policy
    stays, and `status` says so for as long as the files on disk are refused."""
    dev, ifs = bed.add_usb("0781", "5567", serial=b"GOOD0001", iface_authorized="0")
    a = make_agent(allow={"10-ok.conf": ALLOW_OK}).start()
    h = started_hash(a)
    wait_for(lambda: bed.authorized(ifs[0]) == "1", 10, what="approved stick authorized")
    out = ok(ctl(a, "reload"))
    assert f"Reloaded: policy {h[:12]} is in force." in out

    # A typo in a second file: the reload is refused, loudly.
    a.write_allow("20-typo.conf", 'allow = (\n  { vendor = "0781"; product = "5567"; serial = "X";\n'
                                  '    approved_by = "Y"; expiry = "2099-01-01"; }\n);\n')
    p = ctl(a, "reload")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Reload refused" in p.stderr and h[:12] in p.stderr, p.stderr
    assert "20-typo.conf:3: " in p.stderr and "expiry" in p.stderr, p.stderr
    assert bed.authorized(ifs[0]) == "1", "a refused reload must not change enforcement"

    p = ctl(a, "status")
    assert p.returncode == 3, p.stdout + p.stderr
    assert f"Policy:       {h}" in p.stdout
    assert "Config:       REFUSED" in p.stdout and "20-typo.conf:3: " in p.stdout, p.stdout
    assert "State:        NOT WORKING AS CONFIGURED: configuration on disk refused\n" in p.stdout, p.stdout
    st = json.loads(ctl(a, "--json", "status").stdout)
    errs = st["policy"]["refused"]["errors"]
    assert errs and errs[0]["file"].endswith("20-typo.conf") and errs[0]["line"] == 3, errs
    assert st["policy"]["refused"]["since"]

    # SIGHUP (kill -HUP) keeps the same record.
    a.reload()
    assert json.loads(ctl(a, "--json", "status").stdout)["policy"]["refused"]["errors"]

    # Fixed: the reload takes, status is clean again.
    os.unlink(os.path.join(a.allow_dir, "20-typo.conf"))
    out = ok(ctl(a, "reload"))
    assert "Reloaded" in out
    p = ctl(a, "status")
    assert p.returncode == 0 and "REFUSED" not in p.stdout, p.stdout + p.stderr
    assert json.loads(ctl(a, "--json", "status").stdout)["policy"]["refused"] is None


# ---- devices ----

def test_devices_table_and_json(bed, make_agent):
    a = make_agent(allow={"10-ok.conf": ALLOW_OK}).start()
    bed.add_usb("0781", "5567", serial="GOOD0001", port=3, product_name="Cruzer")
    _, bad_ifs = bed.add_usb("0781", "5567", serial="EVIL0002", port=4, product_name="Cruzer")
    bed.add_usb("046d", "c31c", serial=None, port=5, bus=1, interfaces=(("03", "01", "01", None),),
                product_name="Keyboard")
    a.wait_events("usb.blocked")
    a.wait_events("usb.allowed")
    wait_for(lambda: bed.authorized(bad_ifs[0]) == "0", what="blocked")

    out = ok(ctl(a, "devices"))
    lines = out.splitlines()
    assert lines[0].split() == ["BUS", "ID", "SERIAL", "CATEGORY", "DECISION", "RULE", "/", "REASON", "PRODUCT"]
    rows = {l.split()[0]: l for l in lines[1:] if l and not l.endswith("devices.")}
    assert "allowed" in rows["2-3"] and "10-ok.conf:2 総務課 貸出用 1" in rows["2-3"]
    assert "blocked" in rows["2-4"] and "allow entries exist for this model, but not for" in rows["2-4"]
    assert "not a blocked category" in rows["1-5"]
    assert rows["usb1"].split()[3] == "hub"

    # into a pipe, the reason is whole (issue 18: it was cut off)
    assert "allow entries exist for this model, but not for this serial" in rows["2-4"]
    # on a terminal it is cut, and the table says how to see it whole
    term = on_a_terminal(a, "devices")
    assert "allow entries exist for this model, but not for…" in term, term
    assert "Some text is cut (…): mamorictl devices --wide shows it whole." in term
    wide = on_a_terminal(a, "devices", "--wide")
    assert "allow entries exist for this model, but not for this serial" in wide and "…" not in wide, wide

    devs = json.loads(ok(ctl(a, "devices", "--json")))
    by = {d["device"]["bus_path"]: d for d in devs}
    assert [d["device"]["bus_path"] for d in devs] == ["1-5", "2-3", "2-4", "usb1", "usb2"]
    assert by["2-3"]["decision"]["action"] == "allowed"
    assert by["2-3"]["decision"]["rule"]["file"].endswith("allow.d/10-ok.conf")
    assert by["2-4"]["decision"] == {**by["2-4"]["decision"], "action": "blocked", "reason": "serial_mismatch"}
    assert by["2-4"]["device"]["interfaces"][0]["authorized"] is False
    assert by["1-5"]["decision"]["action"] == "none"
    assert by["1-5"]["device"]["has_serial"] is False


# ---- allow ----

HOSTILE = 'AB"C\\D\x01あZ'  # a quote, a backslash, a control byte, UTF-8


def test_allow_prints_an_entry_that_the_daemon_accepts(bed, make_agent):
    a = make_agent().start()
    dev, ifs = bed.add_usb("0781", "5567", serial=HOSTILE, port=6)
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"

    out = ok(ctl(a, "allow", "2-6", "--label", "総務課 \"貸出\" 1", "--approved-by", "CISO Yamada",
                 "--approved-on", "2026-04-01", "--expires", "2099-03-31", "--ticket", "SEC-1"))
    assert 'serial      = "AB\\"C\\\\D\\x01\\xe3\\x81\\x82Z";' in out
    assert 'label       = "総務課 \\"貸出\\" 1";' in out
    assert 'vendor      = "0781";' in out and 'product     = "5567";' in out
    # Three comment lines, whatever the device's strings hold; then the entry.
    lines = out.splitlines()
    assert [l for l in lines if l.startswith("#")] == lines[:3] and lines[0].startswith("# 0781:5567")

    # Saved and reloaded, it allows exactly this stick.
    path = os.path.join(a.allow_dir, "50-new.conf")
    with open(path, "w") as f:
        f.write(out)
    a.reload()
    allowed = a.wait_events("usb.allowed")[0]
    assert allowed["device"]["serial_hex"] == ev["device"]["serial_hex"]
    wait_for(lambda: bed.authorized(ifs[0]) == "1", what="authorized after reload")
    assert allowed["decision"]["rule"]["file"] == path


def test_allow_write_is_root_only_and_never_overwrites(bed, make_agent):
    a = make_agent().start()
    bed.add_usb("0781", "5567", serial="W0001", port=7)
    a.wait_events("usb.blocked")
    path = os.path.join(a.allow_dir, "60-w.conf")

    p = ctl(a, "allow", "0781:5567", "--write", path)
    assert p.returncode == 2 and "--approved-by" in p.stderr
    p = ctl(a, "allow", "0781:5567", "--approved-by", "Y", "--write", path[:-5] + ".txt")
    assert p.returncode == 2 and "never read it" in p.stderr

    ok(ctl(a, "allow", "0781:5567", "--approved-by", "CISO", "--expires", "2099-01-01", "--write", path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [f for f in os.listdir(a.allow_dir) if f.startswith(".#")]
    before = open(path).read()
    p = ctl(a, "allow", "0781:5567", "--approved-by", "Other", "--write", path)
    assert p.returncode == 1 and "already allowed by" in p.stderr and "--renew" in p.stderr
    # Not even with --force (which allows a second entry, in another file).
    p = ctl(a, "allow", "0781:5567", "--approved-by", "Other", "--write", path, "--force")
    assert p.returncode == 1 and "not overwritten" in p.stderr
    assert open(path).read() == before

    ok(ctl(a, "check-config", "--config", a.conf))
    a.reload()
    a.wait_events("usb.allowed")


def test_allow_device_selection(bed, make_agent):
    a = make_agent().start()
    bed.add_usb("0781", "5567", serial="S1", port=8)
    bed.add_usb("0781", "5567", serial="S2", port=9)
    bed.add_usb("1234", "0001", serial=None, port=10)
    a.wait_events("usb.blocked", count=3)

    p = ctl(a, "allow", "0781:5567")
    assert p.returncode == 1 and "several" in p.stderr and "2-8" in p.stderr and "2-9" in p.stderr
    assert 'serial      = "S2";' in ok(ctl(a, "allow", "2-9"))
    p = ctl(a, "allow", "9-9")
    assert p.returncode == 1 and "no USB device 9-9" in p.stderr
    p = ctl(a, "allow", "sdb")
    assert p.returncode == 2

    # No serial: only any_serial can match, said in the entry; --write wants it spelled out.
    out = ok(ctl(a, "allow", "1234:0001"))
    assert "any_serial  = true;" in out and "no serial" in out
    assert 'approved_by = "";' in out and "REQUIRED" in out
    p = ctl(a, "allow", "2-10", "--approved-by", "Y", "--write", os.path.join(a.allow_dir, "70.conf"))
    assert p.returncode == 2 and "--any-serial" in p.stderr
    ok(ctl(a, "allow", "2-10", "--approved-by", "Y", "--any-serial", "--write", os.path.join(a.allow_dir, "70.conf")))


# ---- renewal, dates, where --write writes ----

EXPIRED = ("# 0781:5567 Loan stick, serial ABC123, plugged in at 2-5\n"
           "# Written by mamorictl allow.\n"
           "allow = (\n"
           "  {\n"
           "    vendor      = \"0781\";\n"
           "    product     = \"5567\";\n"
           "    serial      = \"ABC123\";\n"
           "    label       = \"Loan stick 1\";\n"
           "    approved_by = \"Old Officer\";\n"
           "    expires     = \"2025-01-01\";  # allows through this day / この日まで有効\n"
           "  }\n"
           ");\n")


def test_renewal_of_an_expired_stick(bed, make_agent):
    """issue 18 item 1: an expired stick, renewed in place with
    `mamorictl allow --renew`, reloaded, usable; the reload says "changed"."""
    a = make_agent(allow={"20-x.conf": EXPIRED}).start()
    path = os.path.join(a.allow_dir, "20-x.conf")
    os.chmod(path, 0o600)
    dev, ifs = bed.add_usb("0781", "5567", serial="ABC123", port=5)
    ev = a.wait_events("usb.blocked")[0]
    assert ev["decision"]["reason"] == "expired", ev["decision"]

    # allow tells that an entry exists, where, and that it expired.
    p = ctl(a, "allow", "2-5", "--approved-by", "CISO", "--expires", "2099-06-30")
    assert p.returncode == 0, p.stderr
    assert f"already allowed by {path}:4 (expires 2025-01-01, expired)" in p.stderr
    # A second entry in a new file is not written without --force: --renew is the way.
    p = ctl(a, "allow", "2-5", "--approved-by", "CISO", "--expires", "2099-06-30",
            "--write", os.path.join(a.allow_dir, "21-renew.conf"))
    assert p.returncode == 1 and "--renew" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(a.allow_dir, "21-renew.conf"))
    p = ctl(a, "allow", "2-5", "--renew", "--expires", "2099-06-30")
    assert p.returncode == 2 and "--approved-by" in p.stderr

    out = ok(ctl(a, "allow", "2-5", "--renew", "--expires", "2099-06-30", "--approved-by", "CISO Yamada",
                 "--ticket", "SEC-9"))
    assert f"Renewed {path}:4: expires 2099-06-30 (was 2025-01-01), approved by CISO Yamada" in out
    text = open(path).read()
    assert text == (EXPIRED.replace('"Old Officer";', '"CISO Yamada";\n    ticket      = "SEC-9";')
                    .replace("2025-01-01", "2099-06-30"))
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    assert not [f for f in os.listdir(a.allow_dir) if f.startswith(".#")]

    assert "Reloaded" in ok(ctl(a, "reload"))
    wait_for(lambda: bed.authorized(ifs[0]) == "1", what="the renewed stick authorized")
    allowed = a.wait_events("usb.allowed")[0]
    assert allowed["decision"]["rule"]["file"] == path and allowed["decision"]["rule"]["line"] == 4
    ch = a.wait_events("agent.config_changed")[0]
    assert "0 allow entries added, 1 changed, 0 removed" in ch["message"], ch["message"]

    # Nothing left to renew for a stick that no entry names.
    bed.add_usb("0781", "5567", serial="NEW0001", port=6)
    a.wait_events("usb.blocked", count=2)
    p = ctl(a, "allow", "2-6", "--renew", "--expires", "2099-06-30", "--approved-by", "CISO")
    assert p.returncode == 1 and "nothing to renew" in p.stderr


def test_renew_refuses_what_would_not_load(bed, make_agent):
    """The whole configuration is checked with the renewal in it: an
    approved_on after the new expires is refused, and the file is untouched."""
    a = make_agent(allow={"20-x.conf": EXPIRED.replace('    approved_by', '    approved_on = "2024-01-01";\n    approved_by')}).start()
    bed.add_usb("0781", "5567", serial="ABC123", port=5)
    a.wait_events("usb.blocked")
    before = open(os.path.join(a.allow_dir, "20-x.conf")).read()
    p = ctl(a, "allow", "2-5", "--renew", "--expires", "2099-06-30", "--approved-by", "CISO", "--approved-on", "2100-01-01")
    assert p.returncode == 1 and "would not load" in p.stderr and "before 'approved_on'" in p.stderr, p.stderr
    assert open(os.path.join(a.allow_dir, "20-x.conf")).read() == before


def test_allow_dates(bed, make_agent):
    """issue 18 item 6: a past date only with --force, a date that does not
    exist by name, RFC 3339 as the config takes it."""
    a = make_agent().start()
    bed.add_usb("0781", "5567", serial="D0001", port=7)
    a.wait_events("usb.blocked")

    p = ctl(a, "allow", "2-7", "--approved-by", "Y", "--expires", "2025-03-31")
    assert p.returncode == 2 and "is in the past" in p.stderr and "--force" in p.stderr, p.stderr
    assert p.stdout == ""
    assert 'expires     = "2025-03-31";' in ok(ctl(a, "allow", "2-7", "--approved-by", "Y", "--expires", "2025-03-31", "--force"))

    p = ctl(a, "allow", "2-7", "--expires", "2027-02-30")
    assert p.returncode == 2 and "2027-02-30 is not a date that exists (2027-02 has 28 days)" in p.stderr, p.stderr
    p = ctl(a, "allow", "2-7", "--approved-on", "2026-13-01")
    assert p.returncode == 2 and "there is no month 13" in p.stderr, p.stderr
    p = ctl(a, "allow", "2-7", "--expires", "2099-03-31T17:00:00")
    assert p.returncode == 2 and "RFC 3339" in p.stderr, p.stderr

    out = ok(ctl(a, "allow", "2-7", "--approved-by", "Y", "--expires", "2099-03-31T17:00:00+09:00"))
    assert 'expires     = "2099-03-31T17:00:00+09:00";  # allows until this instant / この時刻まで有効' in out
    assert "through this day" not in out


def test_allow_write_only_into_allow_d(bed, make_agent, tmp_path):
    """issue 18 item 9: a file outside the allow.d mamorid reads is refused
    without --force, and then not presented as applied by a reload."""
    a = make_agent().start()
    bed.add_usb("0781", "5567", serial="W0002", port=7)
    a.wait_events("usb.blocked")
    other = str(tmp_path / "30-old.conf")

    p = ctl(a, "allow", "2-7", "--approved-by", "Y", "--write", other)
    assert p.returncode == 2 and f"is not in {a.allow_dir}" in p.stderr, p.stderr
    assert not os.path.exists(other)
    out = ok(ctl(a, "allow", "2-7", "--approved-by", "Y", "--write", other, "--force"))
    assert "not in" in out and "systemctl reload" not in out, out

    # Inside allow.d (also as a relative path): applied by a reload, and the
    # file does not tell to save it anywhere.
    path = os.path.join(a.allow_dir, "40-w.conf")
    out = ok(ctl(a, "allow", "2-7", "--approved-by", "Y", "--expires", "2099-01-01", "--write", path))
    assert "Apply it with: systemctl reload mamori" in out
    text = open(path).read()
    assert "Save it as" not in text and "Written by mamorictl allow." in text
    # --config names the files for a daemon that is not running.
    a.stop()
    p = ctl(a, "allow", "2-7", "--approved-by", "Y", "--write", os.path.join(a.allow_dir, "41-w.conf"), "--force",
            "--config", a.conf)
    assert p.returncode == 0 and "already allowed by" in p.stderr, p.stderr


def test_status_line_and_status_count_the_same(bed, make_agent):
    """systemd's status line (sd_notify STATUS=) and mamorictl status count
    the same thing in the same words: USB devices other than root hubs, and
    how many are blocked; the line follows plugs and removals (issue 18: the
    line said 7 while status said 2 to 5)."""
    a = make_agent().start()
    a.wait_notify("STATUS=Enforcing policy")
    assert any("; 0 USB devices, 0 blocked; " in m for m in a.notify), a.notify
    dev, ifs = bed.add_usb("0781", "5567", serial="S1", port=3)
    bed.add_usb("0781", "5567", serial="S2", port=4)
    bed.add_usb("046d", "c31c", serial=None, interfaces=(("03", "01", "01", None),), port=5)  # a keyboard
    a.wait_events("usb.blocked", count=2)
    a.wait_notify("; 3 USB devices, 2 blocked; ")
    st = json.loads(ok(ctl(a, "--json", "status")))
    usb = [c for c in st["checks"] if c["name"] == "usb"][0]
    assert usb["devices"] == 3 and usb["blocked_devices"] == 2 and usb["root_hubs"] == 2, usb
    assert usb["detail"].startswith("3 USB devices, 2 blocked; 2 root hubs"), usb
    assert "3 USB devices, 2 blocked" in ok(ctl(a, "status"))
    bed.remove(dev, ifs)
    a.wait_notify("; 2 USB devices, 1 blocked; ")


def test_status_line_is_coalesced(bed, make_agent):
    """A burst of plugs is not a burst of STATUS= messages to PID 1: at most
    one a second, and never the same text twice in a row. (One per report
    filled a notify socket that was not read, after 512 plugs, and stopped
    the benchmark; PID 1 would have to process each.)"""
    a = make_agent().start()
    a.wait_notify("STATUS=Enforcing policy")
    a.notify.clear()
    t0 = time.monotonic()
    for k in range(40):
        bed.add_usb("0781", "5567", serial=f"BURST{k:03d}", port=1 + k % 20, bus=1 + k // 20)
    a.wait_events("usb.blocked", count=40, timeout=30)
    a.wait_notify("; 40 USB devices, 40 blocked; ", timeout=10)
    took = time.monotonic() - t0
    status = [m for m in a.poll_notify() if m.startswith("STATUS=")]
    assert len(status) <= took + 2, (len(status), took, status)
    assert all(x != y for x, y in zip(status, status[1:])), status

def test_check_config(bed, make_agent):
    a = make_agent(allow={"10-ok.conf": ALLOW_OK}).start()
    out = ok(ctl(a, "check-config", "--config", a.conf))
    assert "OK, 1 allow entry from 2 files" in out and "mamorid runs this policy." in out

    a.write_allow("20-more.conf", 'allow = ( { vendor = "1111"; product = "2222"; serial = "X"; approved_by = "Y"; } );\n')
    out = ok(ctl(a, "check-config", "--config", a.conf))
    assert "not this one: run 'systemctl reload mamori'" in out

    a.write_allow("30-bad.conf", 'allow = ( { vendor = "1111"; product = "2222"; serial = "Z"; } );\n')
    p = ctl(a, "check-config", "--config", a.conf)
    assert p.returncode == 1
    assert f"{a.allow_dir}/30-bad.conf:1: allow entry has no 'approved_by'" in p.stdout


def test_check_config_when_the_agent_is_stopped(bed, make_agent):
    """A valid file on disk enforces nothing by itself: check-config says so,
    but exits 0: the exit code says whether the file is valid, so that
    `check-config && systemctl start mamori` works; errors still exit 1."""
    a = make_agent(allow={"10-ok.conf": ALLOW_OK, "20-more.conf.bak": ALLOW_OK}).start()
    out = ok(ctl(a, "check-config", "--config", a.conf))
    assert "mamorid runs this policy." in out and "not running" not in out
    assert f"{a.allow_dir}/20-more.conf.bak: ignored: only files whose name ends in .conf are read" in out
    a.stop()
    p = ctl(a, "check-config", "--config", a.conf)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "OK, 1 allow entry from 2 files" in p.stdout
    assert "mamorid is not running: nothing is enforced (systemctl start mamori)." in p.stdout
    assert p.stderr == ""
    a.write_allow("30-bad.conf", "allow = (\n")
    p = ctl(a, "check-config", "--config", a.conf)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "30-bad.conf:1: syntax error" in p.stdout and "mamorid is not running" in p.stdout


# ---- events, flush ----

def test_events_and_follow(bed, make_agent):
    a = make_agent().start()
    started_hash(a)
    out = ok(ctl(a, "events"))
    assert "agent.started" in out
    lines = ok(ctl(a, "events", "--json", "-n", "5")).splitlines()
    assert [json.loads(l)["kind"] for l in lines] == ["agent.started", "agent.posture"]

    env = dict(os.environ, UMOCKDEV_DIR=bed.root)
    f = subprocess.Popen([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), "--json", "events", "--follow",
                          "-n", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         # Ctrl-C as at a terminal, even where the test runs as a background job (SIGINT ignored)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Subscribed once mamorid took the request (in the same turn of its loop).
        wait_for(lambda: "Control request: follow" in a.log(), 10, what="the follow request")
        bed.add_usb("0781", "5567", serial="F1", port=11)
        ev = json.loads(read_line(f.stdout, 10, what="the followed event"))
        assert ev["kind"] == "usb.blocked" and ev["device"]["serial"] == "F1"
        # A follower does not hold up the others.
        ok(ctl(a, "status"))
    finally:
        f.send_signal(signal.SIGINT)
        f.wait(5)
    assert "F1" in ok(ctl(a, "events", "-n", "1"))


def test_flush(bed, make_agent):
    """Without collector.url: the pending reports are written, and flush says
    that nothing is posted and why (with a url: test_uplink.py)."""
    a = make_agent().start()
    out = ok(ctl(a, "flush"))
    assert out == ("Pending reports written; nothing to post: events stay in the spool and the journal: "
                   "no collector.url is configured.\n"), out
    rep = json.loads(ok(ctl(a, "--json", "flush")))
    assert rep["reports_flushed"] is True and rep["uplink"] is False, rep
    assert "no collector.url" in rep["detail"]


# ---- who may ask ----

def test_unprivileged_user_gets_permission_denied(bed, make_agent):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    a = make_agent().start()
    sock = os.path.join(a.runtime, "control")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600

    # The socket is root's: nobody cannot even connect.
    os.chmod(a.dir, 0o755)
    os.chmod(a.runtime, 0o755)
    p = ctl(a, "status", user=65534)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "permission denied" in p.stderr and p.stdout == ""

    # Were the file mode ever loosened, mamorid itself still refuses (SO_PEERCRED).
    os.chmod(sock, 0o666)
    for verb in ("status", "devices", "events", "flush", "reload"):
        p = ctl(a, verb, user=65534)
        assert p.returncode == 4, p.stdout + p.stderr
        assert "permission denied: only root may talk to mamorid" in p.stderr
    assert "refused a client that is not root" in a.log()
    ok(ctl(a, "status"))


def test_not_running(bed, make_agent):
    a = make_agent().start()
    a.stop()
    p = ctl(a, "status")
    assert p.returncode == 5 and "mamorid is not running" in p.stderr


# ---- the protocol itself ----

def raw(agent, data, read=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(agent.runtime, "control"))
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before reading: the answer is still there
    out = b""
    while read:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_bad_requests_are_refused(bed, make_agent):
    a = make_agent().start()
    assert json.loads(raw(a, b"reboot\n"))["errno"] == 22
    assert json.loads(raw(a, b"status now\n"))["errno"] == 22
    assert json.loads(raw(a, b"events -1\n"))["errno"] == 22
    assert json.loads(raw(a, b"x" * 5000))["error"] == "request too long"
    assert json.loads(raw(a, b"\xff\x00\n"))["errno"] in (22, 74)
    # Still serving.
    assert json.loads(raw(a, b"status\n"))["policy"]["fail_closed"] is False


def test_too_many_clients_wait_their_turn(bed, make_agent):
    a = make_agent().start()
    held = []
    try:
        for _ in range(32):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(os.path.join(a.runtime, "control"))
            held.append(s)
        time.sleep(0.2)
        late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        late.connect(os.path.join(a.runtime, "control"))  # into the backlog
        late.sendall(b"status\n")
        late.settimeout(0.5)
        with pytest.raises(socket.timeout):
            late.recv(1)
        held.pop().close()
        late.settimeout(5)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = late.recv(65536)
            assert chunk
            reply += chunk
        assert json.loads(reply)["policy"]["fail_closed"] is False
        late.close()
    finally:
        for s in held:
            s.close()


# ---- bash completion ----

COMPLETION = os.path.join(os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                          "tools/mamorictl/mamorictl.bash")


def complete(bed, line, with_bash_completion, env=None):
    """The words bash would offer for line (cursor at its end)."""
    setup = "[ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion\n" \
        if with_bash_completion else ""
    script = setup + f""". {COMPLETION}
COMP_LINE={line!r}; read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}
_mamorictl mamorictl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, UMOCKDEV_DIR=bed.root, **(env or {}))
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    return sorted(w for w in p.stdout.splitlines() if w)


@pytest.mark.parametrize("with_bash_completion", [False, True])
def test_bash_completion(bed, with_bash_completion, tmp_path):
    if with_bash_completion and not os.path.exists("/usr/share/bash-completion/bash_completion"):
        pytest.skip("bash-completion missing")
    assert complete(bed, "mamorictl ", with_bash_completion) == \
        ["allow", "check-config", "dead-letter", "devices", "events", "flush", "inspect", "quarantine", "reload",
         "status"]
    assert complete(bed, "mamorictl --so", with_bash_completion) == ["--socket"]
    assert complete(bed, "mamorictl quarantine ", with_bash_completion) == ["engage", "release"]
    assert complete(bed, "mamorictl quarantine release --r", with_bash_completion) == ["--reason"]
    assert complete(bed, "mamorictl --socket /x ev", with_bash_completion) == ["events"]
    assert complete(bed, "mamorictl events --f", with_bash_completion) == ["--follow"]
    assert complete(bed, "mamorictl inspect --", with_bash_completion) == ["--json"]
    assert "--approved-by" in complete(bed, "mamorictl allow 2-3 --", with_bash_completion)
    # Plugged devices come from sysfs (the testbed's, under umockdev).
    bed.add_usb("0781", "5567", serial="C1", port=12, uevent=False)
    assert complete(bed, "mamorictl allow ", with_bash_completion) == ["0781:5567", "2-12"]
    # dead-letter: its two commands, and the seq ranges of the dead letters kept
    assert complete(bed, "mamorictl dead-letter ", with_bash_completion) == ["list", "resend"]
    assert complete(bed, "mamorictl dead-letter resend --a", with_bash_completion) == ["--all"]
    (tmp_path / "dead-letter").mkdir()
    (tmp_path / "dead-letter" / f"{12:020d}-{15:020d}.ndjson").write_text("{}\n")
    (tmp_path / "dead-letter" / "junk.damaged").write_text("")
    assert complete(bed, "mamorictl dead-letter resend ", with_bash_completion,
                    env={"MAMORI_UPLINK_STATE_DIR": str(tmp_path)}) == ["12-15"]


def write_bad_allow(agent):
    """An allow file with 60 errors: every reload refused records an
    agent.config_error event of some 8 KiB (50 errors listed)."""
    agent.write_allow("90-bad.conf", "\n".join(
        '{ vendor = "zz"; product = "%04d"; serial = "%s"; approved_by = "Y"; },' % (i, "x" * 40) for i in range(60))
        .join(["allow = (\n", '\n{ vendor = "0000"; product = "0000"; serial = "end"; approved_by = "Y"; }\n);\n']))


def big_recent_events(agent, n=40):
    """n events of some 8 KiB each among the recent ones: `events 256` is then
    larger than any socket buffer."""
    write_bad_allow(agent)
    for _ in range(n):
        agent.reload()
    os.unlink(os.path.join(agent.allow_dir, "90-bad.conf"))


def connect(agent, request=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(os.path.join(agent.runtime, "control"))
    if request is not None:
        s.sendall(request)
    return s


REPLY_TIMEOUT = 5  # CONTROL_REPLY_TIMEOUT_USEC


def test_clients_that_do_not_read_their_replies_are_dropped(bed, make_agent):
    """32 clients (every slot) ask for a reply larger than the socket buffer
    and never read it: each is dropped once its reply has taken
    REPLY_TIMEOUT, and mamorictl is answered then."""
    a = make_agent().start()
    big_recent_events(a)
    held = [connect(a, b"events 256\n") for _ in range(32)]
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        p = ctl(a, "--json", "status")  # 3: the refused files of big_recent_events
        took = time.monotonic() - t0
        assert p.returncode in (0, 3), p.stderr
        st = json.loads(p.stdout)
        assert st["pid"] == a.proc.pid
        assert took < REPLY_TIMEOUT + 4, f"status took {took:.1f}s"
        wait_for(lambda: a.log().count("dropping a client that did not read its reply") == 32, 10,
                 what="32 dropped clients in the log")
        # The replies were really stuck (not merely slow): most of each unread.
        assert "bytes unread" in a.log()
        # A dropped client finds its connection ended, not a hang.
        s = held[0]
        s.settimeout(5)
        try:
            while s.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
    finally:
        for s in held:
            s.close()
    assert json.loads(raw(a, b"status\n"))["pid"] == a.proc.pid


def test_events_into_a_pager_that_waits_are_complete(bed, make_agent):
    """mamorictl reads the whole reply before it prints: a pager that waits
    for its reader longer than REPLY_TIMEOUT gets every event."""
    a = make_agent().start()
    big_recent_events(a, 60)
    want = raw(a, b"events 256\n").count(b"\n")
    assert want >= 60
    env = dict(os.environ, UMOCKDEV_DIR=bed.root)
    p = subprocess.Popen([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), "--json", "events", "-n", "256"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(REPLY_TIMEOUT + 2)  # the pager's reader is away
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out.count(b"\n") == want
    assert "dropping a client" not in a.log()


def test_a_follower_that_stops_reading_is_dropped_in_time(bed, make_agent):
    """A follower whose backlog (below the byte bound) sits unread for
    REPLY_TIMEOUT is dropped, even when no new event comes."""
    a = make_agent().start()
    big_recent_events(a)
    s = connect(a, b"follow 256\n")
    try:
        t0 = time.monotonic()
        wait_for(lambda: "dropping a follower that read none of its" in a.log(), REPLY_TIMEOUT + 5,
                 what="the stalled follower dropped")
        assert time.monotonic() - t0 >= REPLY_TIMEOUT - 1
    finally:
        s.close()


def test_a_follower_that_keeps_sending_is_dropped(bed, make_agent):
    a = make_agent().start()
    s = connect(a, b"follow 0\n")
    try:
        time.sleep(0.2)
        try:
            for _ in range(1000):
                s.sendall(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        wait_for(lambda: "dropping a follower that sends after its request" in a.log(), 5, what="the note")
    finally:
        s.close()
    assert json.loads(raw(a, b"status\n"))["pid"] == a.proc.pid


def test_followers_take_at_most_half_the_slots(bed, make_agent):
    a = make_agent().start()
    followers = [connect(a, b"follow 0\n") for _ in range(16)]
    idle = []
    try:
        time.sleep(0.3)
        extra = json.loads(raw(a, b"follow 0\n"))
        assert extra["errno"] == 16 and "too many followers" in extra["error"]
        # The other half: clients that send nothing hold theirs for the request timeout only.
        idle = [connect(a) for _ in range(16)]
        time.sleep(0.3)
        t0 = time.monotonic()
        ok(ctl(a, "status"))
        assert time.monotonic() - t0 < REPLY_TIMEOUT + 4
        # The followers are still served.
        bed.add_usb("0781", "5567", serial="HALF1", port=14)
        for f in followers:
            f.settimeout(10)
            assert b"HALF1" in f.recv(1 << 20)
    finally:
        for s in followers + idle:
            s.close()


def test_a_follower_that_does_not_read_is_dropped(bed, make_agent):
    a = make_agent().start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(os.path.join(a.runtime, "control"))
    s.sendall(b"follow 0\n")
    # Each refused reload records an agent.config_error event of some 8 KiB
    # (50 errors listed); the follower reads none of them.
    write_bad_allow(a)
    for _ in range(400):
        a.reload()
        if "dropping a follower" in a.log():
            break
    # Dropped for its backlog, or, on a loaded machine where 400 reloads take
    # longer, by the reply timeout first: either way it is dropped.
    assert re.search(r"dropping a follower that (does not read its events|read none of its \d+ waiting bytes)", a.log())
    assert len(a.events("agent.config_error")) >= 10
    # The daemon carries on, and the dropped follower sees the end of its stream.
    assert json.loads(raw(a, b"status\n"))["pid"] == a.proc.pid
    s.settimeout(5)
    got = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    assert got.count(b"\n") >= 1
    s.close()


def test_flush_sends_pending_reports_now(bed, make_agent):
    a = make_agent().start()
    started_hash(a)
    # Blocked at once; the report of a device whose "bind" has not come yet
    # (the kernel still making its interfaces) waits for it, up to 1 s.
    dev, ifs = bed.add_usb("0781", "5567", serial="FL1", port=13, bind=False)
    wait_for(lambda: bed.authorized(ifs[0]) == "0", what="blocked")
    assert a.events("usb.blocked") == [], "reported before it settled: the test proves nothing"
    reply = json.loads(raw(a, b"flush\n"))
    assert reply["reports_flushed"] is True
    evs = a.events("usb.blocked")
    assert evs and evs[0]["device"]["serial"] == "FL1"
