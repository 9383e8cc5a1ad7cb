"""Stale-trial reaping and retries: the single place where hpsearch decides to retry a trial.

Optuna's own heartbeat only runs inside ``optimize()`` and retries from scratch; hpsearch uses
ask/tell, so it records heartbeats itself (the workers) and reaps here:

1. ``mark_for_retry`` tags a RUNNING trial with the reason and fails it. Failing is atomic
   against the worker's own ``tell``: whichever comes first wins, so a live result is never lost.
2. ``repair`` (under the study lock) gives every failed trial that asked for a retry, and has
   none yet, a successor: a WAITING trial with the same parameters and ``retry_of`` lineage.
   A crash between 1 and 2 is harmless: the next ``repair`` (any driver, or ``hpsearch
   resume``) finds the failed trial without a successor and enqueues it then.

A lost trial that its pausing pruner had already paused (``paused_at_step`` recorded, the
checkpoint at that step committed, only the final ``tell`` missing) is not retried but ends
PRUNED, paused (``end_lost_trial``): a retry would resume from that checkpoint past the rung
without the rung's decision. Without the committed checkpoint it is retried and meets the rung
again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.engine._pool_base import Clock, WallClock
from hpsearch.search.records import FAILURES, build_ledger, reason_line, retry_rule
from hpsearch.search.records import attributes as A
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    study_id_of,
    study_lock,
    trial_id_of,
)
from hpsearch.trainers import newest_complete

_logger = logging.getLogger(__name__)


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_token() -> str:
    """``host:pid:start`` of this process: tells a dead driver from a live one on this host."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or 0}"


def owner_alive(token: str) -> bool | None:
    """True/False for a process on this host; None when it ran elsewhere (unknown)."""
    try:
        host, pid, start = token.rsplit(":", 2)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    return _start_time(int(pid)) == start


def mark_for_retry(storage: ResilientRDBStorage, trial_id: int, reason: str, message: str) -> bool:
    """Fail a RUNNING trial and ask for its retry. False if it had already finished.

    ``reason`` is a failure class with a retry rule (``FAILURES``): the books read it back.
    """
    row = FAILURES.get(reason)
    if row is None or row.retry is None:
        retried = sorted(k for k, r in FAILURES.items() if r.retry is not None)
        raise ValueError(f"retry reason {reason!r} is not a retried failure class; use {retried}")
    try:
        storage.set_trial_user_attr(trial_id, A.RETRY_REQUESTED, reason)
        storage.set_trial_user_attr(trial_id, A.FAIL_REASON, reason_line(message))
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    return True


def finish_paused(
    storage: ResilientRDBStorage, trial: FrozenTrial, checkpoints_dir: Callable[[int], Path]
) -> bool:
    """End a RUNNING trial PRUNED (paused) when its pruner paused it and the checkpoint at the
    pause step is committed. False when it is not such a trial (or had already finished)."""
    step = trial.user_attrs.get(A.PAUSED_AT)
    if step is None:
        return False
    checkpoint = newest_complete([checkpoints_dir(trial.number)])
    if checkpoint is None or checkpoint.step < int(step):
        return False
    values = trial.intermediate_values
    last = values[max(values)] if values else None
    try:
        storage.set_trial_state_values(
            trial_id_of(trial), TrialState.PRUNED, None if last is None else [last]
        )
    except UpdateFinishedTrialError:
        return False
    _logger.info("trial %s ends paused at step %s (its pause was committed)", trial.number, step)
    return True


def end_lost_trial(
    storage: ResilientRDBStorage,
    trial: FrozenTrial,
    reason: str,
    message: str,
    checkpoints_dir: Callable[[int], Path] | None,
) -> bool:
    """End a RUNNING trial whose worker is gone: paused if its pause was committed
    (``finish_paused``), else failed for a retry (``mark_for_retry``). False if it had already
    finished."""
    if checkpoints_dir is not None and finish_paused(storage, trial, checkpoints_dir):
        return True
    return mark_for_retry(storage, trial_id_of(trial), reason, message)


def reap_stale(
    study: optuna.Study,
    storage: ResilientRDBStorage,
    *,
    grace_period: float,
    skip_trial_ids: set[int] | frozenset[int] = frozenset(),
    clock: Clock | None = None,
    checkpoints_dir: Callable[[int], Path] | None = None,
) -> list[int]:
    """End (for retry, or paused: ``end_lost_trial``) every RUNNING trial whose worker is
    gone. Returns their numbers.

    A trial's silence is measured on ``clock`` (the driver's pool's; default wall time)."""
    reaped = []
    running_trials = {
        trial_id_of(t): t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    }
    owners = {trial_id: t.user_attrs.get(A.DRIVER) for trial_id, t in running_trials.items()}
    for running in (clock or WallClock()).running_trials(storage, study_id_of(study)):
        if running.trial_id in skip_trial_ids:
            continue
        owner = owners.get(running.trial_id)
        alive = owner_alive(str(owner)) if owner else None
        if alive is False:
            reason, message = A.RETRY_INTERRUPTED, "its driver process is gone (killed)"
        elif running.silent_for_s > grace_period:
            reason = A.RETRY_HEARTBEAT
            message = (
                f"no heartbeat for {running.silent_for_s:.0f}s (grace period {grace_period:.0f}s)"
            )
        else:
            continue
        trial = running_trials.get(running.trial_id)
        ended = (
            end_lost_trial(storage, trial, reason, message, checkpoints_dir)
            if trial is not None
            else mark_for_retry(storage, running.trial_id, reason, message)
        )
        if ended:
            _logger.info("trial %s reaped: %s", running.number, message)
            reaped.append(running.number)
    return reaped


def repair(study: optuna.Study, location: StorageLocation, max_retries: int) -> list[int]:
    """Enqueue a successor for every failed trial awaiting a retry. Returns their numbers."""
    enqueued = []
    with study_lock(location, study.study_name):
        ledger = build_ledger(study.get_trials(deepcopy=False), max_retries)
        for failed in ledger.pending_retry:
            reason = str(failed.user_attrs.get(A.RETRY_REQUESTED))
            attempt, downscale = retry_rule(reason).successor(
                attempt=int(failed.user_attrs.get(A.RETRY_ATTEMPT, 0)),
                downscale=int(failed.user_attrs.get(A.OOM_DOWNSCALE, 1)),
            )
            user_attrs = {
                A.RETRY_OF: failed.number,
                A.RETRY_ATTEMPT: attempt,
                "retry_reason": reason,
                A.OOM_DOWNSCALE: downscale,
            }
            study.enqueue_trial(failed.params, user_attrs=user_attrs)
            enqueued.append(failed.number)
            _logger.info(
                "trial %s (%s) will be retried, attempt %s", failed.number, reason, attempt
            )
    return enqueued
