"""The TRL vs hand-written benchmark runs, and its shared yardstick is the Trainer's own loss."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def test_smoke_prints_both_paths_and_a_yardstick_equal_to_the_trainers_loss(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.trl_vs_handwritten.__main__ import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--smoke", "--setting", "plain text, packing"]) == 0
    out, err = capsys.readouterr()
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| plain text")]
    assert [row[1] for row in rows] == ["handwritten", "trl"]
    assert "plain text, packing: trl / handwritten per repeat: tokens/s median" in out
    # the hand-written model scored on its own eval blocks: the shared-blocks loss is its
    # Trainer's eval_loss
    (line,) = [ln for ln in err.splitlines() if ln.startswith("plain text, packing | handwritten")]
    own, shared = re.search(r"eval_loss ([\d.]+), shared eval loss ([\d.]+)", line).groups()
    assert abs(float(own) - float(shared)) < 1e-3, line
