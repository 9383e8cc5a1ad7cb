"""Validation errors for search spaces.

Every problem found in a space is collected as a :class:`SpaceIssue` (YAML path, the bad
value and what is allowed) and all of them are raised together as one :class:`SpaceError`,
so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class SpaceIssue:
    """One problem in a space: where it is, what was found and what is allowed."""

    path: str
    message: str
    value: Any = _MISSING
    allowed: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.path or '<root>'}: {self.message}"]
        if self.value is not _MISSING:
            parts.append(f"got {self.value!r}")
        if self.allowed:
            parts.append(f"allowed: {self.allowed}")
        return "; ".join(parts)


class SpaceError(ValueError):
    """A space failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[SpaceIssue], source: str = "space") -> None:
        self.issues: tuple[SpaceIssue, ...] = tuple(issues)
        self.source = source
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{count} {noun} in {source}:"]
        lines.extend(f"  - {issue}" for issue in self.issues)
        super().__init__("\n".join(lines))


class IssueCollector:
    """Accumulates issues while a document is walked; raises them all at the end."""

    def __init__(self) -> None:
        self.issues: list[SpaceIssue] = []

    def add(
        self, path: str, message: str, value: Any = _MISSING, allowed: str | None = None
    ) -> None:
        self.issues.append(SpaceIssue(path, message, value, allowed))

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
