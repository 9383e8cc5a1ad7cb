"""A trial that trained its full budget is COMPLETE with its value: the pruner is never asked
at the last evaluation (a median pruner would otherwise discard full-budget results)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import optuna
from optuna.trial import TrialState


def test_a_median_pruner_never_prunes_at_the_final_step(
    run_study: Callable[..., optuna.Study], sim_space: Callable[..., str]
) -> None:
    # One evaluation per trial, at the last step: every prune decision would be a final one.
    space = sim_space(
        trials=8,
        sampler={"type": "random", "seed": 7},
        pruner={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        task={"max_steps": 10, "eval_steps": 10},
    )
    study = run_study(space, study="final-step", workers=1)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert all(t.value is not None and t.intermediate_values == {10: t.value} for t in trials)
    # The case is exercised: some trial ended worse than the median of the ones before it
    # (where the median pruner says "prune"), and it is complete with its value all the same.
    worse = [
        t
        for i, t in enumerate(trials[1:], start=1)
        if t.value > statistics.median(p.value for p in trials[:i])  # minimised eval_loss
    ]
    assert worse, [t.value for t in trials]
