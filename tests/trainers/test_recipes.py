"""Every fine-tuning knob reaches the Trainer and the model (issue: the guides' recipes)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.trainers import (
    DataConfig,
    MemoryEstimateError,
    NullReporter,
    UnsupportedHardwareError,
    demo_model_path,
    estimate_memory,
    load_raw,
    load_tokenizer,
    lr_multipliers,
    runner_for,
)
from tests.trainers.helpers import causal_config, sft_batch


def _run(config):  # type: ignore[no-untyped-def]
    reporter = NullReporter()
    result = runner_for(config.model.task_type).run(config, reporter)
    record = json.loads((Path(result.final_dir) / "hpsearch_trial.json").read_text())
    return reporter, result, record


def test_training_knobs_reach_the_trainer(tiny_qwen3: str, text_jsonl: str, tmp_path: Path) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    knobs = {
        "learning_rate": 3e-4,
        "warmup_ratio": 0.1,
        "weight_decay": 0.05,
        "lr_scheduler_type": "cosine",
        "max_grad_norm": 0.7,
        "optim": "adafactor",
        "gradient_checkpointing": True,
        "adam_beta2": 0.98,
    }
    config = replace(
        config, hparams=replace(config.hparams, training_args=knobs, gradient_accumulation_steps=2)
    )
    reporter, _, record = _run(config)
    args = record["training_arguments"]
    assert args["learning_rate"] == 3e-4 and args["weight_decay"] == 0.05
    assert args["warmup_steps"] == 0.1  # transformers 5 takes the ratio as a fraction < 1
    assert args["lr_scheduler_type"] == "cosine" and args["max_grad_norm"] == 0.7
    assert args["gradient_accumulation_steps"] == 2 and args["adam_beta2"] == 0.98
    assert reporter.attrs["optimizer"] == "Adafactor"
    assert reporter.attrs["gradient_checkpointing"] is True
    assert reporter.attrs["lr_scheduler"] == "LambdaLR"


def test_lora_modules_and_attention_from_the_space(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(
        config,
        model=replace(
            config.model,
            attn_implementation="eager",
            lora={
                "r": 8,
                "lora_alpha": 32,
                "lora_dropout": 0.1,
                "target_modules": ["q_proj", "v_proj"],
            },
        ),
    )
    reporter, _, record = _run(config)
    lora = record["lora_config"]["default"]
    assert (lora["r"], lora["lora_alpha"], lora["lora_dropout"]) == (8, 32, 0.1)
    assert set(lora["target_modules"]) == {"q_proj", "v_proj"}
    assert reporter.attrs["attn_implementation"] == "eager"
    assert reporter.attrs["lora_modules"] == 4  # q_proj and v_proj in each of 2 layers
    all_linear = replace(
        config,
        model=replace(config.model, lora={"r": 4, "target_modules": "all-linear"}),
        paths=replace(
            config.paths, final_dir=str(tmp_path / "f2"), checkpoints_dir=str(tmp_path / "c2")
        ),
    )
    reporter, _, _ = _run(all_linear)
    assert reporter.attrs["lora_modules"] == 14  # 7 projections x 2 layers, lm_head excluded


def test_full_fine_tuning_trains_every_weight_in_fp32(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(config, model=replace(config.model, method="full", lora=None))
    reporter, _, record = _run(config)
    assert reporter.attrs["trainable_params"] == reporter.attrs["total_params"]
    assert reporter.attrs["model_dtype"] == "torch.float32"
    assert record["lora_config"] is None


def test_precision_auto_is_fp32_on_cpu_and_bf16_reaches_the_trainer(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    reporter, _, record = _run(replace(config, model=replace(config.model, precision="auto")))
    assert reporter.attrs["precision"] == "fp32"
    assert not record["training_arguments"]["bf16"]
    bf16 = replace(
        config,
        model=replace(config.model, precision="bf16"),
        paths=replace(
            config.paths, final_dir=str(tmp_path / "f2"), checkpoints_dir=str(tmp_path / "c2")
        ),
    )
    reporter, _, record = _run(bf16)
    assert record["training_arguments"]["bf16"] is True
    assert reporter.attrs["model_dtype"] == "torch.bfloat16"  # LoRA base in the compute dtype


@pytest.mark.parametrize(
    ("method", "optim", "needle"),
    [
        ("qlora", "adamw_torch", "QLoRA"),
        ("lora", "adamw_bnb_8bit", "adamw_bnb_8bit"),
        ("lora", "paged_adamw_8bit", "paged_adamw_8bit"),
    ],
)
def test_qlora_and_8bit_optimizers_fail_clearly_without_cuda(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path, method: str, optim: str, needle: str
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(
        config,
        model=replace(config.model, method=method),
        hparams=replace(config.hparams, training_args={"optim": optim}),
    )
    with pytest.raises(UnsupportedHardwareError, match=f"{needle}.*CUDA") as info:
        runner_for("causal_lm").run(config, NullReporter())
    assert "no CUDA device" in str(info.value)


def _spans(batch, row: int) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    """Token ids of one collated row: (masked, learnt), padding left out."""
    ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
    mask = batch["attention_mask"][row].tolist()
    masked = [t for t, label, m in zip(ids, labels, mask, strict=True) if m and label == -100]
    learnt = [t for t, label in zip(ids, labels, strict=True) if label != -100]
    return masked, learnt


def test_completion_only_loss_masks_the_prompt(
    tiny_qwen3: str, prompt_completion_jsonl: str
) -> None:
    """The masks are TRL's: asserted on the labels its collator hands the model."""
    tokenizer = load_tokenizer(tiny_qwen3)
    for chat_template in (False, True):
        data = DataConfig(
            prompt_completion_jsonl,
            max_seq_length=128,
            completion_only_loss=True,
            chat_template=chat_template,
        )
        trainer, batch = sft_batch(tiny_qwen3, data)
        assert type(trainer.data_collator).__module__.startswith("trl.")
        labels = batch["labels"][0].tolist()
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label == -100 for label in labels[:first])  # a prefix: the prompt
        masked, learnt = _spans(batch, 0)
        prompt_text, completion_text = tokenizer.decode(masked), tokenizer.decode(learnt)
        assert "explain the python topic" in prompt_text.lower()
        assert "explain the python topic" not in completion_text.lower()
        assert len(learnt) > 5
        # with the model's chat template the prompt ends in the assistant header
        assert ("<|assistant|>" in prompt_text.replace(" ", "")) == chat_template
        _, batch_all = sft_batch(tiny_qwen3, replace(data, completion_only_loss=False))
        real = batch_all["attention_mask"][0].bool()
        assert (batch_all["labels"][0][real] != -100).all()


def test_chat_messages_learn_only_the_assistant_turns(tiny_qwen3: str, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer number {i}"},
                {"role": "user", "content": f"again {i}"},
                {"role": "assistant", "content": f"second reply {i}"},
            ]
        }
        for i in range(20)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    tokenizer = load_tokenizer(tiny_qwen3)
    for chat_template in (True, False):  # the model's template; hpsearch's plain format
        data = DataConfig(
            str(path), max_seq_length=64, completion_only_loss=True, chat_template=chat_template
        )
        assert load_raw(data, "causal_lm").format == "messages"
        trainer, batch = sft_batch(tiny_qwen3, data)
        assert trainer.args.assistant_only_loss is True
        masked, learnt = _spans(batch, 0)
        text = tokenizer.decode(learnt)
        assert "answer number" in text and "second reply" in text, text
        assert "question" not in text and "again" not in text, text
        assert "question" in tokenizer.decode(masked)


def test_chat_without_marked_template_fails_clearly(tiny_qwen3: str, tmp_path: Path) -> None:
    from hpsearch.trainers import ConfigError, sft_data

    path = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    path.write_text("\n".join(json.dumps(r) for r in rows * 8))
    tokenizer = load_tokenizer(tiny_qwen3)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    data = DataConfig(str(path), completion_only_loss=True)
    with pytest.raises(ConfigError, match=r"generation.*chat_template to false"):
        sft_data(load_raw(data, "causal_lm"), tokenizer, data)


def test_packing_fills_blocks_and_batches_padding_free(tiny_qwen3: str, text_jsonl: str) -> None:
    data = DataConfig(text_jsonl, max_seq_length=64, packing=True, max_train_samples=40)
    # a task's packing is TRL's wrapped strategy (concatenate and cut) unless the space says
    trainer, batch = sft_batch(tiny_qwen3, data)
    assert trainer.args.packing_strategy == "wrapped" and not trainer.padding_free
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    assert set(lengths[:-1]) == {64} and lengths[-1] <= 64  # TRL keeps the last, shorter block
    assert batch["input_ids"].shape == (2, 64)
    # the space's packing_strategy wins: best-fit packing batches without padding, one row
    trainer, batch = sft_batch(tiny_qwen3, data, packing_strategy="bfd")
    assert trainer.padding_free and batch["input_ids"].shape[0] == 1
    assert (
        "attention_mask" not in batch
        and int(batch["cu_seq_lens_q"][-1]) == batch["input_ids"].shape[1]
    )
    assert max(len(ids) for ids in trainer.train_dataset["input_ids"]) <= 64


def test_layer_wise_learning_rates() -> None:
    names = [
        "model.embed_tokens.weight",
        "model.layers.0.mlp.up_proj.lora_A.weight",
        "model.layers.1.mlp.up_proj.lora_A.weight",
        "score.modules_to_save.weight",
    ]
    mults = lr_multipliers(
        names, new_modules=("score",), head_lr_multiplier=10.0, layer_lr_decay=0.5
    )
    # the top layer decays least: layer i of L gets decay ** (L - i), embeddings decay ** (L + 1)
    assert mults == {names[0]: 0.125, names[1]: 0.25, names[2]: 0.5, names[3]: 10.0}


def test_layer_wise_rates_reach_the_optimizer(
    tiny_bert: str, classification_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_bert, classification_jsonl, tmp_path)
    config = replace(
        config,
        model=replace(config.model, task_type="classification"),
        hparams=replace(
            config.hparams,
            head_lr_multiplier=20.0,
            layer_lr_decay=0.8,
            training_args={"learning_rate": 1e-3},
        ),
    )
    reporter, _, _ = _run(config)
    groups = reporter.attrs["lr_groups"]
    assert "20.0" in groups  # the new classification head
    assert {"0.8", "0.64"} <= set(groups)  # the two layers, decayed by depth


def test_memory_estimator_rejects_what_cannot_fit(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    small = estimate_memory(config, tiny_qwen3, num_labels=None, compute_dtype="fp32")
    bigger = estimate_memory(
        replace(config, hparams=replace(config.hparams, per_device_train_batch_size=64)),
        tiny_qwen3,
        num_labels=None,
        compute_dtype="fp32",
    )
    assert bigger.activations_gb > small.activations_gb * 10
    # gradient checkpointing keeps only layer inputs (6-layer MiniLM: far less memory)
    minilm = replace(
        config,
        model=replace(config.model, task_type="classification"),
        hparams=replace(config.hparams, per_device_train_batch_size=64),
    )
    plain = estimate_memory(minilm, demo_model_path(), num_labels=8, compute_dtype="fp32")
    checkpointed = estimate_memory(
        replace(
            minilm, hparams=replace(minilm.hparams, training_args={"gradient_checkpointing": True})
        ),
        demo_model_path(),
        num_labels=8,
        compute_dtype="fp32",
    )
    assert checkpointed.activations_gb < 0.6 * plain.activations_gb
    full = estimate_memory(
        replace(config, model=replace(config.model, method="full")),
        tiny_qwen3,
        num_labels=None,
        compute_dtype="fp32",
    )
    assert full.optimizer_gb > small.optimizer_gb * 10
    limit = (small.total_gb + bigger.total_gb) / 2  # the small one fits, the big one does not
    fits = replace(config, memory_limit_gb=limit)
    reporter = NullReporter()
    runner_for("causal_lm").run(fits, reporter)
    assert reporter.attrs["memory_estimate_gb"] == pytest.approx(small.total_gb, abs=1e-6)
    too_big = replace(
        fits,
        hparams=replace(fits.hparams, per_device_train_batch_size=64),
        paths=replace(
            fits.paths, final_dir=str(tmp_path / "f2"), checkpoints_dir=str(tmp_path / "c2")
        ),
    )
    with pytest.raises(MemoryEstimateError, match="exceeds the"):
        runner_for("causal_lm").run(too_big, NullReporter())
    assert not (tmp_path / "c2").exists()  # rejected before training started


def test_tensorboard_runs_are_named_after_study_and_trial(
    tiny_qwen3: str, text_jsonl: str, tmp_path: Path
) -> None:
    config = causal_config(tiny_qwen3, text_jsonl, tmp_path)
    config = replace(
        config,
        run_name="mystudy-7",
        report_to=("tensorboard",),
        paths=replace(config.paths, logging_dir=str(tmp_path / "tb" / "mystudy-7")),
    )
    _, _, record = _run(config)
    assert record["training_arguments"]["report_to"] == ["tensorboard"]
    assert record["training_arguments"]["run_name"] == "mystudy-7"
    events = list((tmp_path / "tb" / "mystudy-7").glob("events.out.tfevents.*"))
    assert events, "TensorBoard wrote no event file for the named run"
