"""Bad input: one clear line, a non-zero exit, no traceback, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from tests.search.test_cli_e2e import hpsearch


def _tables(pg_url: str) -> list[str]:
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return sorted(r[0] for r in cur.fetchall())
    finally:
        conn.close()


def _studies(pg_url: str) -> list[str]:
    if "studies" not in _tables(pg_url):
        return []
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT study_name FROM studies")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def assert_clean_failure(result, code: int, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_malformed_space_writes_nothing(fresh_pg_url: str, tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text(
        "params:\n  learning_rate: {type: float, low: 0, high: 1, log: true}\n"
        "  lora_r: {type: categorical, choices: []}\n"
    )
    result = hpsearch("run", "--space", str(space), "--storage", fresh_pg_url)
    assert_clean_failure(
        result,
        2,
        "2 problems",
        "params.learning_rate.low",
        "params.lora_r.choices",
        "hpsearch spaces validate",
    )
    assert _tables(fresh_pg_url) == []
    validate = hpsearch("spaces", "validate", str(space))
    assert_clean_failure(validate, 2, "params.lora_r.choices")


def test_unreachable_database(tmp_path: Path) -> None:
    result = hpsearch(
        "run", "--space", "lora_small", "--storage", "postgresql://bob:s3cr3t-pw@127.0.0.1:1/test"
    )
    assert_clean_failure(result, 3, "cannot reach the database", "pg_isready")
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_unknown_model_path(fresh_pg_url: str, text_jsonl: str, tmp_path: Path) -> None:
    result = hpsearch(
        "run",
        "--storage",
        fresh_pg_url,
        "--model",
        str(tmp_path / "missing"),
        "--dataset",
        text_jsonl,
    )
    assert_clean_failure(result, 2, "does not exist")
    assert _studies(fresh_pg_url) == []


def test_hub_model_while_offline(fresh_pg_url: str, text_jsonl: str) -> None:
    result = hpsearch(
        "run",
        "--storage",
        fresh_pg_url,
        "--model",
        "Qwen/Qwen3-0.6B",
        "--dataset",
        text_jsonl,
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert_clean_failure(result, 2, "Qwen/Qwen3-0.6B", "--model DIR")
    assert _studies(fresh_pg_url) == []


def test_missing_dataset_column(fresh_pg_url: str, tiny_qwen3: str, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"content": f"row {i}"}) for i in range(30)))
    result = hpsearch(
        "run",
        "--storage",
        fresh_pg_url,
        "--model",
        tiny_qwen3,
        "--dataset",
        str(data),
        "--format",
        "text",
    )
    assert_clean_failure(result, 2, "no column 'text'", "content", "--text-field")
    assert _studies(fresh_pg_url) == []


def test_study_name_over_the_limit_touches_no_database(fresh_pg_url: str) -> None:
    result = hpsearch("run", "--storage", fresh_pg_url, "--study", "s" * 600)
    assert_clean_failure(result, 2, "at most 512")
    assert _tables(fresh_pg_url) == []


def test_resume_of_unknown_study_lists_existing(fresh_pg_url: str) -> None:
    result = hpsearch("resume", "no-such-study", "--storage", fresh_pg_url)
    assert_clean_failure(result, 2, "no study named 'no-such-study'", "hpsearch studies")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = hpsearch("--debug", "run", "--space", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.parametrize("args", [["run", "--trials", "zero"], ["frobnicate"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = hpsearch(*args)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_space_task_model_and_data_problems_are_reported_together(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    weights = tmp_path / "model.safetensors"  # a file where a model folder belongs
    weights.write_bytes(b"\0" * 16)
    data = tmp_path / "data.jsonl"
    data.write_text("")
    result = hpsearch(
        "run",
        "--storage",
        fresh_pg_url,
        "--model",
        str(weights),
        "--dataset",
        str(data),
        "--max-steps",
        "5",
        "--eval-steps",
        "10",
    )
    assert_clean_failure(
        result,
        2,
        "3 problems",
        "task.eval_steps",
        "model.safetensors is a file, not a folder",
        "data.jsonl is empty",
    )
    assert _tables(fresh_pg_url) == []
