#!/usr/bin/python3
"""Runs in the guest: prints the USB devices (not root hubs) as JSON, from sysfs.

For each device: ids, serial, authorized, its interfaces (class, authorized,
driver) and the block devices below it."""
import json
import os

SYS = "/sys/bus/usb/devices"


def rd(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def driver(path):
    try:
        return os.path.basename(os.readlink(os.path.join(path, "driver")))
    except OSError:
        return None


def blocks():
    out = {}
    for b in os.listdir("/sys/block"):
        out[b] = os.path.realpath(os.path.join("/sys/block", b))
    return out


def main():
    blk = blocks()
    devices = []
    for name in sorted(os.listdir(SYS)):
        if name.startswith("usb") or ":" in name:
            continue
        p = os.path.realpath(os.path.join(SYS, name))
        d = {
            "sysname": name,
            "devpath": p[len("/sys"):],
            "id": "%s:%s" % (rd(p + "/idVendor"), rd(p + "/idProduct")),
            "serial": rd(p + "/serial"),
            "authorized": rd(p + "/authorized"),
            "configuration": rd(p + "/bConfigurationValue"),
            "interfaces": [],
            "block": sorted(b for b, bp in blk.items() if bp.startswith(p + "/")),
        }
        for i in sorted(os.listdir(p)):
            ip = os.path.join(p, i)
            if not i.startswith(name + ":"):
                continue
            d["interfaces"].append({
                "name": i,
                "class": rd(ip + "/bInterfaceClass"),
                "authorized": rd(ip + "/authorized"),
                "driver": driver(ip),
            })
        devices.append(d)
    hubs = {}
    for name in sorted(os.listdir(SYS)):
        if name.startswith("usb"):
            p = os.path.join(SYS, name)
            hubs[name] = {"authorized_default": rd(p + "/authorized_default"),
                          "interface_authorized_default": rd(p + "/interface_authorized_default")}
    print(json.dumps({"devices": devices, "root_hubs": hubs, "block": sorted(blk)}))


main()
