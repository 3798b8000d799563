#!/bin/sh
# Runs a command next to a PostgreSQL server of its own (issue 12 item 9):
# initdb and pg_ctl in a temporary directory, as an unprivileged user when
# run as root (the server refuses root), listening on a Unix socket in that
# directory only. The command gets
#   MAMORI_TEST_PG_CONNINFO  a libpq conninfo of the server (database postgres)
#   MAMORI_TEST_PG_CTL       a command line of pg_ctl for that server; append
#                            "stop" or "start" (the tests stop it to see 503s)
# and the server is stopped and removed afterwards. No PostgreSQL installed is
# a failure, not a skip: tools/dev/install-deps.sh test installs it.
set -eu

pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
        echo "with-postgres.sh: no PostgreSQL under /usr/lib/postgresql (tools/dev/install-deps.sh test)" >&2
        exit 1
fi
runas=${MAMORI_TEST_PG_USER:-nobody}
if [ "$(id -u)" = 0 ]; then
        as_user="runuser -u $runas --"
else
        as_user=""
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/mamori-pg.XXXXXX")
# shellcheck disable=SC2317 # called by the trap
cleanup() {
        $as_user "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$as_user" ]; then
        chown "$runas" "$dir"
fi
chmod 0700 "$dir"

# The port only names the socket file (no TCP): any number will do.
port=$((20000 + $$ % 20000))
$as_user "$pgbin/initdb" -D "$dir/data" -A trust -U mamori -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
}
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$dir'
max_connections = 50
CONF
$as_user "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
}

export MAMORI_TEST_PG_CONNINFO="host=$dir port=$port user=mamori dbname=postgres connect_timeout=5"
export MAMORI_TEST_PG_CTL="$as_user $pgbin/pg_ctl -D $dir/data -l $dir/server.log -w -t 60 -m fast"
rc=0
"$@" || rc=$?
if [ "$rc" != 0 ] && [ -f "$dir/server.log" ]; then
        echo "--- the server's log ---" >&2
        tail -n 50 "$dir/server.log" >&2
fi
exit "$rc"
