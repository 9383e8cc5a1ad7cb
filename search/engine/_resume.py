"""Where a retried or promoted trial starts, and the disk rule for paused trials.

A trial with ``retry_of`` or ``promoted_from`` continues its lineage: it resumes from the newest
committed checkpoint of any trial before it (:meth:`Ledger.lineage` follows both keys) and
records that checkpoint's step as ``resumed_at_step``. A promoted successor also gets copies of
its paused predecessor's intermediate values up to that step, so the dashboard shows one curve
and the pruner sees the whole curve (it skips the copies when it counts a rung's values).

The disk rule: a paused trial keeps its checkpoint while it may still be promoted. Once the
pruner shows it can never be (its rank in its rung is beyond what the rest of the budget could
lift it to), the driver deletes the checkpoint folders of its lineage and records
``paused_checkpoint_deleted``; it is then an ordinary pruned trial.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from hpsearch.search.records import Ledger, build_ledger
from hpsearch.search.records import attributes as A
from hpsearch.storage import (
    ResilientRDBStorage,
    StorageLocation,
    study_id_of,
    study_lock,
    trial_id_of,
)
from hpsearch.trainers import list_checkpoints, newest_complete

# The marks written on FINISHED (paused) trials, by any driver: Optuna's trial cache never
# re-reads a finished trial, so they are read back from the database.
_FINISHED_MARKS = (A.PROMOTED_TO, A.PAUSED_CHECKPOINT_DELETED)


def current_trials(study: optuna.Study, storage: ResilientRDBStorage) -> list[FrozenTrial]:
    """Every trial as the database has it now, at the cost of one cache sync and one query:
    the study's cached trials (Optuna re-reads new and unfinished ones) with the marks of
    ``_FINISHED_MARKS`` as the database holds them (another driver may have written them)."""
    marks = storage.trial_marks(study_id_of(study), _FINISHED_MARKS)
    out = []
    for trial in study.get_trials(deepcopy=False):
        fresh = marks.get(trial_id_of(trial), {})
        stale = {k: v for k, v in fresh.items() if trial.user_attrs.get(k) != v}
        if stale:
            trial = copy.copy(trial)
            trial.user_attrs = {**trial.user_attrs, **stale}
        out.append(trial)
    return out


@dataclass(frozen=True)
class ResumePoint:
    """Where a continuing trial starts."""

    checkpoint: str | None  # the checkpoint folder (None: from the first step)
    step: int  # its step (0 without one): ``resumed_at_step``
    copied: dict[int, float]  # a promotion's predecessor values at steps <= step


def resume_point(
    trial: FrozenTrial, ledger: Ledger, checkpoints_dir: Callable[[int], Path]
) -> ResumePoint | None:
    """The resume point of a retry or a promotion (None: an original trial)."""
    attrs = trial.user_attrs
    if attrs.get(A.RETRY_OF) is None and attrs.get(A.PROMOTED_FROM) is None:
        return None
    chain = ledger.lineage(trial)[1:]
    checkpoint = newest_complete(checkpoints_dir(t.number) for t in chain)
    step = checkpoint.step if checkpoint is not None else 0
    copied: dict[int, float] = {}
    promoted_from = attrs.get(A.PROMOTED_FROM)
    if promoted_from is not None:
        paused = ledger.by_number().get(int(promoted_from))
        if paused is not None:
            copied = {s: v for s, v in paused.intermediate_values.items() if s <= step}
    return ResumePoint(str(checkpoint.path) if checkpoint else None, step, copied)


def copy_values(storage: ResilientRDBStorage, trial_id: int, values: dict[int, float]) -> None:
    """Write a promotion's copied curve into the successor (before its first own report)."""
    for step in sorted(values):
        storage.set_trial_intermediate_value(trial_id, step, values[step])


def apply_disk_rule(
    study: optuna.Study,
    location: StorageLocation,
    storage: ResilientRDBStorage,
    *,
    max_retries: int,
    more_configurations: Callable[[Ledger], Callable[[int], int]],
    checkpoints_dir: Callable[[int], Path],
) -> list[int]:
    """Free the checkpoints of every paused trial that can no longer be promoted; returns
    their numbers. The choice and the mark are made under the study lock on the trials the
    database has (so no driver promotes a trial whose checkpoint is being deleted)."""
    pruner = study.pruner
    if not hasattr(pruner, "unpromotable"):
        return []
    with study_lock(location, study.study_name):
        trials = current_trials(study, storage)
        ledger = build_ledger(trials, max_retries)
        doomed: list[FrozenTrial] = pruner.unpromotable(trials, more_configurations(ledger), study)
        for trial in doomed:
            storage.mark_finished_trial(trial_id_of(trial), {A.PAUSED_CHECKPOINT_DELETED: True})
    for trial in doomed:
        for member in ledger.lineage(trial):
            for _, folder in list_checkpoints(checkpoints_dir(member.number)):
                shutil.rmtree(folder, ignore_errors=True)
    return [t.number for t in doomed]
