"""Reading docker-compose.yml the way Docker Compose does, without a Docker engine.

``interpolate`` implements the Compose Specification's interpolation (``$$``, ``$VAR``,
``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``);
``command_lines`` finds every program a service runs (entrypoint + command, ``sh -c`` scripts
split into their simple commands, healthchecks) so each can be parsed by its real CLI.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
    r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) is missing, as compose would report it."""


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _substitute(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("plain") or match.group("name")
        value = env.get(name)
        op, arg = match.group("op"), match.group("arg") or ""
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("-", ":-") and missing:
            return arg
        if op in ("?", ":?") and missing:
            raise InterpolationError(f"required variable {name} is missing a value: {arg}")
        return value or ""

    return _VAR.sub(one, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Every string value (not key) of a loaded compose document, interpolated."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if isinstance(node, str):
        return _substitute(node, env)
    return node


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # YAML merge keys (<<) resolved here
    return dict(interpolate(raw, env))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _script_commands(script: str, args: list[str]) -> list[list[str]]:
    """Simple commands of a ``sh -c`` script; ``"$@"`` expands to ``args``."""
    out = []
    for part in re.split(r"&&|\|\||;", script):
        words = [w for w in shlex.split(part) if not w.startswith((">", "2>"))]
        if words and words[0] == "exec":
            words = words[1:]
        expanded: list[str] = []
        for word in words:
            expanded.extend(args if word == "$@" else [word])
        if expanded:
            out.append(expanded)
    return out


def command_lines(service: dict[str, Any]) -> list[list[str]]:
    """Every argv the service runs: its main process and its healthcheck."""
    argv = _as_list(service.get("entrypoint")) + _as_list(service.get("command"))
    lines = []
    if len(argv) >= 3 and argv[0] in ("sh", "bash") and argv[1] == "-c":
        lines.extend(_script_commands(argv[2], argv[4:]))
    elif argv:
        lines.append(argv)
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] == "CMD":
        lines.append([str(t) for t in test[1:]])
    elif isinstance(test, list) and test and test[0] == "CMD-SHELL":
        lines.extend(_script_commands(test[1], []))
    return lines
