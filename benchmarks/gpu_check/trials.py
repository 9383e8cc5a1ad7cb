"""Run hpsearch trials the way a worker does: its runner, a SQLite study, its OOM retry rule.

Each trial is an Optuna trial of one study in SQLite (``hpsearch.storage`` opens it); the
reporter reports evaluations and attributes to it, and the trial is told COMPLETE, PRUNED or
FAIL at its end. A CUDA out-of-memory error is retried in the same process with half the
per-device batch and twice the accumulation (the engine's rule), and the GPU memory in use is
read after each trial returns, before anything else frees it.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.gpu_check.fixtures import Sizes
from hpsearch.storage import create_or_load_study, open_storage, parse_storage_url
from hpsearch.trainers import (
    DataConfig,
    HyperParams,
    ModelConfig,
    OutOfMemoryError,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
    TrialError,
    runner_for,
)

__all__ = [
    "LORA",
    "StudyReporter",
    "collect",
    "cuda_allocated_mib",
    "halved",
    "is_number",
    "oom_batch",
    "open_study",
    "run_trial",
    "run_with_oom_retry",
    "trial_config",
]

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
MIB = 2**20


def open_study(db_path: Path, name: str = "gpu_check") -> Any:
    """The check's study in SQLite, through hpsearch's storage layer (safe across processes)."""
    import optuna

    storage = open_storage(parse_storage_url(f"sqlite:///{db_path}"))
    handle = create_or_load_study(storage, name, "minimize", pruner=optuna.pruners.NopPruner())
    return handle.study


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


class StudyReporter:
    """hpsearch's reporter contract over one Optuna trial (what a worker's reporter does)."""

    def __init__(self, trial: Any, on_record: Any = None) -> None:
        self.trial = trial
        self.attrs: dict[str, Any] = {}
        self.on_record = on_record

    def report(self, step: int, value: float) -> None:
        self.trial.report(value, step)

    def should_prune(self) -> bool:
        return bool(self.trial.should_prune())

    def record(self, attrs: Mapping[str, Any]) -> None:
        self.attrs.update(attrs)
        for key, value in attrs.items():
            self.trial.set_user_attr(key, value)
        if self.on_record is not None:
            self.on_record(attrs)


def cuda_allocated_mib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.memory_allocated() / MIB, 1)


def run_trial(study: Any, config: TrialConfig, on_record: Any = None) -> dict[str, Any]:
    """Run ``config`` as one trial of ``study``; what it measured, or how it failed."""
    import optuna
    import torch

    trial = study.ask()
    reporter = StudyReporter(trial, on_record)
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    out: dict[str, Any] = {"trial": trial.number}
    try:
        result = runner_for("causal_lm").run(config, reporter)
    except TrialError as exc:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        out.update(state="FAIL", kind=exc.kind, error=str(exc), retryable=exc.retryable)
    else:
        state = optuna.trial.TrialState.PRUNED if result.status == "pruned" else None
        if state is None:
            study.tell(trial, result.value)
        else:
            study.tell(trial, state=state)
        stats = result.stats
        out.update(
            state=result.status.upper(),
            value=result.value,
            last_step=result.last_step,
            tokens_per_s=stats.get("tokens_per_s"),
            peak_memory_mb=stats.get("peak_memory_mb"),
            peak_memory_kind=stats.get("peak_memory_kind"),
            train_time_s=stats.get("train_time_s"),
            device=stats.get("device"),
        )
        if cuda:  # the runner reset the peak at train start: this is the trial's reserved peak
            out["peak_reserved_mb"] = round(torch.cuda.max_memory_reserved() / MIB, 1)
    out["wall_s"] = round(time.perf_counter() - started, 2)
    out["memory_estimate_gb"] = reporter.attrs.get("memory_estimate_gb")
    out["memory_estimate"] = reporter.attrs.get("memory_estimate")
    if cuda:
        out["allocated_after_mib"] = cuda_allocated_mib()
    return out


def halved(config: TrialConfig) -> TrialConfig | None:
    """The engine's OOM retry: half the per-device batch, twice the accumulation (even only)."""
    hp = config.hparams
    if hp.per_device_train_batch_size % 2:
        return None
    return replace(
        config,
        run_name=config.run_name + "-retry",
        hparams=replace(
            hp,
            per_device_train_batch_size=hp.per_device_train_batch_size // 2,
            gradient_accumulation_steps=hp.gradient_accumulation_steps * 2,
            per_device_eval_batch_size=max(1, hp.per_device_eval_batch_size // 2),
        ),
        paths=replace(
            config.paths,
            checkpoints_dir=config.paths.checkpoints_dir + "-retry",
            final_dir=config.paths.final_dir + "-retry",
        ),
    )


def run_with_oom_retry(study: Any, config: TrialConfig, baseline_mib: float | None) -> dict:
    """``config`` (expected to run out of memory), then its halved retry in this process."""
    first = run_trial(study, config)
    out: dict[str, Any] = {"first": first}
    if first.get("kind") != OutOfMemoryError.kind:
        return out
    out["held_after_oom_mib"] = _held(first.get("allocated_after_mib"), baseline_mib)
    retry = halved(config)
    if retry is None:
        return out
    out["retry"] = run_trial(study, retry)
    out["held_after_retry_mib"] = _held(out["retry"].get("allocated_after_mib"), baseline_mib)
    return out


def _held(allocated: float | None, baseline: float | None) -> float | None:
    if allocated is None or baseline is None:
        return None
    return round(allocated - baseline, 1)


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
