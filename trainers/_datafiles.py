"""Checks of local dataset files: one clear line naming the file and the line at fault.

``datasets`` reports a broken file as ``StopIteration``, a generic ``DatasetGenerationError``
or 'Instruction "train" corresponds to no data!', and accepts a ``.jsonl`` file that is not
UTF-8 (its strings fail later, inside the trial). The checks here turn each of those into one
line: :func:`precheck` runs before ``datasets`` reads a file (empty, not UTF-8),
:func:`diagnose` after it failed (the line that is not JSON, the CSV row with the wrong number
of fields, no records), and :func:`check_values` on what it read (wrong column types, missing
values).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SUFFIX_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}
_TEXT_SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
_MAX_DETAIL = 160


def data_files(path: Path) -> list[Path]:
    """The files of a supported type at ``path`` (the file itself, or a folder's, recursively)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIX_BUILDERS
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def precheck(path: Path) -> str | None:
    """Problems found by reading the raw bytes: an empty file, a text file that is not UTF-8."""
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES:
        return f"dataset file {path} is empty" if path.stat().st_size == 0 else None
    has_content = False
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = line[exc.start]
                return (
                    f"dataset file {path} is not UTF-8 text: line {number} has the byte "
                    f"0x{byte:02X} at column {exc.start + 1}; save the file as UTF-8"
                )
            has_content = has_content or bool(text.strip())
    return None if has_content else f"dataset file {path} is empty"


def diagnose(path: Path) -> str | None:
    """Why ``datasets`` could not read ``path`` (a file of a supported type), if it can tell."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _diagnose_json_lines(path)
    if suffix == ".json":
        return _diagnose_json(path)
    if suffix == ".csv":
        return _diagnose_csv(path)
    if suffix == ".parquet":
        return _diagnose_parquet(path)
    if suffix == ".txt":
        return None if _has_text(path) else f"dataset file {path} has no lines of text"
    return None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, line


def _has_text(path: Path) -> bool:
    return next(_lines(path), None) is not None


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _diagnose_json_lines(path: Path) -> str | None:
    records = 0
    for number, line in _lines(path):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return (
                f"dataset file {path}: line {number} is not valid JSON "
                f"({exc.msg} at column {exc.colno}); JSON Lines files hold one object a line"
            )
        if not isinstance(value, dict):
            return (
                f"dataset file {path}: line {number} is {_kind(value)}, not a JSON object; "
                'JSON Lines files hold one object a line, such as {"text": "..."}'
            )
        records += 1
    return None if records else f"dataset file {path} has no records"


def _diagnose_json(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.lstrip()[:1]
        if first == "{" and "\n" in text.strip():  # JSON Lines in a .json file
            return _diagnose_json_lines(path)
        return (
            f"dataset file {path}: line {exc.lineno} is not valid JSON "
            f"({exc.msg} at column {exc.colno})"
        )
    if isinstance(value, list):
        if not value:
            return f"dataset file {path} has no records (an empty array)"
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                return (
                    f"dataset file {path}: element {index} of the array is {_kind(item)}, "
                    "not a JSON object; the array must hold one object per record"
                )
        return None
    if not isinstance(value, dict):
        return (
            f"dataset file {path} holds {_kind(value)}; it must be an array of records or "
            "JSON Lines (one object a line)"
        )
    return None


def _diagnose_csv(path: Path) -> str | None:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return f"dataset file {path} is empty"
            records = 0
            for row in reader:
                if not row:
                    continue
                records += 1
                if len(row) != len(header):
                    return (
                        f"dataset file {path}: line {reader.line_num} has {len(row)} fields, "
                        f"the header has {len(header)}"
                    )
        except csv.Error as exc:
            return f"dataset file {path}: line {reader.line_num} is not valid CSV ({exc})"
    if not records:
        return f"dataset file {path} has a header but no records"
    return None


def _diagnose_parquet(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:
        return f"dataset file {path} is not a readable Parquet file ({one_line(exc)})"
    return None if rows else f"dataset file {path} has no records"


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type when it has none), bounded."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 1] + "…"


def read_error(source: str, exc: BaseException) -> str:
    """One line for a read failure nobody diagnosed: the innermost cause says most."""
    causes = [exc]
    while (nxt := causes[-1].__cause__ or causes[-1].__context__) is not None and len(causes) < 8:
        causes.append(nxt)
    for cause in reversed(causes):
        if str(cause).strip():
            return f"cannot read dataset {source}: {type(cause).__name__}: {one_line(cause)}"
    return f"cannot read dataset {source}: {type(exc).__name__}"


# -- values of the columns a format reads ----------------------------------------------------

_TEXT_DTYPES = ("string", "large_string")
_LABEL_DTYPES = (
    "string",
    "large_string",
    "bool",
    *(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)),
)


def _describe(feature: Any) -> str:
    dtype = getattr(feature, "dtype", None)
    if type(feature).__name__ == "Value" and dtype:
        return {"int64": "integer", "double": "number", "float": "number"}.get(dtype, dtype)
    if isinstance(feature, dict):
        return "object"
    return "list" if type(feature).__name__ in ("List", "LargeList", "Sequence") else "nested"


def _is_messages(feature: Any) -> bool:
    inner = getattr(feature, "feature", None)
    if type(feature).__name__ not in ("List", "LargeList", "Sequence") or not isinstance(
        inner, dict
    ):
        return False
    return all(
        getattr(inner.get(key), "dtype", None) in _TEXT_DTYPES for key in ("role", "content")
    )


def check_values(
    split: Any,
    columns: dict[str, str],
    fmt: str,
    where: str,
    line_of: Callable[[int], int | None] | None = None,
) -> str | None:
    """A wrong column type or a missing value in ``split``; ``columns``: column -> flag.

    ``line_of`` maps a record's index to its line in the file, where there is one.
    """
    for column, flag in columns.items():
        feature = split.features[column]
        kind = type(feature).__name__
        missing = _first_null(split, column)
        if missing is not None:
            line = line_of(missing) if line_of is not None else None
            at = f"line {line}" if line is not None else f"record {missing + 1}"
            return f"{where}: {at} has no value in column {column!r}; every record needs one"
        if fmt == "messages":
            ok, wanted = _is_messages(feature), "lists of {role, content} messages"
        elif fmt == "classification" and flag == "--label-field":
            ok = kind == "ClassLabel" or getattr(feature, "dtype", None) in _LABEL_DTYPES
            wanted = "integer or string labels (class ids or names)"
        else:
            ok, wanted = getattr(feature, "dtype", None) in _TEXT_DTYPES, "text (strings)"
        if not ok:
            return (
                f"{where}: column {column!r} holds {_describe(feature)} values, but the {fmt} "
                f"format needs {wanted}; fix the data or name another column with {flag}"
            )
    return None


def _first_null(split: Any, column: str) -> int | None:
    import pyarrow.compute as pc

    values = split.data.column(column)
    if values.null_count == 0:
        return None
    index = pc.index(pc.is_null(values), True).as_py()
    return int(index) if index is not None and index >= 0 else None


def jsonl_line(path: Path, record: int) -> int | None:
    """The line of a JSON Lines file that holds record ``record`` (0-based), if it has one."""
    for index, (number, _) in enumerate(_lines(path)):
        if index == record:
            return number
    return None
