"""How the llama.cpp engine groups a step's tokens into `llama_decode` calls. llama.cpp computes a call over
per-sequence KV streams as one pass per run of consecutive sequence ids, so the plan decides whether a step of
32 sequences costs one pass over the weights or 32. Needs no llama-cpp-python: planning is pure Python."""

from __future__ import annotations

from pathlib import Path

from headwater.engine.llamacpp_engine import LlamaCppEngine, _Sequence
from headwater.engine.protocol import EngineConfig, EngineRequest, SamplingParams


def _engine(exact: bool = True, stream_cells: int = 256, max_sequences: int = 8) -> LlamaCppEngine:
    engine = LlamaCppEngine(Path("unused.gguf"), [2], EngineConfig(64, 64, 32), max_sequences=max_sequences)
    engine.exact = exact
    engine._stream_cells = stream_cells
    return engine


def _run(engine: LlamaCppEngine, seq_id: int, prompt: int, generated: int, name: str | None = None) -> _Sequence:
    """A running sequence with `prompt` prompt tokens of which all were fed when it has `generated` tokens."""
    request = EngineRequest(name or f"r{seq_id}", list(range(10, 10 + prompt)), SamplingParams(max_tokens=500))
    sequence = _Sequence(request, seq_id, frozenset({2}), fed=prompt if generated else 0)
    sequence.generated = list(range(100, 100 + generated))
    engine._running[request.request_id] = sequence
    return sequence


def _ids(call) -> list[int]:
    return [token.sequence.seq_id for token in call]


def test_decode_tokens_go_in_one_call_in_ascending_sequence_order():
    engine = _engine()
    for seq_id in (5, 0, 3, 1, 2, 4):  # admission order is not id order
        _run(engine, seq_id, prompt=12, generated=3)
    [call] = engine._plan()
    assert _ids(call) == [0, 1, 2, 3, 4, 5]
    assert all(token.wants_logits for token in call)
    assert [token.position for token in call] == [14] * 6  # the last generated token, after 12 prompt tokens


def test_prompt_chunks_get_a_call_of_their_own_in_descending_id_order_within_the_budget():
    engine = _engine()
    _run(engine, 1, prompt=12, generated=2)
    _run(engine, 0, prompt=12, generated=4)
    short = _run(engine, 2, prompt=10, generated=0)
    waiting = _run(engine, 3, prompt=80, generated=0)
    decode, prompts = engine._plan()
    assert _ids(decode) == [0, 1]
    # the 64-token budget less the two decode tokens: the first-come prompt whole, then a chunk of the other; the
    # higher id first, so llama.cpp does not cut equal slices off both
    assert _ids(prompts) == [3] * 52 + [2] * 10
    assert short.fed == 10 and waiting.fed == 52
    assert [token.wants_logits for token in prompts] == [False] * 61 + [True]
    short.generated.append(100)  # what sampling its last prompt token's logits does
    [decode, rest] = engine._plan()
    assert _ids(decode) == [0, 1, 2]
    assert [token.position for token in rest] == list(range(52, 80)) and rest[-1].wants_logits


def test_a_long_sequence_is_decoded_alone_when_its_stream_is_large():
    engine = _engine(stream_cells=1024)
    _run(engine, 0, prompt=12, generated=3)
    _run(engine, 1, prompt=300, generated=3)  # attends over 512 cells: llama.cpp splits a lone token's attention
    _run(engine, 2, prompt=200, generated=56)  # position 255: 256 cells, still shared
    shared, alone = engine._plan()
    assert _ids(shared) == [0, 2] and _ids(alone) == [1]
    assert not engine._attends_alone(255) and engine._attends_alone(256)
    assert not _engine(stream_cells=384)._attends_alone(300)  # a stream under 512 cells never gets there


def test_the_unified_cache_takes_everything_in_one_call():
    engine = _engine(exact=False, stream_cells=4096)
    _run(engine, 3, prompt=300, generated=3)
    _run(engine, 1, prompt=12, generated=3)
    _run(engine, 0, prompt=20, generated=0)
    [call] = engine._plan()
    assert _ids(call) == [1, 3] + [0] * 20


def test_sequence_ids_are_handed_out_lowest_first():
    engine = _engine(max_sequences=4)
    for name in "abc":
        engine.add_request(EngineRequest(name, [10, 11], SamplingParams(max_tokens=4)))
    engine._admit()
    assert [s.seq_id for s in engine._running.values()] == [0, 1, 2]
    engine._finish(engine._running["a"], "abort")
    engine.add_request(EngineRequest("d", [10, 11], SamplingParams(max_tokens=4)))
    engine._admit()
    assert engine._running["d"].seq_id == 0  # the freed low id, not 3


class _RecordingLibrary:
    """The two llama.cpp memory calls `_close_id_gaps` makes, recorded instead of run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def llama_get_memory(self, context: object) -> str:
        return "memory"

    def llama_memory_seq_cp(self, memory: str, source: int, target: int, p0: int, p1: int) -> None:
        assert (p0, p1) == (-1, -1)  # a whole stream: llama.cpp copies across streams only whole
        self.calls.append(("cp", source, target))

    def llama_memory_seq_rm(self, memory: str, seq_id: int, p0: int, p1: int) -> None:
        self.calls.append(("rm", seq_id, -1))


def test_finished_sequences_leave_no_gap_between_decoding_ids():
    engine = _engine()
    engine._lib = library = _RecordingLibrary()
    for seq_id in (0, 3, 5):
        _run(engine, seq_id, prompt=4, generated=2)
    prefilling = _run(engine, 4, prompt=4, generated=0)
    engine._free_seq_ids = [1, 2, 6, 7]
    engine._close_id_gaps()
    assert library.calls == [("cp", 5, 1), ("rm", 5, -1), ("cp", 3, 2), ("rm", 3, -1)]
    assert sorted(s.seq_id for s in engine._running.values() if not s.prefilling) == [0, 1, 2]
    assert prefilling.seq_id == 4 and sorted(engine._free_seq_ids) == [3, 5, 6, 7]
    [decode, _prompts] = engine._plan()
    assert _ids(decode) == [0, 1, 2]  # one run of ids: one pass over the weights
