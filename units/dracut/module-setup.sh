#!/bin/bash
# dracut module: put mamori's udev rule into the initramfs, so that a USB stick
# plugged in at power-on is held back (authorized=0) from the first udev
# coldplug on, before the root file system and mamorid are there.

check() {
    # Included whenever mamori is installed.
    return 0
}

depends() {
    echo udev-rules
    return 0
}

install() {
    inst_rules 70-mamori.rules
    # its helper: storage behind a harmless class, from the module aliases
    inst_multiple -o "${udevdir:-/usr/lib/udev}/mamori-usb-alias"
}
