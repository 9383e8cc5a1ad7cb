"""Publish what a trial actually trains with, read back from the live Trainer and model.

The knobs a space sets must take effect; these attributes (visible in the dashboard) show that
they did: the optimizer and scheduler classes, the model's dtype and attention kernel, gradient
checkpointing, the adapted LoRA modules and the learning-rate groups.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from hpsearch.trainers._base import Reporter


def _model_dtype(model: Any) -> str:
    frozen = [p for p in model.parameters() if not p.requires_grad]
    return str((frozen or list(model.parameters()))[0].dtype)


def _checkpointing(model: Any) -> bool:
    """Is activation (gradient) checkpointing on in any layer? (Works through PEFT wrappers.)"""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


class KnobsCallback(TrainerCallback):
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def on_train_begin(
        self,
        args: Any,
        state: Any,
        control: Any,
        model: Any = None,
        optimizer: Any = None,
        lr_scheduler: Any = None,
        **kw: Any,
    ) -> None:
        if model is None:
            return
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the optimizer
        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)
        groups: dict[str, int] = {}
        for group in getattr(inner, "param_groups", []):
            ratio = group["lr"] / args.learning_rate if args.learning_rate else 1.0
            key = str(round(float(ratio), 6))
            groups[key] = groups.get(key, 0) + sum(p.numel() for p in group["params"])
        config = getattr(model, "config", None)
        self.reporter.record(
            {
                "optimizer": type(inner).__name__,
                "lr_scheduler": type(scheduler).__name__,
                "model_dtype": _model_dtype(model),
                "attn_implementation": getattr(config, "_attn_implementation", None),
                "gradient_checkpointing": _checkpointing(model),
                "lora_modules": sum(1 for m in model.modules() if hasattr(m, "lora_A")),
                "lr_groups": groups,
            }
        )


def name_tensorboard_run(trainer: Any, logging_dir: str | None) -> None:
    """Point HF's TensorBoard callback at the study/trial-named run folder."""
    if logging_dir is None:
        return
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = logging_dir
