"""Storage errors a user can act on; every message names the database and holds no password."""

from __future__ import annotations


class StorageUnavailableError(RuntimeError):
    """The database cannot be reached (message is password-free)."""


class StoragePathError(RuntimeError):
    """The embedded database's file or folder cannot be used (message names the path)."""


class StorageNotFoundError(LookupError):
    """A reading command named a database that does not exist or holds no study."""
