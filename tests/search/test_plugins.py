"""User plug-ins by dotted path: a custom sampler and pruner run a real study through the CLI,
and a bad plug-in is one clear line before anything is written."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.policy import validate_policy
from hpsearch.spaces import SpaceError, load_space_text
from tests.helpers import run_cli_process as hpsearch
from tests.search.test_bad_input import assert_clean_failure

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "tests.search.custom_plugins"
SPACE = """
name: plugged
trials: 4
sampler: {sampler}
pruner: {pruner}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 0.5}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
task:
  type: simulated
  max_steps: 20
  eval_steps: 5
"""
SAMPLER = f"{{type: '{PLUGINS}:TaggedSampler', tag: mine, seed: 3}}"
PRUNER = f"{{type: '{PLUGINS}:FirstStepPruner', above: 0.0}}"


def space_text(sampler: str = SAMPLER, pruner: str = PRUNER) -> str:
    return SPACE.format(sampler=sampler, pruner=pruner)


def policy_issues(sampler: str = SAMPLER, pruner: str = PRUNER) -> list[str]:
    return [str(i) for i in validate_policy(load_space_text(space_text(sampler, pruner)))]


def test_custom_sampler_and_pruner_run_a_study(tmp_path: Path) -> None:
    space = tmp_path / "plugged.yaml"
    space.write_text(space_text())
    db = tmp_path / "studies.db"
    result = hpsearch(
        "run",
        "--space",
        str(space),
        "--study",
        "plugged",
        "--storage",
        f"sqlite:///{db}",
        "--checkpoint-dir",
        str(tmp_path / "ck"),
        env={"PYTHONPATH": str(ROOT)},  # the Ray workers import the user's module too
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="plugged", storage=f"sqlite:///{db}")
    assert study.user_attrs["custom_sampler"] == "mine"  # the user's sampler drew
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4
    # The user's pruner (above: 0) stops every trial at its first evaluation.
    assert all(t.state == TrialState.PRUNED for t in trials), [t.state for t in trials]
    assert all(max(t.intermediate_values) == 5 for t in trials)


def test_a_custom_plugin_passes_validation() -> None:
    assert policy_issues() == []


@pytest.mark.parametrize(
    ("sampler", "pruner", "fragments"),
    [
        (  # an unknown option of the user's sampler lists the allowed ones
            f"{{type: '{PLUGINS}:TaggedSampler', tag: x, colour: red}}",
            PRUNER,
            ("sampler.colour", "not an option", "tag, seed"),
        ),
        (  # a user option of the wrong type, by its annotation
            SAMPLER,
            f"{{type: '{PLUGINS}:FirstStepPruner', above: high}}",
            ("pruner.above", "wrong type", "a number"),
        ),
        ("'nosuchpkg.samplers:Mine'", PRUNER, ("sampler.type", "cannot import", "nosuchpkg")),
        (f"'{PLUGINS}:Missing'", PRUNER, ("sampler.type", "has no attribute 'Missing'")),
        (SAMPLER, f"'{PLUGINS}:TaggedSampler'", ("pruner.type", "not a subclass", "BasePruner")),
        (f"'{PLUGINS}:NOT_CALLABLE'", PRUNER, ("sampler.type", "neither", "BaseSampler")),
        (f"'{PLUGINS}:not_a_sampler'", PRUNER, ("sampler.type", "not an optuna BaseSampler")),
    ],
)
def test_bad_plugins_are_one_line_each(sampler: str, pruner: str, fragments: tuple[str]) -> None:
    found = policy_issues(sampler, pruner)
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], found


def test_a_name_that_is_neither_builtin_nor_dotted_lists_both() -> None:
    with pytest.raises(SpaceError) as raised:
        load_space_text(space_text(sampler="mypkg.samplers.Mine"))
    assert "or a dotted path package.module:Name" in str(raised.value)


def test_cli_reports_a_bad_plugin_before_writing(tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text(space_text(sampler="'nosuchpkg.samplers:Mine'"))
    db = tmp_path / "db" / "studies.db"
    db.parent.mkdir()
    result = hpsearch("run", "--space", str(space), "--storage", f"sqlite:///{db}", timeout=120)
    assert_clean_failure(result, 2, "sampler.type", "cannot import module 'nosuchpkg")
    assert list(db.parent.iterdir()) == []
