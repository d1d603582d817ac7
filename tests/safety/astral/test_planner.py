from __future__ import annotations

from collections import Counter

import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.astral import default_taxonomy, plan_tests


def test_full_factorial_covers_every_cell_k_times():
    taxonomy = default_taxonomy()
    plan = plan_tests(taxonomy, per_cell=3, seed=0)
    counts = Counter(test.cell for test in plan)
    assert len(plan) == 1260
    assert set(counts) == set(taxonomy.cells()) and set(counts.values()) == {3}
    assert len({test.id for test in plan}) == 1260
    assert plan[0].id == "t00001" and plan[-1].id == "t01260"


@pytest.mark.parametrize("n", [1, 10, 419, 420, 421, 500, 1000])
def test_balanced_sample_counts_differ_by_at_most_one(n):
    taxonomy = default_taxonomy()
    counts = Counter(test.cell for test in plan_tests(taxonomy, n=n, seed=7))
    per_cell = [counts.get(cell, 0) for cell in taxonomy.cells()]
    assert sum(per_cell) == n
    assert max(per_cell) - min(per_cell) <= 1
    assert per_cell.count(n // 420 + 1) == n % 420


def test_same_seed_same_plan_other_seed_other_plan():
    taxonomy = default_taxonomy()
    first = plan_tests(taxonomy, n=50, seed=3)
    assert first == plan_tests(taxonomy, n=50, seed=3)
    other = plan_tests(taxonomy, n=50, seed=4)
    assert {t.cell for t in first} != {t.cell for t in other}
    assert [t.cell for t in plan_tests(taxonomy, seed=1)] != [t.cell for t in plan_tests(taxonomy, seed=2)]


def test_order_is_shuffled_so_a_prefix_spreads_over_categories():
    plan = plan_tests(default_taxonomy(), per_cell=1, seed=0)
    assert len({test.category for test in plan[:60]}) >= 10


@pytest.mark.parametrize(("kwargs", "field"), [({"n": 0}, "n"), ({"per_cell": 0}, "per_cell")])
def test_bad_sizes_are_rejected(kwargs, field):
    with pytest.raises(InvalidRequestError) as caught:
        plan_tests(default_taxonomy(), **kwargs)
    assert caught.value.param == field


def test_random_dimension_is_drawn_per_test_and_the_rest_stays_balanced():
    taxonomy = default_taxonomy()
    plan = plan_tests(taxonomy, per_cell=2, seed=1, random_dimensions=("styles",))
    assert len(plan) == 14 * 5 * 2
    assert Counter((t.category, t.technique) for t in plan) == Counter(
        {(c, t): 2 for c in taxonomy.categories for t in taxonomy.techniques}
    )
    assert {t.style for t in plan} == set(taxonomy.styles)  # real names, drawn: 140 draws cover all 6
    assert plan == plan_tests(taxonomy, per_cell=2, seed=1, random_dimensions=("styles",))
    with pytest.raises(InvalidRequestError, match="random dimension 'style' is not one of categories"):
        plan_tests(taxonomy, random_dimensions=("style",))
