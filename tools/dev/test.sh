#!/bin/sh
# The whole test suite, as CI runs it (as root, on Debian 12):
#  1. a -Werror build and every test suite (unit, integration, fuzz replay,
#     packaging, the QEMU end-to-end test),
#  2. the same code built with ASan+UBSan and coverage, the suites but vm and
#     package again under it, and the daemon's line and branch coverage
#     (gcovr; the floor in tools/dev/coverage-floor),
#  3. every libFuzzer target for a short run from its seed corpus.
# Before them, the style check (tools/dev/check-style.sh).
# Counts test cases, not programs (tools/dev/test-summary.py: pytest's and
# cmocka's own counts), names every skipped case, and ends with one line
# "N passed, N failed, N skipped".
# In CI (CI=true or MAMORI_CI=1; .ci/run sets it) a skipped or unregistered
# case of a suite in tools/dev/required-suites, a fuzzer that did not run, a
# missing corpus or a failed sysctl fails the run; elsewhere they are loud
# warnings (a developer's run without root skips what needs root).
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
tools/dev/install-deps.sh test

rc=0
ci=0
if [ "${CI:-}" = true ] || [ "${MAMORI_CI:-0}" = 1 ]; then ci=1; fi
ciflag=; [ $ci = 1 ] && ciflag=--ci
# What CI fails on, and a loud warning elsewhere. $1: the finding.
finding() {
  if [ $ci = 1 ]; then echo "FAILED (required in CI): $1"; rc=1
  else echo "WARNING: $1 (CI fails on this)"; fi
}

# The style check (seconds): clang-format on changed and listed C files,
# .editorconfig, shellcheck, commit subjects; its last line is "style: ok"
# or "style: N problems".
tools/dev/check-style.sh || rc=1

# umockdev delivers uevents over datagram sockets; bursts need a longer queue
# (without it conftest.py's dgram_qlen skips the burst tests).
sysctl -q -w net.unix.max_dgram_qlen=512 2>/dev/null ||
  finding "cannot raise net.unix.max_dgram_qlen to 512 (not root?): the burst tests will skip"

# cmocka writes per-case XML to $CMOCKA_XML_FILE (set per test by tests/meson.build).
export CMOCKA_MESSAGE_OUTPUT=xml
suites=${MAMORI_TEST_SUITES:-}

# $1 build dir, $2 label, the rest: meson test's arguments. Counts the cases
# (tools/dev/test-summary.py) into $1/test-results/counts: "passed failed skipped".
run_pass() {
  b=$1 label=$2; shift 2
  rm -rf "$b/test-results"; mkdir -p "$b/test-results"
  # shellcheck disable=SC2086
  meson test -C "$b" --print-errorlogs --num-processes 2 ${meson_extra:-} "$@" $suites || rc=1
  if [ -n "$suites" ]; then
    echo "$label: MAMORI_TEST_SUITES is set: a partial run, required suites not checked"
    req=
  else
    req="--required tools/dev/required-suites"
  fi
  # shellcheck disable=SC2046,SC2086
  /usr/bin/python3 tools/dev/test-summary.py cases "$b" --label "$label" $req $ciflag \
    --counts-file "$b/test-results/counts" \
    $(echo "$@" | sed 's/--no-suite /--exclude-suite=/g') || rc=1
  [ -s "$b/test-results/counts" ] || echo "0 1 0" >"$b/test-results/counts"
}

echo "=== pass 1: -Werror build, every suite"
rm -rf build-ci
meson setup build-ci -Dwerror=true -Dbuildtype=debugoptimized >/dev/null
ninja -C build-ci
run_pass build-ci "pass 1"
read -r p1 f1 s1 <build-ci/test-results/counts
# The unit's `systemd-analyze security` score, measured by the systemd suite.
grep -ho "SECURITY EXPOSURE mamori.service: [0-9.]*" build-ci/meson-logs/testlog.txt | head -1 || true

echo "=== pass 2: ASan + UBSan, with coverage"
# Coverage rides on this pass (gcc's gcov and the sanitizers work together):
# no third build and run. mamorid writes its .gcda when main returns (SIGTERM
# -> sd_event_exit), which is how the integration tests stop it.
rm -rf build-asan
# -fprofile-update=atomic: the collector's worker threads share counters; a
# plain increment races and gcov then reads a negative branch count, which
# gcovr refuses (CI 2026-12-04: "branch 1 taken -3").
meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
  -Dbuildtype=debug -Db_coverage=true -Dc_args=-fprofile-update=atomic >/dev/null
ninja -C build-asan
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp"
# ASan+UBSan runs 2-3 times slower: 3 times the timeouts
meson_extra="--timeout-multiplier 3" run_pass build-asan "pass 2 (ASan+UBSan)" --no-suite vm --no-suite package
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
read -r p2 f2 s2 <build-asan/test-results/counts
# The daemon's coverage by the unit and integration suites (pass 2); HTML and
# JSON in build-asan/coverage/.
mkdir -p build-asan/coverage
cov="coverage: not measured"
if gcovr -r "$top" --filter "$top/agent/" --filter "$top/common/" --exclude-unreachable-branches \
     --gcov-ignore-parse-errors \
     --json-summary build-asan/coverage/summary.json --json build-asan/coverage/coverage.json \
     --html-details build-asan/coverage/index.html build-asan >build-asan/coverage/gcovr.log 2>&1; then
  # A partial run (MAMORI_TEST_SUITES) measures less: no floor then.
  floor=tools/dev/coverage-floor; [ -z "$suites" ] || floor=/dev/null
  /usr/bin/python3 tools/dev/test-summary.py coverage build-asan/coverage/summary.json \
    --floor $floor >build-asan/coverage/summary.txt || rc=1
  cat build-asan/coverage/summary.txt
  cov=$(grep -v "lowest:" build-asan/coverage/summary.txt)
else
  rc=1; echo "coverage: gcovr FAILED"; tail -20 build-asan/coverage/gcovr.log
fi

echo "=== fuzz smoke: every libFuzzer target, a short run from its seed corpus"
rm -rf build-fuzz
pf=0 ff=0
# One target's run; its verdict goes to build-fuzz/NAME.result ("OK n" or
# "FAILED ..."), read below in the targets' order.
fuzz_one() {
  fz=$1 name=$(basename "$1"); corpus=tests/fuzz/corpus/${name#fuzz-}
  if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
    echo "FAILED: no seed corpus in $corpus" >"build-fuzz/$name.result"; return
  fi
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  if [ "$name" = fuzz-config ]; then
    # Also the configuration's error cases and the policy/ examples
    # (tests/fuzz/meson.build), an allow.d file after the "%%" line that
    # fuzz-config.c splits its input at.
    for f in tests/data/config/bad/*.conf; do
      case "$f" in
        */allow-*) { printf '\n%%%%\n'; cat "$f"; } >"$work/bad-$(basename "$f")" ;;
        *) cp "$f" "$work/bad-$(basename "$f")" ;;
      esac
    done
    for f in policy/allow.d/*.conf; do
      { cat policy/mamori.conf; printf '\n%%%%\n'; cat "$f"; } >"$work/policy-$(basename "$f")"
    done
  fi
  if LSAN_OPTIONS=suppressions=$top/tests/lsan.supp "$fz" -max_total_time="${MAMORI_FUZZ_SECONDS:-20}" \
       -timeout=10 -rss_limit_mb=2048 -artifact_prefix="build-fuzz/$name-" \
       -print_final_stats=1 "$work" >"build-fuzz/$name.log" 2>&1; then
    echo "OK ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$name.log"))" >"build-fuzz/$name.result"
  else
    echo "FAILED" >"build-fuzz/$name.result"
  fi
  rm -rf "$work"
}
if CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=true -Db_sanitize=address,undefined \
     -Db_lundef=false -Dbuildtype=debug >/dev/null && ninja -C build-fuzz >/dev/null; then
  targets=
  for fz in build-fuzz/tests/fuzz/fuzz-*; do
    if [ -f "$fz" ] && [ -x "$fz" ]; then targets="$targets $fz"; fi
  done
  # Two at a time (CI has two cores): the same seconds per target in half
  # the wall time. Each lane takes every other target.
  lane() {
    i=0
    for fz in $targets; do
      [ $((i % 2)) = "$1" ] && fuzz_one "$fz"
      i=$((i + 1))
    done
  }
  lane 0 & l0=$!
  lane 1 & l1=$!
  wait $l0 || true
  wait $l1 || true
  for fz in $targets; do
    name=$(basename "$fz"); res=$(cat "build-fuzz/$name.result" 2>/dev/null || echo "FAILED: no result")
    case "$res" in
      OK*) pf=$((pf + 1)); echo "fuzz $name: $res" ;;
      *) ff=$((ff + 1)); rc=1; echo "fuzz $name: $res"
         [ -f "build-fuzz/$name.log" ] && tail -40 "build-fuzz/$name.log" ;;
    esac
  done
else
  ff=1; rc=1; echo "fuzz build FAILED"
fi
# Every target tests/fuzz/meson.build defines (pass 1 registers each as a
# replay test of the fuzz suite) must have run.
defined=$(/usr/bin/python3 -c 'import json, sys
print(sum("mamori:fuzz" in t["suite"] for t in json.load(open(sys.argv[1]))))' build-ci/meson-info/intro-tests.json)
ran=$((pf + ff))
if [ "$ran" -lt "$defined" ]; then
  ff=$((ff + 1)); rc=1; echo "fuzz: FAILED: $ran of the $defined targets in tests/fuzz/meson.build ran"
fi
echo "fuzz: cases: $ran run, $pf passed, $((ran - pf)) failed ($defined targets defined)"

# --- scan-build (clang's static analyzer): tools/dev/scan-build.sh ----------
# A fresh clang build of the daemon, tools and tests under scan-build; any
# report fails the run (docs/hacking.md: how to handle one).
echo "=== scan-build: clang's static analyzer"
sblog=$(mktemp)
tools/dev/scan-build.sh build-scan >"$sblog" 2>&1 || rc=1
cat "$sblog"
sbn=$(sed -n 's/^scan-build: \([0-9]*\) reports.*/\1/p' "$sblog")
rm -f "$sblog"
[ -n "$sbn" ] || { rc=1; sbn="?"; echo "scan-build: FAILED (no count)"; }
# --- end of scan-build ------------------------------------------------------

echo "cases: pass 1: $p1 passed, $f1 failed, $s1 skipped; pass 2 (ASan+UBSan): $p2 passed, $f2 failed, $s2 skipped; fuzz: $pf passed, $ff failed"
echo "$cov"
echo "scan-build: $sbn reports"
[ "$f1" = 0 ] && [ "$f2" = 0 ] && [ "$ff" = 0 ] || rc=1
echo "$((p1 + p2 + pf)) passed, $((f1 + f2 + ff)) failed, $((s1 + s2)) skipped"
exit $rc
