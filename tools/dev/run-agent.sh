#!/bin/sh
# Builds mamorid and runs it in the foreground with the shipped policy from
# policy/, state and runtime files under build/run/. As root it enforces on
# this machine's real USB bus: an unlisted stick plugged in now is blocked.
set -eu
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh build
[ -d build ] || meson setup build
ninja -C build
mkdir -p build/run/state build/run/runtime
export STATE_DIRECTORY="$PWD/build/run/state" RUNTIME_DIRECTORY="$PWD/build/run/runtime"
exec ./build/agent/mamorid --config policy/mamori.conf "$@"
