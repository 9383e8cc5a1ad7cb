"""Creating trials within the study's budget, safely among any number of drivers.

The only way hpsearch creates a trial. The decision and the ``ask`` happen under the study lock
with the budget counted in the database, so parallel drivers never push a study past its budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from hpsearch.search.policy import DistinctSampler
from hpsearch.search.records import ComputeUsage, Ledger, build_ledger, compute_usage
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

    def ledger(self) -> Ledger:
        return build_ledger(self.study.get_trials(deepcopy=False), self.max_retries)

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
            # Counted by the database (slots in use = trials not superseded by a retry), not by
            # walking every trial under the lock: flat latency at any study size.
            total, waiting, superseded = self.storage.trial_counts(
                study_id_of(self.study), A.RETRY_OF
            )
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
        """Every budget slot finished, nothing running, waiting or awaiting a retry; or the
        compute budget is used and nothing runs (what waits stays for a later, larger one)."""
        if inflight or ledger.running:
            return False
        if self.compute_spent(ledger):
            return True
        if ledger.waiting or ledger.pending_retry:
            return False
        return self.trials_met(ledger.slots_used) or self.exhausted(len(ledger.trials))
