"""The space JSON Schema editors read: generated from the spec, committed, and in agreement with
the loader (every valid space passes it; what the loader rejects, it rejects too, except the
rules JSON Schema cannot express, listed below with the reason)."""

from __future__ import annotations

import copy
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hpsearch.search.cli.main import main
from hpsearch.search.engine import build_task, validate_run
from hpsearch.spaces import (
    KNOBS,
    PluginNames,
    SpaceError,
    TaskSpec,
    builtin_names,
    builtin_text,
    load_space_dict,
    schema_path,
    schema_text,
    space_schema,
)
from tests.spaces.test_docs_examples import BLOCKS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "spaces" / "space.schema.json"
VALIDATOR = jsonschema.Draft7Validator(space_schema())
BASE: dict[str, Any] = {"params": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3}}}


def schema_errors(doc: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)
    ]


def loader_problems(doc: Any) -> list[str]:
    """Everything `hpsearch spaces validate` reports (the loader, then the run checks)."""
    try:
        space = load_space_dict(copy.deepcopy(doc))
        return [str(issue) for issue in validate_run(space, build_task(space, {}))]
    except SpaceError as exc:
        return [str(issue) for issue in exc.issues]


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with ``value`` at the dotted ``path``."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return doc


def param(definition: Any, name: str = "learning_rate") -> dict[str, Any]:
    return {"params": {name: definition}}


# -- the schema is generated, committed and found by editors -----------------------------------


def test_the_schema_is_a_valid_draft_07_schema() -> None:
    jsonschema.Draft7Validator.check_schema(space_schema())


def test_the_committed_schema_is_the_generated_one() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["spaces", "schema"]) == 0
    assert out.getvalue() == schema_text()
    assert COMMITTED.read_text() == schema_text(), (
        "spaces/space.schema.json is stale: regenerate it with "
        "hpsearch spaces schema > spaces/space.schema.json"
    )
    assert schema_path().read_text() == schema_text()  # the copy the package ships


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_spaces_name_the_schema_on_their_first_line(name: str) -> None:
    first = builtin_text(name).splitlines()[0]
    assert first == "# yaml-language-server: $schema=../space.schema.json"
    target = ROOT / "spaces" / "builtin" / first.split("$schema=")[1]
    assert target.resolve() == COMMITTED.resolve() and target.exists()


def test_a_shown_space_points_at_the_installed_schema() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["spaces", "show", "lora_small"]) == 0
    first, rest = out.getvalue().split("\n", 1)
    assert first == f"# yaml-language-server: $schema={schema_path()}"
    assert Path(first.split("$schema=")[1]).is_file()
    assert rest == builtin_text("lora_small").split("\n", 1)[1]


def test_every_key_has_a_description_from_the_spec() -> None:
    schema = space_schema()
    for key, prop in schema["properties"].items():
        assert prop.get("description"), key
    for section in ("objective", "early_stopping", "resources", "batch", "retries", "task"):
        for key, prop in schema["properties"][section]["properties"].items():
            assert prop.get("description"), f"{section}.{key}"
    assert set(schema["properties"]["task"]["properties"]) == set(TaskSpec.field_names())
    knobs = schema["definitions"]["params"]["properties"]
    for name, knob in KNOBS.items():
        assert knob.description in knobs[name]["description"]


# -- every valid space passes ------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_spaces_pass_the_schema(name: str) -> None:
    assert schema_errors(yaml.safe_load(builtin_text(name))) == []


@pytest.mark.parametrize(("doc", "index", "block"), BLOCKS, ids=[f"{d}#{i}" for d, i, _ in BLOCKS])
def test_documented_spaces_pass_the_schema(doc: str, index: int, block: str) -> None:
    assert schema_errors(yaml.safe_load(block)) == []


VALID = {
    "null sections take their defaults": {
        **BASE,
        "name": None,
        "description": None,
        "objective": None,
        "sampler": None,
        "pruner": None,
        "early_stopping": None,
        "resources": None,
        "batch": None,
        "retries": None,
        "task": None,
    },
    "a sampler by name": {**BASE, "sampler": "random"},
    "a sampler mapping without type": {**BASE, "sampler": {"seed": 3}},
    "sampler option lists": {**BASE, "pruner": {"type": "median", "n_warmup_steps": 2}},
    "report_to one name": with_("task.report_to", "tensorboard"),
    "report_to none": with_("task.report_to", "none"),
    "patience null": with_("early_stopping.patience", None),
    "CPU trials": with_("resources.gpus_per_trial", 0),
    "a GPU fraction": with_("resources.gpus_per_trial", 0.25),
    "two GPUs per trial, sharded": {
        **BASE,
        "resources": {"gpus_per_trial": 2, "distributed": "fsdp"},
    },
    "shorthand list": param(["q_proj", "v_proj"], "lora_target_modules"),
    "int range of an integer knob": param(
        {"type": "int", "low": 4, "high": 64, "log": True}, "lora_r"
    ),
    "conditional on a list": {
        "params": {
            "optim": {"type": "categorical", "choices": ["sgd", "adamw_torch"]},
            "adam_beta2": {
                "type": "float",
                "low": 0.9,
                "high": 0.99,
                "when": {"optim": ["adamw_torch"]},
            },
        }
    },
    "a float grid": param({"type": "float", "low": 0.0, "high": 0.2, "step": 0.05}, "warmup_ratio"),
    "a TrainingArguments field": param({"type": "categorical", "choices": [0, 1]}, "logging_steps"),
    "simulated options": {
        **BASE,
        "task": {"type": "simulated", "max_steps": 20, "simulated": {"seconds_per_step": 0}},
    },
    "a compute budget in FBE": {**BASE, "compute_budget": {"fbe": 2.5}, "task": {"max_steps": 20}},
    "a compute budget in steps beside trials": {
        **BASE,
        "trials": 10,
        "compute_budget": {"steps": 5000},
    },
    "no trial limit beside a compute budget": {
        **BASE,
        "trials": None,
        "compute_budget": {"steps": 5000},
    },
    "a compute budget in tokens": {
        **BASE,
        "compute_budget": {"tokens": 10**9},
        "task": {"fidelity": "tokens"},
    },
    "compute budget null": {**BASE, "compute_budget": None},
}


@pytest.mark.parametrize("case", VALID)
def test_valid_spaces_pass_both(case: str) -> None:
    assert loader_problems(VALID[case]) == []
    assert schema_errors(VALID[case]) == []


# -- what the loader rejects, the schema rejects ----------------------------------------------

REJECTED = {
    "not a mapping": ["params"],
    "no params": {"trials": 3},
    "empty params": {"params": {}},
    "null params": {"params": None},
    "unknown top-level key": {**BASE, "paramz": {}},
    "unknown objective key": with_("objective.metrik", "eval_loss"),
    "unknown task key": with_("task.modle", "x"),
    "unknown resources key": with_("resources.gpus", 1),
    "trials a string": {**BASE, "trials": "ten"},
    "trials zero": {**BASE, "trials": 0},
    "trials a boolean": {**BASE, "trials": True},
    "trials past 32 bits": {**BASE, "trials": 2**31},
    "unknown method": {**BASE, "method": "lorax"},
    "empty description": {**BASE, "description": ""},
    "bad name": {**BASE, "name": "bad name!"},
    "name too long": {**BASE, "name": "a" * 101},
    "unknown sampler": {**BASE, "sampler": "tpee"},
    "unknown sampler type": {**BASE, "sampler": {"type": "tpee"}},
    "unknown pruner": {**BASE, "pruner": {"type": "nope"}},
    "sampler option a mapping": {**BASE, "sampler": {"type": "tpe", "seed": {"a": 1}}},
    "objective not eval_": with_("objective.metric", "loss"),
    "unknown direction": with_("objective.direction", "up"),
    "patience zero": with_("early_stopping.patience", 0),
    "negative threshold": with_("early_stopping.threshold", -1),
    "two and a half GPUs per trial": with_("resources.gpus_per_trial", 2.5),
    "more GPUs than a node has": with_("resources.gpus_per_trial", 17),
    "unknown distributed strategy": with_("resources.distributed", "zero"),
    "a GPU fraction below Ray's unit": with_("resources.gpus_per_trial", 0.00001),
    "zero CPUs": with_("resources.cpus_per_trial", 0),
    "zero memory": with_("resources.memory_gb", 0),
    "unknown lr scaling": with_("batch.lr_scaling", "cube"),
    "reference batch zero": with_("batch.reference_batch_size", 0),
    "negative retries": with_("retries.max_retries", -1),
    "heartbeat too fast": with_("retries.heartbeat_interval", 0.01),
    "grace period past a week": with_("retries.grace_period", 10**7),
    "parameter name not an identifier": param(1e-4, "learning-rate"),
    "unknown parameter kind": param({"type": "floaty", "low": 0, "high": 1}),
    "parameter without a kind": param({"low": 1e-5, "high": 1e-3}),
    "float without high": param({"type": "float", "low": 1e-5}),
    "unknown parameter key": param({"type": "float", "low": 1e-5, "high": 1e-3, "lgo": True}),
    "categorical key on a float": param({"type": "float", "low": 0, "high": 1, "choices": [1]}),
    "fixed without value": param({"type": "fixed"}),
    "empty choices": param({"type": "categorical", "choices": []}),
    "choices not scalars": param({"type": "categorical", "choices": [[1, 2]]}, "logging_steps"),
    "duplicate choices": param({"type": "categorical", "choices": [1, 1]}, "logging_steps"),
    "int bound a fraction": param({"type": "int", "low": 1.5, "high": 4}, "lora_r"),
    "int bound past 2**53": param({"type": "int", "low": 1, "high": 2**54}, "logging_steps"),
    "step zero": param({"type": "float", "low": 0.0, "high": 0.2, "step": 0}, "warmup_ratio"),
    "log not a boolean": param({"type": "float", "low": 1e-5, "high": 1e-3, "log": "yes"}),
    "empty when": param({"type": "float", "low": 0.9, "high": 0.99, "when": {}}, "adam_beta2"),
    "when with no values": param(
        {"type": "float", "low": 0.9, "high": 0.99, "when": {"optim": []}}, "adam_beta2"
    ),
    "knob out of range (shorthand)": param(-1.0),
    "knob out of range (range)": param({"type": "float", "low": -1.0, "high": 1.0}),
    "knob out of range (choices)": param(
        {"type": "categorical", "choices": [0.05, 1.0]}, "lora_dropout"
    ),
    "unknown schedule": param(
        {"type": "categorical", "choices": ["cosine", "cosinee"]}, "lr_scheduler_type"
    ),
    "unknown precision": param("fp8", "precision"),
    "float range of an integer knob": param({"type": "float", "low": 4, "high": 8}, "lora_r"),
    "no target modules": param([], "lora_target_modules"),
    "boolean knob a string": param("yes", "gradient_checkpointing"),
    "a field hpsearch sets itself": {"params": {**BASE["params"], "output_dir": "/tmp/x"}},
    "unknown task type": with_("task.type", "regression"),
    "eval fraction too large": with_("task.eval_fraction", 0.95),
    "sequence too short": with_("task.max_seq_length", 4),
    "unknown tracker": with_("task.report_to", ["neptune"]),
    "unknown data format": with_("task.format", "csv"),
    "negative seed": with_("task.seed", -1),
    "simulated not a mapping": with_("task.simulated", [1]),
    "demo not a boolean": with_("task.demo", "yes"),
    "packing a number": with_("task.packing", 1),
    "warm start not a list": {**BASE, "warm_start": {"learning_rate": 1e-4}},
    "compute budget negative": {**BASE, "compute_budget": {"fbe": -1}},
    "compute budget zero": {**BASE, "compute_budget": {"steps": 0}},
    "compute budget with two keys": {**BASE, "compute_budget": {"fbe": 1, "steps": 20}},
    "compute budget with an unknown key": {**BASE, "compute_budget": {"flops": 1e18}},
    "compute budget a fraction of a step": {**BASE, "compute_budget": {"steps": 1.5}},
    "compute budget not a mapping": {**BASE, "compute_budget": 100},
    "compute budget empty": {**BASE, "compute_budget": {}},
    "warm start entry not a mapping": {**BASE, "warm_start": [1e-4]},
}


@pytest.mark.parametrize("case", REJECTED)
def test_the_schema_rejects_what_the_loader_rejects(case: str) -> None:
    doc = REJECTED[case]
    assert loader_problems(doc), f"the loader accepts {case!r}: not a malformed space"
    assert schema_errors(doc), f"the schema accepts {case!r}, which the loader rejects"


# Rules JSON Schema cannot express: the loader (`hpsearch spaces validate`) still rejects these;
# the schema accepts them. If the schema learns one, move it to REJECTED.
CROSS_FIELD = {
    "low not below high": param({"type": "float", "low": 1e-3, "high": 1e-5}),
    "log range from zero": param(
        {"type": "float", "low": 0.0, "high": 0.1, "log": True}, "weight_decay"
    ),
    "log with a step": param(
        {"type": "float", "low": 0.1, "high": 0.5, "log": True, "step": 0.1}, "weight_decay"
    ),
    "step larger than the range": param(
        {"type": "float", "low": 0.0, "high": 0.1, "step": 0.5}, "weight_decay"
    ),
    "condition on a missing parent": param(
        {"type": "float", "low": 0.9, "high": 0.99, "when": {"optim": "sgd"}}, "adam_beta2"
    ),
    "warm start outside the range": {**BASE, "warm_start": [{"learning_rate": 1.0}]},
    "warm start of a missing parameter": {**BASE, "warm_start": [{"lora_r": 8}]},
    "no trial limit without a compute budget": {**BASE, "trials": None},
    "an FBE budget without max_steps": {**BASE, "compute_budget": {"fbe": 3}},
    "a steps budget on a task counting tokens": {
        **BASE,
        "compute_budget": {"steps": 100},
        "task": {"fidelity": "tokens"},
    },
    "grace period under two heartbeats": with_(
        "retries", {"heartbeat_interval": 10, "grace_period": 15}
    ),
    "batch sizes that cannot reach the effective batch": {
        "params": {
            "effective_batch_size": 16,
            "per_device_train_batch_size": {"type": "categorical", "choices": [6]},
        }
    },
    "LoRA knobs with full fine-tuning": {
        **BASE,
        "method": "full",
        "params": {**BASE["params"], "lora_r": 8},
    },
    "a continuous parameter in a grid": {**BASE, "sampler": "grid"},
    "evaluation interval past the trial": with_(
        "task", {"type": "simulated", "max_steps": 5, "eval_steps": 10}
    ),
    "a simulated task without max_steps": with_("task", {"type": "simulated"}),
}
# Values JSON cannot tell apart, and names only the installed packages know.
NOT_IN_JSON_SCHEMA = {
    "an int bound written 4.0 (JSON Schema's integer includes 4.0)": param(
        {"type": "int", "low": 4.0, "high": 8}, "lora_r"
    ),
    "a non-finite number (JSON Schema's number includes infinity)": param(
        {"type": "float", "low": 1e-5, "high": float("inf")}
    ),
    "a misspelt TrainingArguments field (checked against the installed transformers)": param(
        1e-4, "learning_rat"
    ),
    "a misspelt sampler option (checked against the installed Optuna's signature)": {
        **BASE,
        "sampler": {"type": "tpe", "n_startup_trails": 5},
    },
}


@pytest.mark.parametrize("case", [*CROSS_FIELD, *NOT_IN_JSON_SCHEMA])
def test_rules_the_schema_cannot_express_are_left_to_the_loader(case: str) -> None:
    doc = {**CROSS_FIELD, **NOT_IN_JSON_SCHEMA}[case]
    assert loader_problems(doc), f"the loader accepts {case!r}"
    assert schema_errors(doc) == [], f"the schema now rejects {case!r}: move it to REJECTED"


# -- plug-in names -----------------------------------------------------------------------------

POINTS = {
    "sampler": lambda name: {**BASE, "sampler": {"type": name}},
    "pruner": lambda name: {**BASE, "pruner": {"type": name}},
    "method": lambda name: {**BASE, "method": name},
    "task": lambda name: {**BASE, "task": {"type": name, "max_steps": 10}},
}


DOTTED_EXAMPLES = {"pruner": "optuna.pruners:NopPruner"}


@pytest.mark.parametrize("point", POINTS)
def test_plugin_names_agree_with_the_loader(point: str) -> None:
    names = space_schema()["properties"]
    builtin = {
        "sampler": names["sampler"]["anyOf"][0],
        "pruner": names["pruner"]["anyOf"][0],
        "method": names["method"],
        "task": names["task"]["properties"]["type"],
    }[point]
    assert builtin.get("enum") or builtin.get("anyOf"), builtin
    for name in builtin.get("enum") or builtin["anyOf"][0]["enum"]:
        doc = POINTS[point](name)
        assert not schema_errors(doc), (point, name)
    # A user plug-in by dotted path: the schema accepts one exactly where the loader does.
    dotted = POINTS[point](DOTTED_EXAMPLES.get(point, "optuna.samplers:RandomSampler"))
    assert bool(schema_errors(dotted)) == bool(loader_problems(dotted)), point


def test_dotted_paths_where_a_point_accepts_them() -> None:
    schema = space_schema(
        {
            "sampler": PluginNames(("tpe", "random"), dotted=True),
            "pruner": PluginNames(("median", "none")),
        }
    )
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors({**BASE, "sampler": "mypkg.samplers:MySampler"}))
    assert not list(validator.iter_errors({**BASE, "sampler": {"type": "pkg.mod:Outer.Inner"}}))
    assert list(validator.iter_errors({**BASE, "sampler": "mypkg samplers"}))
    assert list(validator.iter_errors({**BASE, "sampler": "grid"}))  # not a built-in here
    assert list(validator.iter_errors({**BASE, "pruner": "pkg.mod:Pruner"}))  # pruner: no paths
