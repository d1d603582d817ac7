"""Per-request logits controls: OpenAI's penalties and logit_bias, grammar masks and top_logprobs, by slot."""

from __future__ import annotations

import json

import pytest
import torch

from headwater.engine.controls import NO_SLOT, ControlTable, RequestControls
from headwater.engine.grammar import MatcherFactory, grammar_error, json_schema_grammar
from headwater.engine.protocol import SamplingParams
from headwater.errors import InvalidRequestError
from headwater.models.loading import load_tokenizer


def test_no_controls_means_no_slot():
    assert RequestControls.from_params(SamplingParams(temperature=0.3, seed=1), None) is None


def test_penalties_follow_openais_formula():
    controls = RequestControls(presence_penalty=0.5, frequency_penalty=0.25)
    for token in (3, 3, 3, 5):
        controls.record(token, None)
    scores = torch.zeros(8)
    controls.adjust(scores, eos_token_ids=[0])
    expected = torch.zeros(8)
    expected[3] = -(0.25 * 3 + 0.5)
    expected[5] = -(0.25 * 1 + 0.5)
    assert torch.allclose(scores, expected)


def test_logit_bias_is_added_to_the_logits():
    controls = RequestControls(logit_bias={2: -100.0, 6: 4.5})
    scores = torch.ones(8)
    controls.adjust(scores, eos_token_ids=[0])
    assert scores[2] == -99.0 and scores[6] == 5.5 and scores[0] == 1.0


def test_table_adjusts_only_controlled_rows_and_records_raw_top_tokens():
    table = ControlTable(eos_token_ids=[0])
    slot = table.add(RequestControls(logit_bias={1: -1000.0}, top_logprobs=2))
    logits = torch.tensor([[0.0, 5.0, 1.0, 2.0], [0.0, 5.0, 1.0, 2.0]])
    slots = torch.tensor([NO_SLOT, slot])
    scores = table.apply(logits, slots)
    assert scores is not None
    assert scores[0].tolist() == logits[0].tolist()
    assert scores[1, 1] < -900
    table.record(logits, slots, torch.tensor([1, 3]))
    controls = table.get(slot)
    assert controls is not None and controls.counts == {3: 1}
    raw = logits[1].log_softmax(-1)
    assert [token for token, _ in controls.top[0]] == [1, 3]  # the model's own ranking, not the biased one
    assert controls.top[0][0][1] == pytest.approx(raw[1].item())
    assert table.apply(logits, torch.tensor([NO_SLOT, NO_SLOT])) is None


@pytest.fixture(scope="module")
def matchers(tiny_chat_path):
    tokenizer = load_tokenizer(str(tiny_chat_path))
    return tokenizer, MatcherFactory(lambda: tokenizer, len(tokenizer))


def test_a_tokenizer_that_cannot_load_fails_the_grammar_request_not_the_engine():
    def missing():
        raise OSError("no tokenizer.json in /models/x")

    factory = MatcherFactory(missing, 100)
    with pytest.raises(InvalidRequestError, match="cannot take a grammar.*no tokenizer.json"):
        factory.matcher(json_schema_grammar({"type": "object"}))


def test_grammar_mask_allows_only_tokens_that_keep_the_json_valid(matchers):
    tokenizer, factory = matchers
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 22, 333]}},
        "required": ["ok", "n"],
        "additionalProperties": False,
    }
    controls = RequestControls(matcher=factory.matcher(json_schema_grammar(schema)))
    generated = []
    for _ in range(40):  # greedy over random logits, within the mask: must end in a valid document
        scores = torch.randn(len(tokenizer))
        controls.adjust(scores, eos_token_ids=[tokenizer.eos_token_id])
        token = int(scores.argmax())
        if token == tokenizer.eos_token_id:
            break
        controls.record(token, None)
        generated.append(token)
    assert token == tokenizer.eos_token_id
    document = json.loads(tokenizer.decode(generated))
    assert isinstance(document["ok"], bool) and document["n"] in (1, 22, 333) and set(document) == {"ok", "n"}


def test_a_schema_llguidance_cannot_compile_is_named():
    assert grammar_error(json_schema_grammar({"type": "bogus"})) is not None
    assert grammar_error(json_schema_grammar({"type": "object"})) is None
