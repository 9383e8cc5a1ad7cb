"""Builders for trainer-level tests (no Optuna, no Ray)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hpsearch.trainers import (
    DataConfig,
    HyperParams,
    ModelConfig,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
)


def causal_config(model: str, dataset: str, tmp: Path, **overrides: Any) -> TrialConfig:
    config = TrialConfig(
        run_name="test-0",
        model=ModelConfig(
            model,
            "causal_lm",
            "lora",
            {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"},
            precision="fp32",
        ),
        data=DataConfig(dataset, max_seq_length=32, max_train_samples=128, max_eval_samples=16),
        schedule=ScheduleConfig(max_steps=12, eval_steps=3, metric="eval_loss"),
        hparams=HyperParams(
            per_device_train_batch_size=4,
            gradient_accumulation_steps=1,
            per_device_eval_batch_size=16,
            training_args={"learning_rate": 1e-3, "lr_scheduler_type": "constant"},
        ),
        paths=RunPaths(str(tmp / "ckpt"), str(tmp / "final")),
    )
    return replace(config, **overrides)


class PruneAt:
    """A reporter that asks to prune once ``step`` has been reported."""

    def __init__(self, step: int | None = None) -> None:
        self.step = step
        self.values: dict[int, float] = {}
        self.attrs: dict[str, Any] = {}

    def report(self, step: int, value: float) -> None:
        self.values[step] = value

    def should_prune(self) -> bool:
        return self.step is not None and max(self.values, default=-1) >= self.step

    def record(self, attrs: Any) -> None:
        self.attrs.update(attrs)
