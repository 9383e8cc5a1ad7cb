"""The GPU check's dry run on a CPU: its plumbing, its record, and no figure it did not measure."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import optuna
import pytest

from benchmarks.gpu_check import report
from benchmarks.gpu_check.__main__ import main

PARTS = [
    "setup",
    "lora_sdpa",
    "standalone_trainer",
    "lora_flash_attention",
    "qlora_nf4_paged_adamw_8bit",
    "full_adamw_8bit",
    "oom_retry",
    "packed_4x0.25",
]
# What only a GPU measures: a CPU run that reported any of these would have made it up.
GPU_ONLY = {
    "peak_memory_mb",
    "peak_reserved_mb",
    "memory_estimate_gb",
    "busy_fraction",
    "held_after_trial_mib",
    "held_after_oom_mib",
    "held_after_retry_mib",
    "retry_peak_memory_mb",
}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    root = tmp_path_factory.mktemp("gpu_check")
    argv = ["--out", str(root / "out"), "--work", str(root / "work"), "--dry-run"]
    saved = dict(os.environ)  # main() sets CUDA_VISIBLE_DEVICES and HF_HUB_OFFLINE for itself
    try:
        assert main([*argv, "--packed-trials", "2", "--wheels", str(root / "no-wheels")]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    record = json.loads((root / "out" / "gpu_check.json").read_text())
    return record, (root / "out" / "gpu_check.md").read_text(), root / "work"


@pytest.mark.timeout(300)  # ~25 s on an idle 2-core machine; the module's fixture
def test_dry_run_record_format(dry_run: tuple[dict, str, Path]) -> None:
    record, md, _ = dry_run
    assert record["mode"] == "dry run (CPU)"
    assert {"machine", "versions", "wheels", "parts", "goals", "wall_s"} <= set(record)
    assert record["complete"] is True  # the record saved after each part is marked incomplete
    assert [p["name"] for p in record["parts"]] == PARTS
    for p in record["parts"]:
        assert p["status"] in report.STATUSES, p
        assert f"| {p['name']} | {p['status']} |" in md
    for g in record["goals"]:
        assert g["result"] in report.RESULTS, g
        assert f"| {g['goal']} |" in md
    assert record["wheels"]["listed"] and all("==" in w for w in record["wheels"]["listed"])
    assert "bitsandbytes" in " ".join(record["wheels"]["listed"])


def test_dry_run_claims_nothing_it_did_not_measure(dry_run: tuple[dict, str, Path]) -> None:
    record, _, _ = dry_run
    for p in record["parts"]:
        assert p["status"] != "measured", f"{p['name']} claims GPU figures on a CPU"
        assert not GPU_ONLY & set(p["figures"]), p
        for key, value in p["figures"].items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (p["name"], key)
        if p["status"] in ("not run", "failed"):
            assert p["reason"] and not p["figures"], p
    for g in record["goals"]:  # every goal needs a GPU
        assert g["result"] == "not run" and g["measured"] is None and g["why"] == "no CUDA", g


def test_dry_run_runs_the_cpu_plumbing(dry_run: tuple[dict, str, Path]) -> None:
    record, _, work = dry_run
    parts = {p["name"]: p for p in record["parts"]}
    for name in ("setup", "lora_sdpa", "standalone_trainer", "oom_retry", "packed_4x0.25"):
        assert parts[name]["status"] == "ran", parts[name]
    assert parts["lora_sdpa"]["figures"]["tokens_per_s"] > 0
    assert parts["standalone_trainer"]["figures"]["tokens_per_s"] > 0
    oom = parts["oom_retry"]
    assert oom["figures"] == {"oom_batch": 4, "retry_batch": 2, "retry_grad_accum": 2}
    first, retry = oom["details"]["trials"]
    assert first["state"] == "FAIL" and first["retry_requested"] == "oom"
    assert retry["state"] == "COMPLETE" and retry["retry_of"] == first["trial"]
    assert "failpoint" in oom["reason"]
    assert parts["packed_4x0.25"]["figures"]["trials"] == 2
    assert all(t["gpu_fraction"] == 0.25 for t in parts["packed_4x0.25"]["details"]["trials"])
    for name in ("qlora_nf4_paged_adamw_8bit", "full_adamw_8bit"):
        assert parts[name]["status"] == "not run"
        assert "no CUDA device" in parts[name]["reason"]  # hpsearch's own refusal
    assert parts["lora_flash_attention"]["status"] == "not run"
    # every trial ran through hpsearch's engine: one SQLite study per part, as the driver left it
    storage = f"sqlite:///{work / 'study.db'}"
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    assert names == {"lora", "qlora", "full", "oom", "packed"}

    def states(name: str) -> list[str]:
        return [t.state.name for t in optuna.load_study(study_name=name, storage=storage).trials]

    assert states("lora") == ["COMPLETE"]
    assert states("qlora") == states("full") == ["FAIL"]  # refused: no retry for the hardware
    assert states("packed") == ["COMPLETE", "COMPLETE"]  # two drivers, one study
    oom_study = optuna.load_study(study_name="oom", storage=storage)
    failed, retried = oom_study.trials
    assert (failed.state.name, retried.state.name) == ("FAIL", "COMPLETE")
    assert failed.user_attrs["per_device_train_batch_size_used"] == 4
    assert "memory_estimate_gb" in failed.user_attrs
    # the driver's retry rule: half the per-device batch, twice the accumulation
    assert retried.user_attrs["retry_of"] == failed.number
    assert retried.user_attrs["oom_downscale"] == 2
    assert retried.user_attrs["per_device_train_batch_size_used"] == 2
    assert retried.user_attrs["gradient_accumulation_steps"] == 2
    assert retried.params == failed.params


def test_a_part_that_did_not_run_carries_no_figure() -> None:
    with pytest.raises(ValueError, match="needs a reason and has no figures"):
        report.part("x", "not run", reason="no CUDA", figures={"tokens_per_s": 1.0})
    with pytest.raises(ValueError, match="needs a reason"):
        report.part("x", "failed")
    with pytest.raises(ValueError, match="is not one of"):
        report.part("x", "guessed", figures={"tokens_per_s": 1.0})


def test_wheel_check_names_missing_wheels(tmp_path: Path) -> None:
    listed = report.wheel_check(None)["listed"]
    name, version = listed[0].split("==")
    (tmp_path / f"{name}-{version}-py3-none-any.whl").write_bytes(b"x" * 1024)
    (tmp_path / "hpsearch-0.1.0-py3-none-any.whl").write_bytes(b"x")
    found = report.wheel_check(tmp_path)
    assert found["missing"] == listed[1:]
    assert found["hpsearch_wheel"] is True
