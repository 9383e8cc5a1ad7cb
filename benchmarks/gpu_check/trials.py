"""The check's trial configuration (for the standalone baseline and the OOM batch search),
and GPU memory readings.

The hpsearch trials themselves run as studies through the engine (``studies.py``); the
configuration here is the same point as a :class:`~hpsearch.trainers.TrialConfig`, which the
plain ``transformers.Trainer`` baseline and :func:`oom_batch` (hpsearch's memory estimate)
read.
"""

from __future__ import annotations

import gc
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.gpu_check.fixtures import Sizes
from hpsearch.trainers import (
    DataConfig,
    HyperParams,
    ModelConfig,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
)

__all__ = ["LORA", "collect", "cuda_allocated_mib", "is_number", "oom_batch", "trial_config"]

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
MIB = 2**20


def trial_config(
    name: str,
    model_dir: Path,
    data_dir: Path,
    work: Path,
    sizes: Sizes,
    *,
    method: str,
    precision: str,
    attn: str = "sdpa",
    optim: str = "adamw_torch",
    batch: int | None = None,
    accumulation: int = 1,
    steps: int | None = None,
    gpu_fraction: float = 1.0,
    memory_limit_gb: float | None = None,
) -> TrialConfig:
    """One causal-LM trial on the check's model and data (packed full-length sequences)."""
    steps = steps or (sizes.full_steps if method == "full" else sizes.steps)
    return TrialConfig(
        run_name=f"gpu-check-{name}",
        model=ModelConfig(
            str(model_dir),
            "causal_lm",
            method,  # type: ignore[arg-type]
            None if method == "full" else dict(LORA),
            precision=precision,
            attn_implementation=attn,
        ),
        data=DataConfig(
            str(data_dir),
            eval_split="validation",
            format="text",
            max_seq_length=sizes.seq_len,
            max_eval_samples=sizes.eval_samples,
            packing=True,
        ),
        schedule=ScheduleConfig(max_steps=steps, eval_steps=max(1, steps // 2)),
        hparams=HyperParams(
            per_device_train_batch_size=batch or sizes.batch,
            gradient_accumulation_steps=accumulation,
            per_device_eval_batch_size=sizes.batch,
            training_args={
                "learning_rate": LEARNING_RATE[method],
                "lr_scheduler_type": "constant",
                "optim": optim,
            },
        ),
        paths=RunPaths(str(work / name / "checkpoints"), str(work / name / "final")),
        gpu_fraction=gpu_fraction,
        memory_limit_gb=memory_limit_gb,
    )


def cuda_allocated_mib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.memory_allocated() / MIB, 1)


def collect() -> float | None:
    """Free what Python still holds (the check's own references), then the allocator's cache."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return cuda_allocated_mib()


def oom_batch(config: TrialConfig, model_dir: Path, total_gb: float) -> tuple[int, float, float]:
    """An even per-device batch whose estimate overflows the GPU while half of it fits.

    The batch ``b`` is the largest whose estimate stays under 55% of the GPU; ``2b`` is then
    estimated at about 110%, beyond the ±20% the estimate is held to.
    """
    from hpsearch.trainers import estimate_memory

    def estimate(batch: int) -> float:
        trial = replace(config, hparams=replace(config.hparams, per_device_train_batch_size=batch))
        found = estimate_memory(trial, str(model_dir), num_labels=None, compute_dtype="bf16")
        return found.total_gb

    batch = 1
    while estimate(batch * 2) <= 0.55 * total_gb:
        batch *= 2
    step = batch // 2
    while step >= 1:  # binary search between batch and 2 * batch
        if estimate(batch + step) <= 0.55 * total_gb:
            batch += step
        step //= 2
    doubled = 2 * batch
    return doubled, round(estimate(doubled), 2), round(estimate(batch), 2)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
