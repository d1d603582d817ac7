"""Virus (Huang et al., arXiv 2501.17433): harmful fine-tuning data optimised to pass a guard, to measure how well
your own moderation holds. For testing one's own moderation only; the platform exposes it to admins alone.

`attack` optimises one block per harmful/benign pair (GCG search over λ·F_guard + (1 − λ)·F_sim) and reports on
each; `evaluate` runs the harness (leakage, harmful-effect proxy, harmful score, fine-tune accuracy per variant and
defence over seeds); `marker_setup` builds the harmless synthetic guard/victim pair the tests and benchmark use.
"""

from headwater.safety.virus.attack import SampleReport, attack, attack_models, attack_sample
from headwater.safety.virus.finetune import FineTuneSettings
from headwater.safety.virus.harness import QA, HarnessConfig, HarnessData, HarnessRow, evaluate, summarise
from headwater.safety.virus.objectives import GuardObjective, SimilarityObjective, dual_loss
from headwater.safety.virus.search import Search, VirusConfig
from headwater.safety.virus.synthetic import MARKER, marker_pairs, marker_setup
from headwater.safety.virus.tokens import Pair, allowed_tokens, read_pairs
from headwater.safety.virus.victim import prepare_victim

__all__ = [
    "MARKER",
    "QA",
    "FineTuneSettings",
    "GuardObjective",
    "HarnessConfig",
    "HarnessData",
    "HarnessRow",
    "Pair",
    "SampleReport",
    "Search",
    "SimilarityObjective",
    "VirusConfig",
    "allowed_tokens",
    "attack",
    "attack_models",
    "attack_sample",
    "dual_loss",
    "evaluate",
    "marker_pairs",
    "marker_setup",
    "prepare_victim",
    "read_pairs",
    "summarise",
]
