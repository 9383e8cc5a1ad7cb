"""A two-process trial through the whole stack: CLI, PostgreSQL, Ray placement group, retries.

On a machine without GPUs ``gpus_per_trial: 2`` runs as two CPU ranks over gloo (the same
launch path as on GPUs, NCCL aside). Rank 1 is SIGKILLed mid-trial: the trial fails cleanly,
the driver retries it, and the retry resumes both ranks from the last committed checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.faults.harness import write_hf_space
from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow


def test_killed_rank_is_retried_from_its_checkpoint_by_the_driver(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    space = write_hf_space(
        tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl, max_steps=12, eval_steps=4
    )
    text = (
        Path(space)
        .read_text()
        .replace(
            "resources: {gpus_per_trial: 0, cpus_per_trial: 1}",
            "resources: {gpus_per_trial: 2, cpus_per_trial: 1, distributed: ddp}",
        )
    )
    Path(space).write_text(text)
    args = ["run", "--space", space, "--study", "dp", "--storage", fresh_pg_url]
    args += ["--workers", "1", "--checkpoint-dir", str(tmp_path / "ck")]
    result = run_cli_process(
        *args, env={"HPSEARCH_FAILPOINTS": "train.step=kill@step=10,rank=1,trial=0"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "dp")
    check_study_invariants(study, budget=1)
    assert len(study.trials) == 2, [
        (t.state, t.user_attrs.get("fail_reason"), t.user_attrs.get("retry_requested"))
        for t in study.trials
    ]
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["retry_requested"] == "rank_failed"  # its failure-table row
    assert "rank_failed: rank 1 of the trial" in killed.user_attrs["fail_reason"]
    assert max(killed.intermediate_values) == 8
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == 0
    assert retry.user_attrs["resumed_from_checkpoint"].endswith("checkpoint-8")
    assert sorted(retry.intermediate_values) == [12]  # both ranks went on from step 8
    assert retry.user_attrs["processes"] == 2
