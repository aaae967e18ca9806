#!/usr/bin/env bash
# The persistent dev cluster behind `make db-up`, `make db-down` and `make migrate`.
#   devdb.sh up       start (creating if needed) the cluster in .pgdata/, migrate, print the DSN
#   devdb.sh down     stop it (data kept)
#   devdb.sh migrate  `tasklease migrate` against $TASKLEASE_DSN, else the .pgdata cluster
#   devdb.sh destroy  stop it and delete its data (and .pgdata)
# As root, when user postgres cannot reach the repo (or the path is too long for a unix socket),
# the cluster lives in /tmp/tasklease-dev-<hash of the repo path> and .pgdata links to it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LINK="$ROOT/.pgdata"

say() { printf 'devdb: %s\n' "$*"; }

cluster_dir() {
    if [[ -L "$LINK" ]]; then
        mkdir -p "$(readlink "$LINK")" # /tmp may have been emptied since
    elif [[ ! -d "$LINK" ]]; then
        local reachable=1
        if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
            reachable=0
        fi
        if ((${#LINK} + 20 >= 108)); then reachable=0; fi # unix socket path limit
        if ((!reachable)); then
            local target
            target="/tmp/tasklease-dev-$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)"
            mkdir -p "$target"
            ln -s "$target" "$LINK"
            say ".pgdata -> $target (user postgres cannot use $ROOT)" >&2
        fi
    fi
    printf '%s\n' "$LINK"
}

migrate() {
    local dsn="${TASKLEASE_DSN:-}"
    if [[ -z "$dsn" ]]; then
        [[ -f "$LINK/env" ]] || { say "set TASKLEASE_DSN or run 'make db-up' first" >&2; exit 1; }
        dsn="$(
            # shellcheck source=/dev/null
            source "$LINK/env"
            printf '%s' "$TASKLEASE_DSN"
        )"
    fi
    scripts/bootstrap.sh >/dev/null
    say "tasklease migrate --dsn $dsn"
    .venv/bin/tasklease migrate --dsn "$dsn"
}

case "${1:-}" in
    up)
        scripts/bootstrap.sh
        dir="$(cluster_dir)"
        scripts/pgcluster.sh start "$dir" >/dev/null
        # shellcheck source=/dev/null
        source "$dir/env"
        TASKLEASE_DSN="" migrate
        cat <<MSG

dev database: $TASKLEASE_DSN
  psql "$TASKLEASE_DSN"
  source .pgdata/env && psql       # sets TASKLEASE_DSN and PGHOST/PGPORT/PGUSER/PGDATABASE
  make db-down                     # stop it; the data stays in .pgdata
MSG
        ;;
    down)
        if [[ -e "$LINK" ]]; then scripts/pgcluster.sh stop "$LINK"; else say "no .pgdata"; fi
        ;;
    migrate) migrate ;;
    destroy)
        if [[ -e "$LINK" || -L "$LINK" ]]; then
            scripts/pgcluster.sh stop "$LINK"
            if [[ -L "$LINK" ]]; then rm -rf "$(readlink "$LINK")"; fi
            rm -rf "$LINK"
            say "removed .pgdata"
        fi
        ;;
    *)
        sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
esac
