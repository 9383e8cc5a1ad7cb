"""docker-compose.yml: valid against the Compose Specification's JSON schema, every hpsearch
and ray command accepted by the real CLI parsers, secrets only from the environment.

There is no Docker engine on the development machines, so the file is checked the way
Compose reads it: YAML with merge keys, interpolated from ``.env.example`` (plus a password),
then validated against the official schema (vendored, see compose_spec/SOURCE.md).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hpsearch.search.cli.main import build_parser
from tests.cluster.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    InterpolationError,
    command_lines,
    load_compose,
    read_env_file,
)

SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    values = read_env_file(ENV_EXAMPLE)
    assert values["POSTGRES_PASSWORD"] == "", ".env.example must not hold a password"
    return {**values, "POSTGRES_PASSWORD": "only-for-this-test"}


@pytest.fixture(scope="module")
def compose(env: dict[str, str]) -> dict[str, Any]:
    return load_compose(env)


def _ray_start(argv: list[str]) -> dict[str, Any]:
    """Parse ``ray start ...`` with Ray's own click command (nothing is started)."""
    from ray.scripts.scripts import cli

    assert argv[:2] == ["ray", "start"], argv
    return dict(cli.commands["start"].make_context("start", argv[2:]).params)


def _hpsearch(argv: list[str]) -> Any:
    assert argv[0] == "hpsearch", argv
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        raise AssertionError(f"the hpsearch CLI rejects: {' '.join(argv)}") from exc


def test_validates_against_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # and the schema is strict enough to catch a typo
    broken = {**compose, "services": {**compose["services"], "typo": {"imagee": "x"}}}
    assert list(validator.iter_errors(broken))


def test_compose_refuses_to_start_without_a_password(env: dict[str, str]) -> None:
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        load_compose({**env, "POSTGRES_PASSWORD": ""})


def test_every_command_parses_with_the_real_cli(compose: dict[str, Any]) -> None:
    seen = {"hpsearch": 0, "ray": 0}
    for name, service in compose["services"].items():
        for argv in command_lines(service):
            if argv[0] == "hpsearch":
                _hpsearch(argv)
            elif argv[:2] == ["ray", "start"]:
                _ray_start(argv)
            elif argv[0] == "ray":
                from ray.scripts.scripts import cli

                cli.commands[argv[1]].make_context(argv[1], argv[2:])
            else:
                continue
            seen[argv[0]] += 1
            assert argv, name
    assert seen["hpsearch"] >= 2 and seen["ray"] >= 3, seen


def test_the_ray_cluster_is_wired_consistently(compose: dict[str, Any]) -> None:
    services = compose["services"]
    (head_cmd,) = [a for a in command_lines(services["ray-head"]) if a[:2] == ["ray", "start"]]
    head = _ray_start(head_cmd)
    assert head["head"] and head["block"]
    # Inside the compose network nothing else owns 6379; only this machine's tests avoid it.
    port = head["port"]
    assert 1024 < port < 65536
    assert head["num_cpus"] == 0 and head["num_gpus"] == 0  # trials never land on the head
    gcs = f"ray-head:{port}"
    assert services["ray-worker"]["environment"]["RAY_HEAD_ADDRESS"] == gcs
    study = command_lines(services["study"])
    join = _ray_start(study[0])
    assert join["address"] == gcs and not join["head"] and join["port"] is None
    assert join["num_cpus"] == 0 and join["num_gpus"] == 0 and not join["block"]
    run = _hpsearch(study[1])
    assert run.command == "run" and run.address == gcs
    assert run.checkpoint_dir.startswith("/data/")
    assert "--storage" not in study[1]  # from HPSEARCH_STORAGE, password from PGPASSWORD


def test_gpu_workers_reserve_nvidia_gpus_and_scale(compose: dict[str, Any]) -> None:
    worker = compose["services"]["ray-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == "all"  # each replica claims distinct GPUs itself (see script)
    assert "container_name" not in worker  # a fixed name would forbid --scale
    assert not worker.get("ports")  # replicas cannot share a published port
    assert "gpu-locks:/gpu-locks" in worker["volumes"]


def test_dashboard_listens_in_its_container_but_publishes_on_loopback_only(
    compose: dict[str, Any],
) -> None:
    dashboard = compose["services"]["dashboard"]
    (argv,) = command_lines(dashboard)
    args = _hpsearch(argv)
    assert args.command == "dashboard" and args.host == "0.0.0.0" and args.allow_remote
    assert dashboard["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_postgres_has_a_named_volume_and_a_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    (data,) = postgres["volumes"]
    volume, _, target = data.partition(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in ("study", "dashboard"):
        assert postgres and compose["services"][name]["depends_on"]["postgres"] == {
            "condition": "service_healthy"
        }


def test_every_hpsearch_and_ray_service_shares_the_checkpoint_volume(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        assert "hpsearch-data:/data" in service["volumes"], name
        assert service["environment"]["HPSEARCH_STORAGE"].startswith("postgresql://hpsearch@")


def test_secrets_come_only_from_the_environment() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # before interpolation
    secrets = 0
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY", key):
                secrets += 1
                assert re.fullmatch(r"\$\{[A-Z_]+(:?[-?][^}]*)?\}", str(value)), (name, key)
    assert secrets >= 3
    assert "postgresql://hpsearch:" not in COMPOSE_FILE.read_text()  # no password in a URL
    example = read_env_file(ENV_EXAMPLE)
    for key, value in example.items():
        if re.search(r"PASSWORD|TOKEN|SECRET|_KEY", key):
            assert value == "", f".env.example must leave {key} empty"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, capture_output=True, check=False
    )
    assert ignored.returncode == 0, ".env must be git-ignored"
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


def _guide_commands() -> list[list[str]]:
    """``hpsearch ...`` and ``ray start ...`` commands in docs/operations.md's code blocks."""
    text = (ROOT / "docs" / "operations.md").read_text()
    blocks = re.findall(r"```(?:bash|yaml)\n(.*?)```", text, flags=re.S)
    out = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)  # shell line continuations
        joined = re.sub(r">-\n((?:\s{4,}.*\n)+)", lambda m: " ".join(m[1].split()) + "\n", joined)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0]
            match = re.search(
                r"(?:^|--rm [\w-]+ |-- |entrypoint: )((?:hpsearch|ray start) .*)", line
            )
            if match:
                out.append(shlex.split(match.group(1)))
    return out


def test_commands_in_the_operations_guide_parse() -> None:
    commands = _guide_commands()
    for argv in commands:
        if argv[0] == "hpsearch":
            _hpsearch(argv)
        else:
            options = _ray_start(argv)
            assert options["port"] != 6379 or options["head"] is False, argv
    names = {argv[1] for argv in commands}
    assert {"run", "resume", "status", "start"} <= names, names
