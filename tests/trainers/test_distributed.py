"""Trials as two data-parallel processes (gloo on CPU), launched through torchrun's agent."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.trainers import RankFailedError, TrialConfig, is_complete, runner_for
from tests.trainers.helpers import PauseAt, PruneAt, causal_config

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


def test_prune_decision_reaches_every_rank(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = _two_ranks(tiny_qwen3, text_jsonl, tmp_path)
    reporter = PruneAt(3)
    result = runner_for("causal_lm").run(config, reporter)
    # had rank 1 missed the decision, rank 0 would hang in the next step's all-reduce
    assert result.status == "pruned" and result.last_step == 3
    assert sorted(reporter.values) == [3]
    assert not (tmp_path / "final").exists()


def test_a_pause_reaches_every_rank_and_each_writes_its_part_of_the_checkpoint(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = _two_ranks(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(config, schedule=replace(config.schedule, checkpoint_every=4))
    result = runner_for("causal_lm").run(config, PauseAt(3))
    # had rank 1 not saved too, rank 0 would wait for it at the commit's barrier
    assert result.status == "pruned" and result.reason == "paused at step 3"
    checkpoint = tmp_path / "ckpt" / "checkpoint-3"
    assert is_complete(checkpoint) and (checkpoint / "rng_state_1.pth").is_file()
    assert result.stats["paused_checkpoint"] == str(checkpoint)


def _children() -> set[int]:
    """This process's live children, but multiprocessing's one resource tracker."""
    me = str(os.getpid())
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if stat[1] == me and stat[0] != "Z" and b"resource_tracker" not in command:
                out.add(int(entry.name))
    return out


def test_killed_rank_fails_the_trial_cleanly_and_a_retry_resumes_every_rank(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _children()
    config = _two_ranks(tiny_qwen3, text_jsonl, tmp_path)
    monkeypatch.setenv("HPSEARCH_FAILPOINTS", "train.step=kill@step=8,rank=1")
    with pytest.raises(
        RankFailedError, match=r"rank 1 of the trial (was killed by SIGKILL|died)"
    ) as info:
        runner_for("causal_lm").run(config, PruneAt(None))
    assert info.value.retryable
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children() - before, "a rank outlived its trial"
    newest = max((tmp_path / "ckpt").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    assert newest.name == "checkpoint-6" and is_complete(newest)

    monkeypatch.delenv("HPSEARCH_FAILPOINTS")
    retry = replace(
        config,
        paths=replace(
            config.paths, checkpoints_dir=str(tmp_path / "retry"), resume_from=str(newest)
        ),
    )
    reporter = PruneAt(None)
    result = runner_for("causal_lm").run(retry, reporter)
    assert result.status == "complete"
    assert sorted(reporter.values) == [9, 12]  # both ranks went on from step 6


@pytest.mark.parametrize("method", ["full", "lora"])
def test_memory_estimate_knows_the_ranks(
    method: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    from hpsearch.trainers import estimate_memory

    one = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    one = replace(one, model=replace(one.model, method=method))
    ddp, fsdp = (replace(one, processes=4, distributed=d) for d in ("ddp", "fsdp"))
    single, dp, sharded = (
        estimate_memory(c, tiny_qwen3, num_labels=None, compute_dtype="fp32")
        for c in (one, ddp, fsdp)
    )
    assert dp.gradients_gb == pytest.approx(2 * single.gradients_gb)  # DDP's buckets
    assert dp.weights_gb == single.weights_gb and dp.activations_gb == single.activations_gb
    assert sharded.optimizer_gb == pytest.approx(single.optimizer_gb / 4)
    assert sharded.gradients_gb == pytest.approx(single.gradients_gb / 4)
    assert sharded.weights_gb <= single.weights_gb


def test_fsdp_trial_completes_and_saves_the_gathered_adapter(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = _two_ranks(tiny_qwen3, text_jsonl, tmp_path, distributed="fsdp")
    config = replace(config, schedule=replace(config.schedule, max_steps=6))
    result = runner_for("causal_lm").run(config, PruneAt(None))
    assert result.status == "complete" and result.stats["distributed"] == "fsdp"
    assert (tmp_path / "final" / "adapter_model.safetensors").is_file()
    assert is_complete(tmp_path / "final")
