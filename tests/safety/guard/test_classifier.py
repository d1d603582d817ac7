"""The classifier guard: trained on synthetic harmless text with a forbidden marker topic; saved without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.guard import ClassifierGuard, read_labelled, train_classifier
from tests.safety.guard.conftest import marker_texts


def test_learns_the_marker_topic_and_generalises(labelled_texts, data_dir, tmp_path):
    texts, labels = labelled_texts
    guard = train_classifier(texts, labels, "tiny-chat", data_dir, categories=["marker"])
    held_texts, held_labels = marker_texts(24, seed=99)
    verdicts = guard.moderate(held_texts)
    accuracy = np.mean([int(v.flagged) == label for v, label in zip(verdicts, held_labels, strict=True)])
    assert accuracy >= 0.9
    assert all(v.categories == ("marker",) for v in verdicts if v.flagged)
    assert all(0.0 <= v.score <= 1.0 for v in verdicts)

    folder = guard.save(tmp_path / "clf")
    assert sorted(p.name for p in folder.iterdir()) == ["classifier.json", "classifier.safetensors"]
    reloaded = ClassifierGuard.load(folder, data_dir)
    assert np.allclose(reloaded.scores(held_texts), guard.scores(held_texts))


def test_read_labelled_accepts_every_shape_and_names_bad_labels(tmp_path):
    path = tmp_path / "labels.jsonl"
    rows = [
        {"text": "a calm river", "label": "safe"},
        {"prompt": "q", "completion": "the zorblax", "label": "unsafe", "category": "marker"},
        {"messages": [{"role": "user", "content": "hi"}], "label": 0},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    conversations, labels, categories = read_labelled(path)
    assert labels == [0, 1, 0] and categories == ["marker"] and conversations[1][-1]["role"] == "assistant"
    path.write_text(json.dumps({"text": "x", "label": "maybe"}))
    with pytest.raises(InvalidRequestError) as caught:
        read_labelled(path)
    assert caught.value.param == "line 1.label"
    path.write_text(json.dumps({"text": "x", "label": "safe"}))
    with pytest.raises(InvalidRequestError, match="both safe and unsafe"):
        read_labelled(path)
