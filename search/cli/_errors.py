"""Known errors mapped to one clear line, the next command to run, and an exit code.

Every message goes through :func:`hpsearch.storage.redact`, so a database password never
reaches the terminal.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130

# A path the user named is wrong: missing, a file where a folder is needed, not writable...
_PATH_ERRORS = (
    PermissionError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)


@dataclass(frozen=True)
class Failure:
    message: str
    hint: str | None
    code: int


def describe(exc: BaseException) -> Failure:
    """The user-facing description of ``exc``; "resume it with ..." when the study was written."""
    from hpsearch.search.engine import RESUME_NOTE_PREFIX

    failure = _describe(exc)
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith(RESUME_NOTE_PREFIX)]
    if not notes or (failure.hint and "hpsearch resume" in failure.hint):
        return failure
    hint = notes[0] if failure.hint is None else f"{failure.hint}; {notes[0]}"
    return Failure(failure.message, hint, failure.code)


def _describe(exc: BaseException) -> Failure:
    from hpsearch.search.engine import (
        CheckpointDirError,
        InputError,
        Interrupted,
        RayConnectError,
        WorkerPlanError,
        WorkerStartupError,
    )
    from hpsearch.search.outputs import (
        DashboardAuthError,
        DashboardBindError,
        DashboardStartError,
        ExportError,
        NoBestTrialError,
    )
    from hpsearch.search.records import StudyMetaError
    from hpsearch.spaces import SpaceError
    from hpsearch.storage import (
        StorageNotFoundError,
        StoragePathError,
        StorageSchemaError,
        StorageUnavailableError,
        StorageURLError,
        StudyNameError,
        StudyNotFoundError,
    )
    from hpsearch.trainers import TrialError

    if isinstance(exc, SpaceError):
        return Failure(
            str(exc),
            "fix the space and check it with: hpsearch spaces validate FILE",
            EXIT_BAD_INPUT,
        )
    if isinstance(exc, StorageSchemaError):  # the message says what to run
        return Failure(str(exc), None, EXIT_UNAVAILABLE)
    if isinstance(exc, StoragePathError | StorageNotFoundError):
        return Failure(str(exc), None, EXIT_BAD_INPUT)
    if isinstance(exc, StorageUnavailableError):
        return Failure(
            str(exc),
            "check that the database is running and the URL is right "
            "(pg_isready -h HOST -p PORT); see docs/operations.md",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, StudyNotFoundError):
        return Failure(
            str(exc), "list the studies with: hpsearch studies --storage URL", EXIT_BAD_INPUT
        )
    if isinstance(
        exc,
        (StorageURLError, StudyNameError, StudyMetaError, InputError, CheckpointDirError),
    ):
        return Failure(str(exc), None, EXIT_BAD_INPUT)
    if isinstance(exc, WorkerPlanError):
        return Failure(str(exc), None, EXIT_BAD_INPUT)
    if isinstance(exc, DashboardBindError):
        return Failure(
            str(exc),
            "keep the default 127.0.0.1 and reach it through an SSH tunnel "
            "(ssh -L 8080:127.0.0.1:8080 HOST), or pass --allow-remote, which requires the "
            "printed token or $HPSEARCH_DASHBOARD_PASSWORD; see docs/dashboard.md",
            EXIT_BAD_INPUT,
        )
    if isinstance(exc, DashboardAuthError):
        return Failure(
            str(exc),
            'e.g. export HPSEARCH_DASHBOARD_PASSWORD="$(openssl rand -base64 24)"; '
            "see docs/dashboard.md",
            EXIT_BAD_INPUT,
        )
    if isinstance(exc, DashboardStartError):
        if exc.kind == "bind":
            return Failure(str(exc), "pass another --port (0 picks a free one)", EXIT_BAD_INPUT)
        return Failure(
            str(exc),
            "the server's own message is above (or in dashboard.log beside the study)",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, NoBestTrialError):
        return Failure(str(exc), "watch the study with: hpsearch status STUDY", EXIT_BAD_INPUT)
    if isinstance(exc, ExportError):
        return Failure(str(exc), None, EXIT_BAD_INPUT)
    if isinstance(exc, TrialError):
        return Failure(
            str(exc), "fix --model/--dataset (nothing was written to the study)", EXIT_BAD_INPUT
        )
    if isinstance(exc, WorkerStartupError):
        return Failure(
            str(exc),
            "check the Ray workers' logs (ray logs) and that every node has hpsearch installed; "
            "running trials were handed over: hpsearch resume STUDY",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, RayConnectError) and exc.local:
        return Failure(
            str(exc),
            "check Ray's temporary folder (RAY_TMPDIR, default /tmp/ray: writable, with free "
            "space) and free memory; run again with --debug for Ray's own output, or join a "
            "running cluster with --address",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, RayConnectError):
        return Failure(
            str(exc),
            "start the cluster (ray start --head --port 6380) or drop --address to run "
            "locally; a token-authenticated cluster needs RAY_AUTH_MODE=token and "
            "RAY_AUTH_TOKEN on the driver; see docs/operations.md",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return Failure(
            "interrupted: running trials were handed over and continue from their "
            "last checkpoint on resume",
            "hpsearch resume STUDY",
            EXIT_INTERRUPTED,
        )
    if isinstance(exc, _PATH_ERRORS) or (isinstance(exc, OSError) and exc.errno == errno.EROFS):
        return Failure(f"{exc.strerror}: {exc.filename}", None, EXIT_BAD_INPUT)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Failure(
        f"unexpected error: {type(exc).__name__}: {text}",
        "run again with --debug for the full traceback",
        EXIT_FAILED,
    )
