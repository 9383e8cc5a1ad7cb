"""Argument types checked at parse time, and a parser whose errors are one line.

A bad flag value is rejected before anything runs: ``error: argument --trials: ...`` on one
line, a hint naming ``--help``, exit code 2. Nothing is silently treated as "not given":
``--trials 0`` and ``--study ''`` are errors, not defaults.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from hpsearch.spaces.errors import EXIT_BAD_INPUT

MAX_SEED = 2**32 - 1  # numpy's and torch's seed range


class Parser(argparse.ArgumentParser):
    """``argparse`` with the CLI's error format: one ``error:`` line and a ``hint:`` line."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        print(f"hint: the options are in: {self.prog} --help", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _integer(text: str, what: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An integer in ``[minimum, maximum]``."""
    what = (
        f"a whole number from {minimum} to {maximum}"
        if maximum is not None
        else f"a whole number >= {minimum}"
    )

    def parse(text: str) -> int:
        value = _integer(text, what)
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse


positive_int = int_at_least(1)
seed = int_at_least(0, MAX_SEED)
port = int_at_least(0, 65535)


def float_above_zero(maximum: float | None = None) -> Callable[[str], float]:
    """A finite number > 0 (and <= ``maximum``); ``nan``, ``inf`` and ``0`` are rejected."""
    what = f"a number > 0 and <= {maximum:g}" if maximum is not None else "a finite number > 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value <= 0 or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_float = float_above_zero()
interval = float_above_zero(86400.0)  # seconds; time.sleep overflows far above a day


def text(value: str) -> str:
    """A non-empty string (an empty or blank value is an error, not "not given")."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty string")
    if "\x00" in value:
        raise argparse.ArgumentTypeError("the value contains a NUL character")
    return value


def ray_address(value: str) -> str:
    """``auto``, ``local``, ``HOST:PORT``, ``[IPv6]:PORT`` or ``ray://HOST[:PORT]``."""
    from hpsearch.search.engine import RayAddressError, parse_ray_address

    try:
        parse_ray_address(text(value))
    except RayAddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value.strip()
