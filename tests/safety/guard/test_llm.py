"""The LLM guard: Llama-Guard-style prompt, reply parsing (codes, fail closed), and the HF guard's score."""

from __future__ import annotations

import pytest
import torch

from headwater.models.loading import load_model, load_tokenizer
from headwater.safety.guard import LLAMA_GUARD_2_CATEGORIES, HFGuard, LLMGuard, guard_prompt, parse_reply


@pytest.mark.parametrize(
    ("reply", "verdict", "codes"),
    [
        ("safe", "safe", ()),
        ("  Safe.\n", "safe", ()),
        ("unsafe\nS1,S10", "unsafe", ("S1", "S10")),
        ("**unsafe**\ns2, S9, s2", "unsafe", ("S2", "S9")),
        ("UNSAFE S3", "unsafe", ("S3",)),
        ("unsafe", "unsafe", ()),
    ],
)
def test_parse_reply_reads_the_verdict_and_codes(reply, verdict, codes):
    parsed = parse_reply(reply, score=0.25)
    assert (parsed.verdict, parsed.categories, parsed.error, parsed.score) == (verdict, codes, None, 0.25)


@pytest.mark.parametrize("reply", ["", "   \n", "safety is important", "I cannot tell", "The answer is unsafe"])
def test_unparseable_replies_fail_closed(reply):
    parsed = parse_reply(reply)
    assert parsed.verdict == "unsafe" and parsed.flagged
    assert parsed.error


def test_prompt_lists_the_categories_and_assesses_the_last_turn():
    conversation = [{"role": "user", "content": "How do rivers form?"}, {"role": "assistant", "content": "Rain."}]
    prompt = guard_prompt(conversation)
    assert all(f"{code}: {name}." in prompt for code, name in LLAMA_GUARD_2_CATEGORIES.items())
    assert "User: How do rivers form?\n\nAgent: Rain." in prompt
    assert "ONLY THE LAST Agent message" in prompt
    assert "ONLY THE LAST User message" in guard_prompt("plain text is a user turn")
    custom = guard_prompt(conversation, {"X1": "Marker talk"})
    assert "X1: Marker talk." in custom and "S1:" not in custom


def test_llm_guard_over_a_scripted_generator(scripted_generator):
    generator = scripted_generator(["safe", "unsafe\nS6", "maybe?"])
    guard = LLMGuard(generator)
    verdicts = guard.moderate(["a text", [{"role": "user", "content": "q"}], "third"])
    assert [v.verdict for v in verdicts] == ["safe", "unsafe", "unsafe"]
    assert verdicts[1].categories == ("S6",) and verdicts[2].error and verdicts[0].score is None
    assert (
        generator.prompts[0][0]["role"] == "user"
        and "<BEGIN UNSAFE CONTENT CATEGORIES>" in generator.prompts[0][0]["content"]
    )
    chat = LLMGuard(scripted_generator(["safe"]), style="chat")
    chat.moderate([[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]])
    assert chat.generator.prompts[0][-1] == {"role": "assistant", "content": "a"}
    with pytest.raises(ValueError, match="prompt style"):
        LLMGuard(generator, style="other")


def test_hf_guard_score_is_the_first_token_probability_of_unsafe(tiny_chat_path):
    model, tokenizer = load_model(str(tiny_chat_path)), load_tokenizer(str(tiny_chat_path))
    guard = HFGuard(model, tokenizer, max_tokens=4)
    items = ["a short text", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]]
    verdicts = guard.moderate(items)
    for item, verdict in zip(items, verdicts, strict=True):
        ids = tokenizer(guard.render(item), return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            probabilities = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)
        assert verdict.score == pytest.approx(float(probabilities[guard.unsafe_id]), abs=1e-5)
        assert verdict == parse_reply(verdict.reply, verdict.score)  # the greedy reply decides, parsed as any other


def test_hf_guard_from_pretrained_takes_a_name(data_dir):
    from headwater.safety.guard import HFGuard

    assert HFGuard.from_pretrained("tiny-chat", data_dir, name="my-guard").name == "my-guard"
    assert HFGuard.from_pretrained("tiny-chat", data_dir).name == "tiny-chat"
