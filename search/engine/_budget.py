"""Creating trials within the study's budget, safely among any number of drivers.

The only way hpsearch creates a trial. The decision and the ``ask`` happen under the study lock
with the budget counted in the database, so parallel drivers never push a study past its budget.

With a pausing pruner (``promotion``) ``ask`` also *promotes*: a paused trial the pruner names
is continued by a successor with its parameters (``promoted_from``), before any new trial. A
promotion holds no new budget slot (the paused trial it supersedes held it), and no paused
trial is promoted twice: the choice and the ``promoted_to`` mark are made under the lock, on
the trials read from the database (not from this process's cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.engine._resume import current_trials
from hpsearch.search.policy import DistinctSampler
from hpsearch.search.records import (
    SUCCESSOR_ATTRS,
    ComputeUsage,
    Ledger,
    build_ledger,
    compute_usage,
)
from hpsearch.search.records import attributes as A
from hpsearch.spaces import ComputeBudget
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    forget_cached_trials,
    storage_of,
    study_id_of,
    study_lock,
    trial_id_of,
)
from hpsearch.trainers import failpoints


@dataclass
class BudgetedAsker:
    study: optuna.Study
    location: StorageLocation
    storage: ResilientRDBStorage
    budget: int | None  # finished trials; None: no trial limit (a compute budget only)
    max_retries: int
    owner: str
    compute_budget: ComputeBudget | None = None
    full_steps: int | None = None  # one full trial's steps: the unit of an FBE budget
    _usage: ComputeUsage | None = field(default=None, init=False, repr=False)

    def ledger(self, *, fresh: bool = False) -> Ledger:
        """The books from Optuna's cached trials, or with ``fresh`` from the database as it is
        now: the cache never re-reads a finished trial, so only a fresh read sees the
        ``promoted_to`` / ``paused_checkpoint_deleted`` written on paused trials (the counts a
        status line or the summary shows)."""
        trials = self.fresh_trials() if fresh else self.study.get_trials(deepcopy=False)
        return build_ledger(trials, self.max_retries)

    def compute(self, ledger: Ledger | None = None) -> ComputeUsage:
        """Compute used against the compute budget, from the trials the ledger holds (one pass
        over Optuna's cached trials: no query per trial)."""
        trials = ledger.trials if ledger is not None else self.study.get_trials(deepcopy=False)
        self._usage = compute_usage(trials, self.compute_budget, self.full_steps)
        return self._usage

    def compute_spent(self, ledger: Ledger | None = None) -> bool:
        """The compute budget is used up: no trial (new, retried or promoted) starts now.

        Read before the study lock is taken, so that the lock's hold time does not grow with
        the study: two drivers can each start one more trial at the moment the budget is
        reached, within the documented overshoot (running trials go on to their next pause
        or their end)."""
        if self.compute_budget is None:
            return False
        return self.compute(ledger).spent

    def trials_met(self, slots_used: int) -> bool:
        return self.budget is not None and slots_used >= self.budget

    def exhausted(self, n_trials: int | None = None) -> bool:
        """No new configuration is left: the grid is done, or every configuration of a finite
        space is in the study (``n_trials``, the trial count, saves the walk while lower)."""
        sampler = self.study.sampler
        if isinstance(sampler, optuna.samplers.GridSampler):
            return sampler.is_exhausted(self.study)
        return isinstance(sampler, DistinctSampler) and sampler.is_exhausted(self.study, n_trials)

    def ask(self) -> optuna.Trial | None:
        """A trial to run now (an enqueued one first), or None when the budget is used.

        Only the decision and the trial row are taken under the study lock: the budget count
        (in SQL), popping an enqueued trial when the count shows one, creating the row and
        recording its owner. Building the ``Trial`` (Optuna's cache sync of every trial written
        since this process last asked, the sampler's set-up) happens after the lock is released,
        so the lock's hold time does not grow with the study. A grid sampler assigns grid
        points when the trial is built, so it is built under the lock. Only a finite space
        whose size the study has reached walks the trials under the lock, to stop at
        exhaustion (see :class:`~hpsearch.search.policy.DistinctSampler`).
        """
        if self.compute_spent():
            return None
        build_under_lock = isinstance(self.study.sampler, optuna.samplers.GridSampler)
        trial: optuna.Trial | None = None
        with study_lock(self.location, self.study.study_name):
            # Counted by the database (slots in use = trials not superseded by a retry or a
            # promotion), not by walking every trial under the lock: flat latency at any size.
            total, waiting, superseded = self.storage.trial_counts(
                study_id_of(self.study), SUCCESSOR_ATTRS
            )
            trial_id = None if waiting else self._promote()
            popped = False  # a successor is created through the study's own (cached) storage
            if trial_id is None:
                if waiting == 0 and (self.trials_met(total - superseded) or self.exhausted(total)):
                    return None
                trial_id = self._pop_waiting() if waiting else None
                popped = trial_id is not None
            if trial_id is None:
                trial_id = storage_of(self.study).create_new_trial(study_id_of(self.study))
            if failpoints.active():
                number = self.storage.get_trial(trial_id).number
                if failpoints.triggered("driver.ask", trial=number) == "kill":
                    failpoints.kill_self()  # fault-injection tests: a kill right after creation
            self.storage.set_trial_user_attr(trial_id, A.DRIVER, self.owner)
            if build_under_lock:
                trial = self._build(trial_id, sync=popped)
        return trial if trial is not None else self._build(trial_id, sync=popped)

    # -- promotion ------------------------------------------------------------------------
    def _pruner(self) -> Any:
        """The study's pruner if it promotes paused trials (``promotable``), else None."""
        pruner = self.study.pruner
        return pruner if hasattr(pruner, "promotable") else None

    def fresh_trials(self) -> list[FrozenTrial]:
        """Every trial as the database has it now. Optuna's cache never re-reads a finished
        trial, and ``promoted_to`` / ``paused_checkpoint_deleted`` are written on finished
        (paused) trials, by any driver: they are read back by one query."""
        return current_trials(self.study, self.storage)

    def slots_left(self, ledger: Ledger) -> int | None:
        """Budget slots not yet taken: how many new configurations may still start (None: no
        trial limit)."""
        return None if self.budget is None else max(0, self.budget - ledger.slots_used)

    def promotion_allowed(self) -> bool:
        """Whether a paused trial may be continued now. A promotion holds no budget slot, so
        the trial budget never refuses one; the compute budget does once it is used."""
        return not self.compute_spent()

    def more_configurations(self, ledger: Ledger) -> Callable[[int], int]:
        """``max_more(step)`` for the pruner's ``unpromotable``: at most how many configurations
        not yet in the study can still reach a rung at ``step``: the slots left, and with a
        compute budget at most ``compute left // step``."""
        slots = self.slots_left(ledger)
        usage = self.compute(ledger) if self.compute_budget is not None else None
        limit = usage.limit if usage is not None else None
        compute_left = None if limit is None or usage is None else max(0.0, limit - usage.used)

        def max_more(step: int) -> int:
            bounds = [b for b in (slots,) if b is not None]
            if compute_left is not None:
                bounds.append(int(compute_left // max(step, 1)))
            return min(bounds) if bounds else 2**31 - 1

        return max_more

    def promotable(self, trials: list[FrozenTrial] | None = None) -> FrozenTrial | None:
        """The paused trial a promotion would continue now (None: none, or none allowed)."""
        pruner = self._pruner()
        if pruner is None or not self.promotion_allowed():
            return None
        found: FrozenTrial | None = pruner.promotable(
            self.fresh_trials() if trials is None else trials, self.study
        )
        return found

    def _promote(self) -> int | None:
        """Under the study lock: create the successor of the trial to promote, mark the
        paused trial ``promoted_to``; the successor's id (RUNNING), or None."""
        paused = self.promotable()
        if paused is None:
            return None
        template = FrozenTrial(
            number=-1,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=datetime.now(),
            datetime_complete=None,
            params=dict(paused.params),
            distributions=dict(paused.distributions),
            user_attrs={A.PROMOTED_FROM: paused.number, A.DRIVER: self.owner},
            system_attrs={},
            intermediate_values={},  # the driver copies them at dispatch, up to RESUMED_AT
            trial_id=-1,
        )
        trial_id = storage_of(self.study).create_new_trial(
            study_id_of(self.study), template_trial=template
        )
        number = self.storage.get_trial_number_from_id(trial_id)
        self.storage.mark_finished_trial(trial_id_of(paused), {A.PROMOTED_TO: number})
        return trial_id

    def _pop_waiting(self) -> int | None:
        """Claim the oldest enqueued trial with one filtered query (no study-wide cache sync)."""
        for waiting in self.storage.get_all_trials(
            study_id_of(self.study), deepcopy=False, states=(TrialState.WAITING,)
        ):
            try:
                if self.storage.set_trial_state_values(trial_id_of(waiting), TrialState.RUNNING):
                    return trial_id_of(waiting)
            except UpdateFinishedTrialError:
                continue  # another driver claimed and finished it meanwhile
        return None

    def _build(self, trial_id: int, *, sync: bool) -> optuna.Trial:
        forget_cached_trials(self.study)  # as study.ask(): sync once per trial
        if sync:
            # A popped trial was claimed through the backend: bring Optuna's trial cache up to
            # date so that it knows the trial before parameters are written to it.
            storage_of(self.study).get_all_trials(
                study_id_of(self.study), deepcopy=False, states=()
            )
        return optuna.Trial(self.study, trial_id)

    def done(self, ledger: Ledger, *, inflight: bool) -> bool:
        """Every budget slot finished, nothing running, waiting, awaiting a retry or to be
        promoted; or the compute budget is used and nothing runs."""
        if inflight or ledger.running:
            return False
        if self.compute_spent(ledger):
            return True  # what waits (a retry, a paused trial) stays for a later, larger budget
        if ledger.waiting or ledger.pending_retry:
            return False
        if ledger.paused and self.promotable() is not None:
            return False
        return self.trials_met(ledger.slots_used) or self.exhausted(len(ledger.trials))
