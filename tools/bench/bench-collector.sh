#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-collector.sh: the figures of issue 12 item 10 (tools/bench/README.md,
# "bench-collector"). Makes a CA and certificates (openssl), starts
# mamori-collectord with a config in a temporary directory on SQLite and/or
# PostgreSQL (a server of its own: initdb/pg_ctl as an unprivileged user,
# socket in the temporary directory), runs bench-collector's scenarios
# against it, prints the figures, stops everything.
#
#   sudo tools/bench/bench-collector.sh [--backend sqlite|postgresql|both]
#        [--scenario all|100|1000|1000-paced|heartbeats|heartbeats-resume|
#                    heartbeats-reuse]...
#        [--duration S]
#        [--gzip] [--keep] [--dry-run]
#
# Environment: MAMORI_COLLECTORD (default build/collector/mamori-collectord),
# BENCH_COLLECTOR (default build/tools/bench/bench-collector), BENCH_CERTS
# (client certificates made, default 1000; agent i uses i % BENCH_CERTS),
# BENCH_PG_USER (the unprivileged user PostgreSQL runs as when we are root,
# default nobody), BENCH_HB_DURATION (the heartbeat scenario's length, default
# 120 s), BENCH_HB_PCS (default 50000), BENCH_HB_INTERVAL (default 900).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
collectord=${MAMORI_COLLECTORD:-$src/build/collector/mamori-collectord}
bench=${BENCH_COLLECTOR:-$src/build/tools/bench/bench-collector}
certs=${BENCH_CERTS:-1000}
pg_user=${BENCH_PG_USER:-nobody}
hb_pcs=${BENCH_HB_PCS:-50000}
hb_interval=${BENCH_HB_INTERVAL:-900}
hb_duration=${BENCH_HB_DURATION:-120}
backend=both
duration=60
gzip=
keep=
dry=
scenarios=()

die() {
  echo "bench-collector.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -e/p' "$0" | sed -e '/^set -e/d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case $1 in
  --backend) backend=${2:?}; shift ;;
  --scenario) scenarios+=("${2:?}"); shift ;;
  --duration) duration=${2:?}; shift ;;
  --gzip) gzip=--gzip ;;
  --keep) keep=1 ;;
  --dry-run) dry=1 ;;
  -h | --help) usage 0 ;;
  *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
  shift
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(all)
if [ "${scenarios[0]}" = all ]; then
  scenarios=(100 1000 1000-paced heartbeats heartbeats-resume heartbeats-reuse)
fi
case $backend in
sqlite) backends=(sqlite) ;;
postgresql) backends=(postgresql) ;;
both) backends=(sqlite postgresql) ;;
*) die "--backend is sqlite, postgresql or both, not '$backend'" ;;
esac
for s in "${scenarios[@]}"; do
  case $s in
  100 | 1000 | 1000-paced | heartbeats | heartbeats-resume | heartbeats-reuse) ;;
  *) die "unknown scenario '$s' (100, 1000, 1000-paced, heartbeats, heartbeats-resume, heartbeats-reuse, all)" ;;
  esac
done

# What each scenario runs (the url, TLS and --pid are added per run).
scenario_args() {
  case $1 in
  100) echo "--agents 100 --events-per-batch 100 --duration $duration --warmup 5" ;;
  1000) echo "--agents 1000 --events-per-batch 20 --duration $duration --warmup 10" ;;
  # the latency goal: p99 < 250 ms with 1,000 agents offering 20,000 events/s
  1000-paced) echo "--agents 1000 --events-per-batch 20 --rate 20000 --duration $duration --warmup 10" ;;
  heartbeats) echo "--heartbeats $hb_pcs --interval $hb_interval --duration $hb_duration --warmup 5 --max-connections 256" ;;
  # the same fleet, each new connection resuming its TLS session (session tickets)
  heartbeats-resume) echo "$(scenario_args heartbeats) --resume" ;;
  # connections kept open and shared: no handshake at all, what is left is the request and the store
  heartbeats-reuse) echo "$(scenario_args heartbeats) --reuse" ;;
  esac
}

# ---- preflight: fail clearly before anything starts ----
missing=
if [ ! -x "$bench" ]; then
  missing="bench-collector not found at $bench: build it (meson setup build && ninja -C build) or set BENCH_COLLECTOR"
elif [ ! -x "$collectord" ]; then
  missing="mamori-collectord not found at $collectord: build the collector (meson option 'collector') or set MAMORI_COLLECTORD"
fi
for tool in openssl curl; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done
pg_bin=
if [[ " ${backends[*]} " == *" postgresql "* ]]; then
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_bin=$(pg_config --bindir)
  elif command -v initdb >/dev/null; then
    pg_bin=$(dirname "$(command -v initdb)")
  else
    pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
  fi
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ] || [ ! -x "$pg_bin/pg_ctl" ]; then
    die "PostgreSQL (initdb, pg_ctl) not found: tools/dev/install-deps.sh test, or --backend sqlite"
  fi
fi

if [ -n "$dry" ]; then
  echo "dry run: nothing is started."
  echo "collector:        $collectord${missing:+  (MISSING: $missing)}"
  echo "bench-collector:  $bench"
  echo "backends:         ${backends[*]}${pg_bin:+ (PostgreSQL from $pg_bin, run as $pg_user when root)}"
  echo "client certs:     $certs (EC P-256, one CA made at run time; agent i uses certificate i % $certs)"
  for b in "${backends[@]}"; do
    for s in "${scenarios[@]}"; do
      tree=
      [ "$b" = postgresql ] && tree=" --pid-tree POSTMASTER"
      echo "run: $b $s: bench-collector --url https://127.0.0.1:PORT/v1/events --ca CA --cert-dir CERTS" \
        "--token-file TOKEN${gzip:+ $gzip} $(scenario_args "$s") --pid COLLECTOR$tree"
    done
  done
  exit 0
fi
[ -z "$missing" ] || die "$missing"
[ "$(id -u)" = 0 ] || die "run as root: the collector trusts its key, token and conninfo only when they are root's (common/trusted-file.h)"

# ---- the temporary world ----
tmp=$(mktemp -d /tmp/bench-collector.XXXXXX)
chmod 0711 "$tmp" # PostgreSQL's user reaches its own directory below
collector_pid=
pg_data=

cleanup() {
  set +e
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill -TERM "$collector_pid"
    for _ in $(seq 1 100); do
      kill -0 "$collector_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$collector_pid" 2>/dev/null
    wait "$collector_pid" 2>/dev/null
  fi
  [ -n "$pg_data" ] && as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1
  if [ -n "$keep" ]; then
    echo "kept: $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

ssl() {
  openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed"
}

make_pki() {
  local d=$tmp/pki ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$d/clients"
  ssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=mamori bench CA"
  ssl req -x509 "${ec[@]}" -keyout "$d/server.key" -out "$d/server.pem" -days 2 -subj "/CN=localhost" \
    -CA "$d/ca.pem" -CAkey "$d/ca.key" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "extendedKeyUsage=serverAuth" -addext "basicConstraints=critical,CA:FALSE"
  echo "making $certs client certificates ..." >&2
  seq 0 $((certs - 1)) | xargs -P 2 -I{} openssl req -x509 "${ec[@]}" \
    -keyout "$d/clients/client-{}.key" -out "$d/clients/client-{}.pem" -days 2 -subj "/CN=bench-agent-{}" \
    -CA "$d/ca.pem" -CAkey "$d/ca.key" -addext "extendedKeyUsage=clientAuth" \
    -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1
  [ -s "$d/clients/client-$((certs - 1)).pem" ] || die "client certificates could not be made"
  # the collector's secrets: root's, not readable by others (common/trusted-file.h)
  mkdir -p "$tmp/etc"
  chmod 0755 "$tmp/etc"
  cp "$d/server.pem" "$d/server.key" "$d/ca.pem" "$tmp/etc/"
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp/etc/token"
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp/etc/export-token"
  chmod 0600 "$tmp/etc/server.key" "$tmp/etc/token" "$tmp/etc/export-token"
  chmod 0644 "$tmp/etc/server.pem" "$tmp/etc/ca.pem"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
  local d=$tmp/pg
  mkdir -p "$d"
  [ "$(id -u)" = 0 ] && chown "$pg_user" "$d"
  pg_data=$d/data
  as_pg "$pg_bin/initdb" -D "$pg_data" -U mamori --auth=trust -E UTF8 --no-locale >"$tmp/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -n5 "$tmp/initdb.log")"
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$d/server.log" -w -t 60 \
    -o "-k $d -c listen_addresses='' -c max_connections=100" start >/dev/null ||
    die "PostgreSQL did not start: $(tail -n5 "$d/server.log")"
  as_pg "$pg_bin/createdb" -h "$d" -U mamori mamori || die "createdb failed"
  printf 'host=%s dbname=mamori user=mamori\n' "$d" >"$tmp/etc/pg.conninfo"
  chmod 0600 "$tmp/etc/pg.conninfo"
}

write_config() { # backend port
  local storage
  if [ "$1" = sqlite ]; then
    storage="storage = { backend = \"sqlite\"; path = \"$tmp/state/collector.db\"; busy_timeout_ms = 2000; };"
  else
    storage="storage = { backend = \"postgresql\"; conninfo_file = \"$tmp/etc/pg.conninfo\"; };"
  fi
  cat >"$tmp/etc/collector.conf" <<EOF
# bench-collector.sh: the defaults of DESIGN-12/collector.conf(5), except the
# per-host rate (one certificate may speak for many simulated agents) and
# max_connections (1,000 agents and the heartbeat pool at once).
listen = [ "127.0.0.1:$2" ];
tls = {
  cert_file = "$tmp/etc/server.pem";
  key_file = "$tmp/etc/server.key";
  client_ca_file = "$tmp/etc/ca.pem";
  require_client_cert = true;
  require_name_match = false;
};
auth = { token_file = "$tmp/etc/token"; };
$storage
limits = { max_connections = 4096; per_host_rate = 100000.0; per_host_burst = 100000; };
export = { token_file = "$tmp/etc/export-token"; };
EOF
  chmod 0644 "$tmp/etc/collector.conf"
}

start_collector() { # port
  mkdir -p "$tmp/state"
  MAMORI_COLLECTOR_CONFIG=$tmp/etc/collector.conf STATE_DIRECTORY=$tmp/state \
    "$collectord" >"$tmp/collector.log" 2>&1 &
  collector_pid=$!
  local d=$tmp/pki code
  for _ in $(seq 1 300); do
    kill -0 "$collector_pid" 2>/dev/null ||
      die "mamori-collectord exited at start: $(tail -n20 "$tmp/collector.log")"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$d/ca.pem" \
      --cert "$d/clients/client-0.pem" --key "$d/clients/client-0.key" "https://127.0.0.1:$1/v1/events" || true)
    [ "$code" != 000 ] && return 0
    sleep 0.1
  done
  die "mamori-collectord does not answer on 127.0.0.1:$1 after 30 s: $(tail -n20 "$tmp/collector.log")"
}

stop_collector() {
  kill -TERM "$collector_pid"
  for _ in $(seq 1 300); do
    kill -0 "$collector_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$collector_pid" 2>/dev/null && die "mamori-collectord did not stop within 30 s of SIGTERM"
  wait "$collector_pid" || echo "note: mamori-collectord exited $?" >&2
  collector_pid=
}

stored_events() { # backend
  if [ "$1" = sqlite ]; then
    command -v sqlite3 >/dev/null && sqlite3 "$tmp/state/collector.db" 'SELECT count(*) FROM events' 2>/dev/null
  else
    "$pg_bin/psql" -h "$tmp/pg" -U mamori -d mamori -Atc 'SELECT count(*) FROM events' 2>/dev/null
  fi
}

summary=()
make_pki
for b in "${backends[@]}"; do
  [ "$b" = postgresql ] && start_postgres
  port=$(free_port)
  write_config "$b" "$port"
  start_collector "$port"
  pidargs=(--pid "$collector_pid")
  [ "$b" = postgresql ] && pidargs+=(--pid-tree "$(head -n1 "$pg_data/postmaster.pid")")
  sent=0
  for s in "${scenarios[@]}"; do
    echo
    echo "######## $b: $s ########"
    out=$tmp/$b-$s.out
    # shellcheck disable=SC2046 # the scenario's arguments are words
    "$bench" --url "https://127.0.0.1:$port/v1/events" --ca "$tmp/pki/ca.pem" \
      --cert-dir "$tmp/pki/clients" --token-file "$tmp/etc/token" $gzip \
      $(scenario_args "$s") "${pidargs[@]}" | tee "$out" ||
      echo "bench-collector failed ($b $s)" >&2
    kill -0 "$collector_pid" 2>/dev/null || die "mamori-collectord died during $s: $(tail -n20 "$tmp/collector.log")"
    r=$(grep '^RESULT mode=' "$out" || true)
    c=$(grep '^RESULT pid0=' "$out" || true)
    t=$(grep '^RESULT pid1=' "$out" || true)
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
    sent=$((sent + $(field events_2xx_total "$r")))
    summary+=("$(printf '| %s | %s | %s | %s / %s / %s / %s | %s | %s | %s | %s | %s |' "$b" "$s" \
      "$(field events_per_s "$r")" "$(field p50_ms "$r")" "$(field p90_ms "$r")" "$(field p99_ms "$r")" \
      "$(field max_ms "$r")" "$(field non2xx "$r")" \
      "$(field cpu_pct "$c") % / $(field cpu_us_per_event "$c") µs" \
      "$(field rss_max_kib "$c")" "$(field dirty_max_kib "$c")" \
      "${t:+$(field cpu_pct "$t") % / $(field cpu_us_per_event "$t") µs}")")
  done
  n=$(stored_events "$b" || true)
  echo
  echo "$b: the client got 2xx for $sent events (retries counted again); the events table holds ${n:-?}"
  stop_collector
  if [ "$b" = postgresql ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
    pg_data=
  fi
done

echo
echo "| backend | scenario | events/s | time to 2xx p50 / p90 / p99 / max ms | non-2xx | collector CPU (% of one core / per event) | collector Rss max KiB | Private_Dirty max KiB | PostgreSQL CPU |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
