#!/bin/sh
# The meson test 'vm-mmc': builds the .deb and the guest image (prepare.sh,
# no upgrade, no collector), then runs e2e_mmc.py: an SD card in QEMU's
# sdhci-pci, in a guest of its own. Exit 77 (skip) without root or QEMU.
#
#   tests/vm/run-mmc.sh BUILD_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run-mmc.sh BUILD_DIR}" && pwd)

if [ "$(id -u)" != 0 ]; then echo "vm test: needs root (mmdebstrap, QEMU); skipped"; exit 77; fi
for t in qemu-system-x86_64 qemu-img mmdebstrap mkfs.ext4 dpkg-deb; do
  command -v $t >/dev/null 2>&1 || { echo "vm test: $t missing (tools/dev/install-deps.sh test); skipped"; exit 77; }
done
qemu-system-x86_64 -device help 2>/dev/null | grep -q '"sdhci-pci"' ||
  { echo "vm test: this QEMU has no sdhci-pci; skipped"; exit 77; }

vars=$(MAMORI_VM_UPGRADE_FROM='' MAMORI_VM_COLLECTOR=0 "$here/prepare.sh" "$build/vm-mmc") ||
  { echo "vm test: prepare.sh failed (its messages are above)"; exit 1; }
eval "$vars"
exec /usr/bin/python3 "$here/e2e_mmc.py" --image "$IMAGE" --deb "$DEB"
