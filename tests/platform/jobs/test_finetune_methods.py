"""The fine-tuning methods' pieces without a server: `dpo`'s preference lines and its train task (LoRA merged into a
model that loads without PEFT), the `lora` and `dpo` hyperparameters, the held-out slice and the evaluate stage's
before-vs-after scoring with a scripted judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge.judge import Judge
from headwater.platform.jobs.finetune import _method
from headwater.platform.jobs.finetune_dpo import check_preference_file, preference_row, train_dpo
from headwater.platform.jobs.finetune_eval import EvalItem, eval_item, evaluate, held_out, kept, summary
from headwater.platform.jobs.worker_process import TaskContext


def pair(a: int, **changes: object) -> dict:
    line = {
        "input": {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}], "tools": []},
        "preferred_output": [{"role": "assistant", "content": str(2 * a)}],
        "non_preferred_output": [{"role": "assistant", "content": str(2 * a + 1)}],
    }
    return line | changes


def jsonl(*lines: dict) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"preferred_output": None}, "line 2: preferred_output must be a non-empty list"),
        ({"non_preferred_output": [{"role": "user", "content": "4"}]}, "line 2: non_preferred_output must hold assis"),
        ({"input": {"messages": []}}, "line 2: input.messages must be a non-empty list"),
        ({"input": {"messages": [{"role": "user", "content": 3}]}}, "line 2: input.messages[0].content must be a str"),
        ({"input": {"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "function"}]}}, "input.tools"),
        ({"non_preferred_output": [{"role": "assistant", "content": "2"}]}, "the same as preferred_output"),
    ],
)
def test_a_bad_preference_line_is_refused_naming_the_file_and_line(bad, message):
    with pytest.raises(InvalidRequestError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        check_preference_file(jsonl(pair(0), pair(1, **bad)), "validation_file")
    assert caught.value.param == "validation_file"


def test_a_chat_line_is_no_preference_pair():
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    with pytest.raises(InvalidRequestError, match="line 1: method dpo needs input, preferred_output, non_pref"):
        check_preference_file(jsonl(chat), "training_file")


def test_a_preference_line_becomes_a_conversational_dpo_row():
    row = preference_row(pair(2, preferred_output=[{"role": "assistant", "content": "4", "weight": 1}]))
    assert row == {
        "prompt": [{"role": "user", "content": "What is 2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }


def test_dpo_and_lora_hyperparameters_resolve_with_openai_defaults():
    dpo = _method({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.3, "lora": {"r": 4}}}}})
    assert dpo["dpo"]["hyperparameters"] == {
        "n_epochs": 3,
        "batch_size": 8,
        "learning_rate_multiplier": 1.0,
        "beta": 0.3,
        "sft_weight": 1.0,
        "lora": {"r": 4, "alpha": 8},
    }
    supervised = _method({"method": {"type": "supervised", "supervised": {"hyperparameters": {"lora": True}}}})
    assert supervised["supervised"]["hyperparameters"]["lora"] == {"r": 16, "alpha": 32}
    assert _method({})["supervised"]["hyperparameters"]["lora"] is False
    zero = {"type": "dpo", "dpo": {"hyperparameters": {"sft_weight": 0, "beta": "auto"}}}
    resolved = _method({"method": zero})["dpo"]["hyperparameters"]
    assert (resolved["sft_weight"], resolved["beta"]) == (0.0, 0.1)


@pytest.mark.parametrize(
    ("method", "param"),
    [
        ({"type": "dpo", "dpo": {"hyperparameters": {"beta": 0}}}, "method.dpo.hyperparameters.beta"),
        ({"type": "dpo", "dpo": {"hyperparameters": {"sft_weight": -1}}}, "method.dpo.hyperparameters.sft_weight"),
        ({"type": "dpo", "dpo": {"reference_model": "x"}}, "method.dpo.reference_model"),
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"beta": 1}}},
            "method.supervised.hyperparameters.beta",
        ),
        (
            {"type": "supervised", "supervised": {"hyperparameters": {"lora": "yes"}}},
            "method.supervised.hyperparameters.lora",
        ),
        ({"type": "cft", "cft": {"hyperparameters": {"lora": {"r": 0}}}}, "method.cft.hyperparameters.lora.r"),
        (
            {"type": "dpo", "dpo": {"hyperparameters": {"lora": {"alpha": 0.5}}}},
            "method.dpo.hyperparameters.lora.alpha",
        ),
        ({"type": "dpo", "dpo": {"hyperparameters": {"lora": {"rank": 8}}}}, "method.dpo.hyperparameters.lora.rank"),
        (
            {"type": "distill", "distill": {"teacher": "t", "hyperparameters": {"lora": True}}},
            "method.distill.hyperparameters.lora",
        ),
        ({"type": "ppo"}, "method.type"),
    ],
)
def test_a_bad_method_setting_is_a_400_naming_it(method, param):
    with pytest.raises(InvalidRequestError) as caught:
        _method({"method": method})
    assert caught.value.param == param


def test_the_held_out_slice_is_seeded_and_training_skips_it():
    assert held_out(1, 50, 0) == [] and len(held_out(20, 50, 0)) == 2 and len(held_out(2000, 50, 0)) == 50
    slice_ = held_out(30, 50, 7)
    assert slice_ == held_out(30, 50, 7) and slice_ != held_out(30, 50, 8)
    trained = kept(list(range(30)), {"held_out": slice_})
    assert len(trained) == 27 and not set(trained) & set(slice_)
    assert kept([1, 2], {}) == [1, 2]


def test_each_method_s_example_gives_a_prompt_and_its_reference():
    assert eval_item(pair(3), "dpo") == EvalItem([{"role": "user", "content": "What is 3+3?"}], "6")
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    assert eval_item(chat, "supervised") == EvalItem([{"role": "user", "content": "hi"}], "hello")
    critique = eval_item({"question": "2+2?", "response": "5", "critique": "No. Conclusion: wrong [END]"}, "cft")
    assert critique.reference == "No. Conclusion: wrong [END]" and "2+2?" in critique.prompt[0]["content"]


def test_the_judge_scores_both_models_before_vs_after(scripted_generator):
    items = [EvalItem([{"role": "user", "content": f"q{i}"}], f"a{i}") for i in range(2)]
    before = scripted_generator(["wrong", ""])
    after = scripted_generator(["a0", "a1"])
    ok = "**Reasoning:** {}\n\n**Result:** {}"
    verdicts = [ok.format("off", 1), "no verdict", ok.format("right", 5), ok.format("close", 4), "mumble"]
    judge = scripted_generator(verdicts)
    results = evaluate(Judge(judge, retries=1), {"before": before, "after": after}, items)
    assert [s.answer for s in results["before"]] == ["wrong", "(no answer)"]
    assert summary("base", results["before"]).mean_score == 1.0
    assert summary("base", results["before"]).unparsed == 1  # "no verdict" then "mumble" on the retry
    after_score = summary("ft", results["after"])
    assert (after_score.mean_score, after_score.scored) == (4.5, 2)
    assert "a0" in judge.prompts[0][0]["content"] and "Reference answer:\na0" in judge.prompts[2][0]["content"]


class Sent:
    """The worker's pipe, kept in memory."""

    def __init__(self) -> None:
        self.messages: list[tuple] = []

    def send(self, message: tuple) -> None:
        self.messages.append(message)


def test_the_dpo_task_trains_lora_and_registers_a_merged_model(tmp_path, data_dir):
    from transformers import AutoModelForCausalLM

    training = tmp_path / "pairs.jsonl"
    training.write_bytes(jsonl(*(pair(a) for a in range(6))))
    hyper = {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 10, "beta": 0.1, "sft_weight": 1.0}
    payload = {
        "model": "tiny-chat",
        "training_file": str(training),
        "data_dir": str(data_dir),
        "hyperparameters": hyper | {"lora": {"r": 4, "alpha": 8}},
        "held_out": [5],
    }
    sent = Sent()
    result = train_dpo(payload, TaskContext(sent, tmp_path / "work", 1))  # type: ignore[arg-type]
    model = Path(result["model_path"])
    assert result["examples"] == 5 and not (model / "adapter_config.json").exists()
    AutoModelForCausalLM.from_pretrained(model)  # a plain model: what the serving engine loads
    events = [m[1] for m in sent.messages if m[0] == "event"]
    assert events[0] == "DPO (beta 0.1, SFT weight 1.0) on 5 preference pairs"
    steps = [m[2] for m in sent.messages if m[0] == "event" and "train_loss" in m[2]]
    assert [s["step"] for s in steps] == [1, 2, 3] and all("reward_margin" in s for s in steps)
    assert [m[0] for m in sent.messages][-1] == "checkpoint"


def _stage_run(tmp_path, judge: str | None, params: dict) -> tuple[dict, list[str]]:
    """The evaluate stage of a trained job on a gateway that serves no model at all."""
    import asyncio
    from types import SimpleNamespace

    from headwater.errors import NotFoundError
    from headwater.platform.files import FileStore, LocalFileStorage
    from headwater.platform.jobs.finetune_evaluate import EvaluateStage
    from headwater.platform.jobs.records import JobStore
    from headwater.platform.store import Store

    def no_model(name: str, tenant: str | None = None) -> None:
        raise NotFoundError(f"model {name!r} does not exist", param="model")

    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    jobs, files = JobStore(store), FileStore(store, LocalFileStorage(tmp_path / "files"), 10**6)
    training = files.create("acme", "t.jsonl", "fine-tune", jsonl(pair(1), pair(2), pair(3))).id
    method = {"type": "dpo", "dpo": {}}
    job = jobs.create("acme", "finetune", "tiny-chat", {"training_file": training, "method": method, **params}, [])
    jobs.update(job.id, result={"fine_tuned_model": "ft:tiny-chat::abc"})
    gateway = SimpleNamespace(settings=SimpleNamespace(eval_judge=judge, eval_max_items=50), model=no_model)
    asyncio.run(EvaluateStage(gateway, jobs, files, jobs.get(job.id)).run())  # type: ignore[arg-type]
    done = jobs.get(job.id)
    messages = [e.message for e in jobs.events(job.id)]
    store.engine.dispose()
    return done.result, messages


def test_the_evaluate_stage_says_why_it_did_not_judge(tmp_path):
    result, messages = _stage_run(tmp_path / "a", None, {"held_out": [0]})
    assert result["evaluation"] == "skipped: no judge configured (HEADWATER_EVAL_JUDGE)"
    assert messages[-1] == "evaluation skipped: no judge configured (HEADWATER_EVAL_JUDGE)"
    result, _ = _stage_run(tmp_path / "b", "judge-x", {"held_out": []})
    assert result["evaluation"].startswith("skipped: no validation_file, and no example held out")
    result, messages = _stage_run(tmp_path / "c", "judge-x", {"held_out": [0, 2]})
    assert result["evaluation"] == "failed: model 'tiny-chat' does not exist"  # the trained model is kept
    assert messages[-1] == "evaluation failed: model 'tiny-chat' does not exist"
