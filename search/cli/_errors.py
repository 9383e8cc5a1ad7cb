"""Errors mapped to one clear line, the next command to run, and an exit code.

An :class:`~hpsearch.search.HpsearchError` carries its own message, hint and exit code. Any
other error is looked up in :data:`TRANSLATIONS`, a table from an exception type's dotted name
(``builtins.KeyboardInterrupt``, ``sqlalchemy.exc.OperationalError``) to its translation,
walking the type's MRO so the most specific entry wins; names rather than types, so that
mapping an error never imports sqlalchemy or ray. What is in neither is an "unexpected error"
(exit code 1) whose traceback ``--debug`` shows.

Every message goes through :func:`hpsearch.storage.redact` (in ``main``), so a database
password never reaches the terminal.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from hpsearch.spaces.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_UNAVAILABLE,
    HpsearchError,
)

__all__ = ["TRANSLATIONS", "Failure", "describe"]


@dataclass(frozen=True)
class Failure:
    message: str
    hint: str | None
    code: int


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _known(exc: HpsearchError) -> Failure:
    return Failure(exc.message, exc.hint, exc.exit_code)


def _interrupted(_: BaseException) -> Failure:
    from hpsearch.search.engine import Interrupted

    return _known(Interrupted())


def _path(exc: BaseException) -> Failure | None:
    """A path the user named is wrong: missing, a file where a folder is needed, read-only."""
    if not isinstance(exc, OSError):
        return None
    return Failure(f"{exc.strerror}: {exc.filename}", None, EXIT_BAD_INPUT)


def _read_only(exc: BaseException) -> Failure | None:
    return _path(exc) if getattr(exc, "errno", None) == errno.EROFS else None


def _database(exc: BaseException) -> Failure | None:
    """The database went away after the storage's own retries (or never answered)."""
    from hpsearch.storage import StorageUnavailableError, is_connection_error

    if not is_connection_error(exc):
        return None
    return Failure(
        f"lost the database connection: {_first_line(exc)}",
        StorageUnavailableError.hint,
        EXIT_UNAVAILABLE,
    )


def _ray(exc: BaseException) -> Failure:
    """Ray's cluster (GCS, raylet) went away under a running study."""
    from hpsearch.search.engine import RayConnectError

    return Failure(
        f"lost the Ray cluster: {type(exc).__name__}: {_first_line(exc)}",
        RayConnectError("", local=False).hint,
        EXIT_UNAVAILABLE,
    )


Translation = Callable[[BaseException], "Failure | None"]

# Third-party and builtin errors the CLI translates (None from a translation: not this case,
# look further up the MRO).
TRANSLATIONS: dict[str, Translation] = {
    "builtins.KeyboardInterrupt": _interrupted,
    "builtins.PermissionError": _path,
    "builtins.FileNotFoundError": _path,
    "builtins.IsADirectoryError": _path,
    "builtins.NotADirectoryError": _path,
    "builtins.FileExistsError": _path,
    "builtins.OSError": _read_only,
    "sqlalchemy.exc.OperationalError": _database,
    "sqlalchemy.exc.InterfaceError": _database,
    "optuna.exceptions.StorageInternalError": _database,
    "ray.exceptions.RaySystemError": _ray,
    "ray.exceptions.RpcError": _ray,
    "ray.exceptions.LocalRayletDiedError": _ray,
}


def describe(exc: BaseException) -> Failure:
    """The user-facing description of ``exc``; "resume it with ..." when the study was written."""
    from hpsearch.search.engine import RESUME_NOTE_PREFIX

    failure = _describe(exc)
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith(RESUME_NOTE_PREFIX)]
    if not notes or (failure.hint and "hpsearch resume" in failure.hint):
        return failure
    hint = notes[0] if failure.hint is None else f"{failure.hint}; {notes[0]}"
    return Failure(failure.message, hint, failure.code)


def _describe(exc: BaseException) -> Failure:
    if isinstance(exc, HpsearchError):
        return _known(exc)
    for cls in type(exc).__mro__:
        translate = TRANSLATIONS.get(f"{cls.__module__}.{cls.__qualname__}")
        failure = translate(exc) if translate is not None else None
        if failure is not None:
            return failure
    return Failure(
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)}",
        "run again with --debug for the full traceback",
        EXIT_FAILED,
    )
