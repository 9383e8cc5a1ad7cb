"""Turn one sampled point of a space into concrete training settings.

This is where the fine-tuning guides' batch rules live: gradient accumulation is derived from
the target effective batch size (effective = per-device x accumulation x devices), the learning
rate is optionally scaled with the effective batch size, and an out-of-memory retry halves the
per-device batch while doubling accumulation so that the effective batch never changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpsearch.spaces._configs import HPSEARCH_DEFAULTS, LORA_DEFAULTS
from hpsearch.spaces._knobs import KNOBS
from hpsearch.spaces._params import FixedParam
from hpsearch.spaces._plugins import METHODS
from hpsearch.spaces._spec import SearchSpace
from hpsearch.spaces.errors import HpsearchError

DEFAULT_PER_DEVICE = 8


class BatchRuleError(HpsearchError, ValueError):
    """A sampled point cannot satisfy the batch rule (it is rejected before it runs)."""


@dataclass(frozen=True)
class ResolvedTrial:
    """Concrete settings for one trial, derived from the sampled parameters."""

    method: str
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    devices: int
    effective_batch_size: int
    learning_rate: float | None
    base_learning_rate: float | None
    training_args: dict[str, Any] = field(default_factory=dict)
    lora: dict[str, Any] | None = None
    knobs: dict[str, Any] = field(default_factory=dict)
    oom_downscale: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "devices": self.devices,
            "effective_batch_size": self.effective_batch_size,
            "learning_rate": self.learning_rate,
            "base_learning_rate": self.base_learning_rate,
            "training_args": dict(self.training_args),
            "lora": None if self.lora is None else dict(self.lora),
            "knobs": dict(self.knobs),
            "oom_downscale": self.oom_downscale,
        }


def resolve_trial(
    space: SearchSpace, params: Mapping[str, Any], *, oom_downscale: int = 1
) -> ResolvedTrial:
    """Resolve sampled ``params`` (fixed parameters filled in) into trial settings."""
    values = {
        p.name: p.value for p in space.params if isinstance(p, FixedParam) and p.active(params)
    }
    values.update(params)
    devices = space.resources.devices
    per_device = int(values.get("per_device_train_batch_size", DEFAULT_PER_DEVICE))
    if "effective_batch_size" in values:
        effective = int(values["effective_batch_size"])
        if effective % (per_device * devices) != 0:
            raise BatchRuleError(
                f"per-device batch {per_device} x {devices} device(s) cannot reach effective "
                f"batch size {effective}"
            )
        accumulation = effective // (per_device * devices)
    else:
        accumulation = int(values.get("gradient_accumulation_steps", 1))
        effective = per_device * accumulation * devices
    if oom_downscale > 1:
        if per_device % oom_downscale != 0:
            raise BatchRuleError(
                f"per-device batch {per_device} cannot be divided by {oom_downscale} "
                "for an out-of-memory retry"
            )
        per_device //= oom_downscale
        accumulation *= oom_downscale

    base_lr = values.get("learning_rate")
    lr = base_lr
    if base_lr is not None and space.batch.lr_scaling != "none":
        ratio = effective / space.batch.reference_batch_size
        lr = float(base_lr) * (ratio if space.batch.lr_scaling == "linear" else math.sqrt(ratio))

    training_args: dict[str, Any] = {}
    adapter = METHODS.get(space.method).adapter
    lora: dict[str, Any] | None = dict(LORA_DEFAULTS) if adapter else None
    knobs: dict[str, Any] = dict(HPSEARCH_DEFAULTS)
    for name, value in values.items():
        knob = KNOBS.get(name)
        if name in (
            "per_device_train_batch_size",
            "effective_batch_size",
            "gradient_accumulation_steps",
        ):
            continue
        if knob is not None and knob.target == "hpsearch":
            knobs[name] = value
        elif knob is not None and knob.target == "lora":
            assert lora is not None  # LoRA knobs without an adapter method: rejected at load time
            key = {"lora_r": "r", "lora_target_modules": "target_modules"}.get(name, name)
            if key == "target_modules" and isinstance(value, str) and value != "all-linear":
                value = [v.strip() for v in value.split(",") if v.strip()]
            lora[key] = list(value) if isinstance(value, tuple) else value
        else:
            training_args[name] = value
    if lr is not None:
        training_args["learning_rate"] = lr
    return ResolvedTrial(
        method=space.method,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        devices=devices,
        effective_batch_size=effective,
        learning_rate=None if lr is None else float(lr),
        base_learning_rate=None if base_lr is None else float(base_lr),
        training_args=training_args,
        lora=lora,
        knobs=knobs,
        oom_downscale=oom_downscale,
    )
