"""The one error model of hpsearch: every error a user can act on is an :class:`HpsearchError`.

An ``HpsearchError`` carries what the command line shows: a ``message`` (what went wrong,
naming the bad value), a ``hint`` (the next command to run, or None when the message already
says it) and an ``exit_code``. Subclasses set ``hint`` and ``exit_code`` as class attributes,
or per instance when they depend on the case (``RayConnectError(local=True)``).

This module is the lowest layer's and imports nothing, so that ``storage/``, ``trainers/`` and
``search/`` all base their errors on it; the search layer re-exports it (``HpsearchError`` there).
Subclasses keep their historical builtin base (``ValueError``, ``LookupError``,
``RuntimeError``) too, so existing ``except`` clauses still catch them.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "HpsearchError",
]

EXIT_OK = 0
EXIT_FAILED = 1  # an unexpected error (a bug, or a case hpsearch does not know)
EXIT_BAD_INPUT = 2  # the user's input is wrong: fix it and run again
EXIT_UNAVAILABLE = 3  # a service (database, Ray, dashboard) cannot be used right now
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: 128 + SIGINT, as shells report it


class HpsearchError(Exception):
    """An error hpsearch knows: a message, the next command to run and an exit code.

    ``message`` is ``str(self)``: one line, except where a list of problems is the point
    (a space's validation issues, one line each).
    """

    hint: str | None = None
    exit_code: int = EXIT_FAILED

    @property
    def message(self) -> str:
        return str(self)
