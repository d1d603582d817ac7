"""The model catalogue: which models the platform serves, and how each one's group of task executors scales.

Read from YAML at start (`--models FILE` / `HEADWATER_MODELS`: a top-level `models:` list) and changed at run time
through the admin API. A catalogued model may have no TE at all (`min_tes: 0`): it is listed, and the first
request for it brings one up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from headwater.config import Settings
from headwater.engine.protocol import EngineBackend, KVTransportName
from headwater.errors import InvalidRequestError
from headwater.platform.predictor import LengthPredictor
from headwater.platform.scheduler import BalanceRule, Heatmap, Policy, Scheduler

logger = logging.getLogger(__name__)


class CatalogueEntry(BaseModel):
    """One served model and its TE-group settings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="Built-in name, Hugging Face id or local folder.")
    name: str | None = Field(None, min_length=1, description="Name clients send as `model`; default: `model`.")
    min_tes: int = Field(
        1, ge=0, description="TEs kept up even when idle; 0 scales to zero (disaggregated: the whole model)."
    )
    max_tes: int = Field(1, ge=1, description="Most TEs the autoscaler brings up (colocated; see max_decode_tes).")
    idle_timeout_s: float = Field(300.0, gt=0, description="Seconds a TE is not needed before it is drained.")
    target_in_flight: int = Field(8, ge=1, description="Sequences per TE the autoscaler aims for.")
    ttft_slo_s: float | None = Field(None, gt=0, description="Time to first token to keep; misses add a TE.")
    preload: bool = Field(False, description="Keep the weights in the page cache while no TE uses them.")
    policy: Policy = Field("deepflow", description="Routing among the TEs: round_robin, least_load, prefix, deepflow.")
    balance_abs_threshold: int = Field(32, ge=0, description="Load imbalanced when max − min exceeds this…")
    balance_rel_threshold: float = Field(1.0001, ge=1.0, description="…and max exceeds this times min (SGLang's).")
    heatmap: Path | None = Field(None, description="`deepflow`: the PD heatmap JSON (JCT colocated/disaggregated − 1).")
    predictor: Path | None = Field(None, description="`deepflow`: the output-length predictor JSON.")
    num_cpus: float | None = Field(None, gt=0, description="Logical CPUs each Ray TE reserves; default: settings.")
    num_gpus: float | None = Field(None, ge=0, description="GPUs each Ray TE reserves (over 1: a placement group).")
    engine: EngineBackend | None = Field(
        None, description="Engine of its TEs: transformers, or llamacpp (GGUF files); default: HEADWATER_ENGINE."
    )
    quantization: str | None = Field(
        None, description="llamacpp: which GGUF of a folder to serve, by the quantisation in its name (Q4_K_M, F16…)."
    )
    owner: str | None = Field(
        None, description="The only tenant that sees and uses this model (a fine-tuned one's); None: every tenant."
    )

    serving_mode: Literal["colocated", "disaggregated"] = Field(
        "colocated", description="colocated: each TE runs whole requests; disaggregated: prefill and decode TEs."
    )
    prefill_tes: int = Field(1, ge=1, description="disaggregated: TEs that compute prompts and hand their KV on.")
    decode_tes: int = Field(1, ge=1, description="disaggregated: TEs that take the KV and generate the rest.")
    colocated_tes: int = Field(
        0, ge=0, description="disaggregated: colocated TEs beside the pair; `deepflow` picks a kind per request."
    )
    kv_transport: KVTransportName | None = Field(
        None,
        description="disaggregated: how KV moves from prefill to decode TEs, shm (one host) or socket (TEs on "
        "several hosts); default: HEADWATER_KV_TRANSPORT.",
    )
    max_prefill_tes: int | None = Field(
        None, ge=1, description="disaggregated: most prefill TEs the autoscaler brings up; default: prefill_tes."
    )
    max_decode_tes: int | None = Field(
        None, ge=1, description="disaggregated: most decode TEs the autoscaler brings up; default: decode_tes."
    )
    target_prefill_tokens: int = Field(
        2048, ge=1, description="disaggregated: prompt tokens queued or in prefill per prefill TE to aim for."
    )

    @field_validator("colocated_tes")
    @classmethod
    def _colocated_beside_a_pair(cls, value: int, info: ValidationInfo) -> int:
        """A field error (so the 400 names `colocated_tes`): the key only adds TEs beside a prefill/decode pair."""
        if value and info.data.get("serving_mode") != "disaggregated":
            raise ValueError(
                "is for serving_mode disaggregated (colocated TEs beside a prefill/decode pair); a colocated model "
                "sizes its TEs with min_tes and max_tes"
            )
        return value

    @field_validator("max_prefill_tes", "max_decode_tes")
    @classmethod
    def _max_of_a_pair(cls, value: int | None, info: ValidationInfo) -> int | None:
        """A field error naming the key: a maximum is for a disaggregated model, and not under its starting size."""
        if value is None:
            return value
        if info.data.get("serving_mode") != "disaggregated":
            raise ValueError("is for serving_mode disaggregated; a colocated model scales between min_tes and max_tes")
        start = str(info.field_name).removeprefix("max_")
        if value < info.data.get(start, 1):
            raise ValueError(f"({value}) cannot be below {start} ({info.data.get(start)}), the size kept up")
        return value

    @field_validator("kv_transport")
    @classmethod
    def _transport_of_a_pair(cls, value: KVTransportName | None, info: ValidationInfo) -> KVTransportName | None:
        """A field error (the 400 names `kv_transport`): only a disaggregated model hands KV between TEs."""
        if value is not None and info.data.get("serving_mode") != "disaggregated":
            raise ValueError("is for serving_mode disaggregated (how its prefill TEs hand KV to its decode TEs)")
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> CatalogueEntry:
        if self.min_tes > self.max_tes:
            raise ValueError(f"min_tes ({self.min_tes}) cannot exceed max_tes ({self.max_tes})")
        if self.serving_mode == "disaggregated" and self.engine == "llamacpp":
            raise ValueError("serving_mode disaggregated needs the transformers engine (its paged KV blocks move)")
        return self

    @property
    def disaggregated(self) -> bool:
        return self.serving_mode == "disaggregated"

    @property
    def prefill_bounds(self) -> tuple[int, int]:
        """disaggregated: the prefill TEs kept up while the model is up, and the most the autoscaler brings up."""
        return self.prefill_tes, self.max_prefill_tes or self.prefill_tes

    @property
    def decode_bounds(self) -> tuple[int, int]:
        """disaggregated: the decode TEs kept up while the model is up, and the most the autoscaler brings up."""
        return self.decode_tes, self.max_decode_tes or self.decode_tes

    @property
    def served_name(self) -> str:
        return self.name or self.model

    def visible_to(self, tenant: str | None) -> bool:
        """Whether `tenant` may see and use this model (None: the platform itself, which sees every model)."""
        return self.owner is None or tenant is None or tenant == self.owner

    def scheduler(self) -> Scheduler:
        """A fresh router for this model's TE group. A heatmap or predictor file that cannot be used is refused
        with its reason in the log, and the model is served with `least_load` instead of failing to start."""
        rule = BalanceRule(self.balance_abs_threshold, self.balance_rel_threshold)
        try:
            heatmap = Heatmap.load(self.heatmap) if self.heatmap is not None else None
            predictor = LengthPredictor.load(self.predictor) if self.predictor is not None else None
        except ValueError as error:
            logger.error("model %s: %s; routing with least_load instead of %s", self.served_name, error, self.policy)
            return Scheduler("least_load", rule)
        return Scheduler(self.policy, rule, heatmap, predictor, self.served_name)


def parse_entry(data: object, where: str) -> CatalogueEntry:
    """One entry, or an InvalidRequestError that names where it is and which field is wrong."""
    try:
        return CatalogueEntry.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "entry"
        raise InvalidRequestError(f"{where}: {field}: {first['msg']}", param=field) from None


def read_catalogue(path: Path) -> list[CatalogueEntry]:
    """The entries of a catalogue YAML file; names must be unique."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InvalidRequestError(f"cannot read the catalogue {path}: {error.strerror}", param="models") from None
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"{path} is not valid YAML: {error}", param="models") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list) or not document["models"]:
        raise InvalidRequestError(f"{path} needs a top-level `models:` list with at least one entry", param="models")
    entries = [parse_entry(item, f"{path}: models[{index}]") for index, item in enumerate(document["models"])]
    names = [entry.served_name for entry in entries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidRequestError(f"{path}: two entries serve the name {repeated[0]!r}; give one a `name`")
    return entries


def catalogue_from_settings(settings: Settings) -> list[CatalogueEntry]:
    """The catalogue file the settings name (`HEADWATER_MODELS`), else their one model with one TE."""
    if settings.models is not None:
        return read_catalogue(settings.models)
    return [CatalogueEntry(model=settings.model, name=settings.public_model_name)]
