"""``python -m benchmarks.sample_efficiency --smoke`` runs and prints its table (CI-sized)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from benchmarks.common import DATA_PATH, ROOT

pytest.importorskip("onnxruntime", reason="the lcbench surrogate needs onnxruntime (bench extra)")


def test_smoke_mode_prints_the_table() -> None:
    if not (DATA_PATH / "lcbench" / "model.onnx").is_file():
        pytest.skip(f"lcbench data not found under {DATA_PATH} (set HPSEARCH_LCBENCH_DATA)")
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.sample_efficiency",
            "--smoke",
            "--data-path",
            str(DATA_PATH),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| instance | policy / peer method | best@5 | target |")
    for policy in (
        "random",
        "random + median",
        "Optuna TPE",
        "Optuna TPE + Hyperband",
        "hpsearch previous default",
        "hpsearch default",
    ):
        assert any(f"| {policy} |" in line for line in lines), policy
    # Random search never prunes: 5 FBE are exactly 5 trials of the real driver's budget.
    (random_row,) = [line for line in lines if line.startswith("| 189873 | random |")]
    assert random_row.split("|")[7].strip() == "5"  # the trials column
    # 12 studies through the real driver (SQLite on a tmpfs): well under a minute of CPU
    assert elapsed < 300, f"smoke mode took {elapsed:.0f}s"


def test_missing_data_path_is_a_clear_error(tmp_path: object) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.sample_efficiency",
            "--smoke",
            "--data-path",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "lcbench data not found" in result.stderr
