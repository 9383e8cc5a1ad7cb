"""The Hugging Face ``Trainer`` subclass a trial runs: layer-wise learning rates, guards.

* ``head_lr_multiplier``: parameters that were newly initialised when the model was loaded
  (e.g. a classification head; a causal LM has none) learn at ``lr * multiplier``.
* ``layer_lr_decay``: transformer layer ``i`` of ``L`` learns at ``lr * decay ** (L - i)``;
  embeddings get ``decay ** (L + 1)``; heads keep the full rate.
* A failpoint can turn the loss into NaN for fault-injection tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from hpsearch.trainers import _checkpoints, _failpoints
from hpsearch.trainers._base import CheckpointWriteError

_LAYER_RE = re.compile(r"\.(?:layers?|h|blocks)\.(\d+)\.")
_EMBED_RE = re.compile(r"embed|wte|wpe")


def lr_multipliers(
    names: Iterable[str],
    *,
    new_modules: Iterable[str],
    head_lr_multiplier: float,
    layer_lr_decay: float,
) -> dict[str, float]:
    """Per-parameter learning-rate multipliers (1.0 when both knobs are neutral)."""
    names = list(names)
    new_modules = tuple(m for m in new_modules if m)
    depths = [int(m.group(1)) for n in names if (m := _LAYER_RE.search(n))]
    num_layers = max(depths) + 1 if depths else 0
    out = {}
    for name in names:
        mult = 1.0
        if any(f".{m}." in f".{name}" for m in new_modules):
            mult *= head_lr_multiplier
        elif layer_lr_decay != 1.0:
            match = _LAYER_RE.search(name)
            if match:
                mult *= layer_lr_decay ** (num_layers - int(match.group(1)))
            elif _EMBED_RE.search(name):
                mult *= layer_lr_decay ** (num_layers + 1)
        out[name] = mult
    return out


class HpsTrainer(Trainer):
    """``Trainer`` with per-group learning rates and a NaN failpoint."""

    def __init__(
        self,
        *args: Any,
        new_modules: tuple[str, ...] = (),
        head_lr_multiplier: float = 1.0,
        layer_lr_decay: float = 1.0,
        failpoint_context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.new_modules = new_modules
        self.head_lr_multiplier = head_lr_multiplier
        self.layer_lr_decay = layer_lr_decay
        self.failpoint_context = failpoint_context or {}
        self.lr_groups: dict[float, int] = {}

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        opt_model: Any = self.model if model is None else model
        neutral = self.head_lr_multiplier == 1.0 and self.layer_lr_decay == 1.0
        if self.optimizer is not None or neutral:
            return super().create_optimizer(model)
        trainable = [(n, p) for n, p in opt_model.named_parameters() if p.requires_grad]
        mults = lr_multipliers(
            (n for n, _ in trainable),
            new_modules=self.new_modules,
            head_lr_multiplier=self.head_lr_multiplier,
            layer_lr_decay=self.layer_lr_decay,
        )
        decay_names = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
        for name, param in trainable:
            groups.setdefault((name in decay_names, mults[name]), []).append(param)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        param_groups = [
            {
                "params": params,
                "weight_decay": self.args.weight_decay if decays else 0.0,
                "lr": self.args.learning_rate * mult,
            }
            for (decays, mult), params in sorted(groups.items(), key=lambda kv: kv[0][1])
        ]
        for (_, mult), params in groups.items():
            self.lr_groups[mult] = self.lr_groups.get(mult, 0) + sum(p.numel() for p in params)
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """HF's checkpoint write; any failure inside it is a checkpoint-write failure."""
        folder = Path(str(self.args.output_dir)) / f"checkpoint-{self.state.global_step}"
        try:
            super()._save_checkpoint(model, trial)
        except CheckpointWriteError:
            raise
        except Exception as exc:  # torch.save reports a full disk as a RuntimeError
            raise CheckpointWriteError(
                _checkpoints.describe_write_error(exc, folder), step=self.state.global_step
            ) from exc

    def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().compute_loss(model, inputs, *args, **kwargs)
        if (
            _failpoints.triggered(
                "train.loss", step=self.state.global_step, **self.failpoint_context
            )
            == "nan"
        ):
            if isinstance(result, tuple):
                return (result[0] * float("nan"), *result[1:])
            return result * float("nan")
        return result
