"""Fast-DetectGPT (Bao et al., ICLR 2024), analytic conditional probability curvature.

μ_t = Σ_v S(v|x_<t)·log C(v|x_<t), σ²_t = Σ_v S(v|x_<t)·(log C(v|x_<t))² − μ_t², and
D = Σ_t (log C(x_t|x_<t) − μ_t) / sqrt(Σ_t σ²_t): sums, not means, so D grows with length (calibrate on similar
lengths). High D → machine-written (`higher_is_ai = True`). When the sampling and scoring models are the same
object, one forward pass serves both.
"""

from __future__ import annotations

import math

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.detect.lm_scores import aligned, check_models, encode, next_token_logits, refusal
from headwater.errors import InvalidRequestError


class FastDetectGPT:
    """Scores texts with a sampling and a scoring model that share `tokenizer`."""

    higher_is_ai = True

    def __init__(
        self,
        sampling_model: PreTrainedModel,
        scoring_model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_tokens: int = 512,
        min_tokens: int = 2,
        batch_size: int = 8,
    ) -> None:
        check_models(tokenizer, sampling_model, scoring_model)
        self.sampling, self.scoring, self.tokenizer = sampling_model.eval(), scoring_model.eval(), tokenizer
        self.max_tokens, self.min_tokens, self.batch_size = max_tokens, max(2, min_tokens), batch_size

    def refusal(self, text: str) -> str | None:
        """Why `score` would refuse `text`, or None: lets a caller score the rest of a batch."""
        return refusal(text, self.tokenizer, self.max_tokens, self.min_tokens)

    def score(self, texts: list[str]) -> list[float]:
        """One curvature D per text."""
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            scores += self._score_batch(texts[start : start + self.batch_size], start)
        return scores

    def _score_batch(self, texts: list[str], offset: int) -> list[float]:
        batch = encode(texts, self.tokenizer, self.max_tokens, self.min_tokens, self.scoring.device)
        scoring = next_token_logits(self.scoring, batch)
        sampling = scoring if self.sampling is self.scoring else next_token_logits(self.sampling, batch)
        sampling, scoring = aligned(sampling, scoring)
        log_c, probs_s = scoring.log_softmax(-1), sampling.softmax(-1)
        mean = (probs_s * log_c).sum(-1)
        # Σ S·(log C − μ)² equals Σ S·(log C)² − μ², without the float32 cancellation of two close terms (~36 each);
        # the sums over positions run in float64, so D matches a float64 loop within 1e-5
        variance = (probs_s * (log_c - mean.unsqueeze(-1)).square()).sum(-1)
        mask = batch.target_mask.double()
        observed = log_c.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)
        numerator = ((observed - mean).double() * mask).sum(-1)
        spread = (variance.double() * mask).sum(-1)
        scores = []
        for index, (top, bottom) in enumerate(zip(numerator.tolist(), spread.tolist(), strict=True)):
            if bottom <= 0:
                raise InvalidRequestError(
                    f"text {offset + index}: the scoring model is certain of every token "
                    "(zero variance); the curvature is undefined",
                    param=f"texts[{offset + index}]",
                )
            scores.append(top / math.sqrt(bottom))
        return scores
