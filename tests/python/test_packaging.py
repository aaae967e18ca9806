"""The wheel ships sql/ and migrations/, and `tasklease migrate` works from an installed
wheel without a checkout (another folder, another environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import psycopg
import pytest
from tasklease.migrate import load_migrations

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"tasklease/_sql": REPO_ROOT / "sql", "tasklease/_migrations": REPO_ROOT / "migrations"}


def _run(cmd: list[str], cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO_ROOT),
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-q",
            "-w",
            str(out),
        ],
        cwd=out,
        timeout=240,
    )
    wheels = list(out.glob("tasklease-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A venv outside the checkout with only the wheel installed (its dependencies, psycopg,
    are borrowed from the test environment through a .pth file, so no download is needed)."""
    venv = tmp_path_factory.mktemp("venv")
    _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        cwd=venv,
    )
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv
        ).stdout.strip()
    )
    (purelib / "_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        cwd=venv,
        timeout=240,
    )
    return venv


def test_wheel_ships_identical_sql_and_migrations(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for inside, source in SHIPPED.items():
            expected = sorted(p.name for p in source.glob("*.sql"))
            packed = sorted(n[len(inside) + 1 :] for n in names if n.startswith(inside + "/"))
            assert expected and packed == expected, f"{inside}: {packed} != {expected}"
            for name in expected:
                assert zf.read(f"{inside}/{name}") == (source / name).read_bytes(), name
        assert "tasklease/__init__.py" in names and "tasklease/cli.py" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "tasklease = tasklease.cli:main" in zf.read(entry_points).decode()


def test_installed_package_uses_its_own_files(installed, tmp_path):
    proc = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import tasklease, tasklease._resources as r; "
            "print(tasklease.__file__); print(r.sql_dir()); print(r.migrations_dir())",
        ],
        cwd=tmp_path,
    )
    paths = [Path(line) for line in proc.stdout.splitlines()]
    assert len(paths) == 3
    for path in paths:
        assert path.is_relative_to(installed), f"{path} is not inside the installed venv"
        assert not path.is_relative_to(REPO_ROOT)


def test_tasklease_migrate_from_the_wheel_in_another_folder(installed, fresh_db, tmp_path):
    dsn = fresh_db()
    proc = _run([str(installed / "bin" / "tasklease"), "migrate", "--dsn", dsn], cwd=tmp_path)
    assert "applied migration" in proc.stdout
    with psycopg.connect(dsn) as c:
        versions = [
            r[0]
            for r in c.execute("SELECT version FROM tasklease.schema_migrations ORDER BY version")
        ]
        claim = c.execute(
            "SELECT to_regprocedure('tasklease.claim_task(text, text, integer)') IS NOT NULL"
        ).fetchone()[0]
        task = c.execute("SELECT tasklease.enqueue('{\"packaged\": true}')").fetchone()[0]
    assert versions == [m.version for m in load_migrations(SHIPPED["tasklease/_migrations"])]
    assert claim and task == 1


def test_the_wheel_needs_psycopg_only_and_rich_for_the_demo(wheel):
    """The core needs psycopg alone; rich comes with the demo extra, psycopg-pool with the
    console's (ui/app.py opens a ConnectionPool; dev includes ui)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [line.split(":", 1)[1].strip().replace("'", '"')
                    for line in zf.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert [r.split(">")[0].split("[")[0] for r in core] == ["psycopg"]
    assert any(r.startswith("rich") and 'extra == "demo"' in r for r in requires)
    # The console's pool comes with the ui extra (and dev, which includes ui), never the core.
    pool = [r for r in requires if "psycopg-pool" in r]
    assert any('extra == "ui"' in r for r in pool), pool
    assert all("extra ==" in r for r in pool), pool


def test_the_demo_handler_works_without_rich_and_the_display_says_what_is_missing(tmp_path):
    block_rich = "import sys; sys.modules['rich'] = None; "
    proc = subprocess.run(
        [sys.executable, "-c", block_rich + "import tasklease.demo as d; print(d.handle.__name__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "handle", proc.stderr
    proc = subprocess.run(
        [sys.executable, "-c", block_rich + "import tasklease.demo as d; d.main(['--dsn', 'x'])"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "tasklease demo: the display needs the 'rich' package, which is not installed: "
        "pip install 'tasklease[demo]' (make demo installs it)"]
