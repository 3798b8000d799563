# SPDX-License-Identifier: MIT
"""The configuration seen from outside: reload (SIGHUP) with a good and a broken
file, start with a missing and a broken one (fail closed), and
`mamorid --check-config`. The real mamorid under umockdev."""

import os
import re
import subprocess

from mamori_testlib import MAMORID, wait_for
from usb_support import (A, B, KEYBOARD, allow_file, barrier, check_usb_event, entry, plug_a, plug_b, sysname,
                         usb_events, wait_authorized)

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__), "../../build/tools/mamorictl/mamorictl"))


# ---- reload ----

def test_reload_with_a_good_file(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    da, (ia,) = plug_a(bed)
    db, (ib,) = plug_b(bed)
    a.wait_events("usb.allowed")
    a.wait_events("usb.blocked")
    assert bed.authorized(ia) == "1" and bed.authorized(ib) == "0"
    old_hash = a.events("agent.started")[0]["agent"]["policy_hash"]

    # The officer withdraws A and approves B.
    a.write_allow("10-soumu.conf", allow_file(B))
    a.reload()
    assert any("RELOADING=1" in n for n in a.notify)

    # A newly blocked device is blocked, a newly allowed one authorized and probed.
    wait_authorized(bed, ia, "0")
    assert bed.authorized(ib) == "1"
    # (mamorid writes authorized, then drivers_probe: not read in between)
    wait_for(lambda: sysname(ib) in bed.drivers_probe(), 5, what="B probed")

    ch = a.wait_events("agent.config_changed")[0]
    c = ch["config"]
    assert c["old_policy_hash"] == old_hash and c["new_policy_hash"] != old_hash
    assert [(e["device"], e["serial"]) for e in c["allow_entries_added"]] == [("0930:6545", "BBBB0001")]
    assert [(e["device"], e["serial"]) for e in c["allow_entries_removed"]] == [("0781:5567", "AAAA0001")]
    assert c["allow_entries_added"][0]["file"].endswith("allow.d/10-soumu.conf")
    assert ch["severity"] == "high", "an added exception is a weakening the central team must see"

    blocked = a.wait_events("usb.blocked", count=2)[-1]
    check_usb_event(blocked, "usb.blocked", "unknown", "0781", "5567")
    allowed = a.wait_events("usb.allowed", count=2)[-1]
    check_usb_event(allowed, "usb.allowed", "allowed", "0930", "6545")
    assert allowed["decision"]["rule"]["label"] == "stick B"
    assert allowed["agent"]["policy_hash"] == c["new_policy_hash"]


def test_reload_with_a_broken_file_keeps_the_running_policy(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    da, (ia,) = plug_a(bed)
    db, (ib,) = plug_b(bed)
    a.wait_events("usb.allowed")
    a.wait_events("usb.blocked")
    before = {p: bed.attr(p, "authorized") for p in (ia, ib)}
    old_hash = a.events("agent.started")[0]["agent"]["policy_hash"]
    n_events = len(a.events())

    # A good change (approve B) next to a broken file: nothing of it may apply.
    a.write_allow("10-soumu.conf", allow_file(A, B))
    a.write_allow("20-broken.conf", "allow = (\n  { vendor = \"0781\"; product = \"5568\";\n    serail = \"x\"; approved_by = \"x\"; }\n);\n")
    a.reload()

    err = a.wait_events("agent.config_error")[0]
    c = err["config"]
    assert (c["phase"], c["outcome"]) == ("reload", "kept_running_policy")
    assert c["running_policy_hash"] == old_hash
    files_lines = {(os.path.basename(e["file"]), e["line"]) for e in c["errors"]}
    assert ("20-broken.conf", 3) in files_lines, c["errors"]
    assert any("serail" in e["message"] for e in c["errors"])
    assert re.search(r"20-broken\.conf:3: .*serail", a.log()), "the log names file:line"

    # Devices unchanged, nothing re-decided, no policy change recorded.
    barrier(bed, a)
    assert {p: bed.attr(p, "authorized") for p in (ia, ib)} == before
    assert a.events("agent.config_changed") == []
    assert len(usb_events(a)) == 2
    assert len(a.events()) == n_events + 2  # the config_error and the barrier

    # The old policy is the one in force: B (approved only by the refused
    # files) is still blocked when plugged again, A still allowed.
    db2, (ib2,) = plug_b(bed, bus=1)
    da2, (ia2,) = plug_a(bed, bus=1)
    # (B's second block comes within usb.repeat_window of its first: it is
    # recorded once that window closes, as one usb.blocked with repeats = 1.)
    a.wait_events("usb.allowed", count=2)
    assert bed.authorized(ib2) == "0" and bed.authorized(ia2) == "1"
    assert all(e["agent"]["policy_hash"] == old_hash for e in usb_events(a))


# ---- start without a valid configuration: fail closed ----

def _assert_fail_closed(bed, a, listed_if, kbd_ifs, expect_file, expect_line):
    assert bed.authorized(listed_if) == "0", "a listed stick came up without a valid policy"
    for k in kbd_ifs:
        assert bed.never_written(k), "a keyboard was touched"
    err = a.wait_events("agent.config_error")[0]
    c = err["config"]
    assert err["severity"] == "critical"
    assert (c["phase"], c["outcome"]) == ("start", "fail_closed")
    assert any(e["file"].endswith(expect_file) and e["line"] == expect_line for e in c["errors"]), c["errors"]
    started = a.events("agent.started")[0]
    assert started["config"]["fail_closed"] is True
    assert started["config"]["blocked_categories"] == ["storage", "mtp", "ptp", "tethering"]
    ev = a.wait_events("usb.blocked")[0]
    check_usb_event(ev, "usb.blocked", "no_valid_policy", "0781", "5567")
    assert ev["decision"]["fail_closed"] is True
    # Loud: critical log lines and the status line say so.
    crit = [line for line in a.log().splitlines() if "<crit>" in line]
    assert any("FAILING CLOSED" in line for line in crit), a.log()
    assert any("FAIL-CLOSED" in n for n in a.notify)


def test_start_with_a_missing_config_fails_closed(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A)})
    os.unlink(a.conf)
    kd, (kif,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), uevent=False)
    da, (ia,) = bed.add_usb("0781", "5567", serial="AAAA0001", iface_authorized="0", uevent=False)
    a.start()
    _assert_fail_closed(bed, a, ia, [kif], "mamori.conf", 0)
    assert "cannot open" in a.events("agent.config_error")[0]["config"]["errors"][0]["message"]

    # A keyboard plugged while failing closed is still left alone.
    kd2, (kif2,) = bed.add_usb("046d", "c077", interfaces=(KEYBOARD,))
    barrier(bed, a)
    assert bed.never_written(kif2)


def test_start_with_a_broken_config_fails_closed_then_recovers(bed, make_agent):
    a = make_agent(main_conf='usb = {\n  block = [ "storage", "mtp" \n};\n', allow={"10-soumu.conf": allow_file(A)})
    kd, (kif,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), uevent=False)
    da, (ia,) = bed.add_usb("0781", "5567", serial="AAAA0001", iface_authorized="0", uevent=False)
    a.start()
    _assert_fail_closed(bed, a, ia, [kif], "mamori.conf", 3)

    # Fixing the file and reloading lifts fail-closed: A comes up.
    a.write_conf('usb = {\n  block = [ "storage", "mtp" ];\n};\n')
    a.reload()
    wait_authorized(bed, ia, "1")
    wait_for(lambda: sysname(ia) in bed.drivers_probe(), 5, what="A probed")
    ch = a.wait_events("agent.config_changed")[0]
    assert ch["config"]["was_fail_closed"] is True
    assert ch["config"]["categories_no_longer_blocked"] == ["ptp", "tethering"]
    ev = a.wait_events("usb.allowed")[0]
    check_usb_event(ev, "usb.allowed", "allowed", "0781", "5567")
    assert bed.never_written(kif)


# ---- start with broken files after a good start: the last good policy ----

def test_a_broken_file_at_start_enforces_the_last_good_policy(bed, make_agent):
    """A refused reload leaves a typo on disk; at the next start (a reboot)
    mamorid enforces the policy that was in force, not fail-closed: approved
    stick A keeps working, B stays blocked, and the start is loud (critical
    agent.config_error, outcome last_good_policy; mamorictl status)."""
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    good = a.wait_events("agent.started")[0]["agent"]["policy_hash"]
    snap = os.path.join(a.state, "last-good.policy")
    assert os.path.exists(snap) and (os.stat(snap).st_mode & 0o777) == 0o600
    a.write_allow("20-typo.conf", 'allow = ( { vendor = "0930"; expiry = 1; } );\n')
    a.reload()
    assert a.stop() == 0

    da, (ia,) = bed.add_usb("0781", "5567", serial="AAAA0001", iface_authorized="0", uevent=False)
    db, (ib,) = bed.add_usb("0930", "6545", serial="BBBB0001", iface_authorized="0", uevent=False)
    a.start()
    wait_authorized(bed, ia, "1")
    barrier(bed, a)
    assert bed.authorized(ib) == "0"
    errs = [e for e in a.events("agent.config_error") if e["config"]["phase"] == "start"]
    assert errs, a.log()[-3000:]
    c = errs[-1]["config"]
    assert errs[-1]["severity"] == "critical"
    assert c["outcome"] == "last_good_policy" and c["running_policy_hash"] == good, c
    assert any(e["file"].endswith("20-typo.conf") for e in c["errors"]), c["errors"]
    started = a.events("agent.started")[-1]
    assert started["agent"]["policy_hash"] == good and started["config"]["fail_closed"] is False
    assert any("LAST GOOD" in line for line in a.log().splitlines() if "<crit>" in line), a.log()[-3000:]
    st = subprocess.run([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), "status"],
                        capture_output=True, text=True, timeout=20)
    assert st.returncode == 3 and "Last good:    YES" in st.stdout and "20-typo.conf" in st.stdout, st.stdout
    assert "NOT WORKING AS CONFIGURED: configuration on disk refused, running on the last good policy" in st.stdout, st.stdout

    # Fixed on disk: the reload takes, the files on disk rule again.
    os.unlink(os.path.join(a.allow_dir, "20-typo.conf"))
    a.reload()
    st = subprocess.run([MAMORICTL, "--socket", os.path.join(a.runtime, "control"), "status"],
                        capture_output=True, text=True, timeout=20)
    assert st.returncode == 0 and "Last good" not in st.stdout, st.stdout


def test_a_damaged_last_good_policy_is_not_used(bed, make_agent):
    """The snapshot is state, not trust: a damaged one (or one that is not
    root's alone) is refused, and a broken start then fails closed."""
    a = make_agent(allow={"10-soumu.conf": allow_file(A)}).start()
    assert a.stop() == 0
    snap = os.path.join(a.state, "last-good.policy")
    data = open(snap, "rb").read()
    # The allow entry's serial changed in the snapshot: the recorded hash no longer matches.
    open(snap, "wb").write(data.replace(b"AAAA0001", b"ZZZZ0001"))
    a.write_conf('usb = {\n  block = [ "storage", "mtp" \n};\n')
    da, (ia,) = bed.add_usb("0781", "5567", serial="AAAA0001", iface_authorized="0", uevent=False)
    a.start()
    barrier(bed, a)
    assert bed.authorized(ia) == "0", "a damaged snapshot let a stick in"
    c = [e for e in a.events("agent.config_error") if e["config"]["phase"] == "start"][-1]["config"]
    assert c["outcome"] == "fail_closed", c
    assert a.events("agent.started")[-1]["config"]["fail_closed"] is True
    assert "last good policy" in a.log() and "damaged" in a.log(), a.log()[-3000:]


# ---- mamorid --check-config ----

def test_check_config_good(bed, make_agent):
    a = make_agent(allow={"10-a.conf": allow_file(A, entry("058f", "6387", any_serial=True))})
    rc, out, err = a.check_config()
    assert rc == 0, out + err
    assert re.search(r": OK, 2 allow entries from 2 files, policy hash [0-9a-f]{64}", out), out
    assert re.search(r"10-a\.conf:3: note: any_serial = true allows every 058f:6387 device", out), out
    # Checking touches nothing.
    assert bed.never_written(bed.hubs[1], "interface_authorized_default")


def test_check_config_prints_every_error_as_file_line(bed, make_agent):
    a = make_agent(main_conf='usb = {\n  block = [ "storage" ];\n  policy_reff = "x";\n};\n', allow={
        "10-a.conf": 'allow = (\n  { vendor = "07g1"; product = "5567"; serial = "S"; approved_by = "x"; }\n);\n',
        "20-b.conf": 'allow = (\n  { vendor = "0781"; product = "5567"; serial = "S";\n    approved_by = "x"; expires = "2027-02-30"; }\n);\n',
        "30-c.conf": '# comment\n\nallow = (\n  { vendor = "0781"\n);\n',
        "50-e.conf": allow_file(entry("0781", "5567", serial="S2", expires="2027-03-31T17:00:00")),
    })
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    lines = out.splitlines()
    expected = [
        (r"mamori\.conf:3: unknown key 'policy_reff' in usb", "unknown key"),
        (r"allow\.d/10-a\.conf:2: 'vendor' must be 4 hex digits", "bad id"),
        (r"allow\.d/20-b\.conf:3: 'expires' is 2027-02-30, whose date does not exist \(2027-02 has 28 days\)",
         "a date that does not exist"),
        (r"allow\.d/30-c\.conf:5: syntax error", "syntax"),
        (r"allow\.d/50-e\.conf:2: 'expires' must be a date .* RFC 3339", "date-time without offset"),
    ]
    for pattern, what in expected:
        assert any(re.search(pattern, line) for line in lines), f"{what}: no line matches {pattern}\n{out}"
    assert re.search(r": 5 errors; this configuration would not be loaded", out), out
    assert all(re.match(r"^/\S+:(\d+:)? ", line) for line in lines), out


def test_duplicates_and_expired_entries_are_noted_not_refused(bed, make_agent):
    """Two entries for one stick are two grants: the configuration loads, the
    one that lasts longest applies, and check-config and the reload's log note
    both places (and the entry that expired), so the admin can tidy up."""
    old = entry("0781", "5567", serial="AAAA0001", label="stick A", expires="2025-01-01")
    new = entry("0781", "5567", serial="AAAA0001", label="stick A", expires="2099-12-31")
    soon = entry("0930", "6545", serial="BBBB0001", label="stick B", expires="2099-12-31")
    a = make_agent(allow={"20-x.conf": allow_file(old), "30-y.conf": allow_file(soon)})
    rc, out, err = a.check_config()
    assert rc == 0, out + err
    assert re.search(r"allow\.d/20-x\.conf:2: note: this entry expired \(expires = \"2025-01-01\"\)", out), out

    a.write_allow("21-renew.conf", allow_file(new))
    rc, out, err = a.check_config()
    assert rc == 0, out + err
    assert re.search(r": OK, 3 allow entries from 4 files", out), out
    assert re.search(r"allow\.d/21-renew\.conf:2: note: another allow entry for 0781:5567 serial 'AAAA0001' is at "
                     r"\S+/allow\.d/20-x\.conf:2; the one that lasts longest applies", out), out

    a.start()
    da, (ia,) = plug_a(bed)
    allowed = a.wait_events("usb.allowed")[0]
    assert allowed["decision"]["rule"]["file"].endswith("allow.d/21-renew.conf")
    assert bed.authorized(ia) == "1"
    log = a.log()
    assert re.search(r"21-renew\.conf:2: another allow entry for 0781:5567 serial 'AAAA0001' is at \S+/20-x\.conf:2", log), log[-3000:]
    assert re.search(r"20-x\.conf:2: this entry expired", log), log[-3000:]


def test_a_renewed_entry_is_changed_not_added_and_removed(bed, make_agent):
    a = make_agent(allow={"10-soumu.conf": allow_file(A, entry("0781", "5567", serial="CCCC0001", expires="2099-01-01"))}).start()
    a.write_allow("10-soumu.conf", allow_file(A, entry("0781", "5567", serial="CCCC0001", expires="2099-06-30",
                                                       approved_by="CISO")))
    a.reload()
    ch = a.wait_events("agent.config_changed")[0]
    assert "0 allow entries added, 1 changed, 0 removed" in ch["message"], ch["message"]
    c = ch["config"]
    assert c["allow_entries_added"] == [] and c["allow_entries_removed"] == []
    (e,) = c["allow_entries_changed"]
    assert (e["serial"], e["expires"], e["old_expires"], e["approved_by"]) == ("CCCC0001", "2099-06-30", "2099-01-01", "CISO")
    assert ch["severity"] == "high", "a longer exception is a weakening the central team must see"
    assert "1 changed, 0 removed" in a.log()


def test_check_config_syntax_and_typos_say_where_and_why(bed, make_agent):
    """libconfig says only "syntax error": the message names a line that
    exists, quotes it and guesses the cause; an unknown key gets the nearest
    one (issue 18)."""
    a = make_agent(allow={
        # one line and its newline: libconfig counts line 2
        "10-a.conf": 'allow = ( { vendor = "0781"; product = "5567"; serial = "S"; approved_by = "x"; }\n',
        "20-b.conf": ('allow = (\n  { vendor = "0781"; product = "5567"; serial = "S1"; approved_by = "x"; }\n'
                      '  { vendor = "0781"; product = "5567"; serial = "S2"; approved_by = "x"; }\n);\n'),
    })
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    assert re.search(r"allow\.d/10-a\.conf:1: syntax error \(the file ends before a '\}', '\)' or '\]' closes "
                     r"what is open: one is missing\?\); the line reads: allow = \( \{ vendor", out), out
    assert re.search(r"allow\.d/20-b\.conf:3: syntax error \(a missing ',' between entries or ';' after a "
                     r"setting\?\); the line reads: \{ vendor = \"0781\"; product = \"5567\"; serial = \"S2\"", out), out

    os.unlink(os.path.join(a.allow_dir, "10-a.conf"))
    a.write_allow("20-b.conf", 'allow = ( { vendor = "0781"; product = "5567"; serial = "S"; approved_by = "x";\n'
                  '              expiry = "2099-01-01"; } );\n')
    a.write_conf('usb = { block = [ "storage" ]; repeat_windw = 5; };\nnotice = { brust = 3; };\n')
    rc, out, err = a.check_config()
    assert rc == 1, out + err
    assert re.search(r"allow\.d/20-b\.conf:2: unknown key 'expiry': did you mean 'expires'\?", out), out
    assert re.search(r"mamori\.conf:1: unknown key 'repeat_windw' in usb: did you mean 'repeat_window'\?", out), out
    assert re.search(r"mamori\.conf:2: unknown key 'brust' in notice: did you mean 'burst'\?", out), out


def test_ignored_files_are_listed_and_logged(bed, make_agent):
    """A file in allow.d that is not NAME.conf is never read: check-config
    lists it, and mamorid says so at every load."""
    a = make_agent(allow={"10-a.conf": allow_file(A), "20-new.conf.txt": allow_file(entry("0781", "5568", serial="N")),
                          ".30-hidden.conf": allow_file(A), "README": "notes\n"})
    rc, out, err = a.check_config()
    assert rc == 0, out + err
    assert ": OK, 1 allow entry from 2 files" in out, out
    assert f"{a.allow_dir}/20-new.conf.txt: ignored: only files whose name ends in .conf are read" in out, out
    assert f"{a.allow_dir}/README: ignored: only files whose name ends in .conf are read" in out, out
    assert f"{a.allow_dir}/.30-hidden.conf: ignored: a hidden file" in out, out
    assert "10-a.conf: ignored" not in out
    a.start()
    assert f"{a.allow_dir}/20-new.conf.txt: ignored: only files whose name ends in .conf are read" in a.log()
    # an errors verdict lists them too: the ignored file may be the fix that is not read
    a.write_allow("40-bad.conf", "allow = (\n")
    rc, out, err = a.check_config()
    assert rc == 1 and "20-new.conf.txt: ignored" in out, out


def test_check_config_exit_codes(bed, make_agent):
    a = make_agent()
    os.unlink(a.conf)
    rc, out, err = a.check_config()
    assert rc == 1 and "cannot open" in out, out + err
    rc, out, err = a.check_config("--no-such-option")
    assert rc == 2, out + err


# ---- --check-config without a testbed ----


def check(conf):
    return subprocess.run([MAMORID, "--config", conf, "--check-config"], capture_output=True, text=True, timeout=60)


def test_check_config_good_and_bad(tmp_path):
    conf = tmp_path / "mamori.conf"
    conf.write_text('usb = { block = [ "storage" ]; };\n')
    r = check(str(conf))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout

    (tmp_path / "allow.d").mkdir()
    (tmp_path / "allow.d" / "10-x.conf").write_text('allow = (\n  { vendor = "zz"; product = "5567"; serial = "S"; approved_by = "Y"; }\n);\n')
    r = check(str(conf))
    assert r.returncode == 1
    assert f"{tmp_path}/allow.d/10-x.conf:2: 'vendor' must be 4 hex digits" in r.stdout


def test_check_config_missing_file(tmp_path):
    r = check(str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert "cannot open" in r.stdout
