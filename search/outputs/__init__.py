"""What a study produces for people: the HTML report, the exported best trial, trial artifacts and
the dashboard.
"""

from hpsearch.search.outputs._artifacts import upload_trial_artifacts
from hpsearch.search.outputs._dashboard import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DashboardAccess,
    DashboardAuthError,
    DashboardBindError,
    DashboardOptions,
    DashboardStartError,
    check_bind,
    dashboard_access,
    dashboard_beside_run,
    server_command,
    start_dashboard,
)
from hpsearch.search.outputs._dashboard_guard import (
    ENV_PASSWORD,
    ENV_TOKEN,
    DashboardGuard,
    GuardConfig,
    is_read_only_request,
    redact_token,
)
from hpsearch.search.outputs._export import ExportError, NoBestTrialError, export_best, require_best
from hpsearch.search.outputs._html_report import build_report
from hpsearch.search.outputs._pruning_savings import Savings, TrialCost, compute_savings
from hpsearch.search.outputs._terminal_view import (
    TerminalView,
    live_wanted,
    render_live,
    study_view,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "DashboardAccess",
    "DashboardAuthError",
    "DashboardBindError",
    "DashboardGuard",
    "DashboardOptions",
    "DashboardStartError",
    "ExportError",
    "GuardConfig",
    "NoBestTrialError",
    "Savings",
    "TerminalView",
    "TrialCost",
    "build_report",
    "check_bind",
    "compute_savings",
    "dashboard_access",
    "dashboard_beside_run",
    "export_best",
    "is_read_only_request",
    "live_wanted",
    "redact_token",
    "render_live",
    "require_best",
    "server_command",
    "start_dashboard",
    "study_view",
    "upload_trial_artifacts",
]
