"""The invariants every study run must satisfy, checked against the database itself."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger


def check_study_invariants(study: optuna.Study, budget: int, max_retries: int = 2) -> None:
    """Numbers 0..M-1 without duplicates; none RUNNING or WAITING; exactly ``budget`` finished;
    no COMPLETE trial was rerun (no retry continues a COMPLETE trial, no duplicate params among
    originals of COMPLETE trials' lineages)."""
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers
    states = {t.number: t.state for t in trials}
    assert not [n for n, s in states.items() if s in (TrialState.RUNNING, TrialState.WAITING)], (
        states
    )
    ledger = build_ledger(trials, max_retries)
    assert ledger.finished == budget, (ledger.finished, budget, states)
    assert not ledger.pending_retry
    by_number = {t.number: t for t in trials}
    for trial in trials:
        prev = trial.user_attrs.get(A.RETRY_OF)
        if prev is not None:
            assert by_number[prev].state == TrialState.FAIL, (trial.number, prev)
    # every lineage ends in at most one finished trial
    heads = [t for t in trials if t.number not in ledger.successor]
    assert len(heads) == ledger.slots_used
