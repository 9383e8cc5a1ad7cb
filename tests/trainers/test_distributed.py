"""Trials as two data-parallel processes (gloo on CPU), launched through torchrun's agent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.trainers import TrialConfig, is_complete, runner_for
from tests.trainers.helpers import PruneAt, causal_config

pytestmark = pytest.mark.slow


def _two_ranks(model: str, dataset: str, tmp: Path, **overrides: object) -> TrialConfig:
    config = causal_config(model, dataset, tmp, processes=2, cpus=1.0)
    return replace(config, **overrides)  # type: ignore[arg-type]


def test_two_rank_trial_completes_and_commits_each_checkpoint_once(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = _two_ranks(tiny_qwen3, text_jsonl, tmp_path)
    reporter = PruneAt(None)
    result = runner_for("causal_lm").run(config, reporter)
    assert result.status == "complete"
    assert sorted(reporter.values) == [3, 6, 9, 12]  # rank 0 alone reported, once per eval
    assert result.stats["processes"] == 2
    assert reporter.attrs["memory_estimate_gb"] > 0
    ckpts = sorted(p for p in (tmp_path / "ckpt").glob("checkpoint-*"))
    assert ckpts and all(is_complete(p) for p in ckpts)
    assert all((p / "rng_state_1.pth").is_file() for p in ckpts)  # rank 1's part is committed
    assert (tmp_path / "final" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "final.tmp").exists()
