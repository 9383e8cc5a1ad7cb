"""``hpsearch spaces list | show NAME | validate FILE | schema``."""

from __future__ import annotations

import argparse

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import emit
from hpsearch.spaces import builtin_copy, builtin_names, load_space, schema_text


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("spaces", help="list, show and validate search spaces")
    commands = parser.add_subparsers(dest="spaces_command", required=True)
    commands.add_parser("list", help="the built-in spaces").set_defaults(func=cmd_list)
    show = commands.add_parser("show", help="print a built-in space as YAML to copy and edit")
    show.add_argument("name", type=_args.text)
    show.set_defaults(func=cmd_show)
    validate = commands.add_parser("validate", help="check a space file; all problems at once")
    validate.add_argument("file", type=_args.text)
    validate.set_defaults(func=cmd_validate)
    commands.add_parser(
        "schema",
        help="print the JSON Schema of a space, for editors: hpsearch spaces schema > "
        "space.schema.json",
    ).set_defaults(func=cmd_schema)


def cmd_list(args: argparse.Namespace) -> int:
    for name in builtin_names():
        space = load_space(name)
        emit(
            f"{name:<12} {space.method:<6} {len(space.params):>2} params  "
            f"{space.sampler.type}/{space.pruner.type}  {space.description}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(builtin_copy(args.name), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hpsearch.search.engine import build_task, raise_if_invalid

    space = load_space(args.file)
    task = build_task(space, {})
    raise_if_invalid(space, task, args.file)
    tunable = [p.name for p in space.params if p.kind != "fixed"]
    emit(
        f"{args.file}: valid space {space.name!r} ({space.method}); {len(tunable)} tuned "
        f"parameter(s): {', '.join(tunable)}; sampler {space.sampler.type}, pruner "
        f"{space.pruner.type}"
    )
    return 0
