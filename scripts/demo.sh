#!/usr/bin/env bash
# `make demo`: start (or reuse) the dev cluster in .pgdata with pg_cron, migrate and
# schedule the reaper, then run the live crash-recovery demo.  The cluster keeps running
# afterwards so you can look around; `make db-down` stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/devdb.sh up >/dev/null
# shellcheck source=/dev/null
source .pgdata/env
.venv/bin/tasklease schedule --dsn "$TASKLEASE_DSN" >/dev/null
exec .venv/bin/python -m tasklease.demo --dsn "$TASKLEASE_DSN" "$@"
