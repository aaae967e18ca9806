#!/usr/bin/env bash
# A private PgBouncer in front of a scripts/pgcluster.sh cluster, for the pooler tests.
#
#   pgbouncer.sh start DIR [MODE]   start PgBouncer for the cluster in DIR (MODE: transaction,
#                                   the default, or session) on a free 127.0.0.1 port; writes
#                                   DIR/pgbouncer-MODE/env (TASKLEASE_POOLER_DSN, POOLER_PORT)
#   pgbouncer.sh stop DIR [MODE]    stop it (only the one started for DIR; no-op if stopped)
#   pgbouncer.sh env DIR [MODE]     print DIR/pgbouncer-MODE/env
#
# Trust authentication on 127.0.0.1, as the throwaway cluster has, for the users in
# PGBOUNCER_USERS (space-separated; default: postgres); every database of the cluster
# reachable by its name. ignore_startup_parameters is PGBOUNCER_IGNORE (default:
# extra_float_digits): the libpq "options" parameter is refused, as PgBouncer 1.18 does by
# default, so a client that sends it (a tasklease worker not told --pooler) fails loudly
# instead of having its statement_timeout dropped without a word. As root it runs as user postgres
# (PgBouncer refuses to run as root), so DIR must be reachable by that user, as for
# pgcluster.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$HERE/lib.sh"

die() { printf 'pgbouncer: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

CMD="${1:-}"
DIR_ARG="${2:-}"
MODE="${3:-transaction}"
[[ -n "$CMD" && -n "$DIR_ARG" ]] || usage
[[ "$MODE" == transaction || "$MODE" == session ]] || usage
[[ -d "$DIR_ARG" ]] || die "no such directory: $DIR_ARG"
DIR="$(cd "$DIR_ARG" && pwd -P)"
WORK="$DIR/pgbouncer-$MODE"
PIDFILE="$WORK/pgbouncer.pid"
ENVFILE="$WORK/env"

BIN="$(command -v pgbouncer || true)"
[[ -n "$BIN" ]] || BIN=/usr/sbin/pgbouncer
[[ -x "$BIN" ]] || die "pgbouncer is not installed (Debian: apt-get install pgbouncer; make deps does it)"

is_running() {
    [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd_start() {
    if is_running; then
        cat "$ENVFILE"
        return 0
    fi
    [[ -f "$DIR/env" ]] || die "no cluster env file in $DIR (start it with pgcluster.sh first)"
    local pgport port
    pgport="$(sed -nE 's/^export PGPORT=([0-9]+)$/\1/p' "$DIR/env")"
    [[ -n "$pgport" ]] || die "cannot read PGPORT from $DIR/env"
    mkdir -p "$WORK"
    port="$(free_port)"
    cat >"$WORK/pgbouncer.ini" <<EOF
; written by scripts/pgbouncer.sh; edit that script, not this file
[databases]
* = host=127.0.0.1 port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = $MODE
max_client_conn = 500
default_pool_size = 20
server_reset_query_always = 0
ignore_startup_parameters = ${PGBOUNCER_IGNORE:-extra_float_digits}
logfile = $WORK/pgbouncer.log
pidfile = $PIDFILE
EOF
    : >"$WORK/pgbouncer.log"
    local user
    : >"$WORK/userlist.txt"
    for user in ${PGBOUNCER_USERS:-postgres}; do
        printf '"%s" ""\n' "$user" >>"$WORK/userlist.txt"
    done
    if [[ $EUID -eq 0 ]]; then chown -R postgres: "$WORK"; fi
    (cd "$WORK" && as_pg "$BIN" -d -q "$WORK/pgbouncer.ini") || {
        tail -n 20 "$WORK/pgbouncer.log" >&2
        die "pgbouncer did not start"
    }
    for _ in $(seq 50); do
        python3 - "$port" <<'PY' 2>/dev/null && break
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
PY
        sleep 0.1
    done
    {
        printf 'export TASKLEASE_POOLER_DSN=%q\n' "postgresql://postgres@127.0.0.1:$port/tasklease"
        printf 'export POOLER_PORT=%q\n' "$port"
        printf 'export POOLER_MODE=%q\n' "$MODE"
    } >"$ENVFILE.tmp"
    mv "$ENVFILE.tmp" "$ENVFILE"
    echo "pgbouncer: $MODE pooling on 127.0.0.1:$port for the cluster on port $pgport" >&2
    cat "$ENVFILE"
}

cmd_stop() {
    if is_running; then
        local pid
        pid="$(cat "$PIDFILE")"
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "pgbouncer: stopped ($MODE)" >&2
    fi
}

case "$CMD" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) [[ -f "$ENVFILE" ]] || die "no env file: $ENVFILE"; cat "$ENVFILE" ;;
    *) usage ;;
esac
