"""What a study records about itself: its settings, the trial attribute names, the books (ledger),
progress lines and the status overview.
"""

from hpsearch.search.records import attributes
from hpsearch.search.records._compute import (
    COMPUTE_ATTRS,
    ComputeUsage,
    compute_usage,
    is_paused,
    paused_count,
    steps_used,
    trained_steps,
)
from hpsearch.search.records._failures import (
    FAILURES,
    FailureClass,
    RetryRule,
    failure_of,
    retry_rule,
)
from hpsearch.search.records._ledger import SUCCESSOR_ATTRS, Ledger, build_ledger, predecessor
from hpsearch.search.records._live import LiveStudy, RunningRow, live_study, running_rows
from hpsearch.search.records._overview import (
    StudyOverview,
    all_overviews,
    overview,
    render_table,
)
from hpsearch.search.records._progress import (
    Progress,
    best_trial,
    fmt_duration,
    fmt_value,
    summary_lines,
)
from hpsearch.search.records._reasons import reason_line, strip_ansi
from hpsearch.search.records._study_settings import (
    StudyMeta,
    StudyMetaError,
    hardware_summary,
    hpsearch_version,
    load_meta,
    save_meta,
    scrub_stored_secrets,
    set_budget,
    set_checkpoint_root,
    study_note,
)

__all__ = [
    "COMPUTE_ATTRS",
    "FAILURES",
    "SUCCESSOR_ATTRS",
    "ComputeUsage",
    "FailureClass",
    "Ledger",
    "LiveStudy",
    "Progress",
    "RetryRule",
    "RunningRow",
    "StudyMeta",
    "StudyMetaError",
    "StudyOverview",
    "all_overviews",
    "attributes",
    "best_trial",
    "build_ledger",
    "compute_usage",
    "failure_of",
    "fmt_duration",
    "fmt_value",
    "hardware_summary",
    "hpsearch_version",
    "is_paused",
    "live_study",
    "load_meta",
    "overview",
    "paused_count",
    "predecessor",
    "reason_line",
    "render_table",
    "retry_rule",
    "running_rows",
    "save_meta",
    "scrub_stored_secrets",
    "set_budget",
    "set_checkpoint_root",
    "steps_used",
    "strip_ansi",
    "study_note",
    "summary_lines",
    "trained_steps",
]
