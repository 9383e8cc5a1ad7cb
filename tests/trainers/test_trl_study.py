"""A real TRL SFT study: chat data, completion-only loss, pruning, and resume after a kill.

A tiny Qwen3 built from a config trains on chat records through TRL's ``SFTTrainer`` inside
``hpsearch run`` (real PostgreSQL, real Ray). The first trial's worker is SIGKILLed mid-run
and its retry continues from the last committed checkpoint; a trial with a learning rate too
small to learn is pruned by the median pruner (the warm starts run in order: 0 is killed, 1
completes, 2 is pruned against it, 3 is 0's retry); the masks TRL builds for the same data are
checked on the labels its collator hands the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.trainers import DataConfig, load_tokenizer
from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants
from tests.trainers.helpers import sft_batch

pytestmark = pytest.mark.slow

GOOD_LR, OTHER_LR, TINY_LR = 5.0e-3, 3.0e-3, 1.0e-7

SPACE = f"""
name: trl-chat
trials: 3
sampler: {{type: random, seed: 3}}
pruner: {{type: median, n_startup_trials: 1}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: 2, heartbeat_interval: 1, grace_period: 6}}
warm_start:
  - {{learning_rate: {GOOD_LR}}}
  - {{learning_rate: {OTHER_LR}}}
  - {{learning_rate: {TINY_LR}}}
params:
  learning_rate: {{type: float, low: 1.0e-7, high: 1.0e-2, log: true}}
  effective_batch_size: 4
  per_device_train_batch_size: 4
  lr_scheduler_type: constant
  lora_r: 4
  lora_alpha: 8
  lora_dropout: 0.0
task:
  type: causal_lm
  model: {{model}}
  dataset: {{dataset}}
  completion_only_loss: true
  max_steps: 16
  eval_steps: 4
  max_seq_length: 64
  max_train_samples: 96
  max_eval_samples: 16
  per_device_eval_batch_size: 16
"""


@pytest.fixture(scope="module")
def chat_jsonl(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two-turn chats: a question about a Python topic, the topic's text as the answer."""
    from pydoc_data.topics import topics

    path = tmp_path_factory.mktemp("chat") / "chat.jsonl"
    rows = []
    for name in sorted(topics)[:120]:
        text = " ".join(topics[name].split())
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is the Python topic {name}?"},
                    {"role": "assistant", "content": text[:160]},
                ]
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


def test_the_masks_are_trls_on_the_study_data(tiny_qwen3: str, chat_jsonl: str) -> None:
    data = DataConfig(chat_jsonl, max_seq_length=64, completion_only_loss=True)
    trainer, batch = sft_batch(tiny_qwen3, data, per_device_train_batch_size=4)
    assert type(trainer.data_collator).__module__ == "trl.trainer.sft_trainer"
    assert trainer.args.assistant_only_loss and not trainer.args.completion_only_loss
    tokenizer = load_tokenizer(tiny_qwen3)
    for row in range(batch["input_ids"].shape[0]):
        ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
        real = batch["attention_mask"][row].tolist()
        learnt = [t for t, label in zip(ids, labels, strict=True) if label != -100]
        masked = [t for t, label, m in zip(ids, labels, real, strict=True) if m and label == -100]
        assert learnt and masked
        # labels equal the input ids where they are learnt (the model shifts them itself)
        assert all(label in (-100, t) for t, label in zip(ids, labels, strict=True))
        assert "what is the python topic" in tokenizer.decode(masked)
        assert "what is the python topic" not in tokenizer.decode(learnt)
        assert "<|user|>" not in tokenizer.decode(learnt).replace(" ", "")


def test_trl_sft_study_prunes_completes_and_resumes_after_a_kill(
    fresh_pg_url: str, tiny_qwen3: str, chat_jsonl: str, tmp_path: Path
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.replace("{model}", tiny_qwen3).replace("{dataset}", chat_jsonl))
    result = run_cli_process(
        *[
            "run",
            "--space",
            str(space),
            "--study",
            "trl",
            "--storage",
            fresh_pg_url,
            "--workers",
            "1",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
            "--no-live",
        ],
        # SIGKILL the first trial's worker at step 10: checkpoint 8 is its newest committed one
        env={"HPSEARCH_FAILPOINTS": "train.step=kill@step=10,trial=0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "trl")
    check_study_invariants(study, budget=3)
    by_state = {state: [t for t in study.trials if t.state == state] for state in TrialState}
    (killed,) = by_state[TrialState.FAIL]
    (pruned,) = by_state[TrialState.PRUNED]
    other, retry = sorted(by_state[TrialState.COMPLETE], key=lambda t: t.number)
    assert other.params == {"learning_rate": OTHER_LR} and "retry_of" not in other.user_attrs

    assert killed.number == 0 and killed.params == {"learning_rate": GOOD_LR}
    assert killed.user_attrs["retry_requested"] == "worker_lost"
    assert max(killed.intermediate_values) == 8
    assert retry.user_attrs["retry_of"] == 0 and retry.params == killed.params
    assert retry.user_attrs["resumed_from_checkpoint"].endswith(
        "trial-00000/checkpoints/checkpoint-8"
    )
    assert sorted(retry.intermediate_values) == [12, 16]  # continues, does not start over
    assert retry.intermediate_values[16] < killed.intermediate_values[4]

    assert pruned.params == {"learning_rate": TINY_LR}
    assert max(pruned.intermediate_values) < 16  # stopped before its last step
    assert "pruned by the search at step" in pruned.user_attrs["prune_reason"]

    for trial in (killed, other, retry, pruned):  # every trial trained through TRL's SFTTrainer
        sft = trial.user_attrs["sft"]
        assert sft["trainer"] == "trl.SFTTrainer" and sft["loss_mask"] == "assistant_only"
