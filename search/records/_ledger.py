"""The study's books: what counts toward the budget, what awaits a retry, and lineage.

A failed trial that is retried is *superseded* by its successor (a new trial with the same
parameters and ``retry_of`` pointing back); so is a paused trial that is promoted (its
successor has ``promoted_from``). The budget counts budget *slots*: every trial that is not
superseded holds one. A slot is *finished* when its trial is COMPLETE, PRUNED or a final FAIL;
a FAIL that still awaits its retry holds its slot but is not finished. A *paused* trial (PRUNED
with ``paused_at_step``, not promoted) is finished and counted among the pruned, and ``paused``
counts it once more: it may still be promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records._failures import retry_rule

# The trial user attributes the books read: all a ledger needs besides number and state.
LEDGER_ATTRS = (
    A.RETRY_OF,
    A.PROMOTED_FROM,
    A.RETRY_REQUESTED,
    A.OOM_DOWNSCALE,
    A.RETRY_ATTEMPT,
    A.PAUSED_AT,
    A.PAUSED_CHECKPOINT_DELETED,
)
# The user attributes that link a trial to the one it continues (either supersedes it).
SUCCESSOR_ATTRS = (A.RETRY_OF, A.PROMOTED_FROM)


def predecessor(trial: FrozenTrial) -> int | None:
    """The number of the trial ``trial`` continues (a retry's or a promotion's), if any."""
    for key in SUCCESSOR_ATTRS:
        prev = trial.user_attrs.get(key)
        if prev is not None:
            return int(prev)
    return None


def retry_eligible(trial: FrozenTrial, max_retries: int) -> bool:
    """May this failed trial, which asked for a retry, get one? (the failure table's rule)"""
    reason = trial.user_attrs.get(A.RETRY_REQUESTED)
    if trial.state != TrialState.FAIL or reason is None:
        return False
    return retry_rule(str(reason)).allows(
        attempt=int(trial.user_attrs.get(A.RETRY_ATTEMPT, 0)),
        downscale=int(trial.user_attrs.get(A.OOM_DOWNSCALE, 1)),
        max_retries=max_retries,
    )


@dataclass
class Ledger:
    trials: list[FrozenTrial]
    successor: dict[int, int] = field(default_factory=dict)
    pending_retry: list[FrozenTrial] = field(default_factory=list)
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    retried: int = 0  # superseded: retried, or paused and promoted
    paused: int = 0  # of the pruned: paused, may still be promoted (checkpoint kept)

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def slots_used(self) -> int:
        return len(self.trials) - len(self.successor)

    def by_number(self) -> dict[int, FrozenTrial]:
        return {t.number: t for t in self.trials}

    def lineage(self, trial: FrozenTrial) -> list[FrozenTrial]:
        """``trial`` and its predecessors (retried or promoted), newest first."""
        by_number = self.by_number()
        chain = [trial]
        seen = {trial.number}
        while (prev := predecessor(chain[-1])) is not None:
            if prev in seen or prev not in by_number:
                break
            seen.add(prev)
            chain.append(by_number[prev])
        return chain


def build_ledger(trials: Sequence[FrozenTrial], max_retries: int) -> Ledger:
    ledger = Ledger(list(trials))
    for trial in trials:
        prev = predecessor(trial)
        if prev is not None:
            ledger.successor[prev] = trial.number
    for trial in trials:
        if trial.number in ledger.successor:
            ledger.retried += 1
            continue
        state = trial.state
        if state == TrialState.COMPLETE:
            ledger.complete += 1
        elif state == TrialState.PRUNED:
            ledger.pruned += 1
            attrs = trial.user_attrs
            if attrs.get(A.PAUSED_AT) is not None and not attrs.get(A.PAUSED_CHECKPOINT_DELETED):
                ledger.paused += 1
        elif state == TrialState.RUNNING:
            ledger.running += 1
        elif state == TrialState.WAITING:
            ledger.waiting += 1
        elif retry_eligible(trial, max_retries):
            ledger.pending_retry.append(trial)
        else:
            ledger.failed += 1
    return ledger
