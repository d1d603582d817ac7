"""The GCG search: swaps distinct, single-token, never masked, from the top-k; L never rises; λ = 1 / λ = 0 are
the single objectives; at λ = 0.1 the jailbreak loss falls and leakage rises from start to end."""

from __future__ import annotations

import pytest
import torch

from headwater.safety.virus import GuardObjective, Search, SimilarityObjective, VirusConfig, allowed_tokens, attack
from headwater.safety.virus.tokens import block_ids


def test_allowed_tokens_mask_special_and_non_printable(marker_pair):
    _guard, _victim, tokenizer = marker_pair
    allowed = allowed_tokens(tokenizer, len(tokenizer))
    assert not allowed[[0, 1, 2]].any()  # <|endoftext|>, <|im_start|>, <|im_end|>
    marker = tokenizer.convert_tokens_to_ids("zorblax")
    assert allowed[marker]
    for token in torch.nonzero(allowed)[:, 0].tolist():
        text = tokenizer.decode([token])
        assert text and all(32 <= ord(c) < 127 for c in text)
    assert 0 < int(allowed.sum()) < len(tokenizer)


def test_swaps_are_distinct_single_token_top_k_and_never_masked(marker_pair, lora_victim, pairs):
    guard, _victim, tokenizer = marker_pair
    width = len(tokenizer)
    block = torch.tensor(block_ids(pairs[0].harmful, tokenizer))
    config = VirusConfig(top_k=5, swaps=20, seed=3)
    allowed = allowed_tokens(tokenizer, width)
    search = Search(
        GuardObjective(guard, pairs[0], width),
        SimilarityObjective(lora_victim, tokenizer, pairs[0], block, width),
        allowed,
        config,
    )
    gradient = search.token_gradient(block)
    assert gradient.shape == (len(block), width)
    candidates = search.propose(block, gradient)
    assert len(candidates) == 20
    assert len({tuple(row.tolist()) for row in candidates}) == 20
    masked = gradient.masked_fill(~allowed, float("inf"))
    masked[torch.arange(len(block)), block] = float("inf")
    top = (-masked).topk(5, dim=-1).indices
    for row in candidates:
        changed = torch.nonzero(row != block)[:, 0]
        assert len(changed) == 1
        position, token = int(changed[0]), int(row[changed[0]])
        assert allowed[token] and token in top[position].tolist()
    everything = Search(search.guard, search.similarity, allowed, VirusConfig(top_k=2, swaps=1000)).propose(
        block, gradient
    )
    assert len(everything) == 2 * len(block)  # fewer candidates than swaps: all of them, once


@pytest.mark.parametrize("lam", [1.0, 0.0])
def test_lambda_one_and_zero_are_the_single_objectives(marker_pair, lora_victim, pairs, lam):
    guard, _victim, tokenizer = marker_pair
    [report] = attack(guard, lora_victim, tokenizer, pairs[:1], VirusConfig(lam=lam, steps=3, top_k=4, swaps=8))
    single = report.f_guards if lam == 1.0 else report.f_sims
    assert report.losses == pytest.approx(single)
    assert all(b <= a + 1e-7 for a, b in zip(report.losses, report.losses[1:], strict=False))


def test_virus_never_raises_l_and_beats_the_guard_from_start_to_end(marker_pair, lora_victim, pairs):
    guard, _victim, tokenizer = marker_pair
    config = VirusConfig(lam=0.1, steps=4, top_k=4, swaps=8, leakage_every=2)
    reports = attack(guard, lora_victim, tokenizer, pairs, config)
    for report in reports:
        assert len(report.losses) == config.steps + 1
        assert all(b <= a + 1e-7 for a, b in zip(report.losses, report.losses[1:], strict=False))
        assert report.losses[0] == pytest.approx(0.1 * report.f_guards[0] + 0.9 * report.f_sims[0])
        assert report.cosines[0] == pytest.approx(1.0, abs=1e-5)
        assert sorted(report.leakage) == [0, 2, 4] and report.leakage[4] == report.passes_guard
        assert report.seconds > 0 and report.peak_memory_mb > 0
        assert report.messages[-1]["content"] == report.response + report.block
    start_loss = sum(r.f_guards[0] for r in reports) / len(reports)
    end_loss = sum(r.f_guards[-1] for r in reports) / len(reports)
    assert end_loss < start_loss
    assert sum(r.leakage[0] for r in reports) < sum(r.passes_guard for r in reports)
    assert all(r.cosine > 0.5 for r in reports)  # the harmful gradient is kept, unlike λ = 1
