"""The service benchmarks' ``--smoke`` modes run end to end and print their tables.

Real parts: the local PostgreSQL (the scripts create and drop their own databases on the test
server), a private Ray, the demo model. About 3 minutes together on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from benchmarks.common import ROOT
from tests.conftest import PG_ADMIN_DB, pg_url

pytestmark = pytest.mark.slow


def _run(benchmark: str, *args: str, timeout: int = 300) -> tuple[list[str], float]:
    env = {**os.environ, "HPSEARCH_BENCH_PG": pg_url(PG_ADMIN_DB)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{benchmark}", "--smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.splitlines(), time.monotonic() - started


def _has_tune() -> bool:
    try:
        return importlib.util.find_spec("ray.tune") is not None and bool(__import__("ray.tune"))
    except ImportError:
        return False


def test_service_overhead_smoke() -> None:
    systems = ["hpsearch", "optuna", *(["tune"] if _has_tune() else [])]
    lines, elapsed = _run("service_overhead", "--systems", *systems)
    assert lines[0].startswith("| system | trials | ideal (s) |")
    assert any(line.startswith("| hpsearch | 4 |") for line in lines)
    assert any(line.startswith("| Optuna optimize(n_jobs) | 4 |") for line in lines)
    assert any("hpsearch driver, 4 trials dispatched" in line for line in lines)
    assert any("hpsearch worker, 4 trials" in line for line in lines)
    assert any(line.startswith("- median idle gap:") for line in lines)
    assert elapsed < 300, f"smoke mode took {elapsed:.0f}s"


def test_storage_scale_smoke() -> None:
    lines, elapsed = _run("storage_scale")
    assert lines[0].startswith("| run | workers | trial numbers |")
    grown = [line for line in lines if line.startswith("| hpsearch, random, new study to 300 |")]
    assert len(grown) == 4  # three buckets of 100 trial numbers and "all"
    cells = [c.strip() for c in grown[-1].strip("|").split("|")]
    assert cells[2:4] == ["all", "300"] and cells[-2:] == ["0", "0"]  # errors, duplicates
    for run in ("hpsearch, TPE, new study to 100", "plain Optuna, TPE", "sustained: 8 workers"):
        assert any(line.startswith(f"| {run}") for line in lines), run
    assert any("every budget met exactly: True (met)" in line for line in lines)
    assert any(line.startswith("- hpsearch status at 300 trials") for line in lines)
    assert any(line.startswith("- hpsearch dashboard at 300 trials") for line in lines)
    assert elapsed < 300, f"smoke mode took {elapsed:.0f}s"


def test_demo_breakdown_smoke() -> None:
    lines, elapsed = _run("demo_breakdown")
    assert lines[0].startswith("| part of the wall time | run 1 (s) | run 1 (%) |")
    assert any(line.startswith("| training (train_time_s) |") for line in lines)
    assert any(line.startswith("| **command wall time** |") for line in lines)
    assert any(line.startswith("- run 1: 2 trials") for line in lines)
    assert elapsed < 300, f"smoke mode took {elapsed:.0f}s"
