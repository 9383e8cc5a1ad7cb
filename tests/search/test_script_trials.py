"""Bring your own training end to end: ``hpsearch run --script`` and a ``trainer:`` entry point.

Real PostgreSQL, real Ray, the real example script and entry point of ``examples/`` (a tiny BERT
built from a config, synthetic data, 12 steps on a CPU). The study's pruner prunes a trial of
the script; a worker SIGKILLed mid-trial is retried and the retry resumes from the script's
committed checkpoint; an entry point's own ``compute_metrics`` metric is the objective.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState

from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT_ARGS = ["--max-steps", "12", "--eval-steps", "4", "--train-size", "256"]
ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _space(tmp_path: Path, example: str, **changes: object) -> str:
    space = yaml.safe_load((EXAMPLES / example).read_text())
    space.update(changes)
    path = tmp_path / example
    path.write_text(yaml.safe_dump(space))
    return str(path)


def _run(
    tmp_path: Path, url: str, study: str, space: str, *extra: str, env: dict[str, str]
) -> None:
    result = run_cli_process(
        *[
            "run",
            "--space",
            space,
            "--study",
            study,
            "--storage",
            url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
            "--no-live",
            *extra,
        ],
        env={**ENV, **env},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_example_script_is_pruned_by_the_studys_pruner(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    # trial 0 learns (a good rate), trial 1 does not (a tiny rate): the median pruner stops it
    space = _space(
        tmp_path,
        "tiny_classifier_space.yaml",
        trials=2,
        objective={"metric": "eval_loss", "direction": "minimize"},
        pruner={"type": "median", "n_startup_trials": 1},
        warm_start=[{"learning_rate": 8e-3}, {"learning_rate": 1e-5}],
    )
    script = str(EXAMPLES / "train_tiny_classifier.py")
    _run(tmp_path, fresh_pg_url, "prune", space, "--script", script, "--", *SCRIPT_ARGS, env={})
    study = load_study(fresh_pg_url, "prune")
    check_study_invariants(study, budget=2)
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE and sorted(good.intermediate_values) == [4, 8, 12]
    assert good.value == min(good.intermediate_values.values())
    assert bad.state == TrialState.PRUNED, bad.user_attrs
    assert max(bad.intermediate_values) < 12  # the decision reached the script's Trainer
    assert "pruned by the search at step" in bad.user_attrs["prune_reason"]
    # the script's checkpoints were committed where a retry would resume from
    folder = tmp_path / "ck" / "prune" / "trial-00000" / "checkpoints"
    assert (folder / "checkpoint-12" / "hpsearch-complete.json").is_file()


def test_a_killed_script_trial_is_retried_from_its_committed_checkpoint(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    space = _space(
        tmp_path,
        "tiny_classifier_space.yaml",
        trials=1,
        pruner={"type": "none"},
        retries={"max_retries": 2, "heartbeat_interval": 1, "grace_period": 6},
    )
    script = str(EXAMPLES / "train_tiny_classifier.py")
    # SIGKILL the worker (and with it the script) at step 6: checkpoint 4 is committed
    _run(
        tmp_path,
        fresh_pg_url,
        "kill",
        space,
        "--script",
        script,
        "--",
        *SCRIPT_ARGS,
        env={"HPSEARCH_FAILPOINTS": "train.step=kill@step=6,trial=0"},
    )
    study = load_study(fresh_pg_url, "kill")
    check_study_invariants(study, budget=1)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["retry_requested"] == "worker_lost"
    assert sorted(killed.intermediate_values) == [4]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == 0
    assert retry.params == killed.params
    assert retry.user_attrs["resumed_from_checkpoint"].endswith(
        "trial-00000/checkpoints/checkpoint-4"
    )
    assert min(retry.intermediate_values) == 8 and max(retry.intermediate_values) == 12
    # the retried script logged no step before 5 (logs every 4 steps: epoch 0.25 is step 4)
    first, second = (
        (tmp_path / "ck" / "kill" / f"trial-0000{n}" / "script" / "output.log").read_text()
        for n in (0, 1)
    )
    assert "'epoch': '0.25'" in first and "'epoch': '0.25'" not in second
    assert "'epoch': '0.5'" in second


def test_an_entry_points_own_metric_is_the_objective(fresh_pg_url: str, tmp_path: Path) -> None:
    space = _space(tmp_path, "tiny_entry_point_space.yaml", trials=2, pruner={"type": "none"})
    path = os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    _run(tmp_path, fresh_pg_url, "entry", space, env={"PYTHONPATH": path})
    study = load_study(fresh_pg_url, "entry")
    check_study_invariants(study, budget=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [4, 8, 12]
        assert trial.value == max(trial.intermediate_values.values())
        assert 0.0 <= trial.value <= 1.0
        assert "final_eval_balanced_accuracy" in trial.user_attrs
    assert study.direction.name == "MAXIMIZE"
