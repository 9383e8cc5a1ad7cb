"""The contract between the driver and whatever runs its trials: a ``WorkerPool`` and its ``Clock``.

The driver (budget, retries, reaping, heartbeats, scheduling) is the same whichever pool runs
the trials. Three pools ship:

- :class:`~hpsearch.search.engine.RayPool` (``pool="ray"``): long-lived Ray actors, one trial
  at a time each; what ``hpsearch run`` uses.
- :class:`~hpsearch.search.engine.InProcessPool` (``pool="inprocess"``): trials run in threads
  of the driver process (notebooks, tests, one GPU box without Ray).
- :class:`~hpsearch.search.engine.SimulatedPool`: trials advance on a simulated clock, in the
  order of their simulated times (syne-tune's ``SimulatorBackend`` is the model). A trial's
  duration is the cost its trainer reports; the sample-efficiency benchmark runs on it.

A pool has ``size`` workers, numbered ``0..size-1``. The driver ``acquire``\\ s an idle worker,
``submit``\\ s one :class:`~hpsearch.search.engine.TrialTask` to it and gets an opaque reference;
``wait`` hands back finished references with their result: a ``TrialOutcome`` (the worker told
the study itself) or the exception that ended the attempt. A worker that died (its process,
its node) is reported as an exception for which ``is_worker_lost`` is true; the driver then
retries the trial and calls ``replace``. Every worker is released by the driver, never by the
pool.

Time: everything the driver and the reaper measure (heartbeat cadence, a trial's silence
against the grace period, reaping cadence, status lines, elapsed time and ETA) is read from the
pool's :class:`Clock`, never from ``time`` directly, so a simulated pool runs the real driver on
simulated time.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Protocol, runtime_checkable

from hpsearch.spaces.errors import EXIT_UNAVAILABLE, HpsearchError
from hpsearch.storage import ResilientRDBStorage, RunningTrial

__all__ = ["Clock", "IdleWorkers", "WallClock", "WorkerLost", "WorkerPool"]


class WorkerLost(HpsearchError, RuntimeError):
    """A worker of an in-process or simulated pool died while it held a trial."""

    exit_code = EXIT_UNAVAILABLE


@runtime_checkable
class Clock(Protocol):
    """The time the driver lives in.

    ``now`` is monotonic seconds. ``poll_interval`` is the longest the driver's loop blocks in
    one ``wait`` while trials run (wall time: a fraction of a second, so signals are noticed;
    simulated time: ``inf``, the driver waits until its next timer or the next trial event).
    Heartbeats are stamped, and read back for the reaper, through the clock.
    """

    poll_interval: float

    def now(self) -> float: ...

    def stamp_heartbeat(self, storage: ResilientRDBStorage, trial_id: int) -> None:
        """Record that ``trial_id`` is alive at ``now()``."""

    def running_trials(self, storage: ResilientRDBStorage, study_id: int) -> list[RunningTrial]:
        """The study's RUNNING trials with their silence measured on this clock."""


class WallClock:
    """Real time. Heartbeats live in the database and are aged by the database's clock, so
    drivers on different hosts agree on a trial's silence."""

    poll_interval = 0.2

    def now(self) -> float:
        return time.monotonic()

    def stamp_heartbeat(self, storage: ResilientRDBStorage, trial_id: int) -> None:
        storage.record_heartbeat(trial_id)

    def running_trials(self, storage: ResilientRDBStorage, study_id: int) -> list[RunningTrial]:
        return storage.running_trials(study_id)


@runtime_checkable
class WorkerPool(Protocol):
    """Workers that each run one trial at a time (see the module docstring for the contract)."""

    size: int
    cpus_per_trial: float
    gpus_per_trial: float
    clock: Clock

    def start(self) -> None:
        """Start every worker; all are idle afterwards."""

    def has_idle(self) -> bool: ...

    def acquire(self) -> int:
        """An idle worker's index (only when ``has_idle()``)."""

    def release(self, index: int) -> None:
        """Worker ``index`` is idle again (releasing an idle worker does nothing)."""

    def submit(self, index: int, task: Any) -> Any:
        """Start ``task`` (a ``TrialTask``) on worker ``index``; returns its reference."""

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        """Finished ``refs`` with their outcome or exception, after at most ``timeout``
        seconds of the pool's clock (an empty list when none finished by then)."""

    def is_worker_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` (from ``wait``) means the worker itself died."""

    def replace(self, index: int) -> None:
        """Replace the dead worker ``index`` by a new idle one."""

    def exhausted(self) -> bool:
        """True once the pool can start no further trial (a simulated pool whose compute
        budget is spent): the driver then asks for none, and lets running trials finish."""

    def shutdown(self) -> None:
        """Stop every worker; trials still running are abandoned (the driver hands them over)."""


class IdleWorkers:
    """The idle-worker queue every pool keeps (workers ``0 .. size-1``, one trial each): the
    ``has_idle``/``acquire``/``release`` part of the :class:`WorkerPool` contract."""

    _idle: deque[int]

    def _all_idle(self, size: int) -> None:
        self._idle = deque(range(size))

    def has_idle(self) -> bool:
        return bool(self._idle)

    def acquire(self) -> int:
        return self._idle.popleft()

    def release(self, index: int) -> None:
        if index not in self._idle:
            self._idle.append(index)
