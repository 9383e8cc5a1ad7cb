"""The Python API: run, resume and read studies from a script or a notebook.

The ``hpsearch`` command is a thin layer over these functions (``hpsearch run`` builds the same
:class:`~hpsearch.search.engine.RunRequest` from its flags). Errors are raised, never turned
into an exit: each carries the one-line message the command prints. Nothing here configures
logging or warnings, and a run installs no signal handlers unless asked
(``handle_signals=True``): in a notebook Ctrl-C raises :class:`KeyboardInterrupt` as usual,
after the running trials were handed over to retries (``resume`` continues them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import optuna
from optuna.trial import FrozenTrial

from hpsearch.search.engine import InputError, RunRequest, RunResult, WorkerPool, execute
from hpsearch.search.outputs import DashboardOptions, require_best
from hpsearch.spaces import SearchSpace
from hpsearch.spaces import load_space as _load_space_ref
from hpsearch.storage import load_study_read_only, resolve_storage

Emit: TypeAlias = Callable[[str], None]
SpaceRef: TypeAlias = "str | os.PathLike[str] | SearchSpace"


def load_space(space: SpaceRef) -> SearchSpace:
    """A search space from a built-in name (``"lora_small"``), a YAML file path, or an already
    loaded :class:`~hpsearch.spaces.SearchSpace` (returned as is). Raises
    :class:`~hpsearch.spaces.SpaceError` listing every problem of an invalid space."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, os.PathLike):
        return _load_space_ref(os.fspath(space))
    if isinstance(space, str):
        return _load_space_ref(space)
    raise TypeError(
        f"space must be a built-in space name, a YAML file path or a SearchSpace, "
        f"got {type(space).__name__}"
    )


def _count(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def run_request(
    space: SpaceRef | None,
    *,
    study: str | None = None,
    storage: str | None = None,
    task: Mapping[str, Any] | None = None,
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    warm_start_from: str | None = None,
    debug: bool = False,
    handle_signals: bool = False,
    command: str = "",
    dashboard: DashboardOptions | None = None,
    live: bool = False,
) -> RunRequest:
    """The request :func:`run` executes (``hpsearch run`` builds its own through this too)."""
    if task is not None and not isinstance(task, Mapping):
        raise InputError(f"task must be a mapping of task fields, got {type(task).__name__}")
    return RunRequest(
        space=space if isinstance(space, SearchSpace) else _text("space", space),
        study=_text("study", study),
        storage=_text("storage", storage),
        trials=_count("trials", trials),
        task=dict(task or {}),
        checkpoint_dir=_text("checkpoint_dir", checkpoint_dir),
        workers=_count("workers", workers),
        address=_text("address", address),
        debug=debug,
        command=command,
        dashboard=dashboard,
        warm_start_from=_text("warm_start_from", warm_start_from),
        live=live,
        handle_signals=handle_signals,
    )


def resume_request(
    study: str,
    *,
    storage: str | None = None,
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    debug: bool = False,
    handle_signals: bool = False,
    command: str = "",
    dashboard: DashboardOptions | None = None,
    live: bool = False,
) -> RunRequest:
    """The request :func:`resume` executes (``hpsearch resume`` builds its own through this):
    :func:`run_request`'s with no space, for a study that must exist."""
    if _text("study", study) is None:
        raise InputError("resume needs the name of the study to continue")
    request = run_request(
        None,
        study=study,
        storage=storage,
        trials=trials,
        workers=workers,
        address=address,
        checkpoint_dir=checkpoint_dir,
        debug=debug,
        handle_signals=handle_signals,
        command=command,
        dashboard=dashboard,
        live=live,
    )
    return dataclasses.replace(request, resume_only=True)


def run(
    space: SpaceRef | None,
    *,
    study: str | None = None,
    storage: str | None = None,
    task: Mapping[str, Any] | None = None,
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    warm_start_from: str | None = None,
    emit: Emit = print,
    debug: bool = False,
    handle_signals: bool = False,
    pool: str | WorkerPool = "ray",
) -> optuna.Study:
    """Run (or continue) a study until ``trials`` trials are finished; returns the study.

    ``space``: a built-in name, a YAML path or a :class:`~hpsearch.spaces.SearchSpace` (None:
    continue the existing ``study`` with its stored space). ``task``: task fields that override
    the space's ``task`` section (``{"model": ..., "dataset": ...}``). ``storage``: a database
    URL (default ``$HPSEARCH_STORAGE``, else the embedded SQLite file). ``workers``: parallel
    trials; ``address``: an existing Ray cluster (default: a private local Ray for this run).
    ``pool``: where trials run: ``"ray"`` (default), ``"inprocess"`` (threads of this process,
    no Ray) or a :class:`~hpsearch.search.engine.WorkerPool` object (e.g. a simulated pool).
    Progress lines go to ``emit``. The same checks as ``hpsearch run``: bad input raises before
    anything is written.
    """
    request = run_request(
        space,
        study=study,
        storage=storage,
        task=task,
        trials=trials,
        workers=workers,
        address=address,
        checkpoint_dir=checkpoint_dir,
        warm_start_from=warm_start_from,
        debug=debug,
        handle_signals=handle_signals,
        command="hpsearch.search.run()",
    )
    return _finish(execute(dataclasses.replace(request, pool=pool), emit), emit)


def resume(
    study: str,
    *,
    storage: str | None = None,
    trials: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    emit: Emit = print,
    debug: bool = False,
    handle_signals: bool = False,
    pool: str | WorkerPool = "ray",
) -> optuna.Study:
    """Continue study ``study`` with its stored settings until its budget (or a new ``trials``)
    is met; interrupted trials continue from their last checkpoint (``pool`` as for
    :func:`run`). Returns the study."""
    request = resume_request(
        study,
        storage=storage,
        trials=trials,
        workers=workers,
        address=address,
        checkpoint_dir=checkpoint_dir,
        debug=debug,
        handle_signals=handle_signals,
        command="hpsearch.search.resume()",
    )
    return _finish(execute(dataclasses.replace(request, pool=pool), emit), emit)


def _finish(result: RunResult, emit: Emit) -> optuna.Study:
    for line in result.summary.lines:
        emit(line)
    return result.study


def best(study: str | optuna.Study, *, storage: str | None = None) -> FrozenTrial:
    """The best complete trial of ``study`` (a name in ``storage``, or a loaded study).

    Raises :class:`~hpsearch.search.outputs.NoBestTrialError` while no trial is complete and
    :class:`~hpsearch.storage.StudyNotFoundError` (listing the studies there) for a wrong name.
    Reading creates nothing.
    """
    return best_of(study, storage=storage)[1]


def best_of(
    study: str | optuna.Study, *, storage: str | None = None
) -> tuple[optuna.Study, FrozenTrial]:
    """:func:`best` with the study it read (``hpsearch best`` prints both)."""
    if isinstance(study, optuna.Study):
        if storage is not None:
            raise InputError("storage is for a study given by name; a loaded study has its own")
        return study, require_best(study)
    name = _text("study", study)
    if name is None:
        raise InputError("best needs a study name or a loaded study")
    loaded = load_study_read_only(resolve_storage(storage), name)
    return loaded, require_best(loaded)
