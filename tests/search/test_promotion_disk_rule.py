"""The disk rule's answer is a fixed point: a paused trial that can never be promoted never
reaches a higher rung, so a trial paused there that only it could have outranked is beyond
promotion too (both lose their checkpoints in one pass, whatever the order of events)."""

from __future__ import annotations

from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpsearch.search.policy import PromotionPruner
from hpsearch.search.records import attributes as A

DIST = {"learning_rate": FloatDistribution(1e-7, 1e-2, log=True)}


def _trial(
    number: int, values: dict[int, float], state: TrialState, **attrs: object
) -> FrozenTrial:
    trial = create_trial(
        state=state,
        value=min(values.values()) if state == TrialState.COMPLETE else None,
        params={"learning_rate": 10.0 ** -(number + 2)},
        distributions=DIST,
        intermediate_values=values,
        user_attrs=dict(attrs),
    )
    trial.number = number
    return trial


def _paused(number: int, values: dict[int, float]) -> FrozenTrial:
    return _trial(number, values, TrialState.PRUNED, **{A.PAUSED_AT: max(values)})


def test_a_trial_beyond_promotion_frees_one_paused_above_it() -> None:
    # The HF study of tests/search/test_pause_resume_hf.py: rungs 3 and 6 (factor 2), four
    # configurations, no budget left. Trial 0 was promoted (trial 4 finished the curve); 1 and
    # 2 rank 4th and 3rd of 4 at rung 3; 3 is paused at rung 6, 2nd of 2 behind trial 4.
    trials = [
        _trial(0, {3: 10.10}, TrialState.PRUNED, **{A.PAUSED_AT: 3, A.PROMOTED_TO: 4}),
        _paused(1, {3: 10.23}),
        _paused(2, {3: 10.22}),
        _paused(3, {3: 10.17, 6: 10.11}),
        _trial(4, {3: 10.10, 6: 10.06, 9: 10.05, 12: 10.07}, TrialState.COMPLETE,
               **{A.PROMOTED_FROM: 0, A.RESUMED_AT: 3}),
    ]  # fmt: skip
    pruner = PromotionPruner(min_resource=3, reduction_factor=2, max_resource=12)
    no_more = lambda step: 0  # noqa: E731  (the trial budget is used)
    assert sorted(t.number for t in pruner.unpromotable(trials, no_more)) == [1, 2, 3]
    assert pruner.promotable(trials) is None
    # One more configuration to come cannot lift a 4th or 3rd of 5 into the top 2 at rung 3,
    # nor a 2nd of 3 into the top 1 at rung 6.
    one_more = lambda step: 1  # noqa: E731
    assert sorted(t.number for t in pruner.unpromotable(trials, one_more)) == [1, 2, 3]
    # With many more to come, a rung-3 trial may yet rank in the top half: nothing is freed.
    assert pruner.unpromotable(trials, lambda step: 100) == []
