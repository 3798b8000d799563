# SPDX-License-Identifier: MIT
"""The notice path under test: a private system bus that runs Debian's own
system bus policy plus units/org.mamori.Notice1.conf, a private session bus,
python-dbusmock's notification_daemon on it, and mamori-notify between them.
The user side (session bus, notification server, mamori-notify) runs as an
unprivileged user, as it does on a desktop."""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import dbus

from bus_testlib import BUS_CONFIG
from mamori_testlib import NotifiedProcess, wait_for

SOURCE_DIR = os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD_DIR = os.environ.get("MAMORI_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
MAMORI_NOTIFY = os.environ.get("MAMORI_NOTIFY", os.path.join(BUILD_DIR, "tools/notify/mamori-notify"))
POLICY = os.path.join(SOURCE_DIR, "units/org.mamori.Notice1.conf")
USER_UID = 65534  # nobody

NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"


_SUPPRESSIONS = {}
atexit.register(lambda: [os.unlink(p) for p in _SUPPRESSIONS.values() if os.path.exists(p)])


def _readable_lsan_options(opts):
    """LSAN_OPTIONS with its suppressions file copied where anyone can read it."""
    parts = []
    for p in opts.split(":"):
        if p.startswith("suppressions="):
            src = p.split("=", 1)[1]
            if src not in _SUPPRESSIONS:
                fd, dst = tempfile.mkstemp(prefix="mamori-lsan-", suffix=".supp")
                with os.fdopen(fd, "w") as f, open(src) as s:
                    f.write(s.read())
                os.chmod(dst, 0o644)
                _SUPPRESSIONS[src] = dst
            p = "suppressions=" + _SUPPRESSIONS[src]
        parts.append(p)
    return ":".join(parts)


def clean_env(**extra):
    """The environment of a process outside the umockdev testbed."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "UMOCKDEV_DIR", "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS",
                        "NOTIFY_SOCKET", "LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "XDG_SESSION_ID")}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/nonexistent"})
    if "suppressions=" in env.get("LSAN_OPTIONS", ""):
        env["LSAN_OPTIONS"] = _readable_lsan_options(env["LSAN_OPTIONS"])
    env.update(extra)
    return env


def as_user(argv):
    return ["setpriv", f"--reuid={USER_UID}", f"--regid={USER_UID}", "--clear-groups", "--", *argv]


def system_bus_config(sock_path, policy):
    """Debian's /usr/share/dbus-1/system.conf with its policy intact, minus
    what only the real system bus does (user switch, fork, pid file,
    activation, syslog, the system's own policy directories)."""
    tree = ET.parse("/usr/share/dbus-1/system.conf")
    root = tree.getroot()
    drop = {"user", "fork", "pidfile", "listen", "servicehelper", "syslog", "standard_system_servicedirs",
            "includedir", "include", "servicedir"}
    for el in list(root):
        if el.tag in drop:
            root.remove(el)
    listen = ET.SubElement(root, "listen")
    listen.text = f"unix:path={sock_path}"
    inc = ET.SubElement(root, "include")
    inc.text = policy
    return ET.tostring(root, encoding="unicode")


# The user's session bus: open to anyone, as bus_testlib's private system bus.
SESSION_CONFIG = BUS_CONFIG


class Bus:
    def __init__(self, dirpath, name, config_text, user=None):
        self.dir = dirpath
        self.sock = os.path.join(dirpath, f"{name}.sock")
        self.address = f"unix:path={self.sock}"
        self.conf = os.path.join(dirpath, f"{name}.conf")
        with open(self.conf, "w") as f:
            f.write(config_text)
        os.chmod(self.conf, 0o644)
        self.user = user
        self.proc = None
        self.log_path = os.path.join(dirpath, f"{name}.log")

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        argv = ["dbus-daemon", f"--config-file={self.conf}", "--nofork", "--nopidfile"]
        if self.user is not None:
            argv = as_user(argv)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, env=clean_env(), stdout=self.log, stderr=self.log, cwd=self.dir)
        wait_for(lambda: os.path.exists(self.sock), 10, what=f"dbus-daemon at {self.sock}")
        wait_for(self._answers, 10, interval=0.05, what="the bus to answer")
        return self

    def _answers(self):
        try:
            dbus.bus.BusConnection(self.address).close()
            return True
        except dbus.exceptions.DBusException:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def connect(self):
        return dbus.bus.BusConnection(self.address)


class NotifyHelper(NotifiedProcess):
    """mamori-notify, as the unprivileged user, with its own sd_notify socket."""

    program = "mamori-notify"

    def __init__(self, world, lang="en_US.UTF-8", args=(), env=None, name="notify"):
        self.world = world
        self.lang = lang
        self.args = list(args)
        self.env = env or {}
        self.stderr_path = os.path.join(world.dir, f"{name}.stderr")
        self.sock_path = os.path.join(world.dir, f"{name}.notify.sock")
        self.proc = None
        self.notify = []

    def start(self, wait_ready=True):
        self.bind_notify(self.sock_path, mode=0o777)  # it runs as the user
        env = clean_env(DBUS_SYSTEM_BUS_ADDRESS=self.world.system.address,
                        DBUS_SESSION_BUS_ADDRESS=self.world.session.address,
                        NOTIFY_SOCKET=self.sock_path)
        if self.lang is not None:
            env["LANG"] = self.lang
        env.update(self.env)
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(as_user([self.world.notify_binary(), "--verbose", *self.args]), env=env,
                                     stdout=self.stderr, stderr=self.stderr, cwd=self.world.dir)
        if wait_ready:
            self.wait_notify("READY=1")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.close_notify()
        if getattr(self, "stderr", None):
            self.stderr.close()
            self.stderr = None


class NoticeWorld:
    """The buses and the notification server. Use as a context manager."""

    def __init__(self, capabilities=None, notification_server=True):
        self.dir = tempfile.mkdtemp(prefix="mamori-notice-")
        os.chmod(self.dir, 0o755)
        self.user_dir = os.path.join(self.dir, "user")
        os.mkdir(self.user_dir)
        os.chown(self.user_dir, USER_UID, USER_UID)
        self.system = Bus(self.dir, "system", system_bus_config(os.path.join(self.dir, "system.sock"), POLICY))
        self.session = Bus(self.user_dir, "session",
                           SESSION_CONFIG.format(path=os.path.join(self.user_dir, "session.sock")), user=USER_UID)
        self.capabilities = capabilities
        self.with_server = notification_server
        self.server = None
        self.helpers = []

    def __enter__(self):
        self.system.start()
        self.session.start()
        if self.with_server:
            self.start_server()
        return self

    def __exit__(self, *exc):
        self.close()

    def start_server(self):
        argv = ["/usr/bin/python3", "-m", "dbusmock", "--template", "notification_daemon"]
        if self.capabilities is not None:
            argv += ["-p", json.dumps({"capabilities": " ".join(self.capabilities)})]
        self.server_log = open(os.path.join(self.dir, "dbusmock.log"), "ab")
        self.server = subprocess.Popen(as_user(argv), env=clean_env(DBUS_SESSION_BUS_ADDRESS=self.session.address),
                                       stdout=self.server_log, stderr=self.server_log, cwd=self.dir)
        self.bus = self.session.connect()
        wait_for(lambda: self.bus.name_has_owner(NOTIFICATIONS), 15, interval=0.05, what="the notification mock")
        self.mock = dbus.Interface(self.bus.get_object(NOTIFICATIONS, NOTIFICATIONS_PATH), "org.freedesktop.DBus.Mock")

    def notify_binary(self):
        """mamori-notify, copied where the unprivileged user can run it (a
        checkout under /root is not)."""
        path = os.path.join(self.dir, "bin", "mamori-notify")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy2(MAMORI_NOTIFY, path)
            os.chmod(path, 0o755)
        return path

    def helper(self, **kw):
        h = NotifyHelper(self, name=f"notify{len(self.helpers)}", **kw)
        self.helpers.append(h)
        return h

    def agent_env(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.system.address}

    def notifications(self):
        """Every Notify call the server got: dicts with the spec's argument names."""
        out = []
        for _ts, args in self.mock.GetMethodCalls("Notify"):
            out.append({
                "app_name": str(args[0]), "replaces_id": int(args[1]), "app_icon": str(args[2]),
                "summary": str(args[3]), "body": str(args[4]), "actions": [str(a) for a in args[5]],
                "hints": {str(k): (int(v) if isinstance(v, (dbus.Byte, dbus.Int32, dbus.UInt32)) else str(v))
                          for k, v in args[6].items()},
                "expire_timeout": int(args[7]),
            })
        return out

    def wait_notifications(self, count, timeout=10):
        return wait_for(lambda: (lambda n: n if len(n) >= count else None)(self.notifications()), timeout,
                        interval=0.05, what=f"{count} notification(s); helper log:\n" +
                        "\n".join(h.log() for h in self.helpers))

    def close(self):
        for h in self.helpers:
            h.stop()
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(10)
        if getattr(self, "bus", None):
            self.bus.close()
        self.session.stop()
        self.system.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def settle(seconds=0.5):
    """Lets a notice that should NOT come have the time to come."""
    time.sleep(seconds)
