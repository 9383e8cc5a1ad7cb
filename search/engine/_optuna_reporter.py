"""The trainer's :class:`Reporter` implemented on an Optuna trial, plus worker heartbeats."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from hpsearch.search.policy import RungSchedule
from hpsearch.search.records import attributes as A
from hpsearch.spaces.errors import HpsearchError
from hpsearch.storage import storage_of

_logger = logging.getLogger(__name__)


class TrialSuperseded(HpsearchError, RuntimeError):
    """The trial was finished by someone else (reaped as stale); this run must stop."""


def paused_reason(step: int) -> str:
    """The prune reason of a paused trial."""
    return f"paused at step {step} by the promotion pruner"


class OptunaReporter:
    """Reports to the study's storage; asks the study's pruner whether to stop."""

    def __init__(
        self, study: optuna.Study, trial_id: int, rungs: RungSchedule | None = None
    ) -> None:
        self.trial = optuna.Trial(study, trial_id)
        self.rungs = rungs  # the pruner's rung steps: between them it is not asked
        self._asked: int | None = None  # the step of the newest should_prune
        self.storage = storage_of(study)
        self.trial_id = trial_id
        self.reported: list[tuple[int, float]] = []
        self.paused_at: int | None = None  # the step a pausing pruner stopped the trial at

    def report(self, step: int, value: float) -> None:
        if not math.isfinite(value):
            return  # the trainer raises its own non-finite error; never store NaN as a value
        try:
            self.trial.report(value, step)
        except UpdateFinishedTrialError:
            raise TrialSuperseded(f"trial {self.trial.number} was finished elsewhere") from None
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        """The pruner's answer at the newest reported step. With a pausing pruner a True is a
        pause: ``paused_at_step`` (and the prune reason) is recorded before the trainer stops,
        so the trial is a candidate for promotion the moment it is told PRUNED.

        With the pruner's ``rungs`` known, a report that passes no rung step since the previous
        question is answered False without asking: a rung pruner would answer the same and
        write nothing (see :class:`~hpsearch.search.policy.RungSchedule`)."""
        step = self.reported[-1][0] if self.reported else None
        asked, self._asked = self._asked, step
        if self._between_rungs(asked, step):
            return False
        prune = bool(self.trial.should_prune())
        if prune and step is not None and self.pausing():
            self.record({A.PAUSED_AT: step, A.PRUNE_REASON: paused_reason(step)})
            self.paused_at = step
        return prune

    def _between_rungs(self, asked: int | None, step: int | None) -> bool:
        if self.rungs is None or asked is None or step is None:
            return False
        return not self.rungs.crosses(asked, step)

    def pausing(self) -> bool:
        """Whether the study's pruner pauses (keeps a checkpoint and may promote) rather than
        stops: a pruner with ``pauses_trials = True`` (promotion-type successive halving)."""
        return bool(getattr(self.trial.study.pruner, "pauses_trials", False))

    def record(self, attrs: Mapping[str, Any]) -> None:
        # Optuna's cache passes user attributes straight through to the database; write them
        # in one transaction on the backend rather than one per attribute.
        backend = getattr(self.storage, "_backend", self.storage)
        try:
            if hasattr(backend, "set_trial_user_attrs"):
                backend.set_trial_user_attrs(self.trial_id, dict(attrs))
            else:
                for key, value in attrs.items():
                    self.storage.set_trial_user_attr(self.trial_id, key, value)
        except UpdateFinishedTrialError:
            raise TrialSuperseded(f"trial {self.trial.number} was finished elsewhere") from None


class Heartbeat:
    """Records a heartbeat for a trial every ``interval`` seconds until stopped."""

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{trial_id}", daemon=True
        )
        self.beats = 0
        self.errors = 0

    def __enter__(self) -> Heartbeat:
        self.beat()  # the first heartbeat before any work
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def beat(self) -> None:
        try:
            self.storage.record_heartbeat(self.trial_id)
            self.beats += 1
        except Exception as exc:  # never let a heartbeat failure kill the trial
            self.errors += 1
            _logger.warning("heartbeat for trial id %s failed: %s", self.trial_id, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
