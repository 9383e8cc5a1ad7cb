"""Run public HPO libraries on the lcbench surrogate, each in its own virtualenv.

Every (method, instance, seed) is one subprocess: the runner of its library (``run_*.py``),
started with that library's virtualenv's interpreter (``setup_envs.sh`` creates them under
``.envs/`` beside this file, or under ``$HPSEARCH_PEER_ENVS``). Each run appends one JSON line
to ``--out``; a run already there (same method, instance, seed and budget) is skipped, so an
interrupted grid continues where it stopped. ``report.py`` turns the file into figures.

    bash benchmarks/sample_efficiency_peers/setup_envs.sh
    python -m benchmarks.sample_efficiency_peers --seeds 10 --budget-fbe 100 \\
        --out peers.jsonl                        # all methods, the ten development instances
    python -m benchmarks.sample_efficiency_peers --smoke --out /tmp/smoke.jsonl
    python -m benchmarks.sample_efficiency_peers.report peers.jsonl

From the repository root. Imports nothing from hpsearch; needs only the standard library here
(the runners need their env).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # on the runners' PYTHONPATH: they import benchmarks.* by name
DEFAULT_ENVS = HERE / ".envs"
DEFAULT_DATA_PATH = HERE.parents[1] / ".." / "shared" / "data" / "yahpo_lcbench"
# Develop only on these (issue 14); the other lcbench instances check generalisation.
DEV_INSTANCES = (
    "167168", "189873", "189906", "126026", "146212",
    "167104", "167152", "168330", "189354", "189908",
)  # fmt: skip
# method -> (virtualenv under the envs folder, or None for this interpreter; runner script)
METHODS: dict[str, tuple[str | None, str]] = {
    "random": (None, "run_random.py"),
    "st_asha": ("syne_tune", "run_syne_tune.py"),
    "st_asha_promotion": ("syne_tune", "run_syne_tune.py"),
    "st_hyperband": ("syne_tune", "run_syne_tune.py"),
    "st_bohb": ("syne_tune", "run_syne_tune.py"),
    "st_mobster": ("syne_tune", "run_syne_tune.py"),
    "st_hypertune": ("syne_tune", "run_syne_tune.py"),
    "st_dyhpo": ("syne_tune", "run_syne_tune.py"),
    "dehb": ("dehb", "run_dehb.py"),
    "smac_hb": ("smac", "run_smac.py"),
    "smac_hb_pyrfr": ("smac", "run_smac.py"),
}
SMOKE_INSTANCE, SMOKE_SEEDS, SMOKE_BUDGET = "189873", 2, 3.0
# One core per run: no BLAS/OpenMP thread pools competing on a shared machine.
SINGLE_THREAD = {
    k: "1"
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
}


def envs_dir() -> Path:
    return Path(os.environ.get("HPSEARCH_PEER_ENVS", DEFAULT_ENVS))


def interpreter(method: str) -> Path | None:
    """The Python that runs ``method`` (None: its virtualenv is not installed)."""
    env = METHODS[method][0]
    if env is None:
        return Path(sys.executable)
    python = envs_dir() / env / "bin" / "python"
    return python if python.is_file() else None


def runner_module(method: str) -> str:
    """``benchmarks.sample_efficiency_peers.run_*``: the module that runs ``method``."""
    return "benchmarks.sample_efficiency_peers." + METHODS[method][1].removesuffix(".py")


def run_key(method: str, instance: str, seed: int, budget_fbe: float) -> tuple:
    return (method, str(instance), int(seed), float(budget_fbe))


def done_keys(out: Path) -> set[tuple]:
    keys: set[tuple] = set()
    if not out.exists():
        return keys
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that run is simply run again
        keys.add(run_key(r["method"], r["instance"], r["seed"], r["budget_fbe"]))
    return keys


def run_one(
    method: str, instance: str, seed: int, budget_fbe: float, data_path: str, timeout: float
) -> dict:
    """Run one (method, instance, seed) in its env; its JSON result, with the driver's wall."""
    python = interpreter(method)
    if python is None:
        raise FileNotFoundError(f"no virtualenv for {method}")
    with tempfile.TemporaryDirectory(prefix="peer-run-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [
            str(python), "-m", runner_module(method), "--method", method,
            "--instance", instance, "--seed", str(seed), "--budget-fbe", str(budget_fbe),
            "--data-path", data_path, "--result", str(result),
        ]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(
            cmd,
            env={
                **os.environ,
                **SINGLE_THREAD,
                "PYTHONHASHSEED": "0",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
                ),
            },
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not result.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{method} {instance} seed {seed} exited {proc.returncode}:\n{tail}")
        doc = json.loads(result.read_text(encoding="utf-8"))
    doc["wall_s"] = round(wall, 3)
    return doc


def append_line(out: Path, doc: dict) -> None:
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(doc, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def parse_seed_caps(items: Sequence[str]) -> dict[str, int]:
    caps = {}
    for item in items:
        method, _, n = item.partition("=")
        if method not in METHODS or not n.isdigit():
            raise SystemExit(f"--max-seeds {item!r}: expected METHOD=N with a known method")
        caps[method] = int(n)
    return caps


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="*", help=f"default: all ({', '.join(METHODS)})")
    parser.add_argument("--instances", nargs="*", help="default: the ten development instances")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--budget-fbe", type=float, default=100.0)
    parser.add_argument("--out", required=True, help="JSON-lines file (appended to)")
    parser.add_argument("--data-path", default=os.environ.get("HPSEARCH_LCBENCH_DATA"))
    parser.add_argument(
        "--max-seeds",
        nargs="*",
        default=[],
        metavar="METHOD=N",
        help="run only seeds 0..N-1 of METHOD (to cap the slowest methods' cost)",
    )
    parser.add_argument(
        "--skip-from",
        nargs="*",
        default=[],
        metavar="FILE",
        help="also skip the runs already in these JSON-lines files (e.g. a cost measurement)",
    )
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per run")
    parser.add_argument(
        "--skip-missing", action="store_true", help="skip methods whose env is not installed"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"instance {SMOKE_INSTANCE}, {SMOKE_SEEDS} seeds, {SMOKE_BUDGET:g} FBE; "
        "skips methods whose env is missing",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.instances = args.instances or [SMOKE_INSTANCE]
        args.seeds, args.budget_fbe, args.skip_missing = SMOKE_SEEDS, SMOKE_BUDGET, True
    args.data_path = str(args.data_path or DEFAULT_DATA_PATH.resolve())
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    methods = args.methods or list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"unknown methods {unknown}; known: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    if not (Path(args.data_path) / "lcbench" / "model.onnx").is_file():
        print(f"lcbench data not found under {args.data_path}", file=sys.stderr)
        return 2
    missing = [m for m in methods if interpreter(m) is None]
    if missing and not args.skip_missing:
        print(
            f"no virtualenv under {envs_dir()} for {', '.join(missing)}: run "
            "bash benchmarks/sample_efficiency_peers/setup_envs.sh (or pass --skip-missing)",
            file=sys.stderr,
        )
        return 2
    for m in missing:
        print(f"skipping {m}: its virtualenv is not installed", file=sys.stderr)
    methods = [m for m in methods if m not in missing]
    caps = parse_seed_caps(args.max_seeds)
    out = Path(args.out)
    done = done_keys(out)
    for other in args.skip_from:
        done |= done_keys(Path(other))
    jobs = [
        (m, str(i), s)
        for s in range(args.seeds)  # seeds outermost: a partial grid covers every cell
        for i in args.instances or DEV_INSTANCES
        for m in methods
        if s < caps.get(m, args.seeds) and run_key(m, i, s, args.budget_fbe) not in done
    ]
    print(f"{len(jobs)} runs to do ({len(done)} already done)", file=sys.stderr, flush=True)
    failures = 0
    started = time.perf_counter()
    for n, (method, instance, seed) in enumerate(jobs, start=1):
        try:
            doc = run_one(method, instance, seed, args.budget_fbe, args.data_path, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            failures += 1
            print(f"FAILED {exc}", file=sys.stderr, flush=True)
            continue
        append_line(out, doc)
        best = max((v for _, _, v in doc["trajectory"]), default=None)
        print(
            f"[{time.perf_counter() - started:7.0f}s] {n}/{len(jobs)} {method} {instance} "
            f"seed {seed}: best {best if best is None else round(best, 2)}, "
            f"{doc['n_trials']} trials, cpu {doc['cpu_s']:.1f}s, wall {doc['wall_s']:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
