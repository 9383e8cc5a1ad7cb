"""What must hold at the end of every chaos-soak round, checked against the database and the
checkpoint folders. Each problem is reported with the invariant it breaks, so one broken
invariant does not hide the others."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger
from hpsearch.storage import StudyPaths
from hpsearch.trainers import is_complete, newest_complete
from tests.search.invariants import check_study_invariants

NUMBERS = "trial numbers 0..N-1, no duplicates"
NOTHING_RUNNING = "nothing RUNNING or WAITING"
BUDGET = "exactly the budget finished"
NO_RERUN = "no COMPLETE trial rerun"
NO_REPEAT = "no configuration repeats"
CHECKPOINT = "each retry continued from a committed checkpoint"
COMBINED = "tests/search/invariants.py"
INVARIANTS = (NUMBERS, NOTHING_RUNNING, BUDGET, NO_RERUN, NO_REPEAT, CHECKPOINT, COMBINED)


@dataclass
class RoundResult:
    study: str
    trials: int
    finished: int
    states: dict[str, int]
    retries: int
    resumed: int  # retries that continued from a predecessor's checkpoint
    scratch: int  # retries whose predecessors had no complete checkpoint
    disk_full: int  # trials failed because the checkpoint disk was full
    completed_params: int  # retries of trials killed before all their parameters were written
    elapsed_s: float
    problems: list[tuple[str, str]] = field(default_factory=list)  # (invariant, detail)


def _key(trial: FrozenTrial) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(trial.params.items()))


def _predecessors(trial: FrozenTrial, by_number: dict[int, FrozenTrial]) -> list[FrozenTrial]:
    chain, seen = [], {trial.number}
    prev = trial.user_attrs.get(A.RETRY_OF)
    while prev is not None and prev in by_number and prev not in seen:
        seen.add(prev)
        chain.append(by_number[prev])
        prev = by_number[prev].user_attrs.get(A.RETRY_OF)
    return chain


def _sampled_by(head: FrozenTrial, by_number: dict[int, FrozenTrial]) -> object:
    """The driver process that sampled ``head``'s parameters: that of the earliest trial of
    its lineage that had all of them."""
    lineage = [*reversed(_predecessors(head, by_number)), head]
    first = next(t for t in lineage if set(t.params) == set(head.params))
    return first.user_attrs.get(A.DRIVER)


def _check_checkpoint(
    trial: FrozenTrial, chain: list[FrozenTrial], paths: StudyPaths
) -> tuple[str | None, bool]:
    """(problem or None, resumed from a checkpoint) for one retry."""
    folders = [paths.checkpoints_dir(t.number) for t in chain]
    newest = newest_complete(folders)
    resumed = trial.user_attrs.get(A.RESUMED_FROM)
    if resumed is None:
        if newest is not None:
            return f"trial {trial.number} started from scratch, yet {newest.path} exists", False
        return None, False
    path = Path(resumed)
    step = int(path.name.rsplit("-", 1)[1])
    if path.parent not in folders:
        return f"trial {trial.number} resumed {path}, not a predecessor's checkpoint", True
    if not is_complete(path):
        return f"trial {trial.number} resumed {path}, which is not a committed checkpoint", True
    if newest is not None and newest.step != step:
        return (
            f"trial {trial.number} resumed checkpoint {step}, but its predecessors committed "
            f"{newest.step} (a predecessor kept writing after its retry started?)"
        ), True
    reported = sorted(trial.intermediate_values)
    if reported and reported[0] <= step:
        return f"trial {trial.number} resumed at {step} but re-reported step {reported[0]}", True
    return None, True


def check_round(
    study: optuna.Study, budget: int, max_retries: int, root: Path, elapsed_s: float
) -> RoundResult:
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    problems: list[tuple[str, str]] = []
    numbers = sorted(t.number for t in trials)
    if numbers != list(range(len(trials))):
        problems.append((NUMBERS, f"numbers {numbers}"))
    unfinished = [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if unfinished:
        problems.append((NOTHING_RUNNING, f"trials {unfinished}"))
    ledger = build_ledger(trials, max_retries)
    if ledger.finished != budget or ledger.slots_used != budget or ledger.pending_retry:
        problems.append(
            (
                BUDGET,
                f"{ledger.finished} finished, {ledger.slots_used} slots used, "
                f"{len(ledger.pending_retry)} awaiting a retry; budget {budget}",
            )
        )
    successors = Counter(t.user_attrs[A.RETRY_OF] for t in trials if A.RETRY_OF in t.user_attrs)
    twice = [n for n, count in successors.items() if count > 1]
    if twice:
        problems.append((NO_RERUN, f"trials {twice} were retried more than once"))
    resumed = scratch = completed = 0
    paths = StudyPaths(root, study.study_name)
    for trial in trials:
        prev = trial.user_attrs.get(A.RETRY_OF)
        if prev is None:
            continue
        before = by_number.get(prev)
        if before is None or before.state != TrialState.FAIL:
            state = before.state.name if before else "missing"
            problems.append((NO_RERUN, f"trial {trial.number} reruns trial {prev} ({state})"))
            continue
        changed = {k: v for k, v in before.params.items() if trial.params.get(k) != v}
        if changed:
            problems.append(
                (NO_RERUN, f"retry {trial.number} changed parameters {changed} of trial {prev}")
            )
        elif set(trial.params) != set(before.params):
            # Its predecessor was killed before all its parameters were written (between ask
            # and dispatch): the retry keeps those it had and samples the rest.
            completed += 1
        problem, from_checkpoint = _check_checkpoint(trial, _predecessors(trial, by_number), paths)
        resumed += from_checkpoint
        scratch += not from_checkpoint and problem is None
        if problem:
            problems.append((CHECKPOINT, problem))
    # A configuration is what a lineage ran: its last trial's parameters (a retry may have
    # sampled those its predecessor never got). Which driver process sampled it tells repeats
    # across drivers (each seeds its sampler alike: issue 12, item 2) from repeats within one.
    configs: dict[tuple[tuple[str, object], ...], list[FrozenTrial]] = {}
    for head in trials:
        if head.number not in successors and head.params:
            configs.setdefault(_key(head), []).append(head)
    repeats = [group for group in configs.values() if len(group) > 1]
    if repeats:
        numbers = [[t.number for t in group] for group in repeats]
        same = [
            [t.number for t in group]
            for group in repeats
            if len({_sampled_by(t, by_number) for t in group}) < len(group)
        ]
        problems.append(
            (
                NO_REPEAT,
                f"{len(repeats)} configurations ran more than once, {len(same)} of them within "
                f"one driver process: {numbers[:10]}"
                + (f"; within one: {same[:10]}" if same else ""),
            )
        )
    try:
        check_study_invariants(study, budget=budget, max_retries=max_retries)
    except AssertionError as exc:
        problems.append((COMBINED, str(exc)[:500]))
    states = Counter(t.state.name for t in trials)
    disk_full = sum(
        "no space left" in str(t.user_attrs.get(A.FAIL_REASON, "")).lower() for t in trials
    )
    return RoundResult(
        study=study.study_name,
        trials=len(trials),
        finished=ledger.finished,
        states=dict(states),
        retries=len(successors),
        resumed=resumed,
        scratch=scratch,
        disk_full=disk_full,
        completed_params=completed,
        elapsed_s=round(elapsed_s, 1),
        problems=[(invariant, f"{study.study_name}: {detail}") for invariant, detail in problems],
    )
