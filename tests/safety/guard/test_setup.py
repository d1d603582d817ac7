"""GuardConfig checks every field before a model loads; load_guard picks the backend and wraps the defences."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.guard import (
    EnsembleGuard,
    GuardConfig,
    LLMGuard,
    NormalisedGuard,
    SegmentGuard,
    ThresholdGuard,
    Verdict,
    load_guard,
)
from headwater.safety.guard import setup as guard_setup


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"style": "bogus"}, "style"),
        ({"segments": 3}, "segments"),
        ({"perplexity_threshold": 0}, "perplexity_threshold"),
    ],
)
def test_bad_fields_are_named(settings, field):
    with pytest.raises(InvalidRequestError) as caught:
        GuardConfig("guard", **settings)
    assert caught.value.param == field and caught.value.message.startswith(field)


class _Scoring:
    name = "scoring"

    def moderate(self, items):
        return [Verdict("safe", (), 0.7, None, "") for _ in items]


def test_threshold_sits_on_the_scoring_guard_inside_the_defences(monkeypatch):
    monkeypatch.setattr(guard_setup, "base_guard", lambda config: _Scoring())
    guard = load_guard(GuardConfig("guard", threshold=0.5, segments=16, normalised=True))
    assert isinstance(guard, NormalisedGuard) and isinstance(guard.guard, SegmentGuard)
    threshold = guard.guard.guard
    assert isinstance(threshold, ThresholdGuard) and threshold.threshold == 0.5
    assert isinstance(threshold.guard, _Scoring)
    assert [verdict.verdict for verdict in threshold.moderate(["a text"])] == ["unsafe"]  # 0.7 >= 0.5


def test_perplexity_defence_votes_beside_the_guard(monkeypatch):
    monkeypatch.setattr(guard_setup, "base_guard", lambda config: _Scoring())
    made = []

    class Gibberish(_Scoring):
        name = "perplexity"

        def __init__(self, config):
            made.append((config.perplexity_model, config.perplexity_threshold))

    monkeypatch.setattr(guard_setup, "_perplexity_filter", Gibberish)
    guard = load_guard(GuardConfig("guard", perplexity_model="lm", perplexity_threshold=50.0))
    assert isinstance(guard, EnsembleGuard) and [g.name for g in guard.guards] == ["scoring", "perplexity"]
    assert made == [("lm", 50.0)]


def test_a_base_url_always_asks_the_server(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: asked.append(args) or _Scoring())
    (tmp_path / "classifier.json").write_text("{}")  # a local folder sharing the served name is not loaded
    guard = load_guard(GuardConfig(str(tmp_path), base_url="http://127.0.0.1:1/v1", style="chat"))
    assert isinstance(guard, LLMGuard) and asked[0][:2] == (str(tmp_path), "http://127.0.0.1:1/v1")
