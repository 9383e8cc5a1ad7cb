"""Run or resume a study: validate everything first, then open the study, then drive it.

Order matters for "nothing half-written": the space, the task, the study name, the model and
the data are all checked before the database is touched, so rejected input writes nothing.
Then, still before any write, the checkpoint folder, the dashboard port and Ray are checked
(:mod:`hpsearch.search.engine._preflight`); a failure after the study is written says how to resume.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from hpsearch.search.engine._driver import Driver, DriverConfig, RunSummary
from hpsearch.search.engine._preflight import (
    check_checkpoint_root,
    check_dashboard_port,
    resumable,
)
from hpsearch.search.engine._ray_pool import (
    Cluster,
    WorkerPool,
    connect,
    disconnect,
    plan_workers,
)
from hpsearch.search.engine._run_checks import build_task, validate_run
from hpsearch.search.engine._trial_config import build_trial_config
from hpsearch.search.outputs import DashboardOptions, check_bind, dashboard_beside_run, study_view
from hpsearch.search.policy import build_pruner, build_sampler, grid_size
from hpsearch.search.records import (
    StudyMeta,
    hardware_summary,
    load_meta,
    save_meta,
    scrub_stored_secrets,
    set_budget,
    set_checkpoint_root,
    study_note,
)
from hpsearch.spaces import SearchSpace, SpaceIssue, TaskSpec, load_space
from hpsearch.spaces._errors import IssueCollector
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    StudyNotFoundError,
    StudyPaths,
    create_or_load_study,
    ensure_writable,
    list_study_names,
    load_existing_study,
    open_existing_storage,
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
    live: bool = False  # a live terminal view instead of periodic status lines


@dataclass
class Prepared:
    location: StorageLocation
    study_name: str
    meta: StudyMeta | None  # None: the study exists and its stored settings are used
    budget: int | None


def default_study_name(space: SearchSpace, task: TaskSpec) -> str:
    """``<space name>-<model>``: the model's folder or hub name, or the task type without one.

    The space name is used as written (validation allows only letters, digits and ``_ . -``);
    characters of the model's name outside those become ``-``. Nothing is cut: a name over the
    storage's limit is an error that asks for ``--study``. The run prints the name it uses.
    """
    if task.demo:
        model = "demo"
    elif task.model:
        model = Path(task.model.rstrip("/")).name or "model"
    else:
        model = task.type
    return f"{space.name}-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-") or "model")


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


def _check_request(request: RunRequest) -> None:
    """Values the CLI rejects at parse time, checked again for callers of this module."""
    for flag, number in (("--trials", request.trials), ("--workers", request.workers)):
        if number is not None and number < 1:
            raise InputError(f"{flag} must be at least 1, got {number}")
    for flag, value in (
        ("--study", request.study),
        ("--checkpoint-dir", request.checkpoint_dir),
        ("--address", request.address),
    ):
        if value is not None and not value.strip():
            raise InputError(f"{flag} is empty; pass a value or leave the flag out")


def prepare(request: RunRequest) -> Prepared:
    """Validate every input; touches no database."""
    _check_request(request)
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
    budget = request.trials if request.trials is not None else space.trials
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
    study_name = request.study if request.study is not None else default_study_name(space, task)
    validate_study_name(study_name)
    root = (
        Path(request.checkpoint_dir)
        if request.checkpoint_dir is not None
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
    emit: Callable[[str], None] | None,
) -> StudyMeta:
    """The stored settings with this run's changes; written (and told) only with ``emit``."""
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
        if emit is not None:
            set_budget(probe, prepared.budget)
        meta = replace(meta, budget=prepared.budget)
    if request.checkpoint_dir is not None:
        root = Path(request.checkpoint_dir).resolve()
        if root != meta.checkpoint_root:
            if emit is not None:
                set_checkpoint_root(probe, root)
            meta = replace(meta, checkpoint_root=root)
    if emit is None:
        return meta
    if scrub_stored_secrets(probe):
        emit("Masked a database password an earlier hpsearch stored in the study's command/note")
    emit(
        f"Continuing study {prepared.study_name!r} ({meta.space.name}, budget {meta.budget}) "
        f"in {prepared.location.display}"
    )
    return meta


def _warm_start(
    storage: ResilientRDBStorage | None, prepared: Prepared, meta: StudyMeta, source: str | None
) -> list[tuple[dict[str, Any], str]]:
    """(params, label) of the trials to run first: an earlier study's best, then the space's."""
    out: list[tuple[dict[str, Any], str]] = []
    if source is not None:
        assert storage is not None  # _plan opens the storage to read the earlier study
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
    first: list[tuple[dict[str, Any], str]],
) -> None:
    """Create the study with its settings, note and warm-start trials (under the study lock)."""
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


@dataclass
class _Plan:
    """What this run will write, worked out without writing (``storage`` None: no database or
    schema yet; created only once every check has passed)."""

    storage: ResilientRDBStorage | None
    meta: StudyMeta
    first: list[tuple[dict[str, Any], str]]  # warm-start trials of a new study


def _plan(prepared: Prepared, request: RunRequest) -> _Plan:
    location = prepared.location
    if prepared.meta is None:
        # Continuing a study (``resume``, ``run --study`` without ``--space``): it must exist,
        # and nothing is created until it is found.
        existing = open_existing_storage(location)
        if existing is None or not study_exists(existing, prepared.study_name):
            names = list_study_names(existing) if existing is not None else []
            raise StudyNotFoundError(prepared.study_name, names, location.display)
        return _Plan(existing, _load_existing(existing, prepared, request, None), [])
    new_file = location.sqlite_path is not None and not Path(location.sqlite_path).exists()
    storage = None if new_file else open_existing_storage(location)
    if storage is not None and study_exists(storage, prepared.study_name):
        return _Plan(storage, _load_existing(storage, prepared, request, None), [])
    if storage is None and request.warm_start_from is not None:
        raise StudyNotFoundError(request.warm_start_from, [], location.display)
    first = _warm_start(storage, prepared, prepared.meta, request.warm_start_from)
    return _Plan(storage, prepared.meta, first)


def execute(request: RunRequest, emit: Callable[[str], None]) -> RunSummary:
    prepared = prepare(request)
    if prepared.location.source == "default":
        emit(
            f"Storage: embedded SQLite database at {prepared.location.sqlite_path} "
            "(pass --storage postgresql://... or set HPSEARCH_STORAGE for a server)"
        )
    plan = _plan(prepared, request)  # reads only
    check_checkpoint_root(plan.meta.checkpoint_root)
    check_dashboard_port(request.dashboard)
    cluster = connect(request.address, debug=request.debug)
    try:
        workers, gpus = plan_workers(
            request.workers,
            plan.meta.budget,
            cluster,
            plan.meta.space.resources.gpus_per_trial,
            plan.meta.space.resources.cpus_per_trial,
            processes=plan.meta.space.resources.devices,
        )
        # Every check passed: the first write. Serialised with other drivers starting on the
        # same study: one creates it (settings and warm-start trials exactly once), the others
        # find it complete.
        storage = plan.storage or open_storage(prepared.location)
        created = False
        with study_lock(prepared.location, prepared.study_name):
            if prepared.meta is None or study_exists(storage, prepared.study_name):
                meta = _load_existing(storage, prepared, request, emit)
            else:
                meta = prepared.meta
                _create(storage, prepared, meta, emit, plan.first)
                created = True
        with resumable(prepared.study_name, created, prepared.location.source == "flag"):
            return _drive(storage, prepared, request, meta, cluster, workers, gpus, emit)
    finally:
        disconnect()


def _drive(
    storage: ResilientRDBStorage,
    prepared: Prepared,
    request: RunRequest,
    meta: StudyMeta,
    cluster: Cluster,
    workers: int,
    gpus: float,
    emit: Callable[[str], None],
) -> RunSummary:
    if meta.task.demo:
        emit(
            "Task: built-in offline demo: LoRA fine-tuning of all-MiniLM-L6-v2 (22M-parameter "
            "BERT) to tell which standard-library package a docstring comes from. Pass "
            "--model PATH_OR_HUB_ID --dataset PATH_OR_HUB_ID to tune your own."
        )
    root = ensure_writable(meta.checkpoint_root)
    study = _open(storage, prepared, meta, workers)
    where = "GPU" if gpus > 0 else "CPU"
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
    pool = WorkerPool(
        workers,
        cpus_per_trial=meta.space.resources.cpus_per_trial,
        gpus_per_trial=gpus,
        processes=meta.space.resources.devices,
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
            **({"status_interval": float("inf")} if request.live else {}),
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
                storage, study._study_id, max_step=driver.cfg.max_step, enabled=request.live
            ),
        ):
            return driver.run()
    finally:
        pool.shutdown()
