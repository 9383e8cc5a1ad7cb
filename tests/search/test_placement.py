"""Packing N-process trials onto nodes: a trial never spans nodes."""

from __future__ import annotations

from hpsearch.search.engine import trials_that_fit, worker_resources


def _node(gpus: float, cpus: float, alive: bool = True) -> dict[str, object]:
    return {"Alive": alive, "Resources": {"GPU": gpus, "CPU": cpus}}


def test_trials_are_counted_per_node_not_over_the_cluster() -> None:
    nodes = [_node(3, 32), _node(3, 32)]  # 6 GPUs, yet only one 2-GPU trial per node
    assert trials_that_fit(nodes, 2, 4, 2) == 2
    assert trials_that_fit(nodes, 4, 4, 4) == 0  # 4 GPUs are never on one node
    assert trials_that_fit([_node(8, 16)], 2, 4, 2) == 2  # CPUs bound it: 16 // (2 x 4)
    assert trials_that_fit([_node(8, 64), _node(8, 64, alive=False)], 2, 4, 2) == 4


def test_worker_resources_on_cpu_and_gpu_clusters() -> None:
    assert worker_resources(2, 1.5, 2) == {"CPU": 3.0, "GPU": 2.0}
    assert worker_resources(2, 1.0, 0) == {"CPU": 2.0}  # no GPUs: two CPU ranks
    assert worker_resources(1, 1.0, 0.25) == {"CPU": 1.0, "GPU": 0.25}
