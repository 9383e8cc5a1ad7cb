"""Task kinds as strategy objects: causal LM, classification, simulated and custom.

A task kind gives the runner that trains its trials (one per process, so its caches live
across trials) and the problems with a trial's model and data found without loading either.
Each is the implementation of one ``TASKS`` entry of :mod:`hpsearch.spaces` (by dotted path);
the entry's flags (``needs_data``, its ``options``) are read by the space checks without
importing this module. The Hugging Face runner, and with it torch and transformers, is
imported only when a runner is asked for: the driver, which checks every run's inputs, never
imports them.
"""

from __future__ import annotations

import functools
from typing import ClassVar

from hpsearch.spaces import TASKS, Plugin, import_target
from hpsearch.trainers._base import TrialConfig, TrialError, TrialRunner

__all__ = [
    "CausalLMTask",
    "ClassificationTask",
    "CustomTask",
    "SimulatedTask",
    "TaskKind",
    "hf_input_problems",
    "task_for",
]


class TaskKind:
    """The contract of a task kind (one ``TASKS`` entry)."""

    name: ClassVar[str]

    @property
    def entry(self) -> Plugin:
        return TASKS.get(self.name)

    def runner(self) -> TrialRunner:
        """The process-wide runner of this kind's trials."""
        raise NotImplementedError

    def input_problems(self, config: TrialConfig) -> list[str]:
        """Problems that make ``config`` impossible to run, found without loading anything."""
        return self.runner().validate(config)


def hf_input_problems(config: TrialConfig) -> list[str]:
    """The model resolves to a local folder or cached hub id; the dataset can be read
    (neither torch nor transformers is imported)."""
    from hpsearch.trainers._data import validate_data
    from hpsearch.trainers._hub import resolve_model_path

    problems = []
    try:
        resolve_model_path(config.model)
    except TrialError as exc:
        problems.append(str(exc))
    return problems + validate_data(config.data, config.model.task_type)


@functools.lru_cache(maxsize=1)
def _hf_runner() -> TrialRunner:
    from hpsearch.trainers._hf import HFTrialRunner

    return HFTrialRunner()


class _HFTask(TaskKind):
    """A task the Hugging Face Trainer runs (one runner and model cache for both kinds)."""

    def runner(self) -> TrialRunner:
        return _hf_runner()

    def input_problems(self, config: TrialConfig) -> list[str]:
        return hf_input_problems(config)


class CausalLMTask(_HFTask):
    name = "causal_lm"


class ClassificationTask(_HFTask):
    name = "classification"


class _OwnRunnerTask(TaskKind):
    """A task with a runner of its own, imported on first use (``runner_target``)."""

    runner_target: ClassVar[str]  # "package.module:Class" of its TrialRunner

    @functools.cached_property
    def _runner(self) -> TrialRunner:
        cls = import_target(self.runner_target, f"task {self.name!r} runner")
        runner: TrialRunner = cls()
        return runner

    def runner(self) -> TrialRunner:
        return self._runner


class SimulatedTask(_OwnRunnerTask):
    name = "simulated"
    runner_target = "hpsearch.trainers._simulated:SimulatedTrialRunner"


class CustomTask(_OwnRunnerTask):
    """The user's own training: a script with ``TrialCallback`` or a trainer entry point."""

    name = "custom"
    runner_target = "hpsearch.trainers._script_runner:ScriptTrialRunner"


@functools.cache
def task_for(name: str) -> TaskKind:
    """The strategy of the task kind ``name`` (a ``TASKS`` entry)."""
    cls = TASKS.resolve(name)
    if not (isinstance(cls, type) and issubclass(cls, TaskKind)):
        raise TypeError(f"task {name!r}: {cls!r} is not a TaskKind subclass")
    return cls()
