"""The dashboard server process: optuna-dashboard on hpsearch's storage.

Started by :func:`hpsearch.search.outputs._dashboard.start_dashboard` as::

    python -m hpsearch.search.outputs._dashboard_server --host 127.0.0.1 --port 8080 \
        --ready-file F --auth none|token|password [--allow-write]

The app is wrapped in :class:`~hpsearch.search.outputs._dashboard_guard.DashboardGuard` here, in the
process that serves it: read-only unless ``--allow-write``; with ``--auth token`` or
``--auth password`` every request needs the token (``HPSEARCH_DASHBOARD_TOKEN``) or the
password (``HPSEARCH_DASHBOARD_PASSWORD``). The storage URL comes from ``HPSEARCH_STORAGE``.
All three come from the environment, never the command line (``/proc/PID/cmdline`` is
readable by every user; ``/proc/PID/environ`` only by the owner).
Everything the process prints goes through :func:`hpsearch.storage.redact`. Once it listens it
writes ``{"port": N, "pid": N}`` to the ready file; if it cannot start it writes
``{"error": "..."}`` there and exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from hpsearch.search.outputs._dashboard_guard import (
    ENV_PASSWORD,
    ENV_TOKEN,
    DashboardGuard,
    GuardConfig,
    redact_token,
)
from hpsearch.storage import RedactingStream, redact


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 64  # a browser opens many connections at once


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    access_log = False

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            line = redact_token(f"{self.address_string()} - {format % args}")
            sys.stderr.write(redact(line) + "\n")


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _write_ready(path: str | None, payload: dict[str, Any]) -> None:
    if not path:
        return
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def _build_app(args: argparse.Namespace) -> Any:
    import optuna_dashboard

    from hpsearch.search.outputs._artifacts import StudyArtifactStore
    from hpsearch.storage import require_studies, resolve_storage

    location = resolve_storage(None)  # HPSEARCH_STORAGE, else the embedded database
    storage = require_studies(location)  # reads: creates no database, schema or lock file
    write_dir = Path(
        args.artifacts_dir or location.default_checkpoint_root() / "dashboard-artifacts"
    )
    store = StudyArtifactStore(storage, write_dir)
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    return DashboardGuard(app, guard_config(args)), location.display


def guard_config(args: argparse.Namespace, environ: Any = None) -> GuardConfig:
    """The guard's rules from ``--auth``/``--allow-write`` and the secrets in the environment."""
    environ = os.environ if environ is None else environ
    token = password = None
    if args.auth == "token":
        token = environ.get(ENV_TOKEN)
        if not token:
            raise ValueError(f"--auth token needs the token in {ENV_TOKEN}")
    elif args.auth == "password":
        password = environ.get(ENV_PASSWORD)
        if not password:
            raise ValueError(f"--auth password needs the password in {ENV_PASSWORD}")
    return GuardConfig(allow_write=args.allow_write, token=token, password=password)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exit_with_parent(parent_pid: int | None) -> None:
    """Get SIGTERM when the process that started this one dies (Linux), so no orphan
    server keeps serving the study after ``hpsearch dashboard`` or ``hpsearch run`` is gone."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        raise KeyboardInterrupt


def _startup_failure(exc: Exception) -> tuple[str, int]:
    """The one line (and exit code) for a server that cannot open its storage or settings.

    The same lines as the CLI's (``hpsearch.search.cli.describe``) for what can fail here: the
    storage errors say what is wrong themselves. (outputs/ does not import cli/.)
    """
    from hpsearch.storage import (
        StorageNotFoundError,
        StoragePathError,
        StorageUnavailableError,
        StorageURLError,
        StudyNotFoundError,
    )

    if isinstance(exc, StorageUnavailableError):
        return str(exc), 3
    known = (StorageURLError, StoragePathError, StorageNotFoundError, StudyNotFoundError)
    if isinstance(exc, known) or type(exc) is ValueError:  # ValueError: guard_config's own
        return str(exc), 2
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected error: {type(exc).__name__}: {text}", 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hpsearch.search.outputs._dashboard_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--artifacts-dir")
    parser.add_argument("--ready-file")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--auth", choices=("none", "token", "password"), default="none")
    parser.add_argument("--allow-write", action="store_true")
    args = parser.parse_args(argv)
    sys.stdout = RedactingStream(sys.stdout)
    sys.stderr = RedactingStream(sys.stderr)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _exit_with_parent(args.parent_pid)
    except KeyboardInterrupt:
        return 0
    try:
        app, display = _build_app(args)
        handler = type("_Handler", (_QuietHandler,), {"access_log": args.access_log})
        server_class = _Server6 if _is_ipv6(args.host) else _Server
        httpd = make_server(args.host, args.port, app, server_class, handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = f"port {args.port} on {args.host} is already in use"
        else:
            message = f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        _write_ready(args.ready_file, {"error": message, "kind": "bind"})
        print(f"error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        message, code = _startup_failure(exc)
        _write_ready(args.ready_file, {"error": redact(message), "kind": "storage"})
        print(f"error: {redact(message)}", file=sys.stderr)
        return code
    port = int(httpd.server_address[1])
    _write_ready(args.ready_file, {"port": port, "pid": os.getpid()})
    mode = "writes allowed" if args.allow_write else "read-only"
    if args.auth != "none":
        mode += f", {args.auth} required"
    print(
        f"optuna-dashboard for {display} listening on {args.host}:{port} ({mode})",
        file=sys.stderr,
    )
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
