#!/bin/sh
# uevent -> block -> desktop notification, through the real mamorid, the
# shipped bus policy and mamori-notify (tools/bench/notice_latency.py says
# what is measured). Prints figures; not a pass/fail test. Root.
#
#   tools/bench/notice-latency.sh [--plugs N]     (default build dir: build/)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${MAMORI_BUILD_DIR:-$top/build}
[ -x "$build/agent/mamorid" ] || { echo "build first: meson setup build && ninja -C build" >&2; exit 1; }
export MAMORID="$build/agent/mamorid" MAMORI_NOTIFY="$build/tools/notify/mamori-notify"
export MAMORI_BUILD_DIR="$build" MAMORI_SOURCE_DIR="$top" PYTHONDONTWRITEBYTECODE=1
exec umockdev-wrapper /usr/bin/python3 "$top/tools/bench/notice_latency.py" "$@"
