"""The plug-in registries: samplers, pruners, fine-tuning methods and task kinds, one entry each.

Each plug-in point is one :class:`Registry` of :class:`Plugin` entries: plain data (a name, the
dotted path ``package.module:Name`` of what implements it, a doc line, a few flags). This is
the only list of names: the spec's choices, the JSON Schema's enums, the loader's checks, the
policy's constructors and the trainers' strategies all read it. Nothing here imports what an
entry points to: :meth:`Registry.resolve` imports it lazily, when the search layer builds a
sampler or the trainers load a model, so validating a space never imports optuna or torch.

A user plug-in is given by its dotted path where the point accepts one (``sampler: {type:
"mypkg.samplers:MySampler"}``); it is validated like a built-in (its options against its
signature) when the search layer resolves it.

To add a built-in: one :class:`Plugin` line below, its implementation at the dotted path, and
its paragraph in ``docs/spaces.md`` (a test checks every name is documented).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError

__all__ = [
    "DOTTED_PATH",
    "METHODS",
    "PRUNERS",
    "REGISTRIES",
    "SAMPLERS",
    "TASKS",
    "Plugin",
    "PluginError",
    "Registry",
    "import_target",
]

DOTTED_PATH = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
"""A user plug-in named by where it lives: ``package.module:Name``."""
_DOTTED_RE = re.compile(DOTTED_PATH)


class PluginError(HpsearchError, ValueError):
    """A plug-in name that does not resolve (one line: the name, why, what is allowed)."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Plugin:
    """One plug-in: where it lives and what hpsearch needs to know about it without importing it.

    Flags a point does not use stay at their defaults.
    """

    name: str
    target: str  # "package.module:Name"
    doc: str
    builtin: bool = True
    # samplers
    needs_grid_space: bool = False  # hpsearch passes the space's grid (search_space=...)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # options hpsearch defaults
    derived: tuple[str, ...] = ()  # options hpsearch sets itself (not the user's)
    parallel_option: str | None = None  # set to (workers > 1) unless the space sets it
    packages: tuple[str, ...] = ()  # packages it needs that Optuna does not install
    # pruners
    rungs: bool = False  # min_evaluations / min_resource: auto / max_resource: auto
    warmup_option: str | None = None  # defaults to the first evaluation step
    # methods
    adapter: bool = False  # trains LoRA adapters (the LoRA knobs apply)
    quantized: bool = False  # quantises the frozen base (quant_compute_dtype applies)
    # tasks
    needs_data: bool = True  # a model and a dataset (else neither is required)
    options: tuple[str, ...] = ()  # keys of its own options section (task.simulated)


class Registry:
    """The plug-ins of one point, by name; a dotted path names a user plug-in where allowed."""

    def __init__(self, point: str, entries: tuple[Plugin, ...], *, base: str | None = None) -> None:
        self.point = point
        self.base = base  # "package.module:Base": what a user plug-in must be (None: no users)
        self._entries = MappingProxyType({e.name: e for e in entries})

    def __iter__(self) -> Iterator[Plugin]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    @property
    def names(self) -> tuple[str, ...]:
        """The built-in names, in registry order."""
        return tuple(self._entries)

    @property
    def dotted(self) -> bool:
        """Whether a user plug-in may be given by dotted path."""
        return self.base is not None

    def is_dotted(self, name: str) -> bool:
        return self.dotted and name not in self._entries and bool(_DOTTED_RE.match(name))

    def accepts(self, name: object) -> bool:
        """A built-in name, or (where allowed) a well-formed dotted path; nothing is imported."""
        return isinstance(name, str) and (name in self._entries or self.is_dotted(name))

    def allowed(self) -> str:
        """What a name may be, for an error line."""
        names = ", ".join(self.names)
        return f"{names}, or a dotted path package.module:Name" if self.dotted else names

    def get(self, name: str) -> Plugin:
        """The entry of ``name``; a dotted path gets an entry with no flags set."""
        if name in self._entries:
            return self._entries[name]
        if self.is_dotted(name):
            return Plugin(name, name, f"user {self.point} {name}", builtin=False)
        raise PluginError(f"unknown {self.point} {name!r}; allowed: {self.allowed()}")

    def resolve(self, name: str) -> Any:
        """Import what ``name`` points to (one line naming the problem if it does not import)."""
        return import_target(self.get(name).target, f"{self.point} {name!r}")


def import_target(target: str, what: str) -> Any:
    """The object at ``package.module:Name`` (attributes may be dotted: ``mod:Outer.Inner``)."""
    if not _DOTTED_RE.match(target):
        raise PluginError(f"{what}: {target!r} is not a dotted path package.module:Name")
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"{what}: cannot import module {module_name!r} ({exc})") from None
    except Exception as exc:
        raise PluginError(
            f"{what}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{what}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


SAMPLERS = Registry(
    "sampler",
    (
        Plugin(
            "tpe",
            "hpsearch.search.policy._tpe:TPESampler",
            "Tree-structured Parzen estimator (multivariate; constant liar when parallel; "
            "random_fraction: a share of random trials).",
            defaults={"multivariate": True},
            derived=("group",),
            parallel_option="constant_liar",
        ),
        Plugin("random", "optuna.samplers:RandomSampler", "Uniform random sampling."),
        Plugin(
            "grid",
            "optuna.samplers:GridSampler",
            "Every combination of the finite parameters, once.",
            needs_grid_space=True,
            derived=("search_space",),
        ),
        Plugin(
            "cmaes",
            "optuna.samplers:CmaEsSampler",
            "CMA evolution strategy (needs the cmaes package).",
            defaults={"warn_independent_sampling": False},
            packages=("cmaes",),
        ),
        Plugin(
            "gp",
            "optuna.samplers:GPSampler",
            "Gaussian-process Bayesian optimisation (needs scipy and torch).",
            defaults={"warn_independent_sampling": False},
            packages=("scipy", "torch"),
        ),
    ),
    base="optuna.samplers:BaseSampler",
)

PRUNERS = Registry(
    "pruner",
    (
        Plugin(
            "hyperband",
            "optuna.pruners:HyperbandPruner",
            "Hyperband: several successive-halving brackets.",
            rungs=True,
        ),
        Plugin(
            "successive_halving",
            "optuna.pruners:SuccessiveHalvingPruner",
            "Asynchronous successive halving: rungs at geometric steps.",
            rungs=True,
        ),
        Plugin(
            "promotion",
            "hpsearch.search.policy._promotion:PromotionPruner",
            "Promotion-type asynchronous successive halving: pauses trials at rungs and "
            "resumes the best from their checkpoints.",
            rungs=True,
        ),
        Plugin(
            "median",
            "optuna.pruners:MedianPruner",
            "Prune below the median of earlier trials at the same step.",
            warmup_option="n_warmup_steps",
        ),
        Plugin("none", "optuna.pruners:NopPruner", "Never prune."),
    ),
    base="optuna.pruners:BasePruner",
)

METHODS = Registry(
    "method",
    (
        Plugin(
            "lora",
            "hpsearch.trainers._methods:LoraMethod",
            "LoRA adapters on a frozen base in the compute dtype.",
            adapter=True,
        ),
        Plugin(
            "full",
            "hpsearch.trainers._methods:FullMethod",
            "Every weight trains (fp32 master weights).",
        ),
        Plugin(
            "qlora",
            "hpsearch.trainers._methods:QLoraMethod",
            "LoRA on a 4-bit NF4 quantised base (CUDA and bitsandbytes).",
            adapter=True,
            quantized=True,
        ),
    ),
)

TASKS = Registry(
    "task",
    (
        Plugin(
            "causal_lm",
            "hpsearch.trainers._tasks:CausalLMTask",
            "Causal language modelling with the Hugging Face Trainer.",
        ),
        Plugin(
            "classification",
            "hpsearch.trainers._tasks:ClassificationTask",
            "Sequence classification with the Hugging Face Trainer.",
        ),
        Plugin(
            "simulated",
            "hpsearch.trainers._tasks:SimulatedTask",
            "A simulated trainer: scheduling behaviour without training.",
            needs_data=False,
            options=(
                "seconds_per_step",
                "optimum_lr",
                "noise",
                "nan_lr_above",
                "oom_batch_above",
                "start_value",
            ),
        ),
        Plugin(
            "custom",
            "hpsearch.trainers._tasks:CustomTask",
            "The user's own training: a script with TrialCallback, or a trainer entry point "
            "(task.script, task.trainer).",
            needs_data=False,
        ),
    ),
)

REGISTRIES = MappingProxyType(
    {"sampler": SAMPLERS, "pruner": PRUNERS, "method": METHODS, "task": TASKS}
)
"""Every plug-in point's registry, by the point's name."""
