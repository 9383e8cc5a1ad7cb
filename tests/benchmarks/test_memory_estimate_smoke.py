"""The memory-estimate benchmark runs and prints its table (so the script cannot rot)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.common import ROOT


@pytest.mark.slow
def test_memory_estimate_smoke_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_estimate", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| MiniLM")]
    assert len(rows) == 1
    estimate, measured = (float(cell) for cell in rows[0].split("|")[3:5])
    assert estimate > 0 and measured > 0
