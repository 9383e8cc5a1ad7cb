"""The failure table: one row per failure class, and the rules the worker, the ledger and the
reaper read from it (their behaviour end to end: tests/faults, tests/search/test_reasons.py)."""

from __future__ import annotations

import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

import hpsearch.trainers as trainers
from hpsearch.search.records import FAILURES, build_ledger, failure_of, retry_rule
from hpsearch.search.records import attributes as A


def _trial_error_classes() -> list[type[trainers.TrialError]]:
    return [
        obj
        for obj in vars(trainers).values()
        if isinstance(obj, type) and issubclass(obj, trainers.TrialError)
    ]


def test_every_trial_error_has_its_own_row_and_retryable_agrees() -> None:
    classes = _trial_error_classes()
    assert len(classes) >= 8
    for cls in classes:
        row = failure_of(cls("boom"))
        assert row.kind == cls.kind, f"add a row for {cls.kind!r} to FAILURES"
        assert cls.retryable == (row.retry is not None), cls


def test_an_unknown_kind_takes_its_nearest_base_class_row() -> None:
    class MyOOM(trainers.OutOfMemoryError):
        kind = "my_oom"

    class MyConfig(trainers.ConfigError):
        kind = "my_config"

    assert failure_of(MyOOM("x")).kind == A.RETRY_OOM
    assert failure_of(MyConfig("x")).kind == "config"
    assert failure_of(KeyError("x")).kind == "unexpected"


def test_rows_are_consistent() -> None:
    for kind, row in FAILURES.items():
        assert row.kind == kind
        assert row.state in (TrialState.FAIL, TrialState.PRUNED), kind
        if row.state == TrialState.PRUNED:  # a region TPE must rank last, never retried
            assert row.infeasible and row.constraint and row.retry is None, kind
        if row.retry is not None and row.retry.batch_divisor > 1:
            assert row.otherwise in FAILURES, kind


@pytest.mark.parametrize(
    ("kind", "state", "constraint", "retried"),
    [
        ("oom", TrialState.FAIL, None, True),
        ("memory_estimate", TrialState.PRUNED, "memory", False),
        ("non_finite_loss", TrialState.PRUNED, "finite_loss", False),
        ("worker_lost", TrialState.FAIL, None, True),
        ("heartbeat_lost", TrialState.FAIL, None, True),
        ("interrupted", TrialState.FAIL, None, True),
        ("config", TrialState.FAIL, None, False),
        ("checkpoint_write", TrialState.FAIL, None, False),
        ("unexpected", TrialState.FAIL, None, False),
    ],
)
def test_the_documented_rows(
    kind: str, state: TrialState, constraint: str | None, retried: bool
) -> None:
    row = FAILURES[kind]
    assert (row.state, row.constraint, row.retry is not None) == (state, constraint, retried)


def test_oom_retries_once_with_half_the_batch_whatever_max_retries_says() -> None:
    rule = retry_rule(A.RETRY_OOM)
    assert rule.allows(attempt=5, downscale=1, max_retries=0)
    assert not rule.allows(attempt=0, downscale=2, max_retries=9)
    assert rule.successor(attempt=0, downscale=1) == (1, 2)
    assert rule.can_divide(downscale=1, per_device_batch=8)
    assert not rule.can_divide(downscale=1, per_device_batch=7)
    assert not rule.can_divide(downscale=2, per_device_batch=8)


def test_interruptions_are_always_retried_and_use_no_attempt() -> None:
    rule = retry_rule(A.RETRY_INTERRUPTED)
    assert rule.allows(attempt=99, downscale=4, max_retries=0)
    assert rule.successor(attempt=3, downscale=2) == (3, 2)


def test_lost_workers_retry_up_to_max_retries_from_the_checkpoint() -> None:
    for reason in (A.RETRY_WORKER_LOST, A.RETRY_HEARTBEAT, "written_by_another_version"):
        rule = retry_rule(reason)
        assert rule.allows(attempt=1, downscale=2, max_retries=2)
        assert not rule.allows(attempt=2, downscale=1, max_retries=2)
        assert rule.successor(attempt=1, downscale=2) == (2, 2)


def _failed(number: int, **attrs: object) -> object:
    trial = create_trial(
        state=TrialState.FAIL,
        params={"x": 1},
        distributions={"x": IntDistribution(0, 2)},
        user_attrs=attrs,
    )
    trial.number = number
    return trial


def test_the_ledger_reads_the_same_rules() -> None:
    trials = [
        _failed(0, **{A.RETRY_REQUESTED: A.RETRY_OOM}),
        _failed(1, **{A.RETRY_REQUESTED: A.RETRY_OOM, A.OOM_DOWNSCALE: 2}),
        _failed(2, **{A.RETRY_REQUESTED: A.RETRY_WORKER_LOST, A.RETRY_ATTEMPT: 1}),
        _failed(3, **{A.RETRY_REQUESTED: A.RETRY_INTERRUPTED, A.RETRY_ATTEMPT: 1}),
        _failed(4),  # a final FAIL: no retry asked
    ]
    ledger = build_ledger(trials, max_retries=1)  # type: ignore[arg-type]
    assert [t.number for t in ledger.pending_retry] == [0, 3]
    assert ledger.failed == 3
