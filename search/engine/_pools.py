"""Choosing the worker pool of a run: ``"ray"``, ``"inprocess"`` or a pool object."""

from __future__ import annotations

from hpsearch.search.engine._inprocess_pool import InProcessPool
from hpsearch.search.engine._pool_base import WorkerPool
from hpsearch.search.engine._ray_pool import RayPool
from hpsearch.search.engine._run_request import InputError

__all__ = ["POOL_NAMES", "check_pool_choice", "local_plan", "make_pool"]

POOL_NAMES = ("ray", "inprocess")


def check_pool_choice(pool: str | WorkerPool) -> None:
    if isinstance(pool, str):
        if pool not in POOL_NAMES:
            raise InputError(
                f"unknown pool {pool!r}: use one of {', '.join(POOL_NAMES)} or a WorkerPool object"
            )
    elif not isinstance(pool, WorkerPool):
        raise InputError(
            f"pool must be one of {', '.join(POOL_NAMES)} or a WorkerPool object, "
            f"got {type(pool).__name__}"
        )


def local_plan(pool: str | WorkerPool, requested: int | None) -> int:
    """The number of workers of a pool without Ray: a pool object's size, else ``requested``
    (default 1)."""
    if not isinstance(pool, str):
        if requested is not None and requested != pool.size:
            raise InputError(
                f"{requested} workers requested but the given pool has {pool.size}; "
                "leave workers unset or make the pool that size"
            )
        return pool.size
    if requested is not None and requested < 1:
        raise InputError(f"the number of workers must be at least 1, got {requested}")
    return requested or 1


def make_pool(
    pool: str | WorkerPool,
    workers: int,
    cpus_per_trial: float,
    gpus_per_trial: float,
    processes: int = 1,
) -> WorkerPool:
    """The pool a run asked for; ``processes`` > 1: each trial is that many data-parallel
    processes (a Ray placement group keeps their devices on one node)."""
    check_pool_choice(pool)
    if pool == "ray":
        return RayPool(
            workers,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            processes=processes,
        )
    if isinstance(pool, str):  # "inprocess": trials share this process's devices
        return InProcessPool(workers, cpus_per_trial=cpus_per_trial, gpus_per_trial=0.0)
    return pool
