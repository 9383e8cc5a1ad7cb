"""The one adapter over Optuna's private names: nothing else in hpsearch touches them.

Optuna's public API has no way to get a study's storage or ids, to make ``Study`` drop its
per-thread trial cache, or to query its SQL tables in bulk; hpsearch needs all of these (the
budget, the locks, the lean overview queries). Every such use goes through this module, and
``tests/storage/test_optuna_adapter.py`` pins each private name it touches against the
installed Optuna (it exists, has the type or signature assumed here, and behaves as assumed),
so an Optuna upgrade that changes one fails that test instead of a study.

What it touches:

* ``Study._storage``, ``Study._study_id``, ``Trial._trial_id`` / ``FrozenTrial._trial_id``;
* ``Study._thread_local.cached_all_trials`` (what ``Study.ask`` resets);
* ``optuna.storages._rdb.models`` (the ORM models; ``TrialModel._datetime_start_utc`` and
  ``_datetime_complete_utc`` are their column attributes), ``MAX_INDEXED_STRING_LENGTH``, and
  ``optuna.storages._rdb.storage._create_scoped_session``;
* RDBStorage's private methods :class:`~hpsearch.storage.ResilientRDBStorage` wraps or
  overrides (:data:`RDB_PRIVATE_METHODS`, ``_set_trial_attr_without_commit``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models as rdb_models
from optuna.storages._rdb.models import MAX_INDEXED_STRING_LENGTH
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "MAX_INDEXED_STRING_LENGTH",
    "RDB_PRIVATE_METHODS",
    "FrozenStudy",
    "forget_cached_trials",
    "rdb_models",
    "rdb_session",
    "storage_of",
    "study_id_of",
    "trial_completed_column",
    "trial_id_of",
    "trial_started_column",
]

# RDBStorage's private methods that Optuna itself calls (Study, or _CachedStorage on its
# backend): ResilientRDBStorage retries them like the public ones.
RDB_PRIVATE_METHODS = (
    "_get_stale_trial_ids",
    "_get_trials",
    "_create_new_trial",
    "_set_trial_param",
    "_get_best_trial_id",
)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes through (Optuna's caching wrapper of an RDB one):
    writes made through it are seen by the study's own cache."""
    storage: BaseStorage = study._storage
    return storage


def study_id_of(study: optuna.Study | FrozenStudy) -> int:
    """The study's id in its storage (what every storage method takes)."""
    return int(study._study_id)


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    """A trial's id in its storage (unique across studies, unlike its number)."""
    return int(trial._trial_id)


def forget_cached_trials(study: optuna.Study) -> None:
    """Drop the study's per-thread trial cache, as ``Study.ask`` does before it builds a
    trial: the next sampler call reads the trials once, then uses the cache."""
    study._thread_local.cached_all_trials = None


def rdb_session(
    storage: RDBStorage, *, ignore_integrity_error: bool = False
) -> AbstractContextManager[Session]:
    """A session on the storage's database that commits on success and rolls back (raising
    Optuna's ``StorageInternalError``) on a database error, as RDBStorage's own methods do."""
    session: AbstractContextManager[Session] = _create_scoped_session(
        storage.scoped_session, ignore_integrity_error
    )
    return session


def trial_started_column() -> Any:
    """``TrialModel``'s start-time column (naive UTC)."""
    return rdb_models.TrialModel._datetime_start_utc


def trial_completed_column() -> Any:
    """``TrialModel``'s completion-time column (naive UTC)."""
    return rdb_models.TrialModel._datetime_complete_utc
