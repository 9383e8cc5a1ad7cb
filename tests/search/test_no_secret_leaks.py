"""A real ``hpsearch run`` on PostgreSQL with a password in the storage URL: the password is
in no row of the database, no report, no file the run wrote and no line it printed.

The local server trusts local connections, so any password is accepted. Three forms are used
on one database: a password in the URL's user part (``--storage URL``), a percent-encoded one
(``--sto=URL``, argparse's abbreviation), and ``?password=`` in ``HPSEARCH_STORAGE`` for the
reading commands.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import PG_HOST, PG_PORT, PG_USER, create_database, drop_database
from tests.helpers import run_cli_process, write_simulated_space

pytestmark = pytest.mark.slow

# Each core ("kr3t", "kR4t", "Qu3ry") is looked for alone, so a half-removed password fails.
USERINFO_PW = "Sekr3t-A"
ENCODED_PW, ENCODED_RAW = "S@kR4t/B%", "S%40kR4t%2FB%25"
QUERY_PW = "Qu3ry-C"
CORES = ("kr3t", "kR4t", "kR4t%2F", "Qu3ry")


def write_space(folder: Path, trials: int = 2) -> str:
    return write_simulated_space(
        folder,
        "space.yaml",
        name="secret_sim",
        trials=trials,
        sampler={"type": "random"},
        pruner={"type": "none"},
        retries=None,
        params={"per_device_train_batch_size": 8},
        task={"max_steps": 10},
    )


def assert_clean(where: str, text: str) -> None:
    for core in CORES:
        assert core not in text, f"{core!r} leaked into {where}: ...{_around(text, core)}..."


def _around(text: str, core: str) -> str:
    i = text.index(core)
    return text[max(0, i - 120) : i + 60]


def database_text(database: str) -> str:
    """Every row of every table, as text."""
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r[0] for r in cur.fetchall()]
            rows = []
            for table in tables:
                cur.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')
                rows += [f"{table}: {r[0]}" for r in cur.fetchall()]
    finally:
        conn.close()
    assert any(r.startswith("study_user_attributes:") for r in rows)
    return "\n".join(rows)


def files_text(folder: Path) -> str:
    return "\n".join(
        f"{p}: {p.read_text(errors='replace')}" for p in sorted(folder.rglob("*")) if p.is_file()
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def database() -> object:
    name = create_database("hpsearch_secret")
    yield name
    drop_database(name)


def test_no_password_reaches_the_database_a_report_a_file_or_the_terminal(
    database: str, tmp_path: Path
) -> None:
    space = write_space(tmp_path)
    base = f"{PG_HOST}:{PG_PORT}/{database}"
    userinfo_url = f"postgresql://{PG_USER}:{USERINFO_PW}@{base}"
    encoded_url = f"postgresql://{PG_USER}:{ENCODED_RAW}@{base}"
    query_url = f"postgresql://{PG_USER}@{base}?password={QUERY_PW}"
    outputs = []

    def run(*args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
        result = run_cli_process(*args, env=env, timeout=300)
        outputs.append(output(result))
        assert result.returncode == code, output(result)
        return result.stdout

    common = ["--space", str(space), "--workers", "1", "--checkpoint-dir", str(tmp_path / "ck")]
    # Password in the user part, with the dashboard beside the run (its log is scanned too).
    run("run", *common, "--study", "a", "--storage", userinfo_url, "--dashboard",
        "--dashboard-port", "0")  # fmt: skip
    # Percent-encoded, through argparse's abbreviation and --flag=value.
    run("run", *common, "--study", "b", f"--sto={encoded_url}")
    stored = database_text(database)
    assert "hpsearch run --space" in stored  # the command and note are stored, redacted
    assert_clean("the database", stored)
    # Reading commands with ?password= in the environment.
    env = {"HPSEARCH_STORAGE": query_url}
    studies = json.loads(run("studies", "--json", env=env))
    assert {s["name"] for s in studies} == {"a", "b"}
    status = json.loads(run("status", "--json", env=env))
    assert database in status["storage"] and "password=***" in status["storage"]
    run("best", "a", env=env)
    report = tmp_path / "report.html"
    run("report", "a", "--out", str(report), env=env)
    run("status", "missing", "--storage", encoded_url, code=2)  # an error message

    assert_clean("the database", database_text(database))  # reading wrote nothing either
    assert_clean("the report", report.read_text())
    assert "Study note" in report.read_text()
    assert_clean("a file the run wrote", files_text(tmp_path / "ck"))
    assert_clean("the terminal", "\n".join(outputs))


def test_a_private_ray_logs_no_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ray writes the runtime env it is given, values included, to world-readable logs; the
    workers of a private Ray inherit the driver's environment instead."""
    import os

    import ray

    from hpsearch.search.engine import connect, disconnect

    monkeypatch.setenv("HF_TOKEN", "hf_Ray-Tok3n-x")
    monkeypatch.setenv("WANDB_API_KEY", "wb-Ray-K3y-x")
    connect(None, num_cpus=1)
    try:

        @ray.remote(num_cpus=0)
        def worker_env() -> tuple[str | None, str | None]:
            return os.environ.get("HF_TOKEN"), os.environ.get("WANDB_API_KEY")

        assert ray.get(worker_env.remote()) == ("hf_Ray-Tok3n-x", "wb-Ray-K3y-x")
        session = Path(ray.nodes()[0]["ObjectStoreSocketName"]).parent.parent
        logs = files_text(session / "logs")
    finally:
        disconnect()
    assert "runtime env" in logs  # the log that used to carry the values was read
    assert "Tok3n" not in logs and "K3y" not in logs


def test_continuing_a_study_masks_a_password_an_earlier_version_stored(tmp_path: Path) -> None:
    """Before the fix, the stored command and the dashboard note held the password: continuing
    such a study masks both (the password was never given to this process)."""
    import optuna
    from optuna_dashboard import get_note, save_note

    space = write_space(tmp_path, trials=1)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    common = ["--storage", url, "--workers", "1", "--checkpoint-dir", str(tmp_path / "ck")]
    first = run_cli_process("run", "--space", str(space), "--study", "old", *common, timeout=300)
    assert first.returncode == 0, output(first)
    old = f"hpsearch run --space s.yaml --storage postgresql://{PG_USER}:OldSekr3t@db:5432/hps"
    plain = optuna.load_study(study_name="old", storage=optuna.storages.RDBStorage(url))
    plain.set_user_attr("hpsearch.command", old)  # as an earlier version wrote them
    save_note(plain, f"**Command:** `{old}`\n")
    resumed = run_cli_process("resume", "old", *common, timeout=300)
    assert resumed.returncode == 0, output(resumed)
    assert "Masked a database password" in resumed.stdout
    study = optuna.load_study(study_name="old", storage=optuna.storages.RDBStorage(url))
    for where, text in (
        ("command", study.user_attrs["hpsearch.command"]),
        ("note", get_note(study)),
    ):
        assert "OldSekr3t" not in text and "postgres:***@db" in text, (where, text)
