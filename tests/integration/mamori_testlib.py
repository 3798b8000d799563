# SPDX-License-Identifier: MIT
"""Shared helpers for the integration tests: a umockdev testbed with USB
devices, the real mamorid binary started against it, and readers for its
events. Run under umockdev-wrapper (meson does)."""

import ctypes
import json
import os
import select
import struct
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref

import gi

import spool_reader  # noqa: E402  (next to this file)

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

MAMORID = os.environ.get("MAMORID", os.path.join(os.path.dirname(__file__), "../../build/agent/mamorid"))


def wait_for(pred, timeout=10.0, interval=0.01, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_line(pipe, timeout, what="a line"):
    """One line (str) from a child's stdout or stderr pipe, within timeout
    seconds: a reader that would wait forever fails the test instead. Reads
    the file descriptor byte by byte, so nothing past the line is taken from
    the pipe (and Python's buffer of the pipe is never used)."""
    fd = pipe.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (got {buf[-200:]!r})")
        b = os.read(fd, 1)
        if not b:
            raise AssertionError(f"end of output while waiting for {what} (got {buf[-200:]!r})")
        buf += b
    return buf.decode("utf-8", "replace")


class Inotify:
    """Sees every open-for-write of watched files: the one precise way to tell
    that mamorid wrote an attribute (even the same value) and when."""

    IN_MODIFY = 0x2
    IN_CLOSE_WRITE = 0x8

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.paths = {}
        self.seen = []  # (monotonic time, path, mask)

    def watch(self, path, mask=IN_MODIFY | IN_CLOSE_WRITE):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.paths[wd] = path
        return wd

    def poll(self, timeout=0.0):
        """Reads what is queued (waiting up to timeout for the first event)."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return self.seen
        now = time.monotonic()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.seen
            off = 0
            while off < len(buf):
                wd, mask, _cookie, n = struct.unpack_from("iIII", buf, off)
                off += 16 + n
                self.seen.append((now, self.paths.get(wd), mask))

    def writes(self, path=None):
        self.poll()
        return [e for e in self.seen if path is None or e[1] == path]

    def close(self):
        os.close(self.fd)


class UsbBed:
    """A umockdev testbed shaped like a PC: one xHCI controller with a USB 2
    and a USB 3 root hub, and helpers to plug devices in."""

    def __init__(self):
        assert "umockdev-preload" in os.environ.get("LD_PRELOAD", ""), "run under umockdev-wrapper"
        self.tb = UMockdev.Testbed.new()
        self.root = self.tb.get_root_dir()
        # The kernel's bus attribute that binds drivers after an authorize.
        os.makedirs(os.path.join(self.root, "sys/bus/usb"), exist_ok=True)
        open(os.path.join(self.root, "sys/bus/usb/drivers_probe"), "w").close()
        self.pci = self.tb.add_device("pci", "0000:00:14.0", None, ["vendor", "0x8086"], [])
        self.hubs = {}
        for bus in (1, 2):
            self.hubs[bus] = self.tb.add_device(
                "usb", f"usb{bus}", self.pci,
                ["idVendor", "1d6b", "idProduct", "0002" if bus == 1 else "0003",
                 "bDeviceClass", "09", "authorized", "1", "authorized_default", "1",
                 "interface_authorized_default", "1", "busnum", str(bus), "devnum", "1",
                 "bConfigurationValue", "1", "product", "xHCI Host Controller"],
                ["DEVTYPE", "usb_device", "BUSNUM", f"{bus:03d}", "DEVNUM", "001"])
        self.next_dev = {1: 2, 2: 2}

    def sys(self, syspath, attr):
        return os.path.join(self.root, syspath.lstrip("/"), attr)

    def attr(self, syspath, name):
        with open(self.sys(syspath, name), "rb") as f:
            return f.read()

    def authorized(self, syspath):
        """First character only: the kernel file holds "0\\n" or "1\\n"."""
        return self.attr(syspath, "authorized")[:1].decode()

    def never_written(self, syspath, attr="authorized"):
        """umockdev stores "1" as given; mamorid always writes "0\\n" or "1\\n". So
        an attribute that still reads exactly b"1" was never written."""
        return self.attr(syspath, attr) == b"1"

    def drivers_probe(self):
        """Every name mamorid wrote to /sys/bus/usb/drivers_probe, in order."""
        return self.attr("/sys/bus/usb", "drivers_probe").decode().split()

    def interface_default(self, bus):
        return self.attr(self.hubs[bus], "interface_authorized_default")[:1].decode()

    def write_raw(self, syspath, name, value):
        """Writes an attribute byte for byte (hostile strings, invalid UTF-8)."""
        with open(self.sys(syspath, name), "wb") as f:
            f.write(value)

    def add_usb(self, vendor, product, serial=None, interfaces=(("08", "06", "50", None),),
                bus=2, port=None, parent=None, manufacturer="Maker", product_name="Thing",
                iface_authorized="1", device_class="00", uevent=True, extra_attrs=(), bcd_device="0100",
                extra_props=(), bind=True):
        """Adds a usb_device and its interfaces; returns (device_syspath, [interface syspaths]).
        iface_authorized=None does what the kernel does: new interfaces start with the
        root hub's interface_authorized_default. Strings given as bytes are written
        byte for byte (hostile descriptors). umockdev itself sends an "add" uevent for
        every device it creates (to whoever listens); uevent=False only leaves out the
        pacing and the final "bind". extra_props: udev properties of the usb_device
        (what udev's rules put in its database, e.g. ("ID_MTP_DEVICE", "1"))."""
        if iface_authorized is None:
            iface_authorized = self.interface_default(bus)
        raw = {}
        for key, val in (("manufacturer", manufacturer), ("product", product_name), ("serial", serial)):
            if isinstance(val, bytes):
                raw[key] = val
        manufacturer = None if "manufacturer" in raw else manufacturer
        product_name = None if "product" in raw else product_name
        serial = None if "serial" in raw else serial
        parent_path = parent or self.hubs[bus]
        if port is None:
            port = self.next_dev[bus]
        self.next_dev[bus] = max(self.next_dev[bus], port + 1)
        pname = os.path.basename(parent_path)
        name = f"{bus}-{port}" if pname.startswith("usb") else f"{pname}.{port}"
        devnum = self.next_dev[bus] + 100
        attrs = ["idVendor", vendor, "idProduct", product, "bDeviceClass", device_class,
                 "authorized", "1", "busnum", str(bus), "devnum", str(devnum),
                 "bConfigurationValue", "1"]
        if manufacturer is not None:
            attrs += ["manufacturer", manufacturer]
        if product_name is not None:
            attrs += ["product", product_name]
        if serial is not None:
            attrs += ["serial", serial]
        attrs += list(extra_attrs)
        dev = self.tb.add_device("usb", name, parent_path, attrs,
                                 ["DEVTYPE", "usb_device", "PRODUCT", f"{vendor}/{product}/0"] + list(extra_props))
        for key, val in raw.items():
            self.write_raw(dev, key, val)
        # umockdev sends the "add" uevent of every device it creates by itself
        # (to whoever listens at that moment), as the kernel would.
        ifaces = []
        for n, (cls, sub, proto, iname) in enumerate(interfaces):
            # The kernel's modalias of an interface (drivers/usb/core/message.c)
            modalias = (f"usb:v{vendor.upper()}p{product.upper()}d{bcd_device.upper()}dc{device_class.upper()}"
                        f"dsc00dp00ic{cls.upper()}isc{sub.upper()}ip{proto.upper()}in{n:02X}")
            iattrs = ["bInterfaceClass", cls, "bInterfaceSubClass", sub, "bInterfaceProtocol", proto,
                      "bInterfaceNumber", f"{n:02x}", "bAlternateSetting", " 0",
                      "authorized", iface_authorized, "modalias", modalias]
            if isinstance(iname, str):
                iattrs += ["interface", iname]
            i = self.tb.add_device("usb", f"{name}:1.{n}", dev, iattrs,
                                   ["DEVTYPE", "usb_interface", "INTERFACE", f"{int(cls,16)}/{int(sub,16)}/{int(proto,16)}",
                                    "MODALIAS", modalias])
            if isinstance(iname, bytes):
                self.write_raw(i, "interface", iname)
            ifaces.append(i)
            if uevent:
                time.sleep(0.002)  # umockdev's uevent socket holds only a few messages
        if uevent and bind:  # bind=False: a device the kernel is still enumerating
            time.sleep(0.002)
            self.tb.uevent(dev, "bind")
        return dev, ifaces

    def bind_driver(self, iface, driver):
        """What the kernel does when a driver binds to an interface: the
        driver link, then a "bind" uevent with DRIVER=."""
        drv = os.path.join(self.root, "sys/bus/usb/drivers", driver)
        os.makedirs(drv, exist_ok=True)
        link = self.sys(iface, "driver")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(drv, link)
        self.tb.set_property(iface, "DRIVER", driver)
        self.tb.uevent(iface, "bind")

    def unbind_driver(self, iface):
        link = self.sys(iface, "driver")
        if os.path.lexists(link):
            os.unlink(link)
        self.tb.set_property(iface, "DRIVER", "")
        self.tb.uevent(iface, "unbind")

    def remove(self, dev, ifaces=()):
        """Unplugs in the kernel's order: each interface goes (its directory and a
        "remove"), then the device is unbound and removed."""
        for i in ifaces:
            self.tb.uevent(i, "remove")
            self.tb.remove_device(i)
            time.sleep(0.002)
        self.tb.uevent(dev, "unbind")
        time.sleep(0.002)
        self.tb.uevent(dev, "remove")
        self.tb.remove_device(dev)


# What ASan, LSan and UBSan write when they find something.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def _fake_ko(path, name, aliases):
    """A kernel module as far as depmod cares: an ELF object with a .modinfo
    section (alias=..., name=...). Nothing else of it is read."""
    modinfo = b"".join(f"alias={a}".encode() + b"\0" for a in aliases)
    modinfo += b"license=GPL\0" + f"name={name}".encode() + b"\0depends=\0"
    shstr = b"\0.modinfo\0.shstrtab\0"
    off_modinfo = 64
    off_shstr = off_modinfo + len(modinfo)
    off_sh = (off_shstr + len(shstr) + 7) & ~7
    hdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    hdr += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, off_sh, 0, 64, 0, 0, 64, 3, 2)

    def sh(nm, typ, flags, off, size):
        return struct.pack("<IIQQQQIIQQ", nm, typ, flags, 0, off, size, 0, 0, 1, 0)

    data = hdr + modinfo + shstr
    data += bytes(off_sh - len(data))
    data += sh(0, 0, 0, 0, 0) + sh(1, 1, 2, off_modinfo, len(modinfo)) + sh(10, 3, 0, off_shstr, len(shstr))
    with open(path, "wb") as f:
        f.write(data)


# Aliases as the kernel's modules declare them (a few lines of each).
KERNEL_ALIASES = {
    "usb_storage": [
        "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
        "usb:v*p*d*dc*dsc*dp*ic08isc*ip*in*",
        # unusual_devs.h: Epson 785EPX, a printer whose storage binds by id
        "usb:v04B8p0602d0110dc*dsc*dp*ic*isc*ip*in*",
        "usb:v0BC2p3332d*dc*dsc*dp*ic*isc*ip*in*",
    ],
    "uas": ["usb:v*p*d*dc*dsc*dp*ic08isc06ip62in*"],
    "ums_realtek": ["usb:v0BDAp0138d*dc*dsc*dp*ic*isc*ip*in*"],
    # Realtek RTS5129/5139/5140 card readers: vendor-specific interfaces
    "rtsx_usb": ["usb:v0BDAp0129d*dc*dsc*dp*ic*isc*ip*in*", "usb:v0BDAp0139d*dc*dsc*dp*ic*isc*ip*in*",
                 "usb:v0BDAp0140d*dc*dsc*dp*ic*isc*ip*in*"],
    "usbhid": ["usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*"],
    "usblp": ["usb:v*p*d*dc*dsc*dp*ic07isc01ip01in*", "usb:v*p*d*dc*dsc*dp*ic07isc01ip02in*"],
    "rndis_host": ["usb:v*p*d*dc*dsc*dp*icE0isc01ip03in*"],
    "ipheth": ["usb:v05ACp12A8d*dc*dsc*dp*icFFiscFDip01in*"],
}


# Built into the kernel (modules.builtin, modules.builtin.modinfo): the hub driver.
KERNEL_BUILTIN = {"usbcore": ["usb:v*p*d*dc09dsc*dp*ic*isc*ip*in*", "usb:v*p*d*dc*dsc*dp*ic09isc*ip*in*"]}


def make_modules_dir(base, modules=None, builtin=None, version="9.9.9-mamori-test"):
    """A modules directory as depmod makes it (modules.alias.bin, ...), from
    fake modules that declare the given aliases, and built-in ones (what
    CONFIG_...=y leaves in modules.builtin and modules.builtin.modinfo).
    Returns its path."""
    root = os.path.join(base, "lib/modules", version)
    os.makedirs(os.path.join(root, "kernel"), exist_ok=True)
    for name, aliases in (KERNEL_ALIASES if modules is None else modules).items():
        _fake_ko(os.path.join(root, "kernel", name + ".ko"), name, aliases)
    builtin = KERNEL_BUILTIN if builtin is None else builtin
    with open(os.path.join(root, "modules.builtin"), "w") as f:
        f.write("".join(f"kernel/drivers/usb/{name}.ko\n" for name in builtin))
    with open(os.path.join(root, "modules.builtin.modinfo"), "wb") as f:
        for name, aliases in builtin.items():
            f.write(b"".join(f"{name}.alias={a}".encode() + b"\0" for a in aliases))
    depmod = shutil.which("depmod") or "/sbin/depmod"
    subprocess.run([depmod, "-b", base, version], check=True, capture_output=True, timeout=60)
    assert os.path.exists(os.path.join(root, "modules.alias.bin"))
    return root


class NotifiedProcess:
    """A program a test starts (self.proc, its output in self.stderr_path) with
    an sd_notify socket of its own: what it said there (READY=1, STATUS=...)
    collects in self.notify. Used by Agent and mamori_notice.NotifyHelper."""

    program = "the program"  # names it in failures

    def bind_notify(self, path, mode=None):
        self.sock_path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        self.sock.setblocking(False)

    def close_notify(self):
        if getattr(self, "sock", None):
            self.sock.close()
            self.sock = None

    def poll_notify(self):
        while True:
            try:
                self.notify.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.notify

    def wait_notify(self, what, timeout=10):
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.program} exited with {self.proc.returncode}:\n{self.log()}")
            return any(what in m for m in self.poll_notify())
        wait_for(seen, timeout, what=f"{self.program}: {what}")

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


MAMORI_UPLINK = os.environ.get("MAMORI_UPLINK",
                               os.path.join(os.path.dirname(__file__), "../../build/agent/uplink/mamori-uplink"))


class Daemon(NotifiedProcess):
    """A program of mamori that a test starts, stops, kills and restarts
    (mamorid, mamori-uplink): every run must end by exit 0 or by a signal the
    test sent, and write no sanitizer report; what went wrong collects in
    self.problems (shared by the processes of one Agent) and fails the test
    at cleanup."""

    def _init_daemon(self, stderr_path, problems):
        self.proc = None
        self.notify = []
        self.stderr_path = stderr_path
        self.sent = set()        # signals the test sent to the current run
        self.problems = problems
        self.log_offset = 0      # where the current run's output starts in its log

    def _spawn(self, argv, env, wrapper=(), notify_mode=None):
        self.notify = []  # a restart must not see the last run's READY=1
        self.bind_notify(self.notify_path, notify_mode)
        env = dict(env, NOTIFY_SOCKET=self.sock_path)
        self.stderr = open(self.stderr_path, "ab")
        self.log_offset = self.stderr.tell()
        self.sent = set()
        # If the test process dies (a umockdev abort), the daemon goes with it.
        reaper = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self.proc = subprocess.Popen([*reaper, *wrapper, *argv], env=env, stdout=self.stderr, stderr=self.stderr)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        """A signal the test means to send: the run may end by it."""
        self.sent.add(sig)
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.send_signal(sig)
            self.proc.wait(timeout)
        rc = self.proc.returncode if self.proc else None
        self.close_notify()
        if getattr(self, "stderr", None) and not self.stderr.closed:
            self.stderr.close()
            self.check_run(rc)
        return rc

    def kill9(self):
        """kill -9 (the test's own crash), and wait for it to be gone."""
        return self.stop(signal.SIGKILL)

    def check_run(self, rc):
        """Every run must end by exit 0, or by a signal the test sent (a
        SIGKILL in a crash test), and write no sanitizer report."""
        out = self.run_log()
        if rc is not None and rc != 0 and not (rc < 0 and -rc in self.sent):
            how = f"died by signal {-rc}" if rc < 0 else f"exited with {rc}"
            self.problems.append(f"{self.program} {how} (signals the test sent: {sorted(self.sent)})")
        for marker in SANITIZER_MARKERS:
            if marker in out:
                self.problems.append(f"{self.program}'s output has a sanitizer report ({marker.strip()})")
                break

    def run_log(self):
        """The current (or last) run's output."""
        with open(self.stderr_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def log_size(self):
        return os.path.getsize(self.stderr_path) if os.path.exists(self.stderr_path) else 0

    def wait_log(self, needle, timeout=10, since=0, count=1, interval=0.01):
        """Waits until needle (str) is in the log count times from byte
        offset since (e.g. an earlier log_size()); fails early if the process
        died."""
        def seen():
            with open(self.stderr_path, "rb") as f:
                f.seek(since)
                if f.read().decode("utf-8", "replace").count(needle) >= count:
                    return True
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.program} exited with {self.proc.returncode} while waiting for "
                                     f"{needle!r}:\n{self.run_log()[-3000:]}")
            return False
        try:
            wait_for(seen, timeout, interval=interval, what=f"{needle!r} in the log of {self.program}")
        except AssertionError as e:
            if str(e).startswith("timed out"):  # (an exit says its own log)
                raise AssertionError(f"{e}\n--- its end ---\n{self.run_log()[-3000:]}") from None
            raise


class Uplink(Daemon):
    """The real mamori-uplink of an Agent: its own state and runtime
    directories under the agent's temp dir, the agent's spool read-only,
    the agent's mamori.conf, its own log (uplink.log)."""

    program = "mamori-uplink"

    def __init__(self, agent, extra_env=None):
        # Not a strong reference: a cycle would keep the agent, and with it
        # the test's UsbBed, alive until some garbage collection finalizes
        # that testbed in the middle of a later test.
        self.agent = weakref.proxy(agent)
        self.state = os.path.join(agent.dir, "uplink-state")
        self.runtime = os.path.join(agent.dir, "uplink-run")
        self.notify_path = os.path.join(agent.dir, "uplink-notify.sock")
        for d in (self.state, self.runtime):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        self.extra_env = extra_env or {}
        self.user = None  # (uid, gid): run as that user (setpriv), its directories chowned
        self._init_daemon(os.path.join(agent.dir, "uplink.log"), agent.problems)

    @property
    def cursor(self):
        return os.path.join(self.state, "cursor")

    @property
    def status_path(self):
        return os.path.join(self.runtime, "status")

    @property
    def dead_letter(self):
        return os.path.join(self.state, "dead-letter")

    def start(self, wait_ready=True, args=(), wrapper=None):
        a = self.agent
        env = dict(os.environ)
        env.update({
            "STATE_DIRECTORY": self.state,
            "RUNTIME_DIRECTORY": self.runtime,
            "MAMORI_SPOOL_DIR": os.path.join(a.state, "spool"),
            "MAMORI_LOG_TARGET": "stderr",
            "MAMORI_LOG_LEVEL": "debug",
        })
        env.pop("LD_PRELOAD", None)  # umockdev's: the uplink has no business with sysfs
        env.update(a.extra_env)
        env.update(self.extra_env)
        wrapper = a.wrapper if wrapper is None else wrapper
        user, mode = [], None
        if self.user is not None:
            mode = 0o666  # its sd_notify socket: the test's, writable by its user
            uid, gid = self.user
            for d in (self.state, self.runtime):
                for root, dirs, files in os.walk(d):
                    for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                        os.lchown(n, uid, gid)
            user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all"]
        self._spawn([*user, MAMORI_UPLINK, "--config", a.conf, *args], env, wrapper=[*wrapper], notify_mode=mode)
        if wait_ready:
            self.wait_notify("READY=1")
        return self

    def restart(self, sig=signal.SIGTERM, wait_ready=True):
        self.stop(sig)
        return self.start(wait_ready=wait_ready)

    def status(self):
        """The status file as a dict (KEY=VALUE lines), or None when missing."""
        try:
            with open(self.status_path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out

    def acked(self):
        """The uplink's delivery cursor: everything up to it was delivered."""
        return spool_reader.acked_file(self.cursor)


class Agent(Daemon):
    """The real mamorid, with its config, state and runtime under a temp
    dir, and, next to it, the real mamori-uplink (self.uplink) when the
    config has a collector section (or uplink=True): two processes, as
    systemd runs them. start(), stop() and reload() act on both; each has
    its own log (agent.log(), agent.uplink.log()) and its own kill9()."""

    program = "mamorid"

    def __init__(self, bed, main_conf=None, allow=None, extra_env=None, uplink=None, uplink_env=None):
        self.bed = bed
        self.dir = tempfile.mkdtemp(prefix="mamori-it-")
        self.etc = os.path.join(self.dir, "etc")
        self.allow_dir = os.path.join(self.etc, "allow.d")
        self.state = os.path.join(self.dir, "state")
        self.runtime = os.path.join(self.dir, "run")
        os.makedirs(self.allow_dir)
        # mamorid trusts only root's files in root's directories, writable by
        # nobody else (common/trusted-file.c): modes set here, not left to umask.
        os.chmod(self.etc, 0o755)
        os.chmod(self.allow_dir, 0o755)
        self.conf = os.path.join(self.etc, "mamori.conf")
        self.write_conf(main_conf if main_conf is not None else 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\n')
        for name, text in (allow or {}).items():
            self.write_allow(name, text)
        self.extra_env = extra_env or {}
        self.wrapper = ()
        self.notify_path = os.path.join(self.dir, "notify.sock")
        self._init_daemon(os.path.join(self.dir, "stderr.log"), [])
        # None: the uplink runs when the config (at start) has a collector section.
        self.want_uplink = uplink
        self.uplink = Uplink(self, uplink_env)

    def uplink_wanted(self):
        if self.want_uplink is not None:
            return self.want_uplink
        try:
            with open(self.conf) as f:
                return "collector" in f.read()
        except FileNotFoundError:
            return False  # a test of a missing mamori.conf

    def write_conf(self, text):
        # The pattern check runs on every agent (default: ClamAV in
        # /var/lib/clamav). A test that does not configure it gets it off, so
        # that this machine's ClamAV database never shows up in its events.
        if "antivirus" not in text:
            text += '\nantivirus = { engine = "none"; }; # mamori_testlib\n'
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def write_allow(self, name, text, mode=0o644):
        path = os.path.join(self.allow_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def start(self, wait_ready=True, args=(), wrapper=(), uplink=None, uplink_ready=None):
        """Starts mamorid, then (once it is ready: its spool is open and
        repaired) the uplink if wanted and not running. uplink=False: only
        mamorid; uplink_ready=False: do not wait for the uplink's READY=1."""
        self.wrapper = tuple(wrapper)
        env = dict(os.environ)
        env.update({
            "STATE_DIRECTORY": self.state,
            "RUNTIME_DIRECTORY": self.runtime,
            "MAMORI_UPLINK_STATE_DIR": self.uplink.state,
            "MAMORI_UPLINK_RUNTIME_DIR": self.uplink.runtime,
            "MAMORI_LOG_TARGET": "stderr",
            "MAMORI_LOG_LEVEL": "debug",
            # Testbed.new() sets this with setenv(); os.environ never saw it.
            "UMOCKDEV_DIR": self.bed.root,
            # Never the machine's real system bus: a test must not lock the
            # developer's screen. Tests that need one give their own.
            "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + os.path.join(self.dir, "no-system-bus"),
        })
        env.update(self.extra_env)
        self._spawn([MAMORID, "--config", self.conf, *args], env, wrapper=wrapper)
        if wait_ready:
            self.wait_notify("READY=1")
        if (self.uplink_wanted() if uplink is None else uplink) and not self.uplink.running():
            self.uplink.start(wait_ready=wait_ready if uplink_ready is None else uplink_ready)
        return self

    def reload(self):
        """SIGHUP to both (systemd's PropagatesReloadTo=); each says READY=1 again."""
        self.notify.clear()
        self.send_signal(signal.SIGHUP)
        if self.uplink.running():
            self.uplink.notify.clear()
            self.uplink.send_signal(signal.SIGHUP)
            self.uplink.wait_notify("READY=1")
        self.wait_notify("READY=1")

    def stop(self, sig=signal.SIGTERM, timeout=10, uplink=True):
        """Stops mamorid (and, unless uplink=False, the uplink before it, by
        the same signal: systemd's order, mamori-uplink.service being
        After=mamori.service); returns mamorid's exit status."""
        if uplink:
            self.uplink.stop(sig, timeout)
        return super().stop(sig, timeout)

    def kill9(self):
        """kill -9 of mamorid alone: the uplink goes on."""
        return self.stop(signal.SIGKILL, uplink=False)

    def cleanup(self):
        self.stop()
        if self.problems:
            # Keep the logs where meson's test log points at them.
            keep = os.environ.get("MAMORI_FAILED_LOGS", "/tmp")
            tails = []
            for d, what in ((self, "stderr.log"), (self.uplink, "uplink.log")):
                if not os.path.exists(d.stderr_path):
                    continue
                kept = os.path.join(keep, os.path.basename(self.dir) + "-" + what)
                try:
                    shutil.copyfile(d.stderr_path, kept)
                except OSError:
                    kept = "(could not keep it)"
                tail = open(d.stderr_path, errors="replace").read()[-4000:]
                tails.append(f"\n--- {d.program}'s log kept in {kept}; its end ---\n" + tail)
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError("; ".join(self.problems) + "".join(tails))
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_lines(self):
        """stderr, line by line, as bytes (so that a broken line stays visible)."""
        with open(self.stderr_path, "rb") as f:
            return f.read().split(b"\n")[:-1]

    def check_config(self, *args, conf=None):
        """Runs `mamorid --check-config`; returns (exit code, stdout, stderr)."""
        env = dict(os.environ, UMOCKDEV_DIR=self.bed.root)
        r = subprocess.run([MAMORID, "--config", conf or self.conf, "--check-config", *args],
                           capture_output=True, timeout=30, env=env)
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode >= 0 and not any(m in err for m in SANITIZER_MARKERS), \
            f"mamorid --check-config crashed (rc {r.returncode}):\n{err[-6000:]}"
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def events(self, kind=None):
        """What the agent recorded, from its spool (every record checked, every
        one valid JSON); with a collector, delivered ones may be gone."""
        return [ev for ev in spool_reader.events(os.path.join(self.state, "spool"))
                if kind is None or ev["kind"] == kind]

    def wait_events(self, kind, count=1, timeout=10, pred=None):
        def got():
            evs = [e for e in self.events(kind) if pred is None or pred(e)]
            return evs if len(evs) >= count else None
        return wait_for(got, timeout, what=f"{count} {kind} event(s)\n--- log ---\n" + self.log()[-3000:])
