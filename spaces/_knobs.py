"""The knobs a space may set, and what values each accepts.

A parameter name is either an hpsearch knob listed here (batch rules, LoRA, precision, ...)
or a field of ``transformers.TrainingArguments``. This module checks the values of the knobs
it knows; the search layer checks every other name against the real ``TrainingArguments``
signature, so a misspelt knob is an error and never a silently dropped kwarg.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpsearch.spaces._limits import MAX_INT

Target = Literal["hpsearch", "lora", "training_args"]

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def matches(schema: Mapping[str, Any], value: Any) -> bool:
    """Does ``value`` satisfy ``schema``, a knob's JSON Schema of one value?

    Knob values are declared as JSON Schema (the subset below) so that the loader's check and
    the schema editors read are one declaration. Numbers are finite and never booleans.
    """
    if "anyOf" in schema:
        return any(matches(option, value) for option in schema["anyOf"])
    kind = schema["type"]
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return (
            isinstance(value, str)
            and len(value) >= schema.get("minLength", 0)
            and ("enum" not in schema or value in schema["enum"])
        )
    if kind == "array":
        return (
            isinstance(value, (list, tuple))
            and len(value) >= schema.get("minItems", 0)
            and all(matches(schema["items"], v) for v in value)
        )
    if not (_is_int(value) if kind == "integer" else _is_number(value)):
        return False
    return not (
        ("minimum" in schema and value < schema["minimum"])
        or ("exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"])
        or ("maximum" in schema and value > schema["maximum"])
        or ("exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"])
    )


def _int(minimum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": MAX_INT}


def _number(**bounds: float) -> dict[str, Any]:
    keys = {"above": "exclusiveMinimum", "below": "exclusiveMaximum", "low": "minimum"}
    return {"type": "number", **{keys.get(k, "maximum"): v for k, v in bounds.items()}}


def _one_of(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_POSITIVE_INT = _int(1)
_POSITIVE = _number(above=0)
_NON_NEGATIVE = _number(low=0)
_UNIT_OPEN = _number(low=0, below=1)
_BOOL = {"type": "boolean"}
_NAME = {"type": "string", "minLength": 1}
_TARGET_MODULES = {"anyOf": [_NAME, {"type": "array", "minItems": 1, "items": _NAME}]}


@dataclass(frozen=True)
class Knob:
    name: str
    target: Target
    value: Mapping[str, Any]
    """JSON Schema of one value (the subset :func:`matches` reads)."""
    allowed: str
    description: str

    def check(self, value: Any) -> bool:
        return matches(self.value, value)


_KNOBS = (
    Knob(
        "per_device_train_batch_size",
        "hpsearch",
        _POSITIVE_INT,
        "an integer >= 1",
        "Examples per device per forward pass.",
    ),
    Knob(
        "effective_batch_size",
        "hpsearch",
        _POSITIVE_INT,
        "an integer >= 1",
        "per-device batch x gradient accumulation x devices; accumulation is derived from it.",
    ),
    Knob(
        "gradient_accumulation_steps",
        "hpsearch",
        _POSITIVE_INT,
        "an integer >= 1",
        "Set directly only when effective_batch_size is not in the space.",
    ),
    Knob(
        "max_seq_length",
        "hpsearch",
        _int(8),
        "an integer >= 8",
        "Truncate (or pack) examples to this many tokens.",
    ),
    Knob(
        "precision",
        "hpsearch",
        _one_of(PRECISIONS),
        ", ".join(PRECISIONS),
        "auto: bf16 where supported, else fp16 on CUDA, else fp32.",
    ),
    Knob(
        "attn_implementation",
        "hpsearch",
        _one_of(ATTENTION),
        ", ".join(ATTENTION),
        "Attention kernel passed to from_pretrained.",
    ),
    Knob(
        "head_lr_multiplier",
        "hpsearch",
        _POSITIVE,
        "a number > 0",
        "LR multiplier for newly initialised parameters (e.g. a classification head).",
    ),
    Knob(
        "layer_lr_decay",
        "hpsearch",
        _number(above=0, high=1),
        "0 < x <= 1",
        "Layer-wise LR decay: layer i of L gets lr * decay**(L - i).",
    ),
    Knob(
        "quant_compute_dtype",
        "hpsearch",
        _one_of(COMPUTE_DTYPES),
        ", ".join(COMPUTE_DTYPES),
        "QLoRA compute dtype of the 4-bit layers.",
    ),
    Knob("lora_r", "lora", _POSITIVE_INT, "an integer >= 1", "LoRA rank."),
    Knob("lora_alpha", "lora", _POSITIVE, "a number > 0", "LoRA scaling numerator."),
    Knob("lora_dropout", "lora", _UNIT_OPEN, "0 <= x < 1", "Dropout on the LoRA branch."),
    Knob(
        "lora_target_modules",
        "lora",
        _TARGET_MODULES,
        "'all-linear' or a non-empty list of module names",
        "Modules that get adapters.",
    ),
    Knob("learning_rate", "training_args", _POSITIVE, "a number > 0", "Peak learning rate."),
    Knob(
        "warmup_ratio",
        "training_args",
        _UNIT_OPEN,
        "0 <= x < 1",
        "Fraction of steps spent warming up.",
    ),
    Knob("weight_decay", "training_args", _NON_NEGATIVE, "a number >= 0", "AdamW weight decay."),
    Knob(
        "max_grad_norm",
        "training_args",
        _NON_NEGATIVE,
        "a number >= 0 (0 disables)",
        "Gradient clipping norm.",
    ),
    Knob(
        "lr_scheduler_type",
        "training_args",
        _one_of(SCHEDULERS),
        ", ".join(SCHEDULERS),
        "Learning-rate schedule.",
    ),
    Knob(
        "num_train_epochs",
        "training_args",
        _POSITIVE,
        "a number > 0",
        "Epochs per trial (used when the task sets no max_steps).",
    ),
    Knob("adam_beta1", "training_args", _UNIT_OPEN, "0 <= x < 1", "Adam beta1."),
    Knob("adam_beta2", "training_args", _UNIT_OPEN, "0 <= x < 1", "Adam beta2."),
    Knob("adam_epsilon", "training_args", _POSITIVE, "a number > 0", "Adam epsilon."),
    Knob("label_smoothing_factor", "training_args", _UNIT_OPEN, "0 <= x < 1", "Label smoothing."),
    Knob(
        "gradient_checkpointing",
        "training_args",
        _BOOL,
        "true or false",
        "Recompute activations in backward to save memory.",
    ),
    Knob("seed", "training_args", _int(0), f"an integer from 0 to {MAX_INT}", "Trial seed."),
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
    # trl.SFTConfig fields (causal-LM trials) that follow the task's data settings
    "max_length": "set task.max_seq_length",
    "packing": "set task.packing",
    "completion_only_loss": "set task.completion_only_loss",
    "assistant_only_loss": "set task.completion_only_loss (TRL's assistant-only loss on chats)",
    "dataset_text_field": "set task.text_field",
    "dataset_kwargs": "hpsearch hands TRL the records to prepare",
    "model_init_kwargs": "hpsearch loads the model (task.model, model knobs)",
    "trust_remote_code": "hpsearch loads the model (task.model, model knobs)",
}
