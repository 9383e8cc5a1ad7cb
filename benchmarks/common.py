"""Helpers shared by the benchmarks and their tests: where the repository and the lcbench data
are, a throw-away PostgreSQL database, percentiles, markdown tables, the machine and versions
lines.

The database server is the local one the tests use (``127.0.0.1:5432``, trust auth, admin
database ``test``; override with ``HPSEARCH_BENCH_PG``, a URL of the admin database).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import uuid
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]  # the repository
# YAHPO Gym's lcbench data: read where they are (never copied), ``$HPSEARCH_LCBENCH_DATA`` or
# ``../shared/data/yahpo_lcbench`` beside the repository.
DATA_PATH = Path(
    os.environ.get("HPSEARCH_LCBENCH_DATA", ROOT / ".." / "shared" / "data" / "yahpo_lcbench")
)
ADMIN_URL = os.environ.get("HPSEARCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin(admin_url: str | None = None) -> Any:
    import psycopg2

    url = (admin_url or ADMIN_URL).replace("+psycopg2", "")
    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    return conn


def db_url(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` (psycopg2: SQLAlchemy 2.1 defaults to psycopg 3)."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{name}", "", ""))


def create_db(prefix: str, admin_url: str | None = None) -> str:
    """Create an empty database ``PREFIX_<random>`` on the server of ``admin_url`` (default
    ``ADMIN_URL``); returns its name. The tests' fixtures create theirs with this too."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = _admin(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def drop_db(name: str, admin_url: str | None = None) -> None:
    """Drop database ``name`` (closing its connections first); missing is fine."""
    conn = _admin(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


@contextlib.contextmanager
def fresh_db(prefix: str, url: str | None = None) -> Iterator[str]:
    """The URL of a new, empty database (dropped afterwards); ``url`` is used as is."""
    if url:
        yield url
        return
    name = create_db(prefix)
    try:
        yield db_url(name)
    finally:
        drop_db(name)


def pg_server_version() -> str:
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return str(cur.fetchone()[0]).split()[0]
    finally:
        conn.close()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation; None for no values."""
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 1, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def versions(*packages: str) -> str:
    parts = [f"Python {platform.python_version()}"]
    for name in packages:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB"
