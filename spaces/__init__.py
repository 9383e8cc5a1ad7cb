"""Declarative search spaces: typed models, validation and the built-in YAML spaces.

This layer imports no optuna, ray or torch: it is plain data and validation, so a space can be
checked (``hpsearch spaces validate``) on any machine.
"""

from hpsearch.spaces._check import suggest
from hpsearch.spaces._compute_budget import (
    COMPUTE_UNITS,
    ComputeBudget,
    compute_budget_from,
)
from hpsearch.spaces._configs import (
    DATA_FORMATS,
    DEFAULT_EVAL_BATCH,
    HPSEARCH_DEFAULTS,
    LORA_DEFAULTS,
    DataConfig,
    DataFields,
    LengthFields,
    ModelConfig,
    ScheduleConfig,
)
from hpsearch.spaces._errors import IssueCollector, SpaceError, SpaceIssue, short_repr
from hpsearch.spaces._knobs import KNOBS, MANAGED_TRAINING_ARGS, Knob
from hpsearch.spaces._limits import MAX_INT
from hpsearch.spaces._loader import load_space_dict, load_space_file, load_space_text
from hpsearch.spaces._param_loader import sampling_order
from hpsearch.spaces._params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)
from hpsearch.spaces._plugins import (
    DOTTED_PATH,
    METHODS,
    PRUNERS,
    REGISTRIES,
    SAMPLERS,
    TASKS,
    Plugin,
    PluginError,
    Registry,
    import_target,
)
from hpsearch.spaces._registry import (
    builtin_copy,
    builtin_names,
    builtin_text,
    dump_space,
    load_space,
    schema_path,
)
from hpsearch.spaces._resolve import BatchRuleError, ResolvedTrial, resolve_trial
from hpsearch.spaces._schema import PluginNames, schema_text, space_schema
from hpsearch.spaces._spec import (
    BatchSpec,
    EarlyStoppingSpec,
    ObjectiveSpec,
    PrunerSpec,
    ResourcesSpec,
    RetrySpec,
    SamplerSpec,
    SearchSpace,
    TaskSpec,
)
from hpsearch.spaces._task import load_task
from hpsearch.spaces._warm_start import warm_start_issues
from hpsearch.spaces.errors import HpsearchError

__all__ = [
    "COMPUTE_UNITS",
    "DATA_FORMATS",
    "DEFAULT_EVAL_BATCH",
    "DOTTED_PATH",
    "HPSEARCH_DEFAULTS",
    "KNOBS",
    "LORA_DEFAULTS",
    "MANAGED_TRAINING_ARGS",
    "MAX_INT",
    "METHODS",
    "PRUNERS",
    "REGISTRIES",
    "SAMPLERS",
    "TASKS",
    "BatchRuleError",
    "BatchSpec",
    "CategoricalParam",
    "ComputeBudget",
    "Condition",
    "DataConfig",
    "DataFields",
    "EarlyStoppingSpec",
    "FixedParam",
    "FloatParam",
    "HpsearchError",
    "IntParam",
    "IssueCollector",
    "Knob",
    "LengthFields",
    "ModelConfig",
    "ObjectiveSpec",
    "Param",
    "Plugin",
    "PluginError",
    "PluginNames",
    "PrunerSpec",
    "Registry",
    "ResolvedTrial",
    "ResourcesSpec",
    "RetrySpec",
    "SamplerSpec",
    "ScheduleConfig",
    "SearchSpace",
    "SpaceError",
    "SpaceIssue",
    "TaskSpec",
    "builtin_copy",
    "builtin_names",
    "builtin_text",
    "compute_budget_from",
    "dump_space",
    "import_target",
    "load_space",
    "load_space_dict",
    "load_space_file",
    "load_space_text",
    "load_task",
    "resolve_trial",
    "sampling_order",
    "schema_path",
    "schema_text",
    "short_repr",
    "space_schema",
    "suggest",
    "warm_start_issues",
]
