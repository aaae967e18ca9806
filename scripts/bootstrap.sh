#!/usr/bin/env bash
# Install what tasklease needs to build and test, idempotently (fast when all is present):
#   - Debian packages: PostgreSQL server, pg_cron, pgTAP, pg_prove, PgBouncer (pooler tests),
#     and chromium (the console's browser tests drive it headless; Playwright gets its path
#     and never downloads a browser)
#   - a Python venv at .venv with `pip install -e '.[dev]'` (re-run only when pyproject.toml
#     is newer than .venv/.installed-stamp)
# Env: PG_BINDIR overrides the PostgreSQL bin dir; BOOTSTRAP_SKIP_APT=1 skips the apt step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

log() { printf 'bootstrap: %s\n' "$*"; }

APT_UPDATED=0
apt_install() {
    # apt_install PKG... : install with apt-get (update once first), as root or via sudo.
    local -a sudo=()
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "bootstrap: ERROR: missing Debian packages: $*" >&2
            echo "bootstrap: not root and no usable sudo; install them with:" >&2
            echo "    apt-get update && apt-get install -y $*" >&2
            exit 1
        fi
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${sudo[@]}" apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q -o Dpkg::Use-Pty=0 "$@" </dev/null
}

# ---------------------------------------------------------------- system packages
apt_step() {
    local -a missing=()
    local bindir major libdir sharedir
    if ! bindir="$(pg_bindir 2>/dev/null)"; then
        log "no PostgreSQL server found: installing postgresql"
        apt_install postgresql
        bindir="$(pg_bindir)"
    fi
    major="$(pg_major "$bindir")"
    if [[ -x "$bindir/pg_config" ]]; then
        libdir="$("$bindir/pg_config" --pkglibdir)"
        sharedir="$("$bindir/pg_config" --sharedir)"
    else
        libdir="/usr/lib/postgresql/$major/lib"
        sharedir="/usr/share/postgresql/$major"
    fi
    [[ -f "$libdir/pg_cron.so" ]] || missing+=("postgresql-$major-cron")
    [[ -f "$sharedir/extension/pgtap.control" ]] || missing+=("postgresql-$major-pgtap")
    command -v pg_prove >/dev/null 2>&1 || missing+=(libtap-parser-sourcehandler-pgtap-perl)
    [[ -x /usr/sbin/pgbouncer ]] || command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
    # python3 -m venv needs ensurepip (Debian's system python: package python3-venv)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    log "PostgreSQL $major at $bindir, pg_cron, pgTAP, pg_prove, pgbouncer, chromium: ok"
}

if [[ "${BOOTSTRAP_SKIP_APT:-0}" != 1 ]]; then
    apt_step
fi

# ---------------------------------------------------------------- python venv
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-stamp"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating venv at .venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    rm -f "$STAMP"
fi
if [[ ! -f "$STAMP" || "$ROOT/pyproject.toml" -nt "$STAMP" ]]; then
    log "pip install -e '.[dev]' (takes a while the first time)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "${ROOT}[dev]" </dev/null
    touch "$STAMP"
fi
log "venv .venv: ok ($("$VENV/bin/python" -V 2>&1))"
