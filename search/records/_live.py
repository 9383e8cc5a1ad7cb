"""What a live view of a running study shows: the overview and each running trial's progress.

Cheap for big studies: the overview reads lean trial rows (:func:`overview`), and the running
trials' newest intermediate values come from one query over running trials only, where the
storage offers it (hpsearch's PostgreSQL/SQLite storage: ``running_progress``).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records._overview import StudyOverview, overview


@dataclass(frozen=True)
class RunningRow:
    """One running trial: its newest reported step and objective value."""

    number: int
    step: int | None
    value: float | None
    running_for_s: float


@dataclass(frozen=True)
class LiveStudy:
    """A study as a live view shows it, read at ``read_at`` (``time.monotonic()``)."""

    overview: StudyOverview
    running: tuple[RunningRow, ...]
    max_step: int | None = None  # the trials' last step, where the task fixes it
    read_at: float = field(default_factory=time.monotonic)


def running_rows(storage: BaseStorage, study_id: int) -> tuple[RunningRow, ...]:
    lean = getattr(storage, "running_progress", None)
    if lean is not None:
        return tuple(RunningRow(r.number, r.step, r.value, r.running_for_s) for r in lean(study_id))
    now = dt.datetime.now()  # Optuna hands out naive local times
    rows = []
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        step = max(trial.intermediate_values, default=None)
        started = trial.datetime_start
        rows.append(
            RunningRow(
                trial.number,
                step,
                None if step is None else trial.intermediate_values[step],
                max(0.0, (now - started).total_seconds()) if started else 0.0,
            )
        )
    return tuple(sorted(rows, key=lambda r: r.number))


def max_step_of(user_attrs: dict[str, Any]) -> int | None:
    """The last step a trial reports, from the study's stored task (None: not fixed)."""
    task = user_attrs.get(A.STUDY_TASK)
    if not isinstance(task, dict) or task.get("fidelity", "steps") != "steps":
        return None
    steps = task.get("max_steps")
    return int(steps) if isinstance(steps, (int, float)) and math.isfinite(steps) else None


def live_study(storage: BaseStorage, study_id: int, max_step: int | None = None) -> LiveStudy:
    """The study's overview and running trials, read now."""
    if max_step is None:
        max_step = max_step_of(storage.get_study_user_attrs(study_id))
    return LiveStudy(overview(storage, study_id), running_rows(storage, study_id), max_step)
