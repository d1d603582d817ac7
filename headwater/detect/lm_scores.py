"""Shared machinery of the likelihood-based detectors: tokenise, run causal LMs, align targets and logits.

Position i predicts token i+1: targets are ids[1:], logits[:-1]; the first token (BOS when the tokenizer adds
one) is never a target. Counted targets follow the attention mask (never "id != pad", since pad may equal EOS);
batches are right-padded so batch mates cannot change a score; log-softmax runs in float32; when the two models'
logit widths differ, both keep the first min(V) columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError


@dataclass(frozen=True)
class Batch:
    """Token ids, attention mask, targets (ids[1:]) and their mask, for a batch of texts."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor
    target_mask: torch.Tensor


def check_models(tokenizer: PreTrainedTokenizerBase, *models: PreTrainedModel) -> None:
    """Both models must read the tokenizer's ids: each needs at least as many embedding rows as it has tokens."""
    for model in models:
        rows = cast(torch.Tensor, model.get_input_embeddings().weight).shape[0]
        if rows < len(tokenizer):
            raise InvalidRequestError(
                f"a model has {rows} token embeddings but the tokenizer has {len(tokenizer)} tokens: the two models "
                "must share one tokenizer",
                param="tokenizer",
            )


def check_same_tokenizer(first: PreTrainedTokenizerBase, second: PreTrainedTokenizerBase) -> None:
    """Two models' own tokenizers must map text to the same ids."""
    if first.get_vocab() != second.get_vocab():
        raise InvalidRequestError(
            "the two models use different tokenizers; pick a pair that shares one", param="tokenizer"
        )


def refusal(text: object, tokenizer: PreTrainedTokenizerBase, max_tokens: int, min_tokens: int) -> str | None:
    """Why `text` cannot be scored (empty, or fewer than `min_tokens` targets), or None when it can."""
    if not isinstance(text, str) or not text.strip():
        return "empty: nothing to score"
    targets = len(tokenizer(text, add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]) - 1
    if targets < min_tokens:
        return f"{targets} scorable tokens, fewer than the minimum {min_tokens}: a score this short is a guess"
    return None


def encode(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, max_tokens: int, min_tokens: int, device: torch.device
) -> Batch:
    """Right-padded ids; a text that is empty or has fewer than `min_tokens` targets is refused with its index."""
    if not texts:
        raise InvalidRequestError("no text to score", param="texts")
    for index, text in enumerate(texts):
        reason = refusal(text, tokenizer, max_tokens, min_tokens)
        if reason is not None:
            raise InvalidRequestError(f"text {index}: {reason}", param=f"texts[{index}]")
    rows = [
        tokenizer(text, add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"] for text in texts
    ]
    width = max(len(ids) for ids in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
    input_ids, attention = input_ids.to(device), attention.to(device)
    return Batch(input_ids, attention, input_ids[:, 1:], attention[:, 1:].bool())


@torch.no_grad()
def next_token_logits(model: PreTrainedModel, batch: Batch) -> torch.Tensor:
    """Float32 logits predicting each target: [B, L-1, V]."""
    logits = model(input_ids=batch.input_ids.to(model.device), attention_mask=batch.attention_mask.to(model.device))
    return logits.logits[:, :-1].float().to(batch.input_ids.device)


def aligned(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both logits cut to their common vocabulary width."""
    width = min(first.shape[-1], second.shape[-1])
    return first[..., :width], second[..., :width]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum(-1) / mask.sum(-1)
