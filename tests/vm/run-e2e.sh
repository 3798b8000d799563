#!/bin/sh
# The meson test 'vm-e2e': builds the .deb and the guest image, then runs
# test_e2e.py in a QEMU guest. Exit 77 (skip) without root or QEMU; CI has both.
#
#   tests/vm/run-e2e.sh BUILD_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run-e2e.sh BUILD_DIR}" && pwd)

if [ "$(id -u)" != 0 ]; then echo "vm test: needs root (mmdebstrap, QEMU); skipped"; exit 77; fi
for t in qemu-system-x86_64 qemu-img mmdebstrap mkfs.ext4 dpkg-deb; do
  command -v $t >/dev/null 2>&1 || { echo "vm test: $t missing (tools/dev/install-deps.sh test); skipped"; exit 77; }
done

t0=$(date +%s)
# The upgrade scenario installs this commit's package first: the last
# one-process version, whose mamorid delivered the events itself (issue 11).
MAMORI_VM_UPGRADE_FROM=${MAMORI_VM_UPGRADE_FROM-a614a22}
export MAMORI_VM_UPGRADE_FROM
# the collector's package too, and a guest image with PostgreSQL (e2e_collector.py)
MAMORI_VM_COLLECTOR=${MAMORI_VM_COLLECTOR-1}
export MAMORI_VM_COLLECTOR
# eval "$(prepare.sh)" would go on with DEB and IMAGE unset when prepare.sh fails
vars=$("$here/prepare.sh" "$build/vm") || { echo "vm test: prepare.sh failed (its messages are above)"; exit 1; }
eval "$vars"
echo "vm test: .deb and image ready after $(( $(date +%s) - t0 ))s: $DEB, $IMAGE"
exec /usr/bin/python3 "$here/test_e2e.py" --image "$IMAGE" --deb "$DEB" ${OLD_DEB:+--old-deb "$OLD_DEB"} \
  ${COLLECTOR_DEB:+--collector-deb "$COLLECTOR_DEB"}
