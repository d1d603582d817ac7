"""The gateway's exact view of what one task executor holds in its prefix cache.

Each TE reports the KV blocks it stored and evicted (`CacheEvents`, named by their salted hash chain, see
`headwater.engine.prefix_cache`); this view replays them, so the scheduler asks "how much of this prompt does that
TE hold" of the TE's own ledger as of its last report, not of a guess from routing history (SGLang's approximate
tree). A restarted TE starts from an empty view.

One overlay on the exact view: the prompts of requests routed to the TE and still running there (`expect` at
routing, `settle` when the request ends). A TE reports a prompt's blocks only once it has prefilled them, so without
the overlay every request over a new prefix that arrives while the first is still queued or prefilling sees no TE
holding it and goes to the least loaded, which computes (and caches) the same prefix again (measured on the
shared-prefix set under load: runs of 3-4 misses on one prefix). The overlay sends them after the first, as SGLang's
router does by inserting a prompt into its tree when it routes it. Routing reads the overlay, the hit counter only
the reported blocks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import CacheEvents

EXPECTED_TTL_S = 120.0
"""How long a routed prompt counts as on its way into the TE's cache if its request is never settled."""


class CacheView:
    """The set of block hashes one TE holds, with the prefix-cache queries and hits routed through it."""

    def __init__(self) -> None:
        self.blocks: set[int] = set()
        self.block_size = 0
        """Tokens per block, from the TE's events (0 until its first report)."""
        self.queries = 0
        self.hits = 0
        self._expected: dict[str, tuple[float, list[int]]] = {}
        """Request id → (deadline, prompt chain) of the requests routed here and still running."""
        self._expected_blocks: Counter[int] = Counter()

    def apply(self, events: CacheEvents) -> None:
        if events.reset:
            self.blocks.clear()
        self.block_size = events.block_size
        self.blocks.difference_update(events.evicted)
        self.blocks.update(events.stored)

    def clear(self) -> None:
        """Forget everything (the TE restarted or lost its model)."""
        self.blocks.clear()
        self._expected.clear()
        self._expected_blocks.clear()

    def matched_blocks(self, hashes: Sequence[int], expected: bool = False) -> int:
        """How many leading blocks of a prompt's hash chain this TE holds (a chain breaks at the first miss); with
        `expected`, also those of the prompts routed here and still running (held once they are prefilled)."""
        if expected:
            self._expire(time.monotonic())
        count = 0
        for block_hash in hashes:
            if block_hash not in self.blocks and not (expected and self._expected_blocks[block_hash]):
                break
            count += 1
        return count

    def expect(self, request_id: str, hashes: Sequence[int], now: float | None = None) -> None:
        """The request was routed here: count its prompt's blocks as held until `settle` (or `EXPECTED_TTL_S`)."""
        self.settle(request_id)
        if hashes:
            deadline = (time.monotonic() if now is None else now) + EXPECTED_TTL_S
            self._expected[request_id] = (deadline, list(hashes))
            self._expected_blocks.update(hashes)

    def settle(self, request_id: str) -> None:
        """The request ended here: its blocks count from now on only if the TE reported them."""
        entry = self._expected.pop(request_id, None)
        if entry is not None:
            self._expected_blocks.subtract(entry[1])
            for block_hash in entry[1]:
                if self._expected_blocks[block_hash] <= 0:
                    del self._expected_blocks[block_hash]

    def _expire(self, now: float) -> None:
        for request_id in [rid for rid, (deadline, _) in self._expected.items() if deadline <= now]:
            self.settle(request_id)

    def prompt_hashes(self, prompt_ids: Sequence[int], salt: str | None) -> list[int]:
        """The chain of the prompt's blocks that the TE could reuse (empty before the TE's first report)."""
        if self.block_size <= 0:
            return []
        return block_hashes(prompt_ids, self.block_size, salt, matchable=True)

    def record(self, matched_blocks: int) -> None:
        """Count one prefix-cache query routed to this TE (a hit when any block matched)."""
        self.queries += 1
        self.hits += matched_blocks > 0
