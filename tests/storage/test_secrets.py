"""No database password in any message, display form, stored command or attribute.

Each password below is distinct, so a test can tell which form leaked. The check looks for
the decoded password, every percent-encoded spelling of it, and a distinctive core of it, so
a half-removed password is caught too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

import optuna
import pytest

from hpsearch.storage import (
    StorageURLError,
    create_or_load_study,
    display_command,
    open_storage,
    parse_storage_url,
    redact,
    storage_of,
    study_id_of,
    trial_id_of,
)


def spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}


def assert_no_secret(text: str, secret: str, core: str | None = None) -> None:
    for form in spellings(secret) | ({core} if core else set()):
        assert form not in text, (form, text)


# (storage value, decoded password, a distinctive core of the password)
MALFORMED = [
    ("postgresql://bob:Pw1-abc@127.0.0.1:abc/db", "Pw1-abc", "Pw1"),  # port not a number
    ("postgresql://bob:Pw2-xyz@127.0.0.1:/db", "Pw2-xyz", "Pw2"),  # empty port
    ("postgresql://bob:Pw3-range@127.0.0.1:99999/db", "Pw3-range", "Pw3"),  # port out of range
    ("host=127.0.0.1 password=Pw4-kw dbname=db", "Pw4-kw", "Pw4"),  # libpq keyword DSN
    ("host=h password='Pw5 quoted' dbname=d", "Pw5 quoted", "Pw5"),  # quoted DSN value
    ("mysql://bob:Pw6-my@127.0.0.1/db", "Pw6-my", "Pw6"),  # unknown scheme
    ("not a url bob:Pw7-loose@127.0.0.1", "Pw7-loose", "Pw7"),  # not a URL at all
    ("postgresql://bob:Pw8%zz@127.0.0.1/db", "Pw8%zz", "Pw8"),  # bad percent-escape
    ("postgresql://bob:Pw9%ff@127.0.0.1/db", "Pw9%ff", "Pw9"),  # escape that is not UTF-8
    ("postgresql://bob:PwA1@rest@127.0.0.1/db", "PwA1@rest", "rest"),  # unencoded '@'
    (
        "postgresql://bob:PwB-nohost@/db",
        "PwB-nohost",
        "PwB",
    ),  # no host: libpq's socket
    ("postgresql://bob:PwC-nodb@127.0.0.1:5432", "PwC-nodb", "PwC"),  # no database
    ("postgresql://bob@127.0.0.1/?password=PwD-q", "PwD-q", "PwD"),  # query form, no db
    ("postgres://bob:PwE-heroku@127.0.0.1/db", "PwE-heroku", "PwE"),  # Heroku-style scheme
]


@pytest.mark.parametrize(("url", "secret", "core"), MALFORMED)
def test_malformed_storage_values_are_one_clear_line_without_the_password(
    url: str, secret: str, core: str
) -> None:
    with pytest.raises(StorageURLError) as info:
        parse_storage_url(url)
    message = str(info.value)
    assert "\n" not in message and message
    assert_no_secret(message, secret, core)
    assert_no_secret(redact(f"error: {message} (from {url})"), secret, core)


@pytest.mark.parametrize("url", ["", "   ", "postgresql://", "postgresql://127.0.0.1"])
def test_incomplete_urls_name_what_is_missing(url: str) -> None:
    with pytest.raises(StorageURLError, match=r"empty|no host|no database"):
        parse_storage_url(url)


VALID = [
    ("postgresql://bob:Sekr3t-1@127.0.0.1:5432/db", "Sekr3t-1"),
    ("postgresql://bob:S%40kr%2F3t%25-2@127.0.0.1:5432/db", "S@kr/3t%-2"),  # percent-encoded
    ("postgresql://bob@127.0.0.1:5432/db?password=Qu3ry-3", "Qu3ry-3"),  # query string
    ("postgresql://bob@127.0.0.1:5432/db?sslmode=prefer&password=Qu%20ry-4", "Qu ry-4"),
    ("postgresql+psycopg2://bob@127.0.0.1/db?sslpassword=K3y-5", "K3y-5"),  # client key
    ("postgresql://bob@/db?host=/var/run/postgresql&password=S0ck-6", "S0ck-6"),  # socket
]


@pytest.mark.parametrize(("url", "secret"), VALID)
def test_every_spelling_of_a_password_is_removed(url: str, secret: str) -> None:
    location = parse_storage_url(url)
    assert_no_secret(location.display, secret)
    assert_no_secret(repr(location), secret)
    assert "127.0.0.1" in location.display or "run%2Fpostgresql" in location.display
    assert "db" in location.display  # the database is named in every message
    # the URL and the password, as typed or decoded, in any surrounding text
    assert_no_secret(redact(f"connect {url} failed; pw {secret} / {quote(secret)}"), secret)
    for argv in (["run", "--storage", url], [f"--storage={url}", "run"], ["run", "--sto", url]):
        assert_no_secret(display_command(argv), secret)


def test_the_stored_command_keeps_everything_but_the_password() -> None:
    url = "postgresql://bob:Sekr3t-7@127.0.0.1:5432/mydb"
    command = display_command(["run", "--space", "lora_small", "--storage", url, "--trials", "3"])
    assert command == (
        "hpsearch run --space lora_small --storage 'postgresql://bob:***@127.0.0.1:5432/mydb' "
        "--trials 3"
    )
    # a password too short to remove everywhere is still removed where it is a credential
    short = display_command(["run", "--storage", "postgresql://bob:xy@h/db?password=zq"])
    assert short == "hpsearch run --storage 'postgresql://bob:***@h/db?password=***'"


def test_unregistered_credentials_are_masked_by_shape() -> None:
    """A URL this process never parsed (an older study's note, another tool's message)."""
    text = (
        "was: postgresql://eve:N3ver-seen@db.example/x and host=h password=Kw-N3ver "
        "and ?user=a&password=Q-N3ver&x=1"
    )
    assert "N3ver" not in redact(text)
    assert "postgresql://eve:***@db.example/x" in redact(text)


def test_attributes_never_hold_a_password(tmp_path: Path) -> None:
    """Whatever text carries it (a command, a note, an error), no attribute written through
    hpsearch's storage holds the password: study and trial, user and system attributes."""
    parse_storage_url("postgresql://bob:Att-Sekr3t@127.0.0.1:5432/db")  # registers it
    db = tmp_path / "attrs.db"
    storage = open_storage(parse_storage_url(f"sqlite:///{db}"))
    study = create_or_load_study(storage, "s", "minimize").study
    leak = "failed on postgresql://bob:Att-Sekr3t@127.0.0.1:5432/db (Att-Sekr3t)"
    study.set_user_attr("command", leak)
    storage_of(study).set_study_system_attr(study_id_of(study), "note", {"body": [leak]})
    study.enqueue_trial({}, user_attrs={"warm_start": leak})
    trial = study.ask()
    trial.set_user_attr("fail_reason", leak)
    storage_of(study).set_trial_system_attr(trial_id_of(trial), "detail", leak)
    study.tell(trial, 1.0)
    conn = sqlite3.connect(db)
    try:
        rows = [
            str(row)
            for table in (
                "study_user_attributes",
                "study_system_attributes",
                "trial_user_attributes",
                "trial_system_attributes",
            )
            for row in conn.execute(f"SELECT * FROM {table}")
        ]
    finally:
        conn.close()
    assert len(rows) >= 5 and any("***" in row for row in rows)
    assert_no_secret("\n".join(rows), "Att-Sekr3t", "Sekr3t")
    plain = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert plain.user_attrs["command"].startswith("failed on postgresql://bob:***@")
