"""A guard on an in-process causal LM, with `score` = P("unsafe" as the first generated token) from the logits.

Llama Guard classifies by thresholding the probability of "unsafe" as the first token (Inan et al., arXiv
2312.06674, §3); the same first-position distribution is what the Virus jailbreak loss attacks (arXiv 2501.17433,
F_guard = −log P_guard("safe")), so both read it through `verdict_token_ids` and `render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.models.loading import load_model, load_tokenizer
from headwater.models.tokenizer_text import chat_text
from headwater.safety.guard.llm import LLAMA_GUARD_2_CATEGORIES, PROMPT_STYLES, guard_messages, parse_reply
from headwater.safety.guard.verdict import Item, Verdict


def verdict_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """First token ids of "safe" and "unsafe"; they must differ for a first-token score to mean anything."""
    safe = tokenizer("safe", add_special_tokens=False)["input_ids"][0]
    unsafe = tokenizer("unsafe", add_special_tokens=False)["input_ids"][0]
    if safe == unsafe:
        raise InvalidRequestError(
            "'safe' and 'unsafe' start with the same token in this tokenizer: pick a guard model whose replies "
            "differ in their first token",
            param="model",
        )
    return safe, unsafe


class HFGuard:
    """A causal-LM guard run in-process: greedy reply parsed to a verdict, first-token P(unsafe) as the score."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        categories: dict[str, str] | None = None,
        style: str = "llama-guard",
        max_tokens: int = 12,
        batch_size: int = 8,
        name: str = "hf-guard",
    ) -> None:
        if style not in PROMPT_STYLES:
            raise InvalidRequestError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.categories = dict(categories or LLAMA_GUARD_2_CATEGORIES)
        self.style = style
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.name = name
        self.safe_id, self.unsafe_id = verdict_token_ids(tokenizer)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, name_or_path: str, data_dir: Path | str = ".headwater", **options: object) -> HFGuard:
        """Load the guard by built-in name, folder or HF id."""
        model = load_model(name_or_path, data_dir=data_dir)
        options.setdefault("name", name_or_path)
        return cls(model, load_tokenizer(name_or_path, data_dir=data_dir), **options)  # type: ignore[arg-type]

    def render(self, item: Item) -> str:
        """The exact text the guard reads: its chat template over the guard messages, ready for its answer."""
        messages = guard_messages(item, self.style, self.categories)
        return chat_text(self.tokenizer, messages, add_generation_prompt=True)

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for start in range(0, len(items), self.batch_size):
            verdicts.extend(
                self._moderate_batch([self.render(item) for item in items[start : start + self.batch_size]])
            )
        return verdicts

    @torch.no_grad()
    def _moderate_batch(self, texts: list[str]) -> list[Verdict]:
        self.tokenizer.padding_side = "left"
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.model.device)
        output = self.model.generate(
            **batch,
            max_new_tokens=self.max_tokens,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        scores = torch.softmax(output.logits[0].float(), dim=-1)[:, self.unsafe_id].tolist()
        width = batch["input_ids"].shape[1]
        replies = self.tokenizer.batch_decode(output.sequences[:, width:], skip_special_tokens=True)
        return [parse_reply(reply, score) for reply, score in zip(replies, scores, strict=True)]
