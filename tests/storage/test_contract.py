"""Storage contract: the same behaviour on the embedded SQLite file and on PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.storage import (
    StorageUnavailableError,
    StorageURLError,
    StudyNameError,
    StudyNotFoundError,
    create_or_load_study,
    list_study_names,
    load_existing_study,
    open_storage,
    parse_storage_url,
    redact,
    resolve_storage,
    study_id_of,
    study_lock,
    trial_id_of,
    validate_study_name,
)


def test_create_then_load_by_name(storage_url: str) -> None:
    storage = open_storage(parse_storage_url(storage_url))
    handle = create_or_load_study(storage, "contract", "minimize")
    assert handle.created
    handle.study.tell(handle.study.ask(), 1.5)
    again = create_or_load_study(storage, "contract", "minimize")
    assert not again.created and len(again.study.trials) == 1
    assert list_study_names(storage) == ["contract"]
    loaded = load_existing_study(storage, "contract", "db")
    assert loaded.best_value == 1.5


def test_missing_study_suggests_close_names(storage_url: str) -> None:
    storage = open_storage(parse_storage_url(storage_url))
    create_or_load_study(storage, "lora_small-demo", "minimize")
    with pytest.raises(StudyNotFoundError, match="did you mean 'lora_small-demo'"):
        load_existing_study(storage, "lora_small-dem", "db")


def test_heartbeat_ages_include_trials_that_never_beat(storage_url: str) -> None:
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "beats", "minimize").study
    silent, beating = study.ask(), study.ask()
    storage.record_heartbeat(trial_id_of(beating))
    time.sleep(1.1)
    ages = {r.number: r for r in storage.running_trials(study_id_of(study))}
    assert ages[silent.number].heartbeat_age_s is None
    assert ages[silent.number].silent_for_s >= 1.0
    assert 1.0 <= ages[beating.number].heartbeat_age_s < 30  # type: ignore[operator]
    study.tell(silent, 1.0)
    assert [r.number for r in storage.running_trials(study_id_of(study))] == [beating.number]


def _create_concurrently(url: str, barrier_path: str, out: multiprocessing.Queue) -> None:
    while not Path(barrier_path).exists():
        time.sleep(0.005)
    try:
        storage = open_storage(parse_storage_url(url))
        study = create_or_load_study(storage, "race", "minimize").study
        trial = study.ask()
        study.tell(trial, float(trial.number))
        out.put("ok")
    except Exception as exc:  # pragma: no cover - reported through the queue
        out.put(f"{type(exc).__name__}: {exc}")


def test_many_processes_create_the_schema_and_study_at_once(
    storage_url: str, tmp_path: Path
) -> None:
    """An empty database and 8 processes racing: no error, one study, no duplicate numbers."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    barrier = tmp_path / "go"
    procs = [
        ctx.Process(target=_create_concurrently, args=(storage_url, str(barrier), out))
        for _ in range(8)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)
    barrier.touch()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 8
    storage = open_storage(parse_storage_url(storage_url))
    study = load_existing_study(storage, "race", "db")
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(8))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_trial_counts_and_batched_user_attrs(storage_url: str) -> None:
    """The budget check's counts come from the database and match a walk over the trials."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "counts", "minimize").study
    first, second = study.ask(), study.ask()
    study.tell(first, state=TrialState.FAIL)
    study.enqueue_trial({})
    storage.set_trial_user_attrs(trial_id_of(second), {"retry_of": 0, "device": "cpu", "k": [1, 2]})
    retry = study.ask()  # takes the enqueued (WAITING) trial
    storage.set_trial_user_attrs(trial_id_of(retry), {"retry_of": 0})
    study.enqueue_trial({})
    assert storage.trial_counts(study_id_of(study), "retry_of") == (4, 1, 1)
    attrs = storage.get_trial(trial_id_of(second)).user_attrs
    assert attrs == {"retry_of": 0, "device": "cpu", "k": [1, 2]}
    storage.set_trial_user_attrs(trial_id_of(second), {})  # nothing to write is no error
    storage.set_trial_user_attrs(trial_id_of(second), {"device": "cuda:0", "note": "x"})
    attrs = storage.get_trial(trial_id_of(second)).user_attrs  # one written again, one added
    assert attrs == {"retry_of": 0, "device": "cuda:0", "k": [1, 2], "note": "x"}
    with pytest.raises(KeyError):
        storage.set_trial_user_attrs(10**9, {"x": 1})
    with pytest.raises(RuntimeError, match="finished"):  # never rewrites a finished trial
        storage.set_trial_user_attrs(trial_id_of(first), {"late": 1})
    assert "late" not in storage.get_trial(trial_id_of(first)).user_attrs


def test_promoted_trials_count_as_superseded_and_finished_trials_take_marks(
    storage_url: str,
) -> None:
    """A paused trial continued by a promotion (``promoted_from``) is superseded like a
    retried one (each counted once, whichever key names it); the driver's marks on a finished
    (paused) trial are written and read back."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "promoted", "minimize").study
    failed, paused, retry, successor = (study.ask() for _ in range(4))
    study.tell(failed, state=TrialState.FAIL)
    study.tell(paused, state=TrialState.PRUNED)
    storage.set_trial_user_attrs(trial_id_of(retry), {"retry_of": failed.number})
    storage.set_trial_user_attrs(trial_id_of(successor), {"promoted_from": paused.number})
    keys = ("retry_of", "promoted_from")
    assert storage.trial_counts(study_id_of(study), keys) == (4, 0, 2)
    assert storage.trial_counts(study_id_of(study), "retry_of") == (4, 0, 1)
    storage.mark_finished_trial(trial_id_of(paused), {"promoted_to": successor.number})
    storage.mark_finished_trial(trial_id_of(paused), {"promoted_to": 7, "deleted": True})
    attrs = storage.get_trial(trial_id_of(paused)).user_attrs
    assert attrs == {"promoted_to": 7, "deleted": True}


def test_trial_summaries_match_the_full_trials(storage_url: str) -> None:
    """The lean rows ``hpsearch status`` reads agree with Optuna's own full trials."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "lean", "maximize").study
    done = study.ask()
    done.suggest_float("x", 0, 1)
    done.report(0.5, 1)
    study.tell(done, 0.75)
    study.tell(study.ask(), float("inf"))
    study.tell(study.ask(), state=TrialState.PRUNED)
    failed = study.ask()
    storage.set_trial_user_attrs(trial_id_of(failed), {"retry_requested": "oom", "device": "cpu"})
    study.tell(failed, state=TrialState.FAIL)
    running = study.ask()
    storage.set_trial_user_attrs(trial_id_of(running), {"retry_of": 3, "retry_attempt": 1})
    study.enqueue_trial({})
    keys = ("retry_of", "retry_requested", "retry_attempt")
    lean = storage.trial_summaries(study_id_of(study), keys)
    full = storage.get_all_trials(study_id_of(study))
    assert [t.number for t in lean] == [t.number for t in full] == list(range(6))
    for small, big in zip(lean, full, strict=True):
        assert (small.state, small.value, trial_id_of(small)) == (
            big.state,
            big.value,
            trial_id_of(big),
        )
        assert small.datetime_start == big.datetime_start
        assert small.datetime_complete == big.datetime_complete
        assert small.user_attrs == {k: v for k, v in big.user_attrs.items() if k in keys}
        assert small.params == {} and small.intermediate_values == {}
    assert lean[1].value == float("inf") and lean[3].user_attrs == {"retry_requested": "oom"}


def test_running_progress_matches_the_full_trials(storage_url: str) -> None:
    """The live view's one query: each RUNNING trial's newest intermediate value, as Optuna's
    full trials have it; finished and waiting trials are not read."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "progress", "minimize").study
    reported = study.ask()
    for step, value in ((10, 0.9), (30, 0.5), (20, 0.7)):  # reported out of order
        reported.report(value, step)
    study.ask()  # running, nothing reported yet
    study.ask().report(float("nan"), 5)
    done = study.ask()
    done.report(0.1, 10)
    study.tell(done, 0.1)
    study.enqueue_trial({})
    progress = storage.running_progress(study_id_of(study))
    full = storage.get_all_trials(study_id_of(study), states=(TrialState.RUNNING,))
    assert [p.number for p in progress] == [t.number for t in full] == [0, 1, 2]
    for row, trial in zip(progress, full, strict=True):
        step = max(trial.intermediate_values, default=None)
        assert (row.trial_id, row.step) == (trial_id_of(trial), step)
        assert row.running_for_s >= 0
    assert [progress[0].value, progress[1].value] == [0.5, None]
    assert math.isnan(progress[2].value)  # type: ignore[arg-type]


def _hold_lock(url: str, hold: float, log: str) -> None:
    with study_lock(parse_storage_url(url), "locked-study"):
        with open(log, "a") as handle:
            handle.write(f"in {time.time()}\n")
        time.sleep(hold)
        with open(log, "a") as handle:
            handle.write(f"out {time.time()}\n")


def test_study_lock_excludes_other_processes(storage_url: str, tmp_path: Path) -> None:
    open_storage(parse_storage_url(storage_url))  # create the schema / file
    ctx = multiprocessing.get_context("spawn")
    log = tmp_path / "log"
    procs = [ctx.Process(target=_hold_lock, args=(storage_url, 0.3, str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["in", "out"] * 3  # never two holders at once


def test_study_name_limit_is_checked_before_any_write(storage_url: str) -> None:
    with pytest.raises(StudyNameError, match="at most 512"):
        validate_study_name("x" * 513)
    storage = open_storage(parse_storage_url(storage_url))
    with pytest.raises(StudyNameError):
        create_or_load_study(storage, "y" * 600, "minimize")
    assert list_study_names(storage) == []


def test_default_storage_is_embedded_sqlite(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path / "home"))
    location = resolve_storage(None)
    assert location.source == "default"
    assert location.sqlite_path == (tmp_path / "home" / "hpsearch.db").resolve()
    assert location.default_checkpoint_root() == (tmp_path / "home" / "checkpoints").resolve()
    monkeypatch.setenv("HPSEARCH_STORAGE", "sqlite:///" + str(tmp_path / "env.db"))
    assert resolve_storage(None).source == "env"
    assert resolve_storage("sqlite:///" + str(tmp_path / "flag.db")).source == "flag"


def test_password_never_appears_in_messages() -> None:
    url = "postgresql://alice:pa55-w0rd-XYZ@127.0.0.1:1/nodb"
    location = parse_storage_url(url)
    assert "pa55-w0rd-XYZ" not in location.display
    assert "pa55-w0rd-XYZ" not in repr(location)
    with pytest.raises(StorageUnavailableError) as info:
        open_storage(location)
    assert "pa55-w0rd-XYZ" not in str(info.value)
    assert "cannot reach the database" in str(info.value)
    assert redact(f"oops {url}") == "oops postgresql://alice:***@127.0.0.1:1/nodb"


def test_unreachable_database_fails_fast_and_clearly() -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="Connection refused"):
        open_storage(parse_storage_url("postgresql://postgres@127.0.0.1:1/test"))
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "sqlite:///:memory:"])
def test_unsupported_urls_are_rejected(url: str) -> None:
    with pytest.raises(StorageURLError):
        parse_storage_url(url)


def test_optuna_sees_a_plain_study(storage_url: str) -> None:
    """No private tables: the study is an ordinary Optuna study."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "plain", "maximize").study
    study.set_user_attr("hpsearch.budget", 3)
    study.tell(study.ask(), 0.5)
    plain = optuna.load_study(
        study_name="plain", storage=storage_url.replace("postgresql://", "postgresql+psycopg2://")
    )
    assert plain.best_value == 0.5 and plain.user_attrs["hpsearch.budget"] == 3


def test_intermediate_values_are_written_as_optuna_writes_them(storage_url: str) -> None:
    """ResilientRDBStorage's lean report write: the rows Optuna's own write leaves (finite,
    infinite and NaN values; a step written again is overwritten), and Optuna's errors."""
    storage = open_storage(parse_storage_url(storage_url))
    study = create_or_load_study(storage, "reports", "maximize").study
    trial = study.ask()
    for step, value in ((1, 0.5), (2, float("inf")), (3, float("-inf")), (4, float("nan"))):
        trial.report(value, step)
    storage.set_trial_intermediate_value(trial_id_of(trial), 1, 0.75)  # the same step again
    plain = optuna.storages.RDBStorage(
        parse_storage_url(storage_url).url, skip_table_creation=True
    )  # Optuna's own reading
    values = plain.get_trial(trial_id_of(trial)).intermediate_values
    assert {k: v for k, v in values.items() if k != 4} == {1: 0.75, 2: math.inf, 3: -math.inf}
    assert math.isnan(values[4])
    study.tell(trial, 1.0)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_intermediate_value(trial_id_of(trial), 5, 0.1)
    with pytest.raises(KeyError):
        storage.set_trial_intermediate_value(10**9, 1, 0.1)
    plain.engine.dispose()
