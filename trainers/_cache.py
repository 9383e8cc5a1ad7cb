"""Per-process cache of tokenizers, tokenised data and base models.

A worker runs many trials; reloading the model and re-tokenising the data for each would put
idle time between trials. Entries are keyed by everything that shapes them, and only the most
recent base model is kept, so memory stays bounded when a worker switches tasks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hpsearch.trainers._base import DataConfig, ModelConfig
from hpsearch.trainers._data import load_raw
from hpsearch.trainers._methods import method_for
from hpsearch.trainers._models import load_model, load_tokenizer
from hpsearch.trainers._tokenize import classification_collator, tokenize_classification


@dataclass(frozen=True)
class PreparedData:
    """Classification: tokenised splits and their collator. Causal LM: records in TRL's
    formats, the tokenizer and ``SFTConfig`` data fields; TRL tokenises and collates them."""

    train: Any
    eval: Any
    collator: Any
    label_names: tuple[str, ...] | None
    format: str
    tokenizer: Any = None
    sft_arguments: dict[str, Any] | None = None


class WorkerCache:
    def __init__(self, max_models: int = 1, max_data: int = 4) -> None:
        self._tokenizers: dict[str, Any] = {}
        self._data: OrderedDict[tuple[Any, ...], PreparedData] = OrderedDict()
        self._models: OrderedDict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = OrderedDict()
        self.max_models = max_models
        self.max_data = max_data
        self.hits = {"model": 0, "data": 0}

    def tokenizer(self, path: str) -> Any:
        if path not in self._tokenizers:
            self._tokenizers[path] = load_tokenizer(path)
        return self._tokenizers[path]

    def data(self, data: DataConfig, task_type: str, path: str, tokenizer: Any) -> PreparedData:
        key = (data, task_type, path)
        if key in self._data:
            self.hits["data"] += 1
            self._data.move_to_end(key)
            return self._data[key]
        raw = load_raw(data, task_type)
        if raw.format == "classification":
            train, evaluation = tokenize_classification(raw, tokenizer, data)
            prepared = PreparedData(
                train, evaluation, classification_collator(tokenizer), raw.label_names, raw.format
            )
        else:
            from hpsearch.trainers._sft import sft_data

            sft = sft_data(raw, tokenizer, data)
            prepared = PreparedData(
                sft.train, sft.eval, None, None, raw.format, sft.tokenizer, sft.arguments
            )
        self._data[key] = prepared
        while len(self._data) > self.max_data:
            self._data.popitem(last=False)
        return prepared

    def model(
        self,
        path: str,
        model: ModelConfig,
        label_names: tuple[str, ...] | None,
        compute_dtype: str = "fp32",
    ) -> tuple[Any, tuple[str, ...]]:
        num_labels = len(label_names) if label_names else None
        kwargs: dict[str, Any] = {
            "num_labels": num_labels,
            "label_names": label_names,
            "compute_dtype": compute_dtype,
        }
        method = method_for(model.method)
        if not method.cacheable_base:  # e.g. quantised weights: loaded for each trial
            return load_model(path, model, **kwargs)
        dtype = method.base_dtype(model, compute_dtype)
        key = (path, model.task_type, label_names, model.attn_implementation, dtype)
        if key in self._models:
            self.hits["model"] += 1
            self._models.move_to_end(key)
            return self._models[key]
        if self.max_models == 1:
            self._models.clear()  # free the old model before loading the next
        loaded = load_model(path, model, **kwargs)
        self._models[key] = loaded
        while len(self._models) > self.max_models:
            self._models.popitem(last=False)
        return loaded
