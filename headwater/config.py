"""Platform settings: one typed object, read from `HEADWATER_*` environment variables, with every default here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from headwater.engine.kv_address import parse_address
from headwater.engine.protocol import EngineBackend, EngineConfig, KVTransportName

_ENGINE = EngineConfig()


class Settings(BaseSettings):
    """Everything the platform can be told; the README's configuration table is generated from these fields."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", description="Address the HTTP gateway binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port of the HTTP gateway (0 picks a free one).")
    data_dir: Path = Field(Path(".headwater"), description="Folder for the store, converted weights and keys.")
    store_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; default is SQLite in the data folder."
    )
    model: str = Field(
        "smollm2-135m", description="Model served by `headwater up`: built-in name, HF id or local path."
    )
    served_model_name: str | None = Field(None, description="Name clients use for the model; default: `model`.")
    models: Path | None = Field(
        None, description="Catalogue YAML (a top-level `models:` list) served instead of `model`."
    )
    pool_size: int = Field(1, ge=0, description="Pre-warmed task executors (no model yet) kept on this host.")
    share_weights: bool = Field(
        True, description="TEs of a model on this host map one copy of its weights in /dev/shm (false: each reads)."
    )
    keep_warm_s: float = Field(
        3600.0, ge=0, description="Seconds after its last use that a model's weights are kept in host memory."
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="Where task executors run: local child processes, or Ray actors (`pip install .[ray]`)."
    )
    ray_address: str | None = Field(
        None, description="Ray cluster the `ray` executor joins (e.g. `10.0.0.5:6379`); default: a local Ray instance."
    )
    te_num_cpus: float = Field(
        1.0, gt=0, description="Logical CPUs a Ray TE reserves (a catalogue entry may override)."
    )
    te_num_gpus: float | None = Field(
        None, ge=0, description="GPUs a Ray TE reserves (a catalogue entry may override); default: 1 if Ray has any."
    )
    task_num_cpus: float = Field(
        1.0, ge=0, description="Logical CPUs each job task's Ray worker reserves (HEADWATER_EXECUTOR=ray)."
    )
    task_num_gpus: float = Field(
        0.0,
        ge=0,
        description="GPUs each job task's Ray worker reserves; 0 by default so jobs never wait on the TEs' GPUs.",
    )
    activator_timeout_s: float = Field(
        60.0, gt=0, description="How long a request waits for its model to get a ready TE before a 503."
    )
    activator_max_waiting: int = Field(
        256, ge=1, description="Requests that may wait for a model to get a ready TE; beyond it: 503."
    )
    autoscale_period_s: float = Field(1.0, gt=0, description="Seconds between two autoscaling decisions.")
    moderation_guard: str | None = Field(
        None,
        description="Guard behind /v1/moderations and fine-tuning's moderate stage: a classifier-guard folder, an HF "
        "guard model (id or path), or the name of a served model (an LLM guard over it). Unset: no moderation.",
    )
    moderation_threshold: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Largest fraction of flagged training examples a fine-tuning job accepts; above it the job fails.",
    )
    checkpoint_interval_s: float = Field(
        300.0,
        ge=0,
        description="Seconds between two resumable checkpoints of a fine-tuning job's training (0: every step); a "
        "killed platform resumes the job from the last one.",
    )
    checkpoints_kept: int = Field(
        3,
        ge=0,
        description="Trainer checkpoints of a fine-tuning job kept on disk: older ones are deleted once a newer one is "
        "recorded (0: keep all). The final model and the last checkpoint (what a resume uses) are never deleted.",
    )
    moderation_max_items: int = Field(
        256, ge=1, description="Most inputs one /v1/moderations request may carry; beyond it: HTTP 413."
    )
    eval_judge: str | None = Field(
        None,
        description="Served model that judges fine-tuning's evaluate stage (base vs fine-tuned model, scored 1-5 on "
        "the validation file or a held-out slice). Unset: the stage is skipped.",
    )
    eval_max_items: int = Field(
        50, ge=1, description="Most examples the evaluate stage judges (and holds out when no validation_file)."
    )
    service_max_chars: int = Field(
        100_000,
        ge=1,
        description="Longest text a synchronous moderation, judgement or detection request may carry; beyond: 413.",
    )
    engine_backend: EngineBackend = Field(
        "transformers",
        validation_alias=AliasChoices("engine_backend", "HEADWATER_ENGINE", "HEADWATER_ENGINE_BACKEND"),
        description="Engine of the TEs: transformers (any HF model) or llamacpp (GGUF files, `make llamacpp`); a "
        "catalogue entry's `engine` overrides it.",
    )
    llamacpp_kv: Literal["streams", "unified"] = Field(
        "streams",
        description="llamacpp engine's KV cache: one stream per sequence (outputs independent of the batch) or "
        "llama.cpp's unified cache (faster batches, longer requests; outputs then depend on what shares the batch).",
    )
    llamacpp_kv_type: Literal["f16", "q8_0"] = Field(
        "q8_0",
        description="llamacpp engine's KV cache type: q8_0 (flash attention on: ~12 % faster decoding over short "
        "contexts, half the KV memory, replies reused by the next turn) or f16 (llama.cpp's reference numerics, "
        "flash attention off: faster prompts and decoding past ~600 tokens of context; logprobs ~0.03 from q8_0's). "
        "Outputs stay independent of the batch either way.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weight dtype of the engine (auto: float32 on CPU, bfloat16 on GPU)."
    )
    device: str = Field("auto", description="Torch device of the engine (auto: cuda when present, else cpu).")
    max_batch_tokens: int = Field(_ENGINE.max_batch_tokens, ge=16, description="Most tokens one engine step processes.")
    kv_blocks: int = Field(_ENGINE.kv_blocks, ge=4, description="Paged KV-cache blocks per engine.")
    kv_block_size: int = Field(_ENGINE.kv_block_size, ge=4, description="Tokens per KV-cache block.")
    kv_transport: KVTransportName = Field(
        _ENGINE.kv_transport,
        description="How disaggregated models move KV from prefill to decode TEs: shm (/dev/shm, one host) or socket "
        "(TCP from the prefill TE, TEs on several hosts); a catalogue entry's `kv_transport` overrides it.",
    )
    engine_threads: int = Field(
        _ENGINE.threads,
        ge=0,
        description="CPU threads of each TE's engine (torch intra-op or llama.cpp threads); 0: one per core. On a "
        "shared host, fewer than the cores leave room for the gateway and other TEs.",
    )
    kv_address: str = Field(
        _ENGINE.kv_address,
        description="socket transport: HOST[:PORT] prefill TEs serve KV hand-offs on; default: the host's address, "
        "a free port (0.0.0.0: every interface).",
    )
    max_queued_sequences: int = Field(
        1024,
        ge=1,
        validation_alias=AliasChoices(
            "max_queued_sequences", "HEADWATER_MAX_QUEUED_SEQUENCES", "HEADWATER_MAX_QUEUED_REQUESTS"
        ),
        description="Sequences (prompts × n) admitted at once, running + waiting; beyond it: HTTP 429.",
    )
    tenant_max_queued_sequences: int = Field(
        512,
        ge=1,
        validation_alias=AliasChoices(
            "tenant_max_queued_sequences",
            "HEADWATER_TENANT_MAX_QUEUED_SEQUENCES",
            "HEADWATER_TENANT_MAX_QUEUED_REQUESTS",
        ),
        description="Sequences one tenant may have admitted at once; beyond it: HTTP 429.",
    )
    max_sequences_per_request: int = Field(
        256, ge=1, description="Most sequences (prompts × n) one request may ask for; beyond it: HTTP 400."
    )
    engine_max_sequences: int = Field(
        64,
        ge=1,
        description="Sequences a task executor generates at once; the rest wait at the gateway, taken round-robin "
        "across tenants.",
    )
    tenant_engine_share: float = Field(
        0.75,
        gt=0,
        le=1,
        description="Largest share of a task executor's sequences one tenant may hold, so another tenant's "
        "request starts at once.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted; beyond: 413.")
    max_file_bytes: int = Field(
        100_000_000, ge=1024, description="Largest file POST /v1/files accepts (held in memory to check); beyond: 413."
    )
    batch_concurrency: int = Field(
        8, ge=1, description="Lines of one batch generated at once (at low priority: interactive requests go first)."
    )
    default_max_tokens: int = Field(
        512, ge=1, description="Completion tokens when a request gives no max_tokens (capped by the context)."
    )
    max_n: int = Field(16, ge=1, description="Largest `n` (choices per request) accepted.")
    engine_start_timeout_s: float = Field(180.0, gt=0, description="How long a task executor may take to start.")
    auth: bool = Field(True, description="Require an API key on /v1 routes.")
    footprint_estimator: Literal["capgemini", "ecologits"] = Field(
        "capgemini", description="Per-request footprint: capgemini (bricks on the serving hardware) or ecologits."
    )
    footprint_region: str = Field(
        "portfolio", description="Grid of the footprint: portfolio (45% US, 28% EU, 27% APAC), usa, eu27, china."
    )
    device_power_w: float | None = Field(
        None, gt=0, description="Power of an engine's devices in W; default: the bricks (3.15 W/vCPU, 50.1 W/vGPU)."
    )

    @field_validator("kv_address")
    @classmethod
    def _check_kv_address(cls, value: str) -> str:
        """A malformed address fails at start (naming HEADWATER_KV_ADDRESS), not in a prefill TE later."""
        parse_address(value)
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> Settings:
        if self.tenant_max_queued_sequences > self.max_queued_sequences:
            raise ValueError(
                f"tenant_max_queued_sequences ({self.tenant_max_queued_sequences}) cannot exceed "
                f"max_queued_sequences ({self.max_queued_sequences}); lower the first or raise the second."
            )
        if self.max_sequences_per_request > self.tenant_max_queued_sequences:
            raise ValueError(
                f"max_sequences_per_request ({self.max_sequences_per_request}) cannot exceed "
                f"tenant_max_queued_sequences ({self.tenant_max_queued_sequences}): such a request could never "
                "be admitted; lower the first or raise the second."
            )
        return self

    @property
    def engine(self) -> EngineConfig:
        """The sizes each task executor's engine gets."""
        return EngineConfig(
            self.max_batch_tokens,
            self.kv_blocks,
            self.kv_block_size,
            kv_transport=self.kv_transport,
            kv_address=self.kv_address,
            threads=self.engine_threads,
        )

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to an SQLite file inside the data folder."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'headwater.db').resolve()}"

    @property
    def public_model_name(self) -> str:
        """The model name clients send in `model`."""
        return self.served_model_name or self.model
