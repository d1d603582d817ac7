"""Routing policies over hand-made TE states: round robin, least load, longest prefix and Algorithm 1."""

from __future__ import annotations

import json

import pytest

from headwater.errors import EngineUnavailableError, InvalidRequestError
from headwater.platform.catalogue import CatalogueEntry
from headwater.platform.predictor import LengthPredictor, LoggedRequest
from headwater.platform.scheduler import (
    BalanceRule,
    Heatmap,
    Scheduler,
    TEState,
    choose_mode,
    deepflow,
    least_load,
    longest_prefix,
)


def test_balance_rule_is_sglangs():
    rule = BalanceRule()
    assert rule.balanced([0, 32])  # max - min = 32 is not > 32
    assert not rule.balanced([0, 33])
    assert not rule.balanced([1000, 1033])  # 1033 > 1.0001 * 1000 too
    assert not BalanceRule(abs_threshold=32, rel_threshold=1.5).balanced([10, 100])
    assert BalanceRule(abs_threshold=32, rel_threshold=20.0).balanced([10, 100])  # relative test not passed
    assert BalanceRule(abs_threshold=100).balanced([0, 90])
    assert rule.balanced([])


def test_round_robin_cycles_whatever_the_cache():
    states = [TEState(load=0, cached_blocks=9), TEState(load=50), TEState(load=0)]
    scheduler = Scheduler("round_robin")
    assert [scheduler.choose(states) for _ in range(5)] == [0, 1, 2, 0, 1]
    assert scheduler.decisions["round_robin"] == 5


def test_least_load_ignores_the_cache_except_among_equals():
    assert least_load([TEState(3, cached_blocks=10), TEState(1), TEState(2)]) == 1
    assert least_load([TEState(1), TEState(1, cached_blocks=2)]) == 1


def test_prefix_takes_the_longest_cached_prefix_ties_to_the_least_loaded():
    assert longest_prefix([TEState(0, 1), TEState(40, 5), TEState(0, 3)]) == 1
    assert longest_prefix([TEState(7, 2), TEState(3, 2), TEState(0, 0)]) == 1
    assert longest_prefix([TEState(7), TEState(3), TEState(5)]) == 1  # nothing cached: least loaded
    assert longest_prefix([TEState(0, held_blocks=40), TEState(0, held_blocks=8)]) == 1  # then emptiest cache


def test_deepflow_prefers_the_prefix_while_balanced_and_the_least_loaded_when_not():
    rule = BalanceRule()
    balanced = [TEState(10, 0), TEState(30, 4)]
    assert deepflow(balanced, rule) == (1, "prefix")
    imbalanced = [TEState(10, 0), TEState(50, 4)]
    assert deepflow(imbalanced, rule) == (0, "least_load")
    scheduler = Scheduler("deepflow", BalanceRule(abs_threshold=100))
    assert scheduler.choose(imbalanced) == 1
    assert scheduler.decisions == {"prefix": 1}


def test_deepflow_chooses_within_the_te_group_of_the_chosen_mode():
    states = [TEState(0, 9, "colocated"), TEState(5, 0, "prefill"), TEState(1, 2, "prefill"), TEState(0, 0, "decode")]
    assert deepflow(states, BalanceRule(), "prefill") == (2, "prefix")
    assert deepflow(states, BalanceRule(), "colocated") == (0, "prefix")


def test_pd_choice_follows_the_heatmap_sign():
    heatmap = Heatmap(prompt_lengths=(256, 4096), ratios=(0.5, 4.0), gain=((-0.2, -0.1), (0.3, -0.4)))
    pair = [TEState(0), TEState(0, mode="prefill"), TEState(0, mode="decode")]
    assert choose_mode(pair, prompt_tokens=2000, output_tokens=100, heatmap=heatmap) == "prefill"  # gain 0.3
    assert choose_mode(pair, prompt_tokens=2000, output_tokens=6000, heatmap=heatmap) == "colocated"  # -0.4
    assert choose_mode(pair, prompt_tokens=100, output_tokens=10, heatmap=heatmap) == "colocated"
    assert choose_mode(pair, 2000, None, heatmap) == "colocated"  # no prediction: colocated
    assert choose_mode([TEState(0), TEState(1)], 2000, 100, heatmap) == "colocated"  # no pair
    assert heatmap.cell(10**6, 10**7) == -0.4  # beyond the last edges: the last cell


def test_bad_policy_and_heatmap_are_refused_naming_them():
    with pytest.raises(InvalidRequestError, match="fastest") as refused:
        Scheduler("fastest")  # type: ignore[arg-type]
    assert refused.value.param == "policy"
    with pytest.raises(InvalidRequestError, match="2 rows"):
        Heatmap((1, 2), (0.5,), ((0.1,),))
    with pytest.raises(EngineUnavailableError, match="no ready"):
        Scheduler().choose([])


def test_deepflow_asks_the_predictor_for_the_output_length():
    heatmap = Heatmap(prompt_lengths=(256, 4096), ratios=(0.5, 4.0), gain=((-0.2, -0.1), (0.3, -0.4)))
    short_answers = LengthPredictor().fit(LoggedRequest(f"j{i}", "m", "chat", 2000, 40) for i in range(10))
    long_answers = LengthPredictor().fit(LoggedRequest(f"j{i}", "m", "chat", 2000, 9000) for i in range(10))
    pair = [TEState(0), TEState(0, mode="prefill"), TEState(0, mode="decode")]
    assert Scheduler("deepflow", heatmap=heatmap, predictor=short_answers, model="m").choose(pair, 2000) == 1
    assert Scheduler("deepflow", heatmap=heatmap, predictor=long_answers, model="m").choose(pair, 2000) == 0


def test_a_catalogue_entry_with_an_unusable_heatmap_serves_with_least_load(tmp_path):
    good = tmp_path / "heatmap.json"
    good.write_text(json.dumps({"prompt_lengths": [512], "ratios": [1.0], "gain": [[0.1]]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"prompt_lengths": [512, 1024], "ratios": [1.0], "gain": [[0.1]]}))
    assert CatalogueEntry(model="m", heatmap=good).scheduler().heatmap == Heatmap((512,), (1.0,), ((0.1,),))
    fallback = CatalogueEntry(model="m", heatmap=bad).scheduler()
    assert fallback.policy == "least_load"
    assert CatalogueEntry(model="m", predictor=tmp_path / "missing.json").scheduler().policy == "least_load"
    assert CatalogueEntry(model="m").scheduler().policy == "deepflow"


def test_a_mixed_group_sends_positive_cells_to_the_pair_and_negative_ones_to_a_colocated_te():
    heatmap = Heatmap(prompt_lengths=(256, 4096), ratios=(0.5, 4.0), gain=((-0.2, -0.1), (0.3, -0.4)))
    mixed = [TEState(4, mode="colocated"), TEState(0, mode="prefill"), TEState(0, mode="decode")]
    scheduler = Scheduler("deepflow", heatmap=heatmap)
    assert scheduler.choose_kind(mixed, prompt_tokens=2000, output_tokens=100) == "prefill"  # +0.3
    assert scheduler.choose_kind(mixed, prompt_tokens=2000, output_tokens=6000) == "colocated"  # -0.4
    assert scheduler.choose_kind(mixed, prompt_tokens=100, output_tokens=10) == "colocated"  # -0.2
    # untrained predictor: its heuristic bucket (1: 192 tokens) is the output length, ratio 0.096 on 2000 tokens
    assert scheduler.choose_kind(mixed, prompt_tokens=2000) == "prefill"
    assert scheduler.choose_kind(mixed[:1], 2000, 100) == "colocated"  # the pair is not ready: colocated stands in
    assert scheduler.choose_kind(mixed[1:], 100, 10) == "prefill"  # no colocated TE ready: the pair
    assert Scheduler("deepflow").choose_kind(mixed, 2000, 100) == "colocated"  # no heatmap: colocated


@pytest.mark.parametrize("policy", ["round_robin", "least_load", "prefix"])
def test_other_policies_send_a_mixed_groups_sequences_to_the_pair_while_it_is_ready(policy):
    heatmap = Heatmap(prompt_lengths=(4096,), ratios=(4.0,), gain=((-0.9,),))
    mixed = [TEState(0, 9, "colocated"), TEState(30, mode="prefill"), TEState(30, mode="decode")]
    scheduler = Scheduler(policy, heatmap=heatmap)
    assert scheduler.choose_kind(mixed, 100, 10) == "prefill"  # the heatmap is deepflow's alone
    assert scheduler.choose_kind(mixed[:2], 100, 10) == "colocated"  # no decode TE ready
