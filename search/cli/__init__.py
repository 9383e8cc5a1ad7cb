"""The ``hpsearch`` command line (:mod:`hpsearch.search.cli.main`): one module per command group
over :mod:`hpsearch.search`'s Python API, and the one-line error descriptions it prints."""

from hpsearch.search.cli._errors import Failure, describe

__all__ = ["Failure", "describe"]
