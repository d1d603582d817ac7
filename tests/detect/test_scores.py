"""Binoculars and Fast-DetectGPT against plain loops over positions, on tiny models, to 1e-5."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from headwater.detect import Binoculars, FastDetectGPT
from headwater.errors import InvalidRequestError
from headwater.models.builtin import builtin_path

TEXTS = [
    "The river rose after three days of rain, and the village moved its boats to higher ground.",
    "Energy, water and carbon are measured for every request.",
    "A short one here.",
]


@pytest.fixture(scope="module")
def models(data_dir):
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    observer = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-chat", data_dir)).eval()
    performer = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-teacher", data_dir)).eval()
    return tokenizer, observer, performer


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def binoculars_loop(observer, performer, ids, ppl_model="observer"):
    with torch.no_grad():
        o = observer(input_ids=torch.tensor([ids])).logits[0].double()
        p = performer(input_ids=torch.tensor([ids])).logits[0].double()
    nll, cross = 0.0, 0.0
    for position in range(len(ids) - 1):
        log_o, log_p = torch.log_softmax(o[position], -1), torch.log_softmax(p[position], -1)
        nll -= float((log_o if ppl_model == "observer" else log_p)[ids[position + 1]])
        cross -= float((log_o.exp() * log_p).sum())
    return nll / cross


def fast_detectgpt_loop(sampling, scoring, ids):
    with torch.no_grad():
        s = sampling(input_ids=torch.tensor([ids])).logits[0].double()
        c = scoring(input_ids=torch.tensor([ids])).logits[0].double()
    top, spread = 0.0, 0.0
    for position in range(len(ids) - 1):
        log_c, probs = torch.log_softmax(c[position], -1), torch.softmax(s[position], -1)
        mean = float((probs * log_c).sum())
        top += float(log_c[ids[position + 1]]) - mean
        spread += float((probs * log_c**2).sum()) - mean**2
    return top / math.sqrt(spread)


@pytest.mark.parametrize("ppl_model", ["observer", "performer"])
def test_binoculars_matches_the_loop(models, ppl_model):
    tokenizer, observer, performer = models
    scores = Binoculars(observer, performer, tokenizer, ppl_model=ppl_model).score(TEXTS)
    expected = [binoculars_loop(observer, performer, _ids(tokenizer, t), ppl_model) for t in TEXTS]
    assert scores == pytest.approx(expected, abs=1e-5)


def test_fast_detectgpt_matches_the_loop(models):
    tokenizer, observer, performer = models
    scores = FastDetectGPT(observer, performer, tokenizer).score(TEXTS)
    expected = [fast_detectgpt_loop(observer, performer, _ids(tokenizer, t)) for t in TEXTS]
    assert scores == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("make", [lambda o, p, t: Binoculars(o, p, t), lambda o, p, t: FastDetectGPT(o, p, t)])
def test_batch_mates_and_padding_change_nothing(models, make):
    tokenizer, observer, performer = models
    detector = make(observer, performer, tokenizer)
    alone = [detector.score([text])[0] for text in TEXTS]
    together = detector.score(TEXTS + [" ".join(TEXTS) * 3])[: len(TEXTS)]
    assert together == pytest.approx(alone, abs=1e-5)


def test_one_model_on_both_sides_with_greedy_text(models):
    tokenizer, observer, _performer = models
    prompt = tokenizer("The river", return_tensors="pt")
    with torch.no_grad():
        ids = observer.generate(**prompt, max_new_tokens=20, do_sample=False, pad_token_id=0)[0]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    assert Binoculars(observer, observer, tokenizer).score([text])[0] <= 1.0
    assert FastDetectGPT(observer, observer, tokenizer).score([text])[0] >= 0.0


def test_bad_input_is_refused_with_a_reason(models, data_dir):
    tokenizer, observer, performer = models
    detector = Binoculars(observer, performer, tokenizer, min_tokens=10)
    with pytest.raises(InvalidRequestError, match="text 1: empty"):
        detector.score(["fine text that is long enough to score here", "  "])
    with pytest.raises(InvalidRequestError, match="fewer than the minimum 10"):
        detector.score(["hi"])
    bigger = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    bigger.add_tokens([f"<extra{i}>" for i in range(40)])
    with pytest.raises(InvalidRequestError, match="share one tokenizer"):
        FastDetectGPT(observer, performer, bigger)
