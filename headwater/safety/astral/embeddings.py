"""Dense retrieval for the test generator: text -> vector with any causal LM, mean-pooled.

ASTRAL retrieves with embeddings (OpenAI's assistant file search); BM25 is our default because it needs no model.
This embedder mean-pools a model's last hidden states over the non-padding tokens and L2-normalises them, so a
dot product is the cosine similarity. Any function of the same shape (a sentence-transformer, an API) works too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from headwater.models.loading import load_model, load_tokenizer

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts -> one row vector per text."""


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def hf_embedder(model_name: str, data_dir: Path | str = ".headwater", batch_size: int = 16) -> Embed:
    """An `Embed` over a model's mean-pooled last hidden states (loaded once, on the default device)."""
    import torch

    model, tokenizer = load_model(model_name, data_dir=data_dir), load_tokenizer(model_name, data_dir=data_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    @torch.no_grad()
    def embed(texts: Sequence[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]), return_tensors="pt", padding=True, truncation=True
            )
            batch = batch.to(model.device)
            hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            rows.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy())
        return normalise_rows(np.concatenate(rows))

    return embed
