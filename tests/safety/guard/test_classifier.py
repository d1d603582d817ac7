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


@pytest.fixture(scope="module")
def saved_classifier(data_dir, tmp_path_factory):
    """A classifier on tiny-chat trained on the synthetic marker topic, saved once; tests copy and tamper with it."""
    texts, labels = marker_texts(16, seed=5)
    return train_classifier(texts, labels, "tiny-chat", data_dir).save(tmp_path_factory.mktemp("clf") / "clf")


def _tampered(saved, tmp_path, config=None, weights=None):
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "tampered"
    shutil.copytree(saved, folder)
    if config is not None:
        (folder / "classifier.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if weights is not None:
        values = weights(load_file(saved / "classifier.safetensors"))
        if isinstance(values, bytes):
            (folder / "classifier.safetensors").write_bytes(values)
        else:
            save_file(values, folder / "classifier.safetensors")
    return folder


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled",))


def _with(key, value):
    return lambda weights: {**weights, key: value}


@pytest.mark.parametrize(
    ("config", "weights", "field"),
    [
        ("{not json", None, "config"),
        ([1, 2], None, "config"),
        ({"threshold": 0.5}, None, "embedder"),
        ({"embedder": "tiny-chat", "threshold": "abc"}, None, "threshold"),
        ({"embedder": "tiny-chat", "threshold": 7}, None, "threshold"),
        ({"embedder": "tiny-chat", "threshold": 0.5, "categories": "X1"}, None, "categories"),
        (None, lambda weights: b"\x80\x04not safetensors", "weights"),
        (None, lambda weights: __import__("pickle").dumps(_Payload()), "weights"),
        (None, lambda weights: {k: v for k, v in weights.items() if k != "coef"}, "weights"),
        (None, _with("coef", np.full(3, 0.5)), "weights"),
        (None, _with("scale", np.zeros(64)), "weights"),
        (None, _with("mean", np.full(64, np.nan)), "weights"),
    ],
)
def test_a_corrupt_or_tampered_folder_is_refused_naming_the_file_and_field(
    saved_classifier, tmp_path, data_dir, capsys, config, weights, field
):
    folder = _tampered(saved_classifier, tmp_path, config, weights)
    with pytest.raises(InvalidRequestError, match="guard train") as caught:
        ClassifierGuard.load(folder, data_dir)
    assert caught.value.param == field and str(folder) in caught.value.message
    assert "unpickled" not in capsys.readouterr().out


def test_weights_of_another_width_than_the_embedder_are_refused(saved_classifier, tmp_path, data_dir):
    width = lambda weights: {k: (v if k == "intercept" else np.ones(5)) for k, v in weights.items()}  # noqa: E731
    folder = _tampered(saved_classifier, tmp_path, weights=width)
    with pytest.raises(InvalidRequestError, match="5 features but embedder 'tiny-chat' gives 64"):
        ClassifierGuard.load(folder, data_dir)


def test_an_embedder_folder_without_safetensors_is_never_loaded(saved_classifier, tmp_path, data_dir):
    embedder = tmp_path / "embedder"
    embedder.mkdir()
    (embedder / "config.json").write_text("{}")
    (embedder / "pytorch_model.bin").write_bytes(b"pickled weights would be here")
    folder = _tampered(saved_classifier, tmp_path, {"embedder": str(embedder), "threshold": 0.5})
    with pytest.raises(InvalidRequestError, match="never pickle") as caught:
        ClassifierGuard.load(folder, data_dir)
    assert caught.value.param == "embedder"


def test_a_local_embedder_is_saved_by_absolute_path(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(data_dir)
    texts, labels = marker_texts(8, seed=2)
    guard = train_classifier(texts, labels, "models/tiny-chat", data_dir)
    assert guard.embedder == str((data_dir / "models" / "tiny-chat").resolve())
    monkeypatch.chdir(tmp_path)  # checked later from another folder
    assert ClassifierGuard.load(guard.save(tmp_path / "clf"), data_dir).embedder == guard.embedder


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": 5, "label": "safe"}, "line 1: `text` must be a non-empty text"),
        ({"text": "  ", "label": "safe"}, "line 1: `text` must be a non-empty text"),
        ({"body": "a calm river", "label": "safe"}, "line 1: needs `text`, `messages`"),
    ],
)
def test_read_labelled_names_the_text_field(tmp_path, row, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InvalidRequestError, match=message):
        read_labelled(path)
