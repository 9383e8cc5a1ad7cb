"""The study a run works on: an existing one's stored settings (with this run's changes), or a
new one's settings and warm-start trials, worked out without writing (:func:`plan`) and
written under the study lock (:func:`load_existing` with ``emit``, :func:`create_study`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from hpsearch.search.engine._run_request import (
    InputError,
    Prepared,
    RunRequest,
    first_eval_step,
    max_step,
)
from hpsearch.search.policy import build_pruner, build_sampler
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
from hpsearch.spaces import warm_start_issues
from hpsearch.storage import (
    ResilientRDBStorage,
    StudyNotFoundError,
    create_or_load_study,
    list_study_names,
    load_existing_study,
    open_existing_storage,
    study_exists,
)


def load_existing(
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
        if storage is None:  # plan() passes the storage whenever there is an earlier study
            raise StudyNotFoundError(source, [], prepared.location.display)
        earlier = load_existing_study(storage, source, prepared.location.display)
        try:
            best = earlier.best_trial
        except ValueError:
            raise InputError(f"study {source!r} has no complete trial to warm-start from") from None
        # Fixed parameters are the new space's to decide; any other name must be the space's.
        fixed = {p.name for p in meta.space.params if p.kind == "fixed"}
        params = {k: v for k, v in best.params.items() if k not in fixed}
        bad = warm_start_issues(meta.space.params, params, f"best trial {best.number}")
        if bad:
            raise InputError(f"cannot warm-start from study {source!r}: {bad[0]}")
        if not params:
            raise InputError(
                f"the best trial of {source!r} shares no parameter with space "
                f"{meta.space.name!r}; nothing to warm-start from"
            )
        out.append((params, f"best of study {source} (trial {best.number})"))
    out += [(dict(p), "space warm_start") for p in meta.space.warm_start]
    return out


def create_study(
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


def open_study(
    storage: ResilientRDBStorage, prepared: Prepared, meta: StudyMeta, workers: int
) -> optuna.Study:
    """The study object with this run's sampler and pruner."""
    return optuna.load_study(
        study_name=prepared.study_name,
        storage=storage,
        sampler=build_sampler(meta.space, n_workers=workers),
        pruner=build_pruner(
            meta.space,
            first_eval_step=first_eval_step(meta),
            max_step=max_step(meta),
        ),
    )


@dataclass
class Plan:
    """What this run will write, worked out without writing (``storage`` None: no database or
    schema yet; created only once every check has passed)."""

    storage: ResilientRDBStorage | None
    meta: StudyMeta
    first: list[tuple[dict[str, Any], str]]  # warm-start trials of a new study


def plan(prepared: Prepared, request: RunRequest) -> Plan:
    location = prepared.location
    if prepared.meta is None:
        # Continuing a study (``resume``, ``run --study`` without ``--space``): it must exist,
        # and nothing is created until it is found.
        existing = open_existing_storage(location)
        if existing is None or not study_exists(existing, prepared.study_name):
            names = list_study_names(existing) if existing is not None else []
            raise StudyNotFoundError(prepared.study_name, names, location.display)
        return Plan(existing, load_existing(existing, prepared, request, None), [])
    new_file = location.sqlite_path is not None and not Path(location.sqlite_path).exists()
    storage = None if new_file else open_existing_storage(location)
    if storage is not None and study_exists(storage, prepared.study_name):
        return Plan(storage, load_existing(storage, prepared, request, None), [])
    if storage is None and request.warm_start_from is not None:
        raise StudyNotFoundError(request.warm_start_from, [], location.display)
    first = _warm_start(storage, prepared, prepared.meta, request.warm_start_from)
    return Plan(storage, prepared.meta, first)
