"""The search policy: Optuna samplers and pruners built from a space."""

from hpsearch.search.policy._build import (
    build_pruner,
    build_sampler,
    grid_search_space,
    grid_size,
    sample_params,
    validate_policy,
)

__all__ = [
    "build_pruner",
    "build_sampler",
    "grid_search_space",
    "grid_size",
    "sample_params",
    "validate_policy",
]
