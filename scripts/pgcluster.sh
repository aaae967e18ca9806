#!/usr/bin/env bash
# A private PostgreSQL cluster (with pg_cron preloaded) in a directory of your choice.
#
#   pgcluster.sh start DIR                 initdb DIR/data if needed, start on a free 127.0.0.1 port,
#                                          create database tasklease + extension pg_cron, write DIR/env
#   pgcluster.sh stop DIR                  pg_ctl -m fast stop (only this data dir; no-op if stopped)
#   pgcluster.sh restart [--immediate] DIR restart (fast; --immediate = crash-like, for chaos tests)
#   pgcluster.sh status DIR                exit 0 if running, 3 if stopped, 4 if no cluster
#   pgcluster.sh env DIR                   print DIR/env (shell `export` lines; `source` it)
#
# DIR/env exports TASKLEASE_DSN, PGHOST, PGPORT, PGUSER, PGDATABASE, TASKLEASE_PGDATA and
# TASKLEASE_PG_BINDIR. TASKLEASE_PG_FAST=1 at start turns off fsync and full_page_writes
# (tests only; =unsafe also synchronous_commit). PG_BINDIR overrides the server version
# (default: the newest /usr/lib/postgresql/<ver>).
# As root the cluster is owned by and runs as user postgres, so DIR and every parent of it
# must be searchable by postgres (use a directory under /tmp, e.g. `mktemp -d`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$HERE/lib.sh"

die() { printf 'pgcluster: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

IMMEDIATE=0
CMD="${1:-}"
shift || true
DIR_ARG=""
for arg in "$@"; do
    case "$arg" in
        --immediate) IMMEDIATE=1 ;;
        -*) usage ;;
        *) [[ -z "$DIR_ARG" ]] || usage; DIR_ARG="$arg" ;;
    esac
done
[[ -n "$CMD" && -n "$DIR_ARG" ]] || usage

if [[ "$CMD" == start ]]; then
    mkdir -p "$DIR_ARG"
elif [[ ! -d "$DIR_ARG" ]]; then
    case "$CMD" in
        stop) exit 0 ;;
        status) echo "no cluster at $DIR_ARG"; exit 4 ;;
        *) die "no such directory: $DIR_ARG" ;;
    esac
fi
DIR="$(cd "$DIR_ARG" && pwd -P)"
DATA="$DIR/data"
RUN="$DIR/run"
LOG="$DIR/postgres.log"
ENVFILE="$DIR/env"

BINDIR="$(pg_bindir)"
PSQL="$BINDIR/psql"
[[ -x "$PSQL" ]] || PSQL="$(command -v psql)" || die "psql not found"

# Run a server binary as the cluster owner, from a directory that owner can enter.
pgrun() { (cd "$DIR" && as_pg "$BINDIR/$1" "${@:2}"); }

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] || return 1
    pgrun pg_ctl status -D "$DATA" >/dev/null 2>&1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_is_free() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

check_reachable() {
    # As root, postgres must be able to traverse every parent of DIR.
    [[ $EUID -eq 0 ]] || return 0
    id postgres >/dev/null 2>&1 || die "running as root but there is no user 'postgres' (install postgresql)"
    if ! runuser -u postgres -- test -x "$(dirname "$DIR")"; then
        die "user postgres cannot reach $(dirname "$DIR") (a parent directory is not searchable by postgres); put the cluster under /tmp, e.g. \$(mktemp -d /tmp/tasklease.XXXXXX)"
    fi
    chown postgres: "$DIR"
    chmod 0755 "$DIR"
}

write_conf() {
    local port="$1" fast=""
    # Test speed-ups that lose nothing unless the OS itself crashes. synchronous_commit stays on:
    # with it off, `restart --immediate` (a postmaster crash) loses the last ~200 ms of commits,
    # which chaos tests must not see. TASKLEASE_PG_FAST=unsafe turns it off too.
    case "${TASKLEASE_PG_FAST:-0}" in
        1) fast=$'fsync = off\nfull_page_writes = off' ;;
        unsafe) fast=$'fsync = off\nfull_page_writes = off\nsynchronous_commit = off' ;;
    esac
    cat >"$DATA/tasklease.conf" <<EOF
# written by scripts/pgcluster.sh at every start; edit that script, not this file
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$RUN'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'tasklease'
cron.use_background_workers = on
max_worker_processes = 32
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
$fast
EOF
    if ! grep -q "^include_if_exists = 'tasklease.conf'" "$DATA/postgresql.conf"; then
        printf "\ninclude_if_exists = 'tasklease.conf'\n" >>"$DATA/postgresql.conf"
    fi
    if [[ $EUID -eq 0 ]]; then chown postgres: "$DATA/tasklease.conf"; fi
}

write_env() {
    local port="$1"
    {
        printf 'export TASKLEASE_DSN=%q\n' "postgresql://postgres@127.0.0.1:$port/tasklease"
        printf 'export PGHOST=127.0.0.1\n'
        printf 'export PGPORT=%q\n' "$port"
        printf 'export PGUSER=postgres\n'
        printf 'export PGDATABASE=tasklease\n'
        printf 'export TASKLEASE_PGDATA=%q\n' "$DATA"
        printf 'export TASKLEASE_PG_BINDIR=%q\n' "$BINDIR"
    } >"$ENVFILE.tmp"
    mv "$ENVFILE.tmp" "$ENVFILE"
}

current_port() {
    [[ -f "$DATA/tasklease.conf" ]] || return 0
    sed -nE 's/^port = ([0-9]+)$/\1/p' "$DATA/tasklease.conf" | tail -n1
}

cmd_start() {
    if is_running; then
        [[ -f "$ENVFILE" ]] || write_env "$(current_port)"
        cat "$ENVFILE"
        return 0
    fi
    check_reachable
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        # 108-byte limit on unix socket paths (sun_path), including "/.s.PGSQL.65535"
        ((${#RUN} + 16 < 108)) || die "path too long for a unix socket: $RUN (use a shorter DIR)"
        echo "pgcluster: initdb $DATA ($("$BINDIR/postgres" -V))" >&2
        pgrun initdb -D "$DATA" --auth=trust -U postgres --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    mkdir -p "$RUN"
    if [[ $EUID -eq 0 ]]; then chown postgres: "$RUN"; fi
    chmod 0755 "$RUN"

    local port tries=0
    port="$(current_port)"
    if [[ -z "$port" ]] || ! port_is_free "$port"; then port="$(free_port)"; fi
    while :; do
        write_conf "$port"
        if pgrun pg_ctl -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null; then break; fi
        tries=$((tries + 1))
        # another process may have taken the port between the probe and the bind: retry
        if ((tries < 3)) && tail -n 20 "$LOG" 2>/dev/null | grep -q 'could not bind'; then
            port="$(free_port)"
            continue
        fi
        tail -n 30 "$LOG" >&2 || true
        die "pg_ctl start failed (log: $LOG)"
    done

    local q="SELECT 1 FROM pg_database WHERE datname = 'tasklease'"
    if [[ "$("$PSQL" -X -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$q")" != 1 ]]; then
        "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -c 'CREATE DATABASE tasklease' >/dev/null
    fi
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d tasklease \
        -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_cron' >/dev/null
    write_env "$port"
    echo "pgcluster: started $DATA on 127.0.0.1:$port" >&2
    cat "$ENVFILE"
}

cmd_stop() {
    if is_running; then
        pgrun pg_ctl -D "$DATA" -m fast -w -t 60 stop >/dev/null
        echo "pgcluster: stopped $DATA" >&2
    fi
}

cmd_restart() {
    is_running || die "not running: $DATA"
    local mode=fast
    ((IMMEDIATE)) && mode=immediate
    pgrun pg_ctl -D "$DATA" -l "$LOG" -m "$mode" -w -t 60 restart >/dev/null
    echo "pgcluster: restarted ($mode) $DATA" >&2
}

cmd_status() {
    if [[ ! -f "$DATA/PG_VERSION" ]]; then echo "no cluster at $DIR"; return 4; fi
    if is_running; then
        echo "running: $DATA on 127.0.0.1:$(current_port)"
    else
        echo "stopped: $DATA"
        return 3
    fi
}

cmd_env() {
    [[ -f "$ENVFILE" ]] || die "no env file: $ENVFILE (run: $0 start $DIR)"
    cat "$ENVFILE"
}

case "$CMD" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) usage ;;
esac
