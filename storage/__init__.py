"""Study storage: URLs, RDBStorage wiring, study creation, locks, checkpoint locations."""

from hpsearch.storage import optuna_internals
from hpsearch.storage._errors import (
    StorageNotFoundError,
    StoragePathError,
    StorageSchemaError,
    StorageUnavailableError,
)
from hpsearch.storage._locks import named_lock, schema_lock, study_lock
from hpsearch.storage._open import (
    check_reachable,
    load_study_read_only,
    open_existing_storage,
    open_storage,
    require_studies,
)
from hpsearch.storage._paths import StudyPaths, check_writable, ensure_writable
from hpsearch.storage._rdb import (
    ResilientRDBStorage,
    RunningProgress,
    RunningTrial,
    is_connection_error,
)
from hpsearch.storage._secrets import RedactingStream, redact, redact_value, register_secrets_in
from hpsearch.storage._studies import (
    StudyHandle,
    StudyNameError,
    StudyNotFoundError,
    create_or_load_study,
    default_study_name,
    list_study_names,
    load_existing_study,
    study_exists,
    validate_study_name,
)
from hpsearch.storage._urls import (
    ENV_STORAGE,
    StorageLocation,
    StorageURLError,
    display_command,
    hpsearch_home,
    parse_storage_url,
    resolve_storage,
)
from hpsearch.storage.optuna_internals import (
    forget_cached_trials,
    storage_of,
    study_id_of,
    trial_id_of,
)

__all__ = [
    "ENV_STORAGE",
    "RedactingStream",
    "ResilientRDBStorage",
    "RunningProgress",
    "RunningTrial",
    "StorageLocation",
    "StorageNotFoundError",
    "StoragePathError",
    "StorageSchemaError",
    "StorageURLError",
    "StorageUnavailableError",
    "StudyHandle",
    "StudyNameError",
    "StudyNotFoundError",
    "StudyPaths",
    "check_reachable",
    "check_writable",
    "create_or_load_study",
    "default_study_name",
    "display_command",
    "ensure_writable",
    "forget_cached_trials",
    "hpsearch_home",
    "is_connection_error",
    "list_study_names",
    "load_existing_study",
    "load_study_read_only",
    "named_lock",
    "open_existing_storage",
    "open_storage",
    "optuna_internals",
    "parse_storage_url",
    "redact",
    "redact_value",
    "register_secrets_in",
    "require_studies",
    "resolve_storage",
    "schema_lock",
    "storage_of",
    "study_exists",
    "study_id_of",
    "study_lock",
    "trial_id_of",
    "validate_study_name",
]
