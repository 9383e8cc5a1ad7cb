"""A study on a real multi-node Ray cluster, and the loss of a node in the middle of a trial.

The driver is ``hpsearch run --address <cluster>`` in its own process; the cluster is a head
without resources plus three one-CPU worker nodes. When a trial has committed a checkpoint,
the node running it is killed the way a lost machine dies (raylet and trial worker, SIGKILL):
the trial must continue from that checkpoint on another node, the study must end at exactly
its budget, and the cluster the driver joined must still be up afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.trainers import newest_complete
from tests.cluster.helpers import Driver, open_study, poll, wait_for_study, write_space
from tests.search.invariants import check_study_invariants

BUDGET = 5
MAX_STEPS = 20
EVAL_STEPS = 4


def _checkpoint_step(trial: FrozenTrial) -> int | None:
    folder = trial.user_attrs.get("checkpoint_dir")
    if not folder:
        return None
    newest = newest_complete([Path(folder)])
    return newest.step if newest else None


def _victim(study: optuna.Study) -> tuple[FrozenTrial, int] | None:
    """A running trial on a known node with a committed checkpoint and steps still to go."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "ray_node_id" not in trial.user_attrs or "node" not in trial.user_attrs:
            continue
        step = _checkpoint_step(trial)
        if step is not None and step <= MAX_STEPS - 2 * EVAL_STEPS:
            return trial, step
    return None


def _kill_node(cluster: Any, node_id: str, worker_pid: int) -> None:
    """What a lost machine looks like: its raylet and the trial's worker die at once."""
    from ray._private import ray_constants

    node = next(n for n in cluster.worker_nodes if n.node_id == node_id)
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process
    os.kill(raylet.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):  # it may have died with its raylet
        os.kill(worker_pid, signal.SIGKILL)
    cluster.remove_node(node, allow_graceful=False)


def test_study_survives_losing_the_node_running_a_trial(
    ray_cluster: Any,
    start_driver: Callable[[list[str]], Driver],
    fresh_pg_url: str,
    tmp_path: Path,
) -> None:
    nodes = [ray_cluster.add_node(num_cpus=1) for _ in range(3)]
    ray_cluster.wait_for_nodes()
    space = write_space(tmp_path, trials=BUDGET, max_steps=MAX_STEPS, eval_steps=EVAL_STEPS)
    driver = start_driver(
        [
            "run",
            "--space",
            space,
            "--study",
            "nodeloss",
            "--storage",
            fresh_pg_url,
            "--address",
            ray_cluster.address,
            "--workers",
            "2",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        ]
    )
    study = wait_for_study(driver, fresh_pg_url, "nodeloss")

    def victim() -> tuple[FrozenTrial, int] | None:
        assert driver.running(), driver.output()
        return _victim(study)

    killed, checkpoint_step = poll("a trial with a committed checkpoint", victim, timeout=60)
    killed_node = killed.user_attrs["ray_node_id"]
    worker_pid = int(str(killed.user_attrs["node"]).rsplit(":", 1)[1])
    _kill_node(ray_cluster, killed_node, worker_pid)

    assert driver.wait(timeout=90) == 0, driver.output()
    out = driver.output()
    assert f"{BUDGET}/{BUDGET} trials finished" in out, out
    assert "worker lost" in out, out

    study = open_study(fresh_pg_url, "nodeloss")
    check_study_invariants(study, budget=BUDGET)
    trials = study.get_trials(deepcopy=False)
    lost = next(t for t in trials if t.number == killed.number)
    assert lost.state == TrialState.FAIL
    assert lost.user_attrs["retry_requested"] == "worker_lost", lost.user_attrs

    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert retry.state == TrialState.COMPLETE, retry.user_attrs
    assert retry.params == lost.params
    resumed = retry.user_attrs["resumed_from_checkpoint"]
    resumed_step = int(Path(resumed).name.split("-")[1])
    assert Path(resumed).parent == Path(lost.user_attrs["checkpoint_dir"])
    assert resumed_step >= checkpoint_step  # the newest complete one (the lost worker may
    # have committed one more before it died)
    assert retry.user_attrs["resumed_from_step"] == resumed_step
    assert min(retry.intermediate_values) > resumed_step, retry.intermediate_values
    assert max(retry.intermediate_values) == MAX_STEPS
    assert retry.user_attrs["ray_node_id"] != killed_node

    ran_on = {t.user_attrs["ray_node_id"] for t in trials if "ray_node_id" in t.user_attrs}
    assert len(ran_on) >= 2, ran_on
    assert ran_on <= {n.node_id for n in nodes}  # never on the head (it has no CPUs)
    # the driver joined the cluster: leaving it must not have shut the cluster down
    assert ray_cluster.head_node.remaining_processes_alive()
    assert all(n.remaining_processes_alive() for n in ray_cluster.worker_nodes)
