"""Study-wide reads answered by a few SQL statements, whatever the study's size: counts, the
newest step of every trial, trial summaries and the marks hpsearch writes on finished trials.

A mixin of :class:`~hpsearch.storage.ResilientRDBStorage` (its connection retries apply).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.orm import Session

from hpsearch.storage.optuna_internals import rdb_models as models
from hpsearch.storage.optuna_internals import (
    rdb_session,
    trial_completed_column,
    trial_started_column,
)

__all__ = ["StudyQueries"]


class StudyQueries:
    """Read-only queries over one study (mixed into the RDB storage)."""

    def _session(self) -> AbstractContextManager[Session]:
        storage: Any = self  # a ResilientRDBStorage
        return rdb_session(storage)

    def trial_counts(
        self, study_id: int, distinct_user_attr: str | Sequence[str]
    ) -> tuple[int, int, int]:
        """(trials, WAITING trials, distinct values of the user attribute(s)
        ``distinct_user_attr``) of a study, counted by the database in one statement, whatever
        the study's size. With several keys, a value is counted once whichever key holds it
        (the trials superseded by a retry or a promotion: ``retry_of``, ``promoted_from``)."""
        keys = [distinct_user_attr] if isinstance(distinct_user_attr, str) else distinct_user_attr
        trials = models.TrialModel
        attrs = models.TrialUserAttributeModel
        in_study = trials.study_id == study_id
        count = sqlalchemy.func.count
        total = sqlalchemy.select(count()).where(in_study).scalar_subquery()
        waiting = (
            sqlalchemy.select(count())
            .where(in_study, trials.state == TrialState.WAITING)
            .scalar_subquery()
        )
        distinct = (
            sqlalchemy.select(count(sqlalchemy.distinct(attrs.value_json)))
            .join(trials, trials.trial_id == attrs.trial_id)
            .where(in_study, attrs.key.in_(list(keys)))
            .scalar_subquery()
        )
        with self._session() as session:
            row = session.execute(sqlalchemy.select(total, waiting, distinct)).one()
        return int(row[0]), int(row[1]), int(row[2])

    def trial_last_steps(self, study_id: int) -> dict[int, int]:
        """Trial id -> the newest step of its intermediate values, for every trial of a study
        that reported one: one grouped query (compute accounting without learning curves)."""
        trials, steps = models.TrialModel, models.TrialIntermediateValueModel
        with self._session() as session:
            rows = (
                session.query(steps.trial_id, sqlalchemy.func.max(steps.step))
                .join(trials, trials.trial_id == steps.trial_id)
                .filter(trials.study_id == study_id)
                .group_by(steps.trial_id)
                .all()
            )
        return {int(trial_id): int(step) for trial_id, step in rows if step is not None}

    def trial_summaries(self, study_id: int, user_attr_keys: Sequence[str]) -> list[FrozenTrial]:
        """Every trial of a study with only its number, state, first objective value, start
        and end times and the user attributes named in ``user_attr_keys``: no parameters,
        learning curves or other attributes. Three queries, whatever the study's size; what
        an overview of a study with tens of thousands of trials needs, in a fraction of the
        time ``get_all_trials`` takes."""
        trials, values, attrs = (
            models.TrialModel,
            models.TrialValueModel,
            models.TrialUserAttributeModel,
        )
        with self._session() as session:
            rows = (
                session.query(
                    trials.trial_id,
                    trials.number,
                    trials.state,
                    trial_started_column(),
                    trial_completed_column(),
                )
                .filter(trials.study_id == study_id)
                .all()
            )
            value_rows = (
                session.query(values.trial_id, values.value, values.value_type)
                .join(trials, trials.trial_id == values.trial_id)
                .filter(trials.study_id == study_id, values.objective == 0)
                .all()
            )
            attr_rows = (
                session.query(attrs.trial_id, attrs.key, attrs.value_json)
                .join(trials, trials.trial_id == attrs.trial_id)
                .filter(trials.study_id == study_id, attrs.key.in_(list(user_attr_keys)))
                .all()
            )
        value_of = {
            trial_id: values.stored_repr_to_value(value, kind)
            for trial_id, value, kind in value_rows
        }
        attrs_of: dict[int, dict[str, Any]] = {}
        for trial_id, key, value_json in attr_rows:
            attrs_of.setdefault(trial_id, {})[key] = json.loads(value_json)
        out = [
            FrozenTrial(
                number=number,
                state=state,
                value=value_of.get(trial_id),
                datetime_start=_as_local(started),
                datetime_complete=_as_local(completed),
                params={},
                distributions={},
                user_attrs=attrs_of.get(trial_id, {}),
                system_attrs={},
                intermediate_values={},
                trial_id=trial_id,
            )
            for trial_id, number, state, started, completed in rows
        ]
        return sorted(out, key=lambda t: t.number)

    def trial_marks(self, study_id: int, keys: Sequence[str]) -> dict[int, dict[str, Any]]:
        """Trial id -> {key: value} of the user attributes ``keys`` on the study's trials: one
        query. For attributes written on FINISHED trials (``promoted_to``,
        ``paused_checkpoint_deleted``), which Optuna's trial cache never re-reads."""
        trials, attrs = models.TrialModel, models.TrialUserAttributeModel
        with self._session() as session:
            rows = (
                session.query(attrs.trial_id, attrs.key, attrs.value_json)
                .join(trials, trials.trial_id == attrs.trial_id)
                .filter(trials.study_id == study_id, attrs.key.in_(list(keys)))
                .all()
            )
        marks: dict[int, dict[str, Any]] = {}
        for trial_id, key, value_json in rows:
            marks.setdefault(int(trial_id), {})[key] = json.loads(value_json)
        return marks


def _as_local(when: datetime | None) -> datetime | None:
    """Optuna stores naive UTC and hands out naive local time; do the same."""
    if when is None:
        return None
    return when.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
