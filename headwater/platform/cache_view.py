"""The gateway's exact view of what one task executor holds in its prefix cache.

Each TE reports the KV blocks it stored and evicted (`CacheEvents`, named by their salted hash chain, see
`headwater.engine.prefix_cache`); this view replays them, so the scheduler asks "how much of this prompt does that
TE hold" of the TE's own ledger as of its last report, not of a guess from routing history (SGLang's approximate
tree). A restarted TE starts from an empty view.
"""

from __future__ import annotations

from collections.abc import Sequence

from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import CacheEvents


class CacheView:
    """The set of block hashes one TE holds, with the prefix-cache queries and hits routed through it."""

    def __init__(self) -> None:
        self.blocks: set[int] = set()
        self.block_size = 0
        """Tokens per block, from the TE's events (0 until its first report)."""
        self.queries = 0
        self.hits = 0

    def apply(self, events: CacheEvents) -> None:
        if events.reset:
            self.blocks.clear()
        self.block_size = events.block_size
        self.blocks.difference_update(events.evicted)
        self.blocks.update(events.stored)

    def clear(self) -> None:
        """Forget everything (the TE restarted or lost its model)."""
        self.blocks.clear()

    def matched_blocks(self, hashes: Sequence[int]) -> int:
        """How many leading blocks of a prompt's hash chain this TE holds (a chain breaks at the first miss)."""
        count = 0
        for block_hash in hashes:
            if block_hash not in self.blocks:
                break
            count += 1
        return count

    def prompt_hashes(self, prompt_ids: Sequence[int], salt: str | None) -> list[int]:
        """The chain of the prompt's blocks that the TE could reuse (empty before the TE's first report)."""
        if self.block_size <= 0:
            return []
        return block_hashes(prompt_ids, self.block_size, salt, matchable=True)

    def record(self, matched_blocks: int) -> None:
        """Count one prefix-cache query routed to this TE (a hit when any block matched)."""
        self.queries += 1
        self.hits += matched_blocks > 0
