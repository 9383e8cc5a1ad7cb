"""Distinct sampling: every driver, concurrent or resumed, draws configurations new to the study.

A seeded Optuna sampler draws from one random stream per *process*: two drivers on one study,
or a driver resumed after Ctrl-C, replay the same stream and re-run the configurations already
in the study. :class:`DistinctSampler` wraps the space's sampler (TPE, random, GP, CMA-ES; the
grid sampler has its own no-repeat bookkeeping and is not wrapped) and changes two things:

1. **Randomness per trial, not per process.** For each trial it builds a fresh inner sampler
   through the public constructor, seeded from ``(space seed, trial number, attempt)``. Trial
   numbers are unique in a study, so concurrent and resumed drivers draw from different
   streams, while one driver on a fresh study repeats its sequence exactly. No state that
   changes what is drawn is lost between trials: the relative search space is inferred by one
   long-lived inner sampler (Optuna's incremental intersection cache), CMA-ES keeps its
   optimizer in the trials' system attributes, and GP only loses its kernel-fitting warm start.
2. **A guard against configurations already in the study.** hpsearch's space is declarative,
   so the wrapper knows every distribution and every ``when:`` condition. It reports the whole
   space as the relative search space, so ``Trial`` asks ``sample_relative`` once for the
   complete configuration: the inner sampler's own relative sample, plus its
   ``sample_independent`` for the parameters outside the inner's relative space (exactly the
   split Optuna makes itself). If that configuration is already in the study (finished,
   running, claimed, or waiting in the queue), it draws again with the next attempt's seed.
   A chosen configuration is *claimed*: a trial system attribute written before the trial's
   parameters, counted as taken by every other driver. The check and the claim happen under a
   short cross-process lock (``use_claim_lock``: the driver sets a named lock in the study's
   database, apart from the budget lock), so two drivers never claim the same configuration.
   Without a lock (one process: the benchmarks) the claim is written first and the study read
   after it: of two concurrent claims at least one sees the other and draws again, so no two
   trials keep one configuration, but both may give way (then a finite space can end a
   configuration short).

After a bounded number of inner draws it falls back to a uniform pick among the configurations
not yet in the study (finite spaces, listed) or to uniform random draws (continuous spaces).
When a finite space has no configuration left, :class:`SpaceExhaustedError` says so.

Trials that carry given parameters (``enqueue_trial``: retries with ``retry_of``, warm starts)
keep them: ``Trial`` uses enqueued values before any relative one, and a fully given trial
never asks the sampler. Only the parameters a partial one leaves open (a warm start sharing
some parameters, a retry of a trial killed while it wrote its parameters) are drawn, guarded
like any other draw; if every completion is already in the study, it runs anyway.

Cost per trial: one read of the study's unfinished trials and one claim write (under the
lock), and a walk over the cached configurations of finished trials (about 2 ms at 5,000).
"""

from __future__ import annotations

import json
import secrets
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.policy._configs import ConfigKey, SpaceConfigs
from hpsearch.spaces import SearchSpace
from hpsearch.spaces.errors import HpsearchError
from hpsearch.storage import storage_of, study_id_of, trial_id_of

__all__ = ["CLAIM_ATTR", "DistinctSampler", "SpaceExhaustedError", "exhausted_line"]

CLAIM_ATTR = "hpsearch:config"  # trial system attribute: the configuration a trial claimed
_INNER_DRAWS = 8  # draws of the inner sampler before the fallback
_FALLBACK_DRAWS = 64
_KEEP_INNER = 16  # inner samplers kept for trials still expected to report (after_trial)


class SpaceExhaustedError(HpsearchError, RuntimeError):
    """Every configuration of a finite space is already in the study."""


class DistinctSampler(BaseSampler):
    """The space's sampler, seeded per trial and never repeating a configuration.

    ``factory(seed)`` builds the inner sampler; ``seed`` is the space's seed (None: a random
    one per process, so runs are not reproducible but still distinct). The relative search
    space is inferred by one long-lived inner sampler, whose intersection-search-space cache
    keeps that step incremental; ``infer_per_trial`` makes each trial's own sampler infer it,
    for samplers whose ``sample_relative`` relies on what their ``infer_relative_search_space``
    computed (TPE with ``group``, which recomputes its groups from all trials anyway).
    """

    def __init__(
        self,
        space: SearchSpace,
        factory: Callable[[int], BaseSampler],
        seed: int | None,
        *,
        infer_per_trial: bool = False,
        claim_lock: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        self._configs = SpaceConfigs(space)
        self._factory = factory
        self._infer_per_trial = infer_per_trial
        self._claim_lock = claim_lock
        self._entropy = (secrets.randbits(63) if seed is None else int(seed)) % 2**64
        # Built once up front: bad options fail here (validation), and warnings show once.
        self._template = factory(self._derive_seed(0, 0))
        self._inners: OrderedDict[int, BaseSampler] = OrderedDict()
        self._finished_keys: dict[int, ConfigKey | None] = {}

    def use_claim_lock(self, lock: Callable[[], AbstractContextManager[object]]) -> None:
        """Claim configurations under ``lock()``, a lock all drivers of the study share."""
        self._claim_lock = lock

    @property
    def inner(self) -> BaseSampler:
        """An inner sampler as this wrapper builds them (to inspect its options)."""
        return self._template

    @property
    def n_configurations(self) -> int | None:
        """How many configurations the space has (None: continuous or too many to list)."""
        return self._configs.size

    # -- seeding ----------------------------------------------------------------------------
    def _derive_seed(self, number: int, attempt: int) -> int:
        sequence = np.random.SeedSequence([self._entropy, number, attempt])
        return int(sequence.generate_state(1, dtype=np.uint32)[0])

    def _build(self, seed: int) -> BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the template already warned about these options
            return self._factory(seed)

    def _inner_for(self, study: optuna.Study, trial: FrozenTrial) -> BaseSampler:
        inner = self._inners.get(trial_id_of(trial))
        if inner is None:
            inner = self._build(self._derive_seed(trial.number, 0))
            inner.before_trial(study, trial)
            self._keep(trial_id_of(trial), inner)
        return inner

    def _keep(self, trial_id: int, inner: BaseSampler) -> None:
        self._inners[trial_id] = inner
        self._inners.move_to_end(trial_id)
        while len(self._inners) > _KEEP_INNER:
            self._inners.popitem(last=False)

    def reseed_rng(self) -> None:
        """A new random base seed (Optuna calls this for ``optimize(n_jobs > 1)`` copies)."""
        self._entropy = secrets.randbits(63)
        self._inners.clear()

    # -- BaseSampler ------------------------------------------------------------------------
    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._inners.pop(trial_id_of(trial), None)
        self._inner_for(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._configs.distributions.items() if not d.single()}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        # Enqueued values (a retry, a warm start) always win: ``Trial`` uses them before any
        # relative value. Only the parameters they leave open are drawn.
        given = dict(trial.system_attrs.get("fixed_params") or {})
        params = self._draw(study, trial, self._inner_for(study, trial), given)
        return {n: v for n, v in params.items() if n in search_space and n not in given}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        inner = self._inner_for(study, trial)
        return inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        inner = self._inners.pop(trial_id_of(trial), None) or self._template
        inner.after_trial(study, trial, state, values)

    # -- the guard --------------------------------------------------------------------------
    def _complete(
        self,
        inner: BaseSampler,
        study: optuna.Study,
        trial: FrozenTrial,
        given: dict[str, Any],
        *,
        own_space: bool = False,
    ) -> dict[str, Any]:
        """A complete configuration as ``Trial`` would assemble it from ``inner``: given
        values, else the relative sample, else ``sample_independent``. The relative search
        space is inferred by ``inner`` itself (``own_space``, or ``infer_per_trial``) or by
        the long-lived template."""
        inferrer = inner if own_space or self._infer_per_trial else self._template
        inner_space = inferrer.infer_relative_search_space(study, trial)
        relative = inner.sample_relative(study, trial, inner_space)

        def pick(name: str, dist: BaseDistribution) -> Any:
            if name in given:
                return given[name]
            if name in relative:
                return relative[name]
            return inner.sample_independent(study, trial, name, dist)

        return self._configs.complete(pick)

    def _draw(
        self, study: optuna.Study, trial: FrozenTrial, inner: BaseSampler, given: dict[str, Any]
    ) -> dict[str, Any]:
        taken: set[ConfigKey] = set()  # read after the first claim (one read per attempt)
        proposed: list[dict[str, Any]] = []
        for attempt in range(_INNER_DRAWS):
            if attempt:
                inner = self._build(self._derive_seed(trial.number, attempt))
                inner.before_trial(study, trial)
                self._keep(trial_id_of(trial), inner)
            params = self._complete(inner, study, trial, given)
            key = self._configs.key(params)
            if any(self._configs.key(p) == key for p in proposed):
                break  # the inner sampler converged there whatever the seed (GP's argmax)
            proposed.append(params)
            if key in taken:
                continue
            claimed, taken = self._claim(study, trial, params)
            if claimed:
                return params
        try:
            return self._fallback(study, trial, given)
        except SpaceExhaustedError:
            if not given:
                raise
        # What was enqueued runs, even if every completion of it is already in the study.
        self._claim(study, trial, proposed[0])
        return proposed[0]

    def _fallback(
        self, study: optuna.Study, trial: FrozenTrial, given: dict[str, Any]
    ) -> dict[str, Any]:
        """A uniform pick among the configurations (completions of ``given``) not yet in the
        study: listed for a finite space, drawn at random for a continuous one."""
        listed = self._configs.all_configurations()
        if listed is not None:
            listed = [c for c in listed if self._configs.agrees(c, given)]
        rng = np.random.RandomState(self._derive_seed(trial.number, _INNER_DRAWS))
        taken, _ = self._taken(study, trial_id_of(trial))
        released = False
        for attempt in range(_FALLBACK_DRAWS):
            if listed is not None:
                free = [c for c in listed if self._configs.key(c) not in taken]
                if not free and not released:
                    # This trial's last claim lost a tie to another claim, which may have lost
                    # to this one too: withdraw it, so that whichever of them looks last finds
                    # the point free, and look once more.
                    released = True
                    taken = self._release(study, trial)
                    free = [c for c in listed if self._configs.key(c) not in taken]
                if not free:
                    self._release(study, trial)
                    raise SpaceExhaustedError(self._exhausted_message())
                params = free[rng.randint(len(free))]
            else:
                seed = self._derive_seed(trial.number, _INNER_DRAWS + 1 + attempt)
                uniform = RandomSampler(seed=seed)
                params = self._complete(uniform, study, trial, given, own_space=True)
                if self._configs.key(params) in taken:
                    continue
            claimed, taken = self._claim(study, trial, params)
            if claimed:
                return params
        if given:
            raise SpaceExhaustedError(self._exhausted_message())  # runs as enqueued
        raise RuntimeError(
            f"trial {trial.number}: found no configuration that is not already in the study "
            f"after {_INNER_DRAWS + _FALLBACK_DRAWS} draws"
        )

    def _exhausted_message(self) -> str:
        return (
            f"the search space {self._configs.space.name!r} has {self.n_configurations} "
            "distinct configuration(s) and every one is already in the study"
        )

    def _claim(
        self, study: optuna.Study, trial: FrozenTrial, params: dict[str, Any]
    ) -> tuple[bool, set[ConfigKey]]:
        """Claim ``params`` for this trial unless another trial has them. Under the lock:
        check, then write; without: write, then check (and withdraw if taken)."""
        key = self._configs.key(params)
        if self._claim_lock is not None:
            with self._claim_lock():
                taken, _ = self._taken(study, trial_id_of(trial))
                if key in taken:
                    return False, taken
                storage_of(study).set_trial_system_attr(
                    trial_id_of(trial), CLAIM_ATTR, json.dumps(params)
                )
            return True, taken
        storage_of(study).set_trial_system_attr(trial_id_of(trial), CLAIM_ATTR, json.dumps(params))
        taken, _ = self._taken(study, trial_id_of(trial))
        return key not in taken, taken

    def _release(self, study: optuna.Study, trial: FrozenTrial) -> set[ConfigKey]:
        """Withdraw this trial's claim, then re-read what the others have."""
        storage_of(study).set_trial_system_attr(trial_id_of(trial), CLAIM_ATTR, None)
        return self._taken(study, trial_id_of(trial))[0]

    def trial_key(self, trial: FrozenTrial) -> ConfigKey | None:
        """The configuration a trial ran with; for one still unfinished, the one it claimed
        or was enqueued with. (A trial that ended before writing its parameters, its driver
        killed, ran nothing: its claim does not count.)"""
        if trial.state.is_finished():
            return self._configs.key(trial.params)
        claim = trial.system_attrs.get(CLAIM_ATTR)
        if claim is not None:
            try:
                return self._configs.key(json.loads(claim))
            except (TypeError, ValueError, AttributeError):
                pass
        given = trial.system_attrs.get("fixed_params") or {}
        return self._configs.key({**given, **trial.params})

    def _taken(
        self, study: optuna.Study, exclude_trial_id: int | None
    ) -> tuple[set[ConfigKey], int]:
        """Configurations of every other trial of the whole study (not a pruner's bracket),
        and how many unfinished trials have none of the space's configurations yet."""
        taken: set[ConfigKey] = set()
        pending = 0
        finite = self.n_configurations is not None
        for other in storage_of(study).get_all_trials(study_id_of(study), deepcopy=False):
            if trial_id_of(other) == exclude_trial_id:
                continue
            if other.state.is_finished():
                if trial_id_of(other) not in self._finished_keys:
                    self._finished_keys[trial_id_of(other)] = self.trial_key(other)
                key = self._finished_keys[trial_id_of(other)]
            else:
                key = self.trial_key(other)
                if finite and not self._configs.is_configuration(key):
                    pending += 1
            if key is not None:
                taken.add(key)
        return taken, pending

    def is_exhausted(self, study: optuna.Study, n_trials: int | None = None) -> bool:
        """True when every configuration of a finite space is in the study or about to be
        (an unfinished trial without one will take one). ``n_trials``, the study's trial
        count if known, skips the walk over trials while it is below the space's size."""
        size = self.n_configurations
        if size is None or (n_trials is not None and n_trials < size):
            return False
        taken, pending = self._taken(study, None)
        return sum(self._configs.is_configuration(k) for k in taken) + pending >= size


def exhausted_line(sampler: BaseSampler, space_name: str, budget: int | None) -> str:
    """The summary line of a study that stopped short of its budget: no configuration left."""
    size = sampler.n_configurations if isinstance(sampler, DistinctSampler) else None
    what = f"all {size} distinct configurations" if size is not None else "every configuration"
    return (
        f"Search space {space_name!r} exhausted: {what} are in the study, so it stopped "
        f"short of its budget{f' of {budget} trials' if budget else ''} (nothing is run twice)."
    )
