"""Conversation data for training: JSONL in, tokenised examples with a response-only label mask out.

A line is either `{"messages": [{"role": …, "content": …}, …]}` ending with the assistant's turn, or
`{"prompt": "…", "response": "…"}`. Bad lines are reported with their line number and field; the whole file is
checked before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl

IGNORE = -100
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Conversation:
    """The prompt turns and the response the model learns to give."""

    prompt: list[dict[str, str]]
    response: str


def _conversation(record: object, line: int) -> Conversation:
    where = f"line {line}"
    if not isinstance(record, dict):
        raise InvalidRequestError(f"{where}: expected a JSON object", param=where)
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            raise InvalidRequestError(
                f"{where}: messages must be a list of at least two turns", param=f"{where}.messages"
            )
        for index, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or message.get("role") not in ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise InvalidRequestError(
                    f"{where}: messages[{index}] needs a role in {', '.join(ROLES)} and a string content",
                    param=f"{where}.messages[{index}]",
                )
        if messages[-1]["role"] != "assistant":
            raise InvalidRequestError(f"{where}: the last message must be the assistant's", param=f"{where}.messages")
        return Conversation([dict(m) for m in messages[:-1]], messages[-1]["content"])
    for field in ("prompt", "response"):
        if not isinstance(record.get(field), str):
            raise InvalidRequestError(f"{where}: {field} must be a string (or give messages)", param=f"{where}.{field}")
    return Conversation([{"role": "user", "content": record["prompt"]}], record["response"])


def read_conversations(path: Path, require_response: bool = True) -> list[Conversation]:
    """Every conversation of a JSONL file; an error names the first bad line and field."""
    conversations = []
    for number, record in read_jsonl(path, "example"):
        if not require_response and isinstance(record, dict) and "prompt" in record and "response" not in record:
            record = {**record, "response": ""}
        conversations.append(_conversation(record, number))
    return conversations


def encode(
    conversation: Conversation, tokenizer: PreTrainedTokenizerBase, max_length: int, include_prompt: bool = False
) -> dict[str, list[int]]:
    """input_ids and labels (prompt tokens set to IGNORE unless `include_prompt`), truncated to max_length."""
    if tokenizer.chat_template is not None:
        prompt_text = tokenizer.apply_chat_template(conversation.prompt, add_generation_prompt=True, tokenize=False)
    else:
        prompt_text = "\n".join(turn["content"] for turn in conversation.prompt) + "\n"
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    response = tokenizer(conversation.response, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response = response + [tokenizer.eos_token_id]
    ids = (prompt + response)[:max_length]
    labels = (prompt if include_prompt else [IGNORE] * len(prompt)) + response
    return {"input_ids": ids, "labels": labels[:max_length]}


def collate(batch: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked in attention and labels."""
    width = max(len(example["input_ids"]) for example in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        length = len(example["input_ids"])
        ids[row, :length] = torch.tensor(example["input_ids"])
        labels[row, :length] = torch.tensor(example["labels"])
        attention[row, :length] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": attention}
