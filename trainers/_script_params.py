"""``trial_params()``: the sampled parameters of the trial a script runs for (no transformers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.trainers._script_channel import current_spec

# Keys hpsearch sets when the script's defaults name them (TrainingArguments(**params) style).
_PLACED = ("output_dir", "resume_from_checkpoint")


class TrialParams(dict[str, Any]):
    """A plain ``dict`` of parameters, plus where the trial saves and what it resumes from.

    ``output_dir`` and ``resume_from_checkpoint`` are None outside hpsearch; under hpsearch they
    are the trial's checkpoint folder and, on a retry, the committed checkpoint to continue
    from: pass ``trainer.train(resume_from_checkpoint=params.resume_from_checkpoint)``.
    """

    output_dir: str | None = None
    resume_from_checkpoint: str | None = None
    trial: int | None = None  # the Optuna trial number; None outside hpsearch


def trial_params(defaults: Mapping[str, Any] | None = None) -> TrialParams:
    """``defaults`` overlaid with the values hpsearch sampled for this trial.

    Outside hpsearch (no ``HPSEARCH_TRIAL`` in the environment) this returns ``defaults``
    unchanged, so the same script trains normally on its own. Under hpsearch every sampled
    parameter of the space is set (also those ``defaults`` lacks), and ``output_dir`` /
    ``resume_from_checkpoint`` are replaced when ``defaults`` has those keys.
    """
    if defaults is not None and not isinstance(defaults, Mapping):
        raise TypeError(
            f"trial_params() takes a mapping of default values, got {type(defaults).__name__}"
        )
    out = TrialParams(defaults or {})
    spec = current_spec()
    if spec is None:
        return out
    out.update(spec.params)
    out.output_dir = spec.output_dir
    out.resume_from_checkpoint = spec.resume_from_checkpoint
    out.trial = spec.trial
    for key in _PLACED:
        if key in out:
            out[key] = getattr(out, key)
    return out
