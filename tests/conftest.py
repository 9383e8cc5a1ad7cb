"""Shared fixtures: a fresh PostgreSQL database per run, tiny models, small real datasets.

Tests talk to real parts: the PostgreSQL server at 127.0.0.1:5432 (CI starts it), real Ray,
real Hugging Face Trainer runs on tiny models built from a config. Nothing reaches the hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from benchmarks.common import create_db, drop_db
from tests.helpers import CliResult, cli_main, write_simulated_space

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Every Ray this test process starts (the cluster fixtures, in-process `hpsearch run`) is a
# single-machine one that listens on loopback. Ray reads this switch once, when it is first
# imported, and tests import Ray in-process before hpsearch does; hpsearch's own private Ray
# sets it by itself (tests/cluster/test_private_ray_loopback.py runs without it).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

PG_HOST = os.environ.get("HPSEARCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HPSEARCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HPSEARCH_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("HPSEARCH_TEST_PG_DB", "test")
ARTIFACTS = Path(
    os.environ.get(
        "HPSEARCH_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"
    )
)


ADMIN_URL = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"


def create_database(prefix: str = "hpsearch_test") -> str:
    """A new empty database on the test server (benchmarks.common's helper, the tests' server)."""
    return create_db(prefix, ADMIN_URL)


def drop_database(name: str) -> None:
    drop_db(name, ADMIN_URL)


def pg_url(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (dropped afterwards)."""
    name = create_database()
    yield name
    drop_database(name)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = create_database()
    yield pg_url(name)
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against the embedded SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
    else:
        name = create_database()
        yield pg_url(name)
        drop_database(name)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the developer's ~/.hpsearch or $HPSEARCH_STORAGE."""
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path / "hpsearch-home"))
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("HPSEARCH_FAILPOINTS", raising=False)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# -- tiny models built from a config (no download) ---------------------------------------


def _tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from hpsearch.trainers import demo_model_path

    tokenizer = AutoTokenizer.from_pretrained(demo_model_path())
    tokenizer.eos_token = "[SEP]"
    # the assistant's tokens are marked ({% generation %}), as in TRL's training templates
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> "
        "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }} [SEP] "
        "{% endgeneration %}{% else %}{{ m['content'] }} [SEP] {% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    return tokenizer


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer Qwen3 causal LM folder (random weights) with a real WordPiece tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    path = tmp_path_factory.mktemp("tiny-qwen3")
    tokenizer = _tokenizer()
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT encoder folder (random weights) for classification trials."""
    import torch
    from transformers import AutoModel, BertConfig

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


# -- small real datasets ------------------------------------------------------------------


def _topic_texts() -> list[tuple[str, str]]:
    from pydoc_data.topics import topics

    out = []
    for name in sorted(topics):
        text = " ".join(topics[name].split())
        for i in range(0, min(len(text), 1600), 400):
            out.append((name, text[i : i + 400]))
    return out


@pytest.fixture(scope="session")
def text_jsonl(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Plain-text records from Python's own ``pydoc_data.topics`` (real English text)."""
    path = tmp_path_factory.mktemp("data") / "topics.jsonl"
    with open(path, "w") as handle:
        for _, text in _topic_texts()[:240]:
            handle.write(json.dumps({"text": text}) + "\n")
    return str(path)


@pytest.fixture(scope="session")
def prompt_completion_jsonl(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "pc.jsonl"
    with open(path, "w") as handle:
        for name, text in _topic_texts()[:160]:
            handle.write(
                json.dumps(
                    {"prompt": f"Explain the Python topic {name}:", "completion": text[:200]}
                )
                + "\n"
            )
    return str(path)


@pytest.fixture(scope="session")
def classification_jsonl(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Docstring -> package records from the demo task, as a user's jsonl file."""
    from hpsearch.trainers import DEMO_PACKAGES, demo_records

    path = tmp_path_factory.mktemp("data") / "cls.jsonl"
    train, evaluation, _ = demo_records(0)
    with open(path, "w") as handle:
        for record in list(train[:160]) + list(evaluation[:40]):
            handle.write(
                json.dumps({"text": record["text"], "label": DEMO_PACKAGES[int(record["label"])]})
                + "\n"
            )
    return str(path)


# -- one simulated-space factory, one CLI runner, one run_study ------------------------------
@pytest.fixture
def sim_space(tmp_path: Path) -> Callable[..., str]:
    """``sim_space(**changes)``: the path of a simulated space YAML written in ``tmp_path``
    (tests/helpers.py: :func:`~tests.helpers.write_simulated_space`)."""

    def write(**changes: Any) -> str:
        return write_simulated_space(tmp_path, **changes)

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli("run", "--space", ...)``: ``hpsearch`` in this process, its code, stdout, stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = cli_main(*args)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_study(fresh_pg_url: str, tmp_path: Path) -> Callable[..., optuna.Study]:
    """``run_study(space=None, study="sim", **options)``: a study run through the Python API
    (``hpsearch.search.run``) on a fresh PostgreSQL database, checkpoints under ``tmp_path``;
    the default space is the simulated one."""

    def run(space: Any = None, *, study: str = "sim", **options: Any) -> optuna.Study:
        from hpsearch.search import run as run_api

        options.setdefault("storage", fresh_pg_url)
        options.setdefault("checkpoint_dir", tmp_path / "checkpoints")
        space = space if space is not None else write_simulated_space(tmp_path)
        return run_api(space, study=study, **options)

    return run
