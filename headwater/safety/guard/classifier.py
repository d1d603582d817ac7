"""A trained classifier guard: sentence embeddings (a small causal LM's mean-pooled last hidden states) and a
scikit-learn logistic regression on top.

Cheap enough to run on every upload and trained on your own labelled data, it is also the transfer target of
the Virus experiments (arXiv 2501.17433 attacks a generative guard; a classifier it never saw shows whether the
optimised text transfers). Saved as JSON + safetensors, never pickle, so loading a folder cannot run code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.loading import load_model, load_tokenizer
from headwater.safety.guard.check import example_conversation
from headwater.safety.guard.verdict import Conversation, Item, Verdict, as_conversation

CONFIG_FILE, WEIGHTS_FILE = "classifier.json", "classifier.safetensors"
_LABELS = {"safe": 0, "unsafe": 1, "0": 0, "1": 1, "false": 0, "true": 1}


def render_text(conversation: Conversation, tokenizer: PreTrainedTokenizerBase) -> str:
    """The example as it will be trained: the chat template applied when the tokenizer has one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(conversation, tokenize=False)
    return "\n".join(message["content"] for message in conversation)


@torch.no_grad()
def embed(
    texts: Sequence[str], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 16
) -> np.ndarray:
    """Mean of the last hidden states over real (unmasked) tokens, one row per text, float64."""
    rows = []
    tokenizer.padding_side = "right"
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]), return_tensors="pt", padding=True, truncation=True, max_length=512
        ).to(model.device)
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1].float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        rows.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy())
    return np.concatenate(rows).astype(np.float64)


class ClassifierGuard:
    """Logistic regression over standardised embeddings; `score` = P(unsafe)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        weights: dict[str, np.ndarray],
        embedder: str,
        threshold: float = 0.5,
        categories: Sequence[str] = (),
    ) -> None:
        missing = {"mean", "scale", "coef", "intercept"} - set(weights)
        if missing:
            raise InvalidRequestError(f"classifier weights lack {sorted(missing)}", param="weights")
        self.model, self.tokenizer, self.weights = model.eval(), tokenizer, weights
        self.embedder, self.threshold, self.categories = embedder, threshold, tuple(categories)
        self.name = f"classifier:{embedder}"

    def scores(self, items: Sequence[Item]) -> np.ndarray:
        """P(unsafe) per item."""
        texts = [render_text(as_conversation(item), self.tokenizer) for item in items]
        features = (embed(texts, self.model, self.tokenizer) - self.weights["mean"]) / self.weights["scale"]
        return 1.0 / (1.0 + np.exp(-(features @ self.weights["coef"] + self.weights["intercept"][0])))

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        return [
            Verdict("unsafe", self.categories, float(score))
            if score >= self.threshold
            else Verdict("safe", (), float(score))
            for score in self.scores(items)
        ]

    def save(self, folder: Path) -> Path:
        """Write classifier.json + classifier.safetensors (each renamed into place, so never half-written)."""
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        config = {"embedder": self.embedder, "threshold": self.threshold, "categories": list(self.categories)}
        save_file({key: np.ascontiguousarray(value) for key, value in self.weights.items()}, folder / ".weights.tmp")
        (folder / ".config.tmp").write_text(json.dumps(config, indent=2), encoding="utf-8")
        os.replace(folder / ".weights.tmp", folder / WEIGHTS_FILE)
        os.replace(folder / ".config.tmp", folder / CONFIG_FILE)
        return folder

    @classmethod
    def load(cls, folder: Path, data_dir: Path | str = ".headwater") -> ClassifierGuard:
        """Read a saved classifier (JSON + safetensors only) and load its embedder by name."""
        from safetensors.numpy import load_file

        if not (folder / CONFIG_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
            raise InvalidRequestError(f"{folder} holds no {CONFIG_FILE} and {WEIGHTS_FILE}", param="model")
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        embedder = str(config["embedder"])
        model, tokenizer = load_model(embedder, data_dir=data_dir), load_tokenizer(embedder, data_dir=data_dir)
        weights = load_file(folder / WEIGHTS_FILE)
        return cls(model, tokenizer, weights, embedder, float(config["threshold"]), config.get("categories", []))


def is_classifier(folder: Path | str) -> bool:
    """Whether a folder holds a saved classifier guard."""
    return (Path(folder) / CONFIG_FILE).exists()


def read_labelled(path: Path) -> tuple[list[Conversation], list[int], list[str]]:
    """Labelled JSONL: `text`, `messages` or `prompt`/`completion`, plus `label` (safe/unsafe or 0/1) and an
    optional `category`. Returns conversations, 0/1 labels and the categories seen on unsafe rows."""
    conversations, labels, categories = [], [], []
    for line, record in read_jsonl(path, "labelled example"):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"line {line}: expected a JSON object", param=f"line {line}")
        label = _LABELS.get(str(record.get("label")).lower())
        if label is None:
            raise InvalidRequestError(
                f"line {line}: `label` must be safe or unsafe (or 0/1)", param=f"line {line}.label"
            )
        text = record.get("text")
        conversations.append(as_conversation(text) if isinstance(text, str) else example_conversation(record, line))
        labels.append(label)
        if label and isinstance(record.get("category"), str):
            categories.append(record["category"])
    if len(set(labels)) < 2:
        raise InvalidRequestError("the labels need both safe and unsafe examples", param="label")
    return conversations, labels, list(dict.fromkeys(categories))


def train_classifier(
    conversations: Sequence[Item],
    labels: Sequence[int],
    embedder: str,
    data_dir: Path | str = ".headwater",
    threshold: float = 0.5,
    categories: Sequence[str] = (),
    regularisation: float = 1.0,
) -> ClassifierGuard:
    """Embed every example and fit a balanced logistic regression (C = `regularisation`)."""
    from sklearn.linear_model import LogisticRegression

    model, tokenizer = load_model(embedder, data_dir=data_dir), load_tokenizer(embedder, data_dir=data_dir)
    texts = [render_text(as_conversation(item), tokenizer) for item in conversations]
    features = embed(texts, model, tokenizer)
    mean, scale = features.mean(0), features.std(0) + 1e-8
    fit = LogisticRegression(C=regularisation, class_weight="balanced", max_iter=2000)
    fit.fit((features - mean) / scale, np.asarray(labels))
    weights = {"mean": mean, "scale": scale, "coef": fit.coef_[0].astype(np.float64), "intercept": fit.intercept_}
    return ClassifierGuard(model, tokenizer, weights, embedder, threshold, categories)
