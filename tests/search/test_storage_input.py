"""Storage values from the command line: reading commands create nothing, and every
malformed or unusable storage is one clear line with exit code 2 (3: the server is down)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import PG_HOST, PG_PORT, PG_USER
from tests.helpers import CliResult

READING = [
    ["status", "nope"],
    ["status"],
    ["studies"],
    ["best", "nope"],
    ["report", "nope"],
    ["resume", "nope"],
    ["run", "--study", "nope"],  # continue an existing study: it must exist
    ["dashboard", "--study", "nope"],
]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def pg_tables(url: str) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return sorted(r[0] for r in cur.fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a))
def test_reading_commands_create_no_sqlite_file_folder_or_lock(
    args: list[str], tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    before = tree(tmp_path)
    typo = tmp_path / "mistyped" / "studies.db"
    code, out, err = astuple(cli(*args, "--storage", f"sqlite:///{typo}"))
    assert code == 2, (out, err)
    assert str(typo) in err and "unexpected" not in err
    # the default embedded database that was never created: nothing is created either
    code, out, err = astuple(cli(*args))
    assert code in (0, 2), (out, err)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a))
def test_reading_commands_create_no_tables(
    args: list[str], fresh_pg_url: str, cli: Callable[..., CliResult]
) -> None:
    code, out, err = astuple(cli(*args, "--storage", fresh_pg_url))
    assert code in (0, 2), (out, err)
    assert fresh_pg_url.rsplit("/", 1)[1] in out + err  # the database is named
    assert pg_tables(fresh_pg_url) == []


def test_dashboard_on_an_empty_database_starts_nothing(fresh_pg_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hpsearch.search.cli.main", "dashboard", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "HPSEARCH_STORAGE": fresh_pg_url},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no studies in" in result.stderr
    assert pg_tables(fresh_pg_url) == []


BAD_STORAGE = [
    ("", "empty"),
    ("postgresql://", "no host"),
    (f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}", "no database"),
    (f"postgresql://{PG_USER}@/test", "no host"),
    (f"postgresql://{PG_USER}@{PG_HOST}:abc/test", "invalid port 'abc'"),
    (f"postgresql://{PG_USER}@{PG_HOST}:70000/test", "port 70000"),
    (f"postgresql://{PG_USER}:p%zz@{PG_HOST}/test", "percent-escape"),
    (f"postgres://{PG_USER}@{PG_HOST}/test", "postgresql://"),
    ("mysql://u@h/db", "not supported"),
    ("host=h dbname=d password=x", "keyword"),
    ("just words", "not a database URL"),
    ("sqlite://", "in-memory"),
    (f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/hpsearch_no_such_db", "createdb"),
    ("sqlite:////sys/hpsearch-unwritable/studies.db", "/sys/hpsearch-unwritable/studies.db"),
    ("sqlite:////sys/studies.db", "/sys/studies.db"),  # the folder exists, unwritable
]


@pytest.mark.parametrize(("url", "fragment"), BAD_STORAGE)
@pytest.mark.parametrize("command", ["run", "studies"])
def test_bad_storage_is_one_clear_line_and_exit_2(
    command: str, url: str, fragment: str, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    args = [command, "--storage", url]
    if command == "run":
        space = tmp_path / "space.yaml"
        space.write_text(
            "name: s\ntrials: 1\nparams: {learning_rate: 0.001}\n"
            "task: {type: simulated, max_steps: 2, eval_steps: 1}\n"
        )
        args += ["--space", str(space), "--checkpoint-dir", str(tmp_path / "ck")]
    code, out, err = astuple(cli(*args))
    if command == "studies" and url.startswith("sqlite:////sys/"):
        fragment = "no database file"  # reading: a missing file is not created
    assert code == 2, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], err
    assert "unexpected" not in err and ".lock" not in err and "Traceback" not in err
