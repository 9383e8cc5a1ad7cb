"""Trial reasons are one clean line wherever they are written; tracebacks go to the trial log.

A worker error reaches the driver as Ray's ``RayTaskError``: a coloured header, a traceback,
the exception. The driver (``_fail``) and the reaper (``mark_for_retry``) store it in
``fail_reason``, which the dashboard, ``hpsearch status`` and the report show.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import optuna
import pytest

from hpsearch.search.engine import Driver, DriverConfig, RayPool, build_task, mark_for_retry
from hpsearch.search.records import StudyMeta
from hpsearch.spaces import load_space
from hpsearch.storage import StudyPaths, open_storage, parse_storage_url, storage_of, trial_id_of
from tests.helpers import write_simulated_space


def _ray_worker_error() -> str:
    """What the driver gets when a worker raises: a real ``RayTaskError``, as a message."""
    from ray.exceptions import RayTaskError

    try:
        raise ValueError("The value nan is not acceptable")
    except ValueError as exc:
        error = RayTaskError(
            "TrialWorker.run", traceback.format_exc(), exc, pid=1, ip="127.0.0.1", actor_repr="w"
        )
    return f"worker error: {error}"


def _assert_one_clean_line(reason: str) -> None:
    assert "\n" not in reason and "\r" not in reason, reason
    assert "\x1b" not in reason, reason
    assert len(reason) <= 500, len(reason)
    assert reason.startswith("worker error: ") and reason.endswith(
        "ValueError: The value nan is not acceptable"
    ), reason


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Driver, optuna.Study, Path]:
    location = parse_storage_url(f"sqlite:///{tmp_path / 'studies.db'}")
    storage = open_storage(location)
    space = load_space(
        write_simulated_space(
            tmp_path,
            "reasons.yaml",
            plain=True,
            name="reasons",
            trials=2,
            resources={"cpus_per_trial": 1},
            params={"per_device_train_batch_size": None, "effective_batch_size": None},
            task={"max_steps": 10, "simulated": None},
        )
    )
    root = tmp_path / "ck"
    meta = StudyMeta(
        space=space, task=build_task(space, {}), budget=2, checkpoint_root=root, command=""
    )
    study = optuna.create_study(study_name="reasons", storage=storage)
    driver = Driver(
        DriverConfig(
            location=location,
            storage=storage,
            study=study,
            meta=meta,
            paths=StudyPaths(root, "reasons"),
            pool=RayPool(1, cpus_per_trial=1, gpus_per_trial=0),
            first_eval_step=5,
            max_step=10,
            emit=lambda line: None,
        )
    )
    return driver, study, root


def test_worker_errors_are_stored_as_one_clean_line(
    setup: tuple[Driver, optuna.Study, Path],
) -> None:
    driver, study, root = setup
    message = _ray_worker_error()
    assert "\n" in message and "\x1b[" in message  # what Ray hands over
    # the driver fails a trial whose worker raised
    failed = study.ask()
    driver._fail(trial_id_of(failed), message)
    trial = storage_of(study).get_trial(trial_id_of(failed))
    assert trial.state == optuna.trial.TrialState.FAIL
    _assert_one_clean_line(trial.user_attrs["fail_reason"])
    log = Path(trial.user_attrs["log_file"])
    assert log == root / "reasons" / "trial-00000" / "trial.log"
    text = log.read_text()
    assert "Traceback" in text or 'File "' in text
    assert "ValueError: The value nan is not acceptable" in text and "\x1b" not in text
    # the reaper fails a trial for a retry
    reaped = study.ask()
    assert mark_for_retry(storage_of(study), trial_id_of(reaped), "worker_lost", message)
    _assert_one_clean_line(
        storage_of(study).get_trial(trial_id_of(reaped)).user_attrs["fail_reason"]
    )
