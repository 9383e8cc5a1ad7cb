"""Figures and the markdown table of the sample-efficiency benchmark.

Every figure is computed from simulated runs; a policy that never reaches a target within the
budget is shown as ``>budget`` (never estimated or extrapolated).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.sample_efficiency.runner import Completion, RunLog

# The policies the report names (``policies.py``'s names; not imported: it loads hpsearch).
RANDOM_POLICY, DEFAULT_POLICY, TPE_POLICY = "random", "hpsearch default", "Optuna TPE"

CHECKPOINTS_FBE = (10, 25, 50, 100)


def median_or_none(values: Sequence[float | None], missing: float = float("inf")) -> float | None:
    """The median where a missing value (None) ranks as ``missing`` (+inf: an unreached
    target; -inf: no result yet); None when the median itself is missing."""
    ordered = sorted(values, key=lambda v: missing if v is None else v)
    if not ordered:
        return None
    n = len(ordered)
    lo, hi = ordered[(n - 1) // 2], ordered[n // 2]
    if lo is None or hi is None:
        return None
    return (lo + hi) / 2


def target_of(random_logs: Sequence[RunLog], budget_epochs: int) -> float:
    """Random search's result at the budget, median over seeds: the quality target."""
    bests = [log.best_at_epochs(budget_epochs) for log in random_logs]
    reached = [b for b in bests if b is not None]
    if len(reached) < len(bests):
        raise RuntimeError("random search completed no trial within the budget")
    return statistics.median(reached)


@dataclass(frozen=True)
class PolicyFigures:
    """One policy on one instance, over seeds."""

    best_at: dict[int, float | None]  # FBE checkpoint -> median best val_accuracy
    fbe_to_target: float | None  # median FBE to reach the target (None: median not reached)
    n_reached: int
    n_seeds: int
    mean_trials: float
    mean_pruned: float


def figures(
    logs: Sequence[RunLog],
    target: float,
    max_epoch: int,
    checkpoints: Sequence[int] = CHECKPOINTS_FBE,
) -> PolicyFigures:
    best_at: dict[int, float | None] = {}
    for fbe in checkpoints:
        bests = [log.best_at_epochs(fbe * max_epoch) for log in logs]
        # A seed with no completed trial yet has no result: it ranks as the worst.
        best_at[fbe] = median_or_none(bests, missing=float("-inf"))
    reach = [log.epochs_to_reach(target) for log in logs]
    fbe = [None if r is None else r / max_epoch for r in reach]
    return PolicyFigures(
        best_at=best_at,
        fbe_to_target=median_or_none(fbe),
        n_reached=sum(r is not None for r in reach),
        n_seeds=len(logs),
        mean_trials=statistics.fmean(log.n_trials for log in logs),
        mean_pruned=statistics.fmean(log.n_pruned for log in logs),
    )


def fmt(value: float | None, digits: int = 2, missing: str = "-") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- results files (grid.py's JSON lines) -----------------------------------------------------


def log_of(doc: Mapping[str, Any]) -> RunLog:
    """One results line as the run's log."""
    return RunLog(
        completions=[Completion(float(e), float(t), float(v)) for e, t, v in doc["trajectory"]],
        epochs_used=float(doc["epochs_used"]),
        n_trials=int(doc["n_trials"]),
        n_pruned=int(doc["n_pruned"]),
        end_time=float(doc["end_time"]),
    )


@dataclass(frozen=True)
class Row:
    """One policy (hpsearch) or method (peer) on one instance, for the table."""

    source: str  # "hpsearch" | "peer"
    name: str
    fig: PolicyFigures
    decision_s_per_trial: float | None
    h_to_target: dict[int, float | None]  # workers -> median simulated hours to the target


def hpsearch_rows(
    docs: Sequence[Mapping[str, Any]], budget_fbe: float, checkpoints: Sequence[int]
) -> tuple[dict[str, float], dict[str, list[Row]]]:
    """The targets (random's median best at the budget, 1 worker) and each instance's rows."""
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for doc in docs:
        if float(doc["budget_fbe"]) == budget_fbe:
            key = (str(doc["instance"]), str(doc["policy"]), int(doc["workers"]))
            groups.setdefault(key, []).append(doc)
    targets = {
        inst: target_of([log_of(d) for d in group], int(budget_fbe * group[0]["max_epoch"]))
        for (inst, policy, workers), group in groups.items()
        if policy == RANDOM_POLICY and workers == 1
    }
    rows: dict[str, list[Row]] = {}
    for (inst, policy, workers), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
        if workers != 1 or inst not in targets:
            continue
        target = targets[inst]
        fig = figures([log_of(d) for d in group], target, group[0]["max_epoch"], checkpoints)
        hours = {}
        for (i2, p2, w2), other in groups.items():
            if (i2, p2) == (inst, policy):
                t = median_or_none([log_of(d).time_to_reach(target) for d in other])
                hours[w2] = None if t is None else t / 3600
        per_trial = statistics.fmean(
            d["decision"]["total_s"] / max(1, d["n_trials"]) for d in group
        )
        rows.setdefault(inst, []).append(Row("hpsearch", policy, fig, per_trial, hours))
    return targets, rows


def peer_rows(
    peer_runs: Sequence[Mapping[str, Any]],
    targets: Mapping[str, float],
    budget_fbe: float,
    checkpoints: Sequence[int],
) -> dict[str, list[Row]]:
    """The peers' figures against hpsearch's targets (``sample_efficiency_peers.report``)."""
    from benchmarks.sample_efficiency_peers import report as peers

    figs = peers.peer_figures(peer_runs, targets, checkpoints, budget_fbe=budget_fbe)
    rows: dict[str, list[Row]] = {}
    for (inst, method), f in figs.items():
        fig = PolicyFigures(f.best_at, f.fbe_to_target, f.n_reached, f.n_seeds, f.mean_trials, 0.0)
        rows.setdefault(inst, []).append(
            Row("peer", method, fig, f.decision_s_per_trial, {1: f.hours_to_target})
        )
    return rows


def instance_table(
    inst: str, target: float, rows: Sequence[Row], budget_fbe: float, checkpoints: Sequence[int],
    workers: int,
) -> str:  # fmt: skip
    headers = [
        "instance", "policy / peer method", *(f"best@{c}" for c in checkpoints), "target",
        "FBE to target", "seeds reaching", "trials", "decision s/trial", "h to target (1w)",
        f"h to target ({workers}w)", f"speedup ({workers}w)",
    ]  # fmt: skip
    out = []
    for row in rows:
        f, h1, hn = row.fig, row.h_to_target.get(1), row.h_to_target.get(workers)
        speed = h1 / hn if h1 is not None and hn is not None and hn > 0 else None
        label = row.name if row.source == "hpsearch" else f"peer: {row.name}"
        out.append([
            inst, label, *(fmt(f.best_at.get(c)) for c in checkpoints), f"{target:.2f}",
            fmt(f.fbe_to_target, 1, f">{budget_fbe:g}"), f"{f.n_reached}/{f.n_seeds}",
            f"{f.mean_trials:.0f}", fmt(row.decision_s_per_trial, 4), fmt(h1, 1), fmt(hn, 1),
            fmt(speed, 1),
        ])  # fmt: skip
    return markdown_table(headers, out)


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def goal_lines(
    rows: Mapping[str, Sequence[Row]], budget_fbe: float, workers: int, default: str, tpe: str
) -> list[str]:
    """Issue 14's goals for the hpsearch default, each met/MISSED with its figures."""
    lines = [f"Goals for {default!r} (issue 14):"]
    insts = [i for i in rows if any(r.name == default and r.source == "hpsearch" for r in rows[i])]
    if not insts:
        return [f"Goals: not checked ({default!r} was not run)."]
    missing = f">{budget_fbe:g}"
    met_fbe = met_tpe = met_speed = checked_tpe = 0
    as_good, within, vs_peer = 0, 0, 0
    for inst in insts:
        by = {(r.source, r.name): r for r in rows[inst]}
        me = by["hpsearch", default]
        fbe, n, seeds = me.fig.fbe_to_target, me.fig.n_reached, me.fig.n_seeds
        ok = fbe is not None and fbe <= 8 and n >= 0.8 * seeds
        met_fbe += ok
        parts = [f"FBE to target {fmt(fbe, 1, missing)}, {n}/{seeds} seeds ({_ok(ok)}: <= 8, "
                 f">= 8/10)"]  # fmt: skip
        if ("hpsearch", tpe) in by and 25 in me.fig.best_at:
            mine, theirs = me.fig.best_at[25], by["hpsearch", tpe].fig.best_at[25]
            ok = mine is not None and (theirs is None or mine >= theirs)
            met_tpe += ok
            checked_tpe += 1
            parts.append(f"best@25 {fmt(mine)} vs {tpe} {fmt(theirs)} ({_ok(ok)}: not worse)")
        peers = [r for r in rows[inst] if r.source == "peer"]
        if peers:
            vs_peer += 1
            best = min(peers, key=lambda r: math.inf if r.fig.fbe_to_target is None
                       else r.fig.fbe_to_target)  # fmt: skip
            theirs = best.fig.fbe_to_target
            mine_v = math.inf if fbe is None else fbe
            theirs_v = math.inf if theirs is None else theirs
            good = mine_v <= theirs_v
            near = good or mine_v <= 1.25 * theirs_v
            as_good += good
            within += near and not good
            verdict = "as good" if good else ("within 25%" if near else "worse by > 25%")
            parts.append(f"FBE to target vs best peer {best.name} {fmt(theirs, 1, missing)} "
                         f"({verdict})")  # fmt: skip
        t1, tn = me.h_to_target.get(1), me.h_to_target.get(workers)
        if workers > 1:
            speed = t1 / tn if t1 is not None and tn is not None and tn > 0 else None
            ok = speed is not None and speed >= 6
            met_speed += ok
            parts.append(f"speedup with {workers} workers {fmt(speed, 1)} (h to target "
                         f"{fmt(t1, 1)} / {fmt(tn, 1)}; {_ok(ok)}: >= 6)")  # fmt: skip
        lines.append(f"- {inst}: " + "; ".join(parts))
    k = len(insts)
    lines.append(f"- FBE to target <= 8 with >= 8/10 seeds reaching: {met_fbe}/{k} instances "
                 f"({_ok(met_fbe == k)})")  # fmt: skip
    if checked_tpe:
        lines.append(f"- never worse than {tpe} at 25 FBE: {met_tpe}/{checked_tpe} "
                     f"({_ok(met_tpe == checked_tpe)})")  # fmt: skip
    else:
        lines.append(f"- never worse than {tpe} at 25 FBE: not checked ({tpe} not run, or "
                     "a budget under 25 FBE)")  # fmt: skip
    if vs_peer:
        need = math.ceil(0.7 * vs_peer)
        ok = as_good >= need and as_good + within == vs_peer
        lines.append(f"- FBE to target vs the best peer: as good on {as_good}/{vs_peer}, within "
                     f"25% on {within} more ({_ok(ok)}: as good on >= {need}, within 25% on "
                     "the rest)")  # fmt: skip
    else:
        lines.append("- FBE to target vs the best peer: not checked (no --peers file)")
    if workers > 1:
        lines.append(f"- {workers} workers >= 6x faster (simulated time to target): "
                     f"{met_speed}/{k} ({_ok(met_speed == k)})")  # fmt: skip
    return lines


def render(
    docs: Sequence[Mapping[str, Any]],
    peer_runs: Sequence[Mapping[str, Any]] = (),
    budget_fbe: float | None = None,
    workers: int = 8,
) -> str:
    """The whole report: one table per instance (hpsearch policies, then peers), the goals."""
    budget = budget_fbe if budget_fbe is not None else max(float(d["budget_fbe"]) for d in docs)
    checkpoints = [c for c in CHECKPOINTS_FBE if c < budget] + [int(budget)]
    targets, rows = hpsearch_rows(docs, budget, checkpoints)
    if peer_runs:
        for inst, extra in peer_rows(peer_runs, targets, budget, checkpoints).items():
            rows.setdefault(inst, []).extend(extra)
    blocks = [
        instance_table(inst, targets[inst], rows[inst], budget, checkpoints, workers)
        for inst in rows
    ]
    seeds = sorted({int(d["seed"]) for d in docs})
    blocks.append(
        f"Budget {budget:g} FBE, seeds {seeds[0]}..{seeds[-1]}; best@N: median over seeds of the "
        "best val_accuracy (%) of a trial completed within N FBE; target: hpsearch's random "
        f"search's best at {budget:g} FBE (1 worker), median over seeds, also for the peers; FBE "
        f"to target: median over seeds (>{budget:g}: the median seed never reached it); "
        "decision s/trial: wall seconds inside the sampler's and pruner's calls (peers: the "
        "library's calls) per trial started; h to target: simulated hours, median over seeds."
    )
    blocks.append("\n".join(goal_lines(rows, budget, workers, DEFAULT_POLICY, TPE_POLICY)))
    return "\n\n".join(blocks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="figures of the benchmark's results files")
    parser.add_argument("results", nargs="+", help="JSON-lines files the benchmark wrote")
    parser.add_argument("--peers", nargs="*", default=[], help="the peers' JSON-lines files")
    parser.add_argument("--budget-fbe", type=float, help="only studies of this budget")
    parser.add_argument("--workers", type=int, default=8, help="the parallel runs' workers")
    args = parser.parse_args(argv)
    from benchmarks.sample_efficiency.grid import read_lines

    docs = read_lines(*args.results)
    if not docs:
        print(f"no studies in {' '.join(args.results)}", file=sys.stderr)
        return 2
    peer_runs: list[dict[str, Any]] = []
    if args.peers:
        from benchmarks.sample_efficiency_peers import report as peers

        peer_runs = peers.load_runs(*args.peers)
    print(render(docs, peer_runs, args.budget_fbe, args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
