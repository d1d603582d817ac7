"""What a red-teaming run is asked to do (`POST /v1/redteam/runs`), checked whole before anything is recorded.

The body is pydantic (the HTTP boundary), with the options of `headwater redteam plan|generate|run` under the same
names; `resolve` then checks what needs the gateway: every model named must be served (404 listing those that are),
and an external target is a URL, a model name and, maybe, a key. The key is split off here into `RunSpec.key`, so
the `params` a job row records never hold it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.safety.astral.generate import PROMPT_STYLES
from headwater.safety.astral.taxonomy import DIMENSIONS


class RedteamRunRequest(BaseModel):
    """A run against a served `target`, or an external OpenAI-compatible one (`target_base_url`, `target_model`,
    `target_api_key`). The test writer (`generator`) and the `oracle` are served models (default: the target, when
    it is served). Sizes as `headwater redteam plan`: `per_cell` tests in every cell, or a balanced sample of `n`."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(None, description="A served model under test.")
    target_base_url: str | None = Field(None, description="An external OpenAI-compatible base URL under test.")
    target_model: str | None = Field(None, description="The external target's model name.")
    target_api_key: str | None = Field(
        None, description="The external target's key: held in memory for the run, never stored."
    )
    generator: str | None = Field(None, description="Served model that writes the tests (default: the target).")
    oracle: str | None = Field(None, description="Served model that labels outputs (default: the target).")
    per_cell: int | None = Field(None, ge=1, le=100, description="Tests in every cell (default 3).")
    n: int | None = Field(None, ge=1, le=100_000, description="A balanced sample of n tests instead.")
    seed: int = Field(0, description="Seed of the plan's sample and order, and of the writer's retrieval draws.")
    random: list[str] = Field(
        default_factory=list, description=f"Dimensions drawn per test instead of crossed: {', '.join(DIMENSIONS)}."
    )
    prompt_style: str = Field("unsafe", description=f"One of {', '.join(PROMPT_STYLES)}.")
    no_fewshot: bool = Field(False, description="Show the writer no few-shot examples.")
    attempts: int = Field(3, ge=1, le=10, description="Tries per test when a written prompt is empty or a duplicate.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature of the writer's first try.")
    max_tokens: int = Field(200, ge=1, le=4096, description="Longest prompt written, in tokens.")
    target_max_tokens: int = Field(256, ge=1, le=8192, description="Longest target output, in tokens.")
    oracle_retries: int = Field(2, ge=0, le=5, description="Re-asks when the oracle's reply does not parse.")
    oracle_sees_input: bool = Field(False, description="Show the oracle the test prompt too.")
    concurrency: int = Field(8, ge=1, le=64, description="Tests sent to a model at once.")


@dataclass(frozen=True)
class RunSpec:
    """A checked run: `params` (what the job row records, no key), `label` (the job's model column) and `key`."""

    params: dict
    label: str
    key: str | None


def _served(name: str | None, field: str, served: Collection[str]) -> str:
    if not name:
        raise InvalidRequestError(f"{field} must name a served model", param=field)
    if name not in served:
        available = ", ".join(sorted(served)) or "none"
        raise NotFoundError(f"model {name!r} ({field}) is not served; available models: {available}", param=field)
    return name


def _external(body: RedteamRunRequest) -> dict[str, str]:
    url = body.target_base_url or ""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidRequestError(
            f"target_base_url must be an http(s) URL such as https://host/v1, got {url!r}", param="target_base_url"
        )
    if not body.target_model:
        raise InvalidRequestError("target_model must name the model at target_base_url", param="target_model")
    return {"base_url": url.rstrip("/"), "model": body.target_model}


def resolve(body: RedteamRunRequest, served: Collection[str]) -> RunSpec:
    """Check the request against the served models; the params to record, without the key."""
    if (body.target is None) == (body.target_base_url is None):
        raise InvalidRequestError(
            "give either target (a served model) or target_base_url with target_model (an external one)",
            param="target",
        )
    if body.per_cell is not None and body.n is not None:
        raise InvalidRequestError("give per_cell or n, not both", param="n")
    unknown = sorted(set(body.random) - set(DIMENSIONS))
    if unknown:
        raise InvalidRequestError(f"random: {unknown[0]!r} is not one of {', '.join(DIMENSIONS)}", param="random")
    if body.prompt_style not in PROMPT_STYLES:
        raise InvalidRequestError(
            f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {body.prompt_style!r}", param="prompt_style"
        )
    if body.target is not None:
        if body.target_api_key is not None or body.target_model is not None:
            field = "target_api_key" if body.target_api_key is not None else "target_model"
            raise InvalidRequestError(f"{field} goes with target_base_url, not with a served target", param=field)
        target: dict[str, str] = {"served": _served(body.target, "target", served)}
        label = body.target
    else:
        target = _external(body)
        label = target["model"]
    default = body.target if body.target is not None else None
    params = body.model_dump(exclude={"target", "target_base_url", "target_model", "target_api_key"})
    params |= {
        "target": target,
        "target_api_key_given": body.target_api_key is not None,
        "generator": _served(body.generator or default, "generator", served),
        "oracle": _served(body.oracle or default, "oracle", served),
    }
    if params["per_cell"] is None and params["n"] is None:
        params["per_cell"] = 3
    return RunSpec(params, label, body.target_api_key)
