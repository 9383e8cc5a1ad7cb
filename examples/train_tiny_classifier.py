"""A plain Hugging Face ``Trainer`` script that hpsearch can tune: two lines make it a trial.

Run it on its own (it trains normally)::

    HF_HUB_OFFLINE=1 python examples/train_tiny_classifier.py --max-steps 40

or tune it (each trial runs this script with sampled parameters, reports every evaluation,
is pruned by the study's pruner, and resumes from its committed checkpoint after a preemption)::

    hpsearch run --space examples/tiny_classifier_space.yaml \\
        --script examples/train_tiny_classifier.py -- --max-steps 40

The model is a tiny BERT built from a config and the data is synthetic (is the first token in
the upper half of the vocabulary?), so it needs no download and trains in seconds on a CPU.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from hpsearch.trainers import TrialCallback, trial_params

VOCAB = 32
LENGTH = 12


class Synthetic(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Random token sequences; the label says whether the first token is >= VOCAB // 2."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (size, LENGTH), generator=generator)
        self.labels = (self.ids[:, 0] >= VOCAB // 2).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def compute_metrics(prediction: object) -> dict[str, float]:
    logits, labels = prediction.predictions, prediction.label_ids  # type: ignore[attr-defined]
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="tiny-classifier-out")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--eval-steps", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=512)
    cli = parser.parse_args()

    # 1. the trial's sampled values over these defaults (just the defaults outside hpsearch)
    params = trial_params({"learning_rate": 1e-3, "per_device_train_batch_size": 16})
    dropout = float(params.pop("hidden_dropout_prob", 0.0))  # a model setting the space may tune

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
        output_dir=cli.output_dir,
        max_steps=cli.max_steps,
        eval_strategy="steps",
        eval_steps=cli.eval_steps,
        save_strategy="steps",
        save_steps=cli.eval_steps,
        logging_steps=cli.eval_steps,
        per_device_eval_batch_size=128,
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        **params,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Synthetic(cli.train_size, seed=1),
        eval_dataset=Synthetic(128, seed=2),
        compute_metrics=compute_metrics,
    )
    trainer.add_callback(TrialCallback())  # 2. reporting, pruning, checkpoints under hpsearch
    trainer.train(resume_from_checkpoint=params.resume_from_checkpoint)
    print(json.dumps({"final": trainer.evaluate()}), flush=True)


if __name__ == "__main__":
    main()
