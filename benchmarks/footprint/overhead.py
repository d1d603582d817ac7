"""Footprint accounting overhead per served request, as a fraction of the request's own time; and our
`ecologits` estimator against the `ecologits` package on the same inputs, when it is installed.

    .venv/bin/python benchmarks/footprint/overhead.py [--model smollm2-135m] [--requests 16] [--json]

Accounting = computing the request's impacts + writing its footprint row (the difference between finishing a job
with and without one), measured on the same store. Target: < 1 % of the request time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from headwater.config import Settings
from headwater.engine.protocol import EngineInfo, EngineRequest, SamplingParams
from headwater.engine.transformers_engine import TransformersEngine
from headwater.footprint import InferenceWorkload, load_factors
from headwater.footprint.ecologits import EcologitsEstimator, package_request
from headwater.models.loading import load_model, load_tokenizer
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.store import JobResult, Store


def request_seconds(model_name: str, data_dir: str, count: int, max_tokens: int) -> tuple[float, int]:
    """Mean end-to-end time of `count` concurrent requests on the transformers engine, and the model's parameters."""
    model, tokenizer = load_model(model_name, data_dir=data_dir), load_tokenizer(model_name, data_dir=data_dir)
    engine = TransformersEngine(model, [tokenizer.eos_token_id])
    engine.start()
    prompt = tokenizer("Tell me about rivers and the sea.")["input_ids"]
    started = {f"r{i}": time.perf_counter() for i in range(count)}
    for request_id in started:
        engine.add_request(EngineRequest(request_id, prompt, SamplingParams(max_tokens=max_tokens, temperature=0)))
    durations = []
    while len(durations) < count:
        for output in engine.get_outputs(0.5):
            if output.finish_reason is not None:
                durations.append(time.perf_counter() - started[output.request_id])
    engine.shutdown()
    return sum(durations) / len(durations), sum(p.numel() for p in model.parameters())


def accounting_seconds(repeats: int) -> tuple[float, float]:
    """(seconds to compute one request's impacts, extra seconds to store them), averaged over `repeats`."""
    accountant = FootprintAccountant(Settings())
    info = EngineInfo(135_000_000, "cpu", 2.0)
    started = time.perf_counter()
    for _ in range(repeats):
        impacts = accountant.impacts(info, 40, 64, 2.5, 8.0)
    compute = (time.perf_counter() - started) / repeats
    footprint = {k: v for k, v in impacts.to_dict().items() if k != "ranges"}
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'bench.db'}")
        timings = {}
        for label, extra in (("plain", None), ("with_footprint", footprint)):
            jobs = [store.start_job("bench", "chat", "m") for _ in range(repeats)]
            started = time.perf_counter()
            for job in jobs:
                store.finish_job(job, JobResult("succeeded", 40, 64, 0.1, 2.5, footprint=extra))
            timings[label] = (time.perf_counter() - started) / repeats
        store.engine.dispose()
    return compute, max(0.0, timings["with_footprint"] - timings["plain"])


def ecologits_ratios(params: float, output_tokens: float, latency: float | None) -> dict[str, float] | None:
    """Our ecologits estimator / the ecologits package, energy and embodied GWP, for one request measured at
    `latency` seconds (None: not measured); None when the package is not installed."""
    factors = load_factors()
    workload = InferenceWorkload(params, 127, output_tokens, region="usa")
    reference = package_request(workload, factors, request_latency=latency)
    if reference is None:
        return None
    ours = EcologitsEstimator(factors).request(workload, request_latency=latency)
    return {
        "energy": ours.energy_kwh / reference["request_energy"],
        "embodied_gwp": ours.embodied["gwp_kgco2e"] / reference["request_embodied_gwp"],
    }


def _rounded(ratios: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 9) for key, value in ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    request, params = request_seconds(args.model, args.data_dir, args.requests, args.max_tokens)
    compute, storage = accounting_seconds(200)
    served = ecologits_ratios(params, args.max_tokens, request)  # a request of this run, at its measured latency
    large = ecologits_ratios(70e9, 208, None)
    figures = {
        "model": args.model,
        "mean_request_s": round(request, 4),
        "impacts_compute_us": round(compute * 1e6, 1),
        "footprint_row_write_us": round(storage * 1e6, 1),
        "overhead_pct_of_request": round(100 * (compute + storage) / request, 4),
        "ecologits_ours_vs_package_served_measured": None if served is None else _rounded(served),
        "ecologits_ours_vs_package_70b_unmeasured": None if large is None else _rounded(large),
    }
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
