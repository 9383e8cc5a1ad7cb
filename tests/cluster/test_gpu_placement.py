"""Trials that ask for GPUs land on GPU nodes only, and fractions share one GPU.

One node advertises a GPU (``num_gpus=1``: Ray's GPUs are logical resources, so a node without
a physical GPU can advertise one); another node has more CPUs but no GPU. With
``gpus_per_trial: 0.5`` the driver plans two workers that share the one GPU, and no trial may
run on the CPU-only node. (The simulated trainer never touches CUDA: this tests placement.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from tests.cluster.helpers import Driver, open_study, wait_for_study, write_space
from tests.search.invariants import check_study_invariants

BUDGET = 4


def _overlap(a: FrozenTrial, b: FrozenTrial) -> bool:
    assert a.datetime_start and a.datetime_complete and b.datetime_start and b.datetime_complete
    return a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete


def test_half_gpu_trials_share_the_gpu_node_only(
    ray_cluster: Any,
    start_driver: Callable[[list[str]], Driver],
    fresh_pg_url: str,
    tmp_path: Path,
) -> None:
    cpu_node = ray_cluster.add_node(num_cpus=2)
    gpu_node = ray_cluster.add_node(num_cpus=1, num_gpus=1)
    ray_cluster.wait_for_nodes()
    space = write_space(
        tmp_path, trials=BUDGET, gpus=0.5, cpus=0.5, max_steps=12, seconds_per_step=0.1
    )
    driver = start_driver(
        [
            "run",
            "--space",
            space,
            "--study",
            "gpus",
            "--storage",
            fresh_pg_url,
            "--address",
            ray_cluster.address,
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        ]
    )
    wait_for_study(driver, fresh_pg_url, "gpus")
    assert driver.wait(timeout=90) == 0, driver.output()
    out = driver.output()
    # the driver saw the whole cluster and planned GPU workers from the GPU count (1 / 0.5)
    assert "3 node(s), 3 CPUs, 1 GPUs; 2 GPU worker(s), 0.5 GPU and 0.5 CPU per trial" in out, out

    study = open_study(fresh_pg_url, "gpus")
    check_study_invariants(study, budget=BUDGET)
    trials = study.get_trials(deepcopy=False)
    assert {t.user_attrs["ray_node_id"] for t in trials} == {gpu_node.node_id}
    assert cpu_node.node_id != gpu_node.node_id
    assert {t.user_attrs["worker"] for t in trials} == {1, 2}
    # two trials ran at the same time on the node's single GPU: each held half of it
    by_worker = {w: [t for t in trials if t.user_attrs["worker"] == w] for w in (1, 2)}
    assert any(_overlap(a, b) for a in by_worker[1] for b in by_worker[2]), [
        (t.number, t.datetime_start, t.datetime_complete) for t in trials
    ]
