"""RDBStorage wiring: connection health checks, reconnects, and a race-free schema setup.

* ``pool_pre_ping`` drops dead pooled connections (a restarted PostgreSQL) before use.
* :class:`ResilientRDBStorage` retries an operation that failed because the connection was
  lost, with backoff, for up to ``HPSEARCH_DB_RETRY_SECONDS`` (default 300 s), so workers and
  the driver ride out a database restart instead of failing live trials.
* No attribute written through it holds a database password (:func:`redact_value`).

Opening one (connection check, schema creation, read-only opening) is in
:mod:`hpsearch.storage._open`.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from sqlalchemy import exc as sa_exc

from hpsearch.storage._rdb_queries import StudyQueries
from hpsearch.storage._secrets import redact_value
from hpsearch.storage.optuna_internals import (
    RDB_PRIVATE_METHODS,
    rdb_session,
    trial_started_column,
)
from hpsearch.storage.optuna_internals import rdb_models as models

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) means the database connection was lost."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.ResourceClosedError):
            return True
        current = current.__cause__ or current.__context__
    return False


def _retrying(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                return method(self, *args, **kwargs)
            except (optuna.exceptions.StorageInternalError, sa_exc.SQLAlchemyError) as exc:
                if not is_connection_error(exc) or time.monotonic() >= deadline:
                    raise
                _logger.warning(
                    "database connection lost during %s; retrying in %.1fs", method.__name__, delay
                )
                self.engine.dispose()
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    return wrapper  # type: ignore[return-value]


_RETRIED_METHODS = (
    "running_trials",
    "running_progress",
    "trial_summaries",
    "set_trial_user_attrs",
    "mark_finished_trial",
    "trial_counts",
    "trial_last_steps",
    "trial_marks",
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
    "get_n_trials",
    "get_best_trial",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "record_heartbeat",
    *RDB_PRIVATE_METHODS,  # Optuna's own callers (Study, _CachedStorage on its backend)
)


_TRIALS, _VALUES = models.TrialModel.__table__, models.TrialIntermediateValueModel.__table__
_bind = sqlalchemy.bindparam
_TRIAL_STATE = sqlalchemy.select(_TRIALS.c.state).where(_TRIALS.c.trial_id == _bind("b_trial_id"))
_UPDATE_VALUE = (
    _VALUES.update()
    .where(_VALUES.c.trial_id == _bind("b_trial_id"), _VALUES.c.step == _bind("b_step"))
    .values(intermediate_value=_bind("b_value"), intermediate_value_type=_bind("b_kind"))
)
_USER_ATTRS = models.TrialUserAttributeModel.__table__
_UPDATE_USER_ATTR = (
    _USER_ATTRS.update()
    .where(_USER_ATTRS.c.trial_id == _bind("b_trial_id"), _USER_ATTRS.c.key == _bind("b_key"))
    .values(value_json=_bind("b_json"))
)
_INSERT_USER_ATTR = _USER_ATTRS.insert().values(
    trial_id=_bind("b_trial_id"), key=_bind("b_key"), value_json=_bind("b_json")
)
_INSERT_VALUE = _VALUES.insert().values(
    trial_id=_bind("b_trial_id"),
    step=_bind("b_step"),
    intermediate_value=_bind("b_value"),
    intermediate_value_type=_bind("b_kind"),
)


@dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial and how long ago it last showed signs of life."""

    trial_id: int
    number: int
    heartbeat_age_s: float | None  # None: no heartbeat recorded yet
    started_age_s: float

    @property
    def silent_for_s(self) -> float:
        return self.started_age_s if self.heartbeat_age_s is None else self.heartbeat_age_s


@dataclass(frozen=True)
class RunningProgress:
    """A RUNNING trial, how long it has run, and its newest intermediate value."""

    trial_id: int
    number: int
    running_for_s: float
    step: int | None  # None: nothing reported yet
    value: float | None


class ResilientRDBStorage(StudyQueries, RDBStorage):
    """``RDBStorage`` whose operations survive a lost database connection."""

    retry_seconds: float = 300.0

    def running_trials(self, study_id: int) -> list[RunningTrial]:
        """RUNNING trials of a study with their heartbeat age, in one query.

        Unlike Optuna's own stale check, a trial that never recorded a heartbeat (its creator
        was killed right after ``ask``) is reported too, aged from its start time.
        """
        with rdb_session(self) as session:
            db_now = session.execute(sqlalchemy.func.now()).scalar()
            assert db_now is not None
            db_now = db_now.replace(tzinfo=None)
            rows = (
                session.query(
                    models.TrialModel.trial_id,
                    models.TrialModel.number,
                    trial_started_column(),
                    models.TrialHeartbeatModel.heartbeat,
                )
                .outerjoin(
                    models.TrialHeartbeatModel,
                    models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id,
                )
                .filter(models.TrialModel.study_id == study_id)
                .filter(models.TrialModel.state == TrialState.RUNNING)
                .all()
            )
        utc_now = datetime.now(timezone.utc).replace(tzinfo=None)  # Optuna stores naive UTC
        out = []
        for trial_id, number, started, heartbeat in rows:
            started_age = (utc_now - started).total_seconds() if started else 0.0
            beat_age = None
            if heartbeat is not None:
                beat_age = (db_now - heartbeat.replace(tzinfo=None)).total_seconds()
            out.append(RunningTrial(trial_id, number, beat_age, started_age))
        return out

    def running_progress(self, study_id: int) -> list[RunningProgress]:
        """The RUNNING trials of a study with their newest intermediate value, in one query:
        only running trials' rows are read, whatever the study's size (a live view's data)."""
        trials, values = models.TrialModel, models.TrialIntermediateValueModel
        running = sqlalchemy.and_(trials.study_id == study_id, trials.state == TrialState.RUNNING)
        newest = (
            sqlalchemy.select(values.trial_id, sqlalchemy.func.max(values.step).label("step"))
            .join(trials, trials.trial_id == values.trial_id)
            .where(running)
            .group_by(values.trial_id)
            .subquery()
        )
        with rdb_session(self) as session:
            rows = session.execute(
                sqlalchemy.select(
                    trials.trial_id,
                    trials.number,
                    trial_started_column(),
                    newest.c.step,
                    values.intermediate_value,
                    values.intermediate_value_type,
                )
                .outerjoin(newest, newest.c.trial_id == trials.trial_id)
                .outerjoin(
                    values,
                    sqlalchemy.and_(
                        values.trial_id == newest.c.trial_id, values.step == newest.c.step
                    ),
                )
                .where(running)
                .order_by(trials.number)
            ).all()
        utc_now = datetime.now(timezone.utc).replace(tzinfo=None)  # Optuna stores naive UTC
        return [
            RunningProgress(
                trial_id,
                number,
                max(0.0, (utc_now - started).total_seconds()) if started else 0.0,
                step,
                None if step is None else values.stored_repr_to_intermediate_value(value, kind),
            )
            for trial_id, number, started, step, value, kind in rows
        ]

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        """Optuna's write (the same rows, checks and errors) as three prepared statements on
        the session's connection: Optuna's ORM path loads the trial and its whole learning
        curve for every report, three times the cost of the write itself."""
        values = models.TrialIntermediateValueModel
        stored, kind = values.intermediate_value_to_stored_repr(intermediate_value)
        row = {"b_trial_id": trial_id, "b_step": step, "b_value": stored, "b_kind": kind}
        with rdb_session(self) as session:
            conn = session.connection()
            state = conn.execute(_TRIAL_STATE, row).scalar_one_or_none()
            if state is None:
                raise KeyError(models.NOT_FOUND_MSG)
            self.check_trial_is_updatable(trial_id, state)
            if conn.execute(_UPDATE_VALUE, row).rowcount == 0:
                conn.execute(_INSERT_VALUE, row)

    # Every attribute hpsearch, Optuna or optuna-dashboard writes passes here: no database
    # password reaches the study, whichever text (command line, note, error) carries it.
    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_user_attr(study_id, key, redact_value(value))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_system_attr(study_id, key, redact_value(value))

    def _set_trial_attr_without_commit(
        self, session: Any, model_cls: Any, trial_id: int, key: str, value: Any
    ) -> None:
        super()._set_trial_attr_without_commit(
            session, model_cls, trial_id, key, redact_value(value)
        )

    def set_trial_user_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """Several user attributes of a running trial in one transaction (one round trip
        instead of one per attribute)."""
        if not attrs:
            return
        # Optuna's checks (the trial exists and is not finished) once, then one prepared update
        # (or insert) per attribute: the ORM path loads the trial again for every attribute.
        with rdb_session(self, ignore_integrity_error=True) as session:
            conn = session.connection()
            state = conn.execute(_TRIAL_STATE, {"b_trial_id": trial_id}).scalar_one_or_none()
            if state is None:
                raise KeyError(models.NOT_FOUND_MSG)
            self.check_trial_is_updatable(trial_id, state)
            for key, value in attrs.items():
                row = {
                    "b_trial_id": trial_id,
                    "b_key": key,
                    "b_json": json.dumps(redact_value(value)),
                }
                if conn.execute(_UPDATE_USER_ATTR, row).rowcount == 0:
                    conn.execute(_INSERT_USER_ATTR, row)

    def mark_finished_trial(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """User attributes on a trial in any state, a finished one included (Optuna refuses
        those): hpsearch's marks on paused trials (``promoted_to``,
        ``paused_checkpoint_deleted``), written under the study lock. One transaction.
        Optuna's trial cache never re-reads a finished trial: read them back from here."""
        table = models.TrialUserAttributeModel
        with rdb_session(self) as session:
            for key, value in attrs.items():
                text = json.dumps(redact_value(value))
                row = (
                    session.query(table)
                    .filter(table.trial_id == trial_id, table.key == key)
                    .one_or_none()
                )
                if row is None:
                    session.add(table(trial_id=trial_id, key=key, value_json=text))
                else:
                    row.value_json = text


for _name in _RETRIED_METHODS:
    if hasattr(ResilientRDBStorage, _name):
        setattr(ResilientRDBStorage, _name, _retrying(getattr(ResilientRDBStorage, _name)))
