"""Run, resume and read hyperparameter searches from Python (the ``hpsearch`` command is a thin
layer over this API; see docs/api.md).

>>> import hpsearch.search as hs
>>> study = hs.run("lora_small", study="demo", trials=8)       # doctest: +SKIP
>>> hs.best("demo").params                                      # doctest: +SKIP
>>> hs.resume("demo", trials=12)                                # doctest: +SKIP

Importing this package is cheap and has no side effects: Optuna, Ray and the engine load on
the first use of a name below, and nothing configures logging, warnings or signal handlers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hpsearch.spaces.errors import HpsearchError

if TYPE_CHECKING:
    from hpsearch.search._api import best, load_space, resume, run

__all__ = ["HpsearchError", "best", "load_space", "resume", "run"]
_API = ("best", "load_space", "resume", "run")


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("hpsearch.search._api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
