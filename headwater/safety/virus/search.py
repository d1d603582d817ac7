"""GCG-style greedy coordinate search over the Virus objective (arXiv 2501.17433, §4 "Optimization"; the search
is GCG's, Zou et al., arXiv 2307.15043, Alg. 1).

Per step: the gradient of L w.r.t. x's one-hot rows; special and non-printable tokens masked; the top-k most
promising tokens per position; `swaps` distinct single-token substitutions sampled from them and scored exactly
with the current x; the best kept only if it does not raise L, so L never rises from step to step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from headwater.safety.virus.objectives import GuardObjective, SimilarityObjective, dual_loss
from headwater.safety.virus.tokens import one_hot


@dataclass(frozen=True)
class VirusConfig:
    """Search settings; the defaults are the paper's (λ = 0.1, 50 steps, top-64, 128 swaps)."""

    lam: float = 0.1
    """Weight of the guardrail jailbreak loss; 1 − λ weighs the gradient similarity loss."""
    steps: int = 50
    """Search steps per sample."""
    top_k: int = 64
    """Candidate tokens per position, by gradient."""
    swaps: int = 128
    """Distinct single-token substitutions scored exactly per step."""
    seed: int = 0
    """Seed of the swap sampling."""
    batch_size: int = 64
    """Candidates per guard forward pass."""
    leakage_every: int = 0
    """Check the guard on the decoded text every this many steps (0: only at the start and the end)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam (λ) must be in [0, 1], got {self.lam}")
        for name in ("top_k", "swaps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.steps < 0 or self.leakage_every < 0:
            raise ValueError("steps and leakage_every must not be negative")


@dataclass(frozen=True)
class Scores:
    """L and its terms for a batch of blocks."""

    loss: torch.Tensor
    f_guard: torch.Tensor
    f_sim: torch.Tensor
    cosine: torch.Tensor


class Search:
    """Scores blocks and proposes swaps for one sample."""

    def __init__(
        self, guard: GuardObjective, similarity: SimilarityObjective, allowed: torch.Tensor, config: VirusConfig
    ) -> None:
        self.guard, self.similarity, self.allowed, self.config = guard, similarity, allowed, config
        self.generator = torch.Generator().manual_seed(config.seed)

    @torch.no_grad()
    def _guard_scores(self, blocks: torch.Tensor) -> torch.Tensor:
        size = self.config.batch_size
        return torch.cat([self.guard(blocks[start : start + size]) for start in range(0, len(blocks), size)])

    def score(self, blocks: torch.Tensor) -> Scores:
        """Exact L, F_guard, F_sim and cosine of each block (ids [B, n])."""
        f_guard = self._guard_scores(blocks)
        f_sim, cosine = (value.detach() for value in self.similarity(blocks))
        return Scores(dual_loss(self.config.lam, f_guard, f_sim), f_guard, f_sim, cosine)

    def token_gradient(self, block: torch.Tensor) -> torch.Tensor:
        """∂L/∂one-hot(x): [n, V]. F_sim's part is second order (a backward through g(x), create_graph=True)."""
        hot = one_hot(block, self.allowed.shape[0], torch.float32).unsqueeze(0).requires_grad_(True)
        lam = self.config.lam
        terms = []
        if lam > 0.0:
            terms.append(lam * self.guard(hot)[0])
        if lam < 1.0:
            terms.append((1.0 - lam) * self.similarity(hot, create_graph=True)[0][0])
        (gradient,) = torch.autograd.grad(sum(terms), hot)
        return gradient[0]

    def propose(self, block: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        """Up to `swaps` distinct single-token variants of `block` ([S, n]), each token among its position's top-k
        (most negative gradient), never masked and never the token already there."""
        scores = gradient.masked_fill(~self.allowed, float("inf"))
        scores[torch.arange(len(block)), block] = float("inf")
        top = (-scores).topk(min(self.config.top_k, int(self.allowed.sum())), dim=-1).indices
        valid = torch.isfinite(scores.gather(1, top))
        positions, ranks = valid.nonzero(as_tuple=True)
        picked = torch.randperm(len(positions), generator=self.generator)[: self.config.swaps]
        candidates = block.repeat(len(picked), 1)
        rows = torch.arange(len(picked))
        candidates[rows, positions[picked]] = top[positions[picked], ranks[picked]]
        return candidates

    def step(self, block: torch.Tensor, current: Scores) -> tuple[torch.Tensor, Scores]:
        """One GCG step: the best candidate if it does not raise L, else the block unchanged."""
        candidates = self.propose(block, self.token_gradient(block))
        if len(candidates) == 0:
            return block, current
        if self.config.lam == 1.0:  # L = F_guard: rank by the guard alone, one gradient for the report
            best = int(self._guard_scores(candidates).argmin())
            candidates = candidates[best : best + 1]
        scores = self.score(candidates)
        best = int(scores.loss.argmin())
        if scores.loss[best] > current.loss[0]:
            return block, current
        kept = Scores(*(value[best : best + 1] for value in (scores.loss, scores.f_guard, scores.f_sim, scores.cosine)))
        return candidates[best], kept
