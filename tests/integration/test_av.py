# SPDX-License-Identifier: MIT
"""Antivirus pattern age: the real mamorid against ClamAV database files made
here (checked against ClamAV's own sigtool on the same files), a generic
source (a file's mtime, a command's output), and the engine units against
dbusmock's systemd on a private system bus."""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from bus_testlib import (SYSTEMD, UNIT_IFACE, Logind, SystemBus, Systemd, agent_unique_name, forge,
                         name_owner_changed, properties_changed)
from mamori_testlib import wait_for

POLICY_REF = "対策基準 第7-2イ"
HOUR = 3600
SIGTOOL = shutil.which("sigtool")


def cvd_header(version, stime, sigs=2071234, flevel=90, builder="svc.clamav-db", cld=False):
    """ClamAV-VDB:<time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>, space padded to 512."""
    when = time.strftime("%d %b %Y %H-%M %z", time.gmtime(stime))
    # A .cld carries placeholders where a .cvd has its md5 and signature.
    md5, dsig = ("X", "X") if cld else ("0123456789abcdef0123456789abcdef", "x" * 40)
    return f"ClamAV-VDB:{when}:{version}:{sigs}:{flevel}:{md5}:{dsig}:{builder}:{int(stime)}".ljust(512).encode()


def write_db(dirpath, name, data):
    """As freshclam does: a temp file renamed into place."""
    os.makedirs(dirpath, exist_ok=True)
    tmp = os.path.join(dirpath, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(dirpath, name))


def cvd(version, age_hours, **kw):
    body = b"COPYING" if kw.get("cld") else b"\x1f\x8b\x08\x00" + b"\x00" * 64
    return cvd_header(version, time.time() - age_hours * HOUR, **kw) + body


def sigtool_info(path):
    """What ClamAV itself reads from a database header."""
    p = subprocess.run([SIGTOOL, "--info", path], capture_output=True, text=True, timeout=60)
    fields = dict(re.findall(r"^([A-Za-z ]+): (.*)$", p.stdout, re.M))
    return p.returncode, fields


def conf(db, max_age=24, units=None, extra=""):
    u = f" units = [ {', '.join(chr(34) + x + chr(34) for x in units)} ];" if units else ""
    return (f'lock = {{ tty = "ignore"; }};\n'
            f'antivirus = {{ engine = "clamav"; database_dir = "{db}"; max_age_hours = {max_age};{u}{extra} }};\n')


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "clamav")


def wait_log(a, text, timeout=10):
    wait_for(lambda: text in a.log(), timeout, what=repr(text) + " in the log")


def av_events(a):
    return [e for e in a.events() if e["kind"].startswith("av.")]


def check_against_sigtool(ev, path):
    """The fields mamorid reported are the ones sigtool reads from the same file."""
    if SIGTOOL is None:
        pytest.skip("sigtool (clamav) is not installed")
    rc, info = sigtool_info(path)
    av = ev["antivirus"]
    assert info["Version"] == av["version"]
    assert int(info["Signatures"]) == av["signatures"]
    assert int(info["Functionality level"]) == av["functionality_level"]
    assert info["Builder"] == av["builder"]
    # sigtool shows the header's text with ':' for '-' in the time.
    assert info["Build time"] == av["build_time"].replace("-", ":")
    # ... and the epoch field we measure from is the same instant as that text.
    t = time.strptime(av["build_time"], "%d %b %Y %H-%M %z")
    built = time.strptime(av["built_at"][:16], "%Y-%m-%dT%H:%M")
    assert t[:5] == built[:5]


def test_stale_pattern(db, make_agent):
    write_db(db, "daily.cvd", cvd(27100, 30))
    a = make_agent(main_conf=conf(db)).start()
    ev = a.wait_events("av.pattern_stale")[0]
    av = ev["antivirus"]
    assert av["file"] == os.path.join(db, "daily.cvd")
    assert av["version"] == "27100"
    assert 29.9 < av["age_hours"] < 30.2 and av["age_seconds"] > 29 * HOUR
    assert av["max_age_hours"] == 24 and av["state"] == "stale"
    assert ev["policy_ref"] == POLICY_REF and ev["severity"] == "high"
    check_against_sigtool(ev, os.path.join(db, "daily.cvd"))


def test_fresh_pattern_is_quiet(db, make_agent):
    from test_mamorictl import ctl
    write_db(db, "daily.cvd", cvd(27200, 2))
    a = make_agent(main_conf=conf(db)).start()
    wait_log(a, "is current")
    time.sleep(1)
    assert av_events(a) == []
    assert "daily.cvd (version 27200) is current" in a.log()
    # No event to compare: what mamorictl shows is read from the same header as sigtool's.
    st = json.loads(ctl(a, "--json", "status").stdout)
    av = next(c for c in st["checks"] if c["name"] == "antivirus")
    assert av["state"] == "ok" and 1.9 < av["antivirus"]["age_hours"] < 2.1
    check_against_sigtool(av, os.path.join(db, "daily.cvd"))


def test_dated_in_the_future(db, make_agent):
    write_db(db, "daily.cld", cvd(27300, -3, cld=True))
    a = make_agent(main_conf=conf(db)).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert ev["antivirus"]["state"] == "future"
    assert ev["antivirus"]["age_seconds"] < -2 * HOUR
    assert "future" in ev["message"]
    check_against_sigtool(ev, os.path.join(db, "daily.cld"))

    # Within the hour libclamav tolerates, it is current.
    write_db(db, "daily.cld", cvd(27301, -0.5, cld=True))
    ok = a.wait_events("av.pattern_ok")[0]
    assert ok["antivirus"]["version"] == "27301"


def test_truncated_and_garbage(db, make_agent):
    write_db(db, "daily.cvd", cvd(27100, 1)[:300])
    a = make_agent(main_conf=conf(db)).start()
    ev = a.wait_events("av.missing")[0]
    assert ev["antivirus"]["reason"] == "invalid_header"
    assert "truncated" in ev["antivirus"]["detail"]
    if SIGTOOL:
        # ClamAV cannot verify it either (it still echoes what fields it found).
        rc, _ = sigtool_info(os.path.join(db, "daily.cvd"))
        assert rc != 0

    garbage = bytes(range(256)) * 4
    write_db(db, "daily.cvd", garbage)
    time.sleep(1.5)
    assert len(a.events("av.missing")) == 1  # same state: not reported again
    assert "not a ClamAV database header" in a.log()
    if SIGTOOL:
        rc, info = sigtool_info(os.path.join(db, "daily.cvd"))
        assert rc != 0 and "Version" not in info

    # A good file next to the garbage: ClamAV would load it, and so it counts.
    write_db(db, "daily.cld", cvd(27101, 1, cld=True))
    ok = a.wait_events("av.pattern_ok")[0]
    assert ok["antivirus"]["file"].endswith("daily.cld")
    assert ok["antivirus"]["other_file"]["state"] == "invalid_header"


@pytest.mark.parametrize("newer", ["cvd", "cld"])
def test_both_files_the_higher_version_wins(db, make_agent, newer):
    # The newer one is stale, the older one fresh: only the version decides.
    write_db(db, "daily.cvd", cvd(27500 if newer == "cvd" else 27400, 40 if newer == "cvd" else 1))
    write_db(db, "daily.cld", cvd(27500 if newer == "cld" else 27400, 40 if newer == "cld" else 1, cld=True))
    a = make_agent(main_conf=conf(db)).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert ev["antivirus"]["file"] == os.path.join(db, "daily." + newer)
    assert ev["antivirus"]["version"] == "27500"
    assert ev["antivirus"]["other_file"]["version"] == 27400
    check_against_sigtool(ev, os.path.join(db, "daily." + newer))


def test_update_through_inotify_turns_stale_into_ok(db, make_agent):
    write_db(db, "daily.cvd", cvd(27100, 50))
    a = make_agent(main_conf=conf(db)).start()
    a.wait_events("av.pattern_stale")
    # freshclam: an incremental update leaves a daily.cld with a higher version.
    write_db(db, "daily.cld", cvd(27140, 0.1, cld=True))
    ok = a.wait_events("av.pattern_ok", timeout=5)[0]
    assert ok["antivirus"]["version"] == "27140"
    assert ok["antivirus"]["state"] == "ok"
    assert ok["policy_ref"] == POLICY_REF


def test_a_writer_that_never_stops_does_not_hold_back_the_reread(db, make_agent):
    """Whoever can write to the database directory (the clamav user) touches
    it every 100 ms: the update next to it is read within the settle cap
    (3 s after the first change), not once the writer stops."""
    write_db(db, "daily.cvd", cvd(27100, 50))
    a = make_agent(main_conf=conf(db)).start()
    a.wait_events("av.pattern_stale")
    stop = threading.Event()

    def touch():
        while not stop.wait(0.1):
            os.utime(db)

    writer = threading.Thread(target=touch)
    writer.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        write_db(db, "daily.cld", cvd(27140, 0.1, cld=True))
        ok = a.wait_events("av.pattern_ok", timeout=6)[0]
        assert ok["antivirus"]["version"] == "27140"
        assert time.monotonic() - t0 < 5
        assert writer.is_alive()
    finally:
        stop.set()
        writer.join(10)


def test_turns_stale_on_time_without_any_change(db, make_agent):
    # max age 1 h; built 1 h minus 8 s ago: stale in 8 s, by the timer alone.
    write_db(db, "daily.cvd", cvd(27100, 1 - 8 / HOUR))
    a = make_agent(main_conf=conf(db, max_age=1)).start()
    wait_log(a, "is current")
    assert a.events("av.pattern_stale") == []
    ev = a.wait_events("av.pattern_stale", timeout=15)[0]
    assert ev["antivirus"]["age_seconds"] >= HOUR


def test_no_database_then_installed(tmp_path, make_agent):
    db = str(tmp_path / "not-yet" / "clamav")
    a = make_agent(main_conf=conf(db)).start()
    ev = a.wait_events("av.missing")[0]
    assert ev["antivirus"]["reason"] == "no_database_dir"
    os.makedirs(db)
    time.sleep(0.3)
    write_db(db, "daily.cvd", cvd(27600, 3))
    ok = a.wait_events("av.pattern_ok", timeout=5)[0]
    assert ok["antivirus"]["version"] == "27600"


def test_reload_applies_max_age(db, make_agent):
    write_db(db, "daily.cvd", cvd(27100, 30))
    a = make_agent(main_conf=conf(db, max_age=24)).start()
    a.wait_events("av.pattern_stale")
    a.write_conf(conf(db, max_age=48))
    a.reload()
    ok = a.wait_events("av.pattern_ok")[0]
    assert ok["antivirus"]["max_age_hours"] == 48


# ---- generic source ----

def generic(extra, max_age=24, db=None):
    d = f' database_dir = "{db}";' if db else ""
    return f'lock = {{ tty = "ignore"; }};\nantivirus = {{ engine = "generic"; max_age_hours = {max_age};{d} {extra} }};\n'


def test_generic_file_mtime(tmp_path, make_agent):
    f = tmp_path / "defs" / "signatures.dat"
    f.parent.mkdir()
    f.write_text("x")
    old = time.time() - 30 * HOUR
    os.utime(f, (old, old))
    a = make_agent(main_conf=generic(f'pattern_file = "{f}";')).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert ev["antivirus"]["engine"] == "generic" and ev["antivirus"]["file"] == str(f)
    os.utime(f)  # touched by an update
    a.wait_events("av.pattern_ok", timeout=5)


def test_generic_command_mdatp_style(tmp_path, make_agent):
    """A stand-in for `mdatp health --field definitions_updated`."""
    defs = tmp_path / "definitions"
    defs.mkdir()
    out = defs / "updated.txt"
    out.write_text(time.strftime("%b %d, %Y at %I:%M:%S %p", time.localtime(time.time() - 40 * HOUR)) + "\n")
    a = make_agent(main_conf=generic(f'command = [ "/bin/cat", "{out}" ];', db=str(defs))).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert 39.9 < ev["antivirus"]["age_hours"] < 40.1
    assert ev["antivirus"]["file"] == "/bin/cat"
    # The engine updates its definitions directory: the command runs again.
    out.write_text(time.strftime("%b %d, %Y at %I:%M:%S %p", time.localtime(time.time() - 60)) + "\n")
    a.wait_events("av.pattern_ok", timeout=8)


def test_generic_command_minutes_ago(tmp_path, make_agent):
    a = make_agent(main_conf=generic('command = [ "/bin/echo", "definitions_updated_minutes_ago : 3000" ];'
                                     ' command_output = "minutes_ago";')).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert 49.9 < ev["antivirus"]["age_hours"] < 50.1


@pytest.mark.parametrize("cmd,reason", [
    ('[ "/nonexistent/mdatp", "health" ]', "command_not_found"),
    ('[ "/bin/false" ]', "command_failed"),
    ('[ "/bin/echo", "unavailable" ]', "unparseable_output"),
    ('[ "/bin/sleep", "30" ]', "command_timeout"),
])
def test_generic_command_failures(make_agent, cmd, reason):
    a = make_agent(main_conf=generic(f"command = {cmd}; command_timeout = 1;")).start()
    t0 = time.monotonic()
    ev = a.wait_events("av.missing", timeout=10)[0]
    assert ev["antivirus"]["reason"] == reason
    assert ev["antivirus"]["detail"]
    if reason == "command_timeout":
        assert 0.8 < time.monotonic() - t0 < 5
    # The loop kept running meanwhile.
    a.reload()


# ---- units, asked of systemd over the bus ----

def test_engine_units(db, make_agent):
    bus = SystemBus()
    try:
        systemd = Systemd(bus, units={
            "clamav-freshclam.service": ("active", "running", "loaded"),
            "clamav-daemon.service": ("inactive", "dead", "loaded"),
            "clamav-milter.service": ("inactive", "dead", "not-found"),
        })
        logind = Logind(bus)
        logind.add_session("c1", Type="x11")
        write_db(db, "daily.cvd", cvd(27100, 1))
        a = make_agent(main_conf=conf(db, units=["clamav-daemon", "clamav-freshclam", "clamav-milter"]),
                       extra_env=bus.env()).start()
        evs = a.wait_events("av.engine_inactive", count=2, timeout=15)
        by = {e["antivirus"]["unit"]["name"]: e for e in evs}
        assert set(by) == {"clamav-daemon.service", "clamav-milter.service"}
        assert by["clamav-daemon.service"]["antivirus"]["unit"]["active_state"] == "inactive"
        assert by["clamav-milter.service"]["antivirus"]["unit"]["load_state"] == "not-found"
        assert "not installed" in by["clamav-milter.service"]["message"]
        assert by["clamav-daemon.service"]["policy_ref"] == POLICY_REF
        assert by["clamav-daemon.service"]["user"]["name"] == "alice"  # the user at the seat

        # A restart is not an outage; a stop is.
        systemd.set_unit("clamav-freshclam.service", "deactivating", "stop")
        time.sleep(0.5)
        systemd.set_unit("clamav-freshclam.service", "inactive", "dead")
        time.sleep(0.5)
        systemd.set_unit("clamav-freshclam.service", "active", "running")
        systemd.set_unit("clamav-daemon.service", "active", "running")
        time.sleep(6)
        assert len(a.events("av.engine_inactive")) == 2
        wait_log(a, "clamav-daemon.service is active again")
        systemd.set_unit("clamav-freshclam.service", "failed", "failed")
        ev = a.wait_events("av.engine_inactive", count=3, timeout=15)[-1]
        assert ev["antivirus"]["unit"]["name"] == "clamav-freshclam.service"
        assert ev["antivirus"]["unit"]["active_state"] == "failed"

        # systemd going away and coming back (daemon-reexec): asked again.
        systemd.stop()
        systemd.start(units={
            "clamav-freshclam.service": ["active", "running", "loaded"],
            "clamav-daemon.service": ["inactive", "dead", "loaded"],
            "clamav-milter.service": ["inactive", "dead", "not-found"],
        })
        ev = a.wait_events("av.engine_inactive", count=4, timeout=15)[-1]
        assert ev["antivirus"]["unit"]["name"] == "clamav-daemon.service"
        wait_log(a, "clamav-freshclam.service is active again")
        time.sleep(6)
        assert len(a.events("av.engine_inactive")) == 4  # milter: still the same outage
    finally:
        bus.stop()


@pytest.mark.parametrize("forgery", ["unit_failed", "systemd_gone"])
def test_forged_systemd_signals_are_ignored(db, make_agent, forgery):
    """Any local user can send a signal to mamorid's connection alone: a
    "failed" for a running unit raises no false alarm, a "systemd left" does
    not stop the check, and a real outage is still reported."""
    bus = SystemBus()
    try:
        systemd = Systemd(bus, units={"clamav-daemon.service": ("active", "running", "loaded")})
        write_db(db, "daily.cvd", cvd(27100, 1))
        a = make_agent(main_conf=conf(db, units=["clamav-daemon"]), extra_env=bus.env()).start()
        wait_log(a, "Antivirus unit clamav-daemon.service: active/running")
        if forgery == "unit_failed":
            s = properties_changed(systemd.unit_path("clamav-daemon.service"), UNIT_IFACE, {
                "ActiveState": {"$t": "s", "v": "failed"}, "SubState": {"$t": "s", "v": "failed"}})
        else:
            s = name_owner_changed(SYSTEMD, bus.conn().get_name_owner(SYSTEMD), "")
        s["destination"] = agent_unique_name(a)
        forge(bus.address, [s])
        time.sleep(6.5)  # past the 5 s grace
        assert a.events("av.engine_inactive") == []
        assert "Dropped a forged" in a.log()
        systemd.set_unit("clamav-daemon.service", "failed", "failed")
        ev = a.wait_events("av.engine_inactive", timeout=12)[0]
        assert ev["antivirus"]["unit"]["active_state"] == "failed"
    finally:
        bus.stop()


def test_mamorictl_status_shows_the_antivirus_check(db, make_agent):
    from test_mamorictl import ctl
    write_db(db, "daily.cvd", cvd(27100, 30))
    a = make_agent(main_conf=conf(db)).start()
    a.wait_events("av.pattern_stale")
    p = ctl(a, "status")
    # mamori works; the PC's antivirus is a finding, with its own exit code
    assert p.returncode == 6, p.stdout + p.stderr
    assert "State:        mamori works\nFindings:     this PC: antivirus (stale)\n" in p.stdout, p.stdout
    assert re.search(r"antivirus\s+stale\s+.*daily\.cvd 27100: 30\.\d h old \(at most 24 h\)", p.stdout), p.stdout
    st = json.loads(ctl(a, "--json", "status").stdout)
    av = next(c for c in st["checks"] if c["name"] == "antivirus")
    assert av["antivirus"]["version"] == "27100" and av["antivirus"]["state"] == "stale"

    write_db(db, "daily.cld", cvd(27101, 1, cld=True))
    a.wait_events("av.pattern_ok")
    p = ctl(a, "status")
    assert re.search(r"antivirus\s+ok\s+.*daily\.cld 27101", p.stdout), p.stdout
    assert p.returncode == 0 and "Findings:     none" in p.stdout, p.stdout + p.stderr


def test_mamorictl_status_antivirus_off(make_agent):
    from test_mamorictl import ctl
    a = make_agent().start()  # the harness turns the pattern check off
    p = ctl(a, "status")
    assert re.search(r"antivirus\s+disabled", p.stdout), p.stdout


# ---- trust: antivirus.command runs as root ----

def _untrusted_command(tmp_path, defect):
    """A copy of /bin/echo that someone other than root could change; returns
    (its path, the words the config error must hold)."""
    d = tmp_path / "engine"
    d.mkdir()
    os.chmod(d, 0o755)
    prog = d / "mdatp"
    shutil.copyfile("/bin/echo", prog)
    os.chmod(prog, 0o755)
    if defect == "group-writable":
        os.chmod(prog, 0o775)
        return prog, "writable by group"
    if defect == "owned by uid 1000":
        os.chown(prog, 1000, 1000)
        return prog, "owned by uid 1000"
    if defect == "world-writable directory":
        os.chmod(d, 0o777)
        return prog, f"directory {d}: writable by everyone"
    if defect == "sticky world-writable directory":
        os.chmod(d, 0o1777)
        return prog, f"directory {d}: writable by everyone"
    if defect == "link to a user's program":
        target = tmp_path / "user-prog"
        shutil.copyfile("/bin/echo", target)
        os.chmod(target, 0o755)
        os.chown(target, 1000, 1000)
        link = d / "link"
        os.symlink(target, link)
        return link, "its target"
    if defect == "not executable":
        os.chmod(prog, 0o644)
        return prog, "not executable"
    raise AssertionError(defect)


@pytest.mark.parametrize("defect", ["group-writable", "owned by uid 1000", "world-writable directory",
                                    "sticky world-writable directory", "link to a user's program",
                                    "not executable"])
def test_untrusted_command_is_refused_at_reload(tmp_path, make_agent, defect):
    """antivirus.command runs as root: its program, resolved, must be root's and
    writable by nobody else, in root's directories. Otherwise the config is
    refused (file:line) and the running policy stays."""
    good = 'command = [ "/bin/echo", "definitions_updated_minutes_ago : 3000" ]; command_output = "minutes_ago";'
    a = make_agent(main_conf=generic(good)).start()
    a.wait_events("av.pattern_stale")
    old_hash = a.events("agent.started")[0]["agent"]["policy_hash"]
    prog, words = _untrusted_command(tmp_path, defect)
    a.write_conf(generic(f'command = [ "{prog}", "definitions_updated_minutes_ago : 10" ];'
                         ' command_output = "minutes_ago";'))
    a.reload()
    err = a.wait_events("agent.config_error")[0]
    c = err["config"]
    assert (c["phase"], c["outcome"]) == ("reload", "kept_running_policy")
    assert c["running_policy_hash"] == old_hash
    hits = [e for e in c["errors"] if "not trusted to run as root" in e["message"]]
    assert hits and words in hits[0]["message"], c["errors"]
    assert hits[0]["file"].endswith("mamori.conf") and hits[0]["line"] == 2, hits
    assert f"mamori.conf:2: " in a.log()
    assert a.events("agent.config_changed") == []
    # The program never ran: the old command's reading stands.
    assert a.events("av.pattern_ok") == []
    # Refused at start as well (--check-config).
    rc, out, errtext = a.check_config()
    assert rc != 0 and "not trusted to run as root" in errtext + out


def test_trusted_command_in_a_root_directory_runs(tmp_path, make_agent):
    d = tmp_path / "engine"
    d.mkdir()
    os.chmod(d, 0o755)
    prog = d / "mdatp"
    shutil.copyfile("/bin/echo", prog)
    os.chmod(prog, 0o755)
    a = make_agent(main_conf=generic(f'command = [ "{prog}", "definitions_updated_minutes_ago : 3000" ];'
                                     ' command_output = "minutes_ago";')).start()
    ev = a.wait_events("av.pattern_stale")[0]
    assert ev["antivirus"]["file"] == str(prog)
    assert a.events("agent.config_error") == []


@pytest.mark.parametrize("what", ["link", "fifo"])
def test_database_link_or_fifo_is_not_read(db, tmp_path, make_agent, what):
    """The database is the clamav user's, not root's: mamorid does not ask for
    root's ownership there, but opens daily.cvd with O_NOFOLLOW|O_NONBLOCK and
    reads only a regular file: a link (to a fresh header elsewhere) is not
    followed, a FIFO neither blocks nor is read."""
    os.makedirs(db)
    path = os.path.join(db, "daily.cvd")
    if what == "link":
        write_db(str(tmp_path / "elsewhere"), "daily.cvd", cvd(27000, 1))
        os.symlink(tmp_path / "elsewhere" / "daily.cvd", path)
    else:
        os.mkfifo(path)
    a = make_agent(main_conf=conf(db), extra_env={"WATCHDOG_USEC": "3000000"}).start()
    ev = a.wait_events("av.missing")[0]
    assert ev["antivirus"]["reason"] == "unreadable", ev
    assert a.events("av.pattern_ok") == []
    a.reload()  # the loop never blocked
