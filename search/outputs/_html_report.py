"""A self-contained HTML report of a study: Optuna's plots, the best configuration, savings.

plotly.js is inlined once, so the file opens with no network. A plot Optuna cannot draw for
this study (e.g. parameter importances with a single complete trial) is replaced by one line
saying why.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.search.outputs._pruning_savings import Savings, compute_savings
from hpsearch.search.records import attributes as A
from hpsearch.search.records import best_trial, fmt_duration, fmt_value, overview
from hpsearch.storage import redact, storage_of, study_id_of

PLOTS: tuple[tuple[str, str], ...] = (
    ("optimization-history", "Optimization history"),
    ("intermediate-values", "Intermediate values (the objective at every evaluation)"),
    ("param-importances", "Parameter importances"),
    ("parallel-coordinate", "Parallel coordinates"),
    ("slice", "Slices"),
)
_BEST_ATTRS = (
    A.EFFECTIVE_BATCH,
    A.GRAD_ACCUM,
    A.PER_DEVICE_BATCH,
    A.LEARNING_RATE_USED,
    "trainable_params",
    "device",
    "peak_memory_mb",
    "tokens_per_s",
    "samples_per_s",
    A.WALL_TIME,
    "best_step",
    A.ADAPTER_DIR,
)
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1rem} td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;font-size:.9rem} th{background:#f4f4f4} .num{text-align:right}
.plot{margin:1rem 0 2rem} .missing{color:#a60} pre{background:#f7f7f7;padding:1rem;
overflow:auto;font-size:.85rem} .PRUNED{color:#a60} .FAIL{color:#b00} .COMPLETE{color:#070}
"""


@dataclass(frozen=True)
class Plot:
    key: str
    title: str
    html: str | None
    missing: str | None = None


def _plot_functions() -> dict[str, Callable[[optuna.Study], Any]]:
    from optuna import visualization as v

    return {
        "optimization-history": v.plot_optimization_history,
        "intermediate-values": v.plot_intermediate_values,
        "param-importances": v.plot_param_importances,
        "parallel-coordinate": v.plot_parallel_coordinate,
        "slice": v.plot_slice,
    }


def build_plots(study: optuna.Study, metric: str) -> list[Plot]:
    functions = _plot_functions()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "no complete trials" is in the report
    try:
        for key, title in PLOTS:
            plots.append(_plot(study, functions[key], key, title, metric, len(complete)))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return plots


def _plot(
    study: optuna.Study,
    function: Callable[[optuna.Study], Any],
    key: str,
    title: str,
    metric: str,
    complete: int,
) -> Plot:
    if key == "param-importances" and complete < 2:
        return Plot(key, title, None, "needs at least two complete trials")
    try:
        figure = function(study)
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        return Plot(key, title, None, f"Optuna cannot draw it for this study: {exc}")
    if not figure.data:
        return Plot(key, title, None, "no data for it yet")
    figure.update_layout(title=f"{title} ({metric})", height=450)
    body = figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{key}")
    return Plot(key, title, body)


def _table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes else ""
        cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
        lines.append(f"<tr{css}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _best_section(study: optuna.Study, metric: str) -> str:
    best = best_trial(study)
    if best is None:
        return "<p>No trial completed yet, so there is no best configuration.</p>"
    rows: list[list[Any]] = [[name, value] for name, value in best.params.items()]
    rows += [[f"({key})", best.user_attrs[key]] for key in _BEST_ATTRS if key in best.user_attrs]
    export = f"hpsearch best {study.study_name} --export DIR"
    return (
        f"<p>Trial <b>#{best.number}</b>: {html.escape(metric)} = "
        f"<b>{html.escape(fmt_value(best.value))}</b> ({best.value!r}).</p>"
        + _table(["parameter", "value"], rows)
        + f"<p>Export its adapter, tokenizer and settings: <code>{html.escape(export)}</code></p>"
    )


def _savings_section(savings: Savings | None) -> str:
    if savings is None:
        return "<p>No trial has finished yet.</p>"
    unit = savings.unit
    pruned = savings.saved_by("PRUNED")
    early = savings.saved_by("COMPLETE", early_stop=True)
    text = (
        f"<p>The finished trials trained <b>{savings.spent:,}</b> {unit} in total; running every "
        f"one of them to the full {savings.full_length:,} {unit} "
        f"({html.escape(savings.full_length_source)}) "
        f"would have taken <b>{savings.if_all_full:,}</b> {unit}: "
        f"<b>{savings.saved_fraction:.0%} saved</b> ({pruned:,} {unit} by pruning, {early:,} by "
        f"early stopping). Wall time: {fmt_duration(savings.wall_spent_s)} spent in trials versus "
        f"about {fmt_duration(savings.wall_if_full_s)} to run all of them to the end.</p>"
    )
    if savings.paused:
        text += (
            f"<p>{savings.paused:,} paused trial(s) may still be promoted: their "
            f"{savings.pending:,} remaining {unit} are not counted as saved until the search "
            "can no longer promote them.</p>"
        )
    rows = [
        [
            t.number,
            t.state,
            f"{t.start:,}-{t.last:,}" if t.start else f"{t.last:,}",
            f"{t.spent:,}",
            f"{t.saved:,}" + (f" ({t.pending_steps:,} pending)" if t.pending else ""),
            fmt_duration(t.wall_time_s),
            t.reason or "",
        ]
        for t in sorted(savings.trials, key=lambda t: t.number)
    ]
    header = ["trial", "state", f"{unit}", f"{unit} trained", f"{unit} saved", "wall", "why"]
    return text + _table(
        header, rows, [t.state for t in sorted(savings.trials, key=lambda t: t.number)]
    )


def _note(study: optuna.Study) -> str:
    try:
        from optuna_dashboard import get_note

        note = get_note(study)
    except Exception:  # an older optuna-dashboard, or no note
        return ""
    if not note:
        return ""
    # A study written by an older hpsearch may hold a password in its note: never show it.
    return f"<h2>Study note</h2><pre>{html.escape(redact(note))}</pre>"


def build_report(study: optuna.Study) -> str:
    """The report's complete HTML text."""
    from plotly.offline import get_plotlyjs

    info = overview(storage_of(study), study_id_of(study))
    metric = info.metric
    plots = build_plots(study, metric)
    savings = compute_savings(study)
    generated = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    summary = (
        f"{info.direction} {metric} · {info.progress} trials finished ({info.complete} complete, "
        f"{info.pruned} pruned, {info.failed} failed, {info.retried} retried, {info.running} "
        f"running) · space {info.space or '-'} · generated {generated}"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>hpsearch report: {html.escape(study.study_name)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>Study {html.escape(study.study_name)}</h1><p class='sub'>{html.escape(summary)}</p>",
        "<h2 id='best'>Best configuration</h2>",
        _best_section(study, metric),
        "<h2 id='savings'>Pruning savings</h2>",
        _savings_section(savings),
    ]
    for plot in plots:
        parts.append(f"<h2 id='{plot.key}'>{html.escape(plot.title)}</h2>")
        if plot.html is None:
            parts.append(f"<p class='missing'>Not drawn: {html.escape(plot.missing or '')}</p>")
        else:
            parts.append(f"<div class='plot'>{plot.html}</div>")
    parts.append(_note(study))
    data: dict[str, Any] = {"study": study.study_name, "overview": info.to_json()}
    data["savings"] = savings.to_json() if savings else None
    parts.append(
        "<script type='application/json' id='hpsearch-data'>"
        + html.escape(json.dumps(data, default=str), quote=False)
        + "</script></body></html>"
    )
    return "\n".join(parts)
