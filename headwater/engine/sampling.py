"""Per-request token sampling for the continuous-batching engine: greedy, temperature, top-k, top-p and seeds.

transformers' continuous batching samples with one global `do_sample` and one global RNG, and reports the
log-probability of the *processed* distribution. An OpenAI-compatible server needs each request's own settings:
temperature 0 must be exactly greedy, `seed` must make a request reproducible whatever else shares its batch, and
`logprobs` must be those of the model (vLLM's default "raw" logprobs). So both engines hand each row's own
settings (`SamplingBatch`) to `sample_next_tokens`; the transformers engine carries them through the batch's
per-request argument rows (`headwater.engine.sampling_arguments`). This module imports no transformers, so the
llama.cpp TE does not pay for it at start-up.

Sampling is an inverse-CDF draw: one uniform u per row, and the first token whose running probability passes u.
A seeded row's u is a hash of its seed and sequence length, so it reproduces whatever else shares the batch, and no
row draws noise over the whole vocabulary (the exponential race we used before drew one number per token and row,
which cost more than a small model's forward pass at 32 rows). Filters touch only the best tokens of a row: top_k
needs k of them; top_p looks at the best `_CANDIDATES`, and at more only when a nucleus is wider.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NO_SEED = -1
_SEED_STRIDE = 1_000_003


def seed_key(seed: int, sequence_length: int) -> int:
    """The RNG seed for one step of a seeded request: depends only on the request's seed and its position."""
    return (seed * _SEED_STRIDE + sequence_length) % (2**31 - 1)


@dataclass(frozen=True)
class SamplingBatch:
    """Sampling settings of the rows of one batch, decoded from the argument tensor."""

    temperature: torch.Tensor
    top_p: torch.Tensor
    top_k: torch.Tensor
    seed_key: torch.Tensor
    slot: torch.Tensor


_CANDIDATES = 128
"""How many of a row's best tokens a nucleus (top_p) draw looks at first; when some row's nucleus reaches past them
the draw looks at 8× as many, up to the whole sorted vocabulary, so the result is exact either way."""
_BLOCK = 256
"""Columns per block of `_pick`'s two-level search."""


def seeded_uniform(key: int) -> float:
    """A uniform draw in [0, 1) that depends only on `key` (splitmix64 of it): a seeded row's noise for one step,
    without building a generator per row and step."""
    z = (key + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / 2**53


def _uniforms(seed_keys: torch.Tensor) -> torch.Tensor:
    """One uniform per row: from the row's seed key when it has one, else from torch's global generator."""
    uniforms = torch.rand(seed_keys.numel(), dtype=torch.float64)
    for row, key in enumerate(seed_keys.tolist()):
        if key != NO_SEED:
            uniforms[row] = seeded_uniform(int(key))
    return uniforms


def _pick(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw of one column per row of non-negative `weights` [rows, n]: the first column whose running
    sum passes u × total. A wide row is searched in two levels (its blocks' sums, then the one block the target
    falls in), because a float64 running sum over a whole vocabulary costs more than everything else here."""
    uniforms = uniforms.to(device=weights.device, dtype=torch.float64)
    rows, width = weights.shape
    if width <= _BLOCK:
        cdf = weights.double().cumsum(dim=-1)
        return _search(cdf, uniforms * cdf[:, -1])
    padded = torch.nn.functional.pad(weights, (0, -width % _BLOCK)) if width % _BLOCK else weights.contiguous()
    blocks = padded.view(rows, -1, _BLOCK)
    cdf = blocks.sum(dim=-1).double().cumsum(dim=-1)
    targets = uniforms * cdf[:, -1]
    block = _search(cdf, targets)
    before = torch.where(block > 0, cdf.gather(-1, (block - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1), 0.0)
    inner = blocks[torch.arange(rows, device=weights.device), block].double().cumsum(dim=-1)
    return (block * _BLOCK + _search(inner, targets - before)).clamp(max=width - 1)


def _search(cdf: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, the first column of the running sums `cdf` [rows, n] that passes its target: a column of positive
    weight, since a target is held below its row's total (rounding could otherwise land it on the total)."""
    total = cdf[:, -1]
    targets = torch.minimum(targets.clamp(min=0.0), torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, targets.unsqueeze(-1), right=True).squeeze(-1).clamp(max=cdf.size(-1) - 1)


def _draw(scores: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row of tempered `scores` under each row's top_k then top_p (vLLM's order: top_p applies to
    the distribution renormalised over the top k)."""
    vocab = scores.size(-1)
    top_p = top_p.to(scores.device)
    k = torch.where(top_k > 0, top_k, vocab).clamp(max=vocab).long().to(scores.device)
    plain = (k >= vocab) & (top_p >= 1.0)
    tokens = torch.empty(scores.size(0), dtype=torch.long, device=scores.device)
    if bool(plain.all()):
        return _pick(scores.softmax(dim=-1), uniforms)
    if bool(plain.any()):
        tokens[plain] = _pick(scores[plain].softmax(dim=-1), uniforms[plain.cpu()])
    kept = ~plain
    tokens[kept] = _draw_filtered(scores[kept], k[kept], top_p[kept], uniforms[kept.cpu()])
    return tokens


def _draw_filtered(scores: torch.Tensor, k: torch.Tensor, top_p: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """The draw for rows with a top_k (`k` < vocab) or a top_p < 1: over each row's best `_CANDIDATES` (or k) tokens,
    or over the whole sorted vocabulary when some row's nucleus may reach past them."""
    vocab = scores.size(-1)
    width = min(vocab, max(_CANDIDATES, int(torch.where(k < vocab, k, 0).max())))
    while True:
        values, ids = scores.topk(width, dim=-1) if width < vocab else scores.sort(dim=-1, descending=True)
        probs = _candidate_probs(scores, values, k)
        if width == vocab or not bool(((k > width) & (probs.sum(dim=-1) < top_p)).any()):
            break
        width = min(vocab, width * 8)
    keep = (probs.cumsum(dim=-1) - probs) < top_p.unsqueeze(-1)
    keep[:, 0] = True
    return ids.gather(-1, _pick(probs.masked_fill(~keep, 0.0), uniforms).unsqueeze(-1)).squeeze(-1)


def _candidate_probs(scores: torch.Tensor, values: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Probabilities of the sorted candidates `values`: zero past each row's k, renormalised over the k best when the
    row has a top_k, else over the whole row."""
    in_k = torch.arange(values.size(-1), device=values.device) < k.unsqueeze(-1)
    over_k = values.masked_fill(~in_k, float("-inf")).logsumexp(dim=-1, keepdim=True)
    norm = torch.where((k >= scores.size(-1)).unsqueeze(-1), scores.logsumexp(dim=-1, keepdim=True), over_k)
    return (values - norm).exp().masked_fill(~in_k, 0.0)


def sample_next_tokens(
    logits: torch.Tensor, batch: SamplingBatch, adjusted: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row of `logits` [rows, vocab]; return (tokens, their raw model log-probabilities).

    `adjusted` are the scores after the requests' penalties, biases and grammar masks (`ControlTable.apply`):
    tokens are drawn from them, while the reported log-probabilities stay those of the model. Only the sampled
    (temperature > 0) rows pay for a draw, and each pays for one uniform and one pass over its scores."""
    logits = logits.float()
    scores = logits if adjusted is None else adjusted.float()
    sampled = (batch.temperature > 0).nonzero().flatten()
    if sampled.numel() == 0:
        tokens = scores.argmax(dim=-1)
    elif sampled.numel() == scores.size(0):
        tokens = _tempered_draw(scores, batch)
    else:
        tokens = scores.argmax(dim=-1)
        tokens[sampled.to(logits.device)] = _tempered_draw(scores[sampled.to(logits.device)], _rows_of(batch, sampled))
    chosen = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return tokens, chosen - logits.logsumexp(dim=-1)


def _tempered_draw(scores: torch.Tensor, batch: SamplingBatch) -> torch.Tensor:
    if not bool((batch.temperature == 1.0).all()):  # x / 1.0 is x exactly: skip a pass over the scores
        scores = scores / batch.temperature.to(scores.device).unsqueeze(-1)
    return _draw(scores, batch.top_k, batch.top_p, _uniforms(batch.seed_key))


def _rows_of(batch: SamplingBatch, rows: torch.Tensor) -> SamplingBatch:
    return SamplingBatch(
        batch.temperature[rows], batch.top_p[rows], batch.top_k[rows], batch.seed_key[rows], batch.slot[rows]
    )
