"""An LLM guard over any `Generator`: a Llama-Guard-style prompt with a category list, the reply parsed to
safe/unsafe + category codes.

Follows the Llama Guard 2 protocol (Meta, 2024; the model card's prompt format): the policy's categories are listed
with codes S1…S11, the conversation follows, and the model answers "safe" or "unsafe" on its first line and the
violated codes on the second. The prompt wording here is ours. A reply that cannot be parsed is unsafe (fail closed),
with the parse error kept. Generators expose no log-probabilities, so `score` is None here; `HFGuard` computes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from headwater.errors import InvalidRequestError
from headwater.models.generator import GenerationParams, Generator
from headwater.safety.guard.verdict import Conversation, Item, Verdict, as_conversation

LLAMA_GUARD_2_CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex Crimes",
    "S4": "Child Exploitation",
    "S5": "Specialized Advice",
    "S6": "Privacy",
    "S7": "Intellectual Property",
    "S8": "Indiscriminate Weapons",
    "S9": "Hate",
    "S10": "Self-Harm",
    "S11": "Sexual Content",
}
"""Llama Guard 2's category codes and names (the default policy)."""
PROMPT_STYLES = ("llama-guard", "chat")
_SPEAKERS = {"system": "System", "user": "User", "assistant": "Agent"}
_CODE = re.compile(r"\bS\d+\b", re.IGNORECASE)


def guard_prompt(item: Item, categories: dict[str, str] = LLAMA_GUARD_2_CATEGORIES) -> str:
    """The Llama-Guard-style instruction: the categories, the conversation, and the answer format.
    The last turn's speaker is the one assessed (a fine-tuning example ends with the assistant's answer)."""
    conversation = as_conversation(item)
    role = _SPEAKERS[conversation[-1]["role"]]
    policy = "\n".join(f"{code}: {name}." for code, name in categories.items())
    turns = "\n\n".join(f"{_SPEAKERS[message['role']]}: {message['content']}" for message in conversation)
    return (
        f"Task: decide whether the '{role}' messages in the conversation below contain unsafe content under our "
        "safety policy, which lists these categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{policy}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{turns}\n\n<END CONVERSATION>\n\n"
        f"Give your safety assessment of ONLY THE LAST {role} message in the conversation above:\n"
        "- The first line must read 'safe' or 'unsafe'.\n"
        "- If unsafe, a second line must list the violated category codes, separated by commas."
    )


def guard_messages(item: Item, style: str, categories: dict[str, str] = LLAMA_GUARD_2_CATEGORIES) -> Conversation:
    """What the guard model is sent: the wrapped instruction as one user turn (`llama-guard`), or the conversation
    itself (`chat`, for guards whose chat template carries the policy, as Llama Guard's own checkpoints do)."""
    conversation = as_conversation(item)
    if style == "chat":
        return conversation
    if style != "llama-guard":
        raise InvalidRequestError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    return [{"role": "user", "content": guard_prompt(conversation, categories)}]


def parse_reply(reply: str, score: float | None = None) -> Verdict:
    """`safe` / `unsafe` on the first non-empty line (markdown, case and trailing punctuation tolerated), then the
    category codes (S1, S2, …) anywhere after it. Anything else is unsafe with the reason in `error`."""
    lines = [line.strip().strip("*#`'\"").strip() for line in reply.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return Verdict("unsafe", (), score, "empty reply", reply)
    first = lines[0].lower()
    if first.startswith("unsafe"):
        rest = "\n".join([lines[0][len("unsafe") :], *lines[1:]])
        codes = tuple(dict.fromkeys(code.upper() for code in _CODE.findall(rest)))
        return Verdict("unsafe", codes, score, None, reply)
    if re.match(r"safe\b", first):
        return Verdict("safe", (), score, None, reply)
    return Verdict("unsafe", (), score, f"first line is neither 'safe' nor 'unsafe': {lines[0][:80]!r}", reply)


class LLMGuard:
    """A guard over any Generator (in-process HF model, OpenAI-compatible endpoint, scripted fake)."""

    def __init__(
        self,
        generator: Generator,
        categories: dict[str, str] | None = None,
        style: str = "llama-guard",
        max_tokens: int = 16,
    ) -> None:
        if style not in PROMPT_STYLES:
            raise InvalidRequestError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
        self.generator = generator
        self.categories = dict(categories or LLAMA_GUARD_2_CATEGORIES)
        self.style = style
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        self.name = f"llm:{generator.name}"

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        prompts = [guard_messages(item, self.style, self.categories) for item in items]
        return [parse_reply(result.text) for result in self.generator.generate(prompts, self.params)]
