"""Where a study lives: ``--storage URL``, ``HPSEARCH_STORAGE``, or an embedded SQLite file.

The URL may hold a password. It is kept only in :attr:`StorageLocation.url`; everything meant
for people or for the study (messages, logs, exceptions, the stored command line) uses
:attr:`StorageLocation.display` or goes through :func:`redact`
(:mod:`hpsearch.storage._secrets`), which knows every password a parsed URL held.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage._secrets import (
    SECRET_QUERY_KEYS,
    redact,
    redact_storage_value,
    register_secret,
    register_secrets_in,
)

ENV_STORAGE = "HPSEARCH_STORAGE"
ENV_HOME = "HPSEARCH_HOME"
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2")


class StorageURLError(HpsearchError, ValueError):
    """The storage URL is malformed or names an unsupported database."""

    exit_code = EXIT_BAD_INPUT


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
    if flag is not None:  # given, even if empty: never silently fall back to another storage
        return parse_storage_url(flag, source="flag")
    if env.get(ENV_STORAGE, "").strip():
        return parse_storage_url(env[ENV_STORAGE], source="env")
    path = hpsearch_home(env) / "hpsearch.db"
    return parse_storage_url(f"sqlite:///{path}", source="default")


def _shown(url: str) -> str:
    """``url`` as a message may quote it: password-free, one line, bounded."""
    text = redact_storage_value(" ".join(url.split()))
    return text if len(text) <= 120 else text[:117] + "..."


_EXAMPLES = "e.g. postgresql://USER@HOST:5432/DATABASE or sqlite:///path/to/hpsearch.db"


def _make_url(url: str) -> URL:
    if not url.strip():
        raise StorageURLError(f"the storage URL is empty; pass one, {_EXAMPLES}")
    if "://" not in url and "=" in url:
        raise StorageURLError(
            f"storage {_shown(url)!r} looks like a libpq keyword string (host=... dbname=...); "
            f"hpsearch takes a URL, {_EXAMPLES} (keep the password in ~/.pgpass)"
        )
    try:
        return make_url(url)
    except ArgumentError:
        raise StorageURLError(
            f"storage URL {_shown(url)!r} is not a database URL; expected {_EXAMPLES}"
        ) from None
    except ValueError as exc:  # int(port) inside SQLAlchemy
        detail = redact(str(exc).rpartition(": ")[2])
        raise StorageURLError(
            f"storage URL {_shown(url)!r} has an invalid port {detail}; expected a number "
            f"from 1 to 65535, {_EXAMPLES}"
        ) from None


def _check_postgresql(url: str, parsed: URL, display: str) -> None:
    """Everything libpq would otherwise fill in from its defaults (the OS user's database on
    the local socket) must be written out; bad percent-escapes must not change a password."""
    head = url.split("?", 1)[0]
    try:
        unquote(head, errors="strict")
        bad_escape = re.search(r"%(?![0-9A-Fa-f]{2})", head) is not None
    except UnicodeDecodeError:
        bad_escape = True
    if bad_escape:
        raise StorageURLError(
            f"storage URL {display!r} has a '%' that is not a valid percent-escape (%XX of "
            "UTF-8 bytes); write a literal '%' in the user name, password or database as %25"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise StorageURLError(
            f"storage URL {display!r} has port {parsed.port}; expected a number from 1 to 65535"
        )
    if parsed.host and "@" in parsed.host:
        raise StorageURLError(
            f"storage URL {display!r} has more than one '@'; write an '@' in the user name or "
            "password as %40"
        )
    if not (parsed.host or parsed.query.get("host")):
        raise StorageURLError(
            f"storage URL {display!r} names no host; write it out (hpsearch does not fall back "
            "to libpq's defaults), e.g. postgresql://USER@127.0.0.1:5432/DATABASE"
        )
    if not (parsed.database or parsed.query.get("dbname")):
        raise StorageURLError(
            f"storage URL {display!r} names no database; write it out (hpsearch does not fall "
            "back to libpq's default, the database named after your OS user), e.g. "
            f"postgresql://USER@{parsed.host or 'HOST'}:{parsed.port or 5432}/DATABASE"
        )


def _register_parsed_secrets(parsed: URL) -> None:
    register_secret(parsed.password and str(parsed.password))
    rendered = parsed.render_as_string(hide_password=False)
    match = re.match(r"[^:]+://[^:/@]*:([^@]*)@", rendered)
    if match:
        register_secret(match.group(1))  # SQLAlchemy's own percent-encoding
    for key in SECRET_QUERY_KEYS:
        values = parsed.query.get(key)
        for value in (values,) if isinstance(values, str) else values or ():
            register_secret(value)


def _shown_storage(value: str) -> str:
    """``value`` as the user wrote it, without its password (parsing registers it)."""
    with contextlib.suppress(StorageURLError):
        parse_storage_url(value)
    return redact_storage_value(value)


def display_command(argv: Sequence[str], prog: str = "hpsearch") -> str:
    """``argv`` as a shell command fit to store and show: every ``--storage`` value (also
    ``--storage=URL`` and argparse's abbreviations such as ``--sto``) is parsed, so its
    password is known even in a form no pattern recognises, and is then redacted, as is
    any other password in ``argv``."""
    out = [prog]
    storage_next = False
    for token in argv:
        flag, eq, value = token.partition("=")
        if storage_next:
            token, storage_next = _shown_storage(token), False
        elif len(flag) >= 5 and "--storage".startswith(flag):  # --sto: --st is also --study
            if eq:
                token = f"{flag}={_shown_storage(value)}"
            else:
                storage_next = True
        out.append(token)
    return redact(shlex.join(out))


def parse_storage_url(url: str, source: str = "flag") -> StorageLocation:
    """Parse and check a storage URL; every password in it is registered for :func:`redact`
    first, so no message, log or stored text shows it, even when ``url`` is malformed."""
    register_secrets_in(url)
    raw = url
    parsed = _make_url(url)
    _register_parsed_secrets(parsed)
    dialect = parsed.get_backend_name()
    display = redact(parsed.render_as_string(hide_password=True))
    if parsed.drivername not in SUPPORTED_SCHEMES:
        hint = " (write postgresql://)" if parsed.drivername == "postgres" else ""
        raise StorageURLError(
            f"storage scheme {parsed.drivername!r} is not supported{hint}; use one of "
            + ", ".join(SUPPORTED_SCHEMES)
        )
    if dialect == "postgresql":
        _check_postgresql(raw, parsed, display)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; hpsearch ships psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
        url = parsed.render_as_string(hide_password=False)
        display = redact(parsed.render_as_string(hide_password=True))
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
