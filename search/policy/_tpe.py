"""hpsearch's ``tpe`` sampler: Optuna's TPE, optionally hedged with a fraction of random trials.

``random_fraction: p`` (default 0: exactly Optuna's ``TPESampler``) draws each trial, with
probability ``p``, uniformly at random from the whole space instead of from TPE's model; the
other trials are TPE's as usual (the random ones are in the study, so TPE learns from them).
This is BOHB's rule (Falkner et al. 2018, ``random_fraction=1/3``): a model-based sampler fed by
pruned or paused trials fits what early evaluations favour, and on a task whose early values
rank configurations differently from the final ones it can keep sampling a region that
plateaus low. A fixed share of random trials keeps every region reachable.

The choice is made once per trial (``sample_relative`` and ``sample_independent`` agree), from
the sampler's seed: hpsearch builds one sampler per trial seeded from the trial number (see
:class:`~hpsearch.search.policy.DistinctSampler`), so a seeded study repeats its choices.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import RandomSampler
from optuna.trial import FrozenTrial

__all__ = ["TPESampler"]

_STREAM = 0x7D9E  # a second stream from the seed, apart from TPE's own draws


class TPESampler(optuna.samplers.TPESampler):
    """Optuna's ``TPESampler`` plus ``random_fraction`` (see the module docstring); every
    other option is Optuna's, passed through unchanged."""

    def __init__(self, *, random_fraction: float = 0.0, **tpe_options: Any) -> None:
        if isinstance(random_fraction, bool) or not isinstance(random_fraction, (int, float)):
            raise ValueError(f"random_fraction must be a number in [0, 1), got {random_fraction!r}")
        if not 0.0 <= float(random_fraction) < 1.0:
            raise ValueError(f"random_fraction must be in [0, 1), got {random_fraction}")
        super().__init__(**tpe_options)
        self.random_fraction = float(random_fraction)
        seed = tpe_options.get("seed")
        self._explore_rng = np.random.RandomState(None if seed is None else [int(seed), _STREAM])
        self._random = RandomSampler(seed=None if seed is None else int(seed) ^ _STREAM)
        self._explore: dict[int, bool] = {}

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self._explore_rng = np.random.RandomState()
        self._random.reseed_rng()

    def explores(self, trial: FrozenTrial) -> bool:
        """Whether this trial is one of the random ones (decided once per trial)."""
        if self.random_fraction == 0.0:
            return False
        if trial.number not in self._explore:
            self._explore[trial.number] = bool(self._explore_rng.rand() < self.random_fraction)
        return self._explore[trial.number]

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not self.explores(trial):
            return super().sample_relative(study, trial, search_space)
        return {
            name: self._random.sample_independent(study, trial, name, dist)
            for name, dist in search_space.items()
        }

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if self.explores(trial):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        return super().sample_independent(study, trial, param_name, param_distribution)


def _signature() -> inspect.Signature:
    """Optuna's options and ``random_fraction``: what a space's ``sampler:`` is checked
    against (an unknown option is an error, never dropped)."""
    optuna_params = inspect.signature(optuna.samplers.TPESampler.__init__).parameters.values()
    extra = inspect.Parameter(
        "random_fraction", inspect.Parameter.KEYWORD_ONLY, default=0.0, annotation="float"
    )
    return inspect.Signature([*optuna_params, extra])


TPESampler.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
