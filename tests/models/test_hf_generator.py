"""HFGenerator: batched left-padded generation equals one-at-a-time; stops and budgets are honoured."""

from __future__ import annotations

import pytest

from headwater.models.generator import GenerationParams, Generator, cut_at_stop
from headwater.models.hf_generator import HFGenerator


@pytest.fixture(scope="module")
def generator(tiny_chat_path):
    return HFGenerator.from_pretrained(str(tiny_chat_path), batch_size=4)


def test_is_a_generator(generator):
    assert isinstance(generator, Generator)


def test_batched_equals_one_at_a_time(generator):
    prompts = ["short", "a somewhat longer prompt than the first", [{"role": "user", "content": "hi"}]]
    params = GenerationParams(max_tokens=8, temperature=0)
    batched = generator.generate(prompts, params)
    single = [generator.generate([prompt], params)[0] for prompt in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.completion_tokens <= 8 for g in batched)
    assert batched[0].prompt_tokens < batched[1].prompt_tokens


def test_seeded_sampling_repeats(generator):
    params = GenerationParams(max_tokens=10, temperature=1.0, seed=5)
    assert generator.generate(["x"], params) == generator.generate(["x"], params)


def test_stop_strings_cut_the_text(generator):
    text = generator.generate(["Hello"], GenerationParams(max_tokens=16))[0].text
    stop = text[4:6]
    result = generator.generate(["Hello"], GenerationParams(max_tokens=16, stop=(stop,)))[0]
    assert result.text == text[: text.find(stop)]
    assert result.finish_reason == "stop"


def test_cut_at_stop():
    assert cut_at_stop("abcXYdef", ["XY", "d"]) == ("abc", True)
    assert cut_at_stop("abc", ["z", ""]) == ("abc", False)


@pytest.mark.parametrize("bad", [{"max_tokens": 0}, {"temperature": -1}, {"top_p": 0}])
def test_params_are_validated(bad):
    with pytest.raises(ValueError):
        GenerationParams(**bad)
