"""Cross-process locks kept in the study's own database (no private tables).

PostgreSQL: session-level advisory locks (``pg_advisory_lock``), released by the server if the
holder dies. SQLite: an ``flock`` on a file beside the database. Both are used for two short
critical sections: creating the schema on an empty database, and deciding whether the study's
budget allows one more trial (so parallel drivers never push a study past its budget).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

import sqlalchemy

from hpsearch.storage._errors import StoragePathError

if TYPE_CHECKING:
    from hpsearch.storage._urls import StorageLocation


def _key(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=8)
def _lock_engine(url: str) -> sqlalchemy.Engine:
    # Pooled: a new PostgreSQL connection is a new server process (~10 ms), and the study lock
    # is taken for every trial created. A connection whose unlock failed is invalidated, never
    # returned to the pool still holding the lock.
    return sqlalchemy.create_engine(
        url,
        pool_size=1,
        max_overflow=4,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )


def _connect_and_lock(
    engine: sqlalchemy.Engine, key: int, name: str, timeout: float
) -> sqlalchemy.Connection:
    """A connection holding the advisory lock; rides out a database restart."""
    deadline = time.monotonic() + timeout
    retry_until = time.monotonic() + float(os.environ.get("HPSEARCH_DB_RETRY_SECONDS", "300"))
    while True:
        try:
            conn = engine.connect()
            try:
                while not conn.execute(
                    sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                ).scalar():
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"timed out after {timeout:.0f}s waiting for lock {name!r}"
                        )
                    time.sleep(0.01)
            except BaseException:
                conn.close()
                raise
            return conn
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
            if time.monotonic() > retry_until:
                raise
            time.sleep(0.5)  # the server is restarting: try again


@contextmanager
def _advisory_lock(location: StorageLocation, name: str, timeout: float) -> Iterator[None]:
    key = _key(name)
    conn = _connect_and_lock(_lock_engine(location.url), key, name, timeout)
    try:
        yield
    finally:
        try:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        except sqlalchemy.exc.SQLAlchemyError:
            # Connection gone (the server released the lock with it) or in an unknown state:
            # discard it rather than pool a connection that may still hold the lock.
            conn.invalidate()
        finally:
            conn.close()


@contextmanager
def _file_lock(location: StorageLocation, name: str) -> Iterator[None]:
    assert location.sqlite_path is not None
    suffix = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    path = location.sqlite_path.with_name(f".{location.sqlite_path.name}.{suffix}.lock")
    try:
        handle = open(path, "a+")  # noqa: SIM115 - closed below
    except OSError as exc:  # name the database, not this internal file
        raise StoragePathError(
            f"cannot use the embedded database {location.sqlite_path}: {exc.strerror or exc} "
            f"on its folder {path.parent}; pass --storage sqlite:///A/WRITABLE/FOLDER/hpsearch.db "
            "or set HPSEARCH_HOME"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def named_lock(location: StorageLocation, name: str, timeout: float = 120.0) -> Iterator[None]:
    """Hold the cross-process lock ``name`` on ``location`` for the ``with`` block."""
    if location.is_postgresql:
        with _advisory_lock(location, name, timeout):
            yield
    elif location.sqlite_path is not None:
        with _file_lock(location, name):
            yield
    else:  # pragma: no cover - resolve_storage only produces the two dialects above
        raise ValueError(f"no lock support for the {location.dialect} dialect")


def schema_lock(location: StorageLocation) -> AbstractContextManager[None]:
    """Serialise Optuna's table creation among processes starting on an empty database."""
    return named_lock(location, "hpsearch:schema", timeout=300.0)


def study_lock(location: StorageLocation, study_name: str) -> AbstractContextManager[None]:
    """Serialise budget decisions (and trial creation) for one study."""
    return named_lock(location, f"hpsearch:study:{study_name}")
