"""Trial reasons (``fail_reason``, ``prune_reason``, ``stop_reason``) are one clean line.

A reason is read in the dashboard's attribute table, ``hpsearch status`` and the report, so
it holds no newline, no ANSI colour escape and no control character, and it is bounded. A
traceback (Ray's worker errors carry one, with colours) becomes its first line, what failed,
and its last, why; the full text belongs in the trial's log file (:mod:`._triallog`).
"""

from __future__ import annotations

import re

MAX_REASON_CHARS = 500

# CSI sequences (colours, cursor moves), OSC sequences (titles, links), and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _is_traceback(lines: list[str]) -> bool:
    return any(line.startswith(("Traceback (most recent call last)", 'File "')) for line in lines)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (Ray colours its tracebacks)."""
    return _ANSI.sub("", text)


def reason_line(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` as one clean line of at most ``limit`` characters."""
    clean = strip_ansi(str(text))
    lines = [" ".join(_CONTROL.sub(" ", line).split()) for line in clean.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    if len(lines) > 1 and _is_traceback(lines):
        line = f"{lines[0]} … {lines[-1]}"
    else:
        line = " ".join(lines)
    return line if len(line) <= limit else line[: limit - 1] + "…"
