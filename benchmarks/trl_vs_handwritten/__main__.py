"""TRL's SFTTrainer vs the hand-written causal-LM path it replaced, side by side in one run.

``python -m benchmarks.trl_vs_handwritten [--steps N] [--repeats R] [--smoke]``

The task is the CPU demo's size on a causal LM: a 2-layer Qwen3 built from a config (random
weights, the demo's MiniLM WordPiece tokenizer, no download), records from Python's own
``pydoc_data.topics``, full fine-tuning. Two data settings: prompt/completion chat records with
completion-only loss, and plain text with packing (the shipped strategy, and TRL's best-fit
``bfd`` and ``bfd_split`` on the TRL path). Each path trains the same model from the
same weights with the same shipped ``build_training_args`` (``TrainingArguments`` for the
hand-written path, ``SFTConfig`` for TRL's), alternating which runs first in each repeat:

* ``handwritten``: the tokeniser, masks and packing hpsearch shipped before TRL
  (``_handwritten.py``, a frozen copy of the old ``trainers/_tokenize.py``), padded by
  ``DataCollatorForSeq2Seq``, trained by ``HpsTrainer``;
* ``trl``: the shipped path, ``hpsearch.trainers._sft`` (``sft_data``, ``HpsSFTTrainer``):
  TRL formats, masks, packs (its ``wrapped`` strategy unless a setting names another) and
  collates.

Printed per setting and path: training tokens/s (non-padding input tokens the model saw per
second of ``trainer.train``, the Trainer's own ``num_input_tokens_seen``; the timed ``train``
runs no evaluation), the same per
CPU-second of this process (steadier than wall-clock time on a shared machine), the final eval
loss each path's own eval split gives (what a study's objective sees), the eval loss of both
trained models on the same blocks (the hand-written path's eval split), and the medians over
repeats. Repeat ``r`` trains both paths with seed ``r`` (data order), from the same weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.common import machine, markdown_table, versions

WARMUP_STEPS = 3  # steps left out of the steady-state rates
SETTINGS = {
    "chat prompt/completion, completion-only loss": {
        "format": "prompt_completion",
        "completion_only_loss": True,
    },
    # the shipped packing: TRL's wrapped strategy (concatenate and cut, as the hand-written)
    "plain text, packing": {"format": "text", "packing": True},
    # TRL's own default: best-fit decreasing, padding-free; a document longer than a block is
    # truncated
    "plain text, packing bfd": {
        "format": "text",
        "packing": True,
        "trl": {"packing_strategy": "bfd"},
    },
    # best-fit decreasing that splits an overlong document over blocks (no token dropped)
    "plain text, packing bfd_split": {
        "format": "text",
        "packing": True,
        "trl": {"packing_strategy": "bfd_split"},
    },
}


def _write_data(folder: Path) -> dict[str, str]:
    from pydoc_data.topics import topics

    chunks = []
    for name in sorted(topics):
        text = " ".join(topics[name].split())
        chunks += [(name, text[i : i + 400]) for i in range(0, min(len(text), 1600), 400)]
    text_path, pc_path = folder / "text.jsonl", folder / "pc.jsonl"
    text_path.write_text("\n".join(json.dumps({"text": t}) for _, t in chunks))
    pc_path.write_text(
        "\n".join(
            json.dumps({"prompt": f"Explain the Python topic {n}:", "completion": t[:200]})
            for n, t in chunks
        )
    )
    return {"text": str(text_path), "prompt_completion": str(pc_path)}


def _write_model(folder: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    from hpsearch.trainers import demo_model_path

    tokenizer = AutoTokenizer.from_pretrained(demo_model_path())
    tokenizer.eos_token = "[SEP]"
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> "
        "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }} [SEP] "
        "{% endgeneration %}{% else %}{{ m['content'] }} [SEP] {% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    torch.manual_seed(0)
    path = folder / "qwen3-tiny"
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _config(
    model: str, dataset: str, setting: dict[str, Any], steps: int, out: Path, seed: int
) -> Any:
    from hpsearch.trainers import (
        DataConfig,
        HyperParams,
        ModelConfig,
        RunPaths,
        ScheduleConfig,
        TrialConfig,
    )

    return TrialConfig(
        run_name="bench-0",
        model=ModelConfig(model, "causal_lm", "full", precision="fp32"),
        data=DataConfig(
            dataset,
            max_seq_length=128,
            max_train_samples=480,
            max_eval_samples=64,
            completion_only_loss=setting.get("completion_only_loss", False),
            packing=setting.get("packing", False),
        ),
        schedule=ScheduleConfig(max_steps=steps, eval_steps=steps, metric="eval_loss"),
        hparams=HyperParams(
            per_device_train_batch_size=8,
            gradient_accumulation_steps=1,
            per_device_eval_batch_size=32,
            seed=seed,
            training_args={"learning_rate": 1e-3, "lr_scheduler_type": "constant"},
        ),
        paths=RunPaths(str(out / "ckpt"), str(out / "final")),
        cpus=2,
    )


def _run(path_name: str, config: Any, trl_arguments: dict[str, Any]) -> dict[str, float]:
    import torch
    from transformers import (
        DataCollatorForSeq2Seq,
        IntervalStrategy,
        PrinterCallback,
        TrainerCallback,
        set_seed,
    )

    from benchmarks.trl_vs_handwritten import _handwritten
    from hpsearch.trainers import (
        HpsSFTTrainer,
        HpsTrainer,
        adapt,
        build_training_args,
        load_model,
        load_raw,
        load_tokenizer,
        select_precision,
        sft_data,
    )

    torch.set_num_threads(max(1, int(config.cpus)))
    precision = select_precision("fp32")
    tokenizer = load_tokenizer(config.model.name_or_path)
    raw = load_raw(config.data, "causal_lm")
    base, new_modules = load_model(
        config.model.name_or_path, config.model, num_labels=None, label_names=None
    )
    set_seed(config.hparams.seed)
    net = adapt(base, config.model, new_modules=new_modules)
    # no checkpoints: the comparison is training and evaluation, not disk writes
    args_config = replace(config, schedule=replace(config.schedule, checkpoint_every=10**6))
    if path_name == "handwritten":
        train, evaluation = _handwritten.tokenize(raw, tokenizer, config.data)
        args = build_training_args(args_config, precision)
        trainer: Any = HpsTrainer(
            model=net,
            args=args,
            train_dataset=train,
            eval_dataset=evaluation,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True),
            processing_class=tokenizer,
        )
    else:
        sft = sft_data(raw, tokenizer, config.data)
        trainer = HpsSFTTrainer(
            model=net,
            args=build_training_args(args_config, precision, {**sft.arguments, **trl_arguments}),
            train_dataset=sft.train,
            eval_dataset=sft.eval,
            processing_class=sft.tokenizer,
        )
    trainer.args.load_best_model_at_end = False
    trainer.args.save_strategy = "no"
    # the timed train() is training only; the evaluation runs (and is timed) after it
    trainer.args.eval_strategy = IntervalStrategy.NO
    trainer.remove_callback(PrinterCallback)
    marks: list[tuple[int, float, float]] = []  # (tokens seen, wall s, CPU s) after each step

    class StepMarks(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            marks.append((state.num_input_tokens_seen, time.perf_counter(), time.process_time()))

    trainer.add_callback(StepMarks())
    started, cpu_started = time.perf_counter(), time.process_time()
    trainer.train()
    train_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    # the Trainer's own count of the non-padding tokens it trained on (attention_mask, or input
    # ids that are not padding in a padding-free batch); the collator also builds the batch the
    # loop fetches ahead, one more than is trained on
    train_tokens = int(trainer.state.num_input_tokens_seen)
    eval_started = time.perf_counter()
    loss = trainer.evaluate()["eval_loss"]
    eval_s = time.perf_counter() - eval_started
    _, shared_blocks = _handwritten.tokenize(raw, tokenizer, config.data)
    # the steady state: from the end of step WARMUP_STEPS to the last (first steps allocate)
    first, last = marks[min(WARMUP_STEPS, len(marks) - 2)], marks[-1]
    return {
        "steady_tokens_per_s": (last[0] - first[0]) / (last[1] - first[1]),
        "steady_tokens_per_cpu_s": (last[0] - first[0]) / (last[2] - first[2]),
        "shared_eval_loss": _token_loss(trainer.model, shared_blocks, tokenizer),
        "tokens_per_s": train_tokens / train_s,
        "tokens_per_cpu_s": train_tokens / cpu_s,
        "eval_loss": float(loss),
        "train_s": train_s,
        "train_tokens": train_tokens,
        "eval_s": eval_s,
    }


def _token_loss(model: Any, blocks: Any, tokenizer: Any) -> float:
    """Mean next-token loss per labelled token on fixed blocks (the same for both paths):
    transformers' own causal-LM loss of each batch (a mean over its labelled tokens),
    weighted by that batch's labelled tokens."""
    import torch
    from transformers import DataCollatorForSeq2Seq

    collate = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(blocks), 16):
            batch = collate([blocks[i] for i in range(start, min(start + 16, len(blocks)))])
            labelled = int((batch["labels"][:, 1:] != -100).sum())  # the shifted targets
            total += float(model(**batch).loss) * labelled
            count += labelled
    return total / count


def _paired_summary(setting_name: str, results: dict[tuple[str, str], list[Any]]) -> str:
    """TRL against the hand-written path, repeat by repeat (same seed, run back to back)."""
    pairs = list(
        zip(results[(setting_name, "trl")], results[(setting_name, "handwritten")], strict=True)
    )

    def ratios(key: str) -> list[float]:
        return sorted(t[key] / h[key] for t, h in pairs)

    wall, steady = ratios("tokens_per_s"), ratios("steady_tokens_per_cpu_s")
    deltas = [t["shared_eval_loss"] - h["shared_eval_loss"] for t, h in pairs]
    return (
        f"{setting_name}: trl / handwritten per repeat: tokens/s median "
        f"{statistics.median(wall):.3f} (range {wall[0]:.3f}..{wall[-1]:.3f}, trl faster in "
        f"{sum(r > 1 for r in wall)} of {len(wall)}); steady tokens/CPU-s median "
        f"{statistics.median(steady):.3f} (range {steady[0]:.3f}..{steady[-1]:.3f}); "
        f"shared-blocks eval loss trl - handwritten: mean {statistics.mean(deltas):+.4f} "
        f"(range {min(deltas):+.4f}..{max(deltas):+.4f})"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trl_vs_handwritten")
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per path and setting")
    parser.add_argument("--smoke", action="store_true", help="4 steps, 1 repeat")
    parser.add_argument(
        "--setting",
        action="append",
        choices=sorted(SETTINGS),
        help="run only this data setting (repeatable; default: all)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    steps, repeats = (4, 1) if args.smoke else (args.steps, args.repeats)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hps-trl-bench-") as tmp:
        folder = Path(tmp)
        data, model = _write_data(folder), _write_model(folder)
        for setting_name in args.setting or list(SETTINGS):
            setting = SETTINGS[setting_name]
            for repeat in range(repeats):
                order = ("handwritten", "trl") if repeat % 2 == 0 else ("trl", "handwritten")
                for path_name in order:
                    out = folder / f"run-{len(results)}-{repeat}-{path_name}"
                    config = _config(model, data[setting["format"]], setting, steps, out, repeat)
                    result = _run(path_name, config, setting.get("trl", {}))
                    results.setdefault((setting_name, path_name), []).append(result)
                    print(
                        f"{setting_name} | {path_name} | repeat {repeat}: "
                        f"{result['tokens_per_s']:.0f} tokens/s, "
                        f"{result['tokens_per_cpu_s']:.0f} tokens/CPU-s "
                        f"(steady {result['steady_tokens_per_s']:.0f} tokens/s, "
                        f"{result['steady_tokens_per_cpu_s']:.0f} tokens/CPU-s), "
                        f"eval_loss {result['eval_loss']:.4f}, "
                        f"shared eval loss {result['shared_eval_loss']:.4f}, "
                        f"{result['train_tokens']} tokens in {result['train_s']:.1f} s, "
                        f"eval {result['eval_s']:.1f} s",
                        file=sys.stderr,
                    )
    rows = []
    for (setting_name, path_name), runs in results.items():
        rows.append(
            [
                setting_name,
                path_name,
                f"{statistics.median(r['tokens_per_s'] for r in runs):.0f}",
                f"{statistics.median(r['tokens_per_cpu_s'] for r in runs):.0f}",
                f"{statistics.median(r['steady_tokens_per_cpu_s'] for r in runs):.0f}",
                f"{statistics.median(r['eval_loss'] for r in runs):.4f}",
                f"{statistics.median(r['shared_eval_loss'] for r in runs):.4f}",
                f"{statistics.median(r['train_tokens'] for r in runs):.0f}",
                f"{statistics.median(r['eval_s'] for r in runs):.1f}",
                ", ".join(f"{r['tokens_per_s']:.0f}" for r in runs),
                ", ".join(f"{r['eval_loss']:.4f}" for r in runs),
            ]
        )
    print(
        markdown_table(
            [
                "setting",
                "path",
                "tokens/s (median)",
                "tokens/CPU-s (median)",
                "steady tokens/CPU-s (median)",
                "eval loss (median)",
                "shared-blocks eval loss (median)",
                "training tokens",
                "eval s (median)",
                "tokens/s per run",
                "eval loss per run",
            ],
            rows,
        )
    )
    for setting_name in args.setting or list(SETTINGS):
        print(_paired_summary(setting_name, results))
    print(
        f"\n{steps} steps x batch 8, max_seq_length 128, {repeats} repeats; {machine()}; "
        f"{date.today().isoformat()}; {versions('torch', 'transformers', 'trl', 'peft')}; "
        f"{time.perf_counter() - wall:.0f} s wall clock"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
