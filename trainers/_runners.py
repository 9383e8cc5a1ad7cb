"""Pick the runner for a task type; heavy imports (torch, transformers) happen lazily."""

from __future__ import annotations

import dataclasses

from hpsearch.trainers._base import TrialRunner

_RUNNERS: dict[str, TrialRunner] = {}


def runner_for(task_type: str) -> TrialRunner:
    """A process-wide runner per task type, so its caches live across trials."""
    kind = "simulated" if task_type == "simulated" else "hf"
    if kind not in _RUNNERS:
        if kind == "simulated":
            from hpsearch.trainers._simulated import SimulatedTrialRunner

            _RUNNERS[kind] = SimulatedTrialRunner()
        else:
            from hpsearch.trainers._hf import HFTrialRunner

            _RUNNERS[kind] = HFTrialRunner()
    return _RUNNERS[kind]


def training_argument_names() -> frozenset[str]:
    """Fields of ``transformers.TrainingArguments`` a space may set (plus known aliases)."""
    from transformers import TrainingArguments

    from hpsearch.trainers._hf import _ALIASES

    return frozenset({f.name for f in dataclasses.fields(TrainingArguments)} | set(_ALIASES))
