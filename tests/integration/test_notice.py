# SPDX-License-Identifier: MIT
"""Notices for the person at the seat: the real mamorid under umockdev, a
private system bus with the shipped bus policy, a private session bus with
dbusmock's notification server, and mamori-notify between them."""
import os

import pytest

from mamori_notice import NoticeWorld, settle

if os.geteuid() != 0:
    pytest.skip("needs root: the user side runs as another user", allow_module_level=True)

NOTICE_CONF = 'usb = { block = [ "storage", "mtp", "ptp", "tethering" ]; };\nnotice = { burst = 2; interval = 2; };\n'


@pytest.fixture
def world():
    with NoticeWorld() as w:
        yield w


def test_unlisted_stick_english(bed, make_agent, world):
    world.helper(lang="en_US.UTF-8").start()
    a = make_agent(main_conf=NOTICE_CONF, extra_env=world.agent_env()).start()
    dev, ifs = bed.add_usb("0781", "5567", serial="4C530001", product_name="Cruzer Blade")
    ev = a.wait_events("usb.blocked")[0]
    n = world.wait_notifications(1)[0]
    assert n["app_name"] == "mamori"
    assert n["summary"] == "USB device “Cruzer Blade” is blocked"
    assert "has not been approved" in n["body"]
    assert "対策基準 第3-6" in n["body"]
    assert ev["id"][:8] in n["body"]
    assert n["hints"]["urgency"] == 1
    assert n["app_icon"] == "drive-removable-media"
