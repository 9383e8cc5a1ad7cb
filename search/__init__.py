"""hpsearch's search layer: the engine, the study's records, policies, outputs and the CLI."""

from hpsearch.spaces.errors import HpsearchError

__all__ = ["HpsearchError"]
