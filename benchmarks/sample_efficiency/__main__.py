"""Sample efficiency of hpsearch's search policy on YAHPO Gym's lcbench surrogate.

Each policy is a ``sampler:``/``pruner:`` pair of an hpsearch space, and each study is run by
hpsearch's real driver (``hpsearch.search.engine.execute``, what ``hpsearch run`` runs) on the
simulated pool, with the surrogate as the trainer (see ``runner.py``), on the three lcbench
instances of the YAHPO-SO suite. The budget counts epochs: one full-budget equivalent (FBE) is
one trial run to its last epoch (52 on lcbench); a pruned trial costs the epochs it ran. The
quality target of an instance is random search's best val_accuracy at the full budget, median
over seeds.

    python -m benchmarks.sample_efficiency --seeds 10 --data-path ../shared/data/yahpo_lcbench
    python -m benchmarks.sample_efficiency --smoke      # CI: one instance, 2 seeds, 5 FBE

Needs ``onnxruntime`` (the surrogate model; see lcbench.py). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from benchmarks.sample_efficiency.lcbench import (
    DEFAULT_DATA_PATH,
    LcbenchSurrogate,
    data_files_present,
    random_configs,
    rank_correlation,
    space_params,
    suite_instances,
)
from benchmarks.sample_efficiency.report import (
    CHECKPOINTS_FBE,
    figures,
    fmt,
    markdown_table,
    median_or_none,
    target_of,
)
from benchmarks.sample_efficiency.runner import RunLog, run_study, study_space
from hpsearch.spaces import load_space


@dataclass(frozen=True)
class Policy:
    name: str
    sampler: dict[str, Any]
    pruner: dict[str, Any]


def _shipped_policy() -> tuple[dict[str, Any], dict[str, Any]]:
    """The sampler and pruner sections of the built-in ``lora_small`` space: what ships."""
    shipped = load_space("lora_small")
    return (
        {"type": shipped.sampler.type, **shipped.sampler.options},
        {"type": shipped.pruner.type, **shipped.pruner.options},
    )


# The sampler and pruner sections exactly as a space YAML would hold them.
POLICIES = (
    Policy("random", {"type": "random", "seed": 0}, {"type": "none"}),
    Policy("random + median", {"type": "random", "seed": 0}, {"type": "median"}),
    Policy("Optuna TPE", {"type": "tpe", "seed": 0}, {"type": "none"}),
    Policy("Optuna TPE + Hyperband", {"type": "tpe", "seed": 0}, {"type": "hyperband"}),
    Policy(
        "hpsearch previous default",
        {"type": "tpe", "seed": 0, "n_startup_trials": 5},
        {"type": "hyperband", "min_resource": "auto", "reduction_factor": 3},
    ),
    Policy("hpsearch default", *_shipped_policy()),
)
RANDOM = POLICIES[0].name
DEFAULT = POLICIES[-1].name
TPE = POLICIES[2].name


def _variant(label: str, sampler: dict[str, Any], pruner: dict[str, Any]) -> Policy:
    base = POLICIES[-1]
    return Policy(f"default, {label}", {**base.sampler, **sampler}, {**base.pruner, **pruner})


# --ablation: the default with one setting changed, to justify each of its settings.
ABLATIONS = (
    _variant("min_evaluations 1", {}, {"min_evaluations": 1}),
    _variant("min_evaluations 2", {}, {"min_evaluations": 2}),
    _variant("min_evaluations 4", {}, {"min_evaluations": 4}),
    _variant("min_evaluations 6", {}, {"min_evaluations": 6}),
    _variant("reduction_factor 2", {}, {"reduction_factor": 2}),
    _variant("reduction_factor 4", {}, {"reduction_factor": 4}),
    _variant("n_startup_trials 5", {"n_startup_trials": 5}, {}),
    _variant("n_startup_trials 20", {"n_startup_trials": 20}, {}),
    Policy(
        "default, hyperband pruner",
        POLICIES[-1].sampler,
        {"type": "hyperband", "min_resource": 3, "reduction_factor": 3},
    ),
    Policy("default, median pruner", POLICIES[-1].sampler, {"type": "median", "n_warmup_steps": 3}),
)
CORRELATION_EPOCHS = (1, 2, 3, 9, 27)


def lcbench_space(
    policy: Policy, data_path: str | Path, *, seed: int, max_epoch: int, budget_epochs: int
) -> dict[str, Any]:
    """The policy's study as an hpsearch space; ``seed`` is added to the sampler's seed."""
    sampler = dict(policy.sampler)
    if "seed" in sampler:
        sampler["seed"] = int(sampler["seed"]) + seed
    return study_space(
        f"lcbench-seed{seed}",
        sampler,
        policy.pruner,
        space_params(data_path),
        max_epoch=max_epoch,
        trials=budget_epochs,  # every trial trains at least one epoch: never the limit
    )


def run_seeds(
    policy: Policy,
    data_path: str | Path,
    surrogate: LcbenchSurrogate,
    budget_epochs: int,
    seeds: int,
    n_workers: int,
) -> list[RunLog]:
    return [
        run_study(
            lcbench_space(
                policy,
                data_path,
                seed=seed,
                max_epoch=surrogate.max_epoch,
                budget_epochs=budget_epochs,
            ),
            surrogate,
            budget_epochs=budget_epochs,
            n_workers=n_workers,
        )
        for seed in range(seeds)
    ]


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-path",
        default=str(DEFAULT_DATA_PATH),
        help="folder holding lcbench/ and benchmark_suites/ (default: %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds per policy and instance")
    parser.add_argument("--budget-fbe", type=int, default=100, help="budget in FBE per run")
    parser.add_argument("--instances", nargs="*", help="lcbench instances (default: YAHPO-SO's)")
    parser.add_argument("--policies", nargs="*", help="policy names (default: all)")
    parser.add_argument(
        "--workers",
        type=int,
        default=8,
        help="simulated asynchronous workers for the wall-clock speedup "
        "(0: skip the parallel simulation)",
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="also run the default with one setting changed at a time (1 worker only)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CI mode: 1 instance (189873), 2 seeds, 5 FBE"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.budget_fbe = 2, 5
        args.instances = args.instances or ["189873"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not data_files_present(args.data_path):
        print(f"lcbench data not found under {args.data_path}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=FutureWarning)  # Optuna 5 deprecations
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    instances = args.instances or suite_instances(args.data_path)
    candidates = POLICIES + (ABLATIONS if args.ablation else ())
    policies = [p for p in candidates if not args.policies or p.name in args.policies]
    if RANDOM not in [p.name for p in policies]:
        policies.insert(0, POLICIES[0])  # random search sets the quality target
    checkpoints = [c for c in CHECKPOINTS_FBE if c < args.budget_fbe] + [args.budget_fbe]
    started = time.perf_counter()
    rows = []
    notes = []
    figs: dict[tuple[str, str], tuple[Any, list[str]]] = {}
    configs = random_configs(args.data_path, 1000)
    for instance in instances:
        surrogate = LcbenchSurrogate(args.data_path, instance)
        corr = rank_correlation(surrogate, configs, CORRELATION_EPOCHS)
        notes.append(f"{instance}: " + ", ".join(f"epoch {e} {c:.2f}" for e, c in corr.items()))
        budget = args.budget_fbe * surrogate.max_epoch
        target: float | None = None
        for policy in policies:
            logs = run_seeds(policy, args.data_path, surrogate, budget, args.seeds, n_workers=1)
            if target is None:
                target = target_of(logs, budget)
            fig = figures(logs, target, surrogate.max_epoch, checkpoints)
            speed = ["-", "-", "-"]
            if args.workers > 1 and policy not in ABLATIONS:
                par = run_seeds(
                    policy, args.data_path, surrogate, budget, args.seeds, n_workers=args.workers
                )
                t1 = median_or_none([log.time_to_reach(target) for log in logs])
                tn = median_or_none([log.time_to_reach(target) for log in par])
                ratio = t1 / tn if t1 is not None and tn is not None else None
                speed = [fmt(hours(t1), 1), fmt(hours(tn), 1), fmt(ratio, 1)]
            figs[instance, policy.name] = (fig, speed)
            rows.append(
                [
                    instance,
                    policy.name,
                    *(fmt(fig.best_at[c]) for c in checkpoints),
                    f"{target:.2f}",
                    fmt(fig.fbe_to_target, 1, f">{args.budget_fbe}"),
                    f"{fig.n_reached}/{fig.n_seeds}",
                    f"{fig.mean_trials:.0f}",
                    *speed,
                ]
            )
            print(
                f"[{time.perf_counter() - started:6.0f}s] {instance} {policy.name}",
                file=sys.stderr,
                flush=True,
            )
    w = args.workers
    headers = [
        "instance",
        "policy",
        *(f"best@{c}" for c in checkpoints),
        "target",
        "FBE to target",
        "seeds reaching",
        "trials",
        "h to target (1w)",
        f"h to target ({w}w)",
        f"speedup ({w}w)",
    ]
    print(markdown_table(headers, rows))
    print(
        f"\n{args.seeds} seeds, budget {args.budget_fbe} FBE; best@N: best val_accuracy (%) "
        "of a trial completed within N FBE, median over seeds; target: random search's "
        f"best at {args.budget_fbe} FBE, median over seeds; FBE to target: median over seeds "
        f"(>{args.budget_fbe}: half or more never reached it); h to target: simulated hours "
        "(surrogate runtime), median over seeds; speedup: 1-worker / "
        f"{w}-worker median time. Ran in {time.perf_counter() - started:.0f}s."
    )
    print(
        "Spearman rank correlation of val_accuracy after epoch e with the last epoch's, "
        f"over {len(configs)} random configurations: " + "; ".join(notes) + "."
    )
    print(goal_summary(figs, instances, args.budget_fbe, args.workers))
    return 0


def goal_summary(
    figs: dict[tuple[str, str], tuple[Any, list[str]]],
    instances: Sequence[str],
    budget_fbe: int,
    workers: int,
) -> str:
    """Issue 5's goals for the default policy, checked on the figures above."""
    if not all((i, DEFAULT) in figs for i in instances):
        return "Goals: not checked (the hpsearch default policy was not run)."
    lines = ["Goals for the hpsearch default:"]
    for instance in instances:
        fig, speed = figs[instance, DEFAULT]
        fbe = fmt(fig.fbe_to_target, 1, f">{budget_fbe}")
        ok = fig.fbe_to_target is not None and fig.fbe_to_target <= 10
        parts = [f"FBE to target {fbe} ({'met' if ok else 'MISSED'}: <= 10)"]
        if (instance, TPE) in figs and 25 in fig.best_at:
            mine, tpe = fig.best_at[25], figs[instance, TPE][0].best_at[25]
            ok = mine is not None and (tpe is None or mine >= tpe)
            parts.append(
                f"best@25 {fmt(mine)} vs Optuna TPE {fmt(tpe)} "
                f"({'met' if ok else 'MISSED'}: not worse)"
            )
        if workers > 1:
            ok = speed[2] != "-" and float(speed[2]) >= 6
            parts.append(
                f"speedup with {workers} workers {speed[2]} ({'met' if ok else 'MISSED'}: >= 6)"
            )
        lines.append(f"- {instance}: " + "; ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
