"""One error model: every error hpsearch raises for a user is an HpsearchError, and the CLI
maps every other error through one table (no isinstance chain to keep in step)."""

from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
import sqlalchemy

import hpsearch.search
import hpsearch.spaces
import hpsearch.storage
import hpsearch.trainers
from hpsearch.search import HpsearchError
from hpsearch.search.cli import TRANSLATIONS, describe
from hpsearch.search.cli.main import main
from hpsearch.search.engine import Interrupted, RayConnectError
from hpsearch.search.outputs import DashboardStartError
from hpsearch.spaces.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNAVAILABLE,
)
from hpsearch.storage import StorageSchemaError, StorageUnavailableError
from hpsearch.trainers import OutOfMemoryError

# Exceptions that never leave their module: control flow inside one function.
_PRIVATE_SIGNALS = {"_LimitExceeded", "_Unlisted"}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (hpsearch.spaces, hpsearch.storage, hpsearch.trainers, hpsearch.search):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__
                    and name not in _PRIVATE_SIGNALS
                ):
                    found[f"{obj.__module__}.{name}"] = obj
    return list(found.values())


def test_every_hpsearch_exception_is_an_hpsearch_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 30, [c.__name__ for c in classes]
    strays = [c.__qualname__ for c in classes if not issubclass(c, HpsearchError)]
    assert strays == [], f"base these on hpsearch.search.HpsearchError: {strays}"
    for cls in classes:
        assert isinstance(cls.exit_code, int) and cls.exit_code != 0, cls


def test_historical_builtin_bases_still_catch() -> None:
    """``except ValueError`` around a space check still catches a SpaceError, and so on."""
    assert issubclass(hpsearch.spaces.SpaceError, ValueError)
    assert issubclass(hpsearch.storage.StudyNotFoundError, LookupError)
    assert issubclass(StorageUnavailableError, RuntimeError)


def test_an_error_carries_its_message_hint_and_code() -> None:
    failure = describe(StorageUnavailableError("cannot reach the database at db:5432"))
    assert failure.message == "cannot reach the database at db:5432"
    assert failure.hint is not None and "pg_isready" in failure.hint
    assert failure.code == EXIT_UNAVAILABLE
    # a subclass overrides: the schema message already says what to run
    assert describe(StorageSchemaError("upgrade it with: optuna storage upgrade")).hint is None
    # per instance, where the case decides
    assert "RAY_TMPDIR" in str(describe(RayConnectError("no", local=True)).hint)
    assert "ray start" in str(describe(RayConnectError("no")).hint)
    bind = describe(DashboardStartError("port in use", kind="bind"))
    assert (bind.code, bind.hint) == (EXIT_BAD_INPUT, "pass another --port (0 picks a free one)")
    assert describe(DashboardStartError("boom")).code == EXIT_UNAVAILABLE
    oom = describe(OutOfMemoryError("CUDA out of memory"))
    assert oom.code == EXIT_BAD_INPUT and "--model/--dataset" in str(oom.hint)


def test_keyboard_interrupt_is_described_as_the_driver_interruption() -> None:
    assert describe(KeyboardInterrupt()) == describe(Interrupted())
    failure = describe(KeyboardInterrupt())
    assert failure.code == EXIT_INTERRUPTED and failure.hint == "hpsearch resume STUDY"
    assert failure.message.startswith("interrupted: running trials were handed over")


def test_path_errors_name_the_path() -> None:
    failure = describe(PermissionError(errno.EACCES, "Permission denied", "/srv/ckpt"))
    assert (failure.message, failure.code) == ("Permission denied: /srv/ckpt", EXIT_BAD_INPUT)
    read_only = describe(OSError(errno.EROFS, "Read-only file system", "/mnt/ro"))
    assert read_only.message == "Read-only file system: /mnt/ro"
    # another OSError is not a path the user named
    assert describe(ConnectionResetError(errno.ECONNRESET, "reset")).code == EXIT_FAILED


def test_a_lost_database_is_unavailable_not_unexpected() -> None:
    engine = sqlalchemy.create_engine("postgresql+psycopg2://u:s3cret@127.0.0.1:1/db")
    with pytest.raises(sqlalchemy.exc.OperationalError) as info:
        engine.connect()
    failure = describe(info.value)
    assert failure.code == EXIT_UNAVAILABLE
    assert failure.message.startswith("lost the database connection: ")
    assert "\n" not in failure.message
    assert failure.hint == StorageUnavailableError.hint


def test_a_lost_ray_cluster_is_unavailable() -> None:
    import ray.exceptions

    failure = describe(ray.exceptions.RaySystemError("GCS went away"))
    assert failure.code == EXIT_UNAVAILABLE
    assert failure.message == "lost the Ray cluster: RaySystemError: System error: GCS went away"


def test_anything_else_is_unexpected_with_the_debug_hint() -> None:
    failure = describe(ZeroDivisionError("division by zero\nsecond line"))
    assert failure.message == "unexpected error: ZeroDivisionError: division by zero"
    assert failure.hint == "run again with --debug for the full traceback"
    assert failure.code == EXIT_FAILED


def test_every_translation_names_an_importable_type() -> None:
    for dotted in TRANSLATIONS:
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, BaseException), dotted


def test_debug_still_prints_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{tmp_path}/missing.yaml"
    assert main(["spaces", "validate", missing]) == EXIT_BAD_INPUT
    plain = capsys.readouterr().err
    assert "Traceback" not in plain and plain.count("error:") == 1
    assert main(["--debug", "spaces", "validate", missing]) == EXIT_BAD_INPUT
    assert "Traceback (most recent call last)" in capsys.readouterr().err
