#!/usr/bin/python3
"""Runs in the guest: watches one USB plug and prints what happened, when.

  watch-plug.py VERDICT_DIR SERIAL READY_FILE TIMEOUT

Times are CLOCK_REALTIME seconds (the host maps its own clock onto the guest's).
From the kernel's uevents (netlink, group 1, read as they arrive) it records
the new USB device, its interfaces (with `authorized` read from sysfs at once),
any driver bind below it and any block device below it. From inotify on
VERDICT_DIR it records the first write that contains SERIAL and a block
verdict: the daemon's record of its decision (mamori's state directory,
USBGuard's audit log directory). Prints one JSON object and exits when the
verdict is in, or at TIMEOUT seconds.
"""
import ctypes
import json
import os
import select
import socket
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


def main():
    vdir, serial, ready, timeout = sys.argv[1], sys.argv[2].encode(), sys.argv[3], float(sys.argv[4])
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    nl.bind((0, 1))
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if ino < 0 or libc.inotify_add_watch(ino, vdir.encode(), IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0:
        raise OSError(ctypes.get_errno(), "inotify on " + vdir)
    sizes = {}
    for n in os.listdir(vdir):
        p = os.path.join(vdir, n)
        if os.path.isfile(p):
            sizes[p] = os.path.getsize(p)

    res = {"device": None, "interfaces": [], "binds": [], "block": [], "verdict": None, "writes": 0}
    devpath = None
    with open(ready + ".tmp", "w") as f:
        f.write("%f\n" % time.time())
    os.rename(ready + ".tmp", ready)
    end = time.monotonic() + timeout
    while res["verdict"] is None and time.monotonic() < end:
        r, _, _ = select.select([nl, ino], [], [], max(0, end - time.monotonic()))
        now = time.time()
        if nl in r:
            msg = nl.recv(1 << 16)
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
        if ino in r:
            try:
                os.read(ino, 1 << 16)
            except BlockingIOError:
                pass
            res["writes"] += 1
            for n in os.listdir(vdir):
                p = os.path.join(vdir, n)
                if not os.path.isfile(p):
                    continue
                with open(p, "rb") as f:
                    f.seek(sizes.get(p, 0))
                    new = f.read()
                sizes[p] = sizes.get(p, 0) + len(new)
                # mamori: a usb.blocked event; USBGuard: an audit record with target block
                if serial in new and (b"usb.blocked" in new or b"block" in new):
                    res["verdict"] = {"t": now, "file": p}
    print(json.dumps(res))


main()
