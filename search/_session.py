"""Run or resume a study: validate everything first, then open the study, then drive it.

Order matters for "nothing half-written": the space, the task, the study name, the model and
the data are all checked before the database is touched, so rejected input writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from hpsearch.search._dashboard import DashboardOptions, check_bind, dashboard_beside_run
from hpsearch.search._driver import Driver, DriverConfig, RunSummary
from hpsearch.search._meta import (
    StudyMeta,
    hardware_summary,
    load_meta,
    save_meta,
    set_budget,
    set_checkpoint_root,
    study_note,
)
from hpsearch.search._pool import WorkerPool, connect, disconnect, plan_workers
from hpsearch.search._trialconfig import build_trial_config
from hpsearch.search._validate import build_task, validate_run
from hpsearch.search.policy import build_pruner, build_sampler, grid_size
from hpsearch.spaces import SearchSpace, SpaceIssue, TaskSpec, load_space
from hpsearch.spaces._errors import IssueCollector
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    StudyPaths,
    create_or_load_study,
    ensure_writable,
    load_existing_study,
    open_storage,
    resolve_storage,
    study_exists,
    study_lock,
    validate_study_name,
)
from hpsearch.trainers import ConfigError, input_problems

DEFAULT_SPACE = "lora_small"


class InputError(ValueError):
    """Bad input found before anything was written (maps to exit code 2)."""


@dataclass
class RunRequest:
    space: str | None = None
    study: str | None = None
    storage: str | None = None
    trials: int | None = None
    task: Mapping[str, Any] = field(default_factory=dict)
    checkpoint_dir: str | None = None
    workers: int | None = None
    address: str | None = None
    debug: bool = False
    command: str = ""
    resume_only: bool = False  # hpsearch resume: the study must exist
    dashboard: DashboardOptions | None = None  # hpsearch run --dashboard
    warm_start_from: str | None = None  # the best trial of this study runs first


@dataclass
class Prepared:
    location: StorageLocation
    study_name: str
    meta: StudyMeta | None  # None: the study exists and its stored settings are used
    budget: int | None


def default_study_name(space: SearchSpace, task: TaskSpec) -> str:
    model = "demo" if task.demo else Path(str(task.model)).name or "model"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{space.name}-{model}")[:200]


def _first_eval_step(meta: StudyMeta) -> int:
    task = meta.task
    if task.fidelity == "tokens":
        batch_param = meta.space.param("effective_batch_size")
        batch = int(getattr(batch_param, "value", 16) or 16)
        return task.eval_steps * batch * task.max_seq_length
    return task.eval_steps


def _check_trainable(space: SearchSpace, task: TaskSpec, location: StorageLocation) -> list[str]:
    """Load-free checks of the model and data through the trainer (no database writes)."""
    if task.type == "simulated":
        return []
    probe_params: dict[str, Any] = {}
    for param in space.params:
        values = param.values()
        probe_params[param.name] = values[0] if values else getattr(param, "low", None)
    paths = StudyPaths(Path("/nonexistent"), "probe")
    try:
        config, _ = build_trial_config(
            space=space, task=task, params=probe_params, study_name="probe", number=0, paths=paths
        )
    except ValueError:
        return []  # batch-rule problems are reported by the space validation
    return input_problems(task.type, config)


def prepare(request: RunRequest) -> Prepared:
    """Validate every input; touches no database."""
    location = resolve_storage(request.storage)
    if request.dashboard is not None:
        check_bind(request.dashboard.host, request.dashboard.allow_remote)
    if request.resume_only:
        assert request.study is not None
        validate_study_name(request.study)
        return Prepared(location, request.study, None, request.trials)
    if request.space is None and request.study is not None:
        # An existing study continues with its stored space; checked once the storage is open.
        validate_study_name(request.study)
        return Prepared(location, request.study, None, request.trials)
    space = load_space(request.space or DEFAULT_SPACE)
    # Every problem at once: the space, the task, the model and the data.
    found = IssueCollector()
    task = build_task(space, request.task, found)
    budget = request.trials or space.trials
    if space.sampler.type == "grid" and request.trials is None:
        budget = min(budget, grid_size(space))
    found.extend(validate_run(space, task, budget))
    problems = _check_trainable(space, task, location)
    if found:
        found.extend(SpaceIssue("task", problem) for problem in problems)
        where = " and its model and data" if problems else ""
        found.raise_if_any(f"space {space.name!r}{where}")
    if problems:
        raise ConfigError("; ".join(problems))
    study_name = request.study or default_study_name(space, task)
    validate_study_name(study_name)
    root = (
        Path(request.checkpoint_dir)
        if request.checkpoint_dir
        else (location.default_checkpoint_root())
    )
    meta = StudyMeta(
        space=space,
        task=task,
        budget=budget,
        checkpoint_root=root.resolve(),
        command=request.command,
    )
    return Prepared(location, study_name, meta, budget)


def _load_existing(
    storage: ResilientRDBStorage,
    prepared: Prepared,
    request: RunRequest,
    emit: Callable[[str], None],
) -> StudyMeta:
    probe = load_existing_study(storage, prepared.study_name, prepared.location.display)
    meta = load_meta(probe)
    if prepared.meta is not None and (
        prepared.meta.space.to_dict() != meta.space.to_dict()
        or prepared.meta.task.to_dict() != meta.task.to_dict()
    ):
        raise InputError(
            f"study {prepared.study_name!r} already exists with a different space or task; "
            f"continue it with: hpsearch resume {prepared.study_name}, or start a new one "
            "with --study NEW_NAME"
        )
    if prepared.budget is not None and prepared.budget != meta.budget:
        set_budget(probe, prepared.budget)
        meta = replace(meta, budget=prepared.budget)
    if request.checkpoint_dir:
        root = Path(request.checkpoint_dir).resolve()
        if root != meta.checkpoint_root:
            set_checkpoint_root(probe, root)
            meta = replace(meta, checkpoint_root=root)
    emit(
        f"Continuing study {prepared.study_name!r} ({meta.space.name}, budget {meta.budget}) "
        f"in {prepared.location.display}"
    )
    return meta


def _warm_start(
    storage: ResilientRDBStorage, prepared: Prepared, meta: StudyMeta, source: str | None
) -> list[tuple[dict[str, Any], str]]:
    """(params, label) of the trials to run first: an earlier study's best, then the space's."""
    out: list[tuple[dict[str, Any], str]] = []
    if source is not None:
        earlier = load_existing_study(storage, source, prepared.location.display)
        try:
            best = earlier.best_trial
        except ValueError:
            raise InputError(f"study {source!r} has no complete trial to warm-start from") from None
        params = {}
        for name, value in best.params.items():
            param = meta.space.param(name)
            if param is not None and param.kind != "fixed" and param.contains(value):
                params[name] = value
        if not params:
            raise InputError(
                f"the best trial of {source!r} shares no parameter with space "
                f"{meta.space.name!r}; nothing to warm-start from"
            )
        out.append((params, f"best of study {source} (trial {best.number})"))
    out += [(dict(p), "space warm_start") for p in meta.space.warm_start]
    return out


def _create(
    storage: ResilientRDBStorage,
    prepared: Prepared,
    meta: StudyMeta,
    emit: Callable[[str], None],
    warm_start_from: str | None = None,
) -> None:
    """Create the study with its settings, note and warm-start trials (under the study lock)."""
    first = _warm_start(storage, prepared, meta, warm_start_from)  # checked before any write
    handle = create_or_load_study(storage, prepared.study_name, meta.space.objective.direction)
    save_meta(handle.study, meta)
    from optuna_dashboard import save_note, set_objective_names

    save_note(handle.study, study_note(meta, hardware_summary()))
    set_objective_names(handle.study, [meta.space.objective.metric])
    for params, label in first:
        handle.study.enqueue_trial(params, user_attrs={"warm_start": label})
    emit(f"Created study {prepared.study_name!r} in {prepared.location.display}")


def _open(
    storage: ResilientRDBStorage, prepared: Prepared, meta: StudyMeta, workers: int
) -> optuna.Study:
    """The study object with this run's sampler and pruner."""
    return optuna.load_study(
        study_name=prepared.study_name,
        storage=storage,
        sampler=build_sampler(meta.space, n_workers=workers),
        pruner=build_pruner(
            meta.space,
            first_eval_step=_first_eval_step(meta),
            max_step=meta.task.max_steps if meta.task.fidelity == "steps" else None,
        ),
    )


def execute(request: RunRequest, emit: Callable[[str], None]) -> RunSummary:
    prepared = prepare(request)
    if prepared.location.source == "default":
        emit(
            f"Storage: embedded SQLite database at {prepared.location.sqlite_path} "
            "(pass --storage postgresql://... or set HPSEARCH_STORAGE for a server)"
        )
    storage = open_storage(prepared.location)
    # Serialised with other drivers starting on the same study: one creates it (settings and
    # warm-start trials exactly once), the others find it complete.
    with study_lock(prepared.location, prepared.study_name):
        if prepared.meta is None or study_exists(storage, prepared.study_name):
            meta = _load_existing(storage, prepared, request, emit)
        else:
            meta = prepared.meta
            _create(storage, prepared, meta, emit, request.warm_start_from)
    if meta.task.demo:
        emit(
            "Task: built-in offline demo: LoRA fine-tuning of all-MiniLM-L6-v2 (22M-parameter "
            "BERT) to tell which standard-library package a docstring comes from. Pass "
            "--model PATH_OR_HUB_ID --dataset PATH_OR_HUB_ID to tune your own."
        )
    root = ensure_writable(meta.checkpoint_root)
    cluster = connect(request.address, debug=request.debug)
    try:
        workers, gpus = plan_workers(
            request.workers,
            meta.budget,
            cluster,
            meta.space.resources.gpus_per_trial,
            meta.space.resources.cpus_per_trial,
        )
        study = _open(storage, prepared, meta, workers)
        where = "GPU" if gpus > 0 else "CPU"
        emit(
            f"Ray: {cluster.nodes} node(s), {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs; "
            f"{workers} {where} worker(s), {gpus:g} GPU and "
            f"{meta.space.resources.cpus_per_trial:g} CPU per trial"
        )
        pool = WorkerPool(
            workers, cpus_per_trial=meta.space.resources.cpus_per_trial, gpus_per_trial=gpus
        )
        pool.start()
        driver = Driver(
            DriverConfig(
                location=prepared.location,
                storage=storage,
                study=study,
                meta=meta,
                paths=StudyPaths(root, study.study_name),
                pool=pool,
                first_eval_step=_first_eval_step(meta),
                max_step=meta.task.max_steps if meta.task.fidelity == "steps" else None,
                emit=emit,
            )
        )
        try:
            with dashboard_beside_run(
                request.dashboard,
                prepared.location,
                study,
                StudyPaths(root, study.study_name).artifacts_dir,
                emit,
            ):
                return driver.run()
        finally:
            pool.shutdown()
    finally:
        disconnect()
