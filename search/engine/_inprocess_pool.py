"""A worker pool without Ray: trials run in threads of the driver process.

For notebooks, tests and a single GPU box without a Ray installation. Each worker is a
:class:`~hpsearch.search.engine.TrialWorker` (the same one Ray runs), so a trial reports,
heartbeats, checkpoints and tells the study exactly as it does on Ray; only placement differs:
every trial shares this process (its CPUs, GPUs and memory). With ``size=1`` trials run one
after another.

Threads cannot be killed: ``shutdown`` stops nothing that is running. A trial handed over to a
retry (the driver was interrupted) finds out at its next report, which the study refuses, and
stops there.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
import time
from typing import Any

from hpsearch.search.engine._pool_base import Clock, IdleWorkers, WallClock, WorkerLost
from hpsearch.search.engine._worker import TrialWorker

__all__ = ["InProcessPool"]


class _LocalWorker(TrialWorker):
    """A trial worker in this process: no Ray node, no Ray-assigned GPUs."""

    @staticmethod
    def _gpu_ids() -> str:
        return os.environ.get("CUDA_VISIBLE_DEVICES", "") or "none"

    @staticmethod
    def _node_id() -> str:
        return f"inprocess:{socket.gethostname()}"


class InProcessPool(IdleWorkers):
    """``size`` workers, each a thread running one trial at a time (wall time)."""

    def __init__(
        self, size: int = 1, *, cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0
    ) -> None:
        if size < 1:
            raise ValueError(f"an in-process pool needs at least 1 worker, got {size}")
        self.size = size
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.clock: Clock = WallClock()
        self._workers: list[_LocalWorker] = []
        self._all_idle(0)
        self._executor: cf.ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._executor = cf.ThreadPoolExecutor(self.size, thread_name_prefix="hpsearch-trial")
        self._workers = [_LocalWorker(i + 1) for i in range(self.size)]
        self._all_idle(self.size)

    def submit(self, index: int, task: Any) -> cf.Future[Any]:
        if self._executor is None:
            raise RuntimeError("the in-process pool is not started (call start() first)")
        return self._executor.submit(self._workers[index].run, task)

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        if not refs:
            time.sleep(timeout)
            return []
        done, _ = cf.wait(refs, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out: list[tuple[Any, Any]] = []
        for ref in done:
            exc = ref.exception()
            out.append((ref, exc if exc is not None else ref.result()))
        return out

    def is_worker_lost(self, exc: BaseException) -> bool:
        return isinstance(exc, WorkerLost)

    def replace(self, index: int) -> None:
        self._workers[index] = _LocalWorker(index + 1)
        self.release(index)

    def exhausted(self) -> bool:
        return False

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._idle.clear()
