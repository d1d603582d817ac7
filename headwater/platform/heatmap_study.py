"""DeepFlow's prefill/decode heatmap study, run on this machine (arXiv 2501.14417, §5, Algorithm 1 step 1).

For every cell of a grid (prompt length × decode/prompt ratio) and every request rate, the same fixed-shape
requests are sent to the model served colocated and to the model served as a disaggregated 1P1D pair, and their
mean job completion time (JCT: end-to-end latency) is compared. A cell's value is JCT(colocated) / JCT(disaggregated)
− 1 summed over the rates: positive where disaggregation wins, which is what the `deepflow` routing policy reads
(`headwater.platform.scheduler.Heatmap`). The paper does not say how many colocated TEs it compares the pair with;
the default here is two, the same number of TEs as the pair.

The measuring is one injected function (`MeasureJct`), so the study, its table and its plot run on scripted numbers
in tests; `GatewayJct` is the real one: one gateway with two catalogue entries of the same model, driven by
`headwater.platform.loadgen`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from headwater.errors import EngineUnavailableError, InvalidRequestError
from headwater.files import write_atomic
from headwater.platform.catalogue import parse_entry
from headwater.platform.launch import LaunchedServer, launch_server
from headwater.platform.loadgen import LoadConfig, exact_prompts, run_load
from headwater.platform.scheduler import Heatmap

ServingMode = Literal["colocated", "disaggregated"]
MeasureJct = Callable[[ServingMode, int, int, float], float]
"""(serving mode, prompt tokens, output tokens, requests per second) → mean JCT in seconds."""


@dataclass(frozen=True)
class StudyGrid:
    """The cells and rates to measure. Prompt lengths and ratios are the heatmap's bin edges (ascending)."""

    prompt_lengths: tuple[int, ...] = (128, 384)
    ratios: tuple[float, ...] = (0.25, 1.0)
    rates: tuple[float, ...] = (2.0, 8.0)
    requests: int = 8
    """Requests per (cell, rate, serving mode)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("prompt_lengths", "ratios", "rates"):
            values: Sequence[float] = getattr(self, name)
            if not values or any(value <= 0 for value in values):
                raise InvalidRequestError(f"{name} must be one or more positive numbers, got {values}", param=name)
        for name in ("prompt_lengths", "ratios"):
            values = getattr(self, name)
            if list(values) != sorted(set(values)):
                raise InvalidRequestError(f"{name} must be strictly ascending (bin edges), got {values}", param=name)
        if self.requests < 1:
            raise InvalidRequestError(f"requests must be at least 1, got {self.requests}", param="requests")

    @staticmethod
    def output_tokens(prompt_tokens: int, ratio: float) -> int:
        return max(1, round(prompt_tokens * ratio))

    def check_window(self, window: int) -> None:
        """Refuse a grid whose longest cell (prompt + output) does not fit the model's context window."""
        longest = max(p + self.output_tokens(p, r) for p in self.prompt_lengths for r in self.ratios)
        if longest > window:
            raise InvalidRequestError(
                f"prompt_lengths × ratios reach {longest} tokens (prompt + output) but the model's context window "
                f"is {window}: lower the longest prompt length or ratio",
                param="prompt_lengths",
            )


@dataclass(frozen=True)
class Measurement:
    """Mean JCT of one cell at one rate, colocated and disaggregated."""

    prompt_tokens: int
    ratio: float
    output_tokens: int
    rate: float
    jct_colocated_s: float
    jct_disaggregated_s: float

    @property
    def gain(self) -> float:
        """JCT(colocated) / JCT(disaggregated) − 1: positive where the 1P1D pair finishes jobs sooner."""
        return self.jct_colocated_s / self.jct_disaggregated_s - 1.0


@dataclass
class Study:
    """A finished study: its grid and every measurement, turned into the heatmap, its JSON file and its plot."""

    grid: StudyGrid
    measurements: list[Measurement] = field(default_factory=list)
    model: str = ""

    def heatmap(self) -> Heatmap:
        """The table the `deepflow` policy loads: each cell's gain summed over the rates."""
        gain = [
            tuple(
                sum(m.gain for m in self.measurements if m.prompt_tokens == length and m.ratio == ratio)
                for ratio in self.grid.ratios
            )
            for length in self.grid.prompt_lengths
        ]
        return Heatmap(self.grid.prompt_lengths, self.grid.ratios, tuple(gain))

    def to_json(self) -> dict[str, object]:
        """`Heatmap.load`'s keys (prompt_lengths, ratios, gain), then how it was measured."""
        table = self.heatmap()
        return {
            "prompt_lengths": list(table.prompt_lengths),
            "ratios": list(table.ratios),
            "gain": [list(row) for row in table.gain],
            "rates": list(self.grid.rates),
            "requests": self.grid.requests,
            "model": self.model,
            "measurements": [{**asdict(m), "gain": m.gain} for m in self.measurements],
        }

    def save(self, path: Path) -> None:
        """Write the JSON whole or not at all: a router may be loading the previous one."""
        write_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")


def run_study(
    grid: StudyGrid, measure: MeasureJct, on_measurement: Callable[[Measurement], None] | None = None
) -> Study:
    """Measure every (prompt length, ratio, rate), colocated then disaggregated, with the same requests."""
    study = Study(grid)
    for length in grid.prompt_lengths:
        for ratio in grid.ratios:
            output = grid.output_tokens(length, ratio)
            for rate in grid.rates:
                colocated = measure("colocated", length, output, rate)
                disaggregated = measure("disaggregated", length, output, rate)
                measurement = Measurement(length, ratio, output, rate, colocated, disaggregated)
                study.measurements.append(measurement)
                if on_measurement is not None:
                    on_measurement(measurement)
    return study


def plot_heatmap(study: Study, path: Path) -> None:
    """The table as a PNG: prompt lengths down, ratios across, each cell's gain written in it (red: 1P1D wins)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = study.heatmap()
    limit = max(1e-9, max(abs(value) for row in table.gain for value in row))
    figure, axes = plt.subplots(figsize=(1.6 + 1.1 * len(table.ratios), 1.4 + 0.8 * len(table.prompt_lengths)))
    image = axes.imshow(table.gain, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(len(table.ratios)), [f"{ratio:g}" for ratio in table.ratios])
    axes.set_yticks(range(len(table.prompt_lengths)), [str(length) for length in table.prompt_lengths])
    axes.set_xlabel("decode / prompt ratio")
    axes.set_ylabel("prompt tokens")
    rates = ", ".join(f"{rate:g}" for rate in study.grid.rates)
    axes.set_title(f"JCT colocated / 1P1D − 1, summed over {rates} req/s", fontsize=9)
    for row, values in enumerate(table.gain):
        for column, value in enumerate(values):
            colour = "white" if abs(value) > 0.6 * limit else "black"
            axes.text(column, row, f"{value:+.2f}", ha="center", va="center", fontsize=9, color=colour)
    figure.colorbar(image, ax=axes)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def study_catalogue(source: str, colocated_tes: int) -> list[dict[str, object]]:
    """The gateway's two entries of one model: `colocated` on `colocated_tes` TEs, `disaggregated` on a 1P1D pair.
    Each is checked as the catalogue would, so a platform without `serving_mode` says so before anything starts."""
    colocated = {"min_tes": colocated_tes, "max_tes": colocated_tes, "policy": "least_load"}
    entries: list[dict[str, object]] = [
        {"model": source, "name": "colocated", **colocated},
        {"model": source, "name": "disaggregated", "serving_mode": "disaggregated", "prefill_tes": 1, "decode_tes": 1},
    ]
    for entry in entries:
        parse_entry(entry, f"heatmap study: {entry['name']}")
    return entries


class GatewayJct:
    """The real `MeasureJct`: one `headwater serve` with the study's two catalogue entries, and loadgen's requests
    of an exact shape (random token ids, end tokens biased away) against each. Use it as a context manager."""

    def __init__(
        self, source: str, data_dir: Path, grid: StudyGrid, colocated_tes: int = 2, log: Path | None = None
    ) -> None:
        """`data_dir` is the gateway's (its store and catalogue); `log` keeps its log (default: in `data_dir`)."""
        self.source, self.data_dir, self.grid, self.log = source, data_dir, grid, log
        self.entries = study_catalogue(source, colocated_tes)
        self.server: LaunchedServer | None = None
        self.vocab: list[int] = []
        self.banned: list[int] = []

    def __enter__(self) -> GatewayJct:
        from transformers import AutoConfig

        from headwater.models.loading import context_window, load_tokenizer

        self.grid.check_window(context_window(AutoConfig.from_pretrained(self.source)))
        tokenizer = load_tokenizer(self.source)
        special = {*tokenizer.all_special_ids, tokenizer.eos_token_id} - {None}
        self.vocab = [token for token in range(len(tokenizer)) if token not in special]
        self.banned = sorted(special)
        catalogue = self.data_dir / "heatmap-study.yaml"
        catalogue.parent.mkdir(parents=True, exist_ok=True)
        catalogue.write_text(json.dumps({"models": self.entries}))  # JSON is YAML
        env = {"HEADWATER_MODELS": str(catalogue), "HEADWATER_POOL_SIZE": "0"}
        self.server = launch_server(None, self.data_dir, env=env, log=self.log)
        for mode in ("colocated", "disaggregated"):
            self._warm_up(mode)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _warm_up(self, mode: ServingMode) -> None:
        """One short request per model, so no measurement pays for a TE's first step."""
        assert self.server is not None
        body = {"model": mode, "prompt": self.vocab[:8], "max_tokens": 2, "temperature": 0}
        response = httpx.post(self.server.base_url + "/completions", json=body, timeout=300)
        if response.status_code != 200:
            raise EngineUnavailableError(f"the {mode} model did not answer its warm-up: {response.text[:300]}")

    def __call__(self, mode: ServingMode, prompt_tokens: int, output_tokens: int, rate: float) -> float:
        assert self.server is not None, "use GatewayJct as a context manager"
        seed = f"{self.grid.seed}-{prompt_tokens}-{output_tokens}-{rate}"
        prompts = exact_prompts(self.grid.requests, prompt_tokens, output_tokens, self.vocab, self.banned, seed)
        config = LoadConfig(self.server.base_url, mode, num_prompts=len(prompts), request_rate=rate)
        results, _ = asyncio.run(run_load(config, prompts))
        failed = [result.error for result in results if not result.ok]
        if failed:
            raise EngineUnavailableError(
                f"{len(failed)} of {len(results)} {mode} requests failed ({prompt_tokens} prompt tokens, "
                f"{output_tokens} output, {rate:g} req/s): {failed[0]}"
            )
        return statistics.fmean(result.e2e_s for result in results)
