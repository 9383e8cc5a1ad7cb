"""Bad data files: one clear line naming the file (and the line at fault), before any trial.

These are the driver's checks (``validate_data``, run by ``hpsearch run`` before it writes
anything): real files read by real ``datasets``, no model needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpsearch.trainers import DataConfig, ModelConfig, resolve_model_path, validate_data

ROWS = "".join(json.dumps({"text": f"row {i}", "label": "ab"[i % 2]}) + "\n" for i in range(10))


def _parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": pa.array(["x"] * rows, pa.string())}), path)


# name, content (bytes, str, or a callable writing the path), task type, expected fragments
CASES = [
    ("empty.jsonl", "", "causal_lm", ["is empty"]),
    ("blank.jsonl", "\n  \n", "causal_lm", ["is empty"]),
    ("header.csv", "text,label\n", "classification", ["a header but no records"]),
    ("broken.jsonl", ROWS + '{"text": broken\n' + ROWS, "causal_lm", ["line 11", "not valid JSON"]),
    ("array-line.jsonl", ROWS + "[1, 2]\n", "causal_lm", ["line 11", "not a JSON object"]),
    ("latin1.jsonl", ROWS.encode() + b'{"text": "caf\xe9"}\n', "causal_lm", ["line 11", "UTF-8"]),
    ("latin1.csv", b"text,label\ncaf\xe9,a\n", "classification", ["line 2", "UTF-8"]),
    ("binary.txt", b"\xff\xfe\x00text\n", "causal_lm", ["line 1", "UTF-8"]),
    ("cut.json", '[{"text": "a"},\n{"text": ', "causal_lm", ["line 2", "not valid JSON"]),
    ("empty-array.json", "[]", "causal_lm", ["no records"]),
    ("mixed.json", '[{"text": "a"}, 5, {"text": "b"}]', "causal_lm", ["element 1", "a number"]),
    ("fields.csv", "text,label\na,x\nb,y,z\n", "classification", ["line 3", "3 fields"]),
    ("quote.csv", 'text,label\n"a,x\n', "classification", ["line 2", "not valid CSV"]),
    ("junk.parquet", "not parquet", "causal_lm", ["not a readable Parquet file"]),
    ("zero.parquet", lambda p: _parquet(p, 0), "causal_lm", ["no records"]),
    (
        "missing-value.jsonl",
        ROWS + '{"label": "a"}\n',
        "causal_lm",
        ["line 11", "no value in column 'text'"],
    ),
    (
        "int-text.jsonl",
        "".join(json.dumps({"text": i}) + "\n" for i in range(10)),
        "causal_lm",
        ["column 'text'", "integer", "--text-field"],
    ),
    (
        "list-label.jsonl",
        "".join(json.dumps({"text": "a", "label": [1, 2]}) + "\n" for _ in range(10)),
        "classification",
        ["column 'label'", "list", "--label-field"],
    ),
    (
        "flat-messages.jsonl",
        "".join(json.dumps({"messages": "hello"}) + "\n" for _ in range(10)),
        "causal_lm",
        ["column 'messages'", "{role, content}", "--messages-field"],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "task_type", "fragments"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_data_file_is_one_clear_line_naming_it(
    tmp_path: Path, name: str, content: object, task_type: str, fragments: list[str]
) -> None:
    path = tmp_path / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content))
    problems = validate_data(DataConfig(str(path)), task_type)
    assert len(problems) == 1, problems
    (problem,) = problems
    assert "\n" not in problem and len(problem) < 400, problem
    assert name in problem, problem
    for fragment in fragments:
        assert fragment in problem, problem
    for vague in ("StopIteration", "DatasetGenerationError", "corresponds to no data"):
        assert vague not in problem, problem


def test_bad_data_folder_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text(ROWS + "{oops}\n")
    (problem,) = validate_data(DataConfig(str(folder)), "causal_lm")
    assert "train.jsonl" in problem and "line 11" in problem, problem
    empty = tmp_path / "empty"
    empty.mkdir()
    (problem,) = validate_data(DataConfig(str(empty)), "causal_lm")
    assert "holds no data files" in problem and "save_to_disk" in problem, problem
    good = tmp_path / "good"
    good.mkdir()
    (good / "train.jsonl").write_text(ROWS)
    assert validate_data(DataConfig(str(good)), "classification") == []


def test_model_path_naming_a_file_says_so(tmp_path: Path) -> None:
    from hpsearch.trainers import ModelNotFoundError

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(ModelNotFoundError, match="is a file, not a folder") as info:
        resolve_model_path(ModelConfig(str(weights)))
    assert "does not exist" not in str(info.value) and "config.json" in str(info.value)
