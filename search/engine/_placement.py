"""Placement of trials that span several GPUs: a Ray placement group per worker, and packing.

A worker whose trials run as N data-parallel ranks (``resources.gpus_per_trial: N``) is given a
placement group of one bundle ``{GPU: N, CPU: N x cpus_per_trial}`` with ``STRICT_PACK``: Ray
reserves the N GPUs on one node, atomically, before the worker starts, and the worker actor is
scheduled into that bundle, so Ray sets its ``CUDA_VISIBLE_DEVICES`` to exactly those N GPUs;
the worker's torchrun agent then gives one to each rank (``LOCAL_RANK``). One bundle rather
than N one-GPU bundles, because Ray runs an actor inside a single bundle and the launcher must
see all N GPUs. The group is removed with its worker (replaced or shut down).

On a cluster without GPUs the same trial runs as N CPU ranks (gloo), each with
``cpus_per_trial`` cores: the group then holds ``{CPU: N x cpus_per_trial}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any


def worker_resources(processes: int, cpus_per_trial: float, gpus: float) -> dict[str, float]:
    """What one worker holds: N ranks' CPUs and, where the cluster has them, N GPUs."""
    out = {"CPU": processes * cpus_per_trial}
    if gpus > 0:
        out["GPU"] = float(processes) if processes > 1 else gpus
    return out


def trials_that_fit(
    nodes: Iterable[Mapping[str, Any]], processes: int, cpus_per_trial: float, gpus: float
) -> int:
    """How many N-rank trials the alive nodes hold at once (a trial never spans nodes)."""
    need = worker_resources(processes, cpus_per_trial, gpus)
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        have = node.get("Resources", {})
        total += min(int(float(have.get(k, 0.0)) / v + 1e-9) for k, v in need.items() if v > 0)
    return total


def placement_options(processes: int, cpus_per_trial: float, gpus: float) -> dict[str, Any]:
    """Ray actor options that place one worker in its own STRICT_PACK placement group."""
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    bundle = worker_resources(processes, cpus_per_trial, gpus)
    group = placement_group([bundle], strategy="STRICT_PACK")
    return {
        "num_cpus": bundle["CPU"],
        "num_gpus": bundle.get("GPU", 0.0),
        "scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=group, placement_group_bundle_index=0
        ),
    }


def remove_group(options: Mapping[str, Any] | None) -> None:
    """Release the placement group of a worker that is gone."""
    strategy = (options or {}).get("scheduling_strategy")
    group = getattr(strategy, "placement_group", None)
    if group is None:
        return
    from ray.util.placement_group import remove_placement_group

    with contextlib.suppress(Exception):  # already removed, or Ray is shutting down
        remove_placement_group(group)


__all__ = ["placement_options", "remove_group", "trials_that_fit", "worker_resources"]
