"""GenerateConfig and RunConfig check their fields; prepare_generation checks the plan and opens the sources before
any model loads, and says which categories the corpus lacks or holds in vain."""

from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.astral import GenerateConfig, RunConfig, default_taxonomy, plan_tests, prepare_generation


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (lambda: GenerateConfig("m", concurrency=0), "concurrency"),
        (lambda: GenerateConfig("m", attempts=0), "attempts"),
        (lambda: GenerateConfig("m", text_field=" "), "text_field"),
        (lambda: RunConfig("t", "o", oracle_retries=-1), "oracle_retries"),
        (lambda: RunConfig("t", "o", max_tokens=0), "max_tokens"),
    ],
)
def test_bad_fields_are_named(config, field):
    with pytest.raises(InvalidRequestError) as caught:
        config()
    assert caught.value.param == field and caught.value.message.startswith(field)


def test_prepare_reports_corpus_categories_it_lacks_and_holds_in_vain(tmp_path):
    plan = [test.to_dict() for test in plan_tests(default_taxonomy(), n=30, seed=0)]
    planned = sorted({test["category"] for test in plan})
    corpus = tmp_path / "corpus.jsonl"
    lines = [{"prompt": "an example", "category": planned[0]}, {"prompt": "another", "category": "weather"}]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    prepared = prepare_generation(plan, GenerateConfig("m", corpus=corpus, no_fewshot=True))
    assert prepared.missing_categories == planned[1:] and prepared.unknown_categories == ["weather"]
    assert prepared.options.variant == "rag" and prepared.tests == plan


def test_prepare_refuses_a_cell_outside_the_grid_naming_the_test():
    plan = [{"id": "t1", "category": "weather", "style": "slang", "technique": "expert_endorsement"}]
    with pytest.raises(InvalidRequestError, match="plan.jsonl id 't1'"):
        prepare_generation(plan, GenerateConfig("m"), "plan.jsonl")
