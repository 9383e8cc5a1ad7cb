"""The search policy: Optuna samplers and pruners built from a space."""

from hpsearch.search.policy._build import (
    RungSchedule,
    build_pruner,
    build_sampler,
    grid_search_space,
    grid_size,
    rung_schedule,
    sample_params,
    validate_policy,
)
from hpsearch.search.policy._distinct import DistinctSampler, SpaceExhaustedError, exhausted_line
from hpsearch.search.policy._promotion import PromotionPruner
from hpsearch.search.policy._tpe import TPESampler

__all__ = [
    "DistinctSampler",
    "PromotionPruner",
    "RungSchedule",
    "SpaceExhaustedError",
    "TPESampler",
    "build_pruner",
    "build_sampler",
    "exhausted_line",
    "grid_search_space",
    "grid_size",
    "rung_schedule",
    "sample_params",
    "validate_policy",
]
