"""Timers wrapped around hpsearch's driver loop (in the driver process only), by monkeypatching.

Nothing in ``hpsearch`` is changed on disk: :func:`install` replaces a few functions and methods
with timed wrappers and counts the SQL statements, commits and new database connections the
driver makes (SQLAlchemy events), so the service-overhead benchmark can say where the driver's
time goes per dispatched trial.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Profile:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # SQL statements / commits / new connections made inside each named section
    sql: dict[str, list[tuple[int, int, int]]] = field(default_factory=lambda: defaultdict(list))
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)

    def snapshot(self) -> tuple[int, int, int]:
        c = self.counters
        return c["sql.statements"], c["sql.commits"], c["sql.connects"]

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        before = self.snapshot()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name].append(time.perf_counter() - start)
            after = self.snapshot()
            self.sql[name].append(tuple(a - b for a, b in zip(after, before, strict=True)))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": dict(self.seconds),
            "counters": dict(self.counters),
            "sql": {k: [list(v) for v in vs] for k, vs in self.sql.items()},
            "outcomes": self.outcomes,
        }


def _wrap(owner: Any, name: str, profile: Profile, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with profile.section(label):
            return original(*args, **kwargs)

    setattr(owner, name, timed)


def _wrap_cm(owner: Any, name: str, profile: Profile, label: str) -> None:
    """Time only the entry of a context-manager function (lock acquisition)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with profile.section(label):
            return original(*args, **kwargs)

    setattr(owner, name, timed)


def _count_sql(profile: Profile) -> None:
    import sqlalchemy
    from sqlalchemy import event

    def on_execute(*_: Any) -> None:
        profile.counters["sql.statements"] += 1

    def on_commit(*_: Any) -> None:
        profile.counters["sql.commits"] += 1

    def on_connect(*_: Any) -> None:
        profile.counters["sql.connects"] += 1

    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", on_execute)
    event.listen(sqlalchemy.engine.Engine, "commit", on_commit)
    event.listen(sqlalchemy.pool.Pool, "connect", on_connect)


def install() -> Profile:
    """Wrap the driver's steps with timers; returns the profile they fill."""
    import optuna

    from hpsearch.search.engine import _budget, _driver
    from hpsearch.search.engine import _ray_pool as _pool
    from hpsearch.search.records import _progress
    from hpsearch.storage import ResilientRDBStorage, _locks

    profile = Profile()
    _count_sql(profile)
    _wrap(_budget.BudgetedAsker, "ask", profile, "ask (total, under the study lock)")
    _wrap(_budget.BudgetedAsker, "ledger", profile, "ledger build (driver loop)")
    _wrap(ResilientRDBStorage, "trial_counts", profile, "budget count (SQL, under the lock)")
    _wrap_cm(_locks, "_connect_and_lock", profile, "study lock: connect + acquire")
    _wrap(optuna.study.Study, "ask", profile, "study.ask (create trial + sampler)")
    _wrap(_driver.Driver, "_dispatch", profile, "dispatch (total)")
    _wrap(_driver, "sample_params", profile, "sample_params (suggest + param writes)")
    _wrap(_driver, "build_trial_config", profile, "build_trial_config")
    _wrap(ResilientRDBStorage, "set_trial_user_attr", profile, "set_trial_user_attr (each)")
    _wrap(ResilientRDBStorage, "set_trial_user_attrs", profile, "set_trial_user_attrs (batch)")
    _wrap(ResilientRDBStorage, "record_heartbeat", profile, "record_heartbeat (each)")
    _wrap(_pool.RayPool, "submit", profile, "Ray submit")
    _wrap(_driver.Driver, "_beat", profile, "driver heartbeats (_beat)")
    _wrap(_driver.Driver, "_reap_and_repair", profile, "reap + repair")
    _wrap(_driver.Driver, "_collect", profile, "collect (total, includes Ray wait)")
    _wrap(_driver.Driver, "_clean_predecessors", profile, "collect: clean predecessors")
    _wrap(_progress.Progress, "maybe_status", profile, "progress status line")

    original_wait = _pool.RayPool.wait

    def wait(self: Any, refs: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        with profile.section("Ray wait"):
            out = original_wait(self, refs, timeout)
        now = time.time()
        for _, result in out:
            started = getattr(result, "started", None)
            if started is not None:
                profile.outcomes.append(
                    {
                        "number": result.number,
                        "state": result.state,
                        "node": result.node,
                        "started": started,
                        "ended": result.ended,
                        "collected": now,
                    }
                )
        return out

    _pool.RayPool.wait = wait  # type: ignore[method-assign]

    original_fill: Callable[..., Any] = _driver.Driver._fill_workers

    def fill(self: Any) -> None:
        idle_before = len(self.cfg.pool._idle)
        with profile.section("fill workers (ask + dispatch)"):
            original_fill(self)
        profile.counters["dispatched"] += max(0, idle_before - len(self.cfg.pool._idle))

    _driver.Driver._fill_workers = fill  # type: ignore[method-assign]
    return profile
