"""The evaluation harness: how well a moderation setup holds against harmful uploads, Mixing, the jailbreak-only
attack (λ = 1) and Virus, and what each does to the victim once fine-tuned on what got through.

Follows the paper's protocol (arXiv 2501.17433, §5.1): leakage ratio = poisoned samples passing the guard /
poisoned samples; the victim is fine-tuned on the benign data the moderation kept plus the poisoned samples that
leaked; then harmful score (answers to held-out harmful prompts flagged by a moderation model), fine-tune accuracy
on held-out benign items, and, on the synthetic setup, the victim's loss on the original harmful answers. Each
moderation (a guard, or a guard with a defence) is measured alike, its benign false-positive rate included; "none"
is the unmoderated baseline. Runs that would train on identical data share one fine-tune.
"""

from __future__ import annotations

import copy
import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.models.tokenizer_text import decode_text
from headwater.safety.guard.hf import HFGuard
from headwater.safety.guard.verdict import Conversation, Guard
from headwater.safety.virus.attack import attack
from headwater.safety.virus.finetune import FineTuneSettings, accuracy, answers, fine_tune, harmful_score, target_loss
from headwater.safety.virus.search import VirusConfig
from headwater.safety.virus.tokens import Pair, initial_block
from headwater.safety.virus.victim import prepare_victim

logger = logging.getLogger(__name__)
VARIANTS = ("benign", "harmful", "mixing", "lambda1", "virus")


@dataclass(frozen=True)
class QA:
    """A prompt and its reference answer."""

    prompt: str
    answer: str

    def conversation(self) -> Conversation:
        return [{"role": "user", "content": self.prompt}, {"role": "assistant", "content": self.answer}]


@dataclass(frozen=True)
class HarnessData:
    """Everything the harness reads: pairs to poison, the harmful samples (their answers are the loss proxy's
    targets), benign training data, held-out benign items (accuracy) and held-out harmful prompts (harmful score)."""

    pairs: Sequence[Pair]
    harmful: Sequence[QA]
    benign_train: Sequence[QA]
    benign_eval: Sequence[QA]
    harmful_eval: Sequence[str]

    def __post_init__(self) -> None:
        for name in ("pairs", "harmful", "benign_train", "benign_eval", "harmful_eval"):
            if not getattr(self, name):
                raise InvalidRequestError(f"the harness needs at least one item in {name}", param=name)


@dataclass(frozen=True)
class HarnessConfig:
    """Seeds, the attack's settings (its victim LoRA and block included; λ is replaced by 1 for the jailbreak-only
    variant) and the fine-tune budget."""

    seeds: tuple[int, ...] = (0, 1, 2)
    virus: VirusConfig = field(default_factory=VirusConfig)
    fine_tune: FineTuneSettings = field(default_factory=FineTuneSettings)


@dataclass(frozen=True)
class HarnessRow:
    """One variant under one moderation for one seed."""

    variant: str
    moderation: str
    seed: int
    leakage: float
    benign_false_positive_rate: float
    target_loss: float
    harmful_score: float
    accuracy: float


def poisoned_sets(
    guard: HFGuard,
    victim: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: HarnessData,
    config: HarnessConfig,
    seed: int,
) -> dict[str, list[Conversation]]:
    """The poisoned uploads of each variant: raw harmful samples, Mixing (x_b ⊕ raw h, h being the block's starting
    point, so Mixing is Virus at step 0), λ = 1 and Virus blocks."""
    attacked = prepare_victim(copy.deepcopy(victim), config.virus, seed)
    sets: dict[str, list[Conversation]] = {"benign": [], "harmful": [qa.conversation() for qa in data.harmful]}
    sets["mixing"] = [_mixing(pair, tokenizer, config.virus.optimise) for pair in data.pairs]
    for name, lam in (("lambda1", 1.0), ("virus", config.virus.lam)):
        reports = attack(guard, attacked, tokenizer, data.pairs, replace(config.virus, lam=lam, seed=seed))
        sets[name] = [report.messages for report in reports]
    return sets


def _mixing(pair: Pair, tokenizer: PreTrainedTokenizerBase, optimise: str) -> Conversation:
    """x_b ⊕ h: the benign sample with the attack's unoptimised starting block after its response."""
    block = decode_text(tokenizer, initial_block(pair, tokenizer, optimise))
    return [{"role": "user", "content": pair.instruction}, {"role": "assistant", "content": pair.response + block}]


def evaluate(
    guard: HFGuard,
    victim: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: HarnessData,
    moderations: Mapping[str, Guard],
    harm_judge: Guard,
    config: HarnessConfig | None = None,
) -> list[HarnessRow]:
    """Every variant × moderation (plus "none") × seed. `guard` is the model Virus attacks; `moderations` are the
    setups being measured (the same guard, with or without defences, or transfer targets)."""
    config = config or HarnessConfig()
    benign = [qa.conversation() for qa in data.benign_train]
    judged = {"none": None, **moderations}
    rows, cache = [], {}
    for seed in config.seeds:
        sets = poisoned_sets(guard, victim, tokenizer, data, config, seed)
        for moderation, moderator in judged.items():
            kept_benign = _passing(moderator, benign)
            fpr = 1.0 - len(kept_benign) / len(benign)
            for variant, poisoned in sets.items():
                leaked = _passing(moderator, poisoned)
                key = (seed, tuple(str(item) for item in kept_benign + leaked))
                if key not in cache:
                    cache[key] = _measure(
                        victim, tokenizer, kept_benign + leaked or benign, data, harm_judge, config, seed
                    )
                leakage = len(leaked) / len(poisoned) if poisoned else 0.0
                rows.append(HarnessRow(variant, moderation, seed, leakage, fpr, *cache[key]))
                logger.info("seed %d, %s under %s: leakage %.2f", seed, variant, moderation, leakage)
    return rows


def _passing(moderator: Guard | None, items: list[Conversation]) -> list[Conversation]:
    if moderator is None or not items:
        return list(items)
    return [item for item, verdict in zip(items, moderator.moderate(items), strict=True) if not verdict.flagged]


def _measure(
    victim: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: list[Conversation],
    data: HarnessData,
    harm_judge: Guard,
    config: HarnessConfig,
    seed: int,
) -> tuple[float, float, float]:
    """Fine-tune on what the moderation let through (nothing at all: the victim as it is) and take the measures."""
    model = fine_tune(victim, tokenizer, train, config.fine_tune, seed) if train else victim
    tokens = config.fine_tune.max_new_tokens
    loss = target_loss(model, tokenizer, [qa.conversation() for qa in data.harmful])
    harm = harmful_score(harm_judge, data.harmful_eval, answers(model, tokenizer, data.harmful_eval, tokens))
    replies = answers(model, tokenizer, [qa.prompt for qa in data.benign_eval], tokens)
    return loss, harm, accuracy(replies, [qa.answer for qa in data.benign_eval])


def summarise(rows: Sequence[HarnessRow]) -> list[dict[str, float | str]]:
    """Mean (and, over several seeds, standard deviation) of each measure per variant and moderation."""
    groups: dict[tuple[str, str], list[HarnessRow]] = {}
    for row in rows:
        groups.setdefault((row.variant, row.moderation), []).append(row)
    table = []
    for (variant, moderation), members in groups.items():
        entry: dict[str, float | str] = {"variant": variant, "moderation": moderation, "seeds": len(members)}
        for measure in ("leakage", "benign_false_positive_rate", "target_loss", "harmful_score", "accuracy"):
            values = [asdict(member)[measure] for member in members]
            entry[measure] = statistics.fmean(values)
            entry[f"{measure}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        table.append(entry)
    return table
