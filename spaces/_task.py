"""Parse and validate a task (``task:`` section of a space, or CLI flags)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._check import Reader, is_number
from hpsearch.spaces._errors import IssueCollector
from hpsearch.spaces._fields import choices_of, pattern_of, read_field, read_fields
from hpsearch.spaces._limits import check_document
from hpsearch.spaces._plugins import TASKS
from hpsearch.spaces._spec import REPORT_TO, TaskSpec

# Fields with a rule of their own below; every other field is read by its declaration.
_SPECIAL = (
    "type",
    "model",
    "dataset",
    "demo",
    "report_to",
    "simulated",
    "max_steps",
    "eval_steps",
    "script",
    "script_args",
    "trainer",
)


def load_task(
    data: Mapping[str, Any] | None, issues: IssueCollector, path: str = "task"
) -> TaskSpec:
    """Validate a task mapping into a :class:`TaskSpec`; missing keys take the defaults."""
    if not check_document(data, issues, path):
        return TaskSpec()  # past the size bounds: read no further
    reader = Reader(data, path, issues)
    reader.unknown_keys(TaskSpec.field_names())
    script, script_args, trainer = _custom_training(reader, issues)
    if (script or trainer) and reader.raw("type") is None:
        task_type = "custom"
    else:
        task_type = read_field(reader, TaskSpec, "type")
    if task_type == "custom" and not (script or trainer):
        issues.add(
            reader.at("type"),
            "a custom task needs a script or a trainer entry point",
            task_type,
            "task.script (hpsearch run --script train.py) or task.trainer: module:function",
        )
    elif task_type != "custom" and (script or trainer):
        issues.add(
            reader.at("type"),
            "a script or trainer entry point runs as a custom task",
            task_type,
            "custom (or leave type out)",
        )
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
        script=script,
        script_args=script_args,
        trainer=trainer,
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


def _custom_training(
    reader: Reader, issues: IssueCollector
) -> tuple[str | None, tuple[str, ...], str | None]:
    """``script``, ``script_args`` and ``trainer`` (bring your own training)."""
    script = reader.string("script", None)
    trainer = reader.string("trainer", None)
    if trainer is not None and not re.match(pattern_of(TaskSpec, "trainer"), trainer):
        issues.add(
            reader.at("trainer"),
            "is not an entry point",
            trainer,
            "module:function, e.g. mypkg.train:make_trainer",
        )
        trainer = None
    if script is not None and trainer is not None:
        issues.add(
            reader.at("trainer"),
            "a task runs either a script or a trainer entry point, not both",
            trainer,
            "task.script or task.trainer",
        )
    raw = reader.raw("script_args", ()) or ()
    if not isinstance(raw, (list, tuple)) or not all(isinstance(a, str) for a in raw):
        issues.add(reader.at("script_args"), "must be a list of strings", raw)
        raw = ()
    if raw and script is None:
        issues.add(reader.at("script_args"), "are given without a script", list(raw))
    return script, tuple(raw), trainer
