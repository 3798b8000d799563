# SPDX-License-Identifier: MIT
def test_unlisted_stick_is_blocked(bed, make_agent):
    a = make_agent().start()
    dev, ifs = bed.add_usb("0781", "5567", serial="4C530001")
    ev = a.wait_events("usb.blocked")[0]
    assert bed.authorized(ifs[0]) == "0"
    assert ev["device"]["vendor_id"] == "0781"
