"""The asking side of the storage-scale benchmark's sustained phase, as hpsearch runs it.

In a real study one driver asks for every trial (``BudgetedAsker.ask`` + ``sample_params``) and
hands it to an idle worker; the workers only report, heart-beat and tell. This process is that
driver: it keeps every worker busy, asking one trial each time a worker reports it is idle, for
``duration`` seconds, then tells the workers to stop. Its timings travel with each trial to the
worker that runs it (worker.run with a job queue), so every record stays whole.
"""

from __future__ import annotations

import json
import queue
import resource
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.storage_scale.worker import WorkerConfig, open_study
from hpsearch.storage import trial_id_of


def feed(cfg: WorkerConfig, ready: Any, go: Any, jobs: Any, idle: Any) -> None:
    import optuna

    from hpsearch.search.policy import sample_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sink: dict[str, float] = {}
    space, _study, _storage, asker = open_study(cfg, sink)
    errors: list[str] = []
    ready.set()
    go.wait()
    began = time.time()
    for _ in range(cfg.workers):
        idle.put(1)  # every worker is idle when the study starts
    while time.time() - began < cfg.duration:
        try:
            idle.get(timeout=1.0)
        except queue.Empty:
            continue
        sink.clear()
        try:
            t0 = time.perf_counter()
            trial = asker.ask()
            sample_params(trial, space)
            asked = time.perf_counter() - t0
        except Exception:
            errors.append(traceback.format_exc(limit=3))
            idle.put(1)  # the worker is still idle
            continue
        counts, lock, build = (
            sink.get(k, 0.0) for k in ("trial_counts", "_connect_and_lock", "_build")
        )
        jobs.put((trial_id_of(trial), asked, counts, lock, build))
    for _ in range(cfg.workers):
        jobs.put(None)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(cfg.out).write_text(json.dumps({"errors": errors, "max_rss_mb": rss_mb}))
