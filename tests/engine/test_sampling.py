"""Per-request sampling: greedy, seeds independent of batch company, filters, exact distribution, raw logprobs."""

from __future__ import annotations

import random
from collections import Counter

import torch

from headwater.engine import sampling
from headwater.engine.controls import NO_SLOT
from headwater.engine.sampling import NO_SEED, SamplingBatch, sample_next_tokens, seed_key, seeded_uniform


def _batch(rows: int, temperature=1.0, top_p=1.0, top_k=0, seeds=None) -> SamplingBatch:
    def column(value, dtype):
        values = value if isinstance(value, list) else [value] * rows
        return torch.tensor(values, dtype=dtype)

    return SamplingBatch(
        temperature=column(temperature, torch.float32),
        top_p=column(top_p, torch.float32),
        top_k=column(top_k, torch.int32),
        seed_key=column(seeds if seeds is not None else NO_SEED, torch.int32),
        slot=column(NO_SLOT, torch.int32),
    )


def test_temperature_zero_is_argmax_and_logprobs_are_raw():
    logits = torch.randn(5, 50)
    tokens, logprobs = sample_next_tokens(logits, _batch(5, temperature=0.0))
    assert torch.equal(tokens, logits.argmax(-1))
    expected = logits.log_softmax(-1).gather(-1, tokens[:, None]).squeeze(-1)
    assert torch.allclose(logprobs, expected)


def test_seeded_row_does_not_depend_on_its_batch():
    logits = torch.randn(4, 100)
    key = seed_key(7, 12)
    alone, _ = sample_next_tokens(logits[2:3], _batch(1, seeds=[key]))
    together, _ = sample_next_tokens(logits, _batch(4, seeds=[NO_SEED, NO_SEED, key, NO_SEED]))
    assert together[2] == alone[0]


def test_seed_key_changes_with_position_and_seed():
    assert seed_key(1, 10) != seed_key(1, 11)
    assert seed_key(1, 10) != seed_key(2, 10)
    assert 0 <= seed_key(2**62, 5) < 2**31


def test_top_k_one_and_tiny_top_p_are_greedy():
    logits = torch.randn(6, 40)
    by_k, _ = sample_next_tokens(logits, _batch(6, top_k=1))
    by_p, _ = sample_next_tokens(logits, _batch(6, top_p=1e-6))
    assert torch.equal(by_k, logits.argmax(-1))
    assert torch.equal(by_p, logits.argmax(-1))


def test_top_k_never_picks_outside_the_k_best():
    logits = torch.randn(1, 30).repeat(400, 1)
    tokens, _ = sample_next_tokens(logits, _batch(400, top_k=3))
    allowed = set(logits[0].topk(3).indices.tolist())
    assert set(tokens.tolist()) <= allowed
    assert len(set(tokens.tolist())) > 1


def test_sampling_follows_the_tempered_distribution():
    torch.manual_seed(0)
    base = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    draws = 20_000
    tokens, _ = sample_next_tokens(base.repeat(draws, 1), _batch(draws, temperature=0.5))
    observed = torch.bincount(tokens, minlength=4).float() / draws
    expected = (base[0] / 0.5).softmax(-1)
    assert torch.allclose(observed, expected, atol=0.015)


def test_a_lone_unseeded_row_follows_its_distribution():
    """A few unseeded rows draw their noise from Python's generator, not torch's: still the tempered distribution."""
    random.seed(4)
    base = torch.tensor([[1.0, 0.0, -1.0]])
    draws = 6000
    counts = Counter(int(sample_next_tokens(base, _batch(1, temperature=0.5))[0][0]) for _ in range(draws))
    observed = torch.tensor([counts[token] for token in range(3)], dtype=torch.float32) / draws
    assert torch.allclose(observed, (base[0] / 0.5).softmax(-1), atol=0.015)


def test_adjusted_scores_pick_the_token_but_logprobs_stay_raw():
    logits = torch.randn(3, 20)
    adjusted = torch.full_like(logits, float("-inf"))
    adjusted[:, 7] = 0.0
    for temperature in (0.0, 1.0):
        tokens, logprobs = sample_next_tokens(logits, _batch(3, temperature=temperature), adjusted)
        assert tokens.tolist() == [7, 7, 7]
        assert torch.allclose(logprobs, logits.log_softmax(-1)[:, 7])


def test_wide_rows_follow_their_distribution_and_never_pick_a_masked_token():
    torch.manual_seed(1)
    vocab, draws = 1000, 20_000  # several blocks of the two-level search, the last one padded
    base = torch.full((vocab,), float("-inf"))
    favourites = torch.tensor([3, 300, 555, 999])
    base[favourites] = torch.tensor([1.0, 0.0, 0.5, -0.5])
    tokens, _ = sample_next_tokens(base.repeat(draws, 1), _batch(draws))
    assert set(tokens.tolist()) <= set(favourites.tolist())
    observed = torch.bincount(tokens, minlength=vocab)[favourites].float() / draws
    assert torch.allclose(observed, base[favourites].softmax(-1), atol=0.015)


def test_a_nucleus_wider_than_the_first_candidates_is_still_exact():
    vocab, draws = 2000, 4000
    logits = -torch.arange(vocab, dtype=torch.float32) * 1e-3  # nearly flat: the 0.5 nucleus holds ~650 tokens
    probs = logits.softmax(-1)
    nucleus = int(((probs.cumsum(-1) - probs) < 0.5).sum())
    tokens, _ = sample_next_tokens(logits.repeat(draws, 1), _batch(draws, top_p=0.5))
    assert nucleus > 500 and int(tokens.max()) < nucleus
    assert int(tokens.max()) > 400  # it reaches past the first candidates the draw looks at


def test_a_seeded_row_keeps_its_token_in_any_mix_of_settings():
    torch.manual_seed(2)
    logits = torch.randn(5, 600) * 2
    keys = [seed_key(11, 40), NO_SEED, seed_key(12, 40), NO_SEED, seed_key(13, 40)]
    settings = dict(temperature=[0.8, 0.0, 1.2, 1.0, 0.7], top_p=[0.9, 1.0, 1.0, 0.5, 1.0], top_k=[0, 0, 0, 5, 20])
    together, _ = sample_next_tokens(logits, _batch(5, seeds=keys, **settings))
    for row in (0, 2, 4):
        alone_settings = {name: values[row] for name, values in settings.items()}
        alone, _ = sample_next_tokens(logits[row : row + 1], _batch(1, seeds=[keys[row]], **alone_settings))
        assert together[row] == alone[0]
    assert together[1] == logits[1].argmax()
    assert together[3] in logits[3].topk(5).indices


def test_seeded_uniforms_are_fixed_by_their_key_and_spread_over_0_1():
    values = [seeded_uniform(seed_key(seed, 17)) for seed in range(2000)]
    assert values[:3] == [seeded_uniform(seed_key(seed, 17)) for seed in range(3)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert abs(sum(values) / len(values) - 0.5) < 0.02 and len(set(values)) == len(values)


def test_a_few_rows_drawn_on_python_floats_get_the_tensor_paths_tokens_to_the_bit(monkeypatch):
    """A lone request is drawn on Python floats and a batch with tensors (`_LISTED_ROWS`): both must pick the same
    column for the same weights and uniform, or a seeded request would change with its company."""
    generator = torch.Generator().manual_seed(3)
    for width in (5, 256, 1000, 49152):
        weights = torch.rand(4, width, generator=generator) ** 8  # skewed, like a softmax
        weights[:, 1 :: max(2, width // 7)] = 0.0  # masked columns the draw must never land on
        weights[3] = 0.0
        weights[3, width // 2] = 1e-30  # one tiny survivor
        uniforms = [0.0, 1.0 - 2**-53, *torch.rand(2, dtype=torch.float64, generator=generator).tolist()]
        for trial in range(25):
            if trial:
                uniforms = torch.rand(4, dtype=torch.float64, generator=generator).tolist()
            listed = sampling._pick(weights, uniforms)
            with monkeypatch.context() as patch:
                patch.setattr(sampling, "_LISTED_ROWS", 0)
                tensors = sampling._pick(weights, uniforms)
            assert listed.tolist() == tensors.tolist(), (width, trial)
            assert bool((weights.gather(-1, listed.unsqueeze(-1)) > 0).all())
