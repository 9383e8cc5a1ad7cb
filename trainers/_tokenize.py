"""Turn classification records into model inputs (text + label, padded per batch).

Causal-LM data is not tokenised here: TRL's ``SFTTrainer`` formats, tokenises, masks and packs
it (:mod:`hpsearch.trainers._sft`).
"""

from __future__ import annotations

from typing import Any

from hpsearch.trainers._base import DataConfig
from hpsearch.trainers._data import RawData


def tokenize_classification(raw: RawData, tokenizer: Any, data: DataConfig) -> tuple[Any, Any]:
    """Tokenised (train, eval) ``datasets.Dataset`` objects of a classification task."""

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        out = tokenizer(
            [str(t) for t in batch[data.text_field]],
            truncation=True,
            max_length=data.max_seq_length,
        )
        out["labels"] = batch[data.label_field]
        return dict(out)

    return (
        raw.train.map(encode, batched=True, remove_columns=raw.train.column_names),
        raw.eval.map(encode, batched=True, remove_columns=raw.eval.column_names),
    )


def classification_collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)
