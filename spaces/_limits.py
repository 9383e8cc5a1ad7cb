"""Bounds on a space document, and the walk that checks every value in it.

A space is small: the built-in ones are under 3 KB and a 10 000-point grid is under 100 KB.
The bounds below are far above any real space and far below what hurts, so a YAML alias bomb,
a 50 MB file or a 5000-deep nesting is rejected in milliseconds, before anything is written,
and nothing derived from a space (the study's ``hpsearch.space`` attribute, the dashboard note)
can grow past them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._errors import IssueCollector, join_path

MAX_DOCUMENT_BYTES = 1024 * 1024
"""A space file, its text and its stored JSON form: at most 1 MiB."""

MAX_DEPTH = 64
"""Nesting levels of mappings and lists, counted through aliases."""

MAX_NODES = 20_000
"""Values (scalars, lists, mappings) in a space once YAML aliases are expanded."""

MAX_INT = 2**31 - 1
"""The largest integer a count, size or seed may take (a 32-bit database integer)."""

MAX_EXACT_INT = 2**53
"""Integer parameter bounds: Optuna stores parameter values as 64-bit floats."""


def describe_bytes(size: int) -> str:
    return f"{size} bytes" if size < 10 * 1024 else f"{size / (1024 * 1024):.1f} MiB"


def check_document(data: Any, issues: IssueCollector, path: str = "") -> bool:
    """Walk ``data`` once: every float is finite; depth and size stay within the bounds.

    Returns False when a bound was crossed (then ``data`` should not be read further).

    The walk is iterative and counts what it visits, so a Python mapping that contains itself
    or a huge structure handed to :func:`load_space_dict` stops at the bounds instead of
    recursing or spinning. A non-finite number is reported once, at its YAML path; the readers
    that later look at the same path do not report it again.
    """
    stack: list[tuple[Any, str, int]] = [(data, path, 0)]
    visited = 0
    bounded = True
    while stack:
        value, where, depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            issues.add(
                path or "<root>",
                f"the space holds more than {MAX_NODES} values",
                allowed=f"at most {MAX_NODES} values (a space is a small document)",
            )
            return False
        if isinstance(value, float):
            if not math.isfinite(value):
                issues.add_non_finite(where or "<root>", value)
            continue
        if not isinstance(value, (Mapping, list, tuple)):
            continue
        if depth >= MAX_DEPTH:
            issues.add(
                where or "<root>",
                f"nesting deeper than {MAX_DEPTH} levels",
                allowed=f"at most {MAX_DEPTH} levels of mappings and lists",
            )
            bounded = False
            continue
        if isinstance(value, Mapping):
            children = [(v, join_path(where, str(k))) for k, v in value.items()]
        else:
            children = [(v, join_path(where, i)) for i, v in enumerate(value)]
        stack.extend((child, child_path, depth + 1) for child, child_path in reversed(children))
    return bounded


# Bounds of single settings (the spec's fields declare them; the loader and the schema read them).
RAY_GRANULARITY = 0.0001
"""Ray rejects a fractional resource request below this."""
MAX_CPUS_PER_TRIAL = 10_000

MAX_GPUS_PER_TRIAL = 16
"""Data-parallel processes of one trial: the GPUs of one node (8 on most, 16 on the largest)."""
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 0.1, 3600.0
MAX_GRACE_S = 7 * 24 * 3600.0
MAX_NAME_LENGTH = 100
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""A space's name: it starts the default study name."""
