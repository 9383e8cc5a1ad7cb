"""The Python API as a notebook uses it: run a study, read its best trial, resume it.

Real Ray, real PostgreSQL, the simulated trainer. Errors raise (no exit), the process keeps its
signal handlers, logging and warnings as they were.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpsearch.search as hs
from hpsearch.search.engine import InputError
from hpsearch.search.outputs import NoBestTrialError
from hpsearch.spaces import SearchSpace, SpaceError
from hpsearch.storage import StudyNotFoundError
from tests.helpers import load_study, simulated_space_dict, write_simulated_space


def test_a_notebook_runs_a_study_reads_the_best_and_resumes_it(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    lines: list[str] = []
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    filters = list(warnings.filters)
    space = hs.load_space(write_simulated_space(tmp_path, trials=4, pruner={"type": "none"}))
    assert isinstance(space, SearchSpace) and hs.load_space(space) is space

    study = hs.run(
        space,
        study="notebook",
        storage=fresh_pg_url,
        workers=2,
        checkpoint_dir=tmp_path / "ck",
        emit=lines.append,
    )

    assert isinstance(study, optuna.Study) and study.study_name == "notebook"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(complete) == 4
    assert any("Created study 'notebook'" in line for line in lines)
    best = hs.best("notebook", storage=fresh_pg_url)
    assert best.number == study.best_trial.number and best.value == study.best_value
    assert set(best.params) == {"learning_rate", "per_device_train_batch_size"}
    assert hs.best(study).number == best.number  # a loaded study too
    # a notebook keeps its Ctrl-C, its warnings and its logging
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    added = [f for f in warnings.filters if f not in filters]  # (libraries add their own)
    catch_all = [f for f in added if f[0] == "ignore" and f[1] is None and f[3] is None]
    assert not [f for f in catch_all if f[2] in (Warning, UserWarning)], catch_all
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)

    resumed = hs.resume("notebook", storage=fresh_pg_url, trials=6, emit=lines.append)
    finished = resumed.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(finished) == 6
    assert load_study(fresh_pg_url, "notebook").user_attrs["hpsearch.budget"] == 6


def test_a_built_in_name_or_a_path_loads_the_same_space(tmp_path: Path) -> None:
    assert hs.load_space("lora_small").name == "lora_small"
    path = Path(write_simulated_space(tmp_path))
    assert hs.load_space(path).to_dict() == hs.load_space(str(path)).to_dict()
    with pytest.raises(TypeError, match="got int"):
        hs.load_space(3)  # type: ignore[arg-type]


def test_errors_raise_with_the_cli_s_one_line_messages(
    fresh_pg_url: str, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    bad = write_simulated_space(tmp_path, file_name="bad.yaml", sampler={"type": "tpe", "x": 1})
    with pytest.raises(SpaceError) as raised:
        hs.run(bad, storage=fresh_pg_url)
    printed = cli("run", "--space", bad, "--storage", fresh_pg_url)
    assert printed.code == 2
    assert f"error: {str(raised.value).splitlines()[0]}" in printed.err
    with pytest.raises(StudyNotFoundError, match="nope"):
        hs.resume("nope", storage=fresh_pg_url)
    with pytest.raises(StudyNotFoundError, match="nope"):
        hs.best("nope", storage=fresh_pg_url)
    with pytest.raises(InputError, match="--trials must be at least 1, got 0"):
        hs.run(simulated_space_dict_space(), storage=fresh_pg_url, trials=0)
    with pytest.raises(InputError, match="trials must be a whole number"):
        hs.run("lora_small", storage=fresh_pg_url, trials=True)


def simulated_space_dict_space() -> SearchSpace:
    from hpsearch.spaces import load_space_dict

    return load_space_dict(simulated_space_dict())


def test_best_of_a_study_without_a_complete_trial_raises(fresh_pg_url: str) -> None:
    optuna.create_study(study_name="empty", storage=fresh_pg_url.replace("://", "+psycopg2://"))
    with pytest.raises(NoBestTrialError, match="no complete trial"):
        hs.best("empty", storage=fresh_pg_url)
    study = optuna.load_study(
        study_name="empty", storage=fresh_pg_url.replace("://", "+psycopg2://")
    )
    with pytest.raises(InputError, match="a loaded study has its own"):
        hs.best(study, storage=fresh_pg_url)


def test_importing_the_api_configures_nothing() -> None:
    """No logging handlers, warning filters or signal handlers from importing hpsearch.search
    (and its names), and Optuna, Ray and the engine load only on first use."""
    code = """
import logging, signal, sys, warnings
filters, handlers = list(warnings.filters), (signal.getsignal(2), signal.getsignal(15))
import hpsearch.search as hs
assert "optuna" not in sys.modules and "ray" not in sys.modules, "heavy import"
from hpsearch.search import best, load_space, resume, run
assert logging.getLogger().handlers == [], logging.getLogger().handlers
added = [f for f in warnings.filters if f not in filters]  # libraries add their own
assert not [f for f in added if f[0] == "ignore" and f[1] is None and f[3] is None], added
assert (signal.getsignal(2), signal.getsignal(15)) == handlers, "signal handlers changed"
assert sorted(hs.__all__) == ["HpsearchError", "best", "load_space", "resume", "run"]
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_ctrl_c_in_a_notebook_raises_keyboard_interrupt_and_resume_continues(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    """Without handle_signals the process's own SIGINT handler stays: Ctrl-C raises
    KeyboardInterrupt from run(), the running trials are handed over, resume finishes them."""
    space = write_simulated_space(
        tmp_path,
        trials=2,
        pruner={"type": "none"},
        task={"max_steps": 40, "simulated": {"seconds_per_step": 0.25}},
    )
    code = f"""
import os, signal, threading, time
import optuna
import sqlalchemy
import hpsearch.search as hs
from optuna.trial import TrialState

url, space, ck = {fresh_pg_url!r}, {space!r}, {str(tmp_path / "ck")!r}
sa = url.replace("postgresql://", "postgresql+psycopg2://")
engine = sqlalchemy.create_engine(sa)

def interrupt_once_running():
    while True:
        time.sleep(0.5)
        try:  # read only once the run has created the schema (Optuna's version row)
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).one()
            trials = optuna.load_study(study_name="nb", storage=sa).trials
        except Exception:  # no schema or no study yet
            continue
        if any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials):
            os.kill(os.getpid(), signal.SIGINT)
            return

threading.Thread(target=interrupt_once_running, daemon=True).start()
try:
    hs.run(space, study="nb", storage=url, workers=1, checkpoint_dir=ck, emit=lambda line: None)
except KeyboardInterrupt:
    print("interrupted")
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
study = hs.resume("nb", storage=url, emit=lambda line: None)
done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
print("complete", len(done))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["interrupted", "complete", "2"], result.stdout
    trials = load_study(fresh_pg_url, "nb").get_trials(deepcopy=False)
    # the interrupted trial was handed over: a successor continued it to COMPLETE
    assert any(t.state == TrialState.FAIL for t in trials)
    assert any(t.state == TrialState.COMPLETE and "retry_of" in t.user_attrs for t in trials)


def test_a_notebook_runs_a_study_without_ray_on_the_in_process_pool(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    """``pool="inprocess"``: the same driver, no Ray started; a bad pool name is one line."""
    lines: list[str] = []
    space = write_simulated_space(tmp_path, trials=3, pruner={"type": "none"})
    with pytest.raises(InputError, match="unknown pool 'threads'"):
        hs.run(space, study="np", storage=fresh_pg_url, pool="threads", emit=lines.append)
    study = hs.run(
        space,
        study="inproc",
        storage=fresh_pg_url,
        workers=2,
        pool="inprocess",
        checkpoint_dir=tmp_path / "ck",
        emit=lines.append,
    )
    assert len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) == 3
    assert any(line.startswith("Pool: 2 InProcessPool") for line in lines), lines
    assert not any(line.startswith("Ray:") for line in lines), lines
    assert hs.best(study).value == study.best_value
    resumed = hs.resume("inproc", storage=fresh_pg_url, trials=4, pool="inprocess", emit=print)
    assert len(resumed.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) == 4
