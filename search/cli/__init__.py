"""The ``hpsearch`` command line (:mod:`hpsearch.search.cli.main`): one module per command group
over :mod:`hpsearch.search`'s Python API, and the error table that maps failures to one line,
a hint and an exit code."""

from hpsearch.search.cli._errors import TRANSLATIONS, Failure, describe

__all__ = ["TRANSLATIONS", "Failure", "describe"]
