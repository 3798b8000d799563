#!/bin/sh
# The whole test suite, as CI runs it (as root, on Debian 12):
#  1. a -Werror build and every test suite (unit, integration, fuzz smoke,
#     packaging, the QEMU end-to-end test),
#  2. the same code built with ASan+UBSan, and the unit and integration
#     suites again under it.
# Ends with one line "N passed, N failed".
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
tools/dev/install-deps.sh test

# umockdev delivers uevents over datagram sockets; bursts need a longer queue.
sysctl -q -w net.unix.max_dgram_qlen=512 2>/dev/null || true

summary() { # build dir -> "passed failed skipped" from meson's test log
  /usr/bin/python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
except FileNotFoundError:
    f += 1
print(p, f, s)
PY
}

rc=0
suites=${MAMORI_TEST_SUITES:-}

echo "=== pass 1: -Werror build, every suite"
rm -rf build-ci
meson setup build-ci -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes 2 $suites || rc=1
set -- $(summary build-ci); p1=$1 f1=$2 s1=$3
# The unit's `systemd-analyze security` score, measured by the units suite.
grep -ho "SECURITY EXPOSURE mamori.service: [0-9.]*" build-ci/meson-logs/testlog.txt | head -1 || true

echo "=== pass 2: ASan + UBSan (2-3 times slower: 3 times the timeouts)"
rm -rf build-asan
meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
  -Dbuildtype=debug >/dev/null
ninja -C build-asan
ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions=$top/tests/lsan.supp \
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
    --no-suite vm --no-suite package $suites || rc=1
set -- $(summary build-asan); p2=$1 f2=$2 s2=$3

echo "=== fuzz smoke: every libFuzzer target, a short run from its seed corpus"
rm -rf build-fuzz
pf=0 ff=0
if CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=true -Db_sanitize=address,undefined \
     -Db_lundef=false -Dbuildtype=debug >/dev/null && ninja -C build-fuzz >/dev/null; then
  for fz in build-fuzz/tests/fuzz/fuzz-*; do
    [ -f "$fz" ] && [ -x "$fz" ] || continue
    name=$(basename "$fz"); corpus=tests/fuzz/corpus/${name#fuzz-}
    work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    if LSAN_OPTIONS=suppressions=$top/tests/lsan.supp "$fz" -max_total_time="${MAMORI_FUZZ_SECONDS:-20}" \
         -timeout=10 -rss_limit_mb=2048 -artifact_prefix="build-fuzz/$name-" \
         -print_final_stats=1 "$work" >"build-fuzz/$name.log" 2>&1; then
      pf=$((pf + 1)); echo "fuzz $name: OK ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$name.log"))"
    else
      ff=$((ff + 1)); rc=1; echo "fuzz $name: FAILED"; tail -40 "build-fuzz/$name.log"
    fi
    rm -rf "$work"
  done
else
  ff=1; rc=1; echo "fuzz build FAILED"
fi

echo "pass 1: $p1 passed, $f1 failed, $s1 skipped; pass 2 (ASan+UBSan): $p2 passed, $f2 failed, $s2 skipped; fuzz: $pf passed, $ff failed"
[ "$f1" = 0 ] && [ "$f2" = 0 ] && [ "$ff" = 0 ] || rc=1
echo "$((p1 + p2 + pf)) passed, $((f1 + f2 + ff)) failed, $((s1 + s2)) skipped"
exit $rc
