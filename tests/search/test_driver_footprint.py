"""The driver trains nothing, so it never imports torch or transformers.

Those two cost the driver about 500 MB of memory and a second of start-up (docs/benchmarks.md,
storage scale: driver memory). A whole ``hpsearch run`` of a real Hugging Face study (its input
checks, the study note's hardware summary, Ray dispatch, the best-adapter export) is run in a
process that reports which heavy modules it imported; the trials themselves train in Ray
worker processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WRAPPER = r"""
import runpy, sys
sys.argv = ["hpsearch", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("hpsearch.search.cli.main", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("HEAVY=" + ",".join(m for m in ("torch", "transformers", "peft") if m in sys.modules))
sys.exit(code)
"""


def test_hf_study_driver_imports_no_torch(tiny_qwen3: str, text_jsonl: str, tmp_path: Path) -> None:
    args = ["run", "--space", "lora_small", "--study", "fp", "--trials", "1", "--workers", "1"]
    args += ["--storage", f"sqlite:///{tmp_path / 'fp.db'}", "--model", tiny_qwen3]
    args += ["--dataset", text_jsonl, "--max-steps", "4", "--eval-steps", "2"]
    args += ["--max-seq-length", "32", "--checkpoint-dir", str(tmp_path / "ck")]
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1/1 trials finished" in result.stdout and "Best adapter:" in result.stdout
    assert "HEAVY=\n" in result.stdout, result.stdout.splitlines()[-1]


def test_training_argument_names_read_from_source_match_the_dataclass() -> None:
    import dataclasses

    from transformers import TrainingArguments

    from hpsearch.trainers import TRAINING_ARG_ALIASES, training_argument_names

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert training_argument_names() == fields | set(TRAINING_ARG_ALIASES)
    assert training_argument_names("classification") == training_argument_names()
    from trl import SFTConfig  # causal-LM trials train with SFTTrainer: its fields too

    sft = {f.name for f in dataclasses.fields(SFTConfig)}
    assert training_argument_names("causal_lm") == sft | set(TRAINING_ARG_ALIASES)
    assert {"padding_free", "packing_strategy", "eval_packing", "loss_type"} <= sft - fields
