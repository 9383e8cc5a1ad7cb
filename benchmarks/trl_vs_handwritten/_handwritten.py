"""Turn raw records into model inputs: classification, plain text, prompt/completion, chat.

Causal-LM labels are the input ids; with ``completion_only_loss`` the prompt (or every
non-assistant turn of a chat) is masked with -100 so that only the completion is learnt.
``packing`` concatenates examples and cuts them into full ``max_seq_length`` blocks.
"""

from __future__ import annotations

from typing import Any

from hpsearch.trainers import DataConfig, DatasetError, RawData

IGNORE_INDEX = -100


def _chat_text(
    tokenizer: Any,
    messages: list[dict[str, str]],
    *,
    use_template: bool = True,
    add_generation_prompt: bool = False,
) -> str:
    if use_template and getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        )
    # No template (or switched off): a plain, documented fallback format.
    text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    if add_generation_prompt:
        text += "<|assistant|>\n"
    return text


def _encode_causal(
    tokenizer: Any, data: DataConfig, fmt: str, record: dict[str, Any]
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one record."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if fmt == "text":
        ids = tokenizer(str(record[data.text_field]), add_special_tokens=True)["input_ids"] + eos
        return ids, list(ids)
    if fmt == "prompt_completion":
        prompt_text, completion_text = (
            str(record[data.prompt_field]),
            str(record[data.completion_field]),
        )
        if data.chat_template and getattr(tokenizer, "chat_template", None):
            # the model's own chat format: the prompt as a user turn, the completion as the
            # assistant's answer
            turns = [{"role": "user", "content": prompt_text}]
            prompt = tokenizer(
                _chat_text(tokenizer, turns, add_generation_prompt=True), add_special_tokens=False
            )["input_ids"]
            full = tokenizer(
                _chat_text(tokenizer, [*turns, {"role": "assistant", "content": completion_text}]),
                add_special_tokens=False,
            )["input_ids"]
            completion = full[len(prompt) :]
        else:
            prompt = tokenizer(prompt_text, add_special_tokens=True)["input_ids"]
            completion = tokenizer(completion_text, add_special_tokens=False)["input_ids"] + eos
        labels = [IGNORE_INDEX] * len(prompt) if data.completion_only_loss else prompt
        return prompt + completion, labels + completion
    messages = record[data.messages_field]
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and "role" in m and "content" in m for m in messages
    ):
        raise DatasetError(
            f"column {data.messages_field!r} must hold lists of {{role, content}} messages"
        )
    template = data.chat_template
    ids = tokenizer(
        _chat_text(tokenizer, messages, use_template=template), add_special_tokens=False
    )["input_ids"]
    if not data.completion_only_loss:
        return ids, list(ids)
    labels = [IGNORE_INDEX] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(
            tokenizer(
                _chat_text(
                    tokenizer, messages[:i], use_template=template, add_generation_prompt=True
                ),
                add_special_tokens=False,
            )["input_ids"]
        )
        end = len(
            tokenizer(
                _chat_text(tokenizer, messages[: i + 1], use_template=template),
                add_special_tokens=False,
            )["input_ids"]
        )
        labels[start:end] = ids[start:end]
    return ids, labels


def _pack(
    ids: list[list[int]], labels: list[list[int]], size: int
) -> tuple[list[list[int]], list[list[int]]]:
    flat_ids = [t for seq in ids for t in seq]
    flat_labels = [t for seq in labels for t in seq]
    blocks = len(flat_ids) // size
    return (
        [flat_ids[i * size : (i + 1) * size] for i in range(blocks)],
        [flat_labels[i * size : (i + 1) * size] for i in range(blocks)],
    )


def tokenize(raw: RawData, tokenizer: Any, data: DataConfig) -> tuple[Any, Any]:
    """Tokenised (train, eval) ``datasets.Dataset`` objects ready for the Trainer."""
    import datasets

    if raw.format == "classification":

        def encode_cls(batch: dict[str, list[Any]]) -> dict[str, Any]:
            out = tokenizer(
                [str(t) for t in batch[data.text_field]],
                truncation=True,
                max_length=data.max_seq_length,
            )
            out["labels"] = batch[data.label_field]
            return dict(out)

        columns = raw.train.column_names
        return (
            raw.train.map(encode_cls, batched=True, remove_columns=columns),
            raw.eval.map(encode_cls, batched=True, remove_columns=raw.eval.column_names),
        )

    def encode_split(split: Any, pack: bool) -> Any:
        all_ids, all_labels = [], []
        for record in split:
            ids, labels = _encode_causal(tokenizer, data, raw.format, record)
            if not pack:
                ids, labels = ids[: data.max_seq_length], labels[: data.max_seq_length]
            if any(label != IGNORE_INDEX for label in labels):
                all_ids.append(ids)
                all_labels.append(labels)
        if pack:
            all_ids, all_labels = _pack(all_ids, all_labels, data.max_seq_length)
        if not all_ids:
            raise DatasetError(
                "no example has a token to learn from after tokenisation; "
                "check the text fields and max_seq_length"
            )
        return datasets.Dataset.from_dict(
            {
                "input_ids": all_ids,
                "attention_mask": [[1] * len(x) for x in all_ids],
                "labels": all_labels,
            }
        )

    return encode_split(raw.train, data.packing), encode_split(raw.eval, data.packing)


def collator(tokenizer: Any, fmt: str) -> Any:
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding

    if fmt == "classification":
        return DataCollatorWithPadding(tokenizer)
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, padding=True)
