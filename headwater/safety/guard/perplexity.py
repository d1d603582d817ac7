"""A perplexity filter: optimised token blocks (GCG, Virus) read as gibberish to a small LM.

Windowed perplexity, one of the baseline defences of Jain et al. (arXiv 2309.00614, §4.1): the highest mean
negative log-likelihood over any window of `window` tokens of the last turn, given everything before it, so a short
optimised block is not averaged away by the benign text around it. Flagged above `threshold`, which `calibrate`
sets from benign data at a chosen false-positive rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.safety.guard.verdict import Conversation, Item, Verdict, as_conversation


class PerplexityFilter:
    """Unsafe (category `perplexity`) when the last turn's windowed perplexity exceeds `threshold`."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, threshold: float = 1e3, window: int = 8
    ) -> None:
        if window < 1:
            raise InvalidRequestError(f"window must be at least 1, got {window}")
        self.model, self.tokenizer, self.threshold, self.window = model.eval(), tokenizer, threshold, window
        self.name = "perplexity"

    def _split(self, conversation: Conversation) -> tuple[list[int], list[int]]:
        """Ids of the context (the earlier turns, chat template applied when the tokenizer has one) and of the last
        turn's text, the part that is scored."""
        *history, last = conversation
        if history and getattr(self.tokenizer, "chat_template", None):
            head = self.tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        else:
            head = "".join(message["content"] + "\n" for message in history)
        encode = self.tokenizer
        context = encode(head, add_special_tokens=False)["input_ids"] if head else []
        return context, encode(last["content"], add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def perplexity(self, item: Item) -> float:
        """exp of the highest mean NLL over windows of the last turn's tokens."""
        context, target = self._split(as_conversation(item))
        if not target:
            raise InvalidRequestError("the last message is empty: nothing to score", param="messages")
        ids = torch.tensor([context + target], device=self.model.device)
        logits = self.model(input_ids=ids).logits[0, :-1].float()
        nll = -torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
        nll = nll[max(len(context) - 1, 0) :]
        if nll.numel() == 0:  # a one-token text with no context: nothing is predicted, nothing to flag
            return 1.0
        width = min(self.window, len(nll))
        windows = nll.unfold(0, width, 1).mean(-1)
        return math.exp(min(float(windows.max()), 80.0))

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        verdicts = []
        for item in items:
            value = self.perplexity(item)
            flagged = value > self.threshold
            verdicts.append(
                Verdict("unsafe" if flagged else "safe", ("perplexity",) if flagged else (), None, None, f"{value:.2f}")
            )
        return verdicts

    def calibrate(self, benign: Sequence[Item], fpr: float = 0.05) -> float:
        """Set the threshold to the (1 − fpr) quantile of benign perplexities; returns it."""
        if not benign or not 0.0 <= fpr < 1.0:
            raise InvalidRequestError("calibration needs benign items and fpr in [0, 1)", param="fpr")
        values = sorted(self.perplexity(item) for item in benign)
        self.threshold = values[min(len(values) - 1, math.ceil((1.0 - fpr) * len(values)) - 1)]
        return self.threshold
