"""The typed task, data, schedule and model settings: declared once, shared by spec and trainers.

A ``task:`` section (:class:`~hpsearch.spaces.TaskSpec`) and the trainer's per-trial settings
(:class:`DataConfig`, :class:`ScheduleConfig`, :class:`ModelConfig`) share their fields through
the two field groups here, :class:`DataFields` and :class:`LengthFields`: each field's default,
description and bounds are written once. ``trainers/`` imports these classes (the allowed
direction); the YAML keys and the stored trial configurations keep their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpsearch.spaces._fields import spec_field

__all__ = [
    "DATA_FORMATS",
    "DEFAULT_EVAL_BATCH",
    "HPSEARCH_DEFAULTS",
    "LORA_DEFAULTS",
    "DataConfig",
    "DataFields",
    "Fidelity",
    "LengthFields",
    "ModelConfig",
    "ScheduleConfig",
]

Fidelity = Literal["steps", "tokens"]
DATA_FORMATS = ("auto", "text", "prompt_completion", "messages", "classification")
DEFAULT_EVAL_BATCH = 32
"""Evaluation batch size per device when the task sets none."""

HPSEARCH_DEFAULTS: dict[str, Any] = {
    "precision": "auto",
    "attn_implementation": "sdpa",
    "head_lr_multiplier": 1.0,
    "layer_lr_decay": 1.0,
    "quant_compute_dtype": "bf16",
}
"""The values of the hpsearch knobs a space does not set."""

LORA_DEFAULTS: dict[str, Any] = {
    "r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "target_modules": "all-linear",
}
"""The LoRA settings of an adapter method when the space sets none."""


@dataclass(frozen=True, kw_only=True)
class DataFields:
    """How a dataset's records become model inputs (task keys and trainer settings alike)."""

    train_split: str = spec_field("train", doc="The training split.", kw_only=True)
    eval_split: str | None = spec_field(
        None,
        doc="The evaluation split; without it, eval_fraction of train is held out.",
        kw_only=True,
    )
    eval_fraction: float = spec_field(
        0.1,
        doc="Fraction of the training split held out for evaluation when there is no eval_split.",
        exclusive_minimum=0,
        maximum=0.9,
        kw_only=True,
    )
    format: str = spec_field(
        "auto",
        doc="text, prompt_completion, messages (chat), classification; auto picks from the "
        "columns.",
        choices=DATA_FORMATS,
        kw_only=True,
    )
    text_field: str = spec_field("text", doc="Column of plain text.", kw_only=True)
    prompt_field: str = spec_field("prompt", doc="Column of prompts.", kw_only=True)
    completion_field: str = spec_field("completion", doc="Column of completions.", kw_only=True)
    messages_field: str = spec_field("messages", doc="Column of chat messages.", kw_only=True)
    label_field: str = spec_field("label", doc="Column of classification labels.", kw_only=True)
    max_seq_length: int = spec_field(
        128, doc="Truncation (or block) length in tokens.", minimum=8, kw_only=True
    )
    max_train_samples: int | None = spec_field(
        None, doc="Subsample the training split to this many examples.", minimum=1, kw_only=True
    )
    max_eval_samples: int | None = spec_field(
        None, doc="Subsample the evaluation split to this many examples.", minimum=1, kw_only=True
    )
    completion_only_loss: bool = spec_field(
        False,
        doc="Learn only the completion (the prompt, or every non-assistant turn, is masked).",
        kw_only=True,
    )
    packing: bool = spec_field(
        False, doc="Concatenate examples into full max_seq_length blocks.", kw_only=True
    )
    chat_template: bool = spec_field(
        True,
        doc="Format prompt/completion and chats with the model's chat template when it has one.",
        kw_only=True,
    )
    seed: int = spec_field(0, doc="The task's seed.", minimum=0, kw_only=True)


@dataclass(frozen=True, kw_only=True)
class LengthFields:
    """How long a trial trains and how often it evaluates and checkpoints."""

    max_steps: int | None = spec_field(
        None, doc="Optimizer steps per trial (else num_train_epochs).", minimum=1, kw_only=True
    )
    num_train_epochs: float = spec_field(
        1.0, doc="Epochs per trial when max_steps is not set.", exclusive_minimum=0, kw_only=True
    )
    eval_steps: int = spec_field(
        10, doc="Evaluate (and report to the pruner) every N steps.", minimum=1, kw_only=True
    )
    checkpoint_every: int = spec_field(
        1, doc="Commit a checkpoint every N evaluations.", minimum=1, kw_only=True
    )
    fidelity: Fidelity = spec_field(
        "steps",
        doc="What the pruner's step counts: optimizer steps, or tokens seen (fair across batch "
        "sizes).",
        kw_only=True,
    )


@dataclass(frozen=True)
class DataConfig(DataFields):
    """Where the data is and how to turn records into model inputs."""

    source: str | None  # None: the built-in demo data
    config_name: str | None = None


@dataclass(frozen=True)
class ScheduleConfig(LengthFields):
    """How long a trial trains, how often it evaluates, checkpoints and may stop early."""

    metric: str = "eval_loss"
    greater_is_better: bool = False
    early_stopping_patience: int | None = None
    early_stopping_threshold: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    """Which model to load and how to adapt it (``method``: a name in ``METHODS``)."""

    name_or_path: str | None  # None: the built-in demo model
    task_type: str = "classification"
    method: str = "lora"
    lora: Mapping[str, Any] | None = None
    precision: str = HPSEARCH_DEFAULTS["precision"]
    attn_implementation: str = HPSEARCH_DEFAULTS["attn_implementation"]
    quant_compute_dtype: str = HPSEARCH_DEFAULTS["quant_compute_dtype"]
