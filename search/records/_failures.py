"""The failure table: one row per failure class, read by the worker, the ledger and the reaper.

A row says what a failure of that class does to its trial: the state it is told (FAIL, or
PRUNED for a configuration that cannot work, with a constraint so that TPE ranks the region
last) and whether it is retried (:class:`RetryRule`). The worker picks the row of a trial's
exception (its ``kind``); the driver and the reaper fail trials for the retry kinds
(``worker_lost``, ``heartbeat_lost``, ``interrupted``); the ledger and the reaper's repair read
the same rows to decide which failed trial gets a successor, and with which batch.

Kinds and retry reasons are stored in the study (``retry_requested``), so a row's key never
changes; a new failure class is a new row.
"""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import TrialState

from hpsearch.search.records import attributes as A
from hpsearch.trainers import TrialError

__all__ = ["FAILURES", "FailureClass", "RetryRule", "failure_of", "retry_rule"]


@dataclass(frozen=True)
class RetryRule:
    """Whether a failed trial gets a successor (a WAITING trial with its parameters, which
    continues from its newest checkpoint), and with which per-device batch.

    ``counts_attempt``: the successor uses one of the space's ``retry.max_retries``.
    ``capped``: no successor once ``max_retries`` attempts were used.
    ``batch_divisor``: the successor's per-device batch is divided by this (its gradient
    accumulation multiplied, so the effective batch is the same), at most up to
    ``max_batch_divisor`` over the whole lineage; a rule with a divisor ignores the cap.
    """

    counts_attempt: bool = True
    capped: bool = True
    batch_divisor: int = 1
    max_batch_divisor: int = 1

    def allows(self, *, attempt: int, downscale: int, max_retries: int) -> bool:
        """May a trial at this ``attempt`` and batch ``downscale`` get a successor?"""
        if self.batch_divisor > 1:
            return downscale * self.batch_divisor <= self.max_batch_divisor
        return not self.capped or attempt < max_retries

    def can_divide(self, *, downscale: int, per_device_batch: int) -> bool:
        """Can the successor's per-device batch be divided as this rule asks?"""
        return (
            self.batch_divisor > 1
            and downscale * self.batch_divisor <= self.max_batch_divisor
            and per_device_batch % self.batch_divisor == 0
        )

    def successor(self, *, attempt: int, downscale: int) -> tuple[int, int]:
        """The successor's ``(retry_attempt, oom_downscale)``."""
        return attempt + int(self.counts_attempt), downscale * self.batch_divisor


@dataclass(frozen=True)
class FailureClass:
    """One row of the failure table.

    ``infeasible`` (the trial's ``infeasible`` attribute) and ``constraint`` (the Optuna
    constraint set to 1.0) go with a PRUNED row. ``otherwise``: the row that applies when the
    retry rule refuses (an OOM at an already halved batch is a configuration that cannot fit).
    ``label`` starts the recorded reason (else the error's own kind does).
    """

    kind: str
    state: TrialState
    retry: RetryRule | None = None
    infeasible: str | None = None
    constraint: str | None = None
    otherwise: str | None = None
    label: str | None = None


_NO_RETRY_FAILS = (
    "error",  # a TrialError of no more specific class
    "config",
    "model_not_found",
    "dataset",
    "unsupported_hardware",
    "checkpoint_write",
    "script",  # the user's script crashed, never evaluated or never reported the metric
)
_FROM_CHECKPOINT = RetryRule()

FAILURES: dict[str, FailureClass] = {
    row.kind: row
    for row in (
        FailureClass(
            A.RETRY_OOM,
            TrialState.FAIL,
            retry=RetryRule(capped=False, batch_divisor=2, max_batch_divisor=2),
            otherwise="memory_estimate",
        ),
        FailureClass(
            "memory_estimate",
            TrialState.PRUNED,
            infeasible="memory",
            constraint="memory",
        ),
        FailureClass(
            "non_finite_loss",
            TrialState.PRUNED,
            infeasible="non_finite_loss",
            constraint="finite_loss",
            label="non-finite loss",
        ),
        FailureClass(A.RETRY_WORKER_LOST, TrialState.FAIL, retry=_FROM_CHECKPOINT),
        FailureClass(A.RETRY_HEARTBEAT, TrialState.FAIL, retry=_FROM_CHECKPOINT),
        # a rank of a multi-process trial died (trainers RankFailedError): every rank restarts
        # from the last committed checkpoint
        FailureClass("rank_failed", TrialState.FAIL, retry=_FROM_CHECKPOINT),
        # the driver stopped, not the trial's fault: retried without using up an attempt
        FailureClass(
            A.RETRY_INTERRUPTED,
            TrialState.FAIL,
            retry=RetryRule(counts_attempt=False, capped=False),
        ),
        *(FailureClass(kind, TrialState.FAIL) for kind in _NO_RETRY_FAILS),
        FailureClass("unexpected", TrialState.FAIL, label="unexpected error"),
    )
}


def failure_of(exc: BaseException) -> FailureClass:
    """The row for an exception a trial raised: its ``kind``, or its nearest base class's."""
    if not isinstance(exc, TrialError):
        return FAILURES["unexpected"]
    for cls in type(exc).__mro__:
        kind = vars(cls).get("kind")
        if isinstance(kind, str) and kind in FAILURES:
            return FAILURES[kind]
    return FAILURES["error"]


def retry_rule(reason: str) -> RetryRule:
    """The rule for a trial failed with ``retry_requested = reason``.

    A reason with no rule (written by another hpsearch version) is retried from its
    checkpoint, up to ``max_retries``.
    """
    row = FAILURES.get(reason)
    return row.retry if row is not None and row.retry is not None else _FROM_CHECKPOINT
