"""The ``hpsearch`` command line: one module per command group, and the error table."""

from hpsearch.search.cli._errors import TRANSLATIONS, Failure, describe

__all__ = ["TRANSLATIONS", "Failure", "describe"]
