"""Start and stop the dashboard server (optuna-dashboard) as a child process.

Security model (docs/dashboard.md): optuna-dashboard itself has no authentication and can
change or delete trials and studies, so the server wraps it in
:class:`~hpsearch.search.outputs._dashboard_guard.DashboardGuard`: read-only unless ``allow_write``,
and with ``allow_remote`` (or ``HPSEARCH_DASHBOARD_PASSWORD`` set) it needs a random token
printed at start or that password. It binds the loopback interface unless told otherwise with
an explicit flag. The storage URL (which may hold a password) and the token reach the child
through its environment, never its command line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hpsearch.search.outputs._dashboard_guard import ENV_PASSWORD, ENV_TOKEN
from hpsearch.spaces.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, HpsearchError
from hpsearch.storage import ENV_STORAGE, StorageLocation, study_id_of

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SERVER_MODULE = "hpsearch.search.outputs._dashboard_server"
REMOTE_WARNING = (
    "the dashboard listens on {host}, reachable from other machines: it asks for the token "
    "(or the password), but over plain HTTP anyone on the network path can read the pages and "
    "the token. Prefer an SSH tunnel or a reverse proxy with TLS (docs/dashboard.md)"
)


class DashboardBindError(HpsearchError, ValueError):
    """A non-loopback address was asked for without the explicit flag."""

    hint = (
        "keep the default 127.0.0.1 and reach it through an SSH tunnel "
        "(ssh -L 8080:127.0.0.1:8080 HOST), or pass --allow-remote, which requires the "
        "printed token or $HPSEARCH_DASHBOARD_PASSWORD; see docs/dashboard.md"
    )
    exit_code = EXIT_BAD_INPUT


class DashboardAuthError(HpsearchError, ValueError):
    """The dashboard password in the environment is unusable."""

    hint = (
        'e.g. export HPSEARCH_DASHBOARD_PASSWORD="$(openssl rand -base64 24)"; '
        "see docs/dashboard.md"
    )
    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class DashboardAccess:
    """What the server allows: writes or not, and how a request authenticates."""

    allow_write: bool = False
    auth: str = "none"  # "none", "token" (printed at start) or "password" (ENV_PASSWORD)
    token: str | None = field(default=None, repr=False)

    def describe(self, write_flag: str = "--allow-write") -> str:
        """One phrase for the startup line (never the token or the password)."""
        if self.allow_write:
            mode = "writes allowed: whoever opens it can change or delete trials and studies"
        else:
            mode = f"read-only; pass {write_flag} to change the study from it"
        if self.auth == "token":
            return f"{mode}; the token in the URL is required (new at every start)"
        if self.auth == "password":
            return f"{mode}; the password in {ENV_PASSWORD} is required (HTTP Basic)"
        return mode


def check_password_env(environ: Any = None) -> str | None:
    """The dashboard password from the environment; None when unset; empty is an error."""
    password = (os.environ if environ is None else environ).get(ENV_PASSWORD)
    if password is not None and not password:
        raise DashboardAuthError(
            f"{ENV_PASSWORD} is set but empty: set it to a long random password, or unset it "
            "to use the token hpsearch prints at start"
        )
    return password


def dashboard_access(
    allow_remote: bool, allow_write: bool = False, environ: Any = None
) -> DashboardAccess:
    """The access rules: a password when ``ENV_PASSWORD`` is set, else a fresh token when
    ``allow_remote``, else none (loopback only)."""
    if check_password_env(environ) is not None:
        return DashboardAccess(allow_write, "password")
    if allow_remote:
        return DashboardAccess(allow_write, "token", secrets.token_urlsafe(32))
    return DashboardAccess(allow_write, "none")


class DashboardStartError(HpsearchError, RuntimeError):
    """The dashboard server could not start (port in use, storage unreachable)."""

    def __init__(self, message: str, kind: str = "start") -> None:
        super().__init__(message)
        self.kind = kind
        if kind == "bind":
            self.hint = "pass another --port (0 picks a free one)"
            self.exit_code = EXIT_BAD_INPUT
        else:
            self.hint = "the server's own message is above (or in dashboard.log beside the study)"
            self.exit_code = EXIT_UNAVAILABLE


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> str | None:
    """None for a loopback host; the warning to print for an allowed remote one.

    Also refuses an empty ``HPSEARCH_DASHBOARD_PASSWORD``, so both checks run before anything
    is written."""
    check_password_env()
    if is_loopback(host):
        return None
    if not allow_remote:
        raise DashboardBindError(
            f"refusing to serve the dashboard on {host}: only loopback addresses "
            "(127.0.0.1, ::1) are allowed without --allow-remote, which then requires a "
            "token or a password for every request"
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
    access: DashboardAccess = field(default_factory=DashboardAccess)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}/dashboard"

    def study_url(self, study_id: int) -> str:
        return f"{self.url}/studies/{study_id}"

    def login_url(self, study_id: int | None = None) -> str:
        """The URL to print: with ``?token=`` when the token is required."""
        url = self.url if study_id is None else self.study_url(study_id)
        if self.access.token is not None:
            url += f"?token={self.access.token}"
        return url

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
    host: str,
    port: int,
    ready_file: Path,
    artifacts_dir: Path | None,
    access_log: bool,
    access: DashboardAccess | None = None,
) -> list[str]:
    """The child's argv: no storage URL, nothing secret (the token goes in its environment)."""
    access = access or DashboardAccess()
    argv = [sys.executable, "-m", SERVER_MODULE, "--host", host, "--port", str(port)]
    argv += ["--ready-file", str(ready_file), "--parent-pid", str(os.getpid())]
    argv += ["--auth", access.auth]
    if access.allow_write:
        argv.append("--allow-write")
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
    allow_write: bool = False,
    access: DashboardAccess | None = None,
    log_path: Path | None = None,
    access_log: bool = False,
    startup_timeout: float = 60.0,
) -> DashboardHandle:
    """Start optuna-dashboard on ``location`` and return once it listens.

    ``port=0`` takes any free port (see :attr:`DashboardHandle.port`). Output goes to
    ``log_path`` when given, else to this process's stderr. ``access`` (default: from
    ``allow_remote``, ``allow_write`` and the environment, see :func:`dashboard_access`) is
    what the server enforces; print :meth:`DashboardHandle.login_url`.
    """
    check_bind(host, allow_remote)
    if access is None:
        access = dashboard_access(allow_remote, allow_write)
    env = {k: v for k, v in os.environ.items() if k != ENV_TOKEN}
    env[ENV_STORAGE] = location.url
    if access.token is not None:
        env[ENV_TOKEN] = access.token
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 - closed by DashboardHandle.stop
    with tempfile.TemporaryDirectory(prefix="hpsearch-dashboard-") as tmp:
        ready = Path(tmp) / "ready.json"
        process = subprocess.Popen(
            server_command(host, port, ready, artifacts_dir, access_log, access),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=log if log is not None else None,
        )
        handle = DashboardHandle(process, host, port, log_path, log, access)
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
    allow_write: bool = False


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
        allow_write=options.allow_write,
        log_path=artifacts_dir.parent / "dashboard.log",
    )
    mode = handle.access.describe("--allow-write-dashboard")
    emit(f"Dashboard: {handle.login_url(study_id_of(study))} ({mode}; stops with this run)")
    try:
        yield handle
    finally:
        handle.stop()
