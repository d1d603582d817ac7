"""Sizes of a disaggregated model's prefill, decode and colocated groups, with hand-made loads and a fake clock;
and the catalogue keys that bound them."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.platform.autoscaler import GroupLoad
from headwater.platform.catalogue import parse_entry
from headwater.platform.pd_autoscaler import PairDecider, PairLoad, PairPolicy, PairSize

ENTRY = {
    "model": "m",
    "serving_mode": "disaggregated",
    "prefill_tes": 1,
    "decode_tes": 1,
    "max_prefill_tes": 3,
    "max_decode_tes": 3,
    "target_in_flight": 4,
    "target_prefill_tokens": 1000,
    "idle_timeout_s": 30,
    "ttft_slo_s": 1.0,
}
POLICY = PairPolicy.from_entry(parse_entry(ENTRY, "test"))


def load(prefill: tuple[int, int], decode: tuple[int, int], colocated: int = 0, other: int = 0, miss: float = 0.0):
    """(TEs, load) of each group: prompt tokens for prefill, sequences for decode."""
    return PairLoad(GroupLoad(prefill[0], prefill[1], miss), GroupLoad(*decode), colocated, other)


def test_each_group_grows_at_once_on_its_own_load_up_to_its_maximum():
    decider = PairDecider()
    assert decider.desired("m", load((1, 0), (1, 9)), POLICY, 0.0) == PairSize(1, 3, 0)  # 9 sequences / 4
    assert decider.desired("m", load((1, 2500), (3, 9)), POLICY, 1.0) == PairSize(3, 3, 0)  # 2500 tokens / 1000
    assert decider.desired("m", load((3, 90_000), (3, 500)), POLICY, 2.0) == PairSize(3, 3, 0)  # clamped


def test_ttft_misses_add_a_prefill_te_not_a_decode_te():
    decider = PairDecider()
    assert decider.desired("m", load((1, 300), (1, 2), miss=0.5), POLICY, 0.0) == PairSize(2, 1, 0)
    assert decider.desired("m", load((1, 300), (1, 2), miss=0.05), POLICY, 1.0) == PairSize(1, 1, 0)


def test_a_group_shrinks_after_the_idle_timeout_and_never_below_one_prefill_and_one_decode():
    decider = PairDecider()
    assert decider.desired("m", load((2, 2000), (3, 12)), POLICY, 0.0) == PairSize(2, 3, 0)
    assert decider.desired("m", load((2, 0), (3, 5)), POLICY, 10.0) == PairSize(2, 3, 0)  # needed 10 s ago
    assert decider.desired("m", load((2, 0), (3, 5)), POLICY, 31.0) == PairSize(1, 2, 0)  # each to its own load
    assert decider.desired("m", load((1, 0), (2, 0)), POLICY, 70.0) == PairSize(1, 1, 0)  # the pair stays up


def test_the_groups_are_decided_apart():
    decider = PairDecider()
    decider.desired("m", load((1, 0), (1, 12)), POLICY, 0.0)
    assert decider.desired("m", load((1, 3000), (3, 12)), POLICY, 40.0) == PairSize(3, 3, 0)
    assert decider.desired("m", load((3, 0), (3, 12)), POLICY, 50.0) == PairSize(3, 3, 0)  # prefill: 10 s idle
    assert decider.desired("m", load((3, 0), (3, 12)), POLICY, 71.0) == PairSize(1, 3, 0)  # decode still needed


def test_colocated_tes_beside_the_pair_keep_their_number():
    policy = PairPolicy.from_entry(parse_entry({**ENTRY, "colocated_tes": 2}, "test"))
    assert PairDecider().desired("m", load((1, 0), (1, 0), colocated=2), policy, 0.0) == PairSize(1, 1, 2)


def test_with_min_tes_0_the_whole_model_goes_to_zero_when_idle_and_comes_back_at_its_starting_sizes():
    policy = PairPolicy.from_entry(parse_entry({**ENTRY, "min_tes": 0, "prefill_tes": 2, "colocated_tes": 1}, "t"))
    decider = PairDecider()
    assert decider.desired("m", load((0, 0), (0, 0)), policy, 0.0) == PairSize(0, 0, 0)  # at zero, nothing asked
    assert decider.desired("m", load((0, 0), (0, 0), other=1), policy, 1.0) == PairSize(2, 1, 1)  # activator
    assert decider.desired("m", load((2, 0), (1, 9), colocated=1), policy, 2.0) == PairSize(2, 3, 1)
    assert decider.desired("m", load((2, 0), (3, 9), colocated=1, other=1), policy, 20.0) == PairSize(2, 3, 1)
    assert decider.desired("m", load((2, 0), (3, 0), colocated=1), policy, 40.0) == PairSize(2, 3, 1)  # 20 s idle
    assert decider.desired("m", load((2, 0), (3, 0), colocated=1), policy, 51.0) == PairSize(0, 0, 0)
    assert decider.desired("m", load((0, 0), (0, 0)), policy, 60.0) == PairSize(0, 0, 0)
    back = decider.desired("m", load((0, 700), (0, 0)), policy, 61.0)  # a prompt waits for a prefill TE
    assert back == PairSize(2, 1, 1)  # the starting sizes, not the 3 decode TEs it had before


def test_without_min_tes_0_an_idle_model_keeps_its_pair():
    decider = PairDecider()
    for now in (0.0, 100.0, 1000.0):
        assert decider.desired("m", load((1, 0), (1, 0)), POLICY, now) == PairSize(1, 1, 0)


def test_min_tes_and_max_tes_of_a_pair_only_say_whether_it_may_scale_to_zero():
    """As before these keys existed: an older catalogue's `min_tes`/`max_tes` on a pair stays valid."""
    pair = {"model": "m", "serving_mode": "disaggregated"}
    kept = PairPolicy.from_entry(parse_entry({**pair, "min_tes": 4, "max_tes": 4}, "x"))
    assert (kept.prefill.max_tes, kept.decode.max_tes, kept.scale_to_zero) == (1, 1, False)
    assert PairPolicy.from_entry(parse_entry({**pair, "min_tes": 0}, "x")).scale_to_zero


def test_an_entry_without_maxima_keeps_fixed_groups():
    policy = PairPolicy.from_entry(parse_entry({"model": "m", "serving_mode": "disaggregated", "decode_tes": 2}, "x"))
    assert (policy.prefill.min_tes, policy.prefill.max_tes, policy.decode.min_tes, policy.decode.max_tes) == (
        1,
        1,
        2,
        2,
    )
    assert not policy.scale_to_zero
    assert PairDecider().desired("m", load((1, 10**6), (2, 10**4)), policy, 0.0) == PairSize(1, 2, 0)


@pytest.mark.parametrize(
    ("bad", "field", "says"),
    [
        ({"max_decode_tes": 1, "decode_tes": 2}, "max_decode_tes", "below decode_tes"),
        ({"max_prefill_tes": 0}, "max_prefill_tes", "greater than or equal to 1"),
        ({"serving_mode": "colocated", "max_decode_tes": 2}, "max_decode_tes", "serving_mode disaggregated"),
        ({"target_prefill_tokens": 0}, "target_prefill_tokens", "greater than or equal to 1"),
    ],
)
def test_bad_bounds_are_refused_naming_the_key(bad, field, says):
    with pytest.raises(InvalidRequestError, match=field) as refused:
        parse_entry({"model": "m", "serving_mode": "disaggregated", **bad}, "x")
    assert says in str(refused.value)
