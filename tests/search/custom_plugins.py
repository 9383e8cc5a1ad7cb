"""A user's own sampler and pruner, plugged in by dotted path in tests/search/test_plugins.py.

Each leaves a trace in the study (a study user attribute) so the test can see it ran.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.pruners import BasePruner
from optuna.samplers import RandomSampler
from optuna.trial import FrozenTrial


class TaggedSampler(RandomSampler):
    """Random sampling that writes its ``tag`` to the study when it draws."""

    def __init__(self, *, tag: str, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.tag = tag

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        study.set_user_attr("custom_sampler", self.tag)
        return super().sample_independent(study, trial, param_name, param_distribution)


class FirstStepPruner(BasePruner):
    """Prunes every trial whose newest value is above ``above``."""

    def __init__(self, above: float) -> None:
        self.above = above

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        value = trial.intermediate_values.get(trial.last_step) if trial.last_step else None
        return value is not None and value > self.above


def not_a_sampler() -> object:
    return object()


NOT_CALLABLE = 3
