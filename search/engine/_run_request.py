"""A run request and its checks: everything about the space, the task, the study name, the
model and the data is checked here, before the database is touched, so rejected input writes
nothing (:func:`prepare`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.search.engine._pool_base import WorkerPool
from hpsearch.search.engine._run_checks import build_task, validate_run
from hpsearch.search.engine._trial_config import build_trial_config
from hpsearch.search.outputs import DashboardOptions, check_bind
from hpsearch.search.policy import grid_size
from hpsearch.search.records import StudyMeta
from hpsearch.spaces import (
    SAMPLERS,
    IssueCollector,
    SearchSpace,
    SpaceIssue,
    TaskSpec,
    load_space,
)
from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage import StorageLocation, StudyPaths, resolve_storage, validate_study_name
from hpsearch.trainers import ConfigError, input_problems

DEFAULT_SPACE = "lora_small"


class InputError(HpsearchError, ValueError):
    """Bad input found before anything was written (maps to exit code 2)."""

    exit_code = EXIT_BAD_INPUT


@dataclass
class RunRequest:
    """One ``hpsearch run``/``resume``, from the CLI's flags or :func:`hpsearch.search.run`."""

    space: str | SearchSpace | None = None  # a built-in name, a YAML path or a loaded space
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
    # SIGINT/SIGTERM become a clean hand-over (the CLI); the Python API leaves the process's
    # handlers alone (a notebook keeps its Ctrl-C: a KeyboardInterrupt hands over the same way).
    handle_signals: bool = True
    # Where trials run: "ray" (the default), "inprocess" (threads of this process, no Ray), or
    # a WorkerPool object (e.g. a SimulatedPool; its size is the number of workers).
    pool: str | WorkerPool = "ray"
    # The driver's cadences, in seconds of the pool's clock: looks for stale trials, and
    # status lines (a live view switches those off).
    reap_interval: float = 5.0
    status_interval: float = 15.0


@dataclass
class Prepared:
    location: StorageLocation
    study_name: str
    meta: StudyMeta | None  # None: the study exists and its stored settings are used
    budget: int | None  # None: this run gives no trial count (the stored or space's one)


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


def first_eval_step(meta: StudyMeta) -> int:
    """The first step at which a trial reports (the pruner's warm-up is counted from it)."""
    task = meta.task
    if task.fidelity == "tokens":
        batch_param = meta.space.param("effective_batch_size")
        batch = int(getattr(batch_param, "value", 16) or 16)
        return task.eval_steps * batch * task.max_seq_length
    return task.eval_steps


def max_step(meta: StudyMeta) -> int | None:
    """A trial's last step when its budget is counted in steps (None: counted in tokens)."""
    return meta.task.max_steps if meta.task.fidelity == "steps" else None


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
        if request.study is None:
            raise InputError("resume needs the name of the study to continue")
        validate_study_name(request.study)
        return Prepared(location, request.study, None, request.trials)
    if request.space is None and request.study is not None:
        # An existing study continues with its stored space; checked once the storage is open.
        validate_study_name(request.study)
        return Prepared(location, request.study, None, request.trials)
    space = (
        request.space
        if isinstance(request.space, SearchSpace)
        else load_space(request.space or DEFAULT_SPACE)
    )
    # Every problem at once: the space, the task, the model and the data.
    found = IssueCollector()
    task = build_task(space, request.task, found)
    # With a compute budget, a trial count applies only when written or given (--trials).
    budget = request.trials if request.trials is not None else space.trials
    if SAMPLERS.get(space.sampler.type).needs_grid_space and request.trials is None:
        size = grid_size(space)
        budget = size if budget is None else min(budget, size)
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
        compute_budget=space.compute_budget,
        checkpoint_root=root.resolve(),
        command=request.command,
    )
    return Prepared(location, study_name, meta, budget)
