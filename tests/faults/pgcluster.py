"""A private PostgreSQL cluster that a test may stop, restart or crash.

The shared server at 127.0.0.1:5432 serves every developer's tests at once and must never be
restarted by one of them. Tests that need a database restart start their own cluster instead:
``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``, run as the ``postgres`` user (the
server refuses to run as root), in a temporary folder, on a free loopback port, trust auth.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SUPERUSER = "postgres"


class ClusterUnavailable(RuntimeError):
    """A private cluster cannot be started here (no PostgreSQL binaries, not root, ...)."""


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        raise ClusterUnavailable("no /usr/lib/postgresql/*/bin/pg_ctl")
    return candidates[-1].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One throwaway cluster: ``start()``, ``restart()``, ``stop()``, ``url(database)``."""

    def __init__(self, *, max_connections: int = 300) -> None:
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting a cluster as user postgres needs root (runuser)")
        if shutil.which("runuser") is None:
            raise ClusterUnavailable("runuser is not installed")
        self.bin = _bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="hpg", dir="/tmp"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.max_connections = max_connections
        self.restarts = 0
        shutil.chown(self.base, SUPERUSER, SUPERUSER)

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", SUPERUSER, "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
        )

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        done = self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            *args,
            timeout=timeout,
        )
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            done = self._as_postgres(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            )
            if done.returncode != 0:
                raise ClusterUnavailable(f"initdb failed: {done.stderr.strip()[:500]}")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
            f"-c max_connections={self.max_connections} -c fsync=off"
        )
        self._pg_ctl("-w", "-t", "60", "-o", options, "start")
        return self

    def restart(self, mode: str = "fast") -> None:
        """Restart the server: ``fast`` disconnects every client cleanly, ``immediate`` is a
        crash (no shutdown checkpoint; the server runs crash recovery when it starts)."""
        self._pg_ctl("-w", "-t", "60", "-m", mode, "restart")
        self.restarts += 1

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-w", "-t", "60", "-m", "immediate", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def is_ready(self) -> bool:
        done = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return done.returncode == 0

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(
                [
                    str(self.bin / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qc",
                    sql,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{sql!r} failed: {done.stderr.strip()}")
            time.sleep(0.5)  # e.g. still in crash recovery after an immediate restart

    def create_database(self, prefix: str = "hpsearch_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
