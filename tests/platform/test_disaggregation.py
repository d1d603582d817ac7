"""Disaggregated serving end to end: tiny-chat served colocated and as a 1P1D pair by one gateway; the openai
client sees the same greedy output from both, one ordinary stream, the TEs' modes in /health, the hand-off in
/metrics, no hand-off file left behind, and a 503 (not a hang) when the decode TE dies mid-request. Then the
gateway's route alone, over scripted prefill and decode TEs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from headwater.engine.ipc import ModelSpec
from headwater.engine.protocol import EngineConfig, EngineOutput, EngineRequest, KVHandoff, SamplingParams
from headwater.errors import InvalidRequestError
from headwater.platform.cache_view import CacheView
from headwater.platform.catalogue import parse_entry
from headwater.platform.control import kv_dir_for
from headwater.platform.disaggregation import DisaggregatedRoute
from headwater.platform.metrics import Metrics
from headwater.platform.scheduler import Heatmap, Scheduler
from headwater.platform.te_group import TEGroup
from tests.conftest import start_server

openai = pytest.importorskip("openai")
PROMPT = " ".join(f"step {i}: keep the answer short and exact." for i in range(20))


@pytest.fixture(scope="module")
def pd_server(tmp_path_factory, tiny_chat_path):
    folder = tmp_path_factory.mktemp("pd")
    catalogue = folder / "models.yaml"
    heatmap = folder / "heatmap.json"  # prompts up to 64 tokens: colocated wins; longer ones: the pair wins
    heatmap.write_text(json.dumps({"prompt_lengths": [64, 10**6], "ratios": [10.0**6], "gain": [[-0.5], [0.5]]}))
    catalogue.write_text(
        "models:\n"
        f"  - model: {tiny_chat_path}\n    name: tiny-colo\n"
        f"  - model: {tiny_chat_path}\n    name: tiny-pd\n    serving_mode: disaggregated\n"
        "    prefill_tes: 1\n    decode_tes: 1\n"
        f"  - model: {tiny_chat_path}\n    name: tiny-pd-socket\n    serving_mode: disaggregated\n"
        "    kv_transport: socket\n"
        f"  - model: {tiny_chat_path}\n    name: tiny-mixed\n    serving_mode: disaggregated\n"
        f"    colocated_tes: 1\n    policy: deepflow\n    heatmap: {heatmap}\n"
    )
    server = start_server(None, folder, "tiny-pd", {"HEADWATER_POOL_SIZE": "0"}, ["--models", str(catalogue)])
    yield server
    server.stop()


def _client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)


def _kv_dir(server, name: str = "tiny-pd") -> Path:
    folder = kv_dir_for(name)
    return folder.parent / folder.name.replace(f"-{os.getpid()}-", f"-{server.process.pid}-")


def _metrics(server) -> str:
    return httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=5).text


def test_health_shows_each_te_mode(pd_server):
    models = pd_server.health()["models"]
    assert sorted(te["mode"] for te in models["tiny-pd"]) == ["decode", "prefill"]
    assert [te["mode"] for te in models["tiny-colo"]] == ["colocated"]


@pytest.mark.parametrize("pair", ["tiny-pd", "tiny-pd-socket"])  # KV through /dev/shm, or over TCP
def test_greedy_output_through_1p1d_equals_colocated(pd_server, pair):
    client = _client(pd_server)
    messages = [{"role": "user", "content": PROMPT}]
    replies = {
        name: client.chat.completions.create(model=name, messages=messages, max_tokens=24, temperature=0, logprobs=True)
        for name in ("tiny-colo", pair)
    }
    colo, pd = replies["tiny-colo"], replies[pair]
    tokens = {name: [t.token for t in reply.choices[0].logprobs.content] for name, reply in replies.items()}
    assert tokens[pair] == tokens["tiny-colo"] and len(tokens[pair]) > 1
    assert pd.choices[0].message.content == colo.choices[0].message.content
    assert pd.usage.completion_tokens == colo.usage.completion_tokens
    assert pd.choices[0].finish_reason == colo.choices[0].finish_reason
    stream = client.chat.completions.create(model=pair, messages=messages, max_tokens=24, temperature=0, stream=True)
    chunks = [chunk.choices[0] for chunk in stream if chunk.choices]
    assert "".join(choice.delta.content or "" for choice in chunks) == colo.choices[0].message.content
    assert [choice.finish_reason for choice in chunks if choice.finish_reason] == [colo.choices[0].finish_reason]
    text = _metrics(pd_server)
    assert f'headwater:pd_requests_total{{model="{pair}",route="disaggregated"}}' in text
    transferred = next(
        line for line in text.splitlines() if line.startswith(f'headwater:kv_transfer_bytes_total{{model="{pair}"}}')
    )
    assert float(transferred.split()[-1]) > 0
    assert f'headwater:kv_transfer_seconds_count{{model="{pair}"}} 2.0' in text
    assert not list(_kv_dir(pd_server, pair).glob("*.kv"))  # every hand-off was taken and freed
    assert "KV hand-off" not in pd_server.log.read_text()  # no TE fell back to recomputing (its warning)


def test_a_grammar_runs_whole_on_the_decode_te(pd_server):
    reply = _client(pd_server).chat.completions.create(
        model="tiny-pd",
        messages=[{"role": "user", "content": "json please"}],
        max_tokens=8,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert 'headwater:pd_requests_total{model="tiny-pd",route="decode_only"} 1.0' in _metrics(pd_server)


def test_a_decode_te_lost_mid_request_fails_with_503_and_frees_the_hand_off(pd_server):
    decode = next(te for te in pd_server.health()["models"]["tiny-pd"] if te["mode"] == "decode")
    errors: list[Exception] = []

    def long_request() -> None:
        try:
            _client(pd_server).chat.completions.create(
                model="tiny-pd", messages=[{"role": "user", "content": "long"}], max_tokens=700, temperature=0
            )
        except openai.APIStatusError as error:
            errors.append(error)

    thread = threading.Thread(target=long_request)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(te["in_flight"] for te in pd_server.health()["models"]["tiny-pd"] if te["mode"] == "decode"):
        assert thread.is_alive(), f"the request ended before it could be interrupted: {errors}"
        assert time.monotonic() < deadline, "the request never reached the decode TE"
        time.sleep(0.02)
    os.kill(decode["pid"], signal.SIGKILL)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the request hung after its decode TE died"
    assert len(errors) == 1 and errors[0].status_code == 503, errors
    assert not list(_kv_dir(pd_server).glob("*.kv"))


def test_a_mixed_group_sends_long_prompts_to_the_pair_and_short_ones_to_the_colocated_te(pd_server):
    client = _client(pd_server)
    replies = {
        (name, prompt): client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": prompt}], max_tokens=12, temperature=0
        )
        for name in ("tiny-colo", "tiny-mixed")
        for prompt in (PROMPT, "Hi.")
    }
    assert replies["tiny-mixed", PROMPT].usage.prompt_tokens > 64 >= replies["tiny-mixed", "Hi."].usage.prompt_tokens
    for prompt in (PROMPT, "Hi."):  # greedy output is the same whichever kind ran it
        assert replies["tiny-mixed", prompt].choices[0].message.content == (
            replies["tiny-colo", prompt].choices[0].message.content
        )
    text = _metrics(pd_server)
    assert 'headwater:pd_requests_total{model="tiny-mixed",route="disaggregated"} 1.0' in text
    assert 'headwater:pd_requests_total{model="tiny-mixed",route="colocated"} 1.0' in text
    tes = {te["mode"]: te for te in pd_server.health()["models"]["tiny-mixed"]}
    assert sorted(tes) == ["colocated", "decode", "prefill"]


def test_catalogue_keys_are_checked():
    entry = parse_entry({"model": "m", "serving_mode": "disaggregated", "prefill_tes": 2, "decode_tes": 3}, "x")
    assert (entry.disaggregated, entry.prefill_tes, entry.decode_tes) == (True, 2, 3)
    assert parse_entry({"model": "m"}, "x").serving_mode == "colocated"
    for bad, field in (({"serving_mode": "split"}, "serving_mode"), ({"decode_tes": 0}, "decode_tes")):
        with pytest.raises(InvalidRequestError, match=field):
            parse_entry({"model": "m", **bad}, "x")
    with pytest.raises(InvalidRequestError, match="transformers engine"):
        parse_entry({"model": "m", "serving_mode": "disaggregated", "engine": "llamacpp"}, "x")
    assert parse_entry({"model": "m", "serving_mode": "disaggregated", "colocated_tes": 2}, "x").colocated_tes == 2
    assert parse_entry({"model": "m"}, "x").colocated_tes == 0
    pair = {"model": "m", "serving_mode": "disaggregated"}
    assert parse_entry({**pair, "kv_transport": "socket"}, "x").kv_transport == "socket"
    assert parse_entry(pair, "x").kv_transport is None  # HEADWATER_KV_TRANSPORT decides
    for bad in ({"kv_transport": "socket"}, {**pair, "kv_transport": "rdma"}):
        with pytest.raises(InvalidRequestError, match="kv_transport") as refused:
            parse_entry({"model": "m", **bad}, "x")
        assert refused.value.param == "kv_transport"
    for bad in ({"colocated_tes": 1}, {"serving_mode": "disaggregated", "colocated_tes": -1}):
        with pytest.raises(InvalidRequestError, match="colocated_tes") as refused:
            parse_entry({"model": "m", **bad}, "x")
        assert refused.value.param == "colocated_tes"


class ModeExecutor:
    """A ready TE of one mode answering with scripted outputs; records the requests it gets."""

    def __init__(self, mode: str, outputs: list[EngineOutput]) -> None:
        self.name, self.state, self.in_flight, self.outputs = mode, "ready", 0, outputs
        self.model = ModelSpec("m", engine=EngineConfig(mode=mode))
        self.cache_view = CacheView()
        self.requests: list[EngineRequest] = []

    async def generate(self, request: EngineRequest):
        self.requests.append(request)
        for output in self.outputs:
            yield msgspec.structs.replace(output, request_id=request.request_id)


def _route(tmp_path: Path, first: list[int], finish: str = "length") -> tuple[DisaggregatedRoute, dict, Path]:
    handoff_file = tmp_path / "h.kv"
    handoff_file.write_bytes(b"kv")
    handoff = KVHandoff("shm", str(handoff_file), 4, [1], 2, 2)
    tes = {
        "prefill": ModeExecutor("prefill", [EngineOutput("", first, [-0.5], finish, kv_handoff=handoff)]),
        "decode": ModeExecutor("decode", [EngineOutput("", [8], [-1.0]), EngineOutput("", [9], [-1.0], "length")]),
    }
    group = TEGroup("m")
    group.executors.extend(tes.values())
    return DisaggregatedRoute("m", group, Metrics()), tes, handoff_file


async def _collect(route: DisaggregatedRoute, request: EngineRequest) -> list[EngineOutput]:
    return [output async for output in route.outputs(request)]


def test_the_route_streams_the_first_token_then_decodes_with_the_hand_off(tmp_path):
    route, tes, handoff_file = _route(tmp_path, [7])
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=3, temperature=0), cache_salt="t")
    outputs = asyncio.run(_collect(route, request))
    assert [(o.token_ids, o.finish_reason) for o in outputs] == [([7], None), ([8], None), ([9], "length")]
    (prefill,), (decode,) = tes["prefill"].requests, tes["decode"].requests
    assert prefill.params.max_tokens == 1 and prefill.prompt_ids == [1, 2, 3]
    assert decode.prompt_ids == [1, 2, 3, 7] and decode.params.max_tokens == 2 and decode.cache_salt == "t"
    assert decode.kv_handoff is not None and decode.kv_handoff.location == str(handoff_file)
    assert not handoff_file.exists()  # the decode TE did not take it here: the gateway freed it


def test_a_first_token_that_ends_the_sequence_never_reaches_a_decode_te(tmp_path):
    route, tes, handoff_file = _route(tmp_path, [2], finish="stop")
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=5, temperature=0))
    outputs = asyncio.run(_collect(route, request))
    assert [(o.token_ids, o.finish_reason, o.kv_handoff) for o in outputs] == [([2], "stop", None)]
    assert not tes["decode"].requests and not handoff_file.exists()


def test_stateful_sampling_runs_whole_on_a_decode_te(tmp_path):
    route, tes, _ = _route(tmp_path, [7])
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=3, frequency_penalty=0.5))
    outputs = asyncio.run(_collect(route, request))
    assert [o.token_ids for o in outputs] == [[8], [9]] and not tes["prefill"].requests
    assert tes["decode"].requests[0].kv_handoff is None


def _mixed_route(tmp_path: Path, gain: float) -> tuple[DisaggregatedRoute, dict, Metrics]:
    """A pair and a colocated TE under `deepflow` with a one-cell heatmap of `gain`."""
    route, tes, _ = _route(tmp_path, [7])
    tes["colocated"] = ModeExecutor("colocated", [EngineOutput("", [5, 6], [-1.0, -1.0], "length")])
    route.group.executors.append(tes["colocated"])
    route.group.scheduler = Scheduler("deepflow", heatmap=Heatmap((4096,), (10.0,), ((gain,),)))
    route.mixed = True
    assert route.metrics is not None
    return route, tes, route.metrics


def _routes(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["route"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "headwater:pd_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


@pytest.mark.parametrize(("gain", "kind"), [(0.4, "pair"), (-0.4, "colocated")])
def test_a_mixed_route_follows_the_heatmap_sign(tmp_path, gain, kind):
    route, tes, metrics = _mixed_route(tmp_path, gain)
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=3, temperature=0))
    outputs = asyncio.run(_collect(route, request))
    ran = {mode for mode, te in tes.items() if te.requests}
    if kind == "pair":
        assert ran == {"prefill", "decode"} and [o.token_ids for o in outputs] == [[7], [8], [9]]
        assert _routes(metrics) == {"disaggregated": 1.0}
    else:
        assert ran == {"colocated"} and tes["colocated"].requests[0].params.max_tokens == 3
        assert _routes(metrics) == {"colocated": 1.0}


def test_a_mixed_route_runs_unsplittable_sampling_whole_on_the_colocated_te(tmp_path):
    route, tes, metrics = _mixed_route(tmp_path, 0.4)
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=3, presence_penalty=0.5))
    asyncio.run(_collect(route, request))
    assert {mode for mode, te in tes.items() if te.requests} == {"colocated"}
    assert _routes(metrics) == {"colocated": 1.0}


def test_a_context_is_cached_whole_on_a_prefill_te_and_its_export_freed(tmp_path):
    route, tes, handoff_file = _route(tmp_path, [7])
    request = EngineRequest("r", [1, 2, 3], SamplingParams(max_tokens=2, temperature=0), cache_salt="t", pin_s=60.0)
    outputs = asyncio.run(_collect(route, request))
    assert [(o.token_ids, o.kv_handoff) for o in outputs] == [([7], None)]
    (prefill,) = tes["prefill"].requests
    assert (prefill.params.max_tokens, prefill.pin_s) == (2, 60.0)  # not split: its blocks are kept, pinned
    assert not tes["decode"].requests and not handoff_file.exists()
    assert route.metrics is not None and _routes(route.metrics) == {"prefill_only": 1.0}


def test_the_prefill_load_counts_prompt_tokens_until_their_prefill_ends(tmp_path):
    route, tes, _ = _route(tmp_path, [7])
    seen: list[tuple[str, int]] = []
    for mode, te in tes.items():

        def watched(request, mode=mode, scripted=te.generate):
            seen.append((mode, route.prefill_tokens))
            return scripted(request)

        te.generate = watched
    asyncio.run(_collect(route, EngineRequest("r", [1, 2, 3, 4], SamplingParams(max_tokens=3, temperature=0))))
    assert seen == [("prefill", 4), ("decode", 0)] and route.prefill_tokens == 0
