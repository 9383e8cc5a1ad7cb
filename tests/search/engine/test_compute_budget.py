"""A study's compute budget (``compute_budget: {steps: N}`` or ``{fbe: N}``) on the real driver
and the simulated pool: no trial starts once the budget is used, running trials finish, the
study records the budget and ``hpsearch status`` shows it; a study written before compute
budgets existed resumes with its trial budget."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.cli.main import main
from hpsearch.search.engine import RunRequest, SimStep, SimulatedPool, TrialTask, execute
from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger, load_meta, steps_used

MAX_STEPS = 20

SPACE = """
name: sim
{trials}
{compute}
sampler: {{type: random, seed: 3}}
pruner: {{type: {pruner}}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: 8
  effective_batch_size: 16
task:
  type: simulated
  max_steps: 20
  eval_steps: 5
"""


def write_space(
    tmp_path: Path, *, compute: str = "", trials: int | None = None, pruner: str = "none"
) -> str:
    path = tmp_path / "sim.yaml"
    path.write_text(
        SPACE.format(
            trials="" if trials is None else f"trials: {trials}",
            compute=f"compute_budget: {compute}" if compute else "",
            pruner=pruner,
        )
    )
    return str(path)


def trainer(task: TrialTask, params: Mapping[str, Any]) -> Iterator[SimStep]:
    """Evaluations every 5 steps of 20, 10 simulated seconds per step."""
    lr = float(params["learning_rate"])
    for step in range(5, MAX_STEPS + 1, 5):
        value = abs(math.log10(lr) + 3) + 1.0 / step
        yield SimStep(step, value, seconds=10.0 * step, final=step == MAX_STEPS)


def run(
    tmp_path: Path, space: str, workers: int, trials: int | None = None
) -> tuple[optuna.Study, list[str]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    lines: list[str] = []
    request = RunRequest(
        space=space,
        study="s",
        storage=url,
        trials=trials,
        checkpoint_dir=str(tmp_path / "ck"),
        pool=SimulatedPool(workers, trainer),
        status_interval=1000.0,
    )
    result = execute(request, emit=lines.append)
    return optuna.load_study(study_name="s", storage=url), [*lines, *result.summary.lines]


def assert_within_compute(study: optuna.Study, limit: int, workers: int) -> int:
    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    used = steps_used(trials)
    assert limit <= used < limit + workers * MAX_STEPS, (used, limit)
    return used


@pytest.mark.parametrize("workers", [1, 3])
def test_a_steps_budget_stops_starting_trials_once_used(tmp_path: Path, workers: int) -> None:
    study, lines = run(tmp_path, write_space(tmp_path, compute="{steps: 110}"), workers)
    used = assert_within_compute(study, 110, workers)
    # No trial limit was written: the compute budget alone ended the study.
    trials = study.get_trials(deepcopy=False)
    assert -(-110 // MAX_STEPS) <= len(trials) <= -(-110 // MAX_STEPS) + workers - 1
    assert study.user_attrs[A.STUDY_COMPUTE_BUDGET] == {"steps": 110}
    assert study.user_attrs[A.STUDY_BUDGET] is None
    assert f"compute: {used / MAX_STEPS:.1f} / 5.5 FBE ({used:,} / 110 steps)" in lines
    assert any(line.startswith(f"Study 's': {len(trials)} trials finished") for line in lines)


def test_an_fbe_budget_counts_full_trials(tmp_path: Path) -> None:
    study, lines = run(tmp_path, write_space(tmp_path, compute="{fbe: 2.5}"), 2)
    used = assert_within_compute(study, int(2.5 * MAX_STEPS), 2)
    meta = load_meta(study)
    assert meta.budget is None and meta.compute_limit == 50.0
    assert f"compute: {used / MAX_STEPS:.1f} / 2.5 FBE ({used:,} / 50 steps)" in lines


def test_a_written_trial_count_still_applies_beside_a_compute_budget(tmp_path: Path) -> None:
    study, _ = run(tmp_path, write_space(tmp_path, compute="{fbe: 100}", trials=3), 2)
    assert build_ledger(study.get_trials(), 2).finished == 3
    (tmp_path / "x").mkdir()
    study2, _ = run(tmp_path / "x", write_space(tmp_path, compute="{fbe: 100}"), 1, trials=2)
    assert len(study2.get_trials()) == 2  # --trials applies too


def test_pruned_and_resumed_trials_count_only_the_steps_they_trained(tmp_path: Path) -> None:
    """A retried or promoted successor counts its steps after RESUMED_AT; a pruned trial its
    last step."""
    study = optuna.create_study()
    pruned = optuna.trial.create_trial(
        state=TrialState.PRUNED, intermediate_values={5: 1.0, 10: 0.9}
    )
    successor = optuna.trial.create_trial(
        value=0.5,
        intermediate_values={5: 1.0, 10: 0.9, 15: 0.7, 20: 0.5},  # copies up to step 10
        user_attrs={A.RESUMED_AT: 10, "last_step": 20},
    )
    running = optuna.trial.create_trial(
        state=TrialState.RUNNING, intermediate_values={}, user_attrs={"last_step": 7}
    )
    for trial in (pruned, successor, running):
        study.add_trial(trial)
    assert steps_used(study.get_trials()) == 10 + 10 + 7


def test_status_shows_compute_used_against_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, _ = run(tmp_path, write_space(tmp_path, compute="{steps: 50}"), 1)
    used = steps_used(study.get_trials())
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["status", "s", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert f"s: compute: {used / MAX_STEPS:.1f} / 2.5 FBE ({used:,} / 50 steps)" in out
    assert "stopped" not in out and "done" in out
    assert main(["status", "s", "--storage", url, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["studies"][0]
    assert row["compute"]["used"] == used and row["compute"]["limit"] == 50
    assert row["budget"] is None and row["state"] == "done"


def test_an_old_study_without_the_attribute_resumes_with_its_trial_budget(
    tmp_path: Path,
) -> None:
    space = write_space(tmp_path, trials=2)
    study, _ = run(tmp_path, space, 1)
    assert A.STUDY_COMPUTE_BUDGET not in study.user_attrs
    assert load_meta(study).compute_budget is None
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    request = RunRequest(
        study="s",
        storage=url,
        trials=4,
        resume_only=True,
        checkpoint_dir=str(tmp_path / "ck"),
        pool=SimulatedPool(1, trainer),
        status_interval=1000.0,
    )
    execute(request, emit=lambda line: None)
    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{fbe: -1}", "compute_budget.fbe: is not valid; got -1; allowed: a finite number > 0"),
        ("{steps: 0}", "compute_budget.steps: is not valid; got 0; allowed: an integer from 1"),
        ("{fbe: 1, steps: 20}", "compute_budget: gives more than one unit; got {'fbe': 1, "),
        ("{flops: 5}", "compute_budget.flops: unknown key; allowed: fbe, steps, tokens"),
    ],
)
def test_a_bad_compute_budget_is_one_line_naming_the_value(value: str, message: str) -> None:
    from hpsearch.spaces import SpaceError, load_space_text

    text = "params: {learning_rate: 1.0e-4}\ncompute_budget: " + value
    with pytest.raises(SpaceError) as caught:
        load_space_text(text)
    assert str(caught.value).startswith(f"1 problem in space: {message}")
    assert "\n" not in str(caught.value)
