"""Promotion-type asynchronous successive halving: a pruner that *pauses* trials.

Rungs lie at ``r_k = min_resource * reduction_factor**k`` (below ``max_resource``). A trial
that reaches a rung continues at once when its value there is in the top
``floor(n_k / reduction_factor)`` of the ``n_k`` configurations that reached the rung so far
(itself counted); otherwise it is *paused*: ``prune`` answers True, the trainer commits a
checkpoint at that step and the trial ends PRUNED with ``paused_at_step``. Later, when enough
configurations have reached the rung that it ranks within the top fraction, the driver
*promotes* it (``promotable``): a successor trial with the same parameters continues from the
checkpoint (``promoted_from``). This is ASHA's promotion variant (Li et al. 2020; syne-tune
``type="promotion"``): no trial is ever discarded on the strength of the few values seen early.

A configuration is counted once per rung: a promoted successor carries copies of its
predecessor's values up to its ``resumed_at_step`` and a retry continues its predecessor's
curve, so the values of one *lineage* (trials linked by ``promoted_from`` / ``retry_of``) are
merged into one curve, each step's value taken from the first trial that reported it.

``unpromotable`` names the paused trials that can never be promoted any more, whatever the
rest of the study does: the driver deletes their checkpoints (the disk rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.records import attributes as A
from hpsearch.search.records import is_paused

__all__ = ["PromotionPruner"]


def _links(trial: FrozenTrial) -> int | None:
    """The trial this one continues (a promotion's or a retry's predecessor), if any."""
    prev = trial.user_attrs.get(A.PROMOTED_FROM, trial.user_attrs.get(A.RETRY_OF))
    return None if prev is None else int(prev)


@dataclass
class _Books:
    """The study as the pruner reads it: one merged curve per lineage."""

    trials: dict[int, FrozenTrial]
    root: dict[int, int] = field(default_factory=dict)  # trial number -> its lineage's first
    curve: dict[int, dict[int, float]] = field(default_factory=dict)  # root -> step -> value
    owner: dict[int, dict[int, int]] = field(default_factory=dict)  # root -> step -> number
    newest: dict[int, FrozenTrial] = field(default_factory=dict)  # root -> not superseded
    ranked: dict[int, dict[int, int]] = field(default_factory=dict)  # rung -> root -> rank

    @classmethod
    def of(cls, trials: Sequence[FrozenTrial]) -> _Books:
        books = cls({t.number: t for t in trials})
        superseded = {p for t in trials if (p := _links(t)) is not None}
        for trial in sorted(trials, key=lambda t: t.number):
            prev, seen = _links(trial), {trial.number}
            root = trial.number
            while prev is not None and prev in books.trials and prev not in seen:
                seen.add(prev)
                root = prev
                prev = _links(books.trials[prev])
            books.root[trial.number] = root
            resumed = int(trial.user_attrs.get(A.RESUMED_AT) or 0)
            curve = books.curve.setdefault(root, {})
            owner = books.owner.setdefault(root, {})
            for step, value in trial.intermediate_values.items():
                if step > resumed and step not in curve:
                    curve[step], owner[step] = value, trial.number
            if trial.number not in superseded:
                books.newest[root] = trial
        return books

    def value_at(self, root: int, rung: int) -> tuple[int, float] | None:
        """The lineage's first (step, value) at or past the rung step."""
        steps = [s for s in self.curve.get(root, {}) if s >= rung]
        if not steps:
            return None
        step = min(steps)
        return step, self.curve[root][step]


class PromotionPruner(BasePruner):
    """Promotion-type asynchronous successive halving (see the module docstring).

    ``min_resource``: the first rung's step (``"auto"``: the first step any trial reported;
    hpsearch's spaces resolve it to the first evaluation, or ``min_evaluations`` of them).
    ``reduction_factor``: the rung's top ``1 / reduction_factor`` goes on (an integer >= 2).
    ``max_resource``: a trial's last step (``"auto"``: unknown; hpsearch sets the task's
    ``max_steps``); no rung lies at or past it, and a trial is never paused there.
    """

    pauses_trials = True

    def __init__(
        self,
        min_resource: int | str = "auto",
        reduction_factor: int = 3,
        max_resource: int | str = "auto",
    ) -> None:
        self._min = _resource("min_resource", min_resource)
        self._max = _resource("max_resource", max_resource)
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int):
            raise ValueError(f"reduction_factor must be an integer >= 2, got {reduction_factor!r}")
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be an integer >= 2, got {reduction_factor}")
        if self._min is not None and self._max is not None and self._max < self._min:
            raise ValueError(f"max_resource ({self._max}) must be >= min_resource ({self._min})")
        self.reduction_factor = reduction_factor
        self._maximize = False  # the study's direction, read with its trials

    # -- rungs --------------------------------------------------------------------------
    def _first_rung(self, books: _Books) -> int | None:
        if self._min is None:
            steps = [s for c in books.curve.values() for s in c]
            if not steps:
                return None
            self._min = max(1, min(steps))  # fixed once seen: every trial gets the same rungs
        return self._min

    def rung_steps(self, upto: int, books: _Books | None = None) -> list[int]:
        """The rung steps at or below ``upto`` (below ``max_resource``)."""
        first = self._min if books is None else self._first_rung(books)
        out: list[int] = []
        if first is None:
            return out
        step = first
        while step <= upto and (self._max is None or step < self._max):
            out.append(step)
            step *= self.reduction_factor
        return out

    def _rank(self, books: _Books, root: int, rung: int) -> tuple[int, int]:
        """(rank of the lineage among those that reached the rung, 1 = best; how many did).
        Each rung is ranked once per reading of the study (``books.ranked``)."""
        if rung not in books.ranked:
            values = []
            for other in books.curve:
                found = books.value_at(other, rung)
                if found is not None:
                    values.append(((-found[1] if self._maximize else found[1]), other))
            values.sort()
            books.ranked[rung] = {r: i + 1 for i, (_, r) in enumerate(values)}
        ranks = books.ranked[rung]
        return ranks.get(root, len(ranks) + 1), len(ranks)

    def _read(self, study: optuna.Study | None, trials: Sequence[FrozenTrial]) -> _Books:
        if study is not None:
            self._maximize = study.direction == StudyDirection.MAXIMIZE
        return _Books.of(trials)

    # -- BasePruner ---------------------------------------------------------------------
    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True (pause) when ``trial`` has just reached a rung and is not in its top fraction."""
        step = trial.last_step
        if step is None or (self._max is not None and step >= self._max):
            return False
        if self._min is not None and not self._arrives_at_rung(trial, step):
            return False  # no rung since its previous report: nothing to judge, no study read
        others = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        books = self._read(study, [*others, trial])
        rungs = self.rung_steps(step, books)
        if not rungs:
            return False
        root = books.root[trial.number]
        reached = books.value_at(root, rungs[-1])
        if reached is None or reached[0] != step or books.owner[root][step] != trial.number:
            return False  # not this trial's first arrival at the rung (judged there before)
        rank, n = self._rank(books, root, rungs[-1])
        return rank > n // self.reduction_factor

    def _arrives_at_rung(self, trial: FrozenTrial, step: int) -> bool:
        """Whether a rung lies after the trial's previous reported step and at or before
        ``step``. When none does, the full check below answers False too (the lineage's first
        value past the newest rung is at an earlier step), so the study need not be read: only
        a trial's first report at or past a rung costs a reading of the study."""
        rungs = self.rung_steps(step)
        previous = max((s for s in trial.intermediate_values if s < step), default=0)
        return bool(rungs) and rungs[-1] > previous

    # -- promotion (the driver) ---------------------------------------------------------
    def _paused_rung(self, books: _Books, trial: FrozenTrial) -> int | None:
        rungs = self.rung_steps(int(trial.user_attrs[A.PAUSED_AT]), books)
        return rungs[-1] if rungs else None

    def _candidates(self, books: _Books) -> list[tuple[FrozenTrial, int, int, int]]:
        """(paused trial, its rung step, its rank there, configurations there)."""
        out = []
        for trial in books.newest.values():
            if not is_paused(trial):
                continue
            rung = self._paused_rung(books, trial)
            if rung is None:
                continue
            rank, n = self._rank(books, books.root[trial.number], rung)
            out.append((trial, rung, rank, n))
        return out

    def promotable(
        self, trials: Sequence[FrozenTrial], study: optuna.Study | None = None
    ) -> FrozenTrial | None:
        """The paused trial to continue now: within its rung's top fraction, highest rung
        first, best rank first; None when no paused trial qualifies."""
        books = self._read(study, trials)
        ready = [
            (-rung, rank, trial.number, trial)
            for trial, rung, rank, n in self._candidates(books)
            if rank <= n // self.reduction_factor
        ]
        return min(ready, key=lambda r: r[:3])[3] if ready else None

    def unpromotable(
        self,
        trials: Sequence[FrozenTrial],
        max_more: Callable[[int], int],
        study: optuna.Study | None = None,
    ) -> list[FrozenTrial]:
        """Paused trials that can never be promoted: rank ``r`` in rung ``k`` with
        ``r > floor((n_k + m) / reduction_factor)``, where ``m`` bounds the configurations that
        may still reach the rung: the study's lineages that are running, waiting, awaiting a
        retry or paused below it, plus ``max_more(rung step)`` new ones (the driver's budget).
        A paused trial found here no longer counts as one that may reach a higher rung: the
        answer is a fixed point (its checkpoint goes, so it never continues)."""
        books = self._read(study, trials)
        out: list[FrozenTrial] = []
        doomed: set[int] = set()
        # To a fixed point: a paused trial that can never be promoted never reaches a higher
        # rung, which may leave a trial paused there beyond promotion too.
        while True:
            found = []
            for trial, rung, rank, n in self._candidates(books):
                if trial.number in doomed:
                    continue
                m = self._may_reach(books, rung, doomed) + max(0, int(max_more(rung)))
                if rank > (n + m) // self.reduction_factor:
                    found.append(trial)
            if not found:
                return out
            out += found
            doomed |= {t.number for t in found}

    def _may_reach(self, books: _Books, rung: int, doomed: set[int]) -> int:
        count = 0
        for root, newest in books.newest.items():
            if books.value_at(root, rung) is not None:
                continue
            alive = newest.state in (TrialState.RUNNING, TrialState.WAITING)
            retry = newest.state == TrialState.FAIL and newest.user_attrs.get(A.RETRY_REQUESTED)
            paused = is_paused(newest) and newest.number not in doomed
            count += bool(alive or retry or paused)
        return count


def _resource(name: str, value: int | str) -> int | None:
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be an integer >= 1 or "auto", got {value!r}')
    return value
