"""Scale from zero to the first token: a pooled TE (imports and device set-up done) with weights in the page
cache, against a cold start (no pool: a fresh process) with the weights dropped from the page cache
(`posix_fadvise(DONTNEED)` on every file of the model; no root needed). Same model, same run.

    .venv/bin/python benchmarks/serving/scale_from_zero.py [--model smollm2-135m] [--repeats 3] [--json]

Each case starts a server whose catalogue holds the model at `min_tes: 0`, sends one request, and reads the
scale-up phases from /metrics. Prints the time to first token of each case, each phase, and the ratio cold /
pooled (DeepFlow's target: ≥ 10×; on CPU the gap is what the pool and the page cache save).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from headwater.models.loading import resolve_model
from headwater.platform.launch import launch_server


def drop_from_page_cache(folder: Path) -> int:
    """Ask the kernel to forget the cached pages of every file under `folder`; returns the bytes concerned."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            total += path.stat().st_size
    return total


def warm_page_cache(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass


def _phases(metrics: str) -> dict[str, float]:
    found = {}
    for phase, source, total in re.findall(
        r'headwater_scale_phase_seconds_sum\{phase="([^"]+)",source="([^"]+)"\} ([0-9.e+-]+)', metrics
    ):
        found[f"{phase}/{source}"] = float(total)
    return found


def one_case(model_path: str, pooled: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        catalogue = Path(folder) / "models.yaml"
        catalogue.write_text(
            f"models:\n  - model: {model_path}\n    name: m\n    min_tes: 0\n    idle_timeout_s: 600\n"
        )
        env = {"HEADWATER_MODELS": str(catalogue), "HEADWATER_POOL_SIZE": "1" if pooled else "0"}
        server = launch_server(None, folder, env=env)
        root = server.base_url.removesuffix("/v1")
        try:
            if pooled:
                deadline = time.monotonic() + 120
                while not httpx.get(server.base_url + "/admin/executors").json()["pool"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the pool did not fill")
                    time.sleep(0.2)
                warm_page_cache(Path(model_path))
            else:
                drop_from_page_cache(Path(model_path))
            body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
            started = time.perf_counter()
            response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=600)
            response.raise_for_status()
            first_token_s = time.perf_counter() - started
            phases = _phases(httpx.get(root + "/metrics").text)
        finally:
            server.stop()
    return {"first_token_s": first_token_s, "phases_s": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # The catalogue serves the model's folder (a built-in is converted once into the usual data folder).
    model_path = resolve_model(args.model, os.environ.get("HEADWATER_DATA_DIR", ".headwater"))
    cases: dict[str, list[dict[str, object]]] = {"cold": [], "pooled": []}
    for _ in range(args.repeats):
        cases["cold"].append(one_case(model_path, pooled=False))
        cases["pooled"].append(one_case(model_path, pooled=True))
    median = {name: statistics.median(run["first_token_s"] for run in runs) for name, runs in cases.items()}
    report = {
        "model": args.model,
        "repeats": args.repeats,
        "cold_first_token_s": median["cold"],
        "pooled_first_token_s": median["pooled"],
        "cold_over_pooled": median["cold"] / median["pooled"],
        "runs": cases,
    }
    if args.json:
        print(json.dumps(report))
        return
    for name, runs in cases.items():
        print(f"{name:>6}: first token {median[name]:.2f} s (median of {len(runs)}); phases of the last run:")
        for phase, seconds in sorted(runs[-1]["phases_s"].items()):  # type: ignore[union-attr]
            print(f"          {phase:<24} {seconds:.3f} s")
    print(f"cold / pooled: {report['cold_over_pooled']:.1f}x (DeepFlow's target >= 10x)")


if __name__ == "__main__":
    main()
