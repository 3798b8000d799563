#!/bin/sh
# mamori vs USBGuard blocking the same stick in a QEMU guest (tools/bench/vm_usbguard.py
# says what is measured). Prints figures; not a pass/fail test. Root, like tests/vm.
#
#   tools/bench/vm-usbguard.sh [--reps N] [--json FILE]
#   MAMORI_VM_DEB=path/to/mamori.deb tools/bench/vm-usbguard.sh   (skip building the .deb)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${MAMORI_BENCH_DIR:-$top/build-bench}
eval "$("$top/tests/vm/prepare.sh" "$out" usbguard)"
exec /usr/bin/python3 "$top/tools/bench/vm_usbguard.py" --image "$IMAGE" --deb "$DEB" "$@"
