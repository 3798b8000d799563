# SPDX-License-Identifier: MIT
"""A private "system" bus with python3-dbusmock's logind and systemd
templates on it, for the lock and antivirus tests. mamorid is pointed at it
through DBUS_SYSTEM_BUS_ADDRESS; nothing here touches the machine's bus."""

import json
import os
import signal
import subprocess
import tempfile
import time

import dbus

from mamori_testlib import wait_for

MOCK = "org.freedesktop.DBus.Mock"
LOGIND = "org.freedesktop.login1"
SESSION_IFACE = "org.freedesktop.login1.Session"
SYSTEMD = "org.freedesktop.systemd1"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
PY = "/usr/bin/python3"  # Debian's: dbusmock lives there


def now_us():
    return time.time_ns() // 1000


def mono_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class SystemBus:
    """dbus-daemon on a socket in a temp dir; can be killed and started again
    on the same path (a lost bus)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mamori-bus-")
        self.path = os.path.join(self.dir, "system_bus_socket")
        self.address = "unix:path=" + self.path
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=/usr/share/dbus-1/session.conf", "--nofork", "--nopidfile",
             "--address=" + self.address],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.path), 10, what="dbus-daemon socket")
        self._conn = None

    def conn(self):
        if self._conn is None:
            self._conn = dbus.bus.BusConnection(self.address)
        return self._conn

    def stop(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def env(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def has_name(self, name):
        try:
            return self.conn().name_has_owner(name)
        except dbus.exceptions.DBusException:
            return False


class _Mock:
    template = None
    name = None

    def __init__(self, bus, **parameters):
        self.bus = bus
        self.proc = None
        self.start(**parameters)

    def start(self, **parameters):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.log = tempfile.NamedTemporaryFile(prefix="dbusmock-", suffix=".log", delete=False).name
        args = [PY, "-m", "dbusmock", "--system", "-t", self.template, "-l", self.log]
        if parameters:
            args += ["-p", json.dumps(parameters)]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.bus.has_name(self.name), 20, what=self.name + " on the bus")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            wait_for(lambda: not self.bus.has_name(self.name), 10, what=self.name + " to leave")

    def obj(self, path, iface=MOCK):
        return dbus.Interface(self.bus.conn().get_object(self.name, path), iface)


def _variant(key, value):
    """logind's property types."""
    if key in ("IdleSinceHint", "IdleSinceHintMonotonic"):
        return dbus.UInt64(value)
    if key in ("IdleHint", "LockedHint", "Active", "Remote"):
        return dbus.Boolean(value)
    return dbus.String(value)


# Lock() as a desktop with a screen locker answers it: LockedHint turns true.
LOCKING_LOCK = ('self.UpdateProperties("org.freedesktop.login1.Session", {"LockedHint": dbus.Boolean(True)}); '
                'self.EmitSignal("org.freedesktop.login1.Session", "Lock", "", [])')


class Logind(_Mock):
    template = "logind"
    name = LOGIND

    def session_path(self, sid):
        return f"/org/freedesktop/login1/session/{sid}"

    def add_session(self, sid, user="alice", uid=1000, seat="seat0", active=True, locker=True, **props):
        """A session; with locker=True its Lock() sets LockedHint (a desktop
        with a screen locker), with locker=False nothing answers it."""
        self.obj("/org/freedesktop/login1").AddSession(sid, seat, dbus.UInt32(uid), user, active)
        if locker:
            self.obj(self.session_path(sid)).AddMethod(SESSION_IFACE, "Lock", "", "", LOCKING_LOCK)
        props.setdefault("Type", "x11")
        self.set(sid, **props)
        # logind announces a session; the template's AddSession does not.
        self.obj("/org/freedesktop/login1").EmitSignal(
            "org.freedesktop.login1.Manager", "SessionNew", "so", [sid, dbus.ObjectPath(self.session_path(sid))])

    def set(self, sid, **props):
        """UpdateProperties: emits PropertiesChanged, as logind does."""
        if props:
            self.obj(self.session_path(sid)).UpdateProperties(
                SESSION_IFACE, dbus.Dictionary({k: _variant(k, v) for k, v in props.items()}, signature="sv"))

    def set_silently(self, sid, **props):
        """Changes properties without PropertiesChanged, like a tty's atime."""
        path = self.session_path(sid)
        quiet = "org.mamori.Test"
        self.obj(path).AddMethod(quiet, "SetQuietly", "sv", "",
                                 'self.props["org.freedesktop.login1.Session"][args[0]] = args[1]')
        for k, v in props.items():
            self.obj(path, quiet).SetQuietly(k, _variant(k, v))

    def idle(self, sid, seconds_ago, monotonic=True):
        """IdleHint true since seconds_ago; IdleSinceHintMonotonic only when monotonic."""
        self.set(sid, IdleHint=True, IdleSinceHint=now_us() - int(seconds_ago * 1e6),
                 IdleSinceHintMonotonic=(mono_us() - int(seconds_ago * 1e6)) if monotonic else 0)

    def active(self, sid):
        self.set(sid, IdleHint=False, IdleSinceHint=now_us(), IdleSinceHintMonotonic=mono_us())

    def get(self, sid, prop):
        return self.obj(self.session_path(sid), "org.freedesktop.DBus.Properties").Get(SESSION_IFACE, prop)

    def calls(self, sid, method):
        return list(self.obj(self.session_path(sid)).GetMethodCalls(method))

    def remove_session(self, sid):
        path = self.session_path(sid)
        self.obj("/org/freedesktop/login1").EmitSignal(
            "org.freedesktop.login1.Manager", "SessionRemoved", "so", [sid, dbus.ObjectPath(path)])
        self.obj("/org/freedesktop/login1").RemoveObject(path)


class Systemd(_Mock):
    """units: {name: (ActiveState, SubState, LoadState)}, there from the start."""
    template = os.path.join(os.path.dirname(__file__), "systemd_template.py")
    name = SYSTEMD

    def __init__(self, bus, units=None):
        super().__init__(bus, units={k: list(v) for k, v in (units or {}).items()})

    def unit_path(self, name):
        return "/org/freedesktop/systemd1/unit/" + name.replace(".", "_").replace("-", "_")

    def set_unit(self, name, active_state, sub_state, load_state="loaded"):
        self.obj(self.unit_path(name)).UpdateProperties(UNIT_IFACE, dbus.Dictionary({
            "ActiveState": dbus.String(active_state), "SubState": dbus.String(sub_state),
            "LoadState": dbus.String(load_state)}, signature="sv"))
