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


def sft_batch(model: str, data: DataConfig, **training_args: Any) -> tuple[Any, dict[str, Any]]:
    """TRL's ``SFTTrainer`` as a causal-LM trial builds it, and its first collated batch."""
    import tempfile

    from transformers import AutoModelForCausalLM

    from hpsearch.trainers import HpsSFTTrainer, load_raw, load_tokenizer, sft_arguments, sft_data

    prepared = sft_data(load_raw(data, "causal_lm"), load_tokenizer(model), data)
    settings = {
        "output_dir": tempfile.mkdtemp(prefix="hps-sft-"),
        "per_device_train_batch_size": 2,
        "use_cpu": True,
        "report_to": "none",
        "bf16": False,
        **training_args,
    }
    trainer = HpsSFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model),
        args=sft_arguments(settings, prepared.arguments),
        train_dataset=prepared.train,
        eval_dataset=prepared.eval,
        processing_class=prepared.tokenizer,
    )
    return trainer, next(iter(trainer.get_train_dataloader()))


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


class PauseAt(PruneAt):
    """Asks to stop once ``step`` has been reported; the stop is a pause when ``pauses``."""

    def __init__(self, step: int | None = None, pauses: bool = True) -> None:
        super().__init__(step)
        self.pauses = pauses

    def pausing(self) -> bool:
        return self.pauses
