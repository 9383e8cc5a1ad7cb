"""Bad input: one clear line, a non-zero exit, no traceback, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from tests.helpers import run_cli_process


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
    result = run_cli_process("run", "--space", str(space), "--storage", fresh_pg_url)
    assert_clean_failure(
        result,
        2,
        "2 problems",
        "params.learning_rate.low",
        "params.lora_r.choices",
        "hpsearch spaces validate",
    )
    assert _tables(fresh_pg_url) == []
    validate = run_cli_process("spaces", "validate", str(space))
    assert_clean_failure(validate, 2, "params.lora_r.choices")


def test_unreachable_database(tmp_path: Path) -> None:
    result = run_cli_process(
        "run", "--space", "lora_small", "--storage", "postgresql://bob:s3cr3t-pw@127.0.0.1:1/test"
    )
    assert_clean_failure(result, 3, "cannot reach the database", "pg_isready")
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_unknown_model_path(fresh_pg_url: str, text_jsonl: str, tmp_path: Path) -> None:
    result = run_cli_process(
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
    result = run_cli_process(
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
    result = run_cli_process(
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
    result = run_cli_process("run", "--storage", fresh_pg_url, "--study", "s" * 600)
    assert_clean_failure(result, 2, "at most 512")
    assert _tables(fresh_pg_url) == []


def test_resume_of_unknown_study_lists_existing(fresh_pg_url: str) -> None:
    result = run_cli_process("resume", "no-such-study", "--storage", fresh_pg_url)
    assert_clean_failure(result, 2, "no study named 'no-such-study'", "hpsearch studies")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_cli_process("--debug", "run", "--space", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.parametrize("args", [["run", "--trials", "zero"], ["frobnicate"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_cli_process(*args)
    assert_clean_failure(result, 2, "--help")


def _laughs(indent: str) -> str:
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


_SIMULATED = "task: {type: simulated, max_steps: 4, eval_steps: 2}\n"
_LR = "params:\n  learning_rate: 1.0e-4\n"
BAD_SPACES: dict[str, tuple[bytes, str]] = {
    "bomb-in-task": (
        (
            _LR + "task:\n  type: simulated\n  max_steps: 4\n  simulated:\n" + _laughs("    ")
        ).encode(),
        "task.simulated",
    ),
    "bomb-in-fixed-value": (
        (
            "params:\n  learning_rate: 1.0e-4\n  fsdp_config:\n    type: fixed\n    value:\n"
            + _laughs("      ")
            + _SIMULATED
        ).encode(),
        "params.fsdp_config.value",
    ),
    "bomb-in-sampler": (
        (_LR + _SIMULATED + "sampler:\n  type: tpe\n" + _laughs("  ")).encode(),
        "20000 values",
    ),
    "5000-deep": (
        (
            _LR
            + "task: {type: simulated, max_steps: 4, simulated: {x: "
            + "[" * 5000
            + "]" * 5000
            + "}}\n"
        ).encode(),
        "64 levels",
    ),
    "2-mib": ((_LR + _SIMULATED).encode() + b"description: '" + b"x" * 2**21 + b"'\n", "1.0 MiB"),
    "not-utf8": ((_LR + _SIMULATED).encode() + b"description: caf\xe9\n", "not UTF-8"),
    "duplicate-key": ((_LR + _SIMULATED + "trials: 2\ntrials: 5\n").encode(), "lines 4 and 5"),
    "nan-factor": (
        (_LR + _SIMULATED + "pruner: {type: hyperband, reduction_factor: .nan}\n").encode(),
        "pruner.reduction_factor",
    ),
    "startup-below-zero": (
        (_LR + _SIMULATED + "sampler: {type: tpe, n_startup_trials: -5}\n").encode(),
        "sampler.n_startup_trials",
    ),
    "bad-name": (("name: 'bad/name'\n" + _LR + _SIMULATED).encode(), "not a valid space name"),
}


@pytest.mark.parametrize("case", BAD_SPACES)
def test_bad_space_writes_nothing(case: str, tmp_path: Path) -> None:
    content, fragment = BAD_SPACES[case]
    space = tmp_path / f"{case}.yaml"
    space.write_bytes(content)
    db = tmp_path / "db" / "studies.db"
    db.parent.mkdir()
    result = run_cli_process(
        "run", "--space", str(space), "--storage", f"sqlite:///{db}", timeout=120
    )
    # Problems found while reading the file name it; the sampler/pruner check names the space.
    named = str(space) if case != "startup-below-zero" else "startup-below-zero"
    assert_clean_failure(result, 2, fragment, named)
    assert list(db.parent.iterdir()) == []  # not even the SQLite file or its lock
    validate = run_cli_process("spaces", "validate", str(space), timeout=120)
    assert_clean_failure(validate, 2, fragment)


def test_alias_bomb_leaves_no_study_row(fresh_pg_url: str, tmp_path: Path) -> None:
    space = tmp_path / "bomb.yaml"
    space.write_bytes(BAD_SPACES["bomb-in-task"][0])
    result = run_cli_process("run", "--space", str(space), "--storage", fresh_pg_url, timeout=120)
    assert_clean_failure(result, 2, "task.simulated", "alias *l")
    assert _studies(fresh_pg_url) == []


def test_space_task_model_and_data_problems_are_reported_together(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    weights = tmp_path / "model.safetensors"  # a file where a model folder belongs
    weights.write_bytes(b"\0" * 16)
    data = tmp_path / "data.jsonl"
    data.write_text("")
    result = run_cli_process(
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
