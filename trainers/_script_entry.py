"""Launcher of a ``trainer: module:function`` entry point (``python -m`` this module, per trial).

The function receives the trial's parameters (a :class:`~hpsearch.trainers.TrialParams`) and,
if it has an ``output_dir`` parameter, the trial's checkpoint folder; it returns a
``transformers.Trainer``. hpsearch adds its :class:`~hpsearch.trainers.TrialCallback` and trains
it, resuming from the trial's committed checkpoint on a retry.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from hpsearch.trainers._script_params import trial_params


def load_entry_point(spec: str) -> Callable[..., Any]:
    """The function named by ``module:function``; raises ValueError naming what is wrong."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"trainer entry point {spec!r} is not module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"trainer entry point {spec!r}: cannot import {module_name!r}: {exc}"
        ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"trainer entry point {spec!r}: {module_name} has no function {name!r}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return function
    extra = {"output_dir": ""} if "output_dir" in signature.parameters else {}
    try:
        signature.bind({}, **extra)
    except TypeError:
        raise ValueError(
            f"trainer entry point {spec!r} must accept (params) or (params, output_dir), "
            f"it is {name}{signature}"
        ) from None
    return function


def build_trainer(spec: str) -> tuple[Any, Any]:
    """The Trainer the entry point returns, with the TrialCallback added, and its params."""
    from transformers import Trainer

    from hpsearch.trainers._trial_callback import TrialCallback

    function = load_entry_point(spec)
    params = trial_params()
    wants_dir = "output_dir" in inspect.signature(function).parameters
    trainer = function(params, output_dir=params.output_dir) if wants_dir else function(params)
    if not isinstance(trainer, Trainer):
        raise ValueError(
            f"trainer entry point {spec!r} returned {type(trainer).__name__}, "
            "not a transformers.Trainer"
        )
    trainer.add_callback(TrialCallback())
    return trainer, params


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hpsearch.trainers._script_entry module:function", file=sys.stderr)
        return 2
    try:
        trainer, params = build_trainer(argv[0])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    trainer.train(resume_from_checkpoint=params.resume_from_checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
