"""Study storage: URLs, RDBStorage wiring, study creation, locks, checkpoint locations."""

from hpsearch.storage._locks import named_lock, schema_lock, study_lock
from hpsearch.storage._paths import StudyPaths, ensure_writable
from hpsearch.storage._rdb import (
    ResilientRDBStorage,
    RunningTrial,
    StorageSchemaError,
    StorageUnavailableError,
    check_reachable,
    is_connection_error,
    open_storage,
)
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
    hpsearch_home,
    parse_storage_url,
    redact,
    resolve_storage,
)

__all__ = [
    "ENV_STORAGE",
    "ResilientRDBStorage",
    "RunningTrial",
    "StorageLocation",
    "StorageSchemaError",
    "StorageURLError",
    "StorageUnavailableError",
    "StudyHandle",
    "StudyNameError",
    "StudyNotFoundError",
    "StudyPaths",
    "check_reachable",
    "create_or_load_study",
    "default_study_name",
    "ensure_writable",
    "hpsearch_home",
    "is_connection_error",
    "list_study_names",
    "load_existing_study",
    "named_lock",
    "open_storage",
    "parse_storage_url",
    "redact",
    "resolve_storage",
    "schema_lock",
    "study_exists",
    "study_lock",
    "validate_study_name",
]
