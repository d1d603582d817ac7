"""Per-request sampling: greedy, seeds independent of batch company, filters, exact distribution, raw logprobs."""

from __future__ import annotations

import torch

from headwater.engine.controls import NO_SLOT
from headwater.engine.sampling import NO_SEED, SamplingBatch, sample_next_tokens, seed_key


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


def test_adjusted_scores_pick_the_token_but_logprobs_stay_raw():
    logits = torch.randn(3, 20)
    adjusted = torch.full_like(logits, float("-inf"))
    adjusted[:, 7] = 0.0
    for temperature in (0.0, 1.0):
        tokens, logprobs = sample_next_tokens(logits, _batch(3, temperature=temperature), adjusted)
        assert tokens.tolist() == [7, 7, 7]
        assert torch.allclose(logprobs, logits.log_softmax(-1)[:, 7])
