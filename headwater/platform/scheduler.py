"""Routing policies: which task executor of a model takes the next request.

DeepFlow's Algorithm 1 (arXiv 2501.14417, §5): (1) PD-aware, choose the TE group: colocated, or a disaggregated
prefill/decode pair when the offline heatmap says disaggregation lowers the job completion time for this prompt
length and predicted output length; (2) within the group, the TE with the longest cached prefix if load is
balanced, else the least-loaded TE. The paper leaves the load metric and the balance test open: load is queued +
running sequences, and the test is SGLang's router's (imbalanced when max − min > 32 and max > 1.0001 · min).
`round_robin`, `least_load` and `prefix` (longest cached prefix, ties to the least loaded) are the baselines.

Everything here is a pure function of hand-made `TEState`s, except `Scheduler`, which keeps the round-robin turn
and counts its decisions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from headwater.errors import EngineUnavailableError, InvalidRequestError
from headwater.platform.predictor import BUCKET_TOKENS, LengthPredictor

Policy = Literal["round_robin", "least_load", "prefix", "deepflow"]
POLICIES: tuple[Policy, ...] = ("round_robin", "least_load", "prefix", "deepflow")
Mode = Literal["colocated", "prefill", "decode"]


@dataclass(frozen=True)
class TEState:
    """What the scheduler knows of one ready TE for one request."""

    load: int
    """Sequences queued or running on it."""
    cached_blocks: int = 0
    """Leading KV blocks of this request's prompt that it holds (from its cache events)."""
    mode: Mode = "colocated"
    held_blocks: int = 0
    """All the blocks it holds: a new prefix goes where the cache is emptiest (SGLang's smallest tree)."""


@dataclass(frozen=True)
class BalanceRule:
    """SGLang's balance test over queued + running requests; both thresholds must be passed to be imbalanced."""

    abs_threshold: int = 32
    rel_threshold: float = 1.0001

    def balanced(self, loads: Sequence[int]) -> bool:
        if not loads:
            return True
        low, high = min(loads), max(loads)
        return not (high - low > self.abs_threshold and high > self.rel_threshold * low)


@dataclass(frozen=True)
class Heatmap:
    """DeepFlow's offline study: `gain[i][j]` = JCT(colocated) / JCT(disaggregated) − 1 for prompts up to
    `prompt_lengths[i]` tokens and decode/prompt ratios up to `ratios[j]` (the last bin takes everything above)."""

    prompt_lengths: tuple[int, ...]
    ratios: tuple[float, ...]
    gain: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        rows, columns = len(self.prompt_lengths), len(self.ratios)
        if rows == 0 or columns == 0 or len(self.gain) != rows or any(len(row) != columns for row in self.gain):
            raise InvalidRequestError(
                f"heatmap gain must be {rows} rows (prompt_lengths) of {columns} cells (ratios), "
                f"got {[len(row) for row in self.gain]}; give one gain per (prompt length, ratio) pair",
                param="heatmap",
            )

    @classmethod
    def load(cls, path: Path) -> Heatmap:
        """Read `{"prompt_lengths": [...], "ratios": [...], "gain": [[...]]}`; InvalidRequestError (a ValueError, the
        catalogue's `heatmap` field) saying what is wrong."""
        try:
            document = json.loads(path.read_text())
            return cls(
                tuple(int(x) for x in document["prompt_lengths"]),
                tuple(float(x) for x in document["ratios"]),
                tuple(tuple(float(x) for x in row) for row in document["gain"]),
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise InvalidRequestError(
                f"cannot use the heatmap {path}: {error}; fix the file or remove the model's `heatmap` field",
                param="heatmap",
            ) from None

    def cell(self, prompt_tokens: int, output_tokens: int) -> float:
        row = _bin(self.prompt_lengths, prompt_tokens)
        column = _bin(self.ratios, output_tokens / max(1, prompt_tokens))
        return self.gain[row][column]


def _bin(edges: Sequence[float], value: float) -> int:
    return next((index for index, edge in enumerate(edges) if value <= edge), len(edges) - 1)


def choose_mode(
    states: Sequence[TEState], prompt_tokens: int, output_tokens: int | None, heatmap: Heatmap | None
) -> Mode:
    """Algorithm 1, step 1: `prefill` (the entry of a disaggregated pair) when the heatmap's cell is positive and the
    model has both prefill and decode TEs ready; `colocated` otherwise (and always with no heatmap or prediction)."""
    modes = {state.mode for state in states}
    if not {"prefill", "decode"} <= modes:
        return "colocated"
    if "colocated" not in modes:
        return "prefill"
    if heatmap is None or output_tokens is None:
        return "colocated"
    return "prefill" if heatmap.cell(prompt_tokens, output_tokens) > 0 else "colocated"


def least_load(states: Sequence[TEState]) -> int:
    """The least-loaded TE (the longer cached prefix among equals, then the first)."""
    return min(range(len(states)), key=lambda i: (states[i].load, -states[i].cached_blocks))


def longest_prefix(states: Sequence[TEState]) -> int:
    """The TE holding the longest cached prefix of the prompt (among equals the least loaded, then the one holding
    the fewest blocks, so new prefixes spread over the TEs instead of piling onto the first)."""
    return min(range(len(states)), key=lambda i: (-states[i].cached_blocks, states[i].load, states[i].held_blocks))


def deepflow(states: Sequence[TEState], rule: BalanceRule, mode: Mode = "colocated") -> tuple[int, str]:
    """Algorithm 1, step 2, within the TEs of `mode`: (index, why) where why is `prefix` or `least_load`."""
    group = [i for i, state in enumerate(states) if state.mode == mode] or list(range(len(states)))
    members = [states[i] for i in group]
    if rule.balanced([state.load for state in members]):
        return group[longest_prefix(members)], "prefix"
    return group[least_load(members)], "least_load"


class Scheduler:
    """One model's routing policy, with the round-robin turn and a count of decisions by reason (for /metrics)."""

    def __init__(
        self,
        policy: Policy = "deepflow",
        rule: BalanceRule | None = None,
        heatmap: Heatmap | None = None,
        predictor: LengthPredictor | None = None,
        model: str = "",
    ) -> None:
        """`predictor` gives `deepflow` each request's output length (its bucket's middle), an untrained one its
        documented heuristic; `model` is the name the predictor learned the requests under."""
        if policy not in POLICIES:
            raise InvalidRequestError(
                f"policy: unknown routing policy {policy!r}; choose one of {', '.join(POLICIES)}", param="policy"
            )
        self.policy = policy
        self.rule = rule or BalanceRule()
        self.heatmap = heatmap
        self.predictor = predictor or LengthPredictor()
        self.model = model
        self.decisions: Counter[str] = Counter()
        self._turn = 0

    def choose(self, states: Sequence[TEState], prompt_tokens: int = 0, output_tokens: int | None = None) -> int:
        """The index of the TE that takes the request; EngineUnavailableError (503) when no TE is ready."""
        if not states:
            raise EngineUnavailableError("no ready task executor to choose from; retry once one has started")
        index, why = self._choose(states, prompt_tokens, output_tokens)
        self.decisions[why] += 1
        return index

    def _choose(self, states: Sequence[TEState], prompt_tokens: int, output_tokens: int | None) -> tuple[int, str]:
        if self.policy == "round_robin":
            self._turn += 1
            return (self._turn - 1) % len(states), "round_robin"
        if self.policy == "least_load":
            return least_load(states), "least_load"
        if self.policy == "prefix":
            return longest_prefix(states), "prefix"
        mode = choose_mode(states, prompt_tokens, self._predicted(prompt_tokens, output_tokens), self.heatmap)
        return deepflow(states, self.rule, mode)

    def _predicted(self, prompt_tokens: int, output_tokens: int | None) -> int:
        """The request's output length: as given, else the middle of the predictor's bucket."""
        if output_tokens is not None:
            return output_tokens
        bucket = self.predictor.predict(self.model, "*", prompt_tokens)
        return bucket * BUCKET_TOKENS + BUCKET_TOKENS // 2

    def choose_kind(
        self, states: Sequence[TEState], prompt_tokens: int = 0, output_tokens: int | None = None
    ) -> Literal["colocated", "prefill"]:
        """Algorithm 1, step 1, for a model whose TE group holds both kinds (`colocated_tes` beside a prefill/decode
        pair): `prefill` sends the sequence through the pair, `colocated` to a colocated TE. `deepflow` asks the
        heatmap (`choose_mode`, with the predicted output length). The other policies have no PD-aware step: the
        pair takes the sequence while one is ready (the model is catalogued `disaggregated`), the colocated TEs
        otherwise, so they only stand in while the pair is down. Whatever the policy, a kind with no ready TE is
        never chosen while the other has one."""
        modes = {state.mode for state in states}
        pair = {"prefill", "decode"} <= modes
        if self.policy == "deepflow":
            mode = choose_mode(states, prompt_tokens, self._predicted(prompt_tokens, output_tokens), self.heatmap)
            return "prefill" if mode == "prefill" else "colocated"
        return "prefill" if pair or "colocated" not in modes else "colocated"
