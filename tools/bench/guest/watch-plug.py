#!/usr/bin/python3
"""Runs in the guest: watches one USB plug and prints what happened, when.

  watch-plug.py VERDICT_DIR SERIAL READY_FILE TIMEOUT [DELIVERED_DIR]

Times are CLOCK_REALTIME seconds (the host maps its own clock onto the guest's).
From the kernel's uevents (netlink, group 1, read as they arrive) it records
the new USB device, its interfaces (with `authorized` read from sysfs at once),
any driver bind below it and any block device below it. From udevd's
broadcast (netlink group 2, what libudev/sd-device listeners such as mamorid
receive) it records when udevd has processed the device's and its interfaces'
`add`. From inotify on
VERDICT_DIR it records the first write that contains SERIAL and a block
verdict: the daemon's record of its decision (mamori's state directory,
USBGuard's audit log directory). With DELIVERED_DIR, the same on that
directory: the first write of the usb.blocked event for SERIAL there is the
collector's record of it, made when it accepted the batch, right before its
2xx goes out (tests/integration/collector.py). Prints one JSON object and
exits 2 s after the verdict (and the delivery) is in, or at TIMEOUT seconds.
"""
import ctypes
import json
import os
import select
import socket
import struct
import sys
import time

NETLINK_KOBJECT_UEVENT = 15
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100


def rd(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def drain(sock):
    while True:
        try:
            yield sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return


def main():
    vdir, serial, ready, timeout = sys.argv[1], sys.argv[2].encode(), sys.argv[3], float(sys.argv[4])
    ddir = sys.argv[5] if len(sys.argv) > 5 else None
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    nl.bind((0, 1))
    ud = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    ud.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    ud.bind((0, 2))
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if ino < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")

    def files(top=vdir):
        """Every file below VERDICT_DIR (mamori's spool is a subdirectory); watches every directory."""
        out = []
        for d, _, names in os.walk(top):
            if libc.inotify_add_watch(ino, d.encode(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0:
                raise OSError(ctypes.get_errno(), "inotify on " + d)
            out += [os.path.join(d, n) for n in names if os.path.isfile(os.path.join(d, n))]
        return out

    sizes = {p: os.path.getsize(p) for p in files() + (files(ddir) if ddir else [])}

    res = {"device": None, "interfaces": [], "binds": [], "block": [], "verdict": None, "writes": 0,
           "udev": [], "delivered": None}
    devpath = None
    with open(ready + ".tmp", "w") as f:
        f.write("%f\n" % time.time())
    os.rename(ready + ".tmp", ready)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([nl, ud, ino], [], [], max(0, end - time.monotonic()))
        now = time.time()
        # kernel uevents first, all of them: udevd's copy of an event never comes before it
        for msg in drain(nl) if nl in r else ():
            parts = msg.split(b"\0")
            env = dict(p.decode(errors="replace").split("=", 1) for p in parts[1:] if b"=" in p)
            act, dp = env.get("ACTION"), env.get("DEVPATH", "")
            if act == "add" and env.get("DEVTYPE") == "usb_device" and devpath is None and "/usb" in dp:
                devpath = dp
                res["device"] = {"t": now, "devpath": dp, "authorized": rd("/sys" + dp + "/authorized")}
            elif devpath and dp.startswith(devpath + "/"):
                if act == "add" and env.get("DEVTYPE") == "usb_interface":
                    res["interfaces"].append({"t": now, "name": os.path.basename(dp),
                                              "class": env.get("INTERFACE"),
                                              "authorized": rd("/sys" + dp + "/authorized")})
                elif act == "bind":
                    res["binds"].append({"t": now, "devpath": dp, "driver": env.get("DRIVER")})
                elif act == "add" and env.get("SUBSYSTEM") == "block":
                    res["block"].append({"t": now, "devpath": dp})
        for msg in drain(ud) if ud in r else ():
            # "libudev\0", magic, header_size, properties_off, properties_len, ...
            if msg.startswith(b"libudev\0") and len(msg) >= 24:
                off, ln = struct.unpack_from("=II", msg, 16)
                env = dict(p.decode(errors="replace").split("=", 1)
                           for p in msg[off:off + ln].split(b"\0") if b"=" in p)
                if env.get("ACTION") == "add" and env.get("SUBSYSTEM") == "usb" and devpath and \
                        (env.get("DEVPATH") == devpath or env.get("DEVPATH", "").startswith(devpath + "/")):
                    res["udev"].append({"t": now, "devtype": env.get("DEVTYPE"), "interface": env.get("INTERFACE")})
        if ino in r:
            try:
                os.read(ino, 1 << 16)
            except BlockingIOError:
                pass
            res["writes"] += 1
            for p in files() + (files(ddir) if ddir else []):
                try:
                    with open(p, "rb") as f:
                        f.seek(sizes.get(p, 0))
                        new = f.read()
                except FileNotFoundError:
                    continue
                sizes[p] = sizes.get(p, 0) + len(new)
                if ddir and p.startswith(ddir.rstrip("/") + "/"):
                    if res["delivered"] is None and serial in new and b"usb.blocked" in new:
                        res["delivered"] = {"t": now, "file": p}
                        if res["verdict"]:
                            end = min(end, time.monotonic() + 2)
                    continue
                # mamori: a usb.blocked event; USBGuard: an audit record with target block
                if res["verdict"] is None and serial in new and (b"usb.blocked" in new or b"block" in new):
                    res["verdict"] = {"t": now, "file": p}
                    # watch a little longer: udevd's broadcast, any late bind or block device
                    # (and, with a collector, until the event has reached it)
                    if not ddir or res["delivered"]:
                        end = min(end, time.monotonic() + 2)
    print(json.dumps(res))


main()
