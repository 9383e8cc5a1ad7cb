"""Small typed readers for untrusted YAML mappings that record issues instead of raising."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hpsearch.spaces._errors import IssueCollector, join_path
from hpsearch.spaces._limits import MAX_INT


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool, NaN or infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value)


def suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Reader:
    """Reads one mapping at ``path``; every bad field becomes an issue in ``issues``."""

    def __init__(self, data: Any, path: str, issues: IssueCollector) -> None:
        self.path = path
        self.issues = issues
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            issues.add(path or "<root>", "must be a mapping", data, "key: value pairs")
            data = {}
        self.data: Mapping[str, Any] = data

    def at(self, key: str | int) -> str:
        return join_path(self.path, key) if self.path else join_path(key)

    def unknown_keys(self, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in self.data:
            if key not in allowed:
                self.issues.add(
                    self.at(str(key)),
                    "unknown key" + suggest(str(key), allowed),
                    allowed=", ".join(allowed),
                )

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                self.issues.add(self.at(key), "is required", allowed="a string")
            return default
        value = self.data[key]
        if value is None and not required:
            return default
        if not isinstance(value, str) or not value:
            self.issues.add(self.at(key), "must be a non-empty string", value)
            return default
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            self.issues.add(
                self.at(key),
                "is not a known value" + suggest(str(value), allowed),
                value,
                ", ".join(allowed),
            )
            return default
        return str(value)

    def integer(
        self,
        key: str,
        default: Any,
        *,
        minimum: int | None = None,
        maximum: int = MAX_INT,
        optional: bool = False,
    ) -> Any:
        value = self.data.get(key, default)
        if value is None and optional:
            return None
        low = minimum if minimum is not None else -maximum - 1
        if not is_int(value) or not low <= value <= maximum:
            allowed = "an integer " + (
                f"from {minimum} to {maximum}" if minimum is not None else f"up to {maximum}"
            )
            if optional:
                allowed += " or null"
            self.issues.add(self.at(key), "is not valid", value, allowed)
            return default
        return value

    def number(
        self,
        key: str,
        default: Any,
        *,
        minimum: float | None = None,
        exclusive_minimum: float | None = None,
        maximum: float | None = None,
        optional: bool = False,
    ) -> Any:
        value = self.data.get(key, default)
        if value is None and optional:
            return None
        ok = is_number(value)
        if ok and minimum is not None and value < minimum:
            ok = False
        if ok and exclusive_minimum is not None and value <= exclusive_minimum:
            ok = False
        if ok and maximum is not None and value > maximum:
            ok = False
        if not ok:
            bounds = []
            if minimum is not None:
                bounds.append(f">= {minimum}")
            if exclusive_minimum is not None:
                bounds.append(f"> {exclusive_minimum}")
            if maximum is not None:
                bounds.append(f"<= {maximum}")
            allowed = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
            self.issues.add(self.at(key), "is not valid", value, allowed)
            return default
        return float(value) if isinstance(value, float) else value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.issues.add(self.at(key), "is not valid", value, "true or false")
            return default
        return value
