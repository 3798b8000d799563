# SPDX-License-Identifier: MIT
"""mamorid's side of the quarantine (issue 15 item 2): the real mamorid and
the real mamori-netguard, as systemd runs them, sharing only the state file
and netguard's status file. netguard runs in a "PC" network namespace joined
by a veth pair to an "outside" one (test_netguard.World: a host outside and
a collector, IPv4 and IPv6); mamorid needs no network at all.

`mamorictl quarantine engage` cuts a TCP connection to the outside host
within a second while the collector on the allow list keeps working; the
events are in the spool; a second engage is the same quarantine; rules
deleted by hand and netguard gone are net.quarantine_tampered; a restart of
mamorid keeps it; release by a non-root user is refused, by root needs a
reason, and gives everything back with net.quarantine_released."""
import os
import statistics
import subprocess
import time

import pytest

from mamori_testlib import wait_for
from test_netguard import ADDR, World, assert_isolated, wait_rules

MAMORICTL = os.environ.get("MAMORICTL", os.path.join(os.path.dirname(__file__),
                                                     "../../build/tools/mamorictl/mamorictl"))
ACTIVE_RULES = 4
CONF = ('quarantine = {\n on = [ "av.detection" ];\n'
        f' allow = [ "{ADDR[4]["collector"]}/32", "{ADDR[6]["collector"]}/128" ];\n}};\n')


def ctl(agent, *args, user=None):
    pre = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run([*pre, MAMORICTL, "--socket", os.path.join(agent.runtime, "control"), *args],
                          capture_output=True, text=True, timeout=30)


def ctl_status(agent):
    import json
    p = ctl(agent, "--json", "status")
    return json.loads(p.stdout)


def world_and_agent(make_agent, tmp_path, conf):
    """netguard in its namespaces and mamorid on conf, sharing the state file."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    os.chmod(tmp_path, 0o700)
    w = World(str(tmp_path))
    a = make_agent(main_conf=conf, extra_env={"MAMORI_NETGUARD_STATUS": w.status})
    a.start()
    # netguard reads what mamorid writes: mamorid's state directory
    w.state = os.path.join(a.state, "quarantine")
    w.state_dir = a.state
    w.start()
    return w, a


@pytest.fixture
def setup(make_agent, tmp_path):
    w, a = world_and_agent(make_agent, tmp_path, CONF)
    yield w, a
    w.close()
    with open(os.path.join(str(tmp_path), "netguard.log")) as f:
        print(f.read()[-3000:])


def test_engage_tamper_restart_release(setup):
    w, a = setup
    for fam in (4, 6):
        assert w.client.connect(f"out{fam}", ADDR[fam]["outside"]) == ["ok"]
        assert w.client.connect(f"col{fam}", ADDR[fam]["collector"]) == ["ok"]
    st = ctl_status(a)
    assert st["quarantine"]["active"] is False and st["quarantine"]["configured"] is True

    # Engaged by hand, as an admin would: cut within a second.
    t0 = time.monotonic()
    p = ctl(a, "quarantine", "engage", "--reason", "手動隔離のテスト")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: w.status_dict().get("active") == "yes" and w.status_dict().get("rules") == str(ACTIVE_RULES),
             1.0, what="the rules within a second")
    print(f"mamorictl quarantine engage -> rules in place: {(time.monotonic() - t0) * 1000:.1f} ms")
    for fam in (4, 6):
        r = w.client.echo(f"out{fam}")
        assert r[0] == "err", r  # the open connection to the outside is cut
        assert w.client.echo(f"col{fam}") == ["ok"]  # the collector's is not
        assert_isolated(w, fam, f"new{fam}")

    # The state file: root-only, netguard's format.
    assert os.stat(w.state).st_mode & 0o777 == 0o600
    ev = a.wait_events("net.quarantined")[0]
    assert ev["severity"] == "critical"
    q = ev["quarantine"]
    assert q["trigger"] == "manual" and q["reason"] == "手動隔離のテスト" and q["uid"] == 0
    assert sorted(q["allow"]) == sorted([f"{ADDR[4]['collector']}/32", f"{ADDR[6]['collector']}/128"])
    st = ctl_status(a)
    assert st["quarantine"]["active"] is True and st["quarantine"]["netguard"]["running"] is True
    # The posture says so (agent.posture, after its settle time).
    pos = a.wait_events("agent.posture", timeout=15, pred=lambda e: "quarantine" in e["posture"])[0]
    assert pos["posture"]["quarantine"]["active"] is True and pos["posture"]["quarantine"]["allow"] == 2
    p = ctl(a, "status")
    assert "Quarantine:   YES" in p.stdout and p.returncode == 6, (p.returncode, p.stdout)

    # Engaging twice is one quarantine.
    p = ctl(a, "quarantine", "engage", "--reason", "again")
    assert p.returncode == 0 and "already" in p.stdout, p.stdout
    time.sleep(0.2)
    assert len(a.events("net.quarantined")) == 1

    # Rules deleted by hand: netguard puts them back, mamorid records it.
    before = w.our_rules()
    w.pc.ip("-4", "rule", "del", "prio", "6")
    wait_for(lambda: w.our_rules() == before, 1.0, what="the rules put back")
    ev = a.wait_events("net.quarantine_tampered", timeout=5)[0]
    assert ev["quarantine"]["what"] == "rules_repaired" and ev["quarantine"]["count"] >= 1, ev
    assert ev["severity"] == "high"

    # mamorid restarted: the quarantine is kept, nothing new engaged.
    a.stop()
    a.start()
    st = ctl_status(a)
    assert st["quarantine"]["active"] is True, st["quarantine"]
    assert len(a.events("net.quarantined")) == 1
    assert w.our_rules() == before
    assert_isolated(w, 4, "restart4")

    # netguard gone (systemd removes its runtime directory): reported.
    w.stop()
    os.unlink(w.status)
    ev = a.wait_events("net.quarantine_tampered", timeout=5,
                       pred=lambda e: e["quarantine"]["what"] == "netguard_stopped")[0]
    assert ctl(a, "status").returncode == 3  # nothing keeps the rules: not working as configured
    w.start()
    wait_for(lambda: ctl_status(a)["quarantine"]["netguard"]["running"], 5, what="netguard seen again")

    # Release: not by another user, not without a reason.
    p = ctl(a, "quarantine", "release", "--reason", "x", user=65534)
    assert p.returncode != 0
    p = ctl(a, "quarantine", "release")
    assert p.returncode == 2, p.stderr
    p = ctl(a, "quarantine", "release", "--reason", "bad\x07bell")
    assert p.returncode == 2, p.stderr
    assert ctl_status(a)["quarantine"]["active"] is True
    assert w.our_rules() == before
    assert a.events("net.quarantine_released") == []

    p = ctl(a, "quarantine", "release", "--reason", "調査終了 INC-42")
    assert p.returncode == 0, p.stderr
    wait_rules(w, 0, timeout=2)
    ev = a.wait_events("net.quarantine_released")[0]
    assert ev["quarantine"]["reason"] == "調査終了 INC-42" and ev["quarantine"]["uid"] == 0, ev
    for fam in (4, 6):
        assert w.client.connect(f"back{fam}", ADDR[fam]["outside"]) == ["ok"]
        assert w.client.echo(f"back{fam}") == ["ok"]
    assert ctl_status(a)["quarantine"]["active"] is False
    p = ctl(a, "quarantine", "release", "--reason", "twice")
    assert p.returncode != 0 and "not quarantined" in p.stderr, (p.stdout, p.stderr)


def test_hostile_control_requests(setup):
    """The socket's own parser: a request without a reason, an unknown action,
    a reason that is not clean text; nothing is engaged."""
    import socket
    w, a = setup
    for req in (b"quarantine engage\n", b"quarantine engage \n", b"quarantine open now\n",
                b"quarantine release \x1b[31mred\n", b"quarantine engage " + b"a" * 230 + b"\n",
                b"quarantine engage \xff\xfe\n"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(a.runtime, "control"))
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            reply += d
        s.close()
        assert b'"error"' in reply, (req, reply)
    assert ctl_status(a)["quarantine"]["active"] is False
    assert a.events("net.quarantined") == []
    assert w.our_rules() == []


# The benchmark (tools/bench/README.md) exists only when asked for: a case that
# skips would fail CI (tools/dev/required-suites).
AV_REPORT = os.environ.get("MAMORI_AV_REPORT") or os.path.join(
    os.environ.get("MAMORI_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")),
    "tools/av-report/mamori-av-report")
AV_CONF = 'lock = { tty = "ignore"; };\nantivirus = { engine = "none"; };\n'


def report_detection(a, i):
    """What clamd's VirusEvent runs: mamori-av-report, as root."""
    p = subprocess.run([AV_REPORT, "--socket", os.path.join(a.runtime, "av-report.sock"), "--engine", "generic-av",
                        "--signature", f"Test.Quarantine-{i}", "--path", f"/home/taro/q{i}.com"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr


@pytest.fixture
def detect_setup(make_agent, tmp_path):
    w, a = world_and_agent(make_agent, tmp_path, CONF + AV_CONF)
    yield w, a
    w.close()


def test_detection_engages_within_a_second(detect_setup):
    """A finding reported as the engine does -> av.detection -> the rules in
    place and the open connection to the outside cut, within a second;
    net.quarantined names the detection; the collector's connection stays."""
    w, a = detect_setup
    for fam in (4, 6):
        assert w.client.connect(f"out{fam}", ADDR[fam]["outside"]) == ["ok"]
        assert w.client.connect(f"col{fam}", ADDR[fam]["collector"]) == ["ok"]
    t0 = time.monotonic()
    report_detection(a, 0)
    wait_for(lambda: w.status_dict().get("rules") == str(ACTIVE_RULES) and w.status_dict().get("kill") == "ok",
             1.0, interval=0.001, what="the rules within a second of the report")
    print(f"detection report -> rules in place, connections cut: {(time.monotonic() - t0) * 1000:.1f} ms")
    for fam in (4, 6):
        assert w.client.echo(f"out{fam}")[0] == "err"
        assert w.client.echo(f"col{fam}") == ["ok"]
        assert_isolated(w, fam, f"new{fam}")
    det = a.wait_events("av.detection")[0]
    q = a.wait_events("net.quarantined")[0]["quarantine"]
    assert q["trigger"] == "av.detection" and q["cause_event"] == det["id"], q


if os.environ.get("MAMORI_BENCH_QUARANTINE"):
    def test_bench_detection_to_rules(detect_setup):
        """A detection report -> netguard's rules in place, 100 runs. Runs
        start a second apart: mamorid's report limit (20 at once, then one a
        second) must not hold one back."""
        w, a = detect_setup
        took = []
        for i in range(100):
            start = time.monotonic()
            report_detection(a, i)
            wait_for(lambda: w.status_dict().get("rules") == str(ACTIVE_RULES), 2, interval=0.0005, what="rules")
            took.append((time.monotonic() - start) * 1000)
            assert ctl(a, "quarantine", "release", "--reason", "bench").returncode == 0
            wait_for(lambda: w.status_dict().get("rules") == "0", 2, interval=0.0005, what="released")
            time.sleep(max(0.0, 1.05 - (time.monotonic() - start)))
        took.sort()
        print(f"detection report -> rules in place over {len(took)} runs: p50 {statistics.median(took):.1f} ms, "
              f"p99 {took[98]:.1f} ms, max {took[-1]:.1f} ms")

if os.environ.get("MAMORI_BENCH_QUARANTINE"):
    def test_bench_engage_to_rules(setup):
        """mamorictl quarantine engage -> netguard's rules in place (ip rule), 100 runs."""
        w, a = setup
        took = []
        for i in range(100):
            t0 = time.monotonic()
            p = ctl(a, "quarantine", "engage", "--reason", f"bench {i}")
            assert p.returncode == 0, p.stderr
            wait_for(lambda: w.status_dict().get("rules") == str(ACTIVE_RULES), 2, interval=0.0005, what="rules")
            took.append((time.monotonic() - t0) * 1000)
            assert ctl(a, "quarantine", "release", "--reason", "bench").returncode == 0
            wait_for(lambda: w.status_dict().get("rules") == "0", 2, interval=0.0005, what="released")
        took.sort()
        print(f"engage -> rules in place over {len(took)} runs: p50 {statistics.median(took):.1f} ms, "
              f"p99 {took[98]:.1f} ms, max {took[-1]:.1f} ms")


def test_check_config_notes_collector_not_allowed(tmp_path):
    """mamorictl check-config: the collector's address against quarantine.allow."""
    d = tmp_path / "etc"
    d.mkdir()
    (d / "allow.d").mkdir()
    os.chmod(d, 0o755)
    os.chmod(d / "allow.d", 0o755)
    conf = d / "mamori.conf"

    def check(text):
        conf.write_text(text)
        os.chmod(conf, 0o644)
        p = subprocess.run([MAMORICTL, "--socket", str(tmp_path / "none"), "check-config", "--config", str(conf)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    out = check('collector = { url = "https://192.0.2.99/ingest"; };\n'
                'quarantine = { allow = [ "192.0.2.10/32" ]; };\n')
    assert "does not cover the collector 192.0.2.99" in out, out
    out = check('collector = { url = "https://[2001:db8::5]:8443/ingest"; };\n'
                'quarantine = { allow = [ "2001:db8::/64" ]; };\n')
    assert "does not cover" not in out, out
    out = check('collector = { url = "https://localhost/ingest"; };\n'
                'quarantine = { allow = [ "192.0.2.10/32" ]; };\n')
    assert "the collector is a name, localhost; mamorid does no DNS" in out, out
    assert "127.0.0.1  NOT in quarantine.allow" in out, out
    out = check('quarantine = { allow = [ ]; };\n')
    assert "quarantine.allow is empty" in out, out
