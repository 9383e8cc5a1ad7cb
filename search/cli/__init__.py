"""The ``hpsearch`` command line: one module per command group over :mod:`hpsearch.search`'s
Python API, and the one-line error descriptions it prints."""

from hpsearch.search.cli._errors import Failure, describe
from hpsearch.search.cli.main import build_parser, main

__all__ = ["Failure", "build_parser", "describe", "main"]
