"""Storage errors a user can act on; every message names the database and holds no password."""

from __future__ import annotations

from hpsearch.spaces.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, HpsearchError


class StorageUnavailableError(HpsearchError, RuntimeError):
    """The database cannot be reached (message is password-free)."""

    hint: str | None = (
        "check that the database is running and the URL is right "
        "(pg_isready -h HOST -p PORT); see docs/operations.md"
    )
    exit_code = EXIT_UNAVAILABLE


class StorageSchemaError(StorageUnavailableError):
    """The database's Optuna schema is not this Optuna's: older (upgrade the storage) or
    newer (upgrade Optuna). Nothing was written to it."""

    hint = None  # the message says what to run


class StoragePathError(HpsearchError, RuntimeError):
    """The embedded database's file or folder cannot be used (message names the path)."""

    exit_code = EXIT_BAD_INPUT


class StorageNotFoundError(HpsearchError, LookupError):
    """A reading command named a database that does not exist or holds no study."""

    exit_code = EXIT_BAD_INPUT
