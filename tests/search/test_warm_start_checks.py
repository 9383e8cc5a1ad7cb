"""Warm-start parameters the space does not have are errors, never silently dropped."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli_process as hpsearch
from tests.search.test_bad_input import assert_clean_failure

SPACE = """
name: {name}
trials: 2
sampler: {{type: random, seed: 0}}
pruner: none
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 0.5}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
{extra}task:
  type: simulated
  max_steps: 4
  eval_steps: 2
"""


def test_warm_start_from_a_study_with_a_parameter_the_space_lacks(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'studies.db'}"
    common = ["--storage", db, "--checkpoint-dir", str(tmp_path / "ck")]
    earlier = tmp_path / "earlier.yaml"
    earlier.write_text(
        SPACE.format(name="earlier", extra="  weight_decay: {type: float, low: 0.0, high: 0.1}\n")
    )
    assert hpsearch("run", "--space", str(earlier), "--study", "earlier", *common).returncode == 0
    later = tmp_path / "later.yaml"
    later.write_text(SPACE.format(name="later", extra=""))
    result = hpsearch(
        "run", "--space", str(later), "--study", "later", "--warm-start-from", "earlier", *common
    )
    assert_clean_failure(
        result,
        2,
        "cannot warm-start from study 'earlier'",
        "weight_decay: not a parameter of this space",
        "allowed: learning_rate",
    )
