"""Storage errors a user can act on; every message names the database and holds no password."""

from __future__ import annotations


class StorageUnavailableError(RuntimeError):
    """The database cannot be reached (message is password-free)."""


class StorageSchemaError(StorageUnavailableError):
    """The database's Optuna schema is not this Optuna's: older (upgrade the storage) or
    newer (upgrade Optuna). Nothing was written to it."""


class StoragePathError(RuntimeError):
    """The embedded database's file or folder cannot be used (message names the path)."""


class StorageNotFoundError(LookupError):
    """A reading command named a database that does not exist or holds no study."""
