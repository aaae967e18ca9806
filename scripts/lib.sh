# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.
#   pg_bindir        print the PostgreSQL server bin dir ($PG_BINDIR, else the newest
#                    /usr/lib/postgresql/<ver>/bin that has a postgres binary); fails if none
#   pg_major BINDIR  print the major version of the server in BINDIR (e.g. 15)
#   as_pg CMD...     run CMD as user postgres when we are root, else as ourselves

pg_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        if [[ -x "$PG_BINDIR/postgres" ]]; then
            printf '%s\n' "$PG_BINDIR"
            return 0
        fi
        echo "PG_BINDIR=$PG_BINDIR has no postgres binary" >&2
        return 1
    fi
    local best="" v
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/postgres" ]] || continue
        v="$(basename "$(dirname "$d")")"
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if [[ -z "$best" ]] || ((v > $(basename "$(dirname "$best")"))); then
            best="$d"
        fi
    done
    if [[ -z "$best" ]]; then
        echo "no PostgreSQL server found under /usr/lib/postgresql/*/bin (run scripts/bootstrap.sh, or set PG_BINDIR)" >&2
        return 1
    fi
    printf '%s\n' "$best"
}

pg_major() {
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15
    "$1/postgres" -V | sed -E 's/.*\(PostgreSQL\) ([0-9]+).*/\1/'
}

as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
