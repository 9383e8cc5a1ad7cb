"""What each key of a space means and which values it takes, declared once per field.

The dataclasses of :mod:`hpsearch.spaces._spec` declare their fields with :func:`spec_field`:
a description and the bounds of the value. The loader reads the plain fields through
:func:`read_fields` (so its checks take their bounds from here), and the JSON Schema for
editors (:mod:`hpsearch.spaces._schema`) is generated from the same declarations: a bound or
a description is never written twice.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from hpsearch.spaces._check import Reader
from hpsearch.spaces._limits import MAX_INT

_META = "hpsearch"


@dataclass(frozen=True)
class Rule:
    """One field's description and bounds (the loader's and the schema's)."""

    doc: str
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None  # a string field's values (JSON Schema regex)
    max_length: int | None = None
    schema: dict[str, Any] | None = None  # extra schema for a rule the loader checks by hand


def spec_field(
    default: Any = MISSING,
    *,
    doc: str,
    default_factory: Any = MISSING,
    minimum: float | None = None,
    exclusive_minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
    max_length: int | None = None,
    schema: dict[str, Any] | None = None,
    kw_only: bool = False,
) -> Any:
    """A dataclass field carrying its :class:`Rule`."""
    rule = Rule(doc, minimum, exclusive_minimum, maximum, choices, pattern, max_length, schema)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={_META: rule}, kw_only=kw_only)
    return field(default=default, metadata={_META: rule}, kw_only=kw_only)


def rule_of(cls: type, name: str) -> Rule | None:
    for f in dataclasses.fields(cls):
        if f.name == name:
            rule = f.metadata.get(_META)
            return rule if isinstance(rule, Rule) else None
    raise KeyError(name)


def declared(cls: type, name: str) -> Rule:
    """The rule of a field that declares one."""
    rule = rule_of(cls, name)
    if rule is None:
        raise KeyError(f"{cls.__name__}.{name} declares no rule")
    return rule


def keys_of(cls: type) -> tuple[str, ...]:
    """The YAML keys of a section: its dataclass's fields, in order."""
    return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class FieldType:
    """A field's annotation, reduced to what a YAML value can be."""

    base: Any  # bool, int, float, str, dict, tuple, list or a dataclass
    nullable: bool
    literal: tuple[Any, ...] = ()


def field_type(cls: type, name: str) -> FieldType:
    hint = get_type_hints(cls)[name]
    nullable = False
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(args) < len(get_args(hint))
        hint = args[0] if len(args) == 1 else hint
        origin = get_origin(hint)
    if origin is Literal:
        values = get_args(hint)
        return FieldType(type(values[0]), nullable, values)
    if origin is not None:
        return FieldType(origin, nullable)
    return FieldType(hint, nullable)


def choices_of(cls: type, name: str) -> tuple[Any, ...] | None:
    rule = rule_of(cls, name)
    if rule is not None and rule.choices is not None:
        return rule.choices
    return field_type(cls, name).literal or None


def default_of(cls: type, name: str) -> Any:
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
            return MISSING
    raise KeyError(name)


def pattern_of(cls: type, name: str) -> str:
    pattern = declared(cls, name).pattern
    if pattern is None:
        raise KeyError(f"{cls.__name__}.{name} declares no pattern")
    return pattern


def read_field(reader: Reader, cls: type, name: str) -> Any:
    """Read the plain (bool, int, float, string or choice) field ``name`` of ``cls`` from
    ``reader``, checked against its rule; a bad value is an issue and takes the default."""
    kind = field_type(cls, name)
    rule = rule_of(cls, name) or Rule("")
    default = default_of(cls, name)
    choices = choices_of(cls, name)
    if choices is not None:
        return reader.choice(name, tuple(choices), default)
    if kind.base is bool:
        return reader.boolean(name, default)
    if kind.base is int:
        return reader.integer(
            name,
            default,
            minimum=None if rule.minimum is None else int(rule.minimum),
            maximum=MAX_INT if rule.maximum is None else int(rule.maximum),
            optional=kind.nullable,
        )
    if kind.base is float:
        return reader.number(
            name,
            default,
            minimum=rule.minimum,
            exclusive_minimum=rule.exclusive_minimum,
            maximum=rule.maximum,
            optional=kind.nullable,
        )
    if kind.base is str:
        return reader.string(name, default)
    raise TypeError(f"{cls.__name__}.{name}: not a plain field ({kind.base!r})")


def read_fields(reader: Reader, cls: type, names: Iterable[str]) -> dict[str, Any]:
    """:func:`read_field` for each of ``names``, in order."""
    return {name: read_field(reader, cls, name) for name in names}


__all__ = [
    "FieldType",
    "Rule",
    "choices_of",
    "declared",
    "default_of",
    "field_type",
    "keys_of",
    "pattern_of",
    "read_field",
    "read_fields",
    "rule_of",
    "spec_field",
]
