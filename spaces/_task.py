"""Parse and validate a task (``task:`` section of a space, or CLI flags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._check import Reader, is_number
from hpsearch.spaces._errors import IssueCollector
from hpsearch.spaces._fields import choices_of, read_field, read_fields
from hpsearch.spaces._limits import check_document
from hpsearch.spaces._plugins import TASKS
from hpsearch.spaces._spec import REPORT_TO, TaskSpec

# Fields with a rule of their own below; every other field is read by its declaration.
_SPECIAL = ("type", "model", "dataset", "demo", "report_to", "simulated", "max_steps", "eval_steps")


def load_task(
    data: Mapping[str, Any] | None, issues: IssueCollector, path: str = "task"
) -> TaskSpec:
    """Validate a task mapping into a :class:`TaskSpec`; missing keys take the defaults."""
    if not check_document(data, issues, path):
        return TaskSpec()  # past the size bounds: read no further
    reader = Reader(data, path, issues)
    reader.unknown_keys(TaskSpec.field_names())
    task_type = read_field(reader, TaskSpec, "type")
    model = read_field(reader, TaskSpec, "model")
    dataset = read_field(reader, TaskSpec, "dataset")
    needs_data = TASKS.get(task_type).needs_data
    demo = reader.boolean("demo", model is None and dataset is None and needs_data)
    if demo and task_type != "classification":
        issues.add(
            reader.at("type"),
            "the built-in demo is a classification task",
            task_type,
            "classification, or pass --model and --dataset",
        )
    if model is None and dataset is not None:
        issues.add(
            reader.at("model"),
            "a task with its own dataset needs a model",
            allowed="a local path or a hub id such as Qwen/Qwen3-0.6B",
        )
    if model is not None and dataset is None and needs_data:
        issues.add(
            reader.at("dataset"),
            "a task with its own model needs a dataset",
            allowed="a local file or folder (jsonl, json, csv, parquet, txt) or a hub id",
        )
    report_to = reader.raw("report_to", ())
    if isinstance(report_to, str):
        report_to = [report_to] if report_to != "none" else []
    trackers = choices_of(TaskSpec, "report_to") or REPORT_TO
    if not isinstance(report_to, (list, tuple)) or any(r not in trackers for r in report_to):
        issues.add(
            reader.at("report_to"), "is not valid", report_to, "a list of " + ", ".join(trackers)
        )
        report_to = ()
    simulated = reader.raw("simulated", {}) or {}
    if not isinstance(simulated, Mapping):
        issues.add(reader.at("simulated"), "must be a mapping", simulated)
        simulated = {}
    _check_simulated(Reader(simulated, reader.at("simulated"), issues))
    max_steps = read_field(reader, TaskSpec, "max_steps")
    eval_steps = read_field(reader, TaskSpec, "eval_steps")
    if max_steps is not None and eval_steps > max_steps:
        issues.add(
            reader.at("eval_steps"),
            "evaluation interval is longer than the trial",
            eval_steps,
            f"at most max_steps = {max_steps}",
        )
    plain = [n for n in TaskSpec.field_names() if n not in _SPECIAL]
    return TaskSpec(
        type=task_type,
        model=model,
        dataset=dataset,
        max_steps=max_steps,
        eval_steps=eval_steps,
        report_to=tuple(report_to),
        demo=demo,
        simulated=dict(simulated),
        **read_fields(reader, TaskSpec, plain),
    )


def _check_simulated(reader: Reader) -> None:
    """The simulated trainer's options: its own keys only, each a number."""
    allowed = TASKS.get("simulated").options
    reader.unknown_keys(allowed)
    for key in allowed:
        value = reader.raw(key)
        if value is not None and not is_number(value):
            reader.issues.add(reader.at(key), "must be a number", value)
