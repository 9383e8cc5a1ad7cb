"""Where a study lives: ``--storage URL``, ``HPSEARCH_STORAGE``, or an embedded SQLite file.

The URL may hold a password. It is kept only in :attr:`StorageLocation.url`; everything meant
for people (messages, logs, exceptions, the dashboard's command line) uses
:attr:`StorageLocation.display` or goes through :func:`redact`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_STORAGE = "HPSEARCH_STORAGE"
ENV_HOME = "HPSEARCH_HOME"
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2")

_SECRETS: set[str] = set()


class StorageURLError(ValueError):
    """The storage URL is malformed or names an unsupported database."""


def hpsearch_home(env: Mapping[str, str] | None = None) -> Path:
    """``$HPSEARCH_HOME`` or ``~/.hpsearch``: the embedded database and its checkpoints."""
    env = os.environ if env is None else env
    return Path(env.get(ENV_HOME) or Path.home() / ".hpsearch").expanduser()


@dataclass(frozen=True)
class StorageLocation:
    """A resolved storage choice. ``url`` is secret; print ``display``."""

    url: str = field(repr=False)
    display: str
    dialect: str
    source: str  # "flag", "env" or "default"
    sqlite_path: Path | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def default_checkpoint_root(self) -> Path:
        """Beside the embedded database; under ``HPSEARCH_HOME`` for a server database."""
        if self.sqlite_path is not None:
            return self.sqlite_path.parent / "checkpoints"
        return hpsearch_home() / "checkpoints"


def resolve_storage(
    flag: str | None = None, env: Mapping[str, str] | None = None
) -> StorageLocation:
    """Resolve the storage from the flag, then ``HPSEARCH_STORAGE``, then the embedded default."""
    env = os.environ if env is None else env
    if flag:
        return parse_storage_url(flag, source="flag")
    if env.get(ENV_STORAGE):
        return parse_storage_url(env[ENV_STORAGE], source="env")
    path = hpsearch_home(env) / "hpsearch.db"
    return parse_storage_url(f"sqlite:///{path}", source="default")


def parse_storage_url(url: str, source: str = "flag") -> StorageLocation:
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = url.split("@")[-1] if "@" in url else url
        raise StorageURLError(
            f"storage URL '...{shown}' is not a database URL; expected e.g. "
            "postgresql://user@host:5432/db or sqlite:///path/to/hpsearch.db"
        ) from None
    dialect = parsed.get_backend_name()
    if parsed.drivername not in SUPPORTED_SCHEMES:
        raise StorageURLError(
            f"storage scheme {parsed.drivername!r} is not supported; use one of "
            + ", ".join(SUPPORTED_SCHEMES)
        )
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; hpsearch ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
        url = parsed.render_as_string(hide_password=False)
    if parsed.password:
        _SECRETS.add(str(parsed.password))
    display = parsed.render_as_string(hide_password=True)
    sqlite_path = None
    if dialect == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StorageURLError(
                "an in-memory SQLite database cannot be shared with trial workers; "
                "name a file: sqlite:///path/to/hpsearch.db"
            )
        sqlite_path = Path(parsed.database).expanduser().resolve()
        url = f"sqlite:///{sqlite_path}"
        display = url
    return StorageLocation(
        url=url, display=display, dialect=dialect, source=source, sqlite_path=sqlite_path
    )


def redact(text: str) -> str:
    """Remove every database password hpsearch has seen from ``text``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
