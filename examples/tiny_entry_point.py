"""The Python entry point way in: a function that returns a ``transformers.Trainer``.

Name it in the space's task (``trainer: tiny_entry_point:make_trainer``, with this folder on
``PYTHONPATH``); hpsearch calls it once per trial with the trial's parameters and checkpoint
folder, adds its ``TrialCallback`` and trains the Trainer (resuming it on a retry)::

    PYTHONPATH=examples hpsearch run --space examples/tiny_entry_point_space.yaml

The objective is a metric of this file's own ``compute_metrics`` (``eval_balanced_accuracy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from train_tiny_classifier import LENGTH, VOCAB, Synthetic
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


def balanced_accuracy(prediction: Any) -> dict[str, float]:
    """The mean of the per-class recalls (reported as ``eval_balanced_accuracy``)."""
    predicted = np.argmax(prediction.predictions, axis=-1)
    labels = prediction.label_ids
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return {"balanced_accuracy": float(np.mean(recalls))}


def make_trainer(params: Mapping[str, Any], output_dir: str | None = None) -> Trainer:
    settings = {"learning_rate": 1e-3, "per_device_train_batch_size": 16, **params}
    dropout = float(settings.pop("hidden_dropout_prob", 0.0))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=LENGTH,
        hidden_dropout_prob=dropout,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir=output_dir or "tiny-entry-point-out",
        max_steps=12,
        eval_strategy="steps",
        eval_steps=4,
        save_strategy="steps",
        save_steps=4,
        logging_steps=4,
        per_device_eval_batch_size=128,
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        **settings,
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Synthetic(256, seed=1),
        eval_dataset=Synthetic(128, seed=2),
        compute_metrics=balanced_accuracy,
    )
