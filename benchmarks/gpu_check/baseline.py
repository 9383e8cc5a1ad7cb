"""The baseline: the LoRA trial's configuration as a plain ``transformers.Trainer`` run.

No hpsearch code trains here: the data are read and packed with ``datasets`` and the tokenizer
(the same full-length blocks a packed hpsearch trial sees), the adapter is peft's, and the
schedule (steps, evaluations, checkpoints, best model at the end) is the trial's. Its tokens/s
is the yardstick for hpsearch's own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hpsearch.trainers import TrialConfig

__all__ = ["run_standalone"]


def _blocks(path: Path, tokenizer: Any, size: int, limit: int | None = None) -> Any:
    import datasets

    ids: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                break
            text = json.loads(line)["text"]
            ids += tokenizer(text, add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    blocks = [ids[i * size : (i + 1) * size] for i in range(len(ids) // size)]
    return datasets.Dataset.from_dict(
        {"input_ids": blocks, "attention_mask": [[1] * size for _ in blocks], "labels": blocks}
    )


def run_standalone(config: TrialConfig, out_dir: Path) -> dict[str, Any]:
    """Train ``config`` (a LoRA causal-LM trial) with a plain Trainer; tokens/s and memory."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    cuda = torch.cuda.is_available()
    model_dir = str(config.model.name_or_path)
    data_dir = Path(str(config.data.source))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    size = config.data.max_seq_length
    train = _blocks(data_dir / "train.jsonl", tokenizer, size)
    evaluation = _blocks(data_dir / "validation.jsonl", tokenizer, size)
    evaluation = evaluation.select(range(min(len(evaluation), config.data.max_eval_samples or 0)))
    bf16 = config.model.precision == "bf16"
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, attn_implementation=config.model.attn_implementation
    )
    model = get_peft_model(
        model, LoraConfig(task_type=TaskType.CAUSAL_LM, **dict(config.model.lora or {}))
    )
    sched, hp = config.schedule, config.hparams
    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=hp.per_device_train_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        per_device_eval_batch_size=hp.per_device_eval_batch_size,
        max_steps=sched.max_steps or -1,
        eval_strategy="steps",
        eval_steps=sched.eval_steps,
        save_strategy="steps",
        save_steps=sched.eval_steps,
        logging_steps=max(1, min(sched.eval_steps, 10)),
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        report_to="none",
        seed=hp.seed,
        bf16=bf16,
        use_cpu=not cuda,
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        log_level="warning",
        **dict(hp.training_args),
    )

    class Clock(TrainerCallback):
        started = 0.0

        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            Clock.started = time.perf_counter()

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True),
        processing_class=tokenizer,
        callbacks=[Clock()],
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    elapsed = max(time.perf_counter() - Clock.started, 1e-9)
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    out: dict[str, Any] = {
        "tokens": tokens,
        "train_wall_s": round(elapsed, 3),
        "tokens_per_s": round(tokens / elapsed, 1),
        "last_step": trainer.state.global_step,
    }
    if cuda:
        out["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    del trainer, model
    return out
