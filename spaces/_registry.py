"""Built-in spaces shipped as package data, and lookup by name or path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from hpsearch.spaces._errors import SpaceError, SpaceIssue
from hpsearch.spaces._loader import load_space_file, load_space_text
from hpsearch.spaces._schema import MODELINE, SCHEMA_FILE
from hpsearch.spaces._spec import SearchSpace

_PACKAGE = "hpsearch.spaces.builtin"


def builtin_names() -> tuple[str, ...]:
    """Names of the spaces that ship with hpsearch, sorted."""
    files = resources.files(_PACKAGE).iterdir()
    return tuple(sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml")))


def builtin_text(name: str) -> str:
    """The YAML text of a built-in space, comments included."""
    if name not in builtin_names():
        raise SpaceError(
            [SpaceIssue("", "unknown built-in space", name, ", ".join(builtin_names()))],
            "--space",
        )
    return resources.files(_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def schema_path() -> Path:
    """The installed copy of the space JSON Schema (``spaces/space.schema.json``)."""
    return Path(str(resources.files("hpsearch.spaces").joinpath(SCHEMA_FILE)))


def builtin_copy(name: str) -> str:
    """A built-in space to copy (``hpsearch spaces show``): its schema line points at the
    installed schema, so an editor finds it wherever the copy is saved."""
    text = builtin_text(name)
    return text.replace(MODELINE, f"# yaml-language-server: $schema={schema_path()}", 1)


def looks_like_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref or Path(ref).exists()


def load_space(ref: str) -> SearchSpace:
    """Load a space from a built-in name (``lora_small``) or a YAML file path."""
    if looks_like_path(ref):
        return load_space_file(ref)
    return load_space_text(builtin_text(ref), source=f"built-in space {ref!r}", default_name=ref)


def dump_space(space: SearchSpace) -> str:
    """YAML that ``load_space_text`` reads back into an equal space."""
    return yaml.safe_dump(space.to_dict(), sort_keys=False, default_flow_style=None, width=100)
