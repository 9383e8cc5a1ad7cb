"""The benchmark's grid: one study per (policy, instance, seed, workers), run in ``--jobs``
processes, each appended to a JSON-lines results file as it finishes.

A study already in the file (same policy, instance, seed, workers and budget) is skipped, so an
interrupted grid continues where it stopped, and several invocations (other policies, more
seeds, another machine) are reported together by ``python -m benchmarks.sample_efficiency.report
FILE...``. One line::

    {"policy": "hpsearch default", "instance": "189873", "seed": 0, "workers": 1,
     "budget_fbe": 100, "max_epoch": 52, "trajectory": [[epochs, seconds, value], ...],
     "n_trials": 265, "n_pruned": 201, "epochs_used": 5200, "end_time": ..., "cpu_s": 12.3,
     "decision": {"sampler_s": ..., "pruner_s": ..., "total_s": ..., "cpu_s": ..., "calls": ...}}

``trajectory``: each trial completed within the budget, in order: the epochs spent by all
trials when it completed, the simulated seconds then, and its objective (its best val_accuracy).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.sample_efficiency.lcbench import LcbenchSurrogate, space_params
from benchmarks.sample_efficiency.policies import BY_NAME, Policy
from benchmarks.sample_efficiency.runner import RunLog, SpaceRejected, run_study, study_space
from benchmarks.sample_efficiency.timing import DecisionTime

# Issue 14's development instances: tune on these only (the others check generalisation).
DEV_INSTANCES = (
    "167168", "189873", "189906", "126026", "146212",
    "167104", "167152", "168330", "189354", "189908",
)  # fmt: skip
SINGLE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Job:
    policy: str
    instance: str
    seed: int
    workers: int
    budget_fbe: int

    def key(self) -> tuple[str, str, int, int, float]:
        return (self.policy, self.instance, self.seed, self.workers, float(self.budget_fbe))


def line_key(doc: dict[str, Any]) -> tuple[str, str, int, int, float]:
    return (
        str(doc["policy"]),
        str(doc["instance"]),
        int(doc["seed"]),
        int(doc["workers"]),
        float(doc["budget_fbe"]),
    )


def read_lines(*paths: str | Path) -> list[dict[str, Any]]:
    """The studies in results files; a study found twice is kept once (the first read); a
    line cut by a kill is skipped (that study is simply run again)."""
    docs, seen = [], set()
    for path in paths:
        if not Path(path).exists():
            continue
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if line_key(doc) not in seen:
                seen.add(line_key(doc))
                docs.append(doc)
    return docs


def append_line(out: Path, doc: dict[str, Any]) -> None:
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(doc, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def policy_space(
    policy: Policy, data_path: str | Path, *, seed: int, max_epoch: int, budget_fbe: int
) -> dict[str, Any]:
    """The policy's study as an hpsearch space; ``seed`` is added to the sampler's seed.

    A policy with ``compute_budget: {fbe: N}`` in its space gets the run's budget there (and no
    trial-count budget): the study's budget is the space's, not the simulated pool's."""
    sampler = dict(policy.sampler)
    if "seed" in sampler:
        sampler["seed"] = int(sampler["seed"]) + seed
    space = study_space(
        f"lcbench-seed{seed}",
        sampler,
        policy.pruner,
        space_params(data_path),
        max_epoch=max_epoch,
        trials=budget_fbe * max_epoch,  # every trial trains at least one epoch: never the limit
    )
    extra = dict(policy.space)
    if "compute_budget" in extra:
        extra["compute_budget"] = {"fbe": budget_fbe}
        del space["trials"]
    return {**space, **extra}


_SURROGATES: dict[tuple[str, str], LcbenchSurrogate] = {}


def run_job(job: Job, data_path: str) -> dict[str, Any] | str:
    """One study; its results line, or why hpsearch rejected the policy's space."""
    warnings.filterwarnings("ignore", category=FutureWarning)  # Optuna 5 deprecations
    warnings.filterwarnings("ignore", message=".*experimental.*")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    key = (data_path, job.instance)
    if key not in _SURROGATES:
        _SURROGATES[key] = LcbenchSurrogate(data_path, job.instance)
    surrogate = _SURROGATES[key]
    budget = job.budget_fbe * surrogate.max_epoch
    space = policy_space(
        BY_NAME[job.policy],
        data_path,
        seed=job.seed,
        max_epoch=surrogate.max_epoch,
        budget_fbe=job.budget_fbe,
    )
    timer: list[DecisionTime] = []
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        log = run_study(space, surrogate, budget_epochs=budget, n_workers=job.workers, timer=timer)
    except SpaceRejected as exc:
        return str(exc)
    return to_line(job, log, surrogate.max_epoch, timer[0], time.process_time() - cpu, wall)


def to_line(
    job: Job, log: RunLog, max_epoch: int, decisions: DecisionTime, cpu_s: float, wall: float
) -> dict[str, Any]:
    return {
        "policy": job.policy,
        "instance": job.instance,
        "seed": job.seed,
        "workers": job.workers,
        "budget_fbe": job.budget_fbe,
        "max_epoch": max_epoch,
        "trajectory": [[c.epochs, round(c.time, 3), c.value] for c in log.completions],
        "n_trials": log.n_trials,
        "n_pruned": log.n_pruned,
        "epochs_used": log.epochs_used,
        "end_time": round(log.end_time, 3),
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "decision": decisions.as_json(),
    }


def run_grid(
    jobs: Sequence[Job], out: Path, data_path: str, n_procs: int, skip: Iterable[tuple] = ()
) -> int:
    """Run the jobs not in ``out`` (nor in ``skip``); append each line as it finishes.
    Returns the number of studies skipped because hpsearch rejected their space."""
    done = {line_key(d) for d in read_lines(out)} | set(skip)
    todo = [j for j in jobs if j.key() not in done]
    print(f"{len(todo)} studies to run ({len(jobs) - len(todo)} already done)", file=sys.stderr)
    started, rejected = time.perf_counter(), 0
    refused: set[str] = set()

    def finished(job: Job, result: dict[str, Any] | str, n: int) -> None:
        nonlocal rejected
        if isinstance(result, str):
            rejected += 1
            if job.policy not in refused:
                refused.add(job.policy)
                print(f"skipping {job.policy!r}: hpsearch rejects its space ({result})",
                      file=sys.stderr)  # fmt: skip
            return
        append_line(out, result)
        print(
            f"[{time.perf_counter() - started:6.0f}s] {n}/{len(todo)} {job.policy} "
            f"{job.instance} seed {job.seed} {job.workers}w: {result['n_trials']} trials, "
            f"cpu {result['cpu_s']:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    if n_procs <= 1:
        for n, job in enumerate(todo, start=1):
            finished(job, run_job(job, data_path), n)
        return rejected
    for name in SINGLE_THREAD:
        os.environ.setdefault(name, "1")
    with ProcessPoolExecutor(n_procs, mp_context=get_context("spawn")) as pool:
        pending: dict[Future[dict[str, Any] | str], Job] = {}
        queue, n = list(todo), 0
        while queue or pending:
            while queue and len(pending) < n_procs:
                job = queue.pop(0)
                pending[pool.submit(run_job, job, data_path)] = job
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                n += 1
                finished(pending.pop(future), future.result(), n)
    return rejected
