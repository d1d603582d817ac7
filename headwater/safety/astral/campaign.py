"""The generate and run steps as one config and one call each, the same for the CLI, the examples and platform jobs:
the files and models a step needs are named in its config, opened and checked here before any model loads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.models.endpoint import generator_for
from headwater.models.generator import GenerationParams, Generator
from headwater.safety.astral.embeddings import hf_embedder
from headwater.safety.astral.execute import RunReport, run_tests
from headwater.safety.astral.generate import GenerateReport, GenerationOptions, generate_tests
from headwater.safety.astral.oracle import Oracle
from headwater.safety.astral.sources import Retriever, load_feed, load_fewshot
from headwater.safety.astral.taxonomy import Taxonomy, load_taxonomy

PLAN_FIELDS = ("id", "category", "style", "technique")
"""The fields of a planned test, which every later step's lines keep."""


def _at_least(minimum: int, **values: int) -> None:
    for name, value in values.items():
        if value < minimum:
            raise InvalidRequestError(f"{name} must be at least {minimum}, got {value}", param=name)


@dataclass(frozen=True)
class GenerateConfig:
    """How `generate` writes one test prompt per planned test: the writing model and what it is shown."""

    model: str
    """Test-writing model: HF id, folder, built-in, or a served name with `base_url`."""
    base_url: str | None = None
    api_key: str | None = None
    data_dir: Path = Path(".headwater")
    fewshot: Path | None = None
    """Few-shot YAML (default: the shipped benign one)."""
    no_fewshot: bool = False
    """Show no few-shot examples."""
    prompt_style: str = "unsafe"
    """unsafe: ask for an unsafe prompt of the cell, as ASTRAL; mild: a responsibility check."""
    corpus: Path | None = None
    """The user's JSONL of example prompts (text, optional category), retrieved per test (the RAG variant)."""
    text_field: str = "prompt"
    """The corpus field holding the prompt (ASTRAL's RAG_data.json: Prompt)."""
    feed: Path | None = None
    """The user's JSONL of recent snippets (text, optional date), the TS variant."""
    retrieved: int = 2
    embedding_model: str | None = None
    """Retrieve by embedding similarity with this model instead of BM25+."""
    attempts: int = 3
    temperature: float = 0.7
    max_tokens: int = 200
    seed: int = 0
    taxonomy: Path | None = None
    """YAML adding to (or replacing) the shipped grid."""
    concurrency: int = 8

    def __post_init__(self) -> None:
        _at_least(
            1,
            retrieved=self.retrieved,
            attempts=self.attempts,
            max_tokens=self.max_tokens,
            concurrency=self.concurrency,
        )
        if not self.text_field.strip():
            raise InvalidRequestError("text_field must name the corpus field holding the prompt", param="text_field")

    def options(self) -> GenerationOptions:
        """The generator's options, its files read (and the embedding model loaded when retrieval uses it)."""
        retrieves = self.corpus is not None or self.feed is not None
        embed = hf_embedder(self.embedding_model, self.data_dir) if self.embedding_model and retrieves else None
        return GenerationOptions(
            fewshot=None if self.no_fewshot else load_fewshot(self.fewshot),
            corpus=Retriever(self.corpus, text_field=self.text_field, embed=embed) if self.corpus is not None else None,
            feed=load_feed(self.feed, embed=embed) if self.feed is not None else None,
            retrieved=self.retrieved,
            attempts=self.attempts,
            batch_size=self.concurrency,
            seed=self.seed,
            params=GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=0.95),
            prompt_style=self.prompt_style,
        )


@dataclass(frozen=True)
class PreparedGeneration:
    """A plan checked against the grid and the generator's sources opened, before the writing model loads."""

    tests: list[dict]
    grid: Taxonomy
    options: GenerationOptions
    missing_categories: list[str] = field(default_factory=list)
    """Planned categories no corpus line holds: their tests draw from the whole corpus."""
    unknown_categories: list[str] = field(default_factory=list)
    """Corpus categories not in the taxonomy, so never matched."""
    corpus_has_categories: bool = True


def prepare_generation(tests: list[dict], config: GenerateConfig, where: str = "plan") -> PreparedGeneration:
    """Check every planned cell against the grid and open the sources, so a bad plan or file fails at once."""
    options = config.options()
    grid = load_taxonomy(config.taxonomy)
    for test in tests:
        grid.check_cell((test["category"], test["style"], test["technique"]), f"{where} id {test['id']!r}")
    if options.corpus is None:
        return PreparedGeneration(tests, grid, options)
    held = options.corpus.categories()
    missing = sorted({test["category"] for test in tests} - held) if held else []
    return PreparedGeneration(tests, grid, options, missing, sorted(held - set(grid.categories)), bool(held))


def generate_planned(
    prepared: PreparedGeneration,
    output: Path,
    config: GenerateConfig,
    on_progress: Callable[[int], None] | None = None,
    writer: Generator | None = None,
) -> GenerateReport:
    """Write a prompt for every prepared test to `output` with the configured model (resumes by id). `writer`, when
    given, is that model already reachable (the platform's served model), used instead of opening `config.model`."""
    if writer is None:
        writer = generator_for(config.model, config.base_url, config.api_key, config.data_dir, config.concurrency)
    return generate_tests(prepared.tests, output, writer, prepared.grid, prepared.options, on_progress)


@dataclass(frozen=True)
class RunConfig:
    """How `run` sends every test to the target and has the oracle label each output."""

    target: str
    """Model under test: HF id, folder, built-in, or a served name with `target_base_url`."""
    oracle: str
    """Model labelling outputs safe, unsafe or unknown."""
    target_base_url: str | None = None
    oracle_base_url: str | None = None
    api_key: str | None = None
    data_dir: Path = Path(".headwater")
    oracle_retries: int = 2
    """Re-asks when the oracle's reply does not parse."""
    oracle_sees_input: bool = False
    """Show the oracle the test prompt too."""
    max_tokens: int = 256
    """Longest target output, in tokens."""
    retry_errors: bool = False
    """Run again the tests whose result is `error`."""
    concurrency: int = 8

    def __post_init__(self) -> None:
        _at_least(1, max_tokens=self.max_tokens, concurrency=self.concurrency)
        _at_least(0, oracle_retries=self.oracle_retries)


def run_planned(
    tests: list[dict],
    output: Path,
    config: RunConfig,
    on_progress: Callable[[int], None] | None = None,
    target: Generator | None = None,
    oracle: Generator | None = None,
) -> RunReport:
    """Run every test not yet in `output` against the target and label its output with the oracle (resumable).
    `target` and `oracle`, when given, are those models already reachable (the platform's served models, or an
    external endpoint whose key the caller holds), used instead of opening `config.target` / `config.oracle`."""
    if target is None:
        target = generator_for(
            config.target, config.target_base_url, config.api_key, config.data_dir, config.concurrency
        )
    if oracle is None:
        oracle = generator_for(
            config.oracle, config.oracle_base_url, config.api_key, config.data_dir, config.concurrency
        )
    return run_tests(
        tests,
        output,
        target,
        Oracle(oracle, retries=config.oracle_retries, include_input=config.oracle_sees_input),
        concurrency=config.concurrency,
        params=GenerationParams(max_tokens=config.max_tokens),
        retry_errors=config.retry_errors,
        on_progress=on_progress,
    )
