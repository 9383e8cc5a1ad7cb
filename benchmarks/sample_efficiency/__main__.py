"""Sample efficiency of hpsearch's search policy on YAHPO Gym's lcbench surrogate.

Each policy is a ``sampler:``/``pruner:`` pair of an hpsearch space (``policies.py``), and each
study is run by hpsearch's real driver (``hpsearch.search.engine.execute``, what ``hpsearch
run`` runs) on the simulated pool, with the surrogate as the trainer (see ``runner.py``), by
default on issue 14's ten development instances. The budget counts epochs: one full-budget
equivalent (FBE) is one trial run to its last epoch (52 on lcbench); a pruned trial costs the
epochs it ran. The quality target of an instance is random search's best val_accuracy at the
full budget, median over seeds.

    python -m benchmarks.sample_efficiency --seeds 10 --jobs 2 --out results/se.jsonl
    python -m benchmarks.sample_efficiency.report results/se.jsonl --peers peers.jsonl
    python -m benchmarks.sample_efficiency --smoke      # CI: one instance, 2 seeds, 5 FBE

Every study appends one line to ``--out`` (a temporary file without it) as it finishes; studies
already there are skipped (``grid.py``). Needs ``onnxruntime`` (the surrogate; see lcbench.py).
Prints the report (``report.py``): one markdown table per instance and issue 14's goals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.sample_efficiency.grid import DEV_INSTANCES, Job, read_lines, run_grid
from benchmarks.sample_efficiency.lcbench import (
    DEFAULT_DATA_PATH,
    LcbenchSurrogate,
    data_files_present,
    random_configs,
    rank_correlation,
)
from benchmarks.sample_efficiency.policies import (
    ABLATIONS,
    BY_NAME,
    CANDIDATES,
    DEFAULT,
    POLICIES,
    RANDOM,
)
from benchmarks.sample_efficiency.report import render

CORRELATION_EPOCHS = (1, 2, 3, 9, 27)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-path",
        default=str(DEFAULT_DATA_PATH),
        help="folder holding lcbench/ and benchmark_suites/ (default: %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per policy")
    parser.add_argument("--budget-fbe", type=int, default=100, help="budget in FBE per run")
    parser.add_argument(
        "--instances", nargs="*", help="lcbench instances (default: issue 14's ten)"
    )
    parser.add_argument(
        "--policies", nargs="*", help="policy names (default: the main ones and the candidates)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=8,
        help="simulated asynchronous workers of the parallel runs (0: none)",
    )
    parser.add_argument(
        "--parallel-policies",
        nargs="*",
        default=[DEFAULT],
        help="policies also run with --workers workers (default: %(default)s)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="studies run at once (processes)")
    parser.add_argument("--out", help="JSON-lines results file (appended to; reruns skip)")
    parser.add_argument("--peers", nargs="*", default=[], help="peers' JSON-lines files")
    parser.add_argument(
        "--ablation", action="store_true", help="also run the default's ablations (1 worker)"
    )
    parser.add_argument(
        "--correlation", action="store_true", help="print the rank correlation of early epochs"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CI mode: 1 instance (189873), 2 seeds, 5 FBE"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.budget_fbe = 2, 5
        args.instances = args.instances or ["189873"]
        args.policies = args.policies or [p.name for p in POLICIES]
    return args


def jobs_of(args: argparse.Namespace) -> list[Job]:
    default = POLICIES + CANDIDATES + (ABLATIONS if args.ablation else ())
    names = args.policies or [p.name for p in default]
    if RANDOM not in names:
        names.insert(0, RANDOM)  # random search sets the quality target
    runs = [(name, 1) for name in names]
    if args.workers > 1:
        runs += [(n, args.workers) for n in names if n in args.parallel_policies]
    return [
        Job(name, str(inst), seed, workers, args.budget_fbe)
        for seed in range(args.seeds)  # seeds outermost: a partial grid covers every cell
        for inst in args.instances or DEV_INSTANCES
        for name, workers in runs
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not data_files_present(args.data_path):
        print(f"lcbench data not found under {args.data_path}", file=sys.stderr)
        return 2
    unknown = [p for p in (args.policies or []) if p not in BY_NAME]
    if unknown:
        print(f"unknown policies {unknown}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    jobs = jobs_of(args)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "results.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        run_grid(jobs, out, args.data_path, args.jobs)
        wanted = {j.key() for j in jobs}
        docs = [d for d in read_lines(out) if _key(d) in wanted]
    peer_runs = []
    if args.peers:
        from benchmarks.sample_efficiency_peers import report as peers

        peer_runs = peers.load_runs(*args.peers)
    print(render(docs, peer_runs, float(args.budget_fbe), args.workers))
    print(f"\nRan in {time.perf_counter() - started:.0f}s.")
    if args.correlation:
        configs = random_configs(args.data_path, 1000)
        for inst in args.instances or DEV_INSTANCES:
            corr = rank_correlation(
                LcbenchSurrogate(args.data_path, str(inst)), configs, CORRELATION_EPOCHS
            )
            print(f"rank correlation with the last epoch, {inst}: "
                  + ", ".join(f"epoch {e} {c:.2f}" for e, c in corr.items()))  # fmt: skip
    return 0


def _key(doc: dict) -> tuple:
    return (doc["policy"], str(doc["instance"]), doc["seed"], doc["workers"],
            float(doc["budget_fbe"]))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
