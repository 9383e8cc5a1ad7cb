"""Parse and validate a task (``task:`` section of a space, or CLI flags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._check import Reader
from hpsearch.spaces._errors import IssueCollector
from hpsearch.spaces._limits import check_document
from hpsearch.spaces._spec import DATA_FORMATS, TASK_TYPES, TaskSpec

REPORT_TO = ("tensorboard", "mlflow", "wandb")


def load_task(
    data: Mapping[str, Any] | None, issues: IssueCollector, path: str = "task"
) -> TaskSpec:
    """Validate a task mapping into a :class:`TaskSpec`; missing keys take the defaults."""
    if not check_document(data, issues, path):
        return TaskSpec()  # past the size bounds: read no further
    reader = Reader(data, path, issues)
    reader.unknown_keys(TaskSpec.field_names())
    d = TaskSpec()
    task_type = reader.choice("type", TASK_TYPES, d.type)
    model = reader.string("model")
    dataset = reader.string("dataset")
    demo = reader.boolean("demo", model is None and dataset is None and task_type != "simulated")
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
    if model is not None and dataset is None and task_type != "simulated":
        issues.add(
            reader.at("dataset"),
            "a task with its own model needs a dataset",
            allowed="a local file or folder (jsonl, json, csv, parquet, txt) or a hub id",
        )
    report_to = reader.raw("report_to", ())
    if isinstance(report_to, str):
        report_to = [report_to] if report_to != "none" else []
    if not isinstance(report_to, (list, tuple)) or any(r not in REPORT_TO for r in report_to):
        issues.add(
            reader.at("report_to"), "is not valid", report_to, "a list of " + ", ".join(REPORT_TO)
        )
        report_to = ()
    simulated = reader.raw("simulated", {}) or {}
    if not isinstance(simulated, Mapping):
        issues.add(reader.at("simulated"), "must be a mapping", simulated)
        simulated = {}
    max_steps = reader.integer("max_steps", d.max_steps, minimum=1, optional=True)
    eval_steps = reader.integer("eval_steps", d.eval_steps, minimum=1)
    if max_steps is not None and eval_steps > max_steps:
        issues.add(
            reader.at("eval_steps"),
            "evaluation interval is longer than the trial",
            eval_steps,
            f"at most max_steps = {max_steps}",
        )
    return TaskSpec(
        type=task_type,
        model=model,
        dataset=dataset,
        dataset_config=reader.string("dataset_config"),
        train_split=reader.string("train_split", d.train_split),
        eval_split=reader.string("eval_split"),
        eval_fraction=reader.number(
            "eval_fraction", d.eval_fraction, exclusive_minimum=0, maximum=0.9
        ),
        format=reader.choice("format", DATA_FORMATS, d.format),
        text_field=reader.string("text_field", d.text_field),
        prompt_field=reader.string("prompt_field", d.prompt_field),
        completion_field=reader.string("completion_field", d.completion_field),
        messages_field=reader.string("messages_field", d.messages_field),
        label_field=reader.string("label_field", d.label_field),
        max_seq_length=reader.integer("max_seq_length", d.max_seq_length, minimum=8),
        max_steps=max_steps,
        num_train_epochs=reader.number("num_train_epochs", d.num_train_epochs, exclusive_minimum=0),
        eval_steps=eval_steps,
        checkpoint_every=reader.integer("checkpoint_every", d.checkpoint_every, minimum=1),
        max_train_samples=reader.integer("max_train_samples", None, minimum=1, optional=True),
        max_eval_samples=reader.integer("max_eval_samples", None, minimum=1, optional=True),
        per_device_eval_batch_size=reader.integer(
            "per_device_eval_batch_size", d.per_device_eval_batch_size, minimum=1
        ),
        fidelity=reader.choice("fidelity", ("steps", "tokens"), d.fidelity),
        completion_only_loss=reader.boolean("completion_only_loss", d.completion_only_loss),
        packing=reader.boolean("packing", d.packing),
        chat_template=reader.boolean("chat_template", d.chat_template),
        report_to=tuple(report_to),
        seed=reader.integer("seed", d.seed, minimum=0),
        demo=demo,
        simulated=dict(simulated),
    )
