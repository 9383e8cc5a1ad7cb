"""A trial lost after its pausing pruner paused it, before the final ``tell``.

The pause (``paused_at_step``) is recorded before the trainer commits the checkpoint at that
step and before the trial is told PRUNED. A driver interrupted (Ctrl-C, a kill, a lost worker)
in that window must not retry the trial from its checkpoint: the retry would start after the
rung and continue without the rung's decision. With the checkpoint committed the trial ends
paused, a candidate for promotion; without it, it is retried and meets the rung again.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.engine import end_lost_trial, reap_stale, repair
from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger, is_paused
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    open_storage,
    parse_storage_url,
    trial_id_of,
)
from hpsearch.trainers import commit_checkpoint

PAUSE = 15


def _setup(tmp_path: Path) -> tuple[StorageLocation, ResilientRDBStorage, optuna.Study]:
    location = parse_storage_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage = open_storage(location)
    return location, storage, optuna.create_study(study_name="s", storage=storage)


def _paused_running_trial(study: optuna.Study, checkpoint_steps: list[int], root: Path) -> int:
    """A RUNNING trial its pruner paused at ``PAUSE``, with these committed checkpoints."""
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-2)})
    for step in (5, 10, PAUSE):
        trial.report(1.0 / step, step)
    trial.set_user_attr(A.PAUSED_AT, PAUSE)
    trial.set_user_attr(A.PRUNE_REASON, f"paused at step {PAUSE} by the promotion pruner")
    # a driver process that is gone (this host, a pid that is not running)
    trial.set_user_attr(A.DRIVER, f"{socket.gethostname()}:999999999:1")
    for step in checkpoint_steps:
        folder = root / f"trial-{trial.number}" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"step": step}))
        commit_checkpoint(folder, step=step)
    if PAUSE not in checkpoint_steps:  # the pause's checkpoint was being written: torn
        (root / f"trial-{trial.number}" / f"checkpoint-{PAUSE}").mkdir(parents=True)
    return trial.number


def _checkpoints_dir(root: Path) -> Callable[[int], Path]:
    return lambda number: root / f"trial-{number}"


@pytest.mark.parametrize("how", ["hand_over", "reaped"])
def test_a_committed_pause_ends_paused_not_retried(tmp_path: Path, how: str) -> None:
    location, storage, study = _setup(tmp_path)
    root = tmp_path / "ck"
    number = _paused_running_trial(study, [10, PAUSE], root)
    trial = study.trials[number]
    if how == "hand_over":
        message = "the driver was interrupted"
        assert end_lost_trial(storage, trial, A.RETRY_INTERRUPTED, message, _checkpoints_dir(root))
    else:  # `hpsearch resume` (or another driver) finds the dead driver's RUNNING trial
        reaped = reap_stale(
            study, storage, grace_period=600, checkpoints_dir=_checkpoints_dir(root)
        )
        assert reaped == [number]
    assert repair(study, location, max_retries=2) == []  # no retry
    ended = study.trials[number]
    assert ended.state == TrialState.PRUNED and ended.value == pytest.approx(1.0 / PAUSE)
    assert is_paused(ended) and A.RETRY_REQUESTED not in ended.user_attrs
    ledger = build_ledger(study.get_trials(deepcopy=False), 2)
    assert ledger.paused == 1 and not ledger.pending_retry
    assert len(study.trials) == 1


def test_a_torn_pause_is_retried_from_the_last_committed_checkpoint(tmp_path: Path) -> None:
    location, storage, study = _setup(tmp_path)
    root = tmp_path / "ck"
    number = _paused_running_trial(study, [10], root)
    message = "the driver was interrupted"
    trial = study.trials[number]
    assert end_lost_trial(storage, trial, A.RETRY_INTERRUPTED, message, _checkpoints_dir(root))
    failed = study.trials[number]
    assert failed.state == TrialState.FAIL and not is_paused(failed)
    assert failed.user_attrs[A.RETRY_REQUESTED] == A.RETRY_INTERRUPTED
    assert repair(study, location, max_retries=2) == [number]
    (successor,) = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert successor.user_attrs[A.RETRY_OF] == number
    assert successor.system_attrs["fixed_params"] == failed.params
    # a finished trial is left as it is
    assert not end_lost_trial(storage, failed, A.RETRY_INTERRUPTED, message, None)
    assert storage.get_trial(trial_id_of(failed)).state == TrialState.FAIL
