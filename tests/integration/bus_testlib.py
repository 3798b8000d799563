# SPDX-License-Identifier: MIT
"""A private "system" bus with python3-dbusmock's logind and systemd
templates on it, for the lock and antivirus tests. mamorid is pointed at it
through DBUS_SYSTEM_BUS_ADDRESS; nothing here touches the machine's bus."""

import json
import os
import re
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


# A bus on which anyone may do anything, and any user may connect: as on the
# system bus, anybody can send a signal to any connection.
BUS_CONFIG = """<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SystemBus:
    """dbus-daemon on a socket in a temp dir; can be killed and started again
    on the same path (a lost bus). Other users may connect (see forge())."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mamori-bus-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "system_bus_socket")
        self.address = "unix:path=" + self.path
        self.config = os.path.join(self.dir, "bus.conf")
        with open(self.config, "w") as f:
            f.write(BUS_CONFIG.format(path=self.path))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + self.config, "--nofork", "--nopidfile"],
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


# ---- an attacker on the bus ----

FORGER = r"""
import json, sys
import dbus

def typed(v):
    # {"$t": signature, "v": value} for a value whose D-Bus type matters
    if isinstance(v, dict) and "$t" in v:
        t, x = v["$t"], v["v"]
        if t == "(uo)":
            return dbus.Struct((dbus.UInt32(x[0]), dbus.ObjectPath(x[1])), signature="uo")
        return {"s": dbus.String, "b": dbus.Boolean, "u": dbus.UInt32, "t": dbus.UInt64,
                "o": dbus.ObjectPath}[t](x)
    if isinstance(v, dict):
        return {k: typed(x) for k, x in v.items()}  # typed by the signature
    if isinstance(v, list):
        return [typed(x) for x in v]
    if v == "$self":
        return bus.get_unique_name()
    return v

address, signals = sys.argv[1], json.loads(sys.argv[2])
bus = dbus.bus.BusConnection(address)
for s in signals:
    m = dbus.lowlevel.SignalMessage(s["path"], s["interface"], s["member"])
    if s.get("destination"):
        m.set_destination(s["destination"])
    if s.get("sender"):
        m.set_sender(s["sender"])  # the bus replaces it with ours
    m.append(*[typed(a) for a in s["args"]], signature=s["signature"])
    bus.send_message(m)
bus.flush()
print(bus.get_unique_name())
"""


def forge(address, signals, uid=65534):
    """Sends signals from a connection of its own, as an unprivileged user.
    Each signal: dict(path, interface, member, signature, args, destination=
    None (a broadcast) or a unique name (that connection alone), sender=a name
    it claims). Returns the forger's unique name."""
    from mamori_notice import clean_env  # an environment without the testbed
    argv = [PY, "-c", FORGER, address, json.dumps(signals)]
    if uid is not None:
        argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
    p = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip()


def properties_changed(path, interface, changed, invalidated=()):
    return dict(path=path, interface="org.freedesktop.DBus.Properties", member="PropertiesChanged",
                signature="sa{sv}as", args=[interface, changed, list(invalidated)])


def name_owner_changed(name, old, new):
    """As the bus sends it, claiming to be the bus."""
    return dict(path="/org/freedesktop/DBus", interface="org.freedesktop.DBus", member="NameOwnerChanged",
                signature="sss", args=[name, old, new], sender="org.freedesktop.DBus")


def agent_unique_name(agent):
    """mamorid's connection to the system bus, from its log."""
    names = re.findall(r"Connected to the system bus as (:[0-9]+\.[0-9]+)", agent.log())
    assert names, agent.log()
    return names[-1]


def unique_name_of_pid(conn, pid):
    """The unique name of the connection process pid has on the bus."""
    for n in conn.list_names():
        if n.startswith(":"):
            try:
                if conn.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                      "GetConnectionUnixProcessID", "s", (n,)) == pid:
                    return str(n)
            except dbus.exceptions.DBusException:
                pass
    raise AssertionError(f"no connection of pid {pid} on the bus")
