"""`HFGenerator`: a Generator on an in-process transformers model, batched with left padding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.models.generator import Generation, GenerationParams, Prompt, cut_at_stop
from headwater.models.loading import load_model, load_tokenizer
from headwater.models.tokenizer_text import chat_text, decode_text


class HFGenerator:
    """Runs `model.generate` on batches of `batch_size` prompts."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "hf", batch_size: int = 8
    ) -> None:
        if batch_size < 1:
            raise InvalidRequestError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        data_dir: Path | str = ".headwater",
        batch_size: int = 8,
    ) -> HFGenerator:
        """Load a model by built-in name, local folder or HF id."""
        model = load_model(name_or_path, dtype=dtype, device=device, data_dir=data_dir)
        return cls(model, load_tokenizer(name_or_path, data_dir=data_dir), name_or_path, batch_size)

    def _render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return chat_text(self.tokenizer, prompt, add_generation_prompt=True)

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        params = params or GenerationParams()
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            results.extend(self._generate_batch(prompts[start : start + self.batch_size], params))
        return results

    @torch.no_grad()
    def _generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        texts = [self._render(prompt) for prompt in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.model.device)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sampling = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        output = self.model.generate(
            **batch,
            max_new_tokens=params.max_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            **(sampling if params.temperature > 0 else {"do_sample": False}),
        )
        prompt_width = batch["input_ids"].shape[1]
        eos = {self.tokenizer.eos_token_id, *_as_set(self.model.generation_config.eos_token_id)}
        return [
            self._result(row[prompt_width:].tolist(), int(mask.sum()), eos, params)
            for row, mask in zip(output, batch["attention_mask"], strict=True)
        ]

    def _result(
        self, new_ids: list[int], prompt_tokens: int, eos: set[int | None], params: GenerationParams
    ) -> Generation:
        length = next((i + 1 for i, token in enumerate(new_ids) if token in eos), len(new_ids))
        new_ids = new_ids[:length]
        text = decode_text(self.tokenizer, new_ids, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, params.stop)
        ended = stopped or (bool(new_ids) and new_ids[-1] in eos)
        return Generation(text, "stop" if ended else "length", prompt_tokens, len(new_ids))


def _as_set(value: int | list[int] | None) -> set[int]:
    if value is None:
        return set()
    return {value} if isinstance(value, int) else set(value)
