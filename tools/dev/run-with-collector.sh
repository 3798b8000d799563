#!/bin/sh
# Builds mamori and runs, in the foreground, a local collector on SQLite and
# the agent delivering to it over mutual TLS: a CA made now, a collector.conf
# and a mamori.conf (the shipped policy with a collector section) in a
# temporary directory, then mamori-collectord, mamori-uplink and mamorid.
# As root, like run-agent.sh: mamorid enforces on this machine's USB bus.
# Ctrl-C stops all three; the directory (and the database) stays for a look:
#   mamori-collectorctl -c DIR/collector.conf hosts | findings | export --since 1d
#
#   sudo tools/dev/run-with-collector.sh [PORT]      (default port 18443)
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
port=${1:-18443}
tools/dev/install-deps.sh build
[ -d build ] || meson setup build
ninja -C build
collectord=$top/build/collector/mamori-collectord
ctl=$top/build/collector/ctl/mamori-collectorctl
for p in "$collectord" "$ctl" "$top/build/agent/mamorid" "$top/build/agent/uplink/mamori-uplink"; do
  if [ ! -x "$p" ]; then
    echo "$p was not built (meson configure build -Dcollector=enabled?)" >&2
    exit 1
  fi
done

# Root's directory, 0700: mamorid and the collector trust files only in a
# directory nobody else may write (common/trusted-file.h).
dir=$(mktemp -d "${TMPDIR:-/tmp}/mamori-collector.XXXXXX")
chmod 0755 "$dir"
mkdir -p "$dir/agent-state" "$dir/agent-runtime" "$dir/uplink-state" "$dir/uplink-runtime" "$dir/collector-state"

# The town's CA and the server certificate for this machine, and a client
# certificate for this PC, enrolled as docs/collector.md tells.
"$ctl" init-ca --dir "$dir/tls" --name "run-with-collector" --server-name localhost --server-name 127.0.0.1 >/dev/null
machine_id=$(cat /etc/machine-id)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/client.key" \
  -subj "/CN=$machine_id" -out "$dir/client.csr" 2>/dev/null
chmod 0600 "$dir/client.key"
"$ctl" enroll --csr "$dir/client.csr" --machine-id "$machine_id" --ca-cert "$dir/tls/clients-ca.crt" \
  --ca-key "$dir/tls/clients-ca.key" --out "$dir/client.pem" >/dev/null

cat >"$dir/collector.conf" <<EOF
listen = [ "127.0.0.1:$port" ];
tls = {
  cert_file = "$dir/tls/server.crt";
  key_file = "$dir/tls/server.key";
  client_ca_file = "$dir/tls/clients-ca.crt";
  require_client_cert = true;
  require_name_match = true;
};
storage = { backend = "sqlite"; path = "$dir/collector-state/collector.db"; };
findings = { silent_margin_sec = 60; stopped_after_sec = 120; };
EOF
"$ctl" check-config "$dir/collector.conf"

# The shipped policy, delivering to the local collector every minute.
{
  sed '/^#*collector = {/,/^#*};/d' policy/mamori.conf
  cat <<EOF
collector = {
  url = "https://127.0.0.1:$port/v1/events";
  ca_file = "$dir/tls/clients-ca.crt";
  client_cert = "$dir/client.pem";
  client_key = "$dir/client.key";
  heartbeat_interval = "1min";
};
EOF
} >"$dir/mamori.conf"
mkdir -p "$dir/allow.d"
chmod 0700 "$dir/allow.d"
cp policy/allow.d/*.conf "$dir/allow.d/" 2>/dev/null || true

pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "The collector's database and configuration stay in $dir:"
  echo "  $ctl -c $dir/collector.conf hosts"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STATE_DIRECTORY="$dir/collector-state" "$collectord" -c "$dir/collector.conf" &
pids="$pids $!"
STATE_DIRECTORY="$dir/uplink-state" RUNTIME_DIRECTORY="$dir/uplink-runtime" \
  MAMORI_SPOOL_DIR="$dir/agent-state/spool" MAMORI_LOG_TARGET=stderr \
  build/agent/uplink/mamori-uplink --config "$dir/mamori.conf" &
pids="$pids $!"
STATE_DIRECTORY="$dir/agent-state" RUNTIME_DIRECTORY="$dir/agent-runtime" \
  MAMORI_UPLINK_STATE_DIR="$dir/uplink-state" MAMORI_UPLINK_RUNTIME_DIR="$dir/uplink-runtime" \
  MAMORI_LOG_TARGET=stderr \
  build/agent/mamorid --config "$dir/mamori.conf" --allow-dir "$dir/allow.d" &
pids="$pids $!"
echo "collector on https://127.0.0.1:$port, agent delivering to it; files in $dir (Ctrl-C stops)"
echo "  $ctl -c $dir/collector.conf hosts"
wait
