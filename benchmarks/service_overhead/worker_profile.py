"""Timers inside hpsearch's Ray worker processes, for the service-overhead benchmark.

:func:`enable` (in the driver process, before ``hpsearch run`` starts Ray) adds
:func:`setup` as Ray's ``worker_process_setup_hook``; in each worker process it wraps the
worker's steps (report, pruning check, attribute writes, heartbeats, checkpoint commits, tell)
with timers and appends the totals to ``$HPSEARCH_BENCH_WORKER_PROFILE/<pid>.jsonl`` after
every trial. Nothing in ``hpsearch`` is changed on disk.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV = "HPSEARCH_BENCH_WORKER_PROFILE"
_totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])


def _wrap(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            entry = _totals[label]
            entry[0] += 1
            entry[1] += time.perf_counter() - start

    is_static = isinstance(getattr(owner, "__dict__", {}).get(name), staticmethod)
    setattr(owner, name, staticmethod(timed) if is_static else timed)


class _SleepTimed:
    """``time`` for the simulated trainer only, with its sleeps (the work) timed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        start = time.perf_counter()
        time.sleep(seconds)
        entry = _totals["sleep (the simulated work)"]
        entry[0] += 1
        entry[1] += time.perf_counter() - start


def setup() -> None:
    """Ray ``worker_process_setup_hook``: runs once in every worker process."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    from hpsearch.search.engine import _optuna_reporter as _reporter
    from hpsearch.search.engine import _worker
    from hpsearch.trainers import _checkpoints, _simulated

    _wrap(_reporter.OptunaReporter, "report", "report (trial.report)")
    _wrap(_reporter.OptunaReporter, "should_prune", "should_prune")
    _wrap(_reporter.OptunaReporter, "record", "record (user attrs)")
    _wrap(_reporter.Heartbeat, "beat", "heartbeat (thread)")
    _wrap(_worker.TrialWorker, "_tell", "tell")
    _wrap(_worker.TrialWorker, "_study", "load study (cached after the 1st)")
    _wrap(_checkpoints, "commit", "checkpoint commit")
    _wrap(_checkpoints, "finalize", "checkpoint finalize")
    _wrap(_checkpoints, "write_dir_atomically", "final folder write")
    _wrap(_worker, "upload_trial_artifacts", "artifact upload")
    _simulated.time = _SleepTimed()  # type: ignore[attr-defined]

    original_run = _worker.TrialWorker.run

    @functools.wraps(original_run)
    def run(self: Any, task: Any) -> Any:
        _totals.clear()
        start = time.perf_counter()
        outcome = original_run(self, task)
        record = {
            "number": task.number,
            "pid": os.getpid(),
            "run_s": time.perf_counter() - start,
            "parts": {k: list(v) for k, v in _totals.items()},
        }
        with open(Path(folder) / f"{os.getpid()}.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        return outcome

    _worker.TrialWorker.run = run  # type: ignore[method-assign]


def enable(folder: Path) -> None:
    """Make the Ray workers that ``hpsearch run`` starts in this process call :func:`setup`."""
    import ray

    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(folder)
    root = str(Path(__file__).resolve().parents[2])  # the workers import this module by name
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    original_init = ray.init

    @functools.wraps(original_init)
    def init(*args: Any, **kwargs: Any) -> Any:
        runtime_env = dict(kwargs.get("runtime_env") or {})
        runtime_env["worker_process_setup_hook"] = (
            "benchmarks.service_overhead.worker_profile.setup"
        )
        env_vars = dict(runtime_env.get("env_vars") or {})
        env_vars.update({ENV: str(folder), "PYTHONPATH": os.environ["PYTHONPATH"]})
        if os.environ.get("HPSEARCH_BENCH_FIX"):
            env_vars["HPSEARCH_BENCH_FIX"] = "1"
        runtime_env["env_vars"] = env_vars
        kwargs["runtime_env"] = runtime_env
        return original_init(*args, **kwargs)

    ray.init = init


def load(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out
