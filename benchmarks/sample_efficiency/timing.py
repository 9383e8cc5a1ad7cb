"""Decision time: the seconds a study spends inside its sampler's and its pruner's calls.

The benchmark builds the space's sampler and pruner once with hpsearch's public builders to
learn their classes, and for the duration of one study wraps those classes' decision methods
with a timer (outermost call only: a sampler wrapping another is counted once). Nothing else
changes: the same objects, arguments and return values, so the same decisions. One study runs
at a time in a benchmark process, so patching the classes for its duration is safe.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hpsearch.search.policy import build_pruner, build_sampler
from hpsearch.spaces import SearchSpace

SAMPLER_METHODS = (
    "infer_relative_search_space",
    "sample_relative",
    "sample_independent",
    "before_trial",
    "after_trial",
)
PRUNER_METHODS = ("prune", "promotable", "unpromotable")


@dataclass
class DecisionTime:
    """Wall and CPU seconds inside the sampler's and the pruner's methods, and call counts."""

    wall: dict[str, float] = field(default_factory=lambda: {"sampler": 0.0, "pruner": 0.0})
    cpu: dict[str, float] = field(default_factory=lambda: {"sampler": 0.0, "pruner": 0.0})
    calls: dict[str, int] = field(default_factory=lambda: {"sampler": 0, "pruner": 0})
    _depth: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "sampler_s": round(self.wall["sampler"], 4),
            "pruner_s": round(self.wall["pruner"], 4),
            "total_s": round(sum(self.wall.values()), 4),
            "cpu_s": round(sum(self.cpu.values()), 4),
            "calls": dict(self.calls),
        }

    def timed(self, kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.wall[kind] += time.perf_counter() - wall
                self.cpu[kind] += time.process_time() - cpu
                self.calls[kind] += 1
                self._depth -= 1

        return wrapper


@contextmanager
def decision_timer(space: SearchSpace, n_workers: int, max_step: int) -> Iterator[DecisionTime]:
    """Time the decision methods of the classes ``space``'s sampler and pruner are built as
    (the outer class of a wrapping sampler: its methods enclose the inner one's calls)."""
    timer = DecisionTime()
    sampler = build_sampler(space, n_workers=n_workers)
    pruner = build_pruner(space, first_eval_step=1, max_step=max_step)
    targets = [
        ("sampler", type(sampler), SAMPLER_METHODS),
        ("pruner", type(pruner), PRUNER_METHODS),
    ]
    saved: list[tuple[type, str, Any]] = []
    try:
        for kind, cls, names in targets:
            for name in names:
                if hasattr(cls, name):
                    saved.append((cls, name, vars(cls).get(name)))
                    setattr(cls, name, timer.timed(kind, getattr(cls, name)))
        yield timer
    finally:
        for cls, name, original in reversed(saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
