"""Storages written by earlier versions: an earlier hpsearch study layout resumes; an older
Optuna schema is refused in one line naming ``optuna storage upgrade``, and resumes after it;
a layout this hpsearch cannot read says so in one line, with what to do. Nothing is written to
a storage that is refused.

The fixtures and the script that made them are in tests/storage/fixtures/.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures"
THIS_VERSION = FIXTURES / "hpsearch-0.1.0-interrupted.sqlite"  # every later version resumes it
OLD_OPTUNA = FIXTURES / "optuna-3.1.1-schema.sqlite"
STUDY, BUDGET, MAX_RETRIES = "layout", 6, 2


def _copy(fixture: Path, tmp_path: Path) -> tuple[Path, str]:
    database = tmp_path / fixture.name
    shutil.copyfile(fixture, database)
    return database, f"sqlite:///{database}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resume(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli_process(
        "resume", STUDY, "--storage", url, "--workers", "2", "--checkpoint-dir", str(tmp_path)
    )


def _check_resumed(url: str, before: list[optuna.trial.FrozenTrial]) -> None:
    study = optuna.load_study(study_name=STUDY, storage=url)
    check_study_invariants(study, budget=BUDGET, max_retries=MAX_RETRIES)
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(len(trials)))
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    for old in before:  # what was there is kept as it was; RUNNING orphans became retries
        now = trials[old.number]
        assert now.params == old.params
        if old.state != TrialState.RUNNING:
            assert now.state == old.state
        else:
            assert now.state == TrialState.FAIL
            assert [t for t in trials if t.user_attrs.get("retry_of") == old.number]


def _trials_of(fixture: Path, tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    _, url = _copy(fixture, tmp_path / "peek")
    if fixture == OLD_OPTUNA:  # today's Optuna reads the old schema only once upgraded
        subprocess.run(_optuna_upgrade(url), check=True, capture_output=True)
    return optuna.load_study(study_name=STUDY, storage=url).get_trials()


def _optuna_upgrade(url: str) -> list[str]:
    return [str(Path(sys.executable).parent / "optuna"), "storage", "upgrade", "--storage", url]


def test_a_study_from_this_version_resumes_with_the_exact_budget(tmp_path: Path) -> None:
    (tmp_path / "peek").mkdir()
    before = _trials_of(THIS_VERSION, tmp_path)
    assert {t.state for t in before} >= {TrialState.RUNNING, TrialState.FAIL}
    _, url = _copy(THIS_VERSION, tmp_path)
    result = _resume(url, tmp_path / "ck")
    assert result.returncode == 0, result.stdout + result.stderr
    _check_resumed(url, before)


def test_an_older_optuna_schema_is_refused_then_resumes_after_the_upgrade(
    tmp_path: Path,
) -> None:
    (tmp_path / "peek").mkdir()
    before = _trials_of(OLD_OPTUNA, tmp_path)
    database, url = _copy(OLD_OPTUNA, tmp_path)
    digest = _digest(database)
    for command in (["resume", STUDY, "--checkpoint-dir", str(tmp_path / "ck")], ["studies"]):
        result = run_cli_process(*command, "--storage", url)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 3 and len(lines) == 1, result.stderr
        assert "older Optuna schema (set up by Optuna 3.1.1" in lines[0], lines
        assert f"optuna storage upgrade --storage '{url}'" in lines[0], lines
        assert _digest(database) == digest, "a refused storage was written to"

    upgrade = subprocess.run(_optuna_upgrade(url), capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    result = _resume(url, tmp_path / "ck")
    assert result.returncode == 0, result.stdout + result.stderr
    _check_resumed(url, before)


def _set_study_attr(database: Path, key: str, value: object | None) -> None:
    with sqlite3.connect(database) as conn:
        if value is None:
            conn.execute("DELETE FROM study_user_attributes WHERE key = ?", (key,))
        else:
            conn.execute(
                "UPDATE study_user_attributes SET value_json = ? WHERE key = ?",
                (json.dumps(value), key),
            )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("hpsearch.version", "99.0", "written by hpsearch 99.0, newer than this hpsearch"),
        ("hpsearch.version", "99.0", "pip install -U hpsearch"),
        ("hpsearch.space", None, "has no hpsearch.space, so hpsearch cannot continue it"),
        ("hpsearch.budget", "six", "are not valid for this hpsearch version"),
        ("hpsearch.space", {"name": "layout", "params": 3}, "are not valid for this hpsearch"),
    ],
)
def test_a_layout_this_version_cannot_read_says_what_to_do(
    tmp_path: Path, key: str, value: object | None, expected: str
) -> None:
    database, url = _copy(THIS_VERSION, tmp_path)
    _set_study_attr(database, key, value)
    digest = _digest(database)
    result = _resume(url, tmp_path / "ck")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert expected in lines[0], lines
    assert "hpsearch" in lines[0].split(";")[-1] or "--study NEW_NAME" in lines[0], lines
    assert _digest(database) == digest, "a study hpsearch cannot read was written to"
