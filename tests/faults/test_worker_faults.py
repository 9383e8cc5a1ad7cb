"""Worker-side faults with real PostgreSQL, real Ray and a tiny real model.

Every test ends with the study invariants: numbers 0..N-1 without duplicates, exactly the
budget finished, nothing RUNNING, no COMPLETE trial rerun.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.search.engine import build_trial_config
from hpsearch.search.records import load_meta
from hpsearch.storage import StudyPaths
from hpsearch.trainers import NullReporter, is_complete, runner_for
from tests.faults.harness import write_hf_space
from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow


def _run(
    tmp_path: Path, url: str, study: str, space: str, failpoints: str, workers: int = 1
) -> None:
    result = run_cli_process(
        "run",
        "--space",
        space,
        "--study",
        study,
        "--storage",
        url,
        "--workers",
        str(workers),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
        env={"HPSEARCH_FAILPOINTS": failpoints},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sigkilled_worker_resumes_from_its_checkpoint_and_continues_the_curve(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    space = write_hf_space(tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl)
    # SIGKILL the worker process at step 14: checkpoint 12 is the newest complete one
    _run(tmp_path, fresh_pg_url, "wk", space, "train.step=kill@step=14,trial=0")
    study = load_study(fresh_pg_url, "wk")
    check_study_invariants(study, budget=1)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["retry_requested"] == "worker_lost"
    assert max(killed.intermediate_values) == 12
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == 0
    assert retry.params == killed.params
    assert retry.user_attrs["resumed_from_checkpoint"].endswith(
        "trial-00000/checkpoints/checkpoint-12"
    )
    steps = sorted(retry.intermediate_values)
    assert steps[0] == 16 and steps[-1] == 24  # reports from the next evaluation to max_steps

    # The same trial run without interruption: the retry continues its curve.
    meta = load_meta(study)
    config, _ = build_trial_config(
        space=meta.space,
        task=meta.task,
        params=killed.params,
        study_name="reference",
        number=0,
        paths=StudyPaths(tmp_path / "ref", "ref"),
    )
    reference = NullReporter()
    runner_for("causal_lm").run(config, reference)
    for step in (4, 8, 12):
        assert math.isclose(
            killed.intermediate_values[step], reference.values[step], rel_tol=1e-4
        ), step
    for step in steps:
        assert math.isclose(
            retry.intermediate_values[step], reference.values[step], rel_tol=1e-3
        ), (step, retry.intermediate_values[step], reference.values[step])


def test_kill_during_a_checkpoint_write_resumes_from_the_previous_one(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    space = write_hf_space(tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl)
    # checkpoint 12 is torn (a file cut short) and the worker killed before it commits
    _run(tmp_path, fresh_pg_url, "tear", space, "checkpoint.write=tear@step=12,trial=0")
    study = load_study(fresh_pg_url, "tear")
    check_study_invariants(study, budget=1)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert retry.user_attrs["resumed_from_checkpoint"].endswith("checkpoint-8")
    assert min(retry.intermediate_values) == 12 and max(retry.intermediate_values) == 24
    assert retry.state == TrialState.COMPLETE
    # no manual cleanup: the torn folder is gone, the lineage keeps newest + best only
    old = tmp_path / "ck" / "tear" / "trial-00000" / "checkpoints"
    assert not (old / "checkpoint-12").exists()
    assert all(is_complete(p) for p in old.iterdir())
    assert len(list((tmp_path / "ck" / "tear" / "trial-00001" / "checkpoints").iterdir())) <= 2


def test_out_of_memory_at_step_k_retries_with_half_batch(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    space = write_hf_space(tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl, batch=4)
    _run(tmp_path, fresh_pg_url, "oom", space, "train.step=oom@step=10,trial=0")
    study = load_study(fresh_pg_url, "oom")
    check_study_invariants(study, budget=1)
    first, retry = study.trials
    assert first.state == TrialState.FAIL and first.user_attrs["retry_requested"] == "oom"
    assert (
        first.user_attrs["per_device_train_batch_size_used"],
        first.user_attrs["gradient_accumulation_steps"],
    ) == (4, 2)
    assert (
        retry.user_attrs["per_device_train_batch_size_used"],
        retry.user_attrs["gradient_accumulation_steps"],
    ) == (2, 4)
    assert retry.user_attrs["effective_batch_size"] == 8
    assert retry.user_attrs["resumed_from_checkpoint"].endswith("checkpoint-8")
    assert retry.state == TrialState.COMPLETE and max(retry.intermediate_values) == 24


def test_disk_full_during_a_checkpoint_fails_visibly(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    import subprocess

    # one checkpoint of this tiny model is ~0.9 MB: the second one cannot fit
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1400k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip(
            "cannot mount a small tmpfs here (needs root); the failpoint variant in "
            "tests/search/test_driver_simulated.py covers ENOSPC"
        )
    try:
        space = write_hf_space(tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl)
        result = run_cli_process(
            "run",
            "--space",
            space,
            "--study",
            "full",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(mount),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        study = load_study(fresh_pg_url, "full")
        check_study_invariants(study, budget=1)
        (trial,) = study.trials
        assert trial.state == TrialState.FAIL
        assert "no space left" in trial.user_attrs["fail_reason"]
        checkpoints = mount / "full" / "trial-00000" / "checkpoints"
        complete = [p for p in checkpoints.iterdir() if is_complete(p)]
        assert complete, "the older complete checkpoint must survive"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
