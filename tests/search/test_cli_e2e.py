"""``hpsearch run`` end to end through the CLI: real Ray, real PostgreSQL, real Trainer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow


def test_run_on_postgresql_and_ray_then_plain_optuna_reads_it(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    result = run_cli_process(
        "run",
        "--space",
        "lora_small",
        "--study",
        "e2e",
        "--storage",
        fresh_pg_url,
        "--model",
        tiny_qwen3,
        "--dataset",
        text_jsonl,
        "--max-steps",
        "12",
        "--eval-steps",
        "3",
        "--max-seq-length",
        "32",
        "--trials",
        "6",
        "--workers",
        "2",
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "6/6 trials finished" in out and "Best trial #" in out and "Best adapter:" in out
    assert "Traceback" not in result.stderr
    url = fresh_pg_url.replace("postgresql://", "postgresql+psycopg2://")
    study = optuna.load_study(study_name="e2e", storage=url)
    check_study_invariants(study, budget=6)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete
    for trial in complete:
        assert trial.intermediate_values, trial.number
        assert set(trial.intermediate_values) <= {3, 6, 9, 12}
        assert trial.user_attrs["effective_batch_size"] == 16
        assert Path(trial.user_attrs["adapter_dir"]).is_dir()
    assert study.user_attrs["hpsearch.budget"] == 6
    # the plain optuna CLI reads the study
    for command in (["trials"], ["best-trial"]):
        cli = subprocess.run(
            [
                str(Path(sys.executable).parent / "optuna"),
                *command,
                "--study-name",
                "e2e",
                "--storage",
                url,
                "-f",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert '"number"' in cli.stdout
    # running again continues the same study: nothing left to do, nothing rerun
    again = run_cli_process(
        "run",
        "--space",
        "lora_small",
        "--study",
        "e2e",
        "--storage",
        fresh_pg_url,
        "--model",
        tiny_qwen3,
        "--dataset",
        text_jsonl,
        "--max-steps",
        "12",
        "--eval-steps",
        "3",
        "--max-seq-length",
        "32",
        "--trials",
        "6",
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
    )
    assert again.returncode == 0, again.stderr
    assert len(optuna.load_study(study_name="e2e", storage=url).trials) == len(study.trials)
