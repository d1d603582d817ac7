"""Catalogue YAML: entries with their TE-group settings, and errors that name the entry and the field."""

from __future__ import annotations

import pytest

from headwater.config import Settings
from headwater.errors import InvalidRequestError
from headwater.platform.catalogue import catalogue_from_settings, read_catalogue


def test_entries_with_defaults_and_served_names(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - model: tiny-chat\n    min_tes: 0\n    max_tes: 3\n  - model: ./m\n    name: bot\n")
    first, second = read_catalogue(path)
    assert (first.served_name, first.min_tes, first.max_tes, first.target_in_flight) == ("tiny-chat", 0, 3, 8)
    assert (second.served_name, second.min_tes, second.max_tes) == ("bot", 1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: []\n", "top-level `models:` list"),
        ("- model: x\n", "top-level `models:` list"),
        ("models:\n  - model: x\n    min_tes: 2\n    max_tes: 1\n", "min_tes (2) cannot exceed max_tes (1)"),
        ("models:\n  - model: x\n    max_te: 2\n", "models[0]: max_te"),
        ("models:\n  - model: x\n  - model: x\n", "two entries serve the name 'x'"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_bad_catalogues_are_named(tmp_path, text, message):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(InvalidRequestError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_catalogue(path)


def test_settings_give_one_model_or_their_file(tmp_path):
    assert [e.served_name for e in catalogue_from_settings(Settings(model="tiny-chat", served_model_name="t"))] == ["t"]
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - model: a\n  - model: b\n")
    assert [e.model for e in catalogue_from_settings(Settings(models=path))] == ["a", "b"]
