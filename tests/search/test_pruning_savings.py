"""Pruning savings with pause and promotion, on studies built by hand (in memory, no trainer).

Full length 81 steps (the task's max_steps). A configuration's steps are counted once: each
trial counts what it trained itself (its last step minus RESUMED_AT), a promoted successor's
copies of its predecessor's values are not counted again, and a paused trial's unrun steps are
"pending", not saved, while the search may still promote it.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpsearch.search.outputs import build_report, compute_savings
from hpsearch.search.records import attributes as A

FULL = 81


def _study(*trials: tuple[TrialState, dict[int, float], dict[str, Any]]) -> optuna.Study:
    study = optuna.create_study(direction="minimize")
    study.set_user_attr(A.STUDY_TASK, {"fidelity": "steps", "max_steps": FULL})
    for state, values, attrs in trials:
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=min(values.values()) if state == TrialState.COMPLETE else None,
                params={"learning_rate": 1e-3},
                distributions={"learning_rate": FloatDistribution(1e-5, 1e-1, log=True)},
                intermediate_values=values,
                user_attrs={"last_step": max(values, default=0), **attrs},
            )
        )
    return study


def _curve(*steps: int) -> dict[int, float]:
    return {s: 3.0 - s / 100 for s in steps}


C, P, F = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
RUNGS = (3, 9)


def test_pause_and_promotion_count_each_configurations_steps_once() -> None:
    study = _study(
        (C, _curve(*RUNGS, 27, 81), {}),  # 0: ran to the end
        (P, _curve(*RUNGS), {A.PRUNE_REASON: "pruned by the median pruner"}),  # 1: stopped
        (P, _curve(*RUNGS), {A.PAUSED_AT: 9, A.PROMOTED_TO: 4}),  # 2: continued by 4
        (P, _curve(*RUNGS), {A.PAUSED_AT: 9}),  # 3: paused, may still be promoted
        (  # 4: promoted from 2 (copies of 2's values up to 9), paused at 27, never promotable
            P,
            _curve(*RUNGS, 27),
            {
                A.PROMOTED_FROM: 2,
                A.RESUMED_AT: 9,
                A.PAUSED_AT: 27,
                A.PAUSED_CHECKPOINT_DELETED: True,
            },
        ),
        (P, _curve(*RUNGS), {A.PAUSED_AT: 9, A.PROMOTED_TO: 6}),  # 5: continued by 6
        (C, _curve(*RUNGS, 27, 81), {A.PROMOTED_FROM: 5, A.RESUMED_AT: 9}),  # 6: to the end
        # 7 failed at step 14 (checkpoint at 12); its retry 8 resumed at 12: 2 steps lost
        (F, _curve(3, 9), {"last_step": 14, A.RETRY_REQUESTED: A.RETRY_WORKER_LOST}),
        (C, _curve(*RUNGS, 27, 81), {A.RETRY_OF: 7, A.RESUMED_AT: 12}),
    )
    savings = compute_savings(study)
    assert savings is not None
    cost = {t.number: t for t in savings.trials}
    assert {n: cost[n].spent for n in cost} == {
        0: 81,
        1: 9,
        2: 9,
        3: 9,
        4: 18,  # 27 - RESUMED_AT 9: its copied values at 3 and 9 are 2's work
        5: 9,
        6: 72,
        7: 14,
        8: 69,
    }
    assert {n: cost[n].saved for n in cost} == {
        0: 0,
        1: 72,
        2: 0,  # its configuration goes on in 4
        3: 0,  # not saved while it may still be promoted
        4: 54,  # can no longer be promoted: the rest of its configuration is saved
        5: 0,
        6: 0,
        7: 0,  # its retry carries it on
        8: 0,
    }
    assert cost[3].pending and cost[3].pending_steps == 72 and not cost[4].pending
    assert cost[4].start == 9 and cost[4].last == 27
    assert savings.spent == 81 + 9 + 9 + 9 + 18 + 9 + 72 + 14 + 69
    # six configurations to the full 81 steps, the pending one included, plus 2 lost steps
    assert savings.if_all_full == 6 * FULL + 2
    data = savings.to_json()
    assert data["saved_by_pruning"] == 72 + 54
    assert data["pending_promotion"] == 72 and data["paused_trials"] == 1
    assert data["spent"] + 72 + 54 + 72 == data["if_all_full"]


def test_a_paused_trial_that_can_no_longer_be_promoted_is_saved_work() -> None:
    def study(deleted: bool) -> optuna.Study:
        attrs: dict[str, Any] = {A.PAUSED_AT: 9}
        if deleted:  # the driver deleted its checkpoint: it can never be promoted any more
            attrs[A.PAUSED_CHECKPOINT_DELETED] = True
        return _study((C, _curve(*RUNGS, 27, 81), {}), (P, _curve(*RUNGS), attrs))

    pending, saved = compute_savings(study(False)), compute_savings(study(True))
    assert pending is not None and saved is not None
    assert pending.saved_by("PRUNED") == 0 and pending.pending == 72 and pending.paused == 1
    assert saved.saved_by("PRUNED") == 72 and saved.pending == 0 and saved.paused == 0
    assert pending.spent == saved.spent == 81 + 9
    assert pending.if_all_full == saved.if_all_full == 2 * FULL


def test_a_study_written_before_pausing_is_counted_as_before() -> None:
    """No RESUMED_AT: a retried trial is left out, its retry counts its steps from 0."""
    study = _study(
        (C, _curve(*RUNGS, 27, 81), {}),
        (P, _curve(*RUNGS), {}),
        (F, _curve(3, 9), {"last_step": 14, A.RETRY_REQUESTED: A.RETRY_WORKER_LOST}),
        (C, _curve(*RUNGS, 27, 81), {A.RETRY_OF: 2}),
    )
    savings = compute_savings(study)
    assert savings is not None
    assert [t.number for t in savings.trials] == [0, 1, 3]
    assert savings.spent == 81 + 9 + 81
    assert savings.if_all_full == 3 * FULL
    assert savings.saved_by("PRUNED") == 72
    assert savings.pending == 0 and savings.paused == 0


def test_the_report_says_how_many_paused_trials_may_still_be_promoted() -> None:
    study = _study(
        (C, _curve(*RUNGS, 27, 81), {}),
        (P, _curve(*RUNGS), {A.PAUSED_AT: 9, A.PRUNE_REASON: "paused at step 9"}),
    )
    text = build_report(study)
    assert "1 paused trial(s) may still be promoted" in text
    assert "72 remaining steps are not counted as saved" in text
    assert "0 (72 pending)" in text
