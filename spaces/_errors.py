"""Validation errors for search spaces.

Every problem found in a space is collected as a :class:`SpaceIssue` (YAML path, the bad
value and what is allowed) and all of them are raised together as one :class:`SpaceError`,
so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError

_MISSING = object()
_MAX_PATH = 120

_short = reprlib.Repr()
_short.maxlevel = 3
_short.maxstring = _short.maxother = 120
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 12
_short.maxlong = 60


def short_repr(value: Any) -> str:
    """``repr`` cut to a readable length: a bad value may be a huge or deeply nested one."""
    return _short.repr(value)


def _short_path(path: str) -> str:
    return path if len(path) <= _MAX_PATH else path[: _MAX_PATH - 3] + "..."


@dataclass(frozen=True)
class SpaceIssue:
    """One problem in a space: where it is, what was found and what is allowed."""

    path: str
    message: str
    value: Any = _MISSING
    allowed: str | None = None

    def __str__(self) -> str:
        # An empty path is about the whole file (unreadable, not YAML): no path to show.
        parts = [f"{_short_path(self.path)}: {self.message}" if self.path else self.message]
        if self.value is not _MISSING:
            parts.append(f"got {short_repr(self.value)}")
        if self.allowed:
            parts.append(f"allowed: {self.allowed}")
        return "; ".join(parts)


class SpaceError(HpsearchError, ValueError):
    """A space failed validation; ``issues`` lists every problem found."""

    hint = "fix the space and check it with: hpsearch spaces validate FILE"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, issues: Iterable[SpaceIssue], source: str = "space") -> None:
        self.issues: tuple[SpaceIssue, ...] = tuple(issues)
        self.source = source
        count = len(self.issues)
        if count == 1:
            super().__init__(f"1 problem in {source}: {self.issues[0]}")
            return
        lines = [f"{count} problems in {source}:"]
        lines.extend(f"  - {issue}" for issue in self.issues)
        super().__init__("\n".join(lines))


class IssueCollector:
    """Accumulates issues while a document is walked; raises them all at the end.

    A path reported as holding a non-finite number (:meth:`add_non_finite`) takes no further
    issue: the readers that look at it later would only repeat the same problem.
    """

    def __init__(self) -> None:
        self.issues: list[SpaceIssue] = []
        self._non_finite: set[str] = set()

    def add(
        self, path: str, message: str, value: Any = _MISSING, allowed: str | None = None
    ) -> None:
        if (path or "<root>") in self._non_finite:
            return
        self.issues.append(SpaceIssue(path, message, value, allowed))

    def add_non_finite(self, path: str, value: float) -> None:
        if path in self._non_finite:
            return
        self.issues.append(SpaceIssue(path, "must be a finite number", value))
        self._non_finite.add(path)

    def extend(self, issues: Iterable[SpaceIssue]) -> None:
        self.issues.extend(issues)

    def raise_if_any(self, source: str) -> None:
        if self.issues:
            raise SpaceError(self.issues, source)

    def __bool__(self) -> bool:
        return bool(self.issues)


def join_path(*parts: str | int) -> str:
    """Build a YAML path such as ``params.lora_r.choices[2]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out
