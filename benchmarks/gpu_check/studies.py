"""Run the check's trials as hpsearch studies: ``hpsearch.search.run(..., pool="inprocess")``.

Each part writes a space (YAML, every parameter fixed: the configuration under test) and runs
it through hpsearch's own engine: the driver asks the SQLite study, the in-process worker pool
runs the trial in this process (no Ray), the failure table decides retries (a CUDA OOM: half
the per-device batch, twice the accumulation) and the driver's budget counts finished trials.
The figures are read back from the study with plain Optuna: the user attributes the trainer
recorded (``tokens_per_s``, ``peak_memory_mb``, ``memory_estimate_gb``, ...).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.gpu_check.fixtures import Sizes
from hpsearch.search.records import attributes as A

__all__ = [
    "LEARNING_RATE",
    "LORA",
    "TRIAL_FIGURES",
    "MemoryWatch",
    "StudySpec",
    "is_number",
    "run_study",
    "space_document",
    "trial_summary",
]

LORA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lora_target_modules": "all-linear"}
LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
# The trainer's user attributes the check reports as figures.
TRIAL_FIGURES = (
    "tokens_per_s",
    "train_time_s",
    "peak_memory_mb",
    "memory_estimate_gb",
)


@dataclass(frozen=True)
class StudySpec:
    """One configuration under test: what the space fixes."""

    name: str
    method: str
    precision: str
    attn: str = "sdpa"
    optim: str = "adamw_torch"
    batch: int | None = None
    steps: int | None = None
    gpus_per_trial: float = 1.0
    memory_gb: float | None = None
    trials: int = 1
    seeds: int = 1  # > 1: the seed is the one sampled parameter (distinct configurations)


def space_document(
    spec: StudySpec, sizes: Sizes, model_dir: Path, data_dir: Path
) -> dict[str, Any]:
    """A space with one point: every parameter fixed to the configuration under test."""
    steps = spec.steps or (sizes.full_steps if spec.method == "full" else sizes.steps)
    batch = spec.batch or sizes.batch
    params: dict[str, Any] = {
        "learning_rate": LEARNING_RATE[spec.method],
        "effective_batch_size": batch,  # an OOM retry halves the batch, doubles accumulation
        "per_device_train_batch_size": batch,
        "lr_scheduler_type": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "optim": spec.optim,
        "precision": spec.precision,
        "attn_implementation": spec.attn,
    }
    if spec.method != "full":
        params.update(LORA)
    if spec.seeds > 1:  # a one-point space is exhausted once its trial exists: no second driver
        params["seed"] = {"type": "categorical", "choices": list(range(spec.seeds))}
    resources: dict[str, Any] = {"gpus_per_trial": spec.gpus_per_trial, "cpus_per_trial": 1}
    if spec.memory_gb is not None:
        resources["memory_gb"] = spec.memory_gb
    return {
        "name": f"gpu_check_{spec.name}",
        "method": spec.method,
        "objective": {"metric": "eval_loss", "direction": "minimize"},
        "trials": spec.trials,
        "sampler": {"type": "random", "seed": 0},
        "pruner": {"type": "none"},
        "early_stopping": {"patience": None},
        "resources": resources,
        "retries": {"max_retries": 1},
        "params": params,
        "task": {
            "type": "causal_lm",
            "model": str(model_dir),
            "dataset": str(data_dir),
            "eval_split": "validation",
            "format": "text",
            "max_seq_length": sizes.seq_len,
            "max_eval_samples": sizes.eval_samples,
            "packing": True,
            "max_steps": steps,
            "eval_steps": max(1, steps // 2),
            "per_device_eval_batch_size": sizes.batch,
        },
    }


def run_study(
    spec: StudySpec,
    sizes: Sizes,
    model_dir: Path,
    data_dir: Path,
    work: Path,
    storage: str,
    *,
    pool: Any = "inprocess",
    emit: Any = None,
) -> Any:
    """Run ``spec`` as a study of ``storage`` through hpsearch's engine; the study (Optuna)."""
    import optuna

    import hpsearch.search as hs

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"space-{spec.name}.yaml"
    # atomically: the packed part's drivers write the same space at the same time
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    partial.write_text(yaml.safe_dump(space_document(spec, sizes, model_dir, data_dir)))
    os.replace(partial, path)
    hs.run(
        str(path),
        study=spec.name,
        storage=storage,
        workers=1,
        checkpoint_dir=str(work / "checkpoints"),
        pool=pool,
        emit=emit if emit is not None else (lambda line: None),
    )
    return optuna.load_study(study_name=spec.name, storage=storage)


def trial_summary(trial: Any) -> dict[str, Any]:
    """What the study holds of one trial (state, batch it ran with, the trainer's figures)."""
    attrs = trial.user_attrs
    out: dict[str, Any] = {
        "trial": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "per_device_batch": attrs.get(A.PER_DEVICE_BATCH),
        "grad_accum": attrs.get(A.GRAD_ACCUM),
    }
    for key in TRIAL_FIGURES:
        if key in attrs:
            out[key] = attrs[key]
    for key, value in attrs.items():  # failure kind, retry links, the estimate's breakdown
        if key.startswith(("fail", "retry", "oom", "error")) or key == "memory_estimate":
            out[key] = value
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MemoryWatch:
    """The driver's progress lines, with the GPU memory read as each trial's end is reported.

    The driver reports a trial's end (``trial N: complete|fail|pruned ...``) in this process
    after the worker returned and before it dispatches the next trial, so the allocator's
    reading there is what the finished trial left behind.
    """

    ENDED = re.compile(r"^\s*trial (\d+): (complete|fail|pruned)\b")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.allocated_after: dict[int, float | None] = {}
        self.reserved_peak: dict[int, float | None] = {}

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        found = self.ENDED.match(line)
        if found is None:
            return
        number = int(found.group(1))
        self.allocated_after[number], self.reserved_peak[number] = _cuda_reading()


def _cuda_reading() -> tuple[float | None, float | None]:
    import torch

    if not torch.cuda.is_available():
        return None, None
    mib = 2**20
    return (
        round(torch.cuda.memory_allocated() / mib, 1),
        round(torch.cuda.max_memory_reserved() / mib, 1),
    )
