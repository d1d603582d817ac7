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

import bisect
import itertools
import math
import random
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


def _uniforms(seed_keys: list[int]) -> list[float]:
    """One uniform per row: from the row's seed key when it has one, else fresh noise: from Python's generator for
    up to `_LISTED_ROWS` rows, from torch's global one for more. One `torch.rand` right after a llama.cpp forward
    pass costs ~80 µs (its code is out of the CPU's caches), a sixth of a lone row's whole draw."""
    unseeded = sum(key == NO_SEED for key in seed_keys)
    if unseeded <= _LISTED_ROWS:
        noise = [random.random() for _ in range(unseeded)]
    else:
        noise = torch.rand(unseeded, dtype=torch.float64).tolist()
    drawn = iter(noise)
    return [next(drawn) if key == NO_SEED else seeded_uniform(key) for key in seed_keys]


def _pick(weights: torch.Tensor, uniforms: list[float]) -> torch.Tensor:
    """Inverse-CDF draw of one column per row of non-negative `weights` [rows, n]: the first column whose running
    sum passes u × total. A wide row is searched in two levels (its blocks' sums, then the one block the target
    falls in), because a float64 running sum over a whole vocabulary costs more than everything else here.
    Up to `_LISTED_ROWS` rows the running sums and searches are done on Python floats (`_pick_listed`)."""
    rows, width = weights.shape
    if width <= _BLOCK:
        if rows <= _LISTED_ROWS:
            return _pick_listed(weights.unsqueeze(1), None, uniforms, width)
        cdf = weights.double().cumsum(dim=-1)
        return _search(cdf, _as_tensor(uniforms, cdf) * cdf[:, -1])
    padded = torch.nn.functional.pad(weights, (0, -width % _BLOCK)) if width % _BLOCK else weights.contiguous()
    blocks = padded.view(rows, -1, _BLOCK)
    block_sums = blocks.sum(dim=-1)
    if rows <= _LISTED_ROWS:
        return _pick_listed(blocks, block_sums, uniforms, width)
    cdf = block_sums.double().cumsum(dim=-1)
    targets = _as_tensor(uniforms, cdf) * cdf[:, -1]
    block = _search(cdf, targets)
    before = torch.nn.functional.pad(cdf, (1, 0)).gather(-1, block.unsqueeze(-1)).squeeze(-1)  # the sum up to it
    inner = blocks[torch.arange(rows, device=weights.device), block].double().cumsum(dim=-1)
    return (block * _BLOCK + _search(inner, targets - before)).clamp(max=width - 1)


def _as_tensor(uniforms: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(uniforms, dtype=torch.float64, device=like.device)


def _search(cdf: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, the first column of the running sums `cdf` [rows, n] that passes its target: a column of positive
    weight, since a target is held in [0, total) (rounding could otherwise land it on the total, or below 0)."""
    below_total = torch.nextafter(cdf[:, -1:], torch.zeros((), dtype=cdf.dtype, device=cdf.device))
    targets = torch.minimum(targets.unsqueeze(-1).clamp(min=0.0), below_total)
    return torch.searchsorted(cdf, targets, right=True).squeeze(-1).clamp(max=cdf.size(-1) - 1)


_LISTED_ROWS = 4
"""Up to this many rows, `_pick` runs its running sums and searches on Python floats. Right after a forward pass
has pushed torch's code out of the CPU's caches, each tensor operation costs tens of microseconds (measured with
llama.cpp: a one-row draw 0.39 ms then, 0.21 ms warm), so a dozen of them cost more than summing a few hundred
floats in Python; past a few rows the tensor path is faster."""


def _pick_listed(
    blocks: torch.Tensor, block_sums: torch.Tensor | None, uniforms: list[float], width: int
) -> torch.Tensor:
    """`_pick` for a few rows, on Python floats: the same float64 running sums (a sum in order, as torch's CPU
    cumsum adds), the same clamps and the same searches (`bisect_right` is `searchsorted(right=True)`), so the
    same column to the bit. `blocks` [rows, n_blocks, _BLOCK] with their float32 `block_sums`, or [rows, 1, width]
    with None when a row is one block."""
    picks = []
    for row, u in enumerate(uniforms):
        block, before, target = 0, 0.0, 0.0
        if block_sums is not None:
            cdf = list(itertools.accumulate(block_sums[row].tolist()))
            target = u * cdf[-1]
            block = _search_listed(cdf, target)
            before = cdf[block - 1] if block > 0 else 0.0
        inner = list(itertools.accumulate(blocks[row, block].tolist()))
        if block_sums is None:
            target = u * inner[-1]
        picks.append(min(block * _BLOCK + _search_listed(inner, target - before), width - 1))
    return torch.tensor(picks, device=blocks.device)


def _search_listed(cdf: list[float], target: float) -> int:
    """`_search` for one row of Python floats."""
    target = min(max(target, 0.0), math.nextafter(cdf[-1], 0.0))
    return min(bisect.bisect_right(cdf, target), len(cdf) - 1)


def _draw(scores: torch.Tensor, batch: SamplingBatch) -> torch.Tensor:
    """One token per row of tempered `scores` under each row's top_k then top_p (vLLM's order: top_p applies to
    the distribution renormalised over the top k). Which rows need a filter is read from the settings as Python
    numbers: each tensor operation costs microseconds, more than the arithmetic for one row."""
    vocab = scores.size(-1)
    uniforms = _uniforms(batch.seed_key.tolist())
    settings = zip(batch.top_k.tolist(), batch.top_p.tolist(), strict=True)
    plain = [(k <= 0 or k >= vocab) and p >= 1.0 for k, p in settings]
    if all(plain):
        return _pick(scores.softmax(dim=-1), uniforms)
    k = torch.where(batch.top_k > 0, batch.top_k, vocab).clamp(max=vocab).long().to(scores.device)
    top_p = batch.top_p.to(scores.device)
    tokens = torch.empty(scores.size(0), dtype=torch.long, device=scores.device)
    filtered = [not row for row in plain]
    if any(plain):
        rows = torch.tensor(plain, device=scores.device)
        tokens[rows] = _pick(scores[rows].softmax(dim=-1), list(itertools.compress(uniforms, plain)))
    rows = torch.tensor(filtered, device=scores.device)
    tokens[rows] = _draw_filtered(scores[rows], k[rows], top_p[rows], list(itertools.compress(uniforms, filtered)))
    return tokens


def _draw_filtered(scores: torch.Tensor, k: torch.Tensor, top_p: torch.Tensor, uniforms: list[float]) -> torch.Tensor:
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
    temperatures = batch.temperature.tolist()
    sampled = [row for row, temperature in enumerate(temperatures) if temperature > 0]
    if not sampled:
        tokens = scores.argmax(dim=-1)
    elif len(sampled) == len(temperatures):
        tokens = _tempered_draw(scores, batch, temperatures)
    else:
        rows = torch.tensor(sampled)
        tokens = scores.argmax(dim=-1)
        on_device = rows.to(logits.device)
        tokens[on_device] = _tempered_draw(scores[on_device], _rows_of(batch, rows), [temperatures[r] for r in sampled])
    return tokens, logits.log_softmax(dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def _tempered_draw(scores: torch.Tensor, batch: SamplingBatch, temperatures: list[float]) -> torch.Tensor:
    if any(temperature != 1.0 for temperature in temperatures):  # x / 1.0 is x exactly: skip a pass over the scores
        scores = scores / batch.temperature.to(scores.device).unsqueeze(-1)
    return _draw(scores, batch)


def _rows_of(batch: SamplingBatch, rows: torch.Tensor) -> SamplingBatch:
    return SamplingBatch(
        batch.temperature[rows], batch.top_p[rows], batch.top_k[rows], batch.seed_key[rows], batch.slot[rows]
    )
