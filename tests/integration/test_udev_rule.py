# SPDX-License-Identifier: MIT
"""units/70-mamori.rules, run by the real udev rule engine (`udevadm test`, which
parses the rules and applies ATTR assignments) against the umockdev testbed, in
a private mount namespace where it is the only rules file. systemd 252 has no
`udevadm verify`: the parse check is udevadm's own rule parser, and the
negative control proves that the check sees a broken rule. The VM suite runs
the rule on a real kernel."""

import os
import re
import shutil
import subprocess

import pytest

from mamori_testlib import Agent
from usb_support import (ADB, DEVICE_DESC, HUB, KEYBOARD, MOUSE, MTP, STORAGE, barrier, config_desc, sysname,
                         usb_events)

RULE = os.path.join(os.environ.get("MAMORI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                    "units/70-mamori.rules")
RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d", "/lib/udev/rules.d")

# Run udevadm with only our rule visible (tmpfs over every rules directory).
SCRIPT = r'''
rule=$1; action=$2; syspath=$3
for d in %s; do [ -d "$d" ] && mount -t tmpfs tmpfs "$d"; done
cp "$rule" /etc/udev/rules.d/ || exit 99
exec udevadm test --action="$action" "$syspath"
''' % " ".join(RULES_DIRS)


@pytest.fixture(scope="module", autouse=True)
def need_udevadm():
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    if not shutil.which("udevadm") or not os.path.isdir("/etc/udev/rules.d"):
        pytest.skip("udev is not installed")


def udevadm_test(bed, syspath, action="add", rule=RULE):
    env = dict(os.environ, UMOCKDEV_DIR=bed.root)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh",
                        rule, action, syspath], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stderr


def rule_problems(output, rule=RULE):
    """udevadm's complaints about our file: "<file>:<line> Invalid key ..." etc."""
    return [line for line in output.splitlines() if re.match(r"/\S*/" + re.escape(os.path.basename(rule)) + ":", line)]


def test_rule_parses_cleanly(bed):
    out = udevadm_test(bed, bed.hubs[1])
    assert f"Reading rules file: /etc/udev/rules.d/{os.path.basename(RULE)}" in out, out
    assert rule_problems(out) == [], "\n".join(rule_problems(out))


def test_parse_check_sees_a_broken_rule(bed, tmp_path):
    """Negative control: the same check on a rule with a typo fails."""
    broken = tmp_path / "70-mamori.rules"
    text = open(RULE).read().replace('ATTR{bInterfaceClass}=="?*", ATTR{authorized}="1"',
                                     'ATTR{bInterfaceClass}=="?*", ATTRS{authorised}="1"')
    text = text.replace('LABEL="mamori_end"', 'LABEL="mamori_ned"')
    broken.write_text(text)
    problems = rule_problems(udevadm_test(bed, bed.hubs[1], rule=str(broken)), rule=str(broken))
    assert any("mamori_end" in p and "no matching label" in p for p in problems), problems
    assert len(problems) >= 2, problems


def test_root_hub_add_makes_interfaces_start_unauthorized(bed):
    assert bed.interface_default(1) == "1"
    out = udevadm_test(bed, bed.hubs[1])
    assert re.search(r"70-mamori\.rules:\d+ ATTR '.*/usb1/interface_authorized_default' writing '0'", out), out
    assert bed.interface_default(1) == "0"
    assert bed.interface_default(2) == "1"
    # a "change" (udevadm trigger) does nothing
    udevadm_test(bed, bed.hubs[2], action="change")
    assert bed.interface_default(2) == "1"


def test_a_device_is_not_a_root_hub(bed):
    dev, _ = bed.add_usb("0781", "5567", serial="S", uevent=False)
    udevadm_test(bed, dev)
    assert bed.never_written(dev)


# 4. A controller that appears at run time (tests/vm: the dock scenario measures it on a real kernel).
def test_root_hub_add_makes_later_controllers_hold_their_devices(bed):
    """From the first root hub on, usbcore's authorized_default is 0: the kernel
    gives it to controllers added later, so a device behind one waits for udev."""
    param = bed.sys("/sys/module/usbcore/parameters", "authorized_default")
    os.makedirs(os.path.dirname(param), exist_ok=True)
    with open(param, "w") as f:
        f.write("-1\n")
    out = udevadm_test(bed, bed.hubs[1])
    assert re.search(r"70-mamori\.rules:\d+ ATTR '.*/module/usbcore/parameters/authorized_default' writing '0'",
                     out), out
    assert open(param).read()[:1] == "0"  # a plain file: udev writes over "-1" without truncating
    assert bed.interface_default(1) == "0"


def test_without_the_module_parameter_the_root_hub_rule_still_works(bed):
    out = udevadm_test(bed, bed.hubs[1])
    assert bed.interface_default(1) == "0"
    assert rule_problems(out) == [], "\n".join(rule_problems(out))


def test_device_held_back_whole_is_configured_once_its_bus_holds_interfaces(bed):
    """A device behind a controller added at run time comes up unconfigured
    (authorized=0); once its root hub makes new interfaces start unauthorized,
    the rule authorizes the device: its interfaces come up unauthorized."""
    udevadm_test(bed, bed.hubs[2])
    dev, _ = bed.add_usb("0781", "5567", serial="DOCK1", interfaces=(), uevent=False)
    bed.write_raw(dev, "authorized", b"0")
    out = udevadm_test(bed, dev)
    assert bed.authorized(dev) == "1", out
    assert re.search(r"70-mamori\.rules:\d+ ATTR '.*/2-\d+/authorized' writing '1'", out), out


def test_device_held_back_whole_on_a_bus_that_lets_interfaces_in_is_left_alone(bed):
    """Authorizing it there would give a stick its driver at once: mamorid decides."""
    assert bed.interface_default(2) == "1"
    dev, _ = bed.add_usb("0781", "5567", serial="DOCK2", interfaces=(), uevent=False)
    bed.write_raw(dev, "authorized", b"0")
    udevadm_test(bed, dev)
    assert bed.attr(dev, "authorized") == b"0"


HARMLESS = {"01": "audio", "03": "HID", "05": "physical", "07": "printer", "09": "hub", "0b": "smart card",
            "0d": "content security", "0e": "video", "0f": "healthcare", "10": "audio/video",
            "11": "billboard", "12": "USB-C bridge", "dc": "diagnostic", "fe": "application specific"}
LEFT_TO_MAMORID = {"08": "mass storage", "06": "still image (PTP/MTP)", "ff": "vendor specific (MTP, ADB)",
                   "e0": "wireless (RNDIS)", "ef": "miscellaneous (RNDIS)", "02": "CDC (ECM/NCM)",
                   "0a": "CDC data"}


@pytest.mark.parametrize("cls", sorted(HARMLESS))
def test_harmless_interface_is_authorized_and_probed(bed, cls):
    dev, (i,) = bed.add_usb("1234", "0001", interfaces=((cls, "00", "00", None),), iface_authorized="0",
                            uevent=False)
    out = udevadm_test(bed, i)
    assert bed.authorized(i) == "1", out
    assert re.search(rf"70-mamori\.rules:\d+ ATTR '/sys/bus/usb/drivers_probe' writing '{re.escape(sysname(i))}'",
                     out), out
    assert bed.drivers_probe() == [sysname(i)]


@pytest.mark.parametrize("cls", sorted(LEFT_TO_MAMORID))
def test_possible_storage_phone_or_tethering_interface_stays_unauthorized(bed, cls):
    dev, (i,) = bed.add_usb("1234", "0002", interfaces=((cls, "00", "00", None),), iface_authorized="0",
                            uevent=False)
    out = udevadm_test(bed, i)
    assert bed.authorized(i) == "0"
    assert bed.attr(i, "authorized") == b"0", "written"
    assert bed.drivers_probe() == []
    assert "drivers_probe" not in out


@pytest.mark.parametrize("cls", sorted(LEFT_TO_MAMORID))
def test_coldplug_interface_without_driver_is_taken_back(bed, cls):
    """A stick plugged in at power-on: its interface was created authorized
    before the root hub's default was set, and its driver is not bound yet
    (the module is loaded after the rules ran). The rule takes it back."""
    dev, (i,) = bed.add_usb("0781", "5567", serial="BOOT1", interfaces=((cls, "06", "50", None),),
                            iface_authorized="1", uevent=False)
    out = udevadm_test(bed, i)
    assert bed.authorized(i) == "0", out
    assert re.search(rf"70-mamori\.rules:\d+ ATTR '.*{re.escape(sysname(i))}/authorized' writing '0'", out), out
    assert bed.drivers_probe() == []


def test_coldplug_interface_with_a_driver_is_left_to_mamorid(bed):
    """`udevadm trigger --action=add` must never pull a stick that is in use:
    an interface bound to its driver is mamorid's to decide."""
    dev, (i,) = bed.add_usb("0781", "5567", serial="INUSE1", interfaces=(STORAGE,), iface_authorized="1",
                            uevent=False)
    drv = os.path.join(bed.root, "sys/bus/usb/drivers/usb-storage")
    os.makedirs(drv, exist_ok=True)
    os.symlink(drv, bed.sys(i, "driver"))
    udevadm_test(bed, i)
    assert bed.never_written(i)


def test_interface_already_authorized_is_left_alone(bed):
    dev, (i,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), iface_authorized="1", uevent=False)
    udevadm_test(bed, i)
    assert bed.never_written(i)
    assert bed.drivers_probe() == []


def test_without_mamorid_storage_fails_closed_and_keyboards_work_then_mamorid_decides(bed, make_agent):
    """What a machine does with the rule and without mamorid (not started yet,
    crashed, stopped), then what mamorid does when it starts."""
    for bus in (1, 2):
        udevadm_test(bed, bed.hubs[bus])
    # Plugged while mamorid is not running: the kernel makes interfaces start
    # unauthorized (iface_authorized=None follows the root hub), udev runs the rule.
    kd, (kbd,) = bed.add_usb("046d", "c31c", interfaces=(KEYBOARD,), iface_authorized=None, bus=1, uevent=False)
    md, (mouse,) = bed.add_usb("046d", "c077", interfaces=(MOUSE,), iface_authorized=None, bus=1, uevent=False)
    hd, (hub,) = bed.add_usb("05e3", "0610", interfaces=(HUB,), device_class="09", iface_authorized=None, uevent=False)
    sd, (stick,) = bed.add_usb("0930", "6545", serial="NOAGENT1", interfaces=(STORAGE,), iface_authorized=None,
                               parent=hd, port=1, uevent=False)
    pd, (mtp, adb) = bed.add_usb("18d1", "4ee2", serial="PHONE1", interfaces=(MTP, ADB), iface_authorized=None,
                                 uevent=False)
    probed = []
    for i in (kbd, mouse, hub, stick, mtp, adb):
        open(bed.sys("/sys/bus/usb", "drivers_probe"), "w").close()
        udevadm_test(bed, i)
        probed += bed.drivers_probe()  # udev overwrites it: read it after each run
    open(bed.sys("/sys/bus/usb", "drivers_probe"), "w").close()
    assert [bed.authorized(i) for i in (kbd, mouse, hub)] == ["1", "1", "1"], "keyboards depend on mamorid"
    assert [bed.authorized(i) for i in (stick, mtp, adb)] == ["0", "0", "0"], "storage did not fail closed"
    assert probed == [sysname(kbd), sysname(mouse), sysname(hub)]
    after_udev = {i: bed.attr(i, "authorized") for i in (kbd, mouse, hub)}

    a = make_agent().start()
    # mamorid leaves what udev brought up alone, keeps the stick and MTP
    # blocked, and brings up ADB (not a blocked category).
    assert bed.authorized(stick) == "0" and bed.authorized(mtp) == "0"
    assert bed.authorized(adb) == "1" and sysname(adb) in bed.drivers_probe()
    assert {i: bed.attr(i, "authorized") for i in (kbd, mouse, hub)} == after_udev
    a.wait_events("usb.blocked", count=2)
    barrier(bed, a)
    assert sorted(e["device"]["serial"] for e in usb_events(a, "usb.blocked")) == ["NOAGENT1", "PHONE1"]
    assert usb_events(a, "usb.allowed") == []


# ---- storage behind a harmless class: mamori-usb-alias ----

ALIAS_HELPER = os.path.join(os.environ.get("MAMORI_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")),
                            "tools/udev/mamori-usb-alias")
PRINTER = ("07", "01", "02", None)


@pytest.fixture(scope="module")
def modules_dir(tmp_path_factory):
    from mamori_testlib import make_modules_dir
    return make_modules_dir(str(tmp_path_factory.mktemp("modules")))


@pytest.fixture
def alias_rule(bed, tmp_path, modules_dir):
    """The rule as installed, but calling the built helper on the test's modules
    directory (udev runs IMPORT{program} with the device's properties as its
    only environment: a path on the command line is the one way in)."""
    def make(mods=modules_dir):
        text = open(RULE).read()
        assert text.count('"mamori-usb-alias $env{MODALIAS}"') == 2, "the rule no longer calls the helper twice"
        text = text.replace('"mamori-usb-alias $env{MODALIAS}"',
                            f'"{ALIAS_HELPER} --modules-dir {mods} --sys-root {bed.root} $env{{MODALIAS}}"')
        path = tmp_path / "70-mamori.rules"
        path.write_text(text)
        return str(path)
    return make


def test_harmless_class_on_a_storage_id_is_left_to_mamorid(bed, alias_rule):
    """Epson 785EPX rev 1.10: usb-storage's unusual_devs takes it whatever it
    announces. The printer interface must not be authorized by the rule."""
    dev, (i,) = bed.add_usb("04b8", "0602", interfaces=(PRINTER,), iface_authorized="0", bcd_device="0110",
                            uevent=False)
    rule = alias_rule()
    out = udevadm_test(bed, i, rule=rule)
    assert bed.authorized(i) == "0", out
    assert bed.drivers_probe() == []
    assert "MAMORI_DRIVER_CATEGORY=storage" in out or "MAMORI_DRIVER_CATEGORY" in out, out
    assert rule_problems(out, rule=rule) == []


@pytest.mark.parametrize("ids", [("0bc2", "3332"), ("0bda", "0129")], ids=["usb-storage", "rtsx_usb"])
def test_keyboard_on_a_storage_id_is_left_to_mamorid(bed, alias_rule, ids):
    """A "keyboard" on an id a storage or card reader driver takes is not a
    keyboard the rule may bring up (BadUSB in reverse)."""
    dev, (i,) = bed.add_usb(*ids, interfaces=(("03", "01", "01", None),), iface_authorized="0", uevent=False)
    udevadm_test(bed, i, rule=alias_rule())
    assert bed.authorized(i) == "0"
    assert bed.drivers_probe() == []


@pytest.mark.parametrize("cls", sorted(HARMLESS))
def test_harmless_interface_with_the_helper_still_comes_up(bed, alias_rule, cls):
    """Keyboards, hubs, audio, ... on ordinary ids: the helper finds no storage
    driver, the rule authorizes and probes them, without mamorid."""
    dev, (i,) = bed.add_usb("046d", "c31c", interfaces=((cls, "01", "01", None),), iface_authorized="0", uevent=False)
    out = udevadm_test(bed, i, rule=alias_rule())
    assert bed.authorized(i) == "1", out
    assert bed.drivers_probe() == [sysname(i)]


# ---- alternate settings: mamori-usb-alias reads the device's descriptors ----

def with_descriptors(bed, vendor, interfaces, descs, authorized="0"):
    dev, ifs = bed.add_usb(vendor, "0001", interfaces=interfaces, iface_authorized=authorized, uevent=False)
    bed.write_raw(dev, "descriptors", DEVICE_DESC + config_desc(*descs))
    return dev, ifs


def test_keyboard_whose_alternate_setting_is_storage_is_left_to_mamorid(bed, alias_rule):
    """Interface 0 is a keyboard at alternate setting 0 and mass storage at 1:
    the rule must not bring it up (a program holding it through usbfs could
    switch it to storage). The keyboard of a composite keyboard+stick, and a
    keyboard with a harmless alternate setting, still come up."""
    dev, (k,) = with_descriptors(bed, "1a2b", (KEYBOARD,), [(0, 0, 3, 1, 1), (0, 1, 8, 6, 0x50)])
    out = udevadm_test(bed, k, rule=alias_rule())
    assert "MAMORI_ALTERNATE_CLASS=08" in out, out
    assert bed.authorized(k) == "0"
    assert bed.drivers_probe() == []

    cdev, (k2, stor) = with_descriptors(bed, "1a2c", (KEYBOARD, STORAGE), [(0, 0, 3, 1, 1), (1, 0, 8, 6, 0x50)])
    udevadm_test(bed, k2, rule=alias_rule())
    assert bed.authorized(k2) == "1"
    assert bed.drivers_probe() == [sysname(k2)]
    kdev, (k3,) = with_descriptors(bed, "1a2d", (KEYBOARD,), [(0, 0, 3, 1, 1), (0, 1, 3, 0, 0)])
    udevadm_test(bed, k3, rule=alias_rule())
    assert bed.authorized(k3) == "1"
    assert bed.drivers_probe() == [sysname(k3)]


def test_coldplug_takes_back_a_keyboard_whose_alternate_setting_is_storage(bed, alias_rule):
    dev, (k,) = with_descriptors(bed, "1a2e", (KEYBOARD,), [(0, 0, 3, 1, 1), (0, 2, 8, 6, 0x50)], authorized="1")
    udevadm_test(bed, k, rule=alias_rule())
    assert bed.authorized(k) == "0"


def test_without_module_aliases_the_class_decides(bed, alias_rule, tmp_path):
    """No modules directory (a container; a kernel whose modules are gone): the
    helper says so and the rule falls back to the class. mamorid then blocks
    the interface if usb-storage binds (test_usb_drivers.py)."""
    dev, (i,) = bed.add_usb("04b8", "0602", interfaces=(PRINTER,), iface_authorized="0", bcd_device="0110",
                            uevent=False)
    out = udevadm_test(bed, i, rule=alias_rule(str(tmp_path / "no-such-kernel")))
    assert bed.authorized(i) == "1", out
    kd, (k,) = bed.add_usb("046d", "c31c", interfaces=(("03", "01", "01", None),), iface_authorized="0", uevent=False)
    udevadm_test(bed, k, rule=alias_rule(str(tmp_path / "no-such-kernel")))
    assert bed.authorized(k) == "1"


def test_coldplug_harmless_class_on_a_storage_id_is_taken_back(bed, alias_rule):
    """At power-on the printer interface of the 785EPX is created authorized;
    before usb-storage's module is loaded the rule takes it back. A keyboard
    that is not bound yet is left alone."""
    dev, (i,) = bed.add_usb("04b8", "0602", interfaces=(PRINTER,), iface_authorized="1", bcd_device="0110",
                            uevent=False)
    kd, (k,) = bed.add_usb("046d", "c31c", interfaces=(("03", "01", "01", None),), iface_authorized="1", uevent=False)
    rule = alias_rule()
    out = udevadm_test(bed, i, rule=rule)
    assert bed.authorized(i) == "0", out
    udevadm_test(bed, k, rule=rule)
    assert bed.never_written(k)
