"""Checks ``hpsearch run`` makes before it writes the study, and the note for failures after.

Everything that can be checked before the study row exists is checked before: the checkpoint
folder (without creating it), the dashboard's port, Ray (started or reached). What can only
fail later (a port taken in between, workers that die, a database that goes away) leaves the
study resumable, and the error says how to resume it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from pathlib import Path

from hpsearch.search.outputs import DashboardOptions, DashboardStartError
from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage import check_writable, ensure_writable

# Every note added by resumable() starts with this; the CLI shows it as the hint.
RESUME_NOTE_PREFIX = "the study "


class CheckpointDirError(HpsearchError, ValueError):
    """The checkpoint folder cannot be created or written (maps to exit code 2)."""

    exit_code = EXIT_BAD_INPUT


def check_checkpoint_root(root: Path) -> Path:
    """``root``, resolved, once it is known to be creatable and writable (nothing is created)."""
    try:
        return check_writable(root)
    except OSError as exc:
        where = exc.filename or root
        reason = exc.strerror or str(exc)
        raise CheckpointDirError(
            f"checkpoint folder {root} cannot be used: {reason}: {where}; pass "
            "--checkpoint-dir DIR on a writable filesystem (nothing was written)"
        ) from None


def open_checkpoint_root(root: Path) -> Path:
    """Create ``root`` and prove it writable now, when the driver starts (the disk may be full).

    :func:`check_checkpoint_root` ran before the study was written; between the two the
    folder's disk can fill or its permissions change, so this one fails the same clear way.
    """
    try:
        return ensure_writable(root)
    except OSError as exc:
        where = exc.filename or root
        reason = exc.strerror or str(exc)
        fix = "free space there" if exc.errno == errno.ENOSPC else "fix its permissions"
        raise CheckpointDirError(
            f"checkpoint folder {root} cannot be used: {reason}: {where}; {fix}, or pass "
            "--checkpoint-dir DIR on a writable filesystem"
        ) from None


def check_dashboard_port(options: DashboardOptions | None) -> None:
    """Fail now, not after the study is written, when ``run --dashboard``'s port is taken."""
    if options is None or options.port == 0:
        return
    try:
        infos = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DashboardStartError(
            f"cannot serve the dashboard on {options.host}:{options.port}: {exc.strerror}",
            kind="bind",
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # as the server itself does (socketserver's allow_reuse_address): a port left in
        # TIME_WAIT by an earlier run is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise DashboardStartError(
                f"cannot serve the dashboard on {options.host}:{options.port}: {reason}; "
                "pass another --dashboard-port (0 picks a free one)",
                kind="bind",
            ) from None


@contextlib.contextmanager
def resumable(study_name: str, created: bool, storage_flag: bool = False) -> Iterator[None]:
    """Add "resume it with ..." to any error raised once the study is written."""
    try:
        yield
    except Exception as exc:
        what = "was created" if created else "is saved"
        again = " --storage URL" if storage_flag else ""
        exc.add_note(
            f"{RESUME_NOTE_PREFIX}{study_name!r} {what}; resume it with: "
            f"hpsearch resume {study_name}{again}"
        )
        raise
