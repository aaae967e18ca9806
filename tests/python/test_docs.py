"""The docs against the code: commands, make targets, error codes, settings, SQL examples.

Everything the README and docs/*.md tell a reader to type must exist: every
`tasklease <subcommand> [--option]` in the CLI parser, every `make <target>` in the
Makefile, every `tasklease.<object>` of an SQL example in sql/ or migrations/. Every TL
code that sql/*.sql raises must be documented in docs/errors.md and mapped in
python/tasklease/errors.py; every setting of sql/010_settings.sql must be in the README's
settings table. The README's psql walkthrough is run against a migrated database.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from tasklease.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

# A command word in command position: line start (after an optional prompt or a
# .venv/bin/ prefix), after `&&`, `||`, `;`, `|`, or at the start of an inline code span.
_CMD_START = r"(?:^|`|&&|\|\||;|\||\$ )[ \t]*(?:[\w./-]*/)?"
_TASKLEASE_CMD = re.compile(_CMD_START + r"tasklease[ \t]+([a-z][a-z0-9-]*)((?:[^`\n|;&#])*)", re.M)
_MAKE_CMD = re.compile(_CMD_START + r"make[ \t]+((?:[a-z][\w-]*[ \t]*)+)", re.M)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def _text(path: Path) -> str:
    # Shell line continuations become one line, so options on later lines count.
    return re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))


def _code(text: str) -> str:
    """Fenced blocks (except SQL, which has no shell commands) and inline code spans."""
    parts = [body for lang, body in _FENCE.findall(text) if lang not in ("sql", "mermaid")]
    prose = _FENCE.sub("", text)
    parts += [f"`{span}`" for span in re.findall(r"`([^`\n]+)`", prose)]
    return "\n".join(parts)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("tasklease's parser has no subcommands")


def _innermost(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The parser of a nested subcommand the words name (`tasklease periodic add ...`)."""
    for word in words:
        subs = next((dict(a.choices) for a in parser._actions
                     if isinstance(a, argparse._SubParsersAction)), None)
        if not subs or word not in subs:
            break
        parser = subs[word]
    return parser


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def _cli_mentions(path: Path) -> list[tuple[str, set[str], list[str]]]:
    """(command, options, the words after the command) of each `tasklease ...` mention."""
    found = []
    for match in _TASKLEASE_CMD.finditer(_code(_text(path))):
        found.append((match.group(1), set(_OPTION.findall(match.group(2))),
                      match.group(2).split()))
    return found


def _makefile_targets() -> set[str]:
    makefile = ROOT / "Makefile"
    assert makefile.is_file(), "the README names make targets but there is no Makefile"
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.%-]+(?:\s+[A-Za-z0-9_.%-]+)*)\s*::?(?!=)", line)
        if m and not line.startswith((".", "\t")):
            targets.update(m.group(1).split())
    return targets


def test_every_cli_command_and_option_in_the_docs_exists() -> None:
    commands = _subparsers(build_parser())
    problems = []
    mentions = 0
    for path in [README, *DOCS]:
        for name, options, words in _cli_mentions(path):
            mentions += 1
            if name not in commands:
                problems.append(f"{path.name}: `tasklease {name}` is not a CLI command")
                continue
            parser = _innermost(commands[name], words)
            for option in sorted(options - _options(parser)):
                problems.append(f"{path.name}: `{parser.prog}` has no option {option}")
    assert mentions > 0, "no `tasklease <command>` found in the docs: is the pattern broken?"
    assert not problems, "\n".join(problems)


def test_readme_documents_every_cli_command() -> None:
    commands = set(_subparsers(build_parser()))
    mentioned = {name for name, _, _ in _cli_mentions(README)}
    assert commands - mentioned == set(), "CLI commands missing from README.md"


def test_every_make_target_in_the_readme_exists() -> None:
    wanted = set()
    for match in _MAKE_CMD.finditer(_code(_text(README))):
        wanted.update(match.group(1).split())
    assert {"demo", "test"} <= wanted, "the README must show `make demo` and `make test`"
    missing = sorted(wanted - _makefile_targets())
    assert not missing, f"make targets named in README.md but not in the Makefile: {missing}"


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:25])
    assert "make demo" in first_screen and "make test" in first_screen


def _raised_codes() -> set[str]:
    codes = set()
    for path in sorted((ROOT / "sql").glob("*.sql")):
        # Quoted codes only: ERRCODE = 'TL001' and codes passed to _check_range. The
        # file headers list every code unquoted and do not count.
        codes.update(re.findall(r"'(TL\d{3})'", path.read_text(encoding="utf-8")))
    return codes


def test_every_raised_error_code_is_documented_and_mapped() -> None:
    raised = _raised_codes()
    assert len(raised) >= 5, f"found only {sorted(raised)} in sql/*.sql: is the pattern broken?"
    errors_md = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\|\s*`(TL\d{3})`\s*\|", errors_md, re.M))
    errors_py = (ROOT / "python" / "tasklease" / "errors.py").read_text(encoding="utf-8")
    mapped = set(re.findall(r"""sqlstate\s*=\s*["'](TL\d{3})["']""", errors_py))
    assert raised - documented == set(), "raised in sql/ but not a row of docs/errors.md"
    assert raised - mapped == set(), "raised in sql/ but without a class in errors.py"
    assert documented - raised == set(), "documented in docs/errors.md but never raised"


def test_readme_settings_table_matches_the_settings_file() -> None:
    settings_sql = (ROOT / "sql" / "010_settings.sql").read_text(encoding="utf-8")
    defaults = dict(re.findall(r"^\('([a-z_]+)',\s*(\d+),", settings_sql, re.M))
    assert len(defaults) >= 6, "settings rows not found in sql/010_settings.sql"
    readme = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*`([a-z_]+)`\s*\|\s*(\d+)\s*\|", readme, re.M))
    for name, value in defaults.items():
        assert rows.get(name) == value, f"README settings row for {name}: want default {value}"


def _sql_objects() -> set[str]:
    pattern = re.compile(
        r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|VIEW|TABLE|TYPE|SEQUENCE)\s+"
        r"(?:IF\s+NOT\s+EXISTS\s+)?tasklease\.(\w+)",
        re.I,
    )
    found = set()
    for path in [*(ROOT / "sql").glob("*.sql"), *(ROOT / "migrations").glob("*.sql")]:
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def _sql_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text) if lang == "sql"]


def test_sql_examples_name_existing_objects() -> None:
    objects = _sql_objects()
    missing = []
    checked = 0
    for path in [README, *DOCS]:
        for block in _sql_blocks(path):
            for name in re.findall(r"\btasklease\.([a-z_]+)\b", block):
                checked += 1
                if name not in objects:
                    missing.append(f"{path.name}: tasklease.{name}")
    assert checked > 10, "too few tasklease.<object> references found in SQL examples"
    assert not missing, "SQL examples name objects that sql/ and migrations/ do not define:\n" + (
        "\n".join(sorted(set(missing)))
    )


def _psql() -> str | None:
    bindir = os.environ.get("TASKLEASE_PG_BINDIR")
    if bindir and (Path(bindir) / "psql").is_file():
        return str(Path(bindir) / "psql")
    return shutil.which("psql")


def test_readme_psql_walkthrough_runs(dsn: str) -> None:
    """The first SQL block of the README, run as written with psql, does what it says."""
    psql = _psql()
    if psql is None:
        pytest.skip("psql not found")
    block = _sql_blocks(README)[0]
    assert "claim_task" in block and "reap_stale_tasks" in block
    proc = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-"],
        input=block,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(dsn, autocommit=True) as conn:
        statuses = dict(
            conn.execute("SELECT status::text, count(*) FROM tasklease.tasks GROUP BY 1")
        )
        reaped = conn.execute(
            "SELECT count(*) FROM tasklease.reaper_log "
            "WHERE actor = 'reap_stale_tasks' AND action = 'requeued' AND reason = 'lease_expired'"
        ).fetchone()
    assert statuses.get("completed") == 1, statuses
    assert statuses.get("running") is None, statuses
    assert reaped == (1,)


def test_idempotency_keys_in_the_docs_are_the_task_id_never_the_token() -> None:
    """Every re-execution of a task gets a new lease token, so a side effect keyed on the
    token is done again on each retry: examples key on the task id and use the token only
    as a fence (issue 10, item 8)."""
    keys = []
    for path in [README, *DOCS]:
        for line in path.read_text().splitlines():
            for m in re.finditer(r"idempotency_key\s*=\s*(f?\"[^\"]*\"|[\w.\[\]\"']+)", line):
                keys.append((path.name, m.group(1)))
    assert keys, "the README shows an idempotency key"
    bad = [(name, key) for name, key in keys if "lease_token" in key or "task.id" not in key]
    assert not bad, bad
