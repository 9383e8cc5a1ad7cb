"""Storage scale: a study grown to 10,000 trials by 16 concurrent workers on PostgreSQL.

Each worker is a process of its own (multiprocessing, spawn) with its own ``open_storage``,
going through hpsearch's storage path exactly as the driver and a Ray worker do (worker.py):
``BudgetedAsker.ask()`` (budget counted and row created under the study lock) +
``policy.sample_params`` on the ``lora_small`` space (TPE), a few ``trial.report``/
``should_prune`` with a heartbeat each, and ``tell``. Then: ``hpsearch status`` and the
dashboard's study API on the grown study, the same with the random sampler (storage cost
without TPE's), plain Optuna side by side (4 processes, TPE), a sustained phase of 64 workers
reporting and heart-beating every second, and the memory of a real ``hpsearch run`` driver.

    python -m benchmarks.storage_scale                       # 10,000 trials; long (see docs)
    python -m benchmarks.storage_scale --smoke               # CI: 300 trials, < 1 minute

Prints one markdown table (ask+tell latency per bucket of trial numbers), then the probes and
the goals.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_db, machine, markdown_table, pg_server_version, versions
from benchmarks.storage_scale import feeder as ss_feeder
from benchmarks.storage_scale import probe as ss_probe
from benchmarks.storage_scale.report import HEADERS, Phase, PhaseResult, rows_of, summary_lines
from benchmarks.storage_scale.worker import WorkerConfig, run


def _create_study(url: str, study: str, plain: bool) -> None:
    import optuna

    from hpsearch.storage import create_or_load_study, open_storage, parse_storage_url

    if plain:
        optuna.create_study(study_name=study, storage=parse_storage_url(url).url)
        return
    storage = open_storage(parse_storage_url(url))
    create_or_load_study(storage, study, "minimize")
    storage.engine.dispose()


def _duplicates(url: str, study: str) -> tuple[int, int]:
    """(trial numbers stored more than once, trials stored) for the study."""
    import sqlalchemy

    from hpsearch.storage import parse_storage_url

    engine = sqlalchemy.create_engine(parse_storage_url(url).url)
    with engine.connect() as conn:
        dup = conn.execute(
            sqlalchemy.text(
                "SELECT count(*) FROM (SELECT t.number FROM trials t JOIN studies s "
                "ON s.study_id = t.study_id WHERE s.study_name = :n GROUP BY t.number "
                "HAVING count(*) > 1) d"
            ),
            {"n": study},
        ).scalar()
        stored = conn.execute(
            sqlalchemy.text(
                "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
                "WHERE s.study_name = :n"
            ),
            {"n": study},
        ).scalar()
    engine.dispose()
    return int(dup or 0), int(stored or 0)


def _context() -> Any:
    """Fresh worker processes from a fork server that imported hpsearch and Optuna once: a
    clean single-threaded parent (like spawn) without each worker paying the imports."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "benchmarks.storage_scale.worker",
            "benchmarks.storage_scale.feeder",
            "optuna",
            "hpsearch.search.engine",
        ]
    )
    return ctx


def run_phase(phase: Phase, url: str) -> PhaseResult:
    ctx = _context()
    work = Path(tempfile.mkdtemp(prefix="hps-ss-"))
    study = phase.study
    if True:  # one database for the whole benchmark (see main)
        if not phase.continues:
            _create_study(url, study, phase.plain)
        ready = [ctx.Event() for _ in range(phase.workers + phase.fed)]
        go = ctx.Event()
        procs = []
        queues = (ctx.Queue(), ctx.Queue()) if phase.fed else ()
        for i in range(phase.workers):
            cfg = WorkerConfig(
                index=i,
                url=url,
                study=study,
                budget=phase.trials,
                workers=phase.workers,
                sampler=phase.sampler,
                steps=phase.steps,
                step_seconds=phase.step_seconds,
                duration=phase.duration,
                out=str(work / f"w{i}.json"),
                plain_optuna=phase.plain,
            )
            proc = ctx.Process(target=run, args=(cfg, ready[i], go, *queues), daemon=True)
            proc.start()
            procs.append(proc)
        if phase.fed:
            driver_cfg = replace(cfg, index=phase.workers, out=str(work / "driver.json"))
            args = (driver_cfg, ready[-1], go, *queues)
            procs.append(ctx.Process(target=ss_feeder.feed, args=args, daemon=True))
            procs[-1].start()
        for event, proc in zip(ready, procs, strict=True):
            while not event.wait(1.0):
                if not proc.is_alive():
                    raise SystemExit(f"worker {proc.name} died while starting")
        started = time.perf_counter()
        go.set()
        for proc in procs:
            proc.join()
        seconds = time.perf_counter() - started
        outs = [json.loads(p.read_text()) for p in sorted(work.glob("w*.json"))]
        if len(outs) != phase.workers:
            raise SystemExit(f"{phase.label}: {phase.workers - len(outs)} workers wrote nothing")
        duplicates, stored = _duplicates(url, study)
        probes: dict[str, Any] = {}
        worker_rss = max(out["max_rss_mb"] for out in outs)
        if phase.fed:
            driver_out = json.loads((work / "driver.json").read_text())
            outs.append({"records": [], **driver_out})
            probes["driver_rss_mb"] = driver_out["max_rss_mb"]
        if phase.probe:
            probes["status"] = ss_probe.status_seconds(url, study)
            probes["dashboard"] = ss_probe.dashboard_seconds(url, study)
    records = [r for out in outs for r in out["records"]]
    numbers = [int(r[0]) for r in records]
    duplicates += len(numbers) - len(set(numbers))
    return PhaseResult(
        phase=phase,
        records=sorted(records),
        errors=[e for out in outs for e in out["errors"]],
        duplicates=duplicates,
        stored=stored,
        seconds=seconds,
        max_rss_mb=worker_rss,
        probes=probes,
    )


def phases(args: argparse.Namespace) -> list[Phase]:
    n, w, t = args.trials, args.workers, args.tpe_trials
    out = []
    if "tpe" in args.runs:
        out.append(Phase(f"hpsearch, TPE, new study to {t}", "tpe", w, t))
    if "grow" in args.runs:
        label = f"hpsearch, random, new study to {n}"
        out.append(Phase(label, "grow", w, n, "random", probe="driver" not in args.runs))
    if "tpe-at-n" in args.runs:
        label = f"hpsearch, TPE, the random study from {n} to {n + args.tpe_extra}"
        out.append(Phase(label, "grow", w, n + args.tpe_extra, continues=True))
    if "optuna" in args.runs:
        m = args.optuna_trials
        out.append(
            Phase(f"plain Optuna, TPE, 4 processes, new study to {m}", "plain", 4, m, plain=True)
        )
    if "sustained" in args.runs:
        s = args.sustained_workers
        out.append(
            Phase(
                f"sustained: {s} workers fed by one driver, {args.sustained_seconds:g} s, "
                "trials of 5 x 1 s, TPE",
                "sustained",
                s,
                10**9,
                steps=5,
                step_seconds=1.0,
                duration=args.sustained_seconds,
                fed=True,
            )
        )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000, help="the random study's size")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--tpe-trials", type=int, default=2000, help="the TPE study's size")
    parser.add_argument(
        "--tpe-extra", type=int, default=200, help="TPE trials added to the grown random study"
    )
    parser.add_argument("--bucket", type=int, default=1000, help="trial numbers per table row")
    parser.add_argument("--optuna-trials", type=int, default=2000, help="plain Optuna's trials")
    parser.add_argument("--sustained-workers", type=int, default=64)
    parser.add_argument("--sustained-seconds", type=float, default=60.0)
    parser.add_argument(
        "--driver-trials",
        type=int,
        default=300,
        help="trials of a real hpsearch run (its driver's memory), on a study first filled with "
        "--trials finished trials",
    )
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["tpe", "grow", "tpe-at-n", "optuna", "sustained", "driver"],
        choices=["tpe", "grow", "tpe-at-n", "optuna", "sustained", "driver"],
        help="what to run (grow: a study grown to --trials with the random sampler; driver: a "
        "real hpsearch run on a study filled with --trials trials, then status and dashboard "
        "timed on it)",
    )
    parser.add_argument("--storage", help="an empty PostgreSQL database to use (default: fresh)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI: 300 trials by 4 workers (TPE 100, Optuna 100), 8 workers for 10 s, no driver",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials, args.workers, args.bucket = 300, 4, 100
        args.tpe_trials, args.tpe_extra, args.optuna_trials = 100, 20, 100
        args.sustained_workers, args.sustained_seconds = 8, 10.0
        args.runs = ["tpe", "grow", "tpe-at-n", "optuna", "sustained"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    results = []
    aborted: list[str] = []
    driver = None
    with fresh_db("hps_bench_ss", args.storage) as url:
        for phase in phases(args):
            print(
                f"[{time.perf_counter() - began:6.0f}s] {phase.label}", file=sys.stderr, flush=True
            )
            try:
                results.append(run_phase(phase, url))
            except (SystemExit, Exception) as exc:  # report the phases that did run
                aborted.append(f"{phase.label}: aborted: {exc}")
        if "driver" in args.runs:
            print(f"[{time.perf_counter() - began:6.0f}s] hpsearch run driver", file=sys.stderr)
            driver = ss_probe.driver_rss(url, args.driver_trials, 2, prefill=args.trials)
            driver["status"] = ss_probe.status_seconds(url, "driver-rss")
            driver["dashboard"] = ss_probe.dashboard_seconds(url, "driver-rss")
    table = [row for result in results for row in rows_of(result, args.bucket)]
    print(markdown_table(HEADERS, table))
    print(
        f"\nask = BudgetedAsker.ask() + sample_params; tell = study.tell; one report = "
        f"trial.report + should_prune + record_heartbeat; inside ask: lock wait (acquiring the "
        f"study lock, and the configurations lock while sampling), budget count (under the "
        f"study lock), Trial set-up (after it: Optuna's cache sync and the sampler's set-up). "
        f"{machine()}; PostgreSQL {pg_server_version()}; "
        f"{versions('optuna', 'sqlalchemy', 'psycopg2-binary', 'optuna-dashboard', 'ray')}. "
        f"Ran in {time.perf_counter() - began:.0f}s."
    )
    print("\n" + "\n".join(summary_lines(results, driver)))
    for line in aborted:
        print(f"- {line}")
    for result in results:
        for error in result.errors[:3]:
            print(f"\n{result.phase.label} error:\n{error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
