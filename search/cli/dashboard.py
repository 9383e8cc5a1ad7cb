"""``hpsearch dashboard``: optuna-dashboard on the study's storage, loopback and read-only by
default; ``--allow-remote`` requires a token or a password."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import add_storage_flag, emit, warn
from hpsearch.storage import study_id_of


def add_bind_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--host``, ``--port`` and ``--allow-remote`` (with ``prefix``: ``--dashboard-host`` ...)."""
    from hpsearch.search.outputs import DEFAULT_HOST, DEFAULT_PORT

    parser.add_argument(
        f"--{prefix}host",
        default=DEFAULT_HOST,
        metavar="ADDR",
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; anything "
        "else needs --allow-remote)",
    )
    parser.add_argument(
        f"--{prefix}port",
        type=_args.port,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"port (default: {DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        f"--allow-remote{'-dashboard' if prefix else ''}",
        dest=f"{prefix.replace('-', '_')}allow_remote",
        action="store_true",
        help="allow a non-loopback address; every request then needs the token printed at "
        "start, or the password in $HPSEARCH_DASHBOARD_PASSWORD (HTTP Basic). Plain HTTP: "
        "prefer an SSH tunnel or a TLS proxy (docs/dashboard.md)",
    )


def add_access_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--allow-write`` (with ``prefix``: ``--allow-write-dashboard``)."""
    parser.add_argument(
        f"--allow-write{'-dashboard' if prefix else ''}",
        dest=f"{prefix.replace('-', '_')}allow_write",
        action="store_true",
        help="let the dashboard change the study (tell or fail trials, edit notes and "
        "attributes, upload or delete files, delete studies); default: read-only",
    )


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The ``hpsearch run --dashboard`` flags."""
    group = parser.add_argument_group("dashboard")
    group.add_argument(
        "--dashboard",
        action="store_true",
        help="serve the live dashboard while the study runs and print its URL",
    )
    add_bind_flags(group, prefix="dashboard-")  # type: ignore[arg-type]
    add_access_flags(group, prefix="dashboard-")  # type: ignore[arg-type]


def run_options(args: argparse.Namespace) -> Any:
    """A ``DashboardOptions`` from ``hpsearch run`` flags, or None without ``--dashboard``."""
    from hpsearch.search.outputs import DashboardOptions

    if not getattr(args, "dashboard", False):
        return None
    return DashboardOptions(
        host=args.dashboard_host,
        port=args.dashboard_port,
        allow_remote=args.dashboard_allow_remote,
        allow_write=args.dashboard_allow_write,
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="serve the live browser dashboard (optuna-dashboard) for the storage's studies",
        description="Serve optuna-dashboard on the study storage until Ctrl-C. It is "
        "read-only unless --allow-write is given, and listens on 127.0.0.1 only unless "
        "--allow-remote is given, which then requires the token it prints at start or the "
        "password in $HPSEARCH_DASHBOARD_PASSWORD (see docs/dashboard.md).",
    )
    parser.add_argument("--study", metavar="NAME", help="print the URL of this study's page")
    add_storage_flag(parser)
    add_bind_flags(parser)
    add_access_flags(parser)
    parser.add_argument(
        "--artifacts-dir",
        metavar="DIR",
        help="where files uploaded from the dashboard go (default: the study's artifacts "
        "folder); files of every study's trials are served from their own folders",
    )
    parser.add_argument("--access-log", action="store_true", help="print one line per HTTP request")
    parser.set_defaults(func=cmd_dashboard)


def _artifacts_dir(args: argparse.Namespace, storage: Any, study_name: str | None) -> Path | None:
    from hpsearch.search.records import attributes as A
    from hpsearch.storage import StudyPaths

    if args.artifacts_dir:
        return Path(args.artifacts_dir).expanduser().resolve()
    studies = [s for s in storage.get_all_studies() if study_name in (None, s.study_name)]
    if len(studies) == 1 and A.STUDY_CHECKPOINT_ROOT in studies[0].user_attrs:
        root = Path(str(studies[0].user_attrs[A.STUDY_CHECKPOINT_ROOT]))
        return StudyPaths(root, studies[0].study_name).artifacts_dir
    return None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_dashboard(args: argparse.Namespace) -> int:
    from hpsearch.search.outputs import check_bind, dashboard_access, start_dashboard
    from hpsearch.storage import load_study_read_only, require_studies, resolve_storage

    warning = check_bind(args.host, args.allow_remote)  # before touching anything
    access = dashboard_access(args.allow_remote, args.allow_write)
    location = resolve_storage(args.storage)
    # Reading only: a missing database, schema or study is reported, never created.
    study_id = study_id_of(load_study_read_only(location, args.study)) if args.study else None
    storage = require_studies(location)
    handle = start_dashboard(
        location,
        host=args.host,
        port=args.port,
        artifacts_dir=_artifacts_dir(args, storage, args.study),
        allow_remote=args.allow_remote,
        access=access,
        access_log=args.access_log,
    )
    storage.engine.dispose()
    if warning:
        warn(warning)
    with handle:
        emit(f"Dashboard for {location.display}")
        emit(f"  {handle.login_url(study_id)}")
        mode = access.describe("--allow-write")
        emit(f"  {mode[0].upper()}{mode[1:]}.")
        emit("Press Ctrl-C to stop.")
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while handle.alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            emit("Dashboard stopped.")
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
    code = handle.process.returncode
    return 0 if code in (0, None, -15) else 1
