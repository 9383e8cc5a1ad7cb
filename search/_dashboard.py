"""Start and stop the dashboard server (optuna-dashboard) as a child process.

Security model (docs/dashboard.md): the dashboard has no authentication and can change or
delete trials and studies, so it binds the loopback interface unless told otherwise with an
explicit flag, and the storage URL (which may hold a password) reaches the child through its
environment, not its command line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hpsearch.storage import ENV_STORAGE, StorageLocation

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SERVER_MODULE = "hpsearch.search._dashboard_server"
REMOTE_WARNING = (
    "the dashboard listens on {host}, reachable from other machines; it has no "
    "authentication and anyone who reaches it can change or delete trials and studies. "
    "Prefer an SSH tunnel or a reverse proxy with authentication (docs/dashboard.md)"
)


class DashboardBindError(ValueError):
    """A non-loopback address was asked for without the explicit flag."""


class DashboardStartError(RuntimeError):
    """The dashboard server could not start (port in use, storage unreachable)."""

    def __init__(self, message: str, kind: str = "start") -> None:
        super().__init__(message)
        self.kind = kind


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> str | None:
    """None for a loopback host; the warning to print for an allowed remote one."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise DashboardBindError(
            f"refusing to serve the dashboard on {host}: it has no authentication and can "
            "change or delete trials, so only loopback addresses (127.0.0.1, ::1) are "
            "allowed without --allow-remote"
        )
    return REMOTE_WARNING.format(host=host)


def url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return DEFAULT_HOST
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@dataclass
class DashboardHandle:
    """A running dashboard server; ``stop()`` ends it (also on ``with`` exit)."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}/dashboard"

    def study_url(self, study_id: int) -> str:
        return f"{self.url}/studies/{study_id}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DashboardHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_command(
    host: str, port: int, ready_file: Path, artifacts_dir: Path | None, access_log: bool
) -> list[str]:
    """The child's argv: no storage URL, nothing secret."""
    argv = [sys.executable, "-m", SERVER_MODULE, "--host", host, "--port", str(port)]
    argv += ["--ready-file", str(ready_file), "--parent-pid", str(os.getpid())]
    if artifacts_dir is not None:
        argv += ["--artifacts-dir", str(artifacts_dir)]
    if access_log:
        argv.append("--access-log")
    return argv


def start_dashboard(
    location: StorageLocation,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts_dir: Path | None = None,
    allow_remote: bool = False,
    log_path: Path | None = None,
    access_log: bool = False,
    startup_timeout: float = 60.0,
) -> DashboardHandle:
    """Start optuna-dashboard on ``location`` and return once it listens.

    ``port=0`` takes any free port (see :attr:`DashboardHandle.port`). Output goes to
    ``log_path`` when given, else to this process's stderr.
    """
    check_bind(host, allow_remote)
    env = {**os.environ, ENV_STORAGE: location.url}
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - closed by DashboardHandle.stop
    with tempfile.TemporaryDirectory(prefix="hpsearch-dashboard-") as tmp:
        ready = Path(tmp) / "ready.json"
        process = subprocess.Popen(
            server_command(host, port, ready, artifacts_dir, access_log),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=log if log is not None else None,
        )
        handle = DashboardHandle(process, host, port, log_path, log)
        try:
            info = _wait_ready(process, ready, startup_timeout)
        except BaseException:
            handle.stop()
            raise
    handle.port = int(info["port"])
    return handle


def _wait_ready(process: subprocess.Popen[bytes], ready: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            info: dict[str, Any] = json.loads(ready.read_text())
            if "error" in info:
                process.wait(10)
                raise DashboardStartError(str(info["error"]), str(info.get("kind", "start")))
            return info
        code = process.poll()
        if code is not None:
            raise DashboardStartError(f"the dashboard server exited with code {code} at start")
        time.sleep(0.1)
    raise DashboardStartError(f"the dashboard server did not start within {timeout:g}s")


@dataclass(frozen=True)
class DashboardOptions:
    """``hpsearch run --dashboard`` settings."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow_remote: bool = False


@contextlib.contextmanager
def dashboard_beside_run(
    options: DashboardOptions | None,
    location: StorageLocation,
    study: Any,
    artifacts_dir: Path,
    emit: Callable[[str], None],
    warn: Callable[[str], None] | None = None,
) -> Iterator[DashboardHandle | None]:
    """Serve the dashboard while a study runs (``options`` None: do nothing)."""
    if options is None:
        yield None
        return
    warning = check_bind(options.host, options.allow_remote)
    if warning:
        (warn or emit)(warning)
    handle = start_dashboard(
        location,
        host=options.host,
        port=options.port,
        artifacts_dir=artifacts_dir,
        allow_remote=options.allow_remote,
        log_path=artifacts_dir.parent / "dashboard.log",
    )
    emit(f"Dashboard: {handle.study_url(study._study_id)} (stops with this run)")
    try:
        yield handle
    finally:
        handle.stop()
