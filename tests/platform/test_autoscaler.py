"""Autoscaler decisions with hand-made loads and a fake clock."""

from __future__ import annotations

from headwater.platform.autoscaler import GroupLoad, ScaleDecider, ScalePolicy

POLICY = ScalePolicy(min_tes=0, max_tes=4, target_in_flight=8, idle_timeout_s=30.0, ttft_slo_s=2.0)


def test_scale_up_is_immediate_and_clamped():
    decider = ScaleDecider()
    assert decider.desired("m", GroupLoad(tes=0, in_flight=1), POLICY, now=0.0) == 1
    assert decider.desired("m", GroupLoad(tes=1, in_flight=17), POLICY, now=1.0) == 3
    assert decider.desired("m", GroupLoad(tes=3, in_flight=500), POLICY, now=2.0) == 4


def test_scale_down_waits_for_the_idle_timeout_then_goes_to_zero():
    decider = ScaleDecider()
    assert decider.desired("m", GroupLoad(tes=2, in_flight=16), POLICY, now=0.0) == 2
    assert decider.desired("m", GroupLoad(tes=2, in_flight=3), POLICY, now=10.0) == 2  # not needed since 0 s
    assert decider.desired("m", GroupLoad(tes=2, in_flight=0), POLICY, now=29.0) == 2
    assert decider.desired("m", GroupLoad(tes=2, in_flight=0), POLICY, now=30.5) == 0


def test_a_burst_in_the_idle_window_restarts_it():
    decider = ScaleDecider()
    decider.desired("m", GroupLoad(tes=1, in_flight=4), POLICY, now=0.0)
    decider.desired("m", GroupLoad(tes=1, in_flight=0), POLICY, now=20.0)
    assert decider.desired("m", GroupLoad(tes=1, in_flight=2), POLICY, now=25.0) == 1  # needed again
    assert decider.desired("m", GroupLoad(tes=1, in_flight=0), POLICY, now=50.0) == 1  # 25 s < 30 s since
    assert decider.desired("m", GroupLoad(tes=1, in_flight=0), POLICY, now=56.0) == 0


def test_min_tes_is_kept_when_idle():
    policy = ScalePolicy(min_tes=1, max_tes=2, target_in_flight=8, idle_timeout_s=5.0)
    decider = ScaleDecider()
    assert decider.desired("m", GroupLoad(tes=2, in_flight=12), policy, now=0.0) == 2
    assert decider.desired("m", GroupLoad(tes=2, in_flight=0), policy, now=100.0) == 1


def test_ttft_slo_misses_add_a_te_while_there_is_traffic():
    decider = ScaleDecider()
    assert decider.desired("m", GroupLoad(tes=1, in_flight=4, slo_miss_rate=0.5), POLICY, now=0.0) == 2
    assert decider.desired("m", GroupLoad(tes=1, in_flight=4, slo_miss_rate=0.05), POLICY, now=1.0) == 1
    no_slo = ScalePolicy(min_tes=0, max_tes=4, target_in_flight=8, idle_timeout_s=30.0)
    assert decider.desired("n", GroupLoad(tes=1, in_flight=4, slo_miss_rate=0.9), no_slo, now=0.0) == 1
