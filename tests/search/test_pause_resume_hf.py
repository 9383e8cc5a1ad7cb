"""Pause and resume through the real Hugging Face Trainer (issue 14, "through the real trainer").

Tiny Qwen3 causal LM built from a config, LoRA, 12 steps with an evaluation every 3: the
``promotion`` pruner (reduction factor 2) has rungs at steps 3 and 6. The first trials are
warm starts with learning rates far apart, so the ranks at the rungs are not luck: a large rate
lowers the loss within 3 steps, a tiny one leaves the random model where it is. The first
configuration is paused at step 3 (alone at its rung, no top half yet), the second ranks below
it there, so the first is promoted: a successor resumes from its committed checkpoint-3.

The in-process pool (no Ray) on SQLite, one worker: the order of events is the order of asks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

import hpsearch.search as hs
from hpsearch.search.outputs import compute_savings
from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger, steps_used
from hpsearch.trainers import complete_checkpoints
from tests.helpers import load_study
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

MAX_STEPS, EVAL_STEPS = 12, 3
RUNGS = (3, 6)  # 3 * 2**k below the last step

SPACE = """
name: hfpause
method: lora
objective: {{metric: eval_loss, direction: minimize}}
{trials}
{compute}
sampler: {{type: random, seed: 7}}
pruner: {pruner}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: 2}}
{warm}
params:
  learning_rate: {{type: float, low: 1.0e-7, high: 1.0e-2, log: true}}
  per_device_train_batch_size: 4
  effective_batch_size: 4
  lr_scheduler_type: constant
  warmup_ratio: 0.0
  lora_r: 4
  lora_alpha: 8
  lora_dropout: 0.0
task:
  type: causal_lm
  model: {model}
  dataset: {dataset}
  max_steps: {max_steps}
  eval_steps: {eval_steps}
  max_seq_length: 32
  max_train_samples: 64
  max_eval_samples: 8
"""
# best, worst, third, second at step 3 (constant schedule, Adam: the loss falls with the rate)
RATES = (1.0e-2, 1.0e-7, 3.0e-4, 3.0e-3)
PROMOTION = "{type: promotion, min_evaluations: 1, reduction_factor: 2}"


def write_space(
    tmp_path: Path,
    model: str,
    dataset: str,
    *,
    trials: int | None,
    compute: str = "",
    rates: tuple[float, ...] = RATES,
    pruner: str = PROMOTION,
) -> str:
    path = tmp_path / "hfpause.yaml"
    path.write_text(
        SPACE.format(
            trials="" if trials is None else f"trials: {trials}",
            compute=f"compute_budget: {compute}" if compute else "",
            warm="warm_start:\n" + "\n".join(f"  - {{learning_rate: {r}}}" for r in rates)
            if rates
            else "",
            pruner=pruner,
            model=model,
            dataset=dataset,
            max_steps=MAX_STEPS,
            eval_steps=EVAL_STEPS,
        )
    )
    return str(path)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / "trainer_state.json").read_text())


def check_promotions(study: optuna.Study) -> list[FrozenTrial]:
    """Each successor continues its paused predecessor from its committed checkpoint, on the
    real trainer: the copied curve, then its own evaluations after the pause step, and HF's
    global step going on from that step. No paused trial is promoted twice."""
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    successors = [t for t in trials if t.user_attrs.get(A.PROMOTED_FROM) is not None]
    sources = Counter(t.user_attrs[A.PROMOTED_FROM] for t in successors)
    assert all(n == 1 for n in sources.values()), sources
    for successor in successors:
        paused = by_number[successor.user_attrs[A.PROMOTED_FROM]]
        assert paused.state == TrialState.PRUNED, paused.number
        assert paused.user_attrs[A.PROMOTED_TO] == successor.number
        assert successor.params == paused.params
        step = paused.user_attrs[A.PAUSED_AT]
        assert step in RUNGS and max(paused.intermediate_values) == step
        assert paused.user_attrs[A.PRUNE_REASON] == (
            f"paused at step {step} by the promotion pruner"
        )
        assert successor.user_attrs[A.RESUMED_AT] == step == paused.user_attrs["last_step"]
        checkpoint = Path(successor.user_attrs[A.RESUMED_FROM])
        assert checkpoint == Path(paused.user_attrs[A.CHECKPOINT_DIR]) / f"checkpoint-{step}"
        copied = {s: v for s, v in successor.intermediate_values.items() if s <= step}
        assert copied == paused.intermediate_values  # one curve: the paused one, continued
        own = sorted(s for s in successor.intermediate_values if s > step)
        assert own and own[0] == step + EVAL_STEPS, (successor.number, own)
        assert successor.user_attrs["last_step"] == own[-1]
        # HF's own step count went on from the checkpoint: the successor's newest committed
        # checkpoint holds the whole curve's evaluations and its global step, not a restart
        mine = complete_checkpoints(Path(successor.user_attrs[A.CHECKPOINT_DIR]))
        assert mine or successor.state != TrialState.COMPLETE, successor.number
        if mine:
            state = trainer_state(Path(mine[-1].path))
            assert state["global_step"] == mine[-1].step > step
            evals = [e["step"] for e in state["log_history"] if "eval_loss" in e]
            assert evals == list(range(EVAL_STEPS, mine[-1].step + 1, EVAL_STEPS))
    return successors


def last(trial: FrozenTrial) -> int:
    """The last step ``trial`` trained to (0: interrupted before its first step)."""
    return int(trial.user_attrs.get("last_step", 0))


def check_savings(study: optuna.Study) -> None:
    """The pruning savings count each configuration's steps once: a lineage (a paused trial
    and its successors, a failed trial and its retry) trained its head's last step, plus what
    a retry trained again after its checkpoint (a promotion trains nothing again)."""
    trials = study.get_trials(deepcopy=False)
    savings = compute_savings(study)
    assert savings is not None
    by_number = {t.number: t for t in trials}
    predecessor = {
        t.number: int(t.user_attrs.get(A.PROMOTED_FROM, t.user_attrs.get(A.RETRY_OF)))
        for t in trials
        if t.user_attrs.get(A.PROMOTED_FROM, t.user_attrs.get(A.RETRY_OF)) is not None
    }
    heads = [t for t in trials if t.number not in predecessor.values()]
    again = sum(
        last(by_number[before]) - (by_number[after].user_attrs.get(A.RESUMED_AT) or 0)
        for after, before in predecessor.items()
    )
    assert savings.spent == sum(last(t) for t in heads) + again
    assert savings.spent == steps_used(trials)
    assert savings.if_all_full == len(heads) * MAX_STEPS + again
    spent = {c.number: c.spent for c in savings.trials}
    for trial in trials:
        resumed = trial.user_attrs.get(A.RESUMED_AT) or 0
        assert spent[trial.number] == last(trial) - resumed


def test_a_paused_trial_is_promoted_and_continues_on_the_real_trainer(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    space = write_space(tmp_path, tiny_qwen3, text_jsonl, trials=4)
    lines: list[str] = []
    study = hs.run(
        space,
        study="hfp",
        storage=url,
        workers=1,
        pool="inprocess",
        checkpoint_dir=tmp_path / "ck",
        emit=lines.append,
    )
    trials = study.get_trials(deepcopy=False)
    first = trials[0]
    assert first.params == {"learning_rate": RATES[0]}
    assert first.user_attrs[A.PAUSED_AT] == RUNGS[0]  # alone at its rung: paused
    successors = check_promotions(study)
    assert first.user_attrs[A.PROMOTED_TO] in {s.number for s in successors}
    # the trial budget is exact: 4 configurations, the promotions took no slot
    ledger = build_ledger(trials, 2)
    assert ledger.slots_used == 4 and ledger.retried == len(successors)
    check_study_invariants(study, 4)
    check_savings(study)
    # the summary counts the books as the database has them: trial 0 went on in trial 4,
    # trials 1-3 can no longer be promoted (none is left paused)
    summary = next(line for line in lines if line.startswith("Study 'hfp': "))
    assert summary.endswith("(1 complete, 3 pruned, 0 failed, 1 retried)."), summary
    assert "  trial 4: started on worker 0, promoted from trial 0, resuming checkpoint-3" in lines
    # at the end no paused trial keeps a checkpoint it can no longer use
    for trial in trials:
        if trial.user_attrs.get(A.PAUSED_AT) is not None:
            promoted = trial.user_attrs.get(A.PROMOTED_TO) is not None
            assert promoted or trial.user_attrs.get(A.PAUSED_CHECKPOINT_DELETED), trial.number


INTERRUPT = """
import os, signal, threading, time
import optuna
from optuna.trial import TrialState
import hpsearch.search as hs

url, space, ck = {url!r}, {space!r}, {ck!r}
sa = url.replace("postgresql://", "postgresql+psycopg2://")

def paused_waiting(trials):
    return [
        t for t in trials
        if t.state == TrialState.PRUNED and t.user_attrs.get("paused_at_step") is not None
        and t.user_attrs.get("promoted_to") is None
    ]

def interrupt_once_two_are_paused():
    while True:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name="hfk", storage=sa).trials
        except KeyError:
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if len(paused_waiting(trials)) >= 2 and running:
            os.kill(os.getpid(), signal.SIGINT)
            return

threading.Thread(target=interrupt_once_two_are_paused, daemon=True).start()
try:
    hs.run(space, study="hfk", storage=url, workers=1, pool="inprocess", checkpoint_dir=ck,
           emit=lambda line: None)
    print("finished")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_a_study_interrupted_with_paused_trials_resumes_and_promotes_them_once(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    """Ctrl-C (the API's KeyboardInterrupt path) while two trials are paused and the third
    trains; ``resume`` finishes the budget and promotes a trial paused before the interrupt
    from its checkpoint; a second resume changes nothing."""
    space = write_space(tmp_path, tiny_qwen3, text_jsonl, trials=4)
    code = INTERRUPT.format(url=fresh_pg_url, space=space, ck=str(tmp_path / "ck"))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    printed = f"rc {result.returncode}; stdout {result.stdout!r}; stderr ...{result.stderr[-4000:]}"
    assert result.returncode == 0, printed
    assert result.stdout.split() == ["interrupted"], printed
    before = load_study(fresh_pg_url, "hfk").get_trials(deepcopy=False)
    paused = [t for t in before if t.user_attrs.get(A.PAUSED_AT) is not None]
    waiting = [t for t in paused if t.user_attrs.get(A.PROMOTED_TO) is None]
    assert len(waiting) >= 2, [(t.number, t.state, t.user_attrs) for t in before]
    for trial in waiting:  # each keeps its committed checkpoint at the pause step
        steps = [c.step for c in complete_checkpoints(Path(trial.user_attrs[A.CHECKPOINT_DIR]))]
        assert steps == [trial.user_attrs[A.PAUSED_AT]], trial.number

    study = hs.resume(
        "hfk", storage=fresh_pg_url, pool="inprocess", workers=1, emit=lambda line: None
    )
    trials = study.get_trials(deepcopy=False)
    late = [t for t in trials if t.number >= len(before)]
    promoted_late = {t.user_attrs.get(A.PROMOTED_FROM) for t in late} - {None}
    assert promoted_late & {t.number for t in waiting}, "resume promoted a trial paused before"
    assert trials[0].user_attrs[A.PROMOTED_TO] is not None  # the best configuration went on
    check_promotions(study)
    check_study_invariants(study, 4)
    check_savings(study)
    again = hs.resume(
        "hfk", storage=fresh_pg_url, pool="inprocess", workers=1, emit=lambda line: None
    )
    assert len(again.get_trials(deepcopy=False)) == len(trials)


def test_a_compute_budget_on_the_real_trainer_stops_starting_trials_once_used(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    """``compute_budget: {steps: 30}``, no trial count, 12 steps a trial, one worker: the
    third trial starts at 24 steps used, none after it; ``hpsearch status`` shows the line."""
    url = sqlite_url(tmp_path)
    space = write_space(
        tmp_path,
        tiny_qwen3,
        text_jsonl,
        trials=None,
        compute="{steps: 30}",
        rates=(),
        pruner="{type: none}",
    )
    study = hs.run(
        space,
        study="hfc",
        storage=url,
        workers=1,
        pool="inprocess",
        checkpoint_dir=tmp_path / "ck",
        emit=lambda line: None,
    )
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert [t.user_attrs["last_step"] for t in trials] == [MAX_STEPS] * 3
    used = steps_used(trials)
    assert used == 36
    assert study.user_attrs[A.STUDY_COMPUTE_BUDGET] == {"steps": 30}
    printed = cli("status", "hfc", "--storage", url)
    assert printed.code == 0, printed.err
    assert "hfc: compute: 3.0 / 2.5 FBE (36 / 30 steps)" in printed.out, printed.out
