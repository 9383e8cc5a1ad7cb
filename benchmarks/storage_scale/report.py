"""Tables and goal lines of the storage-scale benchmark (see __main__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.common import fmt, percentile


@dataclass(frozen=True)
class Phase:
    label: str
    study: str
    workers: int
    trials: int  # the study's budget: trials stored when the phase ends
    sampler: str = "tpe"
    steps: int = 3
    step_seconds: float = 0.0
    duration: float = 0.0
    plain: bool = False
    probe: bool = False  # status + dashboard on the grown study
    fed: bool = False  # one driver process asks (feeder.py), the workers report and tell
    continues: bool = False  # the study exists (grown by an earlier phase)


@dataclass
class PhaseResult:
    phase: Phase
    # per trial: number, t, ask, tell, report, budget count, lock wait, Trial set-up
    records: list[list[float]]
    errors: list[str]
    duplicates: int
    stored: int
    seconds: float
    max_rss_mb: float
    probes: dict[str, Any]


def slope_ms_per_1k(records: list[list[float]]) -> float | None:
    """Least-squares slope of ask+tell latency (ms) against the trial number, per 1k trials."""
    if len(records) < 2:
        return None
    xs = [r[0] for r in records]
    ys = [1000 * (r[2] + r[3]) for r in records]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def rows_of(result: PhaseResult, bucket: int) -> list[list[str]]:
    phase = result.phase
    groups: list[tuple[str, list[list[float]]]] = []
    if not phase.duration:
        last = max((int(r[0]) for r in result.records), default=-1)
        first = min((int(r[0]) for r in result.records), default=0) // bucket * bucket
        for start in range(first, last + 1, bucket):
            chunk = [r for r in result.records if start <= r[0] < start + bucket]
            low = max(start, first if start == first else start)
            low = min((int(r[0]) for r in chunk), default=low)
            groups.append((f"{low}-{min(start + bucket, last + 1) - 1}", chunk))
    groups.append(("all", result.records))
    rows = []
    for name, chunk in groups:
        total = [1000 * (r[2] + r[3]) for r in chunk]

        def p(col: int, q: float, data: list[list[float]] = chunk) -> str:
            return fmt(percentile([1000 * r[col] for r in data], q))

        is_all = name == "all"
        rows.append(
            [
                phase.label,
                str(phase.workers),
                name,
                str(len(chunk)),
                fmt(percentile(total, 50)),
                fmt(percentile(total, 95)),
                fmt(percentile(total, 99)),
                p(2, 95),
                p(3, 95),
                p(6, 95) if not phase.plain else "-",
                p(5, 50) if not phase.plain else "-",
                p(7, 50) if not phase.plain else "-",
                p(4, 95),
                fmt(len(result.records) / result.seconds, 1) if is_all else "",
                fmt(slope_ms_per_1k(result.records), 2) if is_all else "",
                str(len(result.errors)) if is_all else "",
                str(result.duplicates) if is_all else "",
            ]
        )
    return rows


HEADERS = [
    "run",
    "workers",
    "trial numbers",
    "trials",
    "ask+tell p50 (ms)",
    "ask+tell p95 (ms)",
    "ask+tell p99 (ms)",
    "ask p95 (ms)",
    "tell p95 (ms)",
    "lock wait p95 (ms)",
    "budget count p50 (ms)",
    "Trial set-up p50 (ms)",
    "report+prune+beat p95 (ms)",
    "trials/s",
    "slope (ms per 1k trials)",
    "errors",
    "duplicates",
]


def summary_lines(results: list[PhaseResult], driver: dict[str, Any] | None) -> list[str]:
    lines = []
    for r in results:
        driver_rss = r.probes.get("driver_rss_mb")
        lines.append(
            f"- {r.phase.label}: {len(r.records)} trials in {r.seconds:.0f} s "
            f"({r.stored} stored), worker peak RSS {r.max_rss_mb:.0f} MB"
            + (f", asking driver peak RSS {driver_rss:.0f} MB" if driver_rss else "")
        )
    main_run = next((r for r in results if r.phase.study == "grow"), None)
    probed = driver or (main_run.probes if main_run else {})
    status, dash = probed.get("status"), probed.get("dashboard")
    at = 1 + driver["prefill"] + driver["trials"] if driver else main_run.stored if main_run else 0
    if status:
        lines.append(
            f"- hpsearch status at {at} trials: {status[0]:.2f} s for the command "
            f"(interpreter start-up included), {status[1]:.2f} s for the overview itself"
        )
    if dash:
        lines.append(
            f"- hpsearch dashboard at {at} trials: started in {dash['start_s']:.1f} s;"
            f" GET /api/studies/ID (the study page's data) first load {dash['study_first_s']:.2f} s"
            f" ({dash['study_first_mb']:.1f} MB), second {dash['study_second_s']:.2f} s; "
            f"GET /api/studies {dash['studies_s']:.2f} s"
        )
    if driver:
        lines.append(
            f"- real hpsearch run driver, {driver['trials']} trials on a study already holding "
            f"{driver['prefill']} finished ones ({driver['seconds']:.0f} s run): peak RSS "
            f"{driver['peak_rss_mb']:.0f} MB"
        )
    lines.append("")
    lines.append("Goals:")
    bucket = 1000

    def p95(records: list[list[float]]) -> float | None:
        return percentile([1000 * (r[2] + r[3]) for r in records], 95)

    pairs = []
    if main_run:
        first = p95([r for r in main_run.records if r[0] < bucket])
        last = p95([r for r in main_run.records if r[0] >= main_run.stored - bucket])
        pairs.append((main_run.phase.label, first, last, "last 1000 trials"))
    tpe = [r for r in results if r.phase.study == "tpe"]
    later = [r for r in results if r.phase.continues]
    if tpe and later and main_run:
        at_n = p95(later[0].records)
        where = f"from {main_run.stored} trials on"
        pairs.append(("TPE", p95([r for r in tpe[0].records if r[0] < bucket]), at_n, where))
    for label, p_first, p_last, where in pairs:
        if p_first and p_last:
            ratio = p_last / p_first
            verdict = "met" if ratio <= 1.5 else "MISSED"
            lines.append(
                f"- flat latency, {label}: ask+tell p95 {where} {p_last:.0f} ms vs the first "
                f"1000 trials {p_first:.0f} ms = {ratio:.2f}x ({verdict}: <= 1.5x)"
            )
    errors = sum(len(r.errors) for r in results)
    dups = sum(r.duplicates for r in results)
    exact = all(
        r.stored == r.phase.trials for r in results if not r.phase.duration and not r.phase.plain
    )
    ok = errors == 0 and dups == 0 and exact
    lines.append(
        f"- errors {errors}, duplicate trial numbers {dups}, every budget met exactly: {exact} "
        f"({'met' if ok else 'MISSED'})"
    )
    for r in results:
        if r.phase.duration:
            p95 = percentile([1000 * (x[2] + x[3]) for x in r.records], 95)
            ok = p95 is not None and p95 <= 250
            who = "one driver asking for" if r.phase.fed else "each asking for itself:"
            lines.append(
                f"- {r.phase.workers} workers sustained ({who} "
                f"{len(r.records)} trials): ask+tell p95 {fmt(p95, 0)} ms "
                f"({'met' if ok else 'MISSED'}: <= 250 ms)"
            )
    if status:
        ok = status[0] <= 1.0
        lines.append(f"- status {status[0]:.2f} s ({'met' if ok else 'MISSED'}: <= 1 s)")
    if driver:
        ok = driver["peak_rss_mb"] <= 500
        verdict = "met" if ok else "MISSED"
        lines.append(f"- driver memory {driver['peak_rss_mb']:.0f} MB ({verdict}: <= 500 MB)")
    return lines
