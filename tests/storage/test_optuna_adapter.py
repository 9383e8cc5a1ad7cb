"""Contract of hpsearch.storage.optuna_internals against the installed Optuna.

Each private Optuna name the adapter touches is pinned here: it exists, has the type or
signature the adapter assumes, and behaves as the adapter assumes. An Optuna upgrade that
changes one fails here, loudly, instead of silently breaking the budget, locks or overview.
The last test keeps every other module on the adapter.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import TrialState

from hpsearch.storage import (
    ResilientRDBStorage,
    create_or_load_study,
    open_storage,
    parse_storage_url,
)
from hpsearch.storage import optuna_internals as oi

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def study(storage_url: str) -> optuna.Study:
    storage = open_storage(parse_storage_url(storage_url))
    return create_or_load_study(storage, "adapter", "minimize").study


def test_the_adapter_is_written_for_this_optuna() -> None:
    major = int(optuna.__version__.split(".")[0])
    assert major in (4, 5), (
        f"Optuna {optuna.__version__}: re-check storage/optuna_internals.py against it, "
        "then widen this range"
    )


def test_study_storage_and_ids(study: optuna.Study) -> None:
    storage = oi.storage_of(study)
    assert isinstance(storage, BaseStorage)
    # an RDB storage is wrapped in Optuna's cache: writes through it are seen by the study
    assert isinstance(storage, _CachedStorage)
    assert isinstance(storage._backend, ResilientRDBStorage)
    study_id = oi.study_id_of(study)
    assert isinstance(study_id, int)
    assert storage.get_study_id_from_name("adapter") == study_id
    trial = study.ask()
    frozen = study.trials[-1]
    assert oi.trial_id_of(trial) == oi.trial_id_of(frozen)
    assert storage.get_trial(oi.trial_id_of(trial)).number == trial.number
    assert storage.get_trial_id_from_study_id_trial_number(study_id, trial.number) == (
        oi.trial_id_of(trial)
    )
    # what get_all_studies returns (status and overviews of every study) has the same id
    (summary,) = [s for s in storage.get_all_studies() if s.study_name == "adapter"]
    assert isinstance(summary, oi.FrozenStudy) and oi.study_id_of(summary) == study_id


def test_trial_constructor_takes_a_study_and_a_trial_id(study: optuna.Study) -> None:
    params = list(inspect.signature(optuna.Trial.__init__).parameters)
    assert params == ["self", "study", "trial_id"]
    trial_id = oi.storage_of(study).create_new_trial(oi.study_id_of(study))
    assert optuna.Trial(study, trial_id).number == 0


def test_forget_cached_trials_makes_the_study_read_them_again(study: optuna.Study) -> None:
    assert hasattr(study._thread_local, "cached_all_trials")
    study.enqueue_trial({})
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == 1  # now cached
    oi.storage_of(study).create_new_trial(oi.study_id_of(study))  # written behind the cache
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == 1  # still the cache
    oi.forget_cached_trials(study)
    assert study._thread_local.cached_all_trials is None
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == 2
    # what Study.ask itself does before it builds a trial
    assert "cached_all_trials = None" in inspect.getsource(optuna.Study.ask)


def test_rdb_session_commits_and_reads_the_models(study: optuna.Study) -> None:
    params = list(inspect.signature(oi._create_scoped_session).parameters)
    assert params == ["scoped_session", "ignore_integrity_error"]
    rdb = oi.storage_of(study)._backend  # type: ignore[attr-defined]
    assert isinstance(rdb.scoped_session, sqlalchemy.orm.scoped_session)
    study.tell(study.ask(), 2.0)
    running = study.ask()
    models = oi.rdb_models
    with oi.rdb_session(rdb) as session:
        rows = (
            session.query(
                models.TrialModel.trial_id,
                models.TrialModel.number,
                models.TrialModel.state,
                oi.trial_started_column(),
                oi.trial_completed_column(),
            )
            .filter(models.TrialModel.study_id == oi.study_id_of(study))
            .order_by(models.TrialModel.number)
            .all()
        )
    assert [(r[1], r[2]) for r in rows] == [(0, TrialState.COMPLETE), (1, TrialState.RUNNING)]
    assert rows[0][3] is not None and rows[0][4] is not None  # started, completed
    assert rows[1][0] == oi.trial_id_of(running) and rows[1][4] is None
    with oi.rdb_session(rdb) as session:  # writes commit at the end of the block
        session.add(models.TrialUserAttributeModel(trial_id=rows[1][0], key="k", value_json="7"))
    assert oi.storage_of(study).get_trial(rows[1][0]).user_attrs == {"k": 7}


def test_the_columns_the_lean_queries_read() -> None:
    m = oi.rdb_models

    def columns(model: type) -> set[str]:
        return set(sqlalchemy.inspect(model).columns.keys())

    assert {"trial_id", "number", "study_id", "state"} <= columns(m.TrialModel)
    assert {"_datetime_start_utc", "_datetime_complete_utc"} <= columns(m.TrialModel)
    assert oi.trial_started_column().key == "_datetime_start_utc"
    assert oi.trial_completed_column().key == "_datetime_complete_utc"
    assert {"trial_id", "heartbeat"} <= columns(m.TrialHeartbeatModel)
    assert {"trial_id", "step", "intermediate_value", "intermediate_value_type"} <= columns(
        m.TrialIntermediateValueModel
    )
    assert m.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
        0.5, m.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    ) == pytest.approx(0.5)
    assert {"trial_id", "value", "value_type"} <= columns(m.TrialValueModel)
    assert {"trial_id", "key", "value_json"} <= columns(m.TrialUserAttributeModel)


def test_max_indexed_string_length_is_the_study_name_column() -> None:
    assert isinstance(oi.MAX_INDEXED_STRING_LENGTH, int)
    column = sqlalchemy.inspect(oi.rdb_models.StudyModel).columns["study_name"]
    assert column.type.length == oi.MAX_INDEXED_STRING_LENGTH


def test_the_private_rdb_methods_resilient_storage_wraps() -> None:
    for name in oi.RDB_PRIVATE_METHODS:
        assert inspect.isfunction(getattr(RDBStorage, name, None)), name
    # every private method Optuna's cache calls on its backend is among them (and retried)
    called = set(re.findall(r"self\._backend\.(_\w+)\(", inspect.getsource(_CachedStorage)))
    assert called <= set(oi.RDB_PRIVATE_METHODS), called - set(oi.RDB_PRIVATE_METHODS)


def test_attribute_writes_go_through_the_overridden_private_method(tmp_path: Path) -> None:
    """ResilientRDBStorage redacts every attribute in ``_set_trial_attr_without_commit``:
    Optuna's public setters must still route through it."""
    params = list(inspect.signature(RDBStorage._set_trial_attr_without_commit).parameters)
    assert params == ["self", "session", "model_cls", "trial_id", "key", "value"]
    seen: list[str] = []

    class Spy(RDBStorage):
        def _set_trial_attr_without_commit(self, session, model_cls, trial_id, key, value):  # type: ignore[no-untyped-def]
            seen.append(key)
            super()._set_trial_attr_without_commit(session, model_cls, trial_id, key, value)

    storage = Spy(f"sqlite:///{tmp_path / 'spy.db'}")
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.set_user_attr("u", 1)
    storage.set_trial_system_attr(oi.trial_id_of(trial), "s", 2)
    assert seen == ["u", "s"]


_PRIVATE_OPTUNA = re.compile(
    r"(?<!self)\._(storage|study_id|trial_id|thread_local)\b"
    r"|from optuna[\w.]*\._\w*|import optuna[\w.]*\._\w*"
)
_ALLOWED = {
    Path("storage/optuna_internals.py"),
    Path("tests/storage/test_optuna_adapter.py"),
}


def test_no_module_but_the_adapter_touches_optuna_private_names() -> None:
    offenders = []
    for top in ("spaces", "storage", "trainers", "search", "benchmarks", "tests"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            # the fixtures' scripts write old layouts with old Optuna versions, without hpsearch
            hidden = any(part.startswith(".") for part in relative.parts)  # virtualenvs, caches
            if relative in _ALLOWED or hidden or "fixtures" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _PRIVATE_OPTUNA.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "use hpsearch.storage.optuna_internals:\n" + "\n".join(offenders)
