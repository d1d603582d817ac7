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
from headwater.models.builtin import is_builtin
from headwater.models.loading import load_model, load_tokenizer, resolve_model
from headwater.models.tokenizer_text import chat_text
from headwater.safety.guard.check import example_conversation
from headwater.safety.guard.verdict import Conversation, Item, Verdict, as_conversation

CONFIG_FILE, WEIGHTS_FILE = "classifier.json", "classifier.safetensors"
_LABELS = {"safe": 0, "unsafe": 1, "0": 0, "1": 1, "false": 0, "true": 1}


def render_text(conversation: Conversation, tokenizer: PreTrainedTokenizerBase) -> str:
    """The example as it will be trained: the chat template applied when the tokenizer has one."""
    if getattr(tokenizer, "chat_template", None):
        return chat_text(tokenizer, conversation)
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
        staging = [folder / ".weights.tmp", folder / ".config.tmp"]
        try:
            save_file({key: np.ascontiguousarray(value) for key, value in self.weights.items()}, staging[0])
            staging[1].write_text(json.dumps(config, indent=2), encoding="utf-8")
            os.replace(staging[0], folder / WEIGHTS_FILE)
            os.replace(staging[1], folder / CONFIG_FILE)
        finally:
            for path in staging:
                path.unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, folder: Path, data_dir: Path | str = ".headwater") -> ClassifierGuard:
        """Read a saved classifier (JSON + safetensors only, both checked before anything is loaded) and load its
        embedder by name. A folder that is corrupt or was tampered with is refused with the file and field named;
        nothing in it is ever unpickled, and an embedder folder must hold safetensors weights too."""
        if not (folder / CONFIG_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
            raise InvalidRequestError(f"{folder} holds no {CONFIG_FILE} and {WEIGHTS_FILE}", param="model")
        embedder, threshold, categories = _read_config(folder / CONFIG_FILE)
        weights = _read_weights(folder / WEIGHTS_FILE)
        source = resolve_model(embedder, data_dir)
        if Path(source).is_dir() and not any(Path(source).glob("*.safetensors")):
            raise InvalidRequestError(
                f"{folder / CONFIG_FILE}: embedder {embedder!r} holds no .safetensors weights; a saved guard only "
                "loads safetensors (never pickle): re-save the embedder with save_pretrained",
                param="embedder",
            )
        model, tokenizer = load_model(embedder, data_dir=data_dir), load_tokenizer(embedder, data_dir=data_dir)
        width = getattr(model.config, "hidden_size", None)
        if width is not None and weights["mean"].shape[0] != width:
            raise InvalidRequestError(
                f"{folder / WEIGHTS_FILE} has {weights['mean'].shape[0]} features but embedder {embedder!r} gives "
                f"{width}: the folder does not belong to this embedder; train it again with `headwater guard train`",
                param="weights",
            )
        return cls(model, tokenizer, weights, embedder, threshold, categories)


def _corrupt(path: Path, problem: str, field: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{path}: {problem}; the folder is corrupt or was edited: train it again with `headwater guard train`",
        param=field,
    )


def _read_config(path: Path) -> tuple[str, float, list[str]]:
    """embedder, threshold and categories from classifier.json, every field checked."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(path, f"not valid JSON ({error})", "config") from None
    if not isinstance(config, dict):
        raise _corrupt(path, "expected a JSON object", "config")
    embedder = config.get("embedder")
    if not isinstance(embedder, str) or not embedder.strip():
        raise _corrupt(path, "`embedder` must be the embedding model's name", "embedder")
    threshold = config.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise _corrupt(path, f"`threshold` must be a number in [0, 1], got {threshold!r}", "threshold")
    categories = config.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(code, str) for code in categories):
        raise _corrupt(path, "`categories` must be a list of texts", "categories")
    return embedder, float(threshold), categories


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    """The scaler and coefficients from classifier.safetensors: 1-D float arrays of one width, finite, scale > 0."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise _corrupt(path, f"not a safetensors file ({error})", "weights") from None
    missing = {"mean", "scale", "coef", "intercept"} - set(weights)
    if missing:
        raise _corrupt(path, f"lacks {sorted(missing)}", "weights")
    width = weights["mean"].shape[0] if weights["mean"].ndim == 1 else -1
    for key, shape in (("mean", (width,)), ("scale", (width,)), ("coef", (width,)), ("intercept", (1,))):
        value = weights[key]
        if value.shape != shape or width < 1 or not np.issubdtype(value.dtype, np.floating):
            raise _corrupt(path, f"`{key}` has shape {value.shape} and type {value.dtype}", "weights")
        if not np.isfinite(value).all():
            raise _corrupt(path, f"`{key}` holds NaN or infinite values", "weights")
    if (weights["scale"] <= 0).any():
        raise _corrupt(path, "`scale` must be positive", "weights")
    return {key: weights[key].astype(np.float64) for key in ("mean", "scale", "coef", "intercept")}


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
        if "text" in record:
            text = record["text"]
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequestError(f"line {line}: `text` must be a non-empty text", param=f"line {line}.text")
            conversations.append(as_conversation(text))
        elif "messages" in record or "prompt" in record or "completion" in record:
            conversations.append(example_conversation(record, line))
        else:
            raise InvalidRequestError(
                f"line {line}: needs `text`, `messages` (a list of role/content objects) or text fields `prompt` and "
                "`completion`",
                param=f"line {line}.text",
            )
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

    if not is_builtin(embedder) and Path(embedder).expanduser().is_dir():
        embedder = str(Path(embedder).expanduser().resolve())  # a saved guard must find it from any folder
    model, tokenizer = load_model(embedder, data_dir=data_dir), load_tokenizer(embedder, data_dir=data_dir)
    texts = [render_text(as_conversation(item), tokenizer) for item in conversations]
    features = embed(texts, model, tokenizer)
    mean, scale = features.mean(0), features.std(0) + 1e-8
    fit = LogisticRegression(C=regularisation, class_weight="balanced", max_iter=2000)
    fit.fit((features - mean) / scale, np.asarray(labels))
    weights = {"mean": mean, "scale": scale, "coef": fit.coef_[0].astype(np.float64), "intercept": fit.intercept_}
    return ClassifierGuard(model, tokenizer, weights, embedder, threshold, categories)
