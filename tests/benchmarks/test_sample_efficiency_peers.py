"""The peer-library benchmark (benchmarks/sample_efficiency_peers/): figures, driver, runners.

The peer libraries live in their own virtualenvs, which CI does not install: their tests skip
with the reason and the command that installs them. The figures and the driver's append/skip
logic are checked without them (the driver's ``random`` method needs only onnxruntime).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import DATA_PATH, ROOT
from benchmarks.sample_efficiency_peers import report, run_peers


def _run(method: str, instance: str, trajectory: list[list[float]], seed: int = 0) -> dict:
    return {
        "method": method, "instance": instance, "seed": seed, "budget_fbe": 10.0,
        "max_epoch": 52, "budget_epochs": 520, "trajectory": trajectory, "n_trials": 4,
        "n_resumes": 2, "n_configs": 4, "decision": {"total_s": 2.0, "cpu_s": 1.0},
    }  # fmt: skip


def test_figures_follow_the_sample_efficiency_definitions() -> None:
    runs = [
        # reaches 80 after 104 epochs (2 FBE); best@1 (52 epochs) is 70
        _run("m", "1", [[52, 10.0, 70.0], [104, 20.0, 80.0], [300, 30.0, 90.0]], seed=0),
        # reaches 80 only after 260 epochs (5 FBE)
        _run("m", "1", [[60, 10.0, 60.0], [260, 50.0, 85.0]], seed=1),
        # never reaches 80, no full evaluation within 1 FBE
        _run("m", "1", [[100, 10.0, 75.0]], seed=2),
    ]
    figs = report.peer_figures(runs, {"1": 80.0}, checkpoints=(1, 10))
    f = figs["1", "m"]
    # best@1: seeds give 70, none (ranks lowest), none -> median is a missing value
    assert f.best_at[1] is None
    assert f.best_at[10] == 85.0  # 90, 85, 75
    assert f.fbe_to_target == 5.0  # 2, 5, never
    assert (f.n_reached, f.n_seeds) == (2, 3)
    assert f.decision_s_per_trial == 0.5
    assert report.random_targets([_run("random", "1", [[52, 1.0, 70.0]])]) == {"1": 70.0}


def _driver(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.sample_efficiency_peers", "--out", str(out),
         "--data-path", str(DATA_PATH), "--instances", "189873", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _needs_data() -> None:
    pytest.importorskip(
        "onnxruntime", reason="the lcbench surrogate needs onnxruntime (bench extra)"
    )
    if not (DATA_PATH / "lcbench" / "model.onnx").is_file():
        pytest.skip(f"lcbench data not found under {DATA_PATH} (set HPSEARCH_LCBENCH_DATA)")


def test_driver_appends_one_line_per_run_and_skips_done_runs(tmp_path: Path) -> None:
    _needs_data()
    out = tmp_path / "runs.jsonl"
    first = _driver(out, "--methods", "random", "--seeds", "2", "--budget-fbe", "3")
    assert first.returncode == 0, first.stderr
    lines = out.read_text().splitlines()
    assert [(r["method"], r["seed"]) for r in map(json.loads, lines)] == [
        ("random", 0),
        ("random", 1),
    ]
    for r in map(json.loads, lines):
        assert r["epochs_used"] == r["budget_epochs"] == 3 * 52
        assert [e for e, _, _ in r["trajectory"]] == [52, 104, 156]
    again = _driver(out, "--methods", "random", "--seeds", "3", "--budget-fbe", "3")
    assert again.returncode == 0, again.stderr
    assert "1 runs to do (2 already" in again.stderr
    assert out.read_text().splitlines()[:2] == lines and len(out.read_text().splitlines()) == 3
    # Runs found in another file (e.g. a cost measurement) count as done too.
    other = tmp_path / "other.jsonl"
    skipped = _driver(other, "--methods", "random", "--seeds", "3", "--budget-fbe", "3",
                      "--skip-from", str(out))  # fmt: skip
    assert skipped.returncode == 0, skipped.stderr
    assert "0 runs to do (3 already done)" in skipped.stderr and not other.exists()
    assert len(report.load_runs(out, out)) == 3  # a run read twice is kept once


# One cheap method per library; the syne-tune one pauses and resumes trials.
LIBRARY_RUNS = [("syne_tune", "st_asha_promotion"), ("dehb", "dehb"), ("smac", "smac_hb")]


@pytest.mark.parametrize(("env", "method"), LIBRARY_RUNS)
def test_one_tiny_run_per_library(tmp_path: Path, env: str, method: str) -> None:
    _needs_data()
    if run_peers.interpreter(method) is None:
        pytest.skip(
            f"peer virtualenv {env!r} not installed under {run_peers.envs_dir()} (CI does not "
            "install it): bash benchmarks/sample_efficiency_peers/setup_envs.sh"
        )
    out = tmp_path / "runs.jsonl"
    result = _driver(out, "--methods", method, "--seeds", "1", "--budget-fbe", "4")
    assert result.returncode == 0, result.stderr
    (run,) = map(json.loads, out.read_text().splitlines())
    assert run["epochs_used"] == run["budget_epochs"] == 4 * 52
    epochs = [e for e, _, _ in run["trajectory"]]
    assert epochs == sorted(epochs) and all(0 < e <= 4 * 52 for e in epochs)
    assert run["n_trials"] >= 1 and run["decision"]["total_s"] > 0
    if env == "syne_tune":
        # Promotion: paused trials resumed, each epoch trained (and billed) once.
        assert run["n_resumes"] > 0
        assert run["epochs_retrained"] == 0
        assert run["n_reports"] == run["epochs_used"]
