"""Names of the study and trial attributes hpsearch writes.

Everything lives in Optuna's own tables (user attributes), so optuna-dashboard shows it and the
plain ``optuna`` CLI reads it; hpsearch keeps no private tables.
"""

from __future__ import annotations

# Study user attributes.
STUDY_SPACE = "hpsearch.space"
STUDY_TASK = "hpsearch.task"
STUDY_BUDGET = "hpsearch.budget"
STUDY_CHECKPOINT_ROOT = "hpsearch.checkpoint_root"
STUDY_COMMAND = "hpsearch.command"
STUDY_VERSION = "hpsearch.version"
STUDY_HARDWARE = "hpsearch.hardware"
STUDY_WORKERS = "hpsearch.workers"

# Trial user attributes: lineage and retries.
RETRY_OF = "retry_of"  # number of the trial this one continues
RETRY_ATTEMPT = "retry_attempt"  # 0 for an original trial
RETRY_REQUESTED = "retry_requested"  # set on a trial before it is failed for a retry
OOM_DOWNSCALE = "oom_downscale"  # per-device batch divided by this, accumulation multiplied
RESUMED_FROM = "resumed_from_checkpoint"
DRIVER = "driver"  # host:pid:start-time of the process that created the trial

# Trial user attributes: pause and resume (promotion-type successive halving).
PAUSED_AT = "paused_at_step"  # a PRUNED trial that keeps its checkpoint here and may be promoted
PROMOTED_FROM = "promoted_from"  # number of the paused trial this one continues (same params)
PROMOTED_TO = "promoted_to"  # on a paused trial: the number of the successor that continues it
RESUMED_AT = "resumed_at_step"  # the step of the checkpoint a successor continued from
PAUSED_CHECKPOINT_DELETED = "paused_checkpoint_deleted"  # can no longer be promoted: disk freed
STUDY_COMPUTE_BUDGET = "hpsearch.compute_budget"  # {"fbe": N} or {"steps": N}; absent: none

# Trial user attributes: outcome.
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"
INFEASIBLE = "infeasible"
STOP_REASON = "stop_reason"

# Trial user attributes: what an engineer needs to see.
EFFECTIVE_BATCH = "effective_batch_size"
GRAD_ACCUM = "gradient_accumulation_steps"
PER_DEVICE_BATCH = "per_device_train_batch_size_used"
LEARNING_RATE_USED = "learning_rate_used"
NODE = "node"  # host:pid of the worker process
RAY_NODE_ID = "ray_node_id"
GPU_IDS = "gpu_ids"  # the GPUs Ray assigned to the worker ("none" on CPU)
WORKER = "worker"
DEVICE = "device"
ADAPTER_DIR = "adapter_dir"
CHECKPOINT_DIR = "checkpoint_dir"
LOG_FILE = "log_file"  # the trial's log: warnings, full tracebacks, outcome (trial.log)
WALL_TIME = "wall_time_s"

# Retry reasons (values of RETRY_REQUESTED).
RETRY_WORKER_LOST = "worker_lost"
RETRY_HEARTBEAT = "heartbeat_lost"
RETRY_INTERRUPTED = "interrupted"
RETRY_OOM = "oom"
