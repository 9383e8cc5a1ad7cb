"""Run or resume a study: validate everything first, then open the study, then drive it.

Order matters for "nothing half-written": the request is checked without touching the database
(:mod:`._run_request`), then what the run will write is worked out by reading only
(:mod:`._study_open`). Then, still before any write, the checkpoint folder, the dashboard port
and Ray are checked (:mod:`._preflight`); a failure after the study is written says how to
resume.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from hpsearch.search.engine._driver import Driver, DriverConfig, RunSummary
from hpsearch.search.engine._pool_base import WorkerPool
from hpsearch.search.engine._pools import check_pool_choice, local_plan, make_pool
from hpsearch.search.engine._preflight import (
    check_checkpoint_root,
    check_dashboard_port,
    open_checkpoint_root,
    resumable,
)
from hpsearch.search.engine._ray_pool import Cluster, connect, disconnect, plan_workers
from hpsearch.search.engine._run_request import (
    Prepared,
    RunRequest,
    first_eval_step,
    max_step,
    prepare,
)
from hpsearch.search.engine._study_open import create_study, load_existing, open_study, plan
from hpsearch.search.outputs import dashboard_beside_run, study_view
from hpsearch.search.records import StudyMeta
from hpsearch.storage import (
    ResilientRDBStorage,
    StudyPaths,
    open_storage,
    study_exists,
    study_id_of,
    study_lock,
)


@dataclass
class RunResult:
    """What a run did (its books and summary lines) and the study it drove."""

    summary: RunSummary
    study: optuna.Study


def execute(request: RunRequest, emit: Callable[[str], None]) -> RunResult:
    """Check everything, open (or create) the study, then drive it until its budget is met."""
    prepared = prepare(request)
    if prepared.location.source == "default":
        emit(
            f"Storage: embedded SQLite database at {prepared.location.sqlite_path} "
            "(pass --storage postgresql://... or set HPSEARCH_STORAGE for a server)"
        )
    planned = plan(prepared, request)  # reads only
    check_checkpoint_root(planned.meta.checkpoint_root)
    check_dashboard_port(request.dashboard)
    check_pool_choice(request.pool)
    handlers = _signal_handlers()
    cluster = connect(request.address, debug=request.debug) if request.pool == "ray" else None
    try:
        if cluster is None:
            workers, gpus = local_plan(request.pool, request.workers), 0.0
        else:
            workers, gpus = plan_workers(
                request.workers,
                planned.meta.budget,
                cluster,
                planned.meta.space.resources.gpus_per_trial,
                planned.meta.space.resources.cpus_per_trial,
                processes=planned.meta.space.resources.devices,
            )
        # Every check passed: the first write. Serialised with other drivers starting on the
        # same study: one creates it (settings and warm-start trials exactly once), the others
        # find it complete.
        storage = planned.storage or open_storage(prepared.location)
        created = False
        with study_lock(prepared.location, prepared.study_name):
            if prepared.meta is None or study_exists(storage, prepared.study_name):
                meta = load_existing(storage, prepared, request, emit)
            else:
                meta = prepared.meta
                create_study(storage, prepared, meta, emit, planned.first)
                created = True
        with resumable(prepared.study_name, created, prepared.location.source == "flag"):
            return _drive(storage, prepared, request, meta, cluster, workers, gpus, emit)
    finally:
        if cluster is not None:
            disconnect()
        if not request.handle_signals:
            _restore(handlers)  # ray.init installs a SIGTERM handler of its own


def _signal_handlers() -> dict[int, Any]:
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, Any]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread has (or can set) handlers
    for sig, handler in handlers.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)


def _drive(
    storage: ResilientRDBStorage,
    prepared: Prepared,
    request: RunRequest,
    meta: StudyMeta,
    cluster: Cluster | None,
    workers: int,
    gpus: float,
    emit: Callable[[str], None],
) -> RunResult:
    if meta.task.demo:
        emit(
            "Task: built-in offline demo: LoRA fine-tuning of all-MiniLM-L6-v2 (22M-parameter "
            "BERT) to tell which standard-library package a docstring comes from. Pass "
            "--model PATH_OR_HUB_ID --dataset PATH_OR_HUB_ID to tune your own."
        )
    root = open_checkpoint_root(meta.checkpoint_root)
    study = open_study(storage, prepared, meta, workers)
    where = "GPU" if gpus > 0 else "CPU"
    if cluster is not None:
        emit(
            f"Ray: {cluster.nodes} node(s), {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs; "
            f"{workers} {where} worker(s), {gpus:g} GPU and "
            f"{meta.space.resources.cpus_per_trial:g} CPU per trial"
            + (
                f" ({meta.space.resources.devices} {meta.space.resources.distributed} processes)"
                if meta.space.resources.devices > 1
                else ""
            )
        )
    pool = _start_pool(request.pool, meta, workers, gpus)
    if cluster is None:
        emit(f"Pool: {workers} {type(pool).__name__} worker(s), no Ray")
    driver = Driver(
        DriverConfig(
            location=prepared.location,
            storage=storage,
            study=study,
            meta=meta,
            paths=StudyPaths(root, study.study_name),
            pool=pool,
            first_eval_step=first_eval_step(meta),
            max_step=max_step(meta),
            emit=emit,
            handle_signals=request.handle_signals,
            reap_interval=request.reap_interval,
            status_interval=float("inf") if request.live else request.status_interval,
        )
    )
    try:
        with (
            dashboard_beside_run(
                request.dashboard,
                prepared.location,
                study,
                StudyPaths(root, study.study_name).artifacts_dir,
                emit,
            ),
            study_view(
                storage, study_id_of(study), max_step=driver.cfg.max_step, enabled=request.live
            ),
        ):
            summary = driver.run()
    finally:
        pool.shutdown()
    # Optuna's trial cache never re-reads a finished trial, and the driver writes
    # ``promoted_to`` / ``paused_checkpoint_deleted`` on finished (paused) trials through the
    # backend: hand back the study read afresh, as any other reader sees it.
    fresh = optuna.load_study(
        study_name=study.study_name, storage=storage, sampler=study.sampler, pruner=study.pruner
    )
    return RunResult(summary, fresh)


def _start_pool(choice: str | WorkerPool, meta: StudyMeta, workers: int, gpus: float) -> WorkerPool:
    """The workers trials run on, started: the one place a run chooses its pool.

    ``"ray"``: long-lived Ray actors; ``"inprocess"``: threads of this process; or a
    :class:`WorkerPool` object given by the caller (e.g. a simulated pool).
    """
    resources = meta.space.resources
    pool = make_pool(choice, workers, resources.cpus_per_trial, gpus, resources.devices)
    pool.start()
    return pool
