"""Run Virus on harmful/benign pairs: the optimised block per sample and its report.

The report holds what the paper's analysis reads (arXiv 2501.17433, §5): whether the poisoned sample passes the
guard, the jailbreak loss F_guard, the gradient cosine to the harmful sample, and L per step, plus time and peak
memory. "Passes" is decided by the guard itself on the decoded text, re-encoded, as a moderation service would
see the upload, not on the optimiser's token ids.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.models.tokenizer_text import decode_text
from headwater.safety.guard.hf import HFGuard
from headwater.safety.virus.objectives import GuardObjective, SimilarityObjective
from headwater.safety.virus.search import Scores, Search, VirusConfig
from headwater.safety.virus.tokens import Pair, allowed_tokens, initial_block, vocabulary_width

logger = logging.getLogger(__name__)


@dataclass
class SampleReport:
    """One poisoned sample: the upload it becomes and how the search went."""

    instruction: str
    response: str
    block: str
    passes_guard: bool
    f_guard: float
    f_sim: float
    cosine: float
    losses: list[float] = field(default_factory=list)
    f_guards: list[float] = field(default_factory=list)
    f_sims: list[float] = field(default_factory=list)
    cosines: list[float] = field(default_factory=list)
    leakage: dict[int, bool] = field(default_factory=dict)
    """Step → passes the guard (the decoded text, re-encoded), at step 0, every `leakage_every` steps and the end."""
    seconds: float = 0.0
    peak_memory_mb: float = 0.0

    @property
    def messages(self) -> list[dict[str, str]]:
        """The poisoned fine-tuning example: the benign response with the block after it."""
        return [
            {"role": "user", "content": self.instruction},
            {"role": "assistant", "content": self.response + self.block},
        ]


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def passes(guard: HFGuard, pair: Pair, block_text: str) -> bool:
    """Whether the guard lets the poisoned sample through, judged on its text."""
    conversation = [
        {"role": "user", "content": pair.instruction},
        {"role": "assistant", "content": pair.response + block_text},
    ]
    return not guard.moderate([conversation])[0].flagged


def attack_sample(
    guard: HFGuard,
    victim: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pair: Pair,
    config: VirusConfig,
    allowed: torch.Tensor | None = None,
) -> SampleReport:
    """Optimise one block x (initialised to h: the templated harmful sample or its answer, per `config.optimise`)
    for `config.steps` steps and report on it. Guard and victim must sit on one device; `allowed` (from
    `allowed_tokens`) can be passed in to decode a large vocabulary only once."""
    started = time.perf_counter()
    width = vocabulary_width(tokenizer, guard.model, victim)
    device = guard.model.device
    block = torch.tensor(initial_block(pair, tokenizer, config.optimise), device=device)
    similarity = SimilarityObjective(victim, tokenizer, pair, block, width)
    allowed = (allowed if allowed is not None else allowed_tokens(tokenizer, width)).to(device)
    search = Search(GuardObjective(guard, pair, width), similarity, allowed, config)
    scores = search.score(block.unsqueeze(0))
    report = SampleReport(pair.instruction, pair.response, "", False, 0.0, 0.0, 0.0)
    _record(report, scores)
    report.leakage[0] = passes(guard, pair, decode_text(tokenizer, block))
    for step in range(1, config.steps + 1):
        block, scores = search.step(block, scores)
        _record(report, scores)
        if config.leakage_every and step % config.leakage_every == 0:
            report.leakage[step] = passes(guard, pair, decode_text(tokenizer, block))
        logger.debug(
            "step %d: L %.4f, F_guard %.4f, cos %.4f", step, report.losses[-1], report.f_guards[-1], report.cosines[-1]
        )
    report.block = decode_text(tokenizer, block)
    report.leakage[config.steps] = report.passes_guard = passes(guard, pair, report.block)
    report.f_guard, report.cosine = report.f_guards[-1], report.cosines[-1]
    report.f_sim = report.f_sims[-1]
    report.seconds, report.peak_memory_mb = time.perf_counter() - started, _peak_memory_mb()
    return report


def _record(report: SampleReport, scores: Scores) -> None:
    report.losses.append(float(scores.loss[0]))
    report.f_guards.append(float(scores.f_guard[0]))
    report.f_sims.append(float(scores.f_sim[0]))
    report.cosines.append(float(scores.cosine[0]))


def attack(
    guard: HFGuard,
    victim: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    config: VirusConfig | None = None,
    on_sample: Callable[[int, int, SampleReport], None] | None = None,
) -> list[SampleReport]:
    """Virus over every pair, in order; `on_sample(done, total, report)` after each. `victim` must carry LoRA
    adapters (`prepare_victim(victim, config)`)."""
    config = config or VirusConfig()
    allowed = allowed_tokens(tokenizer, vocabulary_width(tokenizer, guard.model, victim))
    reports = []
    for index, pair in enumerate(pairs):
        reports.append(attack_sample(guard, victim, tokenizer, pair, config, allowed))
        logger.info("sample %d/%d: passes guard %s", index + 1, len(pairs), reports[-1].passes_guard)
        if on_sample is not None:
            on_sample(index + 1, len(pairs), reports[-1])
    return reports


def attack_models(
    guard: str,
    victim: str,
    pairs: Sequence[Pair],
    config: VirusConfig | None = None,
    style: str = "llama-guard",
    data_dir: Path | str = ".headwater",
    on_sample: Callable[[int, int, SampleReport], None] | None = None,
) -> list[SampleReport]:
    """Virus against a guard model you operate and a victim, both named (HF id, folder or built-in): loads them,
    checks they share one vocabulary, gives the victim its LoRA, and runs `attack`. What `headwater guard attack`
    and the platform's admin-only attack job call."""
    from headwater.models.loading import load_model, load_tokenizer
    from headwater.safety.virus.victim import prepare_victim

    config = config or VirusConfig()
    tokenizer = load_tokenizer(guard, data_dir=data_dir)
    if load_tokenizer(victim, data_dir=data_dir).get_vocab() != tokenizer.get_vocab():
        raise InvalidRequestError(
            "guard and victim use different tokenizers; Virus needs one shared vocabulary", param="victim"
        )
    judge = HFGuard(load_model(guard, data_dir=data_dir), tokenizer, style=style, name=guard)
    target = prepare_victim(load_model(victim, data_dir=data_dir), config)
    return attack(judge, target, tokenizer, pairs, config, on_sample)
