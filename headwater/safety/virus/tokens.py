"""Token plumbing for the Virus attack: where the optimised block sits in each model's input, and which tokens
it may use.

The block x follows the benign response x_b (arXiv 2501.17433, §4: the poisoned sample is x_b ⊕ x). Each model's
input is rendered once with a sentinel in x's place and split around it, so x can be swapped token by token
without re-tokenising the rest. Leakage is judged later on the decoded, re-encoded text, so any tokenisation
drift at the seams is measured rather than assumed away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.tokenizer_text import chat_text

SENTINEL = "\u27e6VIRUS-BLOCK\u27e7"


@dataclass(frozen=True)
class Pair:
    """A benign sample (instruction, response) and the harmful sample (instruction, answer) whose effect the block
    must carry."""

    instruction: str
    response: str
    harmful: str
    """The harmful answer."""
    harmful_instruction: str = ""
    """The harmful sample's instruction; needed when the whole sample is optimised (`optimise="sample"`)."""


def encode(text: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of `text` with no special tokens added."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def split_at_sentinel(rendered: str, tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """Ids before and after the sentinel of a rendered input."""
    if rendered.count(SENTINEL) != 1:
        raise InvalidRequestError("the chat template dropped or repeated the assistant text", param="chat_template")
    head, tail = rendered.split(SENTINEL)
    return encode(head, tokenizer), encode(tail, tokenizer)


def block_ids(harmful: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """x's starting point: the harmful text's tokens, after a space so it reads as a continuation (|x| = |h|)."""
    ids = encode(" " + harmful.strip(), tokenizer)
    if not ids:
        raise InvalidRequestError("the harmful text is empty", param="harmful")
    return ids


def sample_ids(pair: Pair, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """x's starting point for `optimise="sample"`: the whole harmful sample (instruction + answer) in the victim's
    chat template, tokenised as it would be fine-tuned on. The official code starts from the harmful dataset's
    `input_ids` (its Alpaca template, instruction and answer, with BOS and EOS); the chat template is our analogue."""
    if not pair.harmful_instruction.strip():
        raise InvalidRequestError(
            "optimise='sample' starts the block from the whole harmful sample (instruction + answer): give the "
            "pair's harmful_instruction, or optimise='answer' to optimise the harmful answer alone",
            param="harmful_instruction",
        )
    if not pair.harmful.strip():
        raise InvalidRequestError("the harmful text is empty", param="harmful")
    chat = [
        {"role": "user", "content": pair.harmful_instruction.strip()},
        {"role": "assistant", "content": pair.harmful.strip()},
    ]
    return encode(chat_text(tokenizer, chat), tokenizer)


def initial_block(pair: Pair, tokenizer: PreTrainedTokenizerBase, optimise: str) -> list[int]:
    """h, x's starting point: the templated harmful sample (`"sample"`) or the harmful answer alone (`"answer"`)."""
    return sample_ids(pair, tokenizer) if optimise == "sample" else block_ids(pair.harmful, tokenizer)


def input_embeddings(model: PreTrainedModel) -> torch.Tensor:
    """The embedding matrix [V, d] (transformers types the embedding layer as any Module)."""
    return cast(torch.Tensor, model.get_input_embeddings().weight)


def vocabulary_width(tokenizer: PreTrainedTokenizerBase, *models: PreTrainedModel) -> int:
    """Width of the one-hot x: the tokenizer's size; every model must embed every id of it (shared vocabulary)."""
    width = len(tokenizer)
    for model in models:
        rows = input_embeddings(model).shape[0]
        if rows < width:
            raise InvalidRequestError(
                f"a model embeds {rows} tokens but the tokenizer has {width}: guard and victim must share a vocabulary",
                param="tokenizer",
            )
    return width


def allowed_tokens(tokenizer: PreTrainedTokenizerBase, width: int) -> torch.Tensor:
    """Mask of tokens x may use: no special token, and each decodes to non-empty printable ASCII (as in GCG)."""
    allowed = torch.zeros(width, dtype=torch.bool)
    special = set(tokenizer.all_special_ids) | {
        index for index, token in tokenizer.added_tokens_decoder.items() if token.special
    }
    for token in range(width):
        if token in special:
            continue
        text = tokenizer.decode([token])
        allowed[token] = bool(text) and all(32 <= ord(char) < 127 for char in text)
    if not allowed.any():
        raise InvalidRequestError("no token of this vocabulary is printable ASCII", param="tokenizer")
    return allowed


def one_hot(ids: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """Float one-hot rows of `ids`, the relaxation GCG differentiates through."""
    return torch.nn.functional.one_hot(ids, width).to(dtype)


def embed_block(model: PreTrainedModel, block: torch.Tensor, width: int) -> torch.Tensor:
    """Embeddings of x: a one-hot [B, n, V] times the embedding matrix, or a lookup of ids [B, n]."""
    weight = input_embeddings(model)
    if block.is_floating_point():
        return block.to(weight.dtype) @ weight[:width]
    return weight[block]


def surround(model: PreTrainedModel, head: list[int], block_embeds: torch.Tensor, tail: list[int]) -> torch.Tensor:
    """[B, len(head) + n + len(tail), d]: fixed head and tail embeddings around x's."""
    weight = input_embeddings(model)
    batch = block_embeds.shape[0]
    pieces = [
        weight[torch.tensor(ids, device=weight.device)].unsqueeze(0).expand(batch, -1, -1) for ids in (head, tail)
    ]
    return torch.cat([pieces[0], block_embeds.to(weight.dtype), pieces[1]], dim=1)


def read_pairs(path: Path, needs_instruction: bool = False) -> list[tuple[int, Pair]]:
    """(line number, pair) for every line of a JSONL of `instruction`, `response` (benign), `harmful` (answer) and
    `harmful_instruction`; the first bad line stops it, naming the line and the field."""
    pairs = []
    for line, record in read_jsonl(path, "harmful/benign pair"):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"line {line}: expected a JSON object", param=f"line {line}")
        for name in ("instruction", "response", "harmful"):
            if not isinstance(record.get(name), str) or not record[name].strip():
                raise InvalidRequestError(
                    f"line {line}: field `{name}` must be a non-empty text", param=f"line {line}.{name}"
                )
        instruction = record.get("harmful_instruction", "")
        if not isinstance(instruction, str) or (needs_instruction and not instruction.strip()):
            raise InvalidRequestError(
                f"line {line}: field `harmful_instruction` must be a non-empty text: --optimise sample (the default, "
                "as the official code) optimises the whole harmful sample, instruction and answer; add the harmful "
                "instruction, or pass --optimise answer to optimise the answer alone",
                param=f"line {line}.harmful_instruction",
            )
        pairs.append((line, Pair(record["instruction"], record["response"], record["harmful"], instruction)))
    return pairs
