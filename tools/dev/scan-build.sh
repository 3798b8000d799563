#!/bin/sh
# clang's static analyzer (scan-build) over a fresh clang build of the daemon,
# the tools and the tests (not the fuzz targets). Prints every report that
# counts as "file:line: message [checker]" and ends with "scan-build: N reports";
# exits 1 when N > 0. $1: the build dir (default build-scan); the HTML and
# plist reports go to $1/scan-reports (scan-view $1/scan-reports/* shows them).
# tools/dev/scan-report.py says which reports do not count (the analyzer's
# blind spot for cleanup attributes) and why.
set -eu
cd "$(dirname "$0")/../.."
b=${1:-build-scan}
rm -rf "$b"
# scan-build replaces CC at setup time (meson records it) and then analyses
# each file as ninja compiles it.
scan-build --use-cc=clang meson setup "$b" -Dtests=true -Dfuzz=false -Dbuildtype=debug >/dev/null
scan-build --use-cc=clang -o "$b/scan-reports" -plist-html --keep-empty ninja -C "$b" >"$b/scan-build.log" 2>&1 ||
  { tail -30 "$b/scan-build.log"; echo "scan-build: the build FAILED"; exit 1; }
exec /usr/bin/python3 tools/dev/scan-report.py "$b/scan-reports"
