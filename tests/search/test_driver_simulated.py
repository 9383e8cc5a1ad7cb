"""Scheduling, budget, retries and failure classes on the simulated trainer (real Ray, real DB).

The simulated trainer follows the trainer contract (reports, prunes, checkpoints, raises the
same failure classes) without training, so these tests exercise the driver in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.helpers import cli_main, load_study, write_simulated_space
from tests.search.invariants import check_study_invariants


def run_cli(*args: str) -> int:
    return cli_main("run", *args)


def test_parallel_workers_reach_the_budget_exactly(fresh_pg_url: str, tmp_path: Path) -> None:
    space = write_simulated_space(tmp_path, trials=10)
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "budget",
            "--storage",
            fresh_pg_url,
            "--workers",
            "4",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "budget")
    check_study_invariants(study, budget=10)
    assert len(study.trials) == 10
    assert any(t.state == TrialState.PRUNED for t in study.trials)
    assert {t.user_attrs["worker"] for t in study.trials} == {1, 2, 3, 4}


def test_grid_runs_every_point_once(fresh_pg_url: str, tmp_path: Path) -> None:
    space = write_simulated_space(
        tmp_path,
        trials=6,
        sampler={"type": "grid"},
        pruner={"type": "none"},
        params={
            "learning_rate": {"type": "categorical", "choices": [1.0e-4, 3.0e-4, 1.0e-3]},
            "per_device_train_batch_size": {"type": "categorical", "choices": [8, 16]},
        },
    )
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "grid",
            "--storage",
            fresh_pg_url,
            "--workers",
            "3",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "grid")
    check_study_invariants(study, budget=6)
    points = {
        (t.params["learning_rate"], t.params["per_device_train_batch_size"]) for t in study.trials
    }
    assert len(points) == 6


def test_out_of_memory_retries_once_with_half_the_batch(fresh_pg_url: str, tmp_path: Path) -> None:
    # per-device 16 runs out of memory, 8 fits: the retry keeps the effective batch of 16
    space = write_simulated_space(
        tmp_path,
        trials=1,
        params={"per_device_train_batch_size": 16},
        task={"simulated": {"oom_batch_above": 8}},
    )
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "oom",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "oom")
    check_study_invariants(study, budget=1)
    first, retry = study.trials
    assert (
        first.state == TrialState.FAIL
        and "retrying with per-device batch 8" in first.user_attrs["fail_reason"]
    )
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == 0
    assert retry.user_attrs["per_device_train_batch_size_used"] == 8
    assert retry.user_attrs["gradient_accumulation_steps"] == 2
    assert retry.user_attrs["effective_batch_size"] == 16
    assert retry.params == first.params


def test_out_of_memory_twice_is_infeasible_and_the_sampler_learns(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    space = write_simulated_space(
        tmp_path,
        trials=1,
        params={"per_device_train_batch_size": 16},
        task={"simulated": {"oom_batch_above": 4}},
    )
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "oom2",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "oom2")
    check_study_invariants(study, budget=1)
    _first, retry = study.trials
    assert retry.state == TrialState.PRUNED
    assert retry.user_attrs["infeasible"] == "memory"
    assert "infeasible" in retry.user_attrs["prune_reason"]
    assert retry.constraints == {"memory": 1.0}  # TPE ranks infeasible trials last


def test_nan_loss_is_not_retried(fresh_pg_url: str, tmp_path: Path) -> None:
    space = write_simulated_space(
        tmp_path,
        trials=2,
        params={"learning_rate": 1.0e-2},
        task={"simulated": {"nan_lr_above": 1.0e-3}},
    )
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "nan",
            "--storage",
            fresh_pg_url,
            "--workers",
            "2",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "nan")
    check_study_invariants(study, budget=2)
    assert len(study.trials) == 2
    for trial in study.trials:
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["infeasible"] == "non_finite_loss"
        assert "retry_of" not in trial.user_attrs


def test_non_finite_eval_value_is_pruned_like_a_nan_loss(
    fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NaN or inf objective at an evaluation: PRUNED, infeasible, not retried; the reason is
    one clean line and the traceback is in the trial's own log file."""
    monkeypatch.setenv(
        "HPSEARCH_FAILPOINTS", "eval.metric=nan@step=5,trial=0;eval.metric=inf@step=10,trial=1"
    )
    space = write_simulated_space(tmp_path, trials=2, params={"learning_rate": 1.0e-3})
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "nan-eval",
            "--storage",
            fresh_pg_url,
            "--workers",
            "2",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "nan-eval")
    check_study_invariants(study, budget=2)
    assert len(study.trials) == 2  # neither was retried
    for trial, value in zip(study.trials, ("nan", "inf"), strict=True):
        assert trial.state == TrialState.PRUNED, trial.user_attrs
        assert trial.user_attrs["infeasible"] == "non_finite_loss"
        assert trial.constraints == {"finite_loss": 1.0}
        assert "retry_of" not in trial.user_attrs and "fail_reason" not in trial.user_attrs
        reason = trial.user_attrs["prune_reason"]
        assert f"eval_loss became {value}" in reason
        assert "\n" not in reason and "\x1b" not in reason and len(reason) <= 500
        log = Path(trial.user_attrs["log_file"])
        assert log == tmp_path / "ck" / "nan-eval" / f"trial-{trial.number:05d}" / "trial.log"
        text = log.read_text()
        assert "Traceback" in text and "NonFiniteLossError" in text and "outcome: PRUNED" in text


def test_config_error_fails_with_the_message_stored(
    fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = write_simulated_space(tmp_path, trials=2)
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "checkpoint.write=enospc@step=10,trial=0")
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "cfg",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "cfg")
    check_study_invariants(study, budget=2)
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL
    assert "checkpoint_write" in failed.user_attrs["fail_reason"]
    assert (
        tmp_path
        / "ck"
        / "cfg"
        / "trial-00000"
        / "checkpoints"
        / "checkpoint-5"
        / "hpsearch-complete.json"
    ).is_file()  # the older complete checkpoint survived


def test_retries_are_bounded(
    fresh_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial that kills its worker every time is retried max_retries times, then stays FAIL."""
    space = write_simulated_space(tmp_path, trials=1)
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "train.step=kill@step=7")
    assert (
        run_cli(
            "--space",
            space,
            "--study",
            "bounded",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
        == 0
    )
    study = load_study(fresh_pg_url, "bounded")
    check_study_invariants(study, budget=1)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3  # original + 2 retries
    assert [t.user_attrs.get("retry_attempt", 0) for t in study.trials] == [0, 1, 2]
    assert [t.user_attrs.get("retry_of") for t in study.trials] == [None, 0, 1]
    # every retry resumed from the newest complete checkpoint of the lineage (step 5)
    assert all(
        t.user_attrs["resumed_from_checkpoint"].endswith("checkpoint-5") for t in study.trials[1:]
    )
