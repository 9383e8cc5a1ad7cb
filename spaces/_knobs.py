"""The knobs a space may set, and what values each accepts.

A parameter name is either an hpsearch knob listed here (batch rules, LoRA, precision, ...)
or a field of ``transformers.TrainingArguments``. This module checks the values of the knobs
it knows; the search layer checks every other name against the real ``TrainingArguments``
signature, so a misspelt knob is an error and never a silently dropped kwarg.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hpsearch.spaces._limits import MAX_INT

Target = Literal["hpsearch", "lora", "training_args"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _seed(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value >= 1


def _positive(value: Any) -> bool:
    return _is_number(value) and value > 0


def _non_negative(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _unit_open(value: Any) -> bool:
    return _is_number(value) and 0 <= value < 1


def _one_of(*allowed: str) -> Callable[[Any], bool]:
    return lambda value: value in allowed


def _target_modules(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, str) and v for v in value)
    )


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "warmup_stable_decay",
)
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
ATTENTION = ("sdpa", "eager", "flash_attention_2")
COMPUTE_DTYPES = ("bf16", "fp16", "fp32")


@dataclass(frozen=True)
class Knob:
    name: str
    target: Target
    check: Callable[[Any], bool]
    allowed: str
    description: str


_KNOBS = (
    Knob(
        "per_device_train_batch_size",
        "hpsearch",
        _positive_int,
        "an integer >= 1",
        "Examples per device per forward pass.",
    ),
    Knob(
        "effective_batch_size",
        "hpsearch",
        _positive_int,
        "an integer >= 1",
        "per-device batch x gradient accumulation x devices; accumulation is derived from it.",
    ),
    Knob(
        "gradient_accumulation_steps",
        "hpsearch",
        _positive_int,
        "an integer >= 1",
        "Set directly only when effective_batch_size is not in the space.",
    ),
    Knob(
        "max_seq_length",
        "hpsearch",
        lambda v: _is_int(v) and v >= 8,
        "an integer >= 8",
        "Truncate (or pack) examples to this many tokens.",
    ),
    Knob(
        "precision",
        "hpsearch",
        _one_of(*PRECISIONS),
        ", ".join(PRECISIONS),
        "auto: bf16 where supported, else fp16 on CUDA, else fp32.",
    ),
    Knob(
        "attn_implementation",
        "hpsearch",
        _one_of(*ATTENTION),
        ", ".join(ATTENTION),
        "Attention kernel passed to from_pretrained.",
    ),
    Knob(
        "head_lr_multiplier",
        "hpsearch",
        _positive,
        "a number > 0",
        "LR multiplier for newly initialised parameters (e.g. a classification head).",
    ),
    Knob(
        "layer_lr_decay",
        "hpsearch",
        lambda v: _is_number(v) and 0 < v <= 1,
        "0 < x <= 1",
        "Layer-wise LR decay: layer i of L gets lr * decay**(L - i).",
    ),
    Knob(
        "quant_compute_dtype",
        "hpsearch",
        _one_of(*COMPUTE_DTYPES),
        ", ".join(COMPUTE_DTYPES),
        "QLoRA compute dtype of the 4-bit layers.",
    ),
    Knob("lora_r", "lora", _positive_int, "an integer >= 1", "LoRA rank."),
    Knob("lora_alpha", "lora", _positive, "a number > 0", "LoRA scaling numerator."),
    Knob("lora_dropout", "lora", _unit_open, "0 <= x < 1", "Dropout on the LoRA branch."),
    Knob(
        "lora_target_modules",
        "lora",
        _target_modules,
        "'all-linear' or a non-empty list of module names",
        "Modules that get adapters.",
    ),
    Knob("learning_rate", "training_args", _positive, "a number > 0", "Peak learning rate."),
    Knob(
        "warmup_ratio",
        "training_args",
        _unit_open,
        "0 <= x < 1",
        "Fraction of steps spent warming up.",
    ),
    Knob("weight_decay", "training_args", _non_negative, "a number >= 0", "AdamW weight decay."),
    Knob(
        "max_grad_norm",
        "training_args",
        _non_negative,
        "a number >= 0 (0 disables)",
        "Gradient clipping norm.",
    ),
    Knob(
        "lr_scheduler_type",
        "training_args",
        _one_of(*SCHEDULERS),
        ", ".join(SCHEDULERS),
        "Learning-rate schedule.",
    ),
    Knob(
        "num_train_epochs",
        "training_args",
        _positive,
        "a number > 0",
        "Epochs per trial (used when the task sets no max_steps).",
    ),
    Knob("adam_beta1", "training_args", _unit_open, "0 <= x < 1", "Adam beta1."),
    Knob("adam_beta2", "training_args", _unit_open, "0 <= x < 1", "Adam beta2."),
    Knob("adam_epsilon", "training_args", _positive, "a number > 0", "Adam epsilon."),
    Knob("label_smoothing_factor", "training_args", _unit_open, "0 <= x < 1", "Label smoothing."),
    Knob(
        "gradient_checkpointing",
        "training_args",
        _bool,
        "true or false",
        "Recompute activations in backward to save memory.",
    ),
    Knob("seed", "training_args", _seed, f"an integer from 0 to {MAX_INT}", "Trial seed."),
)

KNOBS: dict[str, Knob] = {knob.name: knob for knob in _KNOBS}

# TrainingArguments fields hpsearch sets itself; a space may not override them.
MANAGED_TRAINING_ARGS: dict[str, str] = {
    "output_dir": "use --checkpoint-dir",
    "per_device_train_batch_size": "it is an hpsearch knob of the same name",
    "eval_strategy": "evaluation follows task.eval_steps",
    "eval_steps": "set task.eval_steps",
    "save_strategy": "checkpoints follow task.eval_steps",
    "save_steps": "set task.checkpoint_every",
    "save_total_limit": "hpsearch keeps the newest and the best checkpoint",
    "load_best_model_at_end": "hpsearch always restores the best checkpoint",
    "metric_for_best_model": "set objective.metric",
    "greater_is_better": "set objective.direction",
    "max_steps": "set task.max_steps",
    "logging_dir": "hpsearch names runs after the study and trial",
    "run_name": "hpsearch names runs after the study and trial",
    "report_to": "set task.report_to",
    "resume_from_checkpoint": "retries resume automatically",
    "bf16": "use the precision knob",
    "fp16": "use the precision knob",
}
