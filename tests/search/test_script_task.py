"""Bring your own training, the task: script / trainer rules, the example spaces, the CLI flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch.search.engine import build_task, build_trial_config, validate_run
from hpsearch.spaces import SpaceError, load_space_file, load_space_text
from hpsearch.storage import StudyPaths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["tiny_classifier_space.yaml", "tiny_entry_point_space.yaml"])
def test_the_example_spaces_are_valid_custom_tasks(name: str) -> None:
    space = load_space_file(EXAMPLES / name)
    task = build_task(space, {})
    assert task.type == "custom" and not task.demo
    assert validate_run(space, task) == []  # hidden_dropout_prob: any name a script reads


def test_a_script_task_hands_the_sampled_values_to_the_script(tmp_path: Path) -> None:
    space = load_space_file(EXAMPLES / "tiny_classifier_space.yaml")
    task = build_task(space, {"script": "train.py", "script_args": ["--max-steps", "3"]})
    assert task.script == str(Path("train.py").resolve())  # workers run it from anywhere
    config, _ = build_trial_config(
        space=space,
        task=task,
        params={"learning_rate": 0.002, "hidden_dropout_prob": 0.1},
        study_name="s",
        number=5,
        paths=StudyPaths(tmp_path, "s"),
    )
    assert config.custom is not None and config.model.task_type == "custom"
    assert config.custom.script_args == ("--max-steps", "3")
    assert dict(config.custom.params) == {"learning_rate": 0.002, "hidden_dropout_prob": 0.1}


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        ("{type: custom}", "a custom task needs a script or a trainer entry point"),
        ("{script: a.py, trainer: 'm:f'}", "either a script or a trainer entry point"),
        ("{trainer: 'not an entry point'}", "is not an entry point"),
        ("{type: causal_lm, script: a.py}", "runs as a custom task"),
        ("{script_args: [--x]}", "are given without a script"),
        ("{script: a.py, fidelity: tokens}", "reports optimizer steps"),
    ],
)
def test_bad_custom_tasks_are_named(task: str, fragment: str) -> None:
    text = f"name: s\nparams: {{learning_rate: 0.001}}\ntask: {task}\n"
    with pytest.raises(SpaceError, match=fragment):  # when the space loads, or its task
        _check(text)


def _check(text: str) -> None:
    space = load_space_text(text)
    issues = validate_run(space, build_task(space, {}))
    if issues:
        raise SpaceError(issues, "space")


def test_script_arguments_without_a_script_are_rejected_by_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "hpsearch.search.cli.main", "run", "--space", "lora_small"),
            *("--storage", f"sqlite:///{tmp_path / 's.db'}", "--", "--max-steps", "3"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "script_args" in result.stderr and "without a script" in result.stderr
    assert not (tmp_path / "s.db").exists()  # rejected before anything was written
