"""How the llama.cpp engine groups a step's tokens into `llama_decode` calls. llama.cpp computes a call over
per-sequence KV streams as one pass per run of consecutive sequence ids, so the plan decides whether a step of
32 sequences costs one pass over the weights or 32. Needs no llama-cpp-python: planning is pure Python."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from headwater.engine.llamacpp_engine import LlamaCppEngine, _sampling_batch
from headwater.engine.llamacpp_plan import PlannedToken, RunningSequence, chunk_length
from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import EngineConfig, EngineRequest, KVCacheType, SamplingParams
from headwater.engine.sampling import NO_SEED, seed_key
from headwater.engine.stream_prefixes import Held


def _engine(exact: bool = True, max_sequences: int = 8, kv_type: KVCacheType = "q8_0") -> LlamaCppEngine:
    config = EngineConfig(64, 64, 32)
    return LlamaCppEngine(Path("unused.gguf"), [2], config, max_sequences=max_sequences, exact=exact, kv_type=kv_type)


def _run(engine: LlamaCppEngine, seq_id: int, prompt: int, generated: int, name: str | None = None) -> RunningSequence:
    """A running sequence with `prompt` prompt tokens of which all were fed when it has `generated` tokens."""
    request = EngineRequest(name or f"r{seq_id}", list(range(10, 10 + prompt)), SamplingParams(max_tokens=500))
    sequence = RunningSequence(request, seq_id, frozenset({2}), fed=prompt if generated else 0)
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


def _micro_batches(call: list[PlannedToken]) -> list[dict[int, int]]:
    """How llama.cpp's `split_equal` cuts a call over one KV stream per sequence (llama-batch.cpp, sequential):
    from the first unused token, every sequence whose id is the last one's plus 1, then as many tokens from each
    as the shortest has left. Each micro-batch as {sequence id: tokens}."""
    used, batches = [False] * len(call), []
    while not all(used):
        chosen: list[int] = []
        for index, token in enumerate(call):
            seq_id = token.sequence.seq_id
            if not used[index] and seq_id not in chosen and (not chosen or seq_id == chosen[-1] + 1):
                chosen.append(seq_id)
        left = {s: [i for i, t in enumerate(call) if t.sequence.seq_id == s and not used[i]] for s in chosen}
        taken = min(len(indices) for indices in left.values())
        for indices in left.values():
            for index in indices[:taken]:
                used[index] = True
        batches.append(dict.fromkeys(chosen, taken))
    return batches


def test_equal_prompt_chunks_of_neighbouring_ids_are_one_micro_batch_and_no_chunk_is_cut():
    """32 repeated prompts whose prefixes were reused each have two tokens left: one pass over the weights for all
    of them, not 32. Chunks of other lengths stay whole, each run of equal ones in a micro-batch of its own."""
    engine = _engine(max_sequences=12)
    lengths = {4: 2, 5: 2, 6: 2, 7: 9, 2: 2, 0: 3, 1: 3, 9: 2, 10: 2}
    for seq_id, length in lengths.items():
        _run(engine, seq_id, prompt=length, generated=0)
    [prompts] = engine._plan()
    assert _micro_batches(prompts) == [{9: 2, 10: 2}, {7: 9}, {4: 2, 5: 2, 6: 2}, {2: 2}, {0: 3, 1: 3}]
    logits_rows = [token.sequence.seq_id for token in prompts if token.wants_logits]
    assert sorted(logits_rows) == sorted(lengths)  # every prompt's last token, once


def test_long_sequences_decode_with_the_others():
    engine = _engine()
    _run(engine, 0, prompt=12, generated=3)
    _run(engine, 1, prompt=300, generated=3)  # without flash attention a lone token attends as one among others
    [call] = engine._plan()
    assert _ids(call) == [0, 1]


def test_over_f16_no_prompt_chunk_is_a_single_token_unless_the_prompt_is():
    """Without flash attention llama.cpp attends a lone row of a stream otherwise than rows of a chunk, so a prompt's
    last token never goes alone: a chunk stops two short of the end, and a step with room for one token leaves the
    prompt waiting."""
    assert chunk_length(remaining=80, room=79) == 78
    assert chunk_length(remaining=80, room=1) == 0
    assert chunk_length(remaining=3, room=2) == 0
    assert chunk_length(remaining=80, room=200) == 80
    assert chunk_length(remaining=1, room=5) == 1  # a one-token prompt is computed so whatever happens
    engine = _engine(kv_type="f16")
    _run(engine, 0, prompt=12, generated=3)
    waiting = _run(engine, 1, prompt=64, generated=0)
    [decode, prompt] = engine._plan()  # 63 tokens of room would leave the last prompt token alone
    assert len(decode) == 1 and len(prompt) == 62 and waiting.fed == 62
    [_decode, rest] = engine._plan()
    assert [token.position for token in rest] == [62, 63]


def test_over_q8_0_a_prompts_last_token_may_go_alone_in_the_decode_call():
    """Over a q8_0 cache every row is computed alike, so a chunk may leave one token, and a one-token chunk (a reused
    prompt's last token) goes with the decode tokens, in id order: one pass over the weights, not two."""
    assert chunk_length(remaining=80, room=79, least=1) == 79
    assert chunk_length(remaining=80, room=1, least=1) == 1
    engine = _engine()
    _run(engine, 0, prompt=12, generated=3)
    _run(engine, 2, prompt=12, generated=3)
    waiting = _run(engine, 1, prompt=64, generated=0)
    [decode, prompt] = engine._plan()  # 62 tokens of room: one token is left, not two
    assert _ids(decode) == [0, 2] and len(prompt) == 62 and waiting.fed == 62
    waiting.fed = 63  # as after a reused prefix of all but its last token
    [call] = engine._plan()
    assert _ids(call) == [0, 1, 2] and [token.position for token in call] == [14, 63, 14]
    assert all(token.wants_logits for token in call)


def test_the_unified_cache_takes_everything_in_one_call():
    engine = _engine(exact=False)
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
    """The llama.cpp memory calls `Streams` makes, recorded instead of run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def llama_get_memory(self, context: object) -> str:
        return "memory"

    def llama_memory_seq_cp(self, memory: str, source: int, target: int, p0: int, p1: int) -> None:
        assert (p0, p1) == (-1, -1)  # a whole stream: llama.cpp copies across streams only whole
        self.calls.append(("cp", source, target))

    def llama_memory_seq_rm(self, memory: str, seq_id: int, p0: int, p1: int) -> None:
        assert p1 == -1
        self.calls.append(("rm", seq_id, p0))


def test_finished_sequences_leave_no_gap_between_decoding_ids():
    engine = _engine()
    engine._streams.attach(library := _RecordingLibrary(), None)
    for seq_id in (0, 3, 5):
        _run(engine, seq_id, prompt=4, generated=2)
    prefilling = _run(engine, 4, prompt=4, generated=0)
    engine._streams.free = [1, 2, 6, 7]
    engine._close_id_gaps()
    assert library.calls == [("cp", 5, 1), ("rm", 5, -1), ("cp", 3, 2), ("rm", 3, -1)]
    assert sorted(s.seq_id for s in engine._running.values() if not s.prefilling) == [0, 1, 2]
    assert prefilling.seq_id == 4 and sorted(engine._streams.free) == [3, 5, 6, 7]
    [decode, _prompts] = engine._plan()
    assert _ids(decode) == [0, 1, 2]  # one run of ids: one pass over the weights


def _admit(engine: LlamaCppEngine, name: str, prompt: list[int], salt: str | None = None) -> RunningSequence:
    engine.add_request(EngineRequest(name, prompt, SamplingParams(max_tokens=4), cache_salt=salt))
    engine._admit()
    return engine._running[name]


SYSTEM = list(range(1000, 1040))
"""A 40-token prefix every prompt below starts with, as a chat template and system prompt do."""


def test_a_new_prompt_starts_from_the_longest_prefix_a_running_stream_holds():
    engine = _engine()
    engine._streams.attach(library := _RecordingLibrary(), None)
    holder = _run(engine, 0, prompt=0, generated=0)
    holder.request = EngineRequest("r0", [*SYSTEM, 1, 2, 3], SamplingParams(max_tokens=4))
    holder.fed = 43
    engine._streams.free = [1, 2, 3, 4, 5, 6, 7]
    sequence = _admit(engine, "new", [*SYSTEM, 7, 8, 9])
    assert sequence.seq_id == 1 and sequence.fed == sequence.cached == 40
    assert library.calls == [("cp", 0, 1), ("rm", 1, 40)]  # the whole stream copied, then cut after the prefix
    library.calls.clear()
    short = _admit(engine, "short", [*SYSTEM[:10], 5, 6, 7])  # 10 shared tokens: cheaper to compute than copy
    assert short.cached == 0 and library.calls == [("rm", 2, 0)]
    library.calls.clear()
    other = _admit(engine, "other", [*SYSTEM, 7, 8, 9], salt="tenant-b")  # another tenant's prefix is not reused
    assert other.cached == 0 and library.calls == [("rm", 3, 0)]


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
def test_a_finished_stream_keeps_its_prompt_for_the_next_request_on_its_id(kv_type):
    engine = _engine(kv_type=kv_type)
    engine._streams.attach(library := _RecordingLibrary(), None)
    first = _admit(engine, "first", [*SYSTEM, 1, 2, 3])
    first.fed, first.generated = 43, [50, 51]
    engine._finish(first, "stop", logprob=-0.1)
    # over f16 its prompt, not its reply; over q8_0 its reply too but the last token, never decoded
    # (`RunningSequence.held`)
    reply = [50] if kv_type == "q8_0" else []
    assert engine._streams.kept[0].tokens == [*SYSTEM, 1, 2, 3, *reply]
    library.calls.clear()
    again = _admit(engine, "again", [*SYSTEM, 1, 2, 3, 4, 5])
    assert again.seq_id == 0 and again.cached == 43  # the first prompt, all that the two share
    # its own stream already holds them: no copy, but of the conversation it held, kept aside for its next turn
    assert library.calls == [("cp", 0, 7)] * len(reply) + [("rm", 0, 43)]


def test_a_claimed_stream_moves_what_it_holds_to_an_empty_one_first_and_the_next_turn_takes_that_stream():
    """The lowest free id goes to an unrelated request; what its stream held (a finished conversation whose next
    turn may come) is first copied to the highest empty stream, which is handed out last. The next turn then takes
    that stream itself: its prefix is reused where it is, without a copy."""
    engine = _engine(max_sequences=4)
    engine._streams.attach(library := _RecordingLibrary(), None)
    first = _admit(engine, "first", [*SYSTEM, 1, 2, 3])
    first.fed = 43
    first.generated = [50]
    engine._finish(first, "stop", logprob=-0.1)
    library.calls.clear()
    unrelated = _admit(engine, "unrelated", [9, 9, 9, 9])
    assert unrelated.seq_id == 0 and unrelated.cached == 0
    assert library.calls == [("cp", 0, 3), ("rm", 0, 0)]
    assert engine._streams.kept == {3: Held(None, [*SYSTEM, 1, 2, 3])}
    library.calls.clear()
    turn = _admit(engine, "turn", [*SYSTEM, 1, 2, 3, 60, 61, 62])
    assert turn.seq_id == 3 and turn.cached == 43 and library.calls == [("rm", 3, 43)]
    assert 3 not in engine._streams.free and engine._streams.kept == {}


def _finish_fed(engine: LlamaCppEngine, sequence: RunningSequence) -> None:
    sequence.fed = len(sequence.request.prompt_ids)
    sequence.generated = [50, 51]  # over a q8_0 cache its stream holds the reply's first token too
    engine._finish(sequence, "stop", logprob=-0.1)


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
def test_prompts_asked_one_after_another_stay_held_and_one_sent_again_takes_its_own_stream(kv_type):
    """Four questions on one text, asked in turn, on four streams of which two hold something older: each new one
    takes the lowest stream and moves what it held; a moved prompt counts as kept last, so a later move evicts the
    older content, not it: the four questions end up held. Asked again, a question takes the stream that holds it,
    with no copy and nothing moved (its last tokens, which the stream holds past what it reuses, are fed again in
    place: two over f16, one over q8_0; over q8_0 the old reply the stream held is dropped, not moved over another
    question)."""
    engine = _engine(max_sequences=4, kv_type=kv_type)
    engine._streams.attach(library := _RecordingLibrary(), None)
    for name in ("old-a", "old-b"):
        _finish_fed(engine, _admit(engine, name, [7, 7, 7, *range(40)] if name == "old-a" else [8, 8, *range(40)]))
    questions = {n: [*SYSTEM, 500 + n, 600 + n, 700 + n] for n in range(4)}
    for n, prompt in questions.items():
        _finish_fed(engine, _admit(engine, f"q{n}", prompt))
    held = {tuple(held.tokens[: len(held.tokens) - held.reply]) for held in engine._streams.kept.values()}
    assert all(tuple(prompt) in held for prompt in questions.values())
    library.calls.clear()
    again = _admit(engine, "q3-again", questions[3])  # the newest: moving its reply would evict the oldest
    reused = len(questions[3]) - {"f16": 2, "q8_0": 1}[kv_type]
    assert engine._streams.kept.get(again.seq_id) is None and again.cached == reused
    assert library.calls == [("rm", again.seq_id, reused)]


def test_cache_events_name_the_blocks_the_streams_hold_and_drop():
    engine = _engine()  # blocks of 32 tokens
    engine._streams.attach(_RecordingLibrary(), None)
    first = _admit(engine, "first", [*SYSTEM, *range(24)])  # 64 tokens: two full blocks once fed
    assert engine.cache_events().reset and engine.cache_events().stored == []
    first.fed = 64
    first.generated = [50]
    stored = engine.cache_events().stored
    assert stored == sorted(block_hashes(first.request.prompt_ids, 32, None))
    engine._finish(first, "stop", logprob=-0.1)
    assert engine.cache_events().stored == [] and engine.load().kv_blocks_cached == 2  # kept, not dropped
    _admit(engine, "other", [7] * 40)  # takes id 0: its blocks move to the highest stream, still held
    assert engine.cache_events().evicted == []
    engine._streams.kept.clear()
    assert engine.cache_events().evicted == stored


def test_a_steps_sampling_settings_are_reused_for_the_same_rows_with_each_seeded_rows_new_key():
    engine = _engine()
    plain, seeded = _run(engine, 0, prompt=12, generated=1), _run(engine, 1, prompt=12, generated=1)
    seeded.request = msgspec.structs.replace(seeded.request, params=SamplingParams(max_tokens=500, seed=5))
    first = _sampling_batch([plain, seeded], None)
    assert first.seed_key.tolist() == [NO_SEED, seed_key(5, 13)]
    seeded.generated.append(101)
    again = _sampling_batch([plain, seeded], ([plain, seeded], first))
    assert again.temperature is first.temperature and again.seed_key.tolist() == [NO_SEED, seed_key(5, 14)]
    unseeded = _sampling_batch([plain], ([plain], _sampling_batch([plain], None)))
    assert unseeded.seed_key.tolist() == [NO_SEED]
    other = _run(engine, 2, prompt=12, generated=1)
    other.request = msgspec.structs.replace(other.request, params=SamplingParams(max_tokens=500, temperature=0.0))
    changed = _sampling_batch([plain, other], ([plain, seeded], again))  # other rows: made anew
    assert changed.temperature.tolist() == [1.0, 0.0]
