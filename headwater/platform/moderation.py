"""The platform's moderation service: one guard, named by `HEADWATER_MODERATION_GUARD`, behind `/v1/moderations`
and fine-tuning's moderate stage, with OpenAI's moderation result shape.

The name is read as, in order: the name of a served model (an `LLMGuard` over it, failing closed on a reply that
does not parse), a classifier-guard folder, or an HF guard model id or path (loaded in the gateway process once, on
first use). A request may name a served model in `model` to moderate with an LLM guard over that model instead.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from headwater.platform.served_generator import ServedGenerator
from headwater.platform.service_limits import check_text_sizes
from headwater.safety.guard.llm import LLAMA_GUARD_2_CATEGORIES
from headwater.safety.guard.verdict import Guard, Item, Verdict

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

CATEGORY_NAMES = {
    code: re.sub(r"[^a-z]+", "-", name.lower()).strip("-") for code, name in LLAMA_GUARD_2_CATEGORIES.items()
}
"""The result's category keys: Llama Guard 2's policy names in OpenAI's style (`violent-crimes`, `self-harm`, …)."""


class ModerationService:
    """Resolves the guard a request uses and turns its verdicts into OpenAI's result objects."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._loaded: Guard | None = None
        self._loading = threading.Lock()

    @property
    def configured(self) -> str | None:
        return self.gateway.settings.moderation_guard

    async def moderate(self, items: Sequence[Item], tenant: str, model: str | None = None) -> dict[str, object]:
        """OpenAI's moderation response for `items`, moderated by the guard `model` names (default: the configured
        one), accounted to `tenant` when the guard is a served model."""
        if not items:
            raise InvalidRequestError("input is empty: give a text or a non-empty list of texts", param="input")
        limit = self.gateway.settings.moderation_max_items
        if len(items) > limit:
            raise PayloadTooLargeError(
                f"input has {len(items)} items; one request may carry at most {limit} "
                "(HEADWATER_MODERATION_MAX_ITEMS): split it"
            )
        check_text_sizes(list(items), self.gateway.settings.service_max_chars, "input")
        name, guard = await self.guard(tenant, model)
        verdicts = await asyncio.to_thread(guard.moderate, items)
        return {"id": f"modr-{uuid.uuid4().hex}", "model": name, "results": [result_of(v) for v in verdicts]}

    async def guard(self, tenant: str, model: str | None = None) -> tuple[str, Guard]:
        """The guard's public name and the guard itself."""
        name = model or self.configured
        if name is None:
            raise InvalidRequestError(
                "no moderation guard is configured: set HEADWATER_MODERATION_GUARD, or name a served model in `model`",
                param="model",
            )
        if name in self.gateway.visible_models(tenant):  # never another tenant's fine-tuned model
            from headwater.safety.guard.llm import LLMGuard

            return name, LLMGuard(ServedGenerator(self.gateway, name, tenant, kind="moderation"))
        if name != self.configured:
            served = ", ".join(sorted(self.gateway.visible_models(tenant))) or "none"
            raise NotFoundError(
                f"guard {name!r} does not exist; use the configured guard ({self.configured or 'none'}) "
                f"or a served model ({served})",
                param="model",
            )
        return name, await asyncio.to_thread(self._load_configured)

    def _load_configured(self) -> Guard:
        """The configured folder or HF guard, loaded once (a worker thread may race another: the lock serialises)."""
        with self._loading:
            if self._loaded is None:
                self._loaded = load_guard(str(self.configured), self.gateway.settings.data_dir)
            return self._loaded


def load_guard(spec: str, data_dir: Path) -> Guard:
    """A classifier-guard folder, else an HF guard model id or path."""
    from headwater.safety.guard.classifier import ClassifierGuard, is_classifier

    if is_classifier(spec):
        return ClassifierGuard.load(Path(spec), data_dir)
    from headwater.safety.guard.hf import HFGuard

    return HFGuard.from_pretrained(spec, data_dir)


def result_of(verdict: Verdict) -> dict[str, object]:
    """One OpenAI moderation result. Category scores are the guard's P(unsafe) for the flagged categories (1.0 when
    the guard gives no probability), 0.0 for the others; `score` and `error` are Headwater's additions."""
    flagged_names = {CATEGORY_NAMES.get(code, code.lower()) for code in verdict.categories}
    unsafe_score = verdict.score if verdict.score is not None else 1.0
    names = [*CATEGORY_NAMES.values(), *sorted(flagged_names - set(CATEGORY_NAMES.values()))]
    return {
        "flagged": verdict.flagged,
        "categories": {name: name in flagged_names for name in names},
        "category_scores": {name: unsafe_score if name in flagged_names else 0.0 for name in names},
        "score": verdict.score,
        "error": verdict.error,
    }
