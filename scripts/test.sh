#!/usr/bin/env bash
# What `make test` (and CI) runs: bootstrap, lint, then pgTAP and pytest against a throwaway
# PostgreSQL cluster in /tmp that is stopped and removed on exit (also on failure or Ctrl-C).
# Every step runs even if an earlier one failed; the exit code is non-zero if any failed.
# Env: PYTEST_ARGS extra pytest arguments (shell-quoted, e.g. PYTEST_ARGS="-m 'not slow' -x").
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

say() { printf '\n=== %s\n' "$*"; }

say "bootstrap"
scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }

declare -a STEPS=()
declare -A RESULT=()
record() { STEPS+=("$1"); RESULT[$1]="$2"; }

# ---------------------------------------------------------------- lint
say "lint"
if scripts/lint.sh; then record lint ok; else record lint FAILED; fi

# ---------------------------------------------------------------- cluster
CLUSTER=""
# shellcheck disable=SC2317  # invoked by the traps below
cleanup() {
    if [[ -n "$CLUSTER" && -d "$CLUSTER" ]]; then
        scripts/pgcluster.sh stop "$CLUSTER" || true
        rm -rf "$CLUSTER"
    fi
    rm -f "${PGTAP_OUT:-}" "${PYTEST_OUT:-}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "throwaway cluster"
CLUSTER="$(mktemp -d /tmp/tasklease-test.XXXXXX)"
TASKLEASE_PG_FAST=1 scripts/pgcluster.sh start "$CLUSTER" >/dev/null || { echo "test: could not start a cluster" >&2; exit 1; }
# shellcheck source=/dev/null
source "$CLUSTER/env"
echo "cluster: $TASKLEASE_DSN (data: $TASKLEASE_PGDATA)"

PSQL="$TASKLEASE_PG_BINDIR/psql"
[[ -x "$PSQL" ]] || PSQL=psql

# ---------------------------------------------------------------- migrate
say "tasklease migrate"
if .venv/bin/tasklease migrate --dsn "$TASKLEASE_DSN"; then record migrate ok; else record migrate FAILED; fi

# ---------------------------------------------------------------- pgTAP
say "pgTAP (pg_prove tests/pgtap)"
PGTAP_OUT="$(mktemp)"
PGTAP_TOTAL="no test files"
if ! "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$TASKLEASE_DSN" -c 'SET client_min_messages = warning' \
    -c 'CREATE EXTENSION IF NOT EXISTS pgtap'; then
    record pgtap "FAILED (CREATE EXTENSION pgtap)"
elif [[ -z "$(find tests/pgtap -name '*.sql' -print -quit 2>/dev/null)" ]]; then
    echo "no tests/pgtap/**/*.sql files"
    record pgtap "FAILED (no test files)"
else
    pg_prove --recurse --ext .sql -h 127.0.0.1 -p "$PGPORT" -U postgres -d tasklease tests/pgtap 2>&1 |
        tee "$PGTAP_OUT"
    rc=${PIPESTATUS[0]}
    PGTAP_TOTAL="$(grep -E '^(Files=|Result:)' "$PGTAP_OUT" | paste -sd ' ' -)"
    if ((rc == 0)); then record pgtap ok; else record pgtap "FAILED (pg_prove exit $rc)"; fi
fi

# ---------------------------------------------------------------- pytest
say "pytest tests/python"
declare -a PYARGS=()
# PYTEST_ARGS is a shell-quoted string from the developer's own environment.
eval "PYARGS=(${PYTEST_ARGS:-})"
PYTEST_OUT="$(mktemp)"
TASKLEASE_TEST_DSN="$TASKLEASE_DSN" TASKLEASE_TEST_CLUSTER_DIR="$CLUSTER" \
    .venv/bin/python -m pytest tests/python -q -ra --durations=15 "${PYARGS[@]}" 2>&1 |
    tee "$PYTEST_OUT"
rc=${PIPESTATUS[0]}
PYTEST_TOTAL="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected|xfailed|xpassed|warnings?)|no tests ran' "$PYTEST_OUT" | tail -n1 | sed -E 's/^=+ //; s/ =+$//')"
case "$rc" in
    0) record pytest ok ;;
    5) record pytest "FAILED (no tests collected)" ;;
    *) record pytest "FAILED (pytest exit $rc)" ;;
esac

# ---------------------------------------------------------------- summary
# Counts for the closing line: pytest's own counts; pgTAP: "Tests=N" (assertions run) and, per
# failing file in prove's report "(Wstat: W Tests: T Failed: F)", F failed (or 1 if F is 0: the
# file died or had a bad plan).
count() { grep -oE "[0-9]+ $1" <<<"$2" | head -n1 | cut -d' ' -f1; }
pt_passed="$(count passed "$PYTEST_TOTAL")"
pt_failed="$(count failed "$PYTEST_TOTAL")"
pt_errors="$(count 'errors?' "$PYTEST_TOTAL")"
tap_total="$(grep -oE 'Tests=[0-9]+' <<<"$PGTAP_TOTAL" | cut -d= -f2)"
tap_fails="$(grep -oE '\(Wstat: .* Failed: [0-9]+\)' "$PGTAP_OUT" | sed -E 's/.*Failed: ([0-9]+)\)/\1/')"
tap_failed_asserts="$(awk '{n += $1} END {print n + 0}' <<<"$tap_fails")"
tap_failed="$(awk 'NF {n += ($1 > 0 ? $1 : 1)} END {print n + 0}' <<<"$tap_fails")"
passed=$((${pt_passed:-0} + ${tap_total:-0} - tap_failed_asserts))
failed=$((${pt_failed:-0} + ${pt_errors:-0} + tap_failed))

say "summary"
status=0
for s in "${STEPS[@]}"; do
    printf '  %-8s %s\n' "$s:" "${RESULT[$s]}"
    [[ "${RESULT[$s]}" == ok ]] || status=1
done
printf '  pgTAP:   %s\n' "${PGTAP_TOTAL:-none}"
printf '  pytest:  %s\n' "${PYTEST_TOTAL:-none}"
echo "total: $passed passed, $failed failed"
exit "$status"
