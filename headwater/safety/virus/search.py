"""GCG-style greedy coordinate search over the Virus objective (arXiv 2501.17433, §4 "Optimization"; the search
is GCG's, Zou et al., arXiv 2307.15043, Alg. 1).

Per step: the gradient of L w.r.t. x's one-hot rows; special and non-printable tokens masked; the top-k most
promising tokens per position; `swaps` distinct single-token substitutions sampled from them and scored exactly
with the current x; the best kept only if it does not raise L, so L never rises from step to step.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

import torch

from headwater.errors import InvalidRequestError
from headwater.safety.virus.objectives import GuardObjective, SimilarityObjective, dual_loss
from headwater.safety.virus.tokens import one_hot

OPTIMISE = ("sample", "answer")
"""What the block x starts as and so what the search optimises: the whole templated harmful sample, or its answer."""
OFFICIAL_TARGET_MODULES = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class VirusConfig:
    """Search settings and the victim LoRA that g(x) is taken over. The defaults are the paper's search (λ = 0.1,
    50 steps, top-64, 128 swaps) and the official code's LoRA (r = 32, α = 4 on q/k/v) and block (the whole
    templated harmful sample)."""

    lam: float = 0.1
    """Weight of the guardrail jailbreak loss; 1 − λ weighs the gradient similarity loss."""
    steps: int = 50
    """Search steps per sample."""
    top_k: int = 64
    """Candidate tokens per position, by gradient."""
    swaps: int = 128
    """Distinct single-token substitutions scored exactly per step."""
    seed: int = 0
    """Seed of the swap sampling (and of a fresh victim LoRA's initialisation in `prepare_victim`)."""
    batch_size: int = 64
    """Candidates per guard forward pass."""
    leakage_every: int = 0
    """Check the guard on the decoded text every this many steps (0: only at the start and the end)."""
    lora_rank: int = 32
    """Rank r of the victim's LoRA adapters, the weights g(x) is the gradient over (official: 32)."""
    lora_alpha: float = 4.0
    """LoRA α: the adapters' output is scaled by α / r (official: 4, so 1/8); it scales g and so F_sim against
    F_guard."""
    target_modules: tuple[str, ...] = OFFICIAL_TARGET_MODULES
    """Names (last component) of the linear layers that get adapters (official: q/k/v); ("all-linear",) for all."""
    optimise: str = "sample"
    """"sample": x starts as the whole harmful sample (instruction + answer) in the victim's chat template, as the
    official code; "answer": x starts as the harmful answer alone."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise InvalidRequestError(f"lam (λ) must be in [0, 1], got {self.lam}", param="lam")
        for name in ("top_k", "swaps", "batch_size", "lora_rank"):
            if getattr(self, name) < 1:
                raise InvalidRequestError(f"{name} must be at least 1, got {getattr(self, name)}", param=name)
        for name in ("steps", "leakage_every"):
            if getattr(self, name) < 0:
                raise InvalidRequestError(f"{name} must not be negative, got {getattr(self, name)}", param=name)
        if not self.lora_alpha > 0:
            raise InvalidRequestError(f"lora_alpha must be above 0, got {self.lora_alpha}", param="lora_alpha")
        if self.optimise not in OPTIMISE:
            raise InvalidRequestError(
                f"optimise must be one of {', '.join(OPTIMISE)}, got {self.optimise!r}", param="optimise"
            )
        targets = (self.target_modules,) if isinstance(self.target_modules, str) else tuple(self.target_modules)
        if not targets or not all(isinstance(name, str) and name.strip() for name in targets):
            raise InvalidRequestError(
                f"target_modules must name at least one layer, got {self.target_modules!r}", param="target_modules"
            )
        object.__setattr__(self, "target_modules", tuple(name.strip() for name in targets))


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
        (gradient,) = torch.autograd.grad(reduce(operator.add, terms), hot)
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
