"""Creating trials within the study's budget, safely among any number of drivers.

The only way hpsearch creates a trial. The decision and the ``ask`` happen under the study lock
with the budget counted in the database, so parallel drivers never push a study past its budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from hpsearch.search import _attrs as A
from hpsearch.search._ledger import Ledger, build_ledger
from hpsearch.storage import ResilientRDBStorage, StorageLocation, study_lock
from hpsearch.trainers import failpoints


@dataclass
class BudgetedAsker:
    study: optuna.Study
    location: StorageLocation
    storage: ResilientRDBStorage
    budget: int
    max_retries: int
    owner: str

    def ledger(self) -> Ledger:
        return build_ledger(self.study.get_trials(deepcopy=False), self.max_retries)

    def grid_exhausted(self) -> bool:
        sampler = self.study.sampler
        return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(self.study)

    def ask(self) -> optuna.Trial | None:
        """A trial to run now (an enqueued one first), or None when the budget is used."""
        with study_lock(self.location, self.study.study_name):
            # Counted by the database (slots in use = trials not superseded by a retry), not by
            # walking every trial under the lock: flat latency at any study size.
            total, waiting, superseded = self.storage.trial_counts(self.study._study_id, A.RETRY_OF)
            if waiting == 0 and (total - superseded >= self.budget or self.grid_exhausted()):
                return None
            trial = self.study.ask()
            if failpoints.triggered("driver.ask", trial=trial.number) == "kill":
                failpoints.kill_self()  # fault-injection tests: a kill right after creation
            self.storage.set_trial_user_attr(trial._trial_id, A.DRIVER, self.owner)
        return trial

    def done(self, ledger: Ledger, *, inflight: bool) -> bool:
        """Every budget slot finished, nothing running, waiting or awaiting a retry."""
        if inflight or ledger.running or ledger.waiting or ledger.pending_retry:
            return False
        return ledger.slots_used >= self.budget or self.grid_exhausted()
