"""The pooling switch itself: how a mode is chosen, what it does to a connection, and that
every command takes the connection options (tasklease/pooling.py).  Through a real
PgBouncer: test_pgbouncer.py."""

from __future__ import annotations

import argparse
import os

import psycopg
import pytest
from tasklease.cli import build_parser, main
from tasklease.db import connect
from tasklease.errors import InvalidPooling
from tasklease.metrics import Metrics
from tasklease.pooling import (
    LISTEN_DSN_ENV,
    NO_LISTEN_ENV,
    POOLER_ENV,
    PREPARE_ENV,
    Pooling,
    cli_options,
)
from tasklease.worker.link import Link
from tasklease.worker.timing import ConnectionBounds

ENV = (POOLER_ENV, LISTEN_DSN_ENV, NO_LISTEN_ENV, PREPARE_ENV)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_arguments_win_over_the_environment_which_wins_over_the_default(monkeypatch):
    assert Pooling.resolve() == Pooling("none", None, True)
    monkeypatch.setenv(POOLER_ENV, "transaction")
    monkeypatch.setenv(LISTEN_DSN_ENV, "host=direct")
    monkeypatch.setenv(NO_LISTEN_ENV, "1")
    assert Pooling.resolve() == Pooling("transaction", "host=direct", False)
    assert Pooling.resolve("session", "host=other", True) == Pooling("session", "host=other", True)
    monkeypatch.setenv(POOLER_ENV, "bogus")
    with pytest.raises(InvalidPooling, match="transaction"):
        Pooling.resolve()


def test_what_each_mode_turns_off(monkeypatch):
    direct, session, pooled = Pooling(), Pooling("session"), Pooling("transaction")
    assert (direct.prepare_threshold(), session.prepare_threshold(),
            pooled.prepare_threshold()) == (5, 5, None)
    monkeypatch.setenv(PREPARE_ENV, "3")  # PgBouncer 1.21+ with max_prepared_statements
    assert pooled.prepare_threshold() == 3
    assert direct.listen_target("main") == "main"
    assert pooled.listen_target("main") is None, "poll only"
    with_direct = Pooling("transaction", listen_dsn="direct")
    assert with_direct.listen_target("main") == "direct"
    assert with_direct.for_listen().pooler == "none"
    assert Pooling(listen=False).listen_target("main") is None
    assert [p.describe_listen("main") for p in (direct, pooled, with_direct)] == \
        ["dsn", "off", "listen_dsn"]


@pytest.mark.parametrize("pooler", ["none", "session", "transaction"])
def test_every_mode_bounds_worker_statements(dsn, pooler):
    """Against the server itself every mode must bound: startup option, SET, or a local
    setting per statement."""
    link = Link(dsn, "bounds", "renew", Metrics("bounds"), ConnectionBounds(0.3), Pooling(pooler))
    try:
        with pytest.raises(psycopg.errors.QueryCanceled):
            link.once(lambda c: c.execute("SELECT pg_sleep(3)"))
        assert link.conn.prepare_threshold == (None if pooler == "transaction" else 5)
    finally:
        link.close()
    with connect(dsn, "plain", pooling=Pooling(pooler)) as plain:  # a client: unbounded
        assert plain.execute("SHOW statement_timeout").fetchone()[0] == "0"


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict:
    """Every runnable command: a command with subcommands (periodic) stands for them."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is None:
        return {prefix.strip(): parser}
    out: dict = {}
    for name, child in sub.choices.items():
        out.update(_commands(child, f"{prefix}{name} "))
    return out


def test_every_command_takes_the_connection_options():
    commands = _commands(build_parser())
    assert {"worker", "status", "periodic add", "periodic list"} <= set(commands)
    for name, parser in commands.items():
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--dsn", "--pooler", "--listen-dsn", "--no-listen"} <= options, name


def test_the_options_hold_while_the_command_runs_and_no_longer():
    args = argparse.Namespace(pooler="transaction", listen_dsn="host=direct", no_listen=True)
    with cli_options(args):
        assert Pooling.resolve() == Pooling("transaction", "host=direct", False)
    assert not any(os.environ.get(name) for name in ENV)


def test_a_bad_mode_is_a_usage_error(dsn, capsys, monkeypatch):
    monkeypatch.setenv(POOLER_ENV, "statement")
    assert main(["status", "--dsn", dsn]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tasklease: error:") and POOLER_ENV in err[0]
