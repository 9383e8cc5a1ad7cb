"""Warm starts and the memory estimator inside real studies (real Ray, PostgreSQL, Trainer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.search.cli.main import main
from tests.helpers import load_study
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

SPACE = """
name: recipes
trials: {trials}
sampler: {{type: tpe, seed: 5, n_startup_trials: 2}}
pruner: {{type: none}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1, memory_gb: {memory_gb}}}
warm_start:
  - {{learning_rate: 2.0e-4, per_device_train_batch_size: 4}}
params:
  learning_rate: {{type: float, low: 1.0e-4, high: 3.0e-3, log: true}}
  per_device_train_batch_size: {{type: categorical, choices: [4, 64]}}
  lora_r: 4
task:
  type: causal_lm
  model: {model}
  dataset: {dataset}
  max_steps: 6
  eval_steps: 3
  max_seq_length: 32
  max_eval_samples: 16
"""


def _space(tmp_path: Path, name: str, **values: object) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPACE.format(**values))
    return str(path)


def test_warm_starts_run_first_and_the_estimator_rejects_before_training(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    common = ["--storage", fresh_pg_url, "--workers", "1", "--checkpoint-dir", str(tmp_path / "ck")]
    first = _space(tmp_path, "a", trials=2, memory_gb="null", model=tiny_qwen3, dataset=text_jsonl)
    assert main(["run", "--space", first, "--study", "earlier", *common]) == 0
    earlier = load_study(fresh_pg_url, "earlier")
    best = earlier.best_trial

    # a memory budget between one batch of 4 and one of 64 (the estimates of this tiny model)
    second = _space(tmp_path, "b", trials=6, memory_gb=0.1, model=tiny_qwen3, dataset=text_jsonl)
    assert (
        main(
            ["run", "--space", second, "--study", "later", "--warm-start-from", "earlier", *common]
        )
        == 0
    )
    study = load_study(fresh_pg_url, "later")
    check_study_invariants(study, budget=6)
    trials = study.trials
    assert trials[0].params == best.params  # the earlier study's best runs first
    assert "best of study earlier" in trials[0].user_attrs["warm_start"]
    assert trials[1].params == {"learning_rate": 2e-4, "per_device_train_batch_size": 4}
    assert trials[1].user_attrs["warm_start"] == "space warm_start"
    big = [t for t in trials if t.params.get("per_device_train_batch_size") == 64]
    small = [t for t in trials if t.params.get("per_device_train_batch_size") == 4]
    assert big, "the sampler never proposed the large batch"
    for trial in big:
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["infeasible"] == "memory"
        assert "exceeds the 0.10 GB" in trial.user_attrs["prune_reason"]
        assert trial.constraints == {"memory": 1.0}
        assert not trial.intermediate_values  # rejected before any training step
        assert (
            not (tmp_path / "ck" / "later" / f"trial-{trial.number:05d}")
            .joinpath("checkpoints")
            .exists()
        )
    assert all(t.state == TrialState.COMPLETE for t in small)
    assert all(t.user_attrs["memory_estimate_gb"] < 0.1 for t in small)
