"""One simulated worker of the storage-scale benchmark (a process of its own).

It goes through hpsearch's own storage path: ``open_storage``, ``BudgetedAsker.ask()`` (the
budget counted and the trial row created under the study lock, the ``Trial`` built after it),
``policy.sample_params``, a few ``trial.report``/``should_prune`` with a heartbeat each, and
``tell``; it times every step and writes its records to a JSON file. Run by __main__.py
through multiprocessing (spawn).
"""

from __future__ import annotations

import json
import os
import resource
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.storage import trial_id_of


@dataclass(frozen=True)
class WorkerConfig:
    index: int
    url: str
    study: str
    budget: int
    workers: int  # all workers of the run (TPE's constant liar is on when > 1)
    sampler: str  # "tpe" (the space's) or "random"
    steps: int  # reports per trial
    step_seconds: float  # 0: as fast as possible
    duration: float  # > 0: stop asking after this many seconds (sustained phase)
    out: str
    plain_optuna: bool = False  # plain Optuna: RDBStorage + study.ask, no hpsearch


def _timed(owner: Any, name: str, sink: dict[str, float]) -> None:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink[name] = sink.get(name, 0.0) + time.perf_counter() - start

    setattr(owner, name, timed)


def open_study(cfg: WorkerConfig, sink: dict[str, float]) -> tuple[Any, Any, Any, Any]:
    """The space, the study, its storage and (unless plain Optuna) a BudgetedAsker, with the
    storage calls the records break down timed into ``sink``."""
    import optuna

    from hpsearch.search.engine import BudgetedAsker, owner_token
    from hpsearch.search.policy import DistinctSampler, build_pruner, build_sampler
    from hpsearch.spaces import load_space
    from hpsearch.storage import (
        ResilientRDBStorage,
        _locks,
        named_lock,
        open_storage,
        parse_storage_url,
    )

    space = load_space("lora_small")
    if cfg.sampler == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=cfg.index)
    else:
        sampler = build_sampler(space, n_workers=cfg.workers, seed_offset=cfg.index)
    pruner = build_pruner(space, first_eval_step=1, max_step=cfg.steps)
    location = parse_storage_url(cfg.url)
    if cfg.plain_optuna:
        if isinstance(sampler, DistinctSampler):
            sampler = sampler.inner  # Optuna's own sampler, with the space's options
        storage: Any = optuna.storages.RDBStorage(location.url)
        study = optuna.load_study(
            study_name=cfg.study, storage=storage, sampler=sampler, pruner=pruner
        )
        return space, study, storage, None
    storage = open_storage(location, check=False, create_schema=False)
    study = optuna.load_study(study_name=cfg.study, storage=storage, sampler=sampler, pruner=pruner)
    if isinstance(sampler, DistinctSampler):  # as the driver does (hpsearch.search.engine.Driver)
        claims = f"hpsearch:configurations:{cfg.study}"
        sampler.use_claim_lock(lambda: named_lock(location, claims))
    _timed(ResilientRDBStorage, "trial_counts", sink)
    _timed(_locks, "_connect_and_lock", sink)
    _timed(BudgetedAsker, "_build", sink)
    asker = BudgetedAsker(study, location, storage, cfg.budget, 2, owner_token())
    return space, study, storage, asker


def run(cfg: WorkerConfig, ready: Any, go: Any, jobs: Any = None, idle: Any = None) -> None:
    """Ask, run and tell trials; with ``jobs``, run the trials a driver (feeder.py) asked
    for, one at a time, and put a token on ``idle`` after each."""
    import optuna

    from hpsearch.search.policy import sample_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sink: dict[str, float] = {}
    records: list[list[float]] = []
    errors: list[str] = []
    space, study, storage, asker = open_study(cfg, sink)
    ready.set()
    go.wait()
    began = time.time()
    if cfg.duration and jobs is None:  # spread the first asks over one trial, as in a study
        time.sleep(cfg.index / cfg.workers * cfg.steps * cfg.step_seconds)
    while True:
        if cfg.duration and jobs is None and time.time() - began >= cfg.duration:
            break
        sink.clear()
        fed = None
        if jobs is not None:
            fed = jobs.get()
            if fed is None:
                break
        try:
            t0 = time.perf_counter()
            if fed is not None:  # asked (and sampled) by the driver
                trial = optuna.Trial(study, fed[0])
            elif asker is None:  # plain Optuna: each process runs its share of the budget
                share = cfg.budget // cfg.workers + (cfg.index < cfg.budget % cfg.workers)
                if len(records) >= share:
                    break
                trial = study.ask()
            else:
                trial = asker.ask()
                if trial is None:
                    break
            if fed is None:
                sample_params(trial, space)
            t1 = time.perf_counter()
            state = optuna.trial.TrialState.COMPLETE
            value = 1.0
            report_s = 0.0
            for step in range(1, cfg.steps + 1):
                if cfg.step_seconds:
                    time.sleep(cfg.step_seconds)
                value = 0.5 + 2.5 / step + (trial.number % 97) / 97
                r0 = time.perf_counter()
                trial.report(value, step)
                pruned = trial.should_prune()
                if not cfg.plain_optuna:
                    storage.record_heartbeat(trial_id_of(trial))
                report_s += time.perf_counter() - r0
                if pruned:
                    state = optuna.trial.TrialState.PRUNED
                    break
            t2 = time.perf_counter()
            final = None if state == optuna.trial.TrialState.PRUNED else value
            study.tell(trial, final, state=state)
            t3 = time.perf_counter()
            asked = [t1 - t0, *(sink.get(k, 0.0) for k in ("trial_counts", "_connect_and_lock"))]
            asked.append(sink.get("_build", 0.0))  # the Trial built after the lock (cache sync)
            if fed is not None:
                asked = list(fed[1:])  # the driver's timings of this trial's ask
            records.append(
                [
                    trial.number,
                    time.time() - began,
                    asked[0],  # ask (BudgetedAsker.ask + sample_params)
                    t3 - t2,  # tell
                    report_s / max(1, step),  # one report + should_prune + heartbeat
                    *asked[1:],  # budget count, lock wait, Trial set-up
                ]
            )
            if idle is not None:
                idle.put(1)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
            if idle is not None:
                idle.put(1)
            if len(errors) > 50:
                break
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(cfg.out).write_text(
        json.dumps(
            {
                "index": cfg.index,
                "pid": os.getpid(),
                "records": records,
                "errors": errors,
                "max_rss_mb": rss_mb,
                "began": began,
            }
        )
    )
