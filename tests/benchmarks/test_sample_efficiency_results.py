"""The benchmark's results file: one line per study, skipped on rerun, reported with peers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import DATA_PATH

pytest.importorskip("onnxruntime", reason="the lcbench surrogate needs onnxruntime (bench extra)")


def _peer_line(seed: int, trajectory: list[list[float]]) -> dict:
    return {
        "method": "st_asha", "instance": "189873", "seed": seed, "budget_fbe": 2.0,
        "budget_epochs": 104, "max_epoch": 52, "trajectory": trajectory, "n_trials": 4,
        "n_resumes": 0, "n_configs": 4, "decision": {"total_s": 0.4, "cpu_s": 0.4},
    }  # fmt: skip


def test_results_are_appended_skipped_on_rerun_and_reported_with_peers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (DATA_PATH / "lcbench" / "model.onnx").is_file():
        pytest.skip(f"lcbench data not found under {DATA_PATH} (set HPSEARCH_LCBENCH_DATA)")
    from benchmarks.sample_efficiency.__main__ import main
    from benchmarks.sample_efficiency.policies import BY_NAME, Policy
    from benchmarks.sample_efficiency.report import main as report_main

    # A candidate whose feature this hpsearch lacks (here: a pruner no registry knows).
    unmerged = Policy("unmerged", {"type": "random", "seed": 0}, {"type": "no_such_pruner"})
    monkeypatch.setitem(BY_NAME, unmerged.name, unmerged)

    out = tmp_path / "se.jsonl"
    argv = ["--instances", "189873", "--seeds", "1", "--budget-fbe", "2", "--workers", "0",
            "--policies", "random", "unmerged", "--out", str(out),
            "--data-path", str(DATA_PATH)]  # fmt: skip
    assert main(argv) == 0
    first = capsys.readouterr()
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert (line["policy"], line["instance"], line["seed"], line["workers"]) == (
        "random",
        "189873",
        0,
        1,
    )
    # Random search never prunes: 2 FBE are 2 trials run to the last epoch, in order.
    assert line["n_trials"] == 2 and [t[0] for t in line["trajectory"]] == [52, 104]
    assert line["decision"]["calls"]["sampler"] > 0 and line["cpu_s"] > 0
    # A candidate whose space this hpsearch rejects is skipped with the reason, not written.
    assert "skipping 'unmerged': hpsearch rejects its space" in first.err
    assert "| 189873 | random |" in first.out

    # The rerun skips what the file holds; the rejected candidate is tried again (it runs once
    # its feature is merged).
    assert main(argv) == 0
    assert "1 studies to run (1 already done)" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1

    best = max(v for _, _, v in line["trajectory"])
    peers = tmp_path / "peers.jsonl"
    peers.write_text(
        json.dumps(_peer_line(0, [[30, 100.0, best - 1], [60, 200.0, best + 1]])) + "\n"
    )
    assert report_main([str(out), "--peers", str(peers), "--workers", "0"]) == 0
    report = capsys.readouterr().out
    assert "| 189873 | peer: st_asha |" in report
    (peer_row,) = [r for r in report.splitlines() if "peer: st_asha" in r]
    assert f"| {best:.2f} | 1.2 | 1/1 |" in peer_row  # the hpsearch target; 60 / 52 FBE
    assert "Goals: not checked ('hpsearch default' was not run)." in report
