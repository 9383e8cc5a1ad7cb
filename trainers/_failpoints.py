"""Fault injection for hpsearch's own fault-tolerance tests (inactive unless configured).

``HPSEARCH_FAILPOINTS`` holds ``;``-separated rules ``<point>=<action>[@key=value,...]``, e.g.::

    checkpoint.write=kill@step=20,trial=3     SIGKILL this process before checkpoint 20 commits
    checkpoint.write=tear@step=20             cut a file of checkpoint 20 short, then SIGKILL
    checkpoint.write=enospc@step=30           fail that checkpoint write with ENOSPC
    train.step=oom@step=15,trial=2            raise a CUDA-style out-of-memory error at step 15
    train.step=kill@step=15,trial=2           SIGKILL the worker at step 15 (a preemption)
    driver.ask=kill@trial=3                   SIGKILL the driver right after it created trial 3
    train.loss=nan@step=12                    make the training loss NaN at step 12
    eval.metric=inf@step=10                   make the objective of the evaluation at step 10
                                              infinite (or nan)

A rule matches when every condition equals the current context. Each point is a single
dictionary lookup when the variable is unset, so production runs pay nothing.
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass

ENV = "HPSEARCH_FAILPOINTS"


@dataclass(frozen=True)
class Rule:
    point: str
    action: str
    conditions: tuple[tuple[str, str], ...]


def _rules() -> list[Rule]:
    spec = os.environ.get(ENV, "")
    rules = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        point, _, rest = part.partition("=")
        action, _, cond = rest.partition("@")
        conditions = tuple(tuple(c.split("=", 1)) for c in cond.split(",") if "=" in c)
        rules.append(Rule(point.strip(), action.strip(), conditions))  # type: ignore[arg-type]
    return rules


def active() -> bool:
    """Whether any failpoint is configured (callers skip computing a context otherwise)."""
    return ENV in os.environ


def triggered(point: str, **context: object) -> str | None:
    """The action configured for ``point`` in this context, or None."""
    if ENV not in os.environ:
        return None
    for rule in _rules():
        if rule.point == point and all(str(context.get(k)) == v for k, v in rule.conditions):
            return rule.action
    return None


def kill_self() -> None:
    """SIGKILL this process: no cleanup, no atexit, exactly like a preemption."""
    os.kill(os.getpid(), signal.SIGKILL)


def raise_enospc() -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + " (failpoint)")
