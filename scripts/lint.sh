#!/usr/bin/env bash
# Lint what exists: sqlfluff (sql/, migrations/), ruff (python/, tests/, bench/, scripts/),
# hadolint (docker/Dockerfile), scripts/check_compose.py (docker/compose.yaml).
# Runs every linter, exits non-zero if any failed. Needs .venv (scripts/bootstrap.sh).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
VENV="$ROOT/.venv"
failed=()

has_files() { # has_files EXT DIR... : true if any DIR holds a *.EXT file
    local ext="$1"
    shift
    [[ -n "$(find "$@" -name "*.$ext" -print -quit 2>/dev/null)" ]]
}

existing() { local p; for p in "$@"; do [[ -e "$p" ]] && printf '%s\n' "$p"; done; }

mapfile -t sqldirs < <(existing sql migrations)
if ((${#sqldirs[@]})) && has_files sql "${sqldirs[@]}"; then
    echo "lint: sqlfluff lint ${sqldirs[*]}"
    "$VENV/bin/sqlfluff" lint --disable-progress-bar "${sqldirs[@]}" || failed+=(sqlfluff)
else
    echo "lint: sqlfluff: no .sql files yet, skipped"
fi

mapfile -t pydirs < <(existing python tests bench scripts)
if ((${#pydirs[@]})) && has_files py "${pydirs[@]}"; then
    echo "lint: ruff check ${pydirs[*]}"
    "$VENV/bin/ruff" check "${pydirs[@]}" || failed+=(ruff)
else
    echo "lint: ruff: no .py files yet, skipped"
fi

if [[ -f docker/Dockerfile ]]; then
    echo "lint: hadolint docker/Dockerfile"
    "$VENV/bin/hadolint" docker/Dockerfile || failed+=(hadolint)
fi

if [[ -f docker/compose.yaml ]]; then
    echo "lint: check_compose.py docker/compose.yaml"
    "$VENV/bin/python" scripts/check_compose.py docker/compose.yaml || failed+=(compose)
fi

if command -v shellcheck >/dev/null 2>&1; then
    mapfile -t shfiles < <(find scripts .ci -maxdepth 1 -type f \( -name '*.sh' -o -name run \) | sort)
    if ((${#shfiles[@]})); then
        echo "lint: shellcheck ${shfiles[*]}"
        shellcheck -x "${shfiles[@]}" || failed+=(shellcheck)
    fi
fi

if ((${#failed[@]})); then
    echo "lint: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "lint: ok"
