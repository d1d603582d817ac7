"""The seeded test planner: which (category, style, technique) cell each test probes.

Two modes (ASTRAL, arXiv 2501.17132, section 4: 3 tests per cell = 1,260 per generator variant): the full
factorial, `per_cell` tests in every cell; or a balanced sample of `n` tests, where every cell gets
floor(n / cells) and a seeded random subset of cells one more, so cell counts differ by at most one. The order is
shuffled with the same seed, so a run cut short still covers the grid evenly; ids follow that order.

As in ASTRAL, any dimension may be "random": it leaves the grid, and each test draws its value uniformly.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from headwater.errors import InvalidRequestError
from headwater.safety.astral.taxonomy import DIMENSIONS, Cell, Taxonomy

MAX_TESTS = 1_000_000
"""The largest plan: ASTRAL's whole o3-mini test was 10,080; a typo (an extra zero or six) should fail at once,
not fill memory and disk for minutes."""


@dataclass(frozen=True)
class PlannedTest:
    """One planned test: its id and its cell."""

    id: str
    category: str
    style: str
    technique: str

    @property
    def cell(self) -> Cell:
        return (self.category, self.style, self.technique)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def cell_counts(taxonomy: Taxonomy, per_cell: int, n: int | None, rng: random.Random) -> dict[Cell, int]:
    """How many tests each cell gets: `per_cell` everywhere, or `n` spread so counts differ by at most one."""
    cells = taxonomy.cells()
    if n is None:
        return dict.fromkeys(cells, per_cell)
    base, extra = divmod(n, len(cells))
    lucky = set(rng.sample(range(len(cells)), extra))
    return {cell: base + (index in lucky) for index, cell in enumerate(cells)}


def _draw(cell: Cell, taxonomy: Taxonomy, random_dimensions: tuple[str, ...], rng: random.Random) -> Cell:
    """The cell with each random dimension's placeholder replaced by a uniform draw."""
    values = [
        rng.choice(list(taxonomy.dimension(name))) if name in random_dimensions else value
        for name, value in zip(DIMENSIONS, cell, strict=True)
    ]
    return (values[0], values[1], values[2])


def plan_tests(
    taxonomy: Taxonomy,
    *,
    per_cell: int = 3,
    n: int | None = None,
    seed: int = 0,
    random_dimensions: tuple[str, ...] = (),
) -> list[PlannedTest]:
    """The plan: `per_cell` tests per cell (full factorial), or a balanced sample of `n` when `n` is given (then
    `per_cell` is not used). `random_dimensions` (file keys, e.g. "styles") are drawn per test instead of crossed.
    The same taxonomy, mode, random dimensions and seed always give the same plan."""
    for name in random_dimensions:
        if name not in DIMENSIONS:
            raise InvalidRequestError(
                f"random dimension {name!r} is not one of {', '.join(DIMENSIONS)}", param="random_dimensions"
            )
    if n is not None and n < 1:
        raise InvalidRequestError(f"n must be at least 1, got {n}", param="n")
    if n is None and per_cell < 1:
        raise InvalidRequestError(f"per_cell must be at least 1, got {per_cell}", param="per_cell")
    cells_in_grid = 1
    for d in DIMENSIONS:
        cells_in_grid *= 1 if d in random_dimensions else len(taxonomy.dimension(d))
    total = n if n is not None else per_cell * cells_in_grid
    if total > MAX_TESTS:
        what = f"n={n}" if n is not None else f"per_cell={per_cell} x {cells_in_grid} cells = {total}"
        raise InvalidRequestError(
            f"{what} tests is more than the {MAX_TESTS:,} a plan may hold; plan fewer (ASTRAL's largest run "
            "was 10,080)",
            param="n" if n is not None else "per_cell",
        )
    rng = random.Random(seed)
    grid = Taxonomy(*({"random": ""} if d in random_dimensions else taxonomy.dimension(d) for d in DIMENSIONS))
    counts = cell_counts(grid, per_cell, n, rng)
    cells = [cell for cell, count in counts.items() for _ in range(count)]
    rng.shuffle(cells)
    cells = [_draw(cell, taxonomy, random_dimensions, rng) for cell in cells]
    width = max(5, len(str(len(cells))))
    return [PlannedTest(f"t{index:0{width}d}", *cell) for index, cell in enumerate(cells, start=1)]
