"""Opening a study storage: for a run (creates what is missing) or for reading (creates nothing).

* The first connection is checked without retries, so an unreachable database is reported at
  once with a clear message and nothing is written.
* Schema creation is serialised with a lock, so many processes can start on an empty database.
* Commands that only read (``status``, ``best``, ``report``, ``studies``, ``dashboard``, and
  ``resume`` until it knows the study exists) use :func:`open_existing_storage`: no SQLite
  file, folder, lock file or table is created, on any database.
* Every message names the database (:attr:`StorageLocation.display`) and no password.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy import exc as sa_exc

from hpsearch.storage._errors import (
    StorageNotFoundError,
    StoragePathError,
    StorageSchemaError,
    StorageUnavailableError,
)
from hpsearch.storage._locks import schema_lock
from hpsearch.storage._rdb import ResilientRDBStorage
from hpsearch.storage._secrets import redact
from hpsearch.storage._studies import StudyNotFoundError, load_existing_study
from hpsearch.storage._urls import StorageLocation

ENV_RETRY_SECONDS = "HPSEARCH_DB_RETRY_SECONDS"
CONNECT_TIMEOUT_S = 10
_OPTUNA_TABLES = ("studies", "version_info")


def engine_kwargs(location: StorageLocation) -> dict[str, Any]:
    if location.is_sqlite:
        # Several processes share the file: wait for the write lock instead of failing.
        return {"connect_args": {"timeout": 60}}
    return {
        "pool_pre_ping": True,
        "pool_size": 2,
        "max_overflow": 4,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S},
    }


def _where(location: StorageLocation) -> str:
    return {"flag": "--storage", "env": "HPSEARCH_STORAGE"}.get(location.source, "the default")


def _check_sqlite_writable(location: StorageLocation) -> None:
    """The folder exists (created if needed) and SQLite can write its file and journal."""
    assert location.sqlite_path is not None
    path = location.sqlite_path
    if path.is_dir():
        raise StoragePathError(f"the embedded database {path} is a folder; name a file")
    fix = "pass --storage sqlite:///A/WRITABLE/FOLDER/hpsearch.db or set HPSEARCH_HOME"
    folder = next((p for p in path.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise StoragePathError(
            f"cannot create the embedded database {path}: {folder} is a file, not a folder; {fix}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):  # SQLite writes its journal there
            pass
        if path.exists():
            with open(path, "ab"):
                pass
    except OSError as exc:
        where = f"file {path}" if path.exists() else f"folder {path.parent}"
        raise StoragePathError(
            f"cannot write the embedded database {path}: {exc.strerror or exc} on the {where}; "
            f"{fix}"
        ) from None


def _connection_failure(location: StorageLocation, exc: sa_exc.SQLAlchemyError) -> Exception:
    reason = redact(str(getattr(exc, "orig", exc)).strip().splitlines()[0])
    database = sqlalchemy.engine.make_url(location.url).database
    if database and f'database "{database}" does not exist' in reason:
        return StorageNotFoundError(
            f"database {database!r} does not exist on the server of {location.display}; "
            f"create it (createdb {database}) or fix {_where(location)}"
        )
    return StorageUnavailableError(f"cannot reach the database at {location.display}: {reason}")


def check_reachable(location: StorageLocation, *, create: bool = True) -> None:
    """Connect once, without retries; raise :class:`StorageUnavailableError` if that fails.

    For the embedded database with ``create``: its folder is created and must be writable.
    """
    if location.sqlite_path is not None:
        if create:
            _check_sqlite_writable(location)
        return
    engine = sqlalchemy.create_engine(location.url, **engine_kwargs(location))
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sa_exc.SQLAlchemyError as exc:
        raise _connection_failure(location, exc) from None
    finally:
        engine.dispose()


def _storage(location: StorageLocation, *, create_schema: bool) -> ResilientRDBStorage:
    kwargs = engine_kwargs(location)
    try:
        if create_schema:
            with schema_lock(location):
                storage = ResilientRDBStorage(location.url, engine_kwargs=kwargs)
        else:
            storage = ResilientRDBStorage(
                location.url, engine_kwargs=kwargs, skip_table_creation=True
            )
    except sa_exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StorageUnavailableError(
            f"cannot open the study storage at {location.display}: {redact(reason)}"
        ) from None
    except RuntimeError as exc:  # Optuna's schema-version check
        raise _schema_error(exc, location) from None
    storage.retry_seconds = float(os.environ.get(ENV_RETRY_SECONDS, "300"))
    return storage


def open_storage(
    location: StorageLocation, *, check: bool = True, create_schema: bool = True
) -> ResilientRDBStorage:
    """An Optuna RDB storage for ``location``; the schema is created if missing."""
    if check:
        check_reachable(location, create=create_schema)
    return _storage(location, create_schema=create_schema)


def _has_schema(location: StorageLocation) -> bool:
    engine = sqlalchemy.create_engine(location.url, **engine_kwargs(location))
    try:
        inspector = sqlalchemy.inspect(engine)
        return all(inspector.has_table(table) for table in _OPTUNA_TABLES)
    except sa_exc.SQLAlchemyError as exc:
        raise _connection_failure(location, exc) from None
    finally:
        engine.dispose()


def open_existing_storage(location: StorageLocation) -> ResilientRDBStorage | None:
    """The storage at ``location`` if it holds Optuna's tables, else None (no study yet).

    Creates nothing: no SQLite file or folder, no lock file, no table. A SQLite file named by
    ``--storage`` or ``HPSEARCH_STORAGE`` that does not exist is an error (a mistyped path);
    the default embedded database that was never created simply has no study.
    """
    path = location.sqlite_path
    if path is not None:
        if path.is_dir():
            raise StoragePathError(f"the embedded database {path} is a folder; name a file")
        if not path.exists():
            if location.source == "default":
                return None
            raise StorageNotFoundError(
                f"no database file {path}: check {_where(location)} (hpsearch run creates it; "
                "reading commands never do)"
            )
    else:
        check_reachable(location, create=False)
    if not _has_schema(location):
        return None
    return _storage(location, create_schema=False)


def load_study_read_only(location: StorageLocation, name: str) -> optuna.Study:
    """Study ``name`` at ``location``; :class:`StudyNotFoundError` if it (or the database's
    schema) does not exist. Nothing is created."""
    storage = open_existing_storage(location)
    if storage is None:
        raise StudyNotFoundError(name, [], location.display)
    return load_existing_study(storage, name, location.display)


def require_studies(location: StorageLocation) -> ResilientRDBStorage:
    """The existing storage at ``location``; :class:`StorageNotFoundError` if it has no study."""
    storage = open_existing_storage(location)
    if storage is None:
        raise StorageNotFoundError(
            f"no studies in {location.display} yet; start one with: hpsearch run --space lora_small"
        )
    return storage


__all__ = [
    "check_reachable",
    "engine_kwargs",
    "load_study_read_only",
    "open_existing_storage",
    "open_storage",
    "require_studies",
]


def _schema_error(exc: RuntimeError, location: StorageLocation) -> StorageUnavailableError:
    """Optuna's two-sentence schema-version error as one line naming the storage and the
    command to run (Optuna's own text names neither)."""
    text = str(exc)
    if "table schema" not in text:
        return StorageUnavailableError(redact(text))
    found = re.search(r"set up by optuna ([^)\s]+)\)", text)
    by = f"set up by Optuna {found.group(1)}, " if found else ""
    runtime = f"this is Optuna {optuna.__version__}"
    if "optuna storage upgrade" in text:
        return StorageSchemaError(
            f"the study storage at {location.display} has an older Optuna schema ({by}{runtime}); "
            f"back it up, then upgrade it with: optuna storage upgrade --storage "
            f"'{location.display}'"
        )
    return StorageSchemaError(
        f"the study storage at {location.display} has a newer Optuna schema than this "
        f"Optuna knows ({by}{runtime}); upgrade Optuna (pip install -U optuna) and hpsearch"
    )
