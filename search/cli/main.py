"""The ``hpsearch`` command: one module per command group, errors mapped to one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from hpsearch.search.cli import best, dashboard, report, run, spaces, status, studies
from hpsearch.search.cli._args import Parser
from hpsearch.search.cli._errors import describe

COMMAND_GROUPS = (run, spaces, status, studies, best, report, dashboard)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hpsearch",
        description="Hyperparameter search for LLM fine-tuning: Optuna + Ray + Hugging Face.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="verbose logs and full tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if debug else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if debug else optuna.logging.WARNING)
    if not debug:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        quiet_known_warnings()


# Warnings hpsearch's own calls cause and a user can do nothing about, each by category and the
# module it is attributed to: optuna-dashboard's naming of the objective (a deprecation notice
# and Optuna's "experimental" notice for the call it makes). Every other warning still shows.
KNOWN_NOISY_WARNINGS: tuple[tuple[str, str, str], ...] = (
    (
        "FutureWarning",
        r"optuna_dashboard(\.|$)",
        r"`set_objective_names\(\)` function is deprecated",
    ),
    ("ExperimentalWarning", r"optuna_dashboard(\.|$)", r".*set_metric_names is experimental"),
)


def quiet_known_warnings() -> None:
    """Hide :data:`KNOWN_NOISY_WARNINGS` (only those; ``--debug`` shows them too)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    categories: dict[str, type[Warning]] = {
        "FutureWarning": FutureWarning,
        "ExperimentalWarning": ExperimentalWarning,
    }
    for category, module, message in KNOWN_NOISY_WARNINGS:
        warnings.filterwarnings(
            "ignore", message=message, category=categories[category], module=module
        )


def main(argv: Sequence[str] | None = None) -> int:
    from hpsearch.storage import RedactingStream, redact, register_secrets_in

    words = list(sys.argv[1:] if argv is None else argv)
    for word in words:  # a password in any argument, even one argparse rejects
        register_secrets_in(word)
    # Everything printed, logged or shown in a traceback loses its database passwords.
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(streams[0]), RedactingStream(streams[1])
    args = argparse.Namespace(debug="--debug" in words)
    try:
        args = build_parser().parse_args(words)
        args.argv = words  # the command a study records (run.py: display_command)
        _configure_logging(args.debug)
        return int(args.func(args))
    except SystemExit:
        raise
    except BaseException as exc:
        failure = describe(exc)
        if args.debug:
            traceback.print_exc()
        print(f"error: {redact(failure.message)}", file=sys.stderr)
        if failure.hint:
            print(f"hint: {redact(failure.hint)}", file=sys.stderr)
        return failure.code
    finally:
        sys.stdout, sys.stderr = streams


def entry() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
