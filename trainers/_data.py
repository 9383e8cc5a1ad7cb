"""Load a dataset (local file or folder, hub id, or the built-in demo) into raw records.

Formats: ``classification`` (text + label), ``text`` (plain text for causal LM),
``prompt_completion`` and ``messages`` (chat). ``auto`` picks from the columns present.
Problems with the data (missing file, missing column, empty split) raise
:class:`~hpsearch.trainers._base.DatasetError` naming the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.trainers._base import DataConfig, DatasetError
from hpsearch.trainers._datafiles import (
    SUFFIX_BUILDERS,
    check_values,
    data_files,
    diagnose,
    jsonl_line,
    precheck,
    read_error,
)
from hpsearch.trainers._hub import hub_offline, hub_unavailable_reason, is_local


@dataclass(frozen=True)
class RawData:
    train: Any  # datasets.Dataset
    eval: Any
    format: str
    label_names: tuple[str, ...] | None = None


def _load_source(data: DataConfig) -> Any:
    """A ``datasets.DatasetDict`` or ``Dataset`` for the configured source."""
    import datasets

    assert data.source is not None
    source = data.source
    if is_local(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise DatasetError(
                f"dataset path {path} does not exist; pass an existing file or "
                "folder with --dataset"
            )
        if path.is_dir() and (
            (path / "dataset_dict.json").exists() or (path / "state.json").exists()
        ):
            return _read(path, lambda: datasets.load_from_disk(str(path)), [])
        if path.is_file():
            builder = SUFFIX_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise DatasetError(
                    f"dataset file {path.name} has an unsupported type; use one of "
                    + ", ".join(sorted(SUFFIX_BUILDERS))
                )
            return _read(
                path,
                lambda: datasets.load_dataset(builder, data_files={"train": str(path)}),
                [path],
            )
        files = data_files(path)
        if not files:
            raise DatasetError(
                f"dataset folder {path} holds no data files ("
                + ", ".join(sorted(SUFFIX_BUILDERS))
                + ") and is not a dataset saved with save_to_disk; pass a data file or such "
                "a folder with --dataset"
            )
        return _read(path, lambda: datasets.load_dataset(str(path)), files)
    reason = hub_unavailable_reason()
    if reason is None:
        return datasets.load_dataset(source, data.config_name)
    if hub_offline():  # datasets then reads only its local cache and fails fast
        try:
            return datasets.load_dataset(source, data.config_name)
        except Exception:
            pass
    raise DatasetError(
        f"dataset {source!r} is not a local path and {reason}; download it where the hub is "
        "reachable and pass the local file or folder with --dataset"
    )


def _read(path: Path, load: Any, files: list[Path]) -> Any:
    """``load()``, with each file checked before and a broken one named after it failed."""
    for file in files:
        problem = precheck(file)
        if problem is not None:
            raise DatasetError(problem)
    try:
        return load()
    except DatasetError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable files
        for file in files:
            try:
                problem = diagnose(file)
            except (OSError, UnicodeDecodeError, ValueError):
                problem = None
            if problem is not None:
                raise DatasetError(problem) from exc
        raise DatasetError(read_error(str(path), exc)) from exc


def _check_split(split: Any, fmt: str, data: DataConfig, name: str) -> None:
    """The columns the format reads hold the right type, and a value in every record."""
    assert data.source is not None
    path = Path(data.source).expanduser()
    single = is_local(data.source) and path.is_file()
    where = f"dataset {data.source}" if single else f"dataset {data.source}, split {name!r}"
    line_of = None
    if single and path.suffix.lower() == ".jsonl":
        line_of = lambda index: jsonl_line(path, index)  # noqa: E731
    problem = check_values(split, required_columns(fmt, data), fmt, where, line_of)
    if problem is not None:
        raise DatasetError(problem)


def _split(loaded: Any, name: str, source: str) -> Any:
    import datasets

    if isinstance(loaded, datasets.Dataset):
        return loaded
    if name not in loaded:
        raise DatasetError(
            f"dataset {source} has no split {name!r}; splits: " + ", ".join(loaded.keys())
        )
    return loaded[name]


def detect_format(columns: list[str], data: DataConfig, task_type: str) -> str:
    if data.format != "auto":
        return data.format
    if task_type == "classification":
        return "classification"
    if data.messages_field in columns:
        return "messages"
    if data.prompt_field in columns and data.completion_field in columns:
        return "prompt_completion"
    return "text"


def required_columns(fmt: str, data: DataConfig) -> dict[str, str]:
    """Column name -> the flag that renames it."""
    return {
        "classification": {data.text_field: "--text-field", data.label_field: "--label-field"},
        "text": {data.text_field: "--text-field"},
        "prompt_completion": {
            data.prompt_field: "--prompt-field",
            data.completion_field: "--completion-field",
        },
        "messages": {data.messages_field: "--messages-field"},
    }[fmt]


def check_columns(columns: list[str], fmt: str, data: DataConfig, source: str) -> None:
    for column, flag in required_columns(fmt, data).items():
        if column not in columns:
            raise DatasetError(
                f"dataset {source} has no column {column!r} needed for the {fmt} format; "
                f"columns: {', '.join(columns)}; name the right one with {flag}"
            )


def load_raw(data: DataConfig, task_type: str) -> RawData:
    """Train and eval records of ``data`` (the demo when ``data.source`` is None)."""
    if data.source is None:
        return _demo_raw(data)
    import datasets

    loaded = _load_source(data)
    train = _split(loaded, data.train_split, data.source)
    columns = list(train.column_names)
    fmt = detect_format(columns, data, task_type)
    check_columns(columns, fmt, data, data.source)
    _check_split(train, fmt, data, data.train_split)
    if data.eval_split:
        evaluation = _split(loaded, data.eval_split, data.source)
        check_columns(list(evaluation.column_names), fmt, data, data.source)
        _check_split(evaluation, fmt, data, data.eval_split)
    else:
        if len(train) < 4:
            raise DatasetError(
                f"dataset {data.source} has only {len(train)} records; "
                "at least 4 are needed to hold some out for evaluation"
            )
        parts = train.train_test_split(test_size=data.eval_fraction, seed=data.seed)
        train, evaluation = parts["train"], parts["test"]
    if data.max_train_samples:
        train = train.select(range(min(data.max_train_samples, len(train))))
    if data.max_eval_samples:
        evaluation = evaluation.select(range(min(data.max_eval_samples, len(evaluation))))
    if len(train) == 0 or len(evaluation) == 0:
        raise DatasetError(f"dataset {data.source} gives an empty train or eval split")
    label_names = None
    if fmt == "classification":
        train, evaluation, label_names = _encode_labels(train, evaluation, data.label_field)
    assert isinstance(train, datasets.Dataset)
    return RawData(train, evaluation, fmt, label_names)


def _encode_labels(train: Any, evaluation: Any, field: str) -> tuple[Any, Any, tuple[str, ...]]:
    feature = train.features[field]
    names = getattr(feature, "names", None)
    if names:
        return train, evaluation, tuple(names)
    values = sorted({str(v) for v in train[field]} | {str(v) for v in evaluation[field]})
    if all(v.lstrip("-").isdigit() for v in values):
        ints = sorted(int(v) for v in values)
        if ints[0] < 0:
            raise DatasetError(f"label column {field!r} has negative labels")
        return train, evaluation, tuple(str(i) for i in range(ints[-1] + 1))
    index = {v: i for i, v in enumerate(values)}

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        batch[field] = [index[str(v)] for v in batch[field]]
        return batch

    return (train.map(encode, batched=True), evaluation.map(encode, batched=True), tuple(values))


def _demo_raw(data: DataConfig) -> RawData:
    import datasets

    from hpsearch.trainers._demo import demo_records

    train, evaluation, labels = demo_records(data.seed)
    train_ds = datasets.Dataset.from_list([dict(r) for r in train])
    eval_ds = datasets.Dataset.from_list([dict(r) for r in evaluation])
    if data.max_train_samples:
        train_ds = train_ds.select(range(min(data.max_train_samples, len(train_ds))))
    if data.max_eval_samples:
        eval_ds = eval_ds.select(range(min(data.max_eval_samples, len(eval_ds))))
    return RawData(train_ds, eval_ds, "classification", labels)


def validate_data(data: DataConfig, task_type: str) -> list[str]:
    """Problems with the data found by reading it (no tokenizer, no model)."""
    if data.source is None:
        return []
    try:
        load_raw(data, task_type)
    except DatasetError as exc:
        return [str(exc)]
    except Exception as exc:  # datasets raises many types for unreadable files
        return [read_error(data.source, exc)]
    return []
