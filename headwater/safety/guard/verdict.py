"""What every guard returns, the `Guard` protocol, and how items become the conversations a guard reads.

A guard moderates conversations (chat messages); plain text is a one-turn user conversation. Fine-tuning examples
become the conversation they will be trained as (`headwater.safety.guard.examples`), so the guard reads what the
model will learn from, with the chat template applied by the guard's own renderer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from headwater.errors import InvalidRequestError

Conversation = list[dict[str, str]]
Item = str | Conversation | dict[str, object]
"""A text, a chat conversation (OpenAI-style messages), or a fine-tuning row (`messages`, or `prompt` +
`completion`)."""
Label = Literal["safe", "unsafe"]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Verdict:
    """One moderation decision. `score` is P(unsafe) when the backend has one; `error` keeps why a reply did not
    parse (such a verdict is always unsafe: moderation fails closed)."""

    verdict: Label
    categories: tuple[str, ...] = ()
    score: float | None = None
    error: str | None = None
    reply: str | None = field(default=None, compare=False)

    @property
    def flagged(self) -> bool:
        """Whether the item is rejected."""
        return self.verdict == "unsafe"


@runtime_checkable
class Guard(Protocol):
    """Moderates conversations, one verdict per item, in order."""

    name: str

    def moderate(self, items: Sequence[Item]) -> list[Verdict]: ...


def as_conversation(item: Item) -> Conversation:
    """The conversation a guard reads: plain text is one user turn; a fine-tuning row is the conversation it trains
    (`prompt` as the user turn, `completion` as the assistant's); messages are checked (role and content)."""
    if isinstance(item, str):
        return [{"role": "user", "content": item}]
    if isinstance(item, dict):
        return _training_row(item)
    if not isinstance(item, list) or not item:
        raise InvalidRequestError("an item must be a text or a non-empty list of messages", param="messages")
    for index, message in enumerate(item):
        if not isinstance(message, dict):
            raise InvalidRequestError(
                f"messages[{index}] must be an object with role and content", param=f"messages[{index}]"
            )
        if message.get("role") not in ROLES:
            got = f", got {message['role']!r}" if "role" in message else ""
            raise InvalidRequestError(
                f"messages[{index}] needs a role among {', '.join(ROLES)}{got}", param=f"messages[{index}].role"
            )
        if not isinstance(message.get("content"), str):
            raise InvalidRequestError(f"messages[{index}] needs a text content", param=f"messages[{index}].content")
    return [{"role": message["role"], "content": message["content"]} for message in item]


def _training_row(record: dict[str, object]) -> Conversation:
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:  # a bare string is not a chat (plain text is no row)
            raise InvalidRequestError("`messages` must be a non-empty list of role/content objects", param="messages")
        return as_conversation(messages)
    prompt, completion = record.get("prompt"), record.get("completion")
    if not isinstance(prompt, str) or not isinstance(completion, str):
        raise InvalidRequestError(
            "needs `messages` (a list of role/content objects) or text fields `prompt` and `completion`",
            param="messages",
        )
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]


def thresholded(verdict: Verdict, threshold: float | None) -> Verdict:
    """Apply a score threshold: over it is unsafe, under it safe; an unparsed reply stays unsafe (fail closed)."""
    if threshold is None or verdict.score is None or verdict.error is not None:
        return verdict
    label: Label = "unsafe" if verdict.score >= threshold else "safe"
    categories = verdict.categories if label == "unsafe" else ()
    return Verdict(label, categories, verdict.score, None, verdict.reply)


class ThresholdGuard:
    """A guard whose scored verdicts are re-decided at `threshold` (see `thresholded`). Wrap the scoring guard
    before any defence: an ensemble's verdict carries the highest *scored* member's score, so thresholding the
    ensemble would clear a flag raised by a member without a score (the perplexity filter)."""

    def __init__(self, guard: Guard, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise InvalidRequestError(f"threshold must be in [0, 1], got {threshold}", param="threshold")
        self.guard, self.threshold = guard, threshold
        self.name = f"threshold({guard.name}, {threshold})"

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        return [thresholded(verdict, self.threshold) for verdict in self.guard.moderate(items)]


def false_positive_rate(guard: Guard, benign: Sequence[Item]) -> float:
    """Share of benign items a guard (or a defence) rejects: the cost of a defence."""
    if not benign:
        raise InvalidRequestError("no benign item to measure a false-positive rate on", param="benign")
    return sum(verdict.flagged for verdict in guard.moderate(list(benign))) / len(benign)
