"""Binoculars (Hans et al., "Spotting LLMs with Binoculars", 2024): perplexity over cross-perplexity.

B = logPPL / logXPPL, with logPPL = −mean_t log A(x_t | x_<t) (A = the observer by default, as in the paper; the
public code uses the performer: `ppl_model="performer"`) and logXPPL = −mean_t Σ_v O(v | x_<t)·log P(v | x_<t).
Low B → machine-written (`higher_is_ai = False`); `headwater detect` defaults to the performer, as the public code
does. The public code's cross term also counts one extra final position (a relative change of about 1/L: ~0.2 % at
512 tokens); we count the same targets in both terms. The paper's thresholds hold only for its falcon-7b pair:
calibrate on your own data (`headwater.detect.calibrate`).
"""

from __future__ import annotations

from typing import Literal

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.detect.lm_scores import aligned, check_models, encode, masked_mean, next_token_logits, refusal
from headwater.errors import InvalidRequestError


class Binoculars:
    """Scores texts with an observer and a performer that share `tokenizer`."""

    higher_is_ai = False

    def __init__(
        self,
        observer: PreTrainedModel,
        performer: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        ppl_model: Literal["observer", "performer"] = "observer",
        max_tokens: int = 512,
        min_tokens: int = 2,
        batch_size: int = 8,
    ) -> None:
        if ppl_model not in ("observer", "performer"):
            raise InvalidRequestError(f"ppl_model must be observer or performer, got {ppl_model!r}", param="ppl_model")
        check_models(tokenizer, observer, performer)
        self.observer, self.performer, self.tokenizer = observer.eval(), performer.eval(), tokenizer
        self.ppl_model, self.max_tokens, self.min_tokens = ppl_model, max_tokens, max(2, min_tokens)
        self.batch_size = batch_size

    def refusal(self, text: str) -> str | None:
        """Why `score` would refuse `text`, or None: lets a caller score the rest of a batch."""
        return refusal(text, self.tokenizer, self.max_tokens, self.min_tokens)

    def score(self, texts: list[str]) -> list[float]:
        """One Binoculars score per text."""
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            scores += self._score_batch(texts[start : start + self.batch_size])
        return scores

    def _score_batch(self, texts: list[str]) -> list[float]:
        batch = encode(texts, self.tokenizer, self.max_tokens, self.min_tokens, self.observer.device)
        observer = next_token_logits(self.observer, batch)
        performer = observer if self.performer is self.observer else next_token_logits(self.performer, batch)
        observer, performer = aligned(observer, performer)
        log_o, log_p = observer.log_softmax(-1), performer.log_softmax(-1)
        numerator = log_o if self.ppl_model == "observer" else log_p
        mask = batch.target_mask.float()
        log_ppl = -masked_mean(numerator.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1), mask)
        cross = -(log_o.exp() * log_p).sum(-1)
        log_xppl = masked_mean(cross, mask)
        return (log_ppl / log_xppl).tolist()
