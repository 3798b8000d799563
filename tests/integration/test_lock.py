# SPDX-License-Identifier: MIT
"""Idle lock: the real mamorid against python3-dbusmock's logind on a private
system bus. Timeouts are seconds here, minutes in the field."""

import itertools
import json
import re
import time

import pytest

from bus_testlib import (LOGIND, SESSION_IFACE, Logind, SystemBus, agent_unique_name, forge, mono_us,
                         name_owner_changed, now_us, properties_changed)
from mamori_testlib import wait_for

POLICY_REF = "対策基準 第3-2エ"


def conf(idle=2, verify=1, tty='"ignore"'):
    return (f"lock = {{ idle_timeout = {idle}; verify_timeout = {verify}; tty = {tty}; }};\n"
            'antivirus = { engine = "none"; };\n')


@pytest.fixture
def sysbus():
    b = SystemBus()
    yield b
    b.stop()


@pytest.fixture
def logind(sysbus):
    m = Logind(sysbus)
    yield m
    m.stop()


def start(make_agent, sysbus, text):
    return make_agent(main_conf=text, extra_env=sysbus.env()).start()


def lock_events(a):
    """lock.* events, without the barrier sessions'."""
    return [e for e in a.events() if e["kind"].startswith("lock.")
            and not e.get("session", {}).get("id", "").startswith("barrier")]


_barriers = itertools.count(1)


def barrier(logind, a, idle):
    """A session that goes idle now, so mamorid locks it idle seconds later:
    once its lock.enforced is recorded, mamorid's timers have run that far,
    and whatever it would have done to the other sessions before then is
    done. Waits for that instead of sleeping before a negative check."""
    sid = f"barrier{next(_barriers)}"
    logind.add_session(sid, Type="x11")
    logind.idle(sid, 0)
    a.wait_events("lock.enforced", pred=lambda e: e["session"]["id"] == sid, timeout=idle + 10)


def test_idle_session_is_locked_and_busy_one_is_not(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11")
    logind.add_session("c2", user="bob", uid=1001, seat="seat1", Type="wayland")
    logind.idle("c1", 0.5)
    a = start(make_agent, sysbus, conf())

    ev = a.wait_events("lock.enforced")[0]
    assert ev["session"]["id"] == "c1"
    assert ev["session"]["user"] == "alice" and ev["session"]["type"] == "x11"
    assert ev["user"]["name"] == "alice"  # the user at seat0, from logind over the bus
    assert ev["policy_ref"] == POLICY_REF
    assert ev["idle"]["timeout_seconds"] == 2
    assert ev["idle"]["seconds"] >= 2  # not before the timeout
    assert ev["lock"]["outcome"] == "locked"
    assert logind.get("c1", "LockedHint")

    barrier(logind, a, 2)  # one more idle timeout: no second Lock, none for c2
    assert len(logind.calls("c1", "Lock")) == 1
    assert logind.calls("c2", "Lock") == []
    assert [e["kind"] for e in lock_events(a)] == ["lock.enforced"]


def test_nothing_locks_is_a_violation(sysbus, logind, make_agent):
    logind.add_session("c1", locker=False, Type="wayland")
    logind.idle("c1", 5)
    a = start(make_agent, sysbus, conf())

    ev = a.wait_events("lock.failed")[0]
    assert ev["severity"] == "high"
    assert ev["lock"]["reason"] == "no_locker"
    assert ev["session"]["id"] == "c1"
    assert ev["policy_ref"] == POLICY_REF
    # One Lock() per idle period: no retry loop, no repeated reports.
    barrier(logind, a, 2)
    assert len(logind.calls("c1", "Lock")) == 1
    assert [e["kind"] for e in lock_events(a)] == ["lock.failed"]

    # Back at the desk, away again: a new period, a new attempt.
    logind.active("c1")
    time.sleep(0.3)
    logind.idle("c1", 0)
    a.wait_events("lock.failed", count=2, timeout=8)
    assert len(logind.calls("c1", "Lock")) == 2


def test_activity_just_before_the_timeout(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=4))
    time.sleep(0.5)
    logind.idle("c1", 0, monotonic=False)  # realtime IdleSinceHint only
    time.sleep(2.8)
    logind.active("c1")  # about a second before the timeout
    barrier(logind, a, 4)  # idle from now: locked well after c1's old deadline
    assert logind.calls("c1", "Lock") == []
    assert lock_events(a) == []

    # The next idle period is timed from its own start.
    t0 = time.monotonic()
    logind.idle("c1", 0)
    a.wait_events("lock.enforced", timeout=10, pred=lambda e: e["session"]["id"] == "c1")
    assert time.monotonic() - t0 >= 3.5


def test_monotonic_idle_time_wins_over_a_wall_clock_jump(sysbus, logind, make_agent):
    """IdleSinceHint (CLOCK_REALTIME) says idle for an hour, e.g. after the
    clock was set; IdleSinceHintMonotonic says 0.5 s: the lock waits."""
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=4))
    t0 = time.monotonic()
    logind.set("c1", IdleHint=True, IdleSinceHint=now_us() - 3600 * 10**6, IdleSinceHintMonotonic=mono_us() - 500000)
    time.sleep(1.5)
    assert logind.calls("c1", "Lock") == []
    a.wait_events("lock.enforced", timeout=10)
    assert time.monotonic() - t0 >= 3.3


def test_locked_or_inactive_sessions_are_left_alone(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11", LockedHint=True)
    logind.add_session("c2", user="bob", uid=1001, active=False, Type="wayland")  # switched away
    logind.add_session("c3", user="gdm", uid=120, Type="wayland", Class="greeter")
    for s in ("c1", "c2", "c3"):
        logind.idle(s, 10)
    a = start(make_agent, sysbus, conf())
    barrier(logind, a, 2)  # the others, idle for 10 s, would have been locked at once
    for s in ("c1", "c2", "c3"):
        assert logind.calls(s, "Lock") == []
    assert lock_events(a) == []
    # Switched to: now it is on screen, idle and unlocked.
    logind.set("c2", Active=True)
    ev = a.wait_events("lock.enforced", pred=lambda e: e["session"]["id"] == "c2")[0]
    assert ev["session"]["id"] == "c2"


@pytest.mark.parametrize("action", ["ignore", "report", "terminate"])
def test_tty_and_remote_sessions(sysbus, logind, make_agent, action):
    # logind gives a tty session's IdleSinceHint from the tty's atime and
    # signals no change of it; IdleHint stays false.
    logind.add_session("t1", Type="tty", TTY="tty3", IdleSinceHint=now_us() - 1_000_000)
    logind.add_session("r1", user="admin", uid=1002, seat="seat9", Type="tty", TTY="pts/0", Remote=True,
                       RemoteHost="192.0.2.7", IdleSinceHint=now_us() - 1_000_000)
    a = start(make_agent, sysbus, conf(tty=f'{{ action = "{action}"; idle_timeout = 4; }}'))

    if action == "ignore":
        # Two barriers: 4 s and more, past the ttys' deadline (3 s from now).
        barrier(logind, a, 2)
        barrier(logind, a, 2)
        assert lock_events(a) == []
    else:
        evs = a.wait_events("lock.idle_session", count=2)
        by = {e["session"]["id"]: e for e in evs}
        assert by["t1"]["session"]["tty"] == "tty3"
        assert by["r1"]["session"]["remote"] is True and by["r1"]["session"]["remote_host"] == "192.0.2.7"
        assert by["t1"]["action"]["tty_policy"] == action
        assert by["t1"]["policy_ref"] == POLICY_REF
        if action == "terminate":
            term = a.wait_events("lock.session_terminated", count=2, timeout=10)
            assert {e["session"]["id"] for e in term} == {"t1", "r1"}
            assert all(e["terminate"]["outcome"] == "terminated" for e in term)
            assert all(e["idle"]["seconds"] >= 4 for e in term)
        else:
            barrier(logind, a, 2)
            barrier(logind, a, 2)
            assert a.events("lock.session_terminated") == []
    barrier(logind, a, 2)  # no late Lock() or Terminate()
    for s in ("t1", "r1"):
        assert logind.calls(s, "Lock") == []  # a tty is never "locked"
        assert len(logind.calls(s, "Terminate")) == (1 if action == "terminate" else 0)
    assert len(a.events("lock.idle_session")) == (0 if action == "ignore" else 2)


def test_tty_activity_is_seen_when_the_deadline_comes(sysbus, logind, make_agent):
    logind.add_session("t1", Type="tty", TTY="tty2", IdleSinceHint=now_us())
    a = start(make_agent, sysbus, conf(idle=3, tty='"report"'))
    # Typing: the atime moves, silently (logind sends no PropertiesChanged for it).
    for _ in range(4):
        time.sleep(1)
        logind.set_silently("t1", IdleSinceHint=now_us())
    assert a.events("lock.idle_session") == []
    ev = a.wait_events("lock.idle_session", timeout=8)[0]
    assert ev["idle"]["seconds"] >= 3


def test_logind_restart(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf())
    logind.stop()
    time.sleep(0.5)
    assert a.proc.poll() is None
    logind.start()
    logind.add_session("c7", user="carol", uid=1003, Type="wayland")
    logind.idle("c7", 1)
    ev = a.wait_events("lock.enforced", timeout=10)[0]
    assert ev["session"]["id"] == "c7" and ev["user"]["name"] == "carol"
    assert "logind is not available" in a.log()


def test_lost_bus(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf())
    time.sleep(0.5)
    sysbus.stop()  # dbus-daemon killed: logind and our connection gone
    logind.proc.wait(10)
    time.sleep(1)
    assert a.proc.poll() is None
    sysbus.start()
    logind.start()
    logind.add_session("c2", Type="x11")
    logind.idle("c2", 1)
    ev = a.wait_events("lock.enforced", timeout=15)[0]
    assert ev["session"]["id"] == "c2"
    assert "Lost the system bus" in a.log()


def test_reload_applies_new_timeouts(sysbus, logind, make_agent):
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=600))
    logind.idle("c1", 5)
    time.sleep(1.5)
    assert logind.calls("c1", "Lock") == []
    a.write_conf(conf(idle=3))
    a.reload()
    ev = a.wait_events("lock.enforced", timeout=5)[0]
    assert ev["idle"]["timeout_seconds"] == 3


# ---- signals that are not logind's ----

C1 = "/org/freedesktop/login1/session/c1"
FORGERIES = {
    # put another user on the session: every event then names mallory
    "user": lambda lg: [properties_changed(C1, SESSION_IFACE, {
        "Name": "mallory", "User": {"$t": "(uo)", "v": [6666, "/org/freedesktop/login1/user/_6666"]}})],
    # say it is locked: it is never locked
    "locked_hint": lambda lg: [properties_changed(C1, SESSION_IFACE, {"LockedHint": {"$t": "b", "v": True}})],
    # say logind left: locking pauses until it comes back, which it never does
    "logind_gone": lambda lg: [name_owner_changed(LOGIND, lg, "")],
    # say the session ended: it is no longer watched
    "session_removed": lambda lg: [dict(path="/org/freedesktop/login1", interface="org.freedesktop.login1.Manager",
                                        member="SessionRemoved", signature="so", args=["c1", {"$t": "o", "v": C1}])],
}


def wait_synced(a, n=1):
    wait_for(lambda: f"logind: {n} session" in a.log(), 10, what="the session list")
    time.sleep(0.3)  # and each session's properties


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_logind_signals_are_ignored(sysbus, logind, make_agent, forgery):
    """Any local user can send a signal to mamorid's connection alone, with
    logind's path and interface (and claim to be logind or the bus): it is
    dropped, and the session is locked as logind says."""
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=3))
    wait_synced(a)
    logind.idle("c1", 0)
    signals = FORGERIES[forgery](sysbus.conn().get_name_owner(LOGIND))
    me = agent_unique_name(a)
    for s in signals:
        s["destination"] = me
    forger = forge(sysbus.address, signals)
    ev = a.wait_events("lock.enforced", timeout=10)[0]
    assert ev["session"]["id"] == "c1"
    assert ev["session"]["user"] == "alice" and ev["user"]["name"] == "alice" and ev["user"]["uid"] == 1000
    assert len(logind.calls("c1", "Lock")) == 1
    # The bus put the forger's own name as the sender, whatever it claimed
    # (the NameOwnerChanged says it is org.freedesktop.DBus).
    assert f"signal on {signals[0]['path']}: sent by {forger} to {me}, not by " in a.log()


def test_forged_idle_hint_locks_no_one(sysbus, logind, make_agent):
    """Someone else's session, busy: a forged "idle for an hour" must not make
    mamorid lock their screen."""
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=2))
    wait_synced(a)
    forge(sysbus.address, [dict(properties_changed(C1, SESSION_IFACE, {
        "IdleHint": {"$t": "b", "v": True}, "IdleSinceHint": {"$t": "t", "v": now_us() - 3600 * 10**6},
        "IdleSinceHintMonotonic": {"$t": "t", "v": 1}}), destination=agent_unique_name(a))])
    barrier(logind, a, 2)  # "idle for an hour" would have locked at once
    assert logind.calls("c1", "Lock") == []
    assert lock_events(a) == []
    assert "Dropped a forged" in a.log()
    from test_mamorictl import ctl
    lock = next(c for c in json.loads(ctl(a, "--json", "status").stdout)["checks"] if c["name"] == "lock")
    assert lock["bus_signals_dropped"] == 1 and lock["logind"] == "present"
    # logind's own word still counts
    logind.idle("c1", 0)
    a.wait_events("lock.enforced", timeout=8, pred=lambda e: e["session"]["id"] == "c1")


def test_a_broadcast_from_another_connection_is_not_logind(sysbus, logind, make_agent):
    """Without a destination the bus routes a signal by our match rules, which
    name logind as the sender: a lookalike from anyone else never arrives."""
    logind.add_session("c1", Type="x11")
    a = start(make_agent, sysbus, conf(idle=3))
    wait_synced(a)
    logind.idle("c1", 0)
    forge(sysbus.address, FORGERIES["user"](None) + FORGERIES["logind_gone"](sysbus.conn().get_name_owner(LOGIND)))
    ev = a.wait_events("lock.enforced", timeout=10)[0]
    assert ev["user"]["name"] == "alice"


def test_mamorictl_status_shows_the_lock_check(sysbus, logind, make_agent):
    from test_mamorictl import ctl
    logind.add_session("c1", locker=False, Type="x11")
    logind.add_session("c2", user="bob", uid=1001, seat="seat1", Type="wayland")
    a = start(make_agent, sysbus, conf())
    st = json.loads(ctl(a, "--json", "status").stdout)
    lock = next(c for c in st["checks"] if c["name"] == "lock")
    assert lock["state"] == "ok" and lock["logind"] == "present"
    assert {s["id"] for s in lock["sessions"]} == {"c1", "c2"}

    logind.idle("c1", 5)
    a.wait_events("lock.failed")
    p = ctl(a, "status")
    assert p.returncode == 6, p.stdout + p.stderr  # mamori works; the PC has a finding
    assert "Findings:     this PC: lock (not_locked)" in p.stdout, p.stdout
    assert re.search(r"lock\s+not_locked\s+logind; 2 graphical sessions, 1 idle and not locked", p.stdout), p.stdout
    st = json.loads(ctl(a, "--json", "status").stdout)
    lock = next(c for c in st["checks"] if c["name"] == "lock")
    assert lock["locks_failed"] == 1 and lock["sessions_not_locked"] == 1

    logind.active("c1")  # back at the desk
    wait_for(lambda: "lock       ok" in ctl(a, "status").stdout, 5, what="lock ok")


def test_mamorictl_status_without_logind(make_agent):
    from test_mamorictl import ctl
    a = make_agent(main_conf=conf()).start()  # no system bus at all
    st = json.loads(ctl(a, "--json", "status").stdout)
    lock = next(c for c in st["checks"] if c["name"] == "lock")
    assert lock["state"] == "unavailable" and lock["logind"] == "no_bus"
