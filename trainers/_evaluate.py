"""Evaluate a saved trial (adapter or full model) on its task's eval set, as training did.

A trial's final folder holds the weights, the tokenizer and ``hpsearch_trial.json`` (the exact
trial config). :func:`evaluate_saved` rebuilds the eval split from that config (same source,
split seed, sequence length and formatting), loads the base model with the adapter through
``PeftModel.from_pretrained`` (or the full model), and runs ``Trainer.evaluate`` with the
trial's eval batch size and precision, so the metric matches the one the search recorded.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hpsearch.trainers._base import ConfigError, DataConfig, ModelConfig
from hpsearch.trainers._data import load_raw
from hpsearch.trainers._hub import resolve_model_path
from hpsearch.trainers._methods import method_for
from hpsearch.trainers._models import (
    device_kind,
    load_model,
    load_tokenizer,
    select_precision,
)
from hpsearch.trainers._tokenize import classification_collator, tokenize_classification

RECORD = "hpsearch_trial.json"


@dataclass(frozen=True)
class SavedTrial:
    """What ``hpsearch_trial.json`` says about a final folder."""

    folder: Path
    base_model: str
    model: ModelConfig
    data: DataConfig
    metric: str
    recorded_value: float | None
    eval_batch_size: int
    # the space's SFTConfig fields of the trial (padding-free, packing strategy, ...)
    sft_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    metric: str
    value: float
    recorded_value: float | None
    metrics: dict[str, float]
    num_examples: int


def _pick(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def read_saved_trial(folder: str | Path) -> SavedTrial:
    folder = Path(folder)
    record_path = folder / RECORD
    if not record_path.is_file():
        raise ConfigError(
            f"{folder} has no {RECORD}; pass the final folder of an hpsearch trial "
            "(its adapter_dir user attribute) or a folder exported with hpsearch best --export"
        )
    record = json.loads(record_path.read_text())
    config = record.get("trial_config") or {}
    model = ModelConfig(**_pick(ModelConfig, config.get("model") or {}))
    data = DataConfig(**_pick(DataConfig, config.get("data") or {}))
    objective = record.get("objective") or {}
    hparams = config.get("hparams") or {}
    return SavedTrial(
        folder=folder,
        base_model=str(record.get("base_model") or resolve_model_path(model)),
        model=model,
        data=data,
        metric=str(objective.get("metric") or (config.get("schedule") or {}).get("metric")),
        recorded_value=objective.get("value"),
        eval_batch_size=int(hparams.get("per_device_eval_batch_size", 32)),
        sft_settings=_sft_settings(hparams.get("training_args") or {}),
    )


def _sft_settings(training_args: dict[str, Any]) -> dict[str, Any]:
    """The trial's settings that only ``SFTConfig`` has (they shape the eval batches)."""
    from hpsearch.trainers._runners import sft_only_argument_names

    names = sft_only_argument_names()
    return {k: v for k, v in training_args.items() if k in names}


def load_saved_model(saved: SavedTrial, label_names: tuple[str, ...] | None) -> Any:
    """The trained model: base + adapter (``PeftModel.from_pretrained``) or the full model."""
    num_labels = len(label_names) if label_names else None

    def load_base(path: str) -> Any:
        net, _ = load_model(path, saved.model, num_labels=num_labels, label_names=label_names)
        return net

    return method_for(saved.model.method).load_trained(
        str(saved.folder), saved.base_model, load_base
    )


def evaluate_saved(
    folder: str | Path, *, base_model: str | None = None, data: DataConfig | None = None
) -> Evaluation:
    """Evaluate the trial saved in ``folder`` on its eval set (or ``data``'s).

    ``base_model`` replaces the recorded base model path (the model moved since training).
    """
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from hpsearch.trainers._hf import _accuracy_metrics

    saved = read_saved_trial(folder)
    if base_model is not None:
        saved = SavedTrial(**{**saved.__dict__, "base_model": base_model})
    data = data or saved.data
    has_tokenizer = (saved.folder / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(str(saved.folder) if has_tokenizer else saved.base_model)
    raw = load_raw(data, saved.model.task_type)
    net = load_saved_model(saved, raw.label_names)
    precision = select_precision(saved.model.precision)
    with tempfile.TemporaryDirectory(prefix="hpsearch-eval-") as tmp:
        settings: dict[str, Any] = dict(
            output_dir=tmp,
            per_device_eval_batch_size=saved.eval_batch_size,
            bf16=precision.bf16,
            fp16=precision.fp16,
            use_cpu=device_kind() == "cpu",
            dataloader_num_workers=0,
            disable_tqdm=True,
            report_to="none",
            log_level="warning",
        )
        if raw.format == "classification":
            _, eval_set = tokenize_classification(raw, tokenizer, data)
            trainer = Trainer(
                model=net,
                args=TrainingArguments(**settings),
                eval_dataset=eval_set,
                data_collator=classification_collator(tokenizer),
                processing_class=tokenizer,
                **_accuracy_metrics(saved.model.task_type),
            )
        else:  # TRL prepares the eval split exactly as the trial's SFTTrainer did
            from trl import SFTTrainer

            from hpsearch.trainers._sft import sft_arguments, sft_data

            sft = sft_data(raw, tokenizer, data)
            trainer = SFTTrainer(
                model=net,
                args=sft_arguments({**settings, **saved.sft_settings}, sft.arguments),
                train_dataset=sft.eval,  # required by SFTTrainer; nothing is trained
                eval_dataset=sft.eval,
                processing_class=sft.tokenizer,
            )
            eval_set = trainer.eval_dataset
        trainer.remove_callback(PrinterCallback)  # the caller gets the metrics, not stdout
        metrics = {
            k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, (int, float))
        }
    if "eval_loss" in metrics:
        metrics["eval_perplexity"] = math.exp(min(metrics["eval_loss"], 700.0))
    if saved.metric not in metrics:
        raise ConfigError(
            f"metric {saved.metric!r} is not among the evaluation metrics: "
            + ", ".join(sorted(metrics))
        )
    return Evaluation(
        metric=saved.metric,
        value=metrics[saved.metric],
        recorded_value=saved.recorded_value,
        metrics=metrics,
        num_examples=len(eval_set),
    )
