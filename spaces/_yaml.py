"""The bounded safe YAML loader for spaces.

``yaml.SafeLoader`` never constructs Python objects, but it accepts anything else: a billion
laughs (nested aliases that expand to 10^9 values), a recursive alias, a 5000-deep nesting
(RecursionError), a 50 MB file and duplicate keys (the last one silently wins). This loader
counts while it composes the document, so each of these is one clear issue with its line, and
a bomb is stopped at the alias that crosses the bound, in milliseconds, before any value is
built from it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hpsearch.spaces._errors import SpaceError, SpaceIssue, join_path, short_repr
from hpsearch.spaces._limits import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_NODES,
    describe_bytes,
)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_LIMIT_HINT = (
    f"a space is at most {describe_bytes(MAX_DOCUMENT_BYTES)} of text, {MAX_NODES} values "
    f"and {MAX_DEPTH} levels deep, counted with YAML aliases (*name) expanded"
)


class _LimitExceeded(Exception):
    """A bound was crossed while composing; carries the issue to report."""

    def __init__(self, issue: SpaceIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


class _Stats:
    """Expanded size of one composed node: values, scalar characters, nesting levels."""

    __slots__ = ("chars", "depth", "nodes")

    def __init__(self, nodes: int, chars: int, depth: int) -> None:
        self.nodes, self.chars, self.depth = nodes, chars, depth


class SpaceYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 exponent floats (``1e-5``), bounds and no duplicates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[SpaceIssue] = []
        self._stats: dict[int, _Stats] = {}
        self._paths: list[str] = [""]
        self._node_paths: dict[int, str] = {}
        self._total_nodes = 0
        self._total_chars = 0
        self._checked: set[int] = set()

    # -- composing: depth, expansion through aliases, recursion --------------------------------

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        path = self._child_path(parent, index)
        if self.check_event(yaml.AliasEvent):
            return self._compose_alias(path)
        event = self.peek_event()
        if len(self._paths) > MAX_DEPTH and not isinstance(event, yaml.ScalarEvent):
            raise _LimitExceeded(
                SpaceIssue(
                    path or "<root>",
                    f"nesting deeper than {MAX_DEPTH} levels at {_where(event.start_mark)}",
                    allowed=_LIMIT_HINT,
                )
            )
        self._paths.append(path)
        try:
            node = self._compose(parent, index)
        finally:
            self._paths.pop()
        self._node_paths[id(node)] = path
        self._stats[id(node)] = self._measure(node)
        self._count(1, len(node.value) if isinstance(node, ScalarNode) else 0, path, event)
        return node

    def _compose(self, parent: Node | None, index: Any) -> Node:
        # A node event is next, so yaml returns a node (None only at the end of a stream).
        return cast(Node, super().compose_node(parent, index))

    def _compose_alias(self, path: str) -> Node:
        event = self.peek_event()
        target = self.anchors.get(event.anchor)
        if target is None:
            return self._compose(None, None)  # raises "found undefined alias"
        stats = self._stats.get(id(target))
        if stats is None:
            raise _LimitExceeded(
                SpaceIssue(
                    path or "<root>",
                    f"alias *{event.anchor} at {_where(event.start_mark)} refers to the "
                    "mapping or list that contains it (an endless, recursive structure)",
                    allowed="aliases to values defined before them, outside themselves",
                )
            )
        depth = len(self._paths) - 1 + stats.depth
        if depth > MAX_DEPTH:
            raise _LimitExceeded(
                SpaceIssue(
                    path or "<root>",
                    f"alias *{event.anchor} at {_where(event.start_mark)} nests the space "
                    f"{depth} levels deep, more than {MAX_DEPTH}",
                    allowed=_LIMIT_HINT,
                )
            )
        self._count(stats.nodes, stats.chars, path, event)
        return self._compose(None, None)

    def _count(self, nodes: int, chars: int, path: str, event: Any) -> None:
        self._total_nodes += nodes
        self._total_chars += chars
        if self._total_nodes <= MAX_NODES and self._total_chars <= MAX_DOCUMENT_BYTES:
            return
        what = (
            f"more than {MAX_NODES} values"
            if self._total_nodes > MAX_NODES
            else f"more than {describe_bytes(MAX_DOCUMENT_BYTES)} of text"
        )
        via = f"alias *{event.anchor}" if isinstance(event, yaml.AliasEvent) else "the value"
        raise _LimitExceeded(
            SpaceIssue(
                path or "<root>",
                f"the space expands to {what} ({via} at {_where(event.start_mark)})",
                allowed=_LIMIT_HINT,
            )
        )

    def _measure(self, node: Node) -> _Stats:
        if isinstance(node, ScalarNode):
            return _Stats(1, len(node.value), 0)
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:  # pragma: no cover - yaml has no other node kind
            return _Stats(1, 0, 0)
        nodes, chars, depth = 1, 0, 0
        for child in children:
            sub = self._stats[id(child)]
            nodes += sub.nodes
            chars += sub.chars
            depth = max(depth, sub.depth)
        # Capped just past the bounds: a bomb's true size would be a huge integer to add up.
        return _Stats(min(nodes, MAX_NODES + 1), min(chars, MAX_DOCUMENT_BYTES + 1), depth + 1)

    def _child_path(self, parent: Node | None, index: Any) -> str:
        base = self._paths[-1]
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            return join_path(base, index)
        if isinstance(parent, MappingNode):
            # A value's index is its key node; a key's is None.
            return join_path(base, index.value if isinstance(index, ScalarNode) else "<key>")
        return base

    # -- constructing: duplicate keys -----------------------------------------------------------

    def flatten_mapping(self, node: MappingNode) -> None:
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_duplicates(node)
        super().flatten_mapping(node)

    def _check_duplicates(self, node: MappingNode) -> None:
        path = self._node_paths.get(id(node), "")
        seen: dict[Any, ScalarNode] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable: the constructor reports it
            if first is key_node:
                continue
            one, two = first.start_mark.line + 1, key_node.start_mark.line + 1
            where = f"twice on line {one}" if one == two else f"lines {one} and {two}"
            self.duplicate_keys.append(
                SpaceIssue(
                    join_path(path, str(key)),
                    f"duplicate key {short_repr(key)} ({where}); YAML would silently keep "
                    "only the last one",
                    allowed="each key once per mapping",
                )
            )


SpaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str, source: str = "space") -> tuple[Any, list[SpaceIssue]]:
    """Parse a space's YAML: (data, duplicate-key issues); raises SpaceError past a bound."""
    size = len(text) if len(text) > MAX_DOCUMENT_BYTES else len(text.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise SpaceError([_too_big(size)], source)
    loader = SpaceYamlLoader(text)
    try:
        data = loader.get_single_data()
    except _LimitExceeded as exc:
        raise SpaceError([exc.issue], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _where(mark) if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError([SpaceIssue("", f"invalid YAML at {where}: {problem}")], source) from None
    finally:
        loader.dispose()
    return data, loader.duplicate_keys


def safe_load_yaml(text: str, source: str = "space") -> Any:
    """Parse YAML safely and within the bounds; duplicate keys are an error."""
    data, duplicates = load_yaml(text, source)
    if duplicates:
        raise SpaceError(duplicates, source)
    return data


def read_space_file(path: Path) -> str:
    """The text of a space file: at most MAX_DOCUMENT_BYTES, UTF-8; raises SpaceError."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
            size = max(len(raw), path.stat().st_size)
    except FileNotFoundError:
        raise SpaceError([SpaceIssue("", "file not found", source)], source) from None
    except IsADirectoryError:
        raise SpaceError([SpaceIssue("", "is a folder, not a YAML file", source)], source) from None
    except OSError as exc:
        raise SpaceError(
            [SpaceIssue("", f"cannot read file: {exc.strerror}", source)], source
        ) from None
    if size > MAX_DOCUMENT_BYTES:
        raise SpaceError([_too_big(size)], source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpaceError(
            [
                SpaceIssue(
                    "",
                    f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} "
                    f"(byte offset {exc.start})",
                    allowed="a UTF-8 encoded YAML file (re-save it as UTF-8)",
                )
            ],
            source,
        ) from None


def _too_big(size: int) -> SpaceIssue:
    return SpaceIssue(
        "",
        f"the space is {describe_bytes(size)}; the limit is "
        f"{describe_bytes(MAX_DOCUMENT_BYTES)} ({MAX_DOCUMENT_BYTES} bytes)",
        allowed="a space file of at most 1 MiB (real spaces are a few KB)",
    )
