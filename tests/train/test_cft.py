"""CFT: templates and the critique-only loss mask, verdict parsing, data building against a scripted teacher."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

from headwater.models.builtin import builtin_path
from headwater.models.generator import Generation
from headwater.train.cft import cft_row, critique_prompt, final_answer, parse_verdict, same_answer, sft_row
from headwater.train.critique_data import build_critique_data, sample_responses


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        # the template's own forms
        ("Step 1 ok.\nConclusion: right [END]", "right"),
        ("Conclusion: wrong [END]", "wrong"),
        ("Critique Conclusion: Correct", "right"),
        ("Critique Conclusion: Incorrect", "wrong"),
        ("**Conclusion:** Right [END]", "right"),
        ("Conclusion: **wrong** [END]", "wrong"),
        ("conclusion - the solution is WRONG.", "wrong"),
        ("Conclusion: right... no wait. Conclusion: wrong [END]", "wrong"),
        ("The steps look wrong at first, but they hold.\nConclusion: right [END]", "right"),
        ("Conclusion: right [END] (a wrong reading would need a different sum)", "right"),
        # sentences, and negations of "right"/"correct"
        ("Conclusion: The solution is correct. [END]", "right"),
        ("Conclusion: The solution is not correct. [END]", "wrong"),
        ("Conclusion: not right [END]", "wrong"),
        ("Conclusion: The student's answer isn't right.", "wrong"),
        ("Conclusion: The answer isn’t correct [END]", "wrong"),
        ("Conclusion: The solution is NOT correct [END]", "wrong"),
        ("Conclusion: The solution is not entirely correct. [END]", "wrong"),
        ("Conclusion: the method doesn't give the right answer [END]", "wrong"),
        ("Conclusion: The solution is incorrect; the correct answer is 12. [END]", "wrong"),
        ("Conclusion: partially correct, but the final answer is wrong [END]", "wrong"),
        ("Conclusion: The solution is not wrong. [END]", "right"),
        ("Conclusion: The answer is not 5, it is correct as written [END]", "right"),
        # echoes of the instruction's template, and no verdict at all
        ("Conclusion: right/wrong [END]", None),
        ("Conclusion: right / wrong [END]", None),
        ("Conclusion: Correct or Incorrect", None),
        ("End with 'Conclusion: wrong/right [END]'.", None),
        ("The answer is correct.", None),
        ("Conclusion: unclear", None),
        ("Conclusion: [END] the answer is right", None),
        ("", None),
    ],
)
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_final_answers():
    assert final_answer("so x = 3, then \\boxed{42}.") == "42"
    assert final_answer("5 + 7 = 12") == "12"
    assert final_answer("no digits") is None
    assert same_answer("12.0", "12") and not same_answer("12", "13") and not same_answer(None, "1")


def test_critique_prompt_is_one_user_turn():
    [turn] = critique_prompt("What is 2+2?", "It is 5.")
    assert turn["role"] == "user"
    assert turn["content"].endswith("\nQuestion:\nWhat is 2+2?\n\nSolution:\nIt is 5.")


def _collated(rows, tokenizer):
    config = SFTConfig(
        output_dir="/tmp/unused",
        completion_only_loss=True,
        max_length=256,
        report_to="none",
        per_device_train_batch_size=len(rows),
        use_cpu=True,
    )
    trainer = SFTTrainer(
        model=str(builtin_path("tiny-chat", _collated.data_dir)),
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    return next(iter(trainer.get_train_dataloader()))


def test_only_critique_tokens_are_labelled_token_by_token(data_dir):
    _collated.data_dir = data_dir
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    critique = "The sum is 4, not 5. Conclusion: wrong [END]"
    batch = _collated([cft_row("What is 2+2?", "It is 5.", critique)], tokenizer)
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    prompt = tokenizer.apply_chat_template(
        critique_prompt("What is 2+2?", "It is 5."), add_generation_prompt=True, tokenize=False
    )
    prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert all(label == -100 for label in labels[:prompt_len])
    learned = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    assert learned == labels[prompt_len : prompt_len + len(learned)]
    assert tokenizer.decode(learned).startswith(critique)
    assert tokenizer.eos_token_id in learned, "the end-of-turn token closing the critique must be learned"
    sft = _collated([sft_row("What is 2+2?", "4")], tokenizer)
    assert tokenizer.decode(
        [i for i, label in zip(sft["input_ids"][0].tolist(), sft["labels"][0].tolist(), strict=True) if label != -100]
    ).startswith("4")


class FlakyTeacher:
    """Scripted teacher: malformed first answers, then verdicts; counts what it was asked."""

    name = "flaky"

    def __init__(self, malformed_first: int = 1, fail_after: int | None = None):
        self.calls, self.asked, self.malformed_first, self.fail_after = 0, [], malformed_first, fail_after

    def generate(self, prompts, params=None):
        from headwater.models.openai_generator import GenerationError

        self.calls += 1
        if self.fail_after is not None and len(self.asked) >= self.fail_after:
            raise GenerationError("teacher down")
        results = []
        for prompt in prompts:
            text = prompt[-1]["content"]
            self.asked.append(text)
            count = self.asked.count(text)
            if count <= self.malformed_first:
                results.append(Generation("I think it is fine", "stop", 1, 4))
            else:
                verdict = "wrong" if "5" in text.split("Solution:")[1] else "right"
                results.append(Generation(f"Checked. Conclusion: {verdict} [END]", "stop", 1, 4))
        return results


def _input(tmp_path, rows):
    path = tmp_path / "in.jsonl"
    path.write_text("".join((json.dumps(row) if not isinstance(row, str) else row) + "\n" for row in rows))
    return path


ROWS = [
    {"question": "2+2?", "response": "5", "reference": "4", "response_correct": False},
    {"question": "2+2?", "response": "4", "reference": "4", "response_correct": True},
    {"question": "3+3?", "response": "6", "reference": "6", "response_correct": True},
]


def test_build_retries_malformed_and_writes_every_field(tmp_path):
    teacher = FlakyTeacher(malformed_first=1)
    out = tmp_path / "out.jsonl"
    report = build_critique_data(_input(tmp_path, ROWS), out, teacher, batch_size=2)
    assert report.written == 3 and report.unparseable == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["wrong", "right", "right"]
    assert all(r["teacher"] == "flaky" and r["reference"] and "critique" in r for r in rows)


def test_unparseable_after_all_attempts_is_left_out_and_counted(tmp_path):
    report = build_critique_data(
        _input(tmp_path, ROWS), tmp_path / "o.jsonl", FlakyTeacher(malformed_first=5), attempts=2
    )
    assert report.written == 0 and report.unparseable == 3


def test_resume_after_a_crash_never_asks_twice(tmp_path):
    out = tmp_path / "o.jsonl"
    crashed = FlakyTeacher(malformed_first=0, fail_after=2)
    first = build_critique_data(_input(tmp_path, ROWS), out, crashed, batch_size=2)
    assert first.written == 2 and first.teacher_failures == 1
    with out.open("a") as handle:
        handle.write('{"question": "torn')  # a write cut short by the crash
    again = FlakyTeacher(malformed_first=0)
    second = build_critique_data(_input(tmp_path, ROWS), out, again, batch_size=2)
    assert second.already_done == 2 and second.written == 1
    assert len(again.asked) == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and len({(r["question"], r["response"]) for r in lines}) == 3


def test_duplicates_bad_lines_and_reference_check(tmp_path):
    rows = [
        *ROWS,
        ROWS[0],
        {"question": "x?"},
        "not json",
        {"question": "y?", "response": 3},
        {"question": "4+4?", "response": "9", "response_correct": False},
    ]
    out = tmp_path / "o.jsonl"
    report = build_critique_data(_input(tmp_path, rows), out, FlakyTeacher(malformed_first=0), check_reference=True)
    assert report.duplicates == 1
    assert [line for line, _ in report.rejected] == [5, 6, 7]
    assert "response" in report.rejected[0][1]
    assert report.dropped_by_reference == 1  # the teacher calls "9" right; the line says it is not
    rejects = [json.loads(line) for line in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [5, 6, 7]
    assert all(json.loads(line)["question"] != "x?" for line in out.read_text().splitlines())


class CountingAnswerer:
    name = "answers"

    def generate(self, prompts, params=None):
        return [Generation(f"The answer is {i % 3}", "stop", 1, 4) for i, _ in enumerate(prompts)]


def test_sampler_keeps_the_requested_mix():
    rows = sample_responses(
        [{"question": "q", "reference": "1"}, {"question": "free"}],
        CountingAnswerer(),
        samples=6,
        keep=4,
        correct_share=0.5,
    )
    graded = [r for r in rows if r["question"] == "q"]
    assert len(graded) == 4 and sum(r["response_correct"] for r in graded) == 2
    assert len([r for r in rows if r["question"] == "free"]) == 4


def test_resume_keeps_records_after_a_bad_line_and_fixes_a_missing_newline(tmp_path):
    out = tmp_path / "o.jsonl"
    good = [
        json.dumps({"question": q, "response": r, "critique": "c", "verdict": "right", "teacher": "t"})
        for q, r in (("2+2?", "5"), ("2+2?", "4"))
    ]
    out.write_text(good[0] + "\n\n" + "garbage\n" + good[1])  # blank and junk lines, no final newline
    teacher = FlakyTeacher(malformed_first=0)
    report = build_critique_data(_input(tmp_path, ROWS), out, teacher)
    assert report.already_done == 2 and report.written == 1 and len(teacher.asked) == 1
    lines = [line for line in out.read_text().splitlines() if line.startswith("{")]
    assert len(lines) == 3


class PhrasedTeacher:
    """Answers each item with a scripted critique (by response) and records the sampling it was asked for."""

    name = "phrased"

    def __init__(self, critiques: dict[str, list[str]]):
        self.critiques, self.params = critiques, []

    def generate(self, prompts, params=None):
        self.params.append(params)
        return [
            Generation(self.critiques[p[-1]["content"].split("Solution:\n")[1]].pop(0), "stop", 1, 4) for p in prompts
        ]


def test_negated_verdicts_survive_the_reference_check_and_template_echoes_are_retried(tmp_path):
    teacher = PhrasedTeacher(
        {
            "5": ["Conclusion: The solution is not correct. [END]"],
            "4": ["Conclusion: right/wrong [END]", "Conclusion: right [END]"],
            "6": ["Conclusion: not right [END]"],
        }
    )
    out = tmp_path / "o.jsonl"
    report = build_critique_data(_input(tmp_path, ROWS), out, teacher, check_reference=True, attempts=2)
    verdicts = {json.loads(line)["response"]: json.loads(line)["verdict"] for line in out.read_text().splitlines()}
    assert verdicts == {"5": "wrong", "4": "right"}  # the echo was asked again; "not right" of a right answer dropped
    assert report.dropped_by_reference == 1 and report.unparseable == 0


def test_teacher_gets_the_official_sampling_and_a_custom_budget(tmp_path):
    teacher = PhrasedTeacher({"5": ["Conclusion: wrong [END]"] * 2, "4": ["Conclusion: right [END]"] * 2})
    rows = _input(tmp_path, ROWS[:2])
    build_critique_data(rows, tmp_path / "a.jsonl", teacher)
    build_critique_data(rows, tmp_path / "b.jsonl", teacher, max_tokens=64)
    assert [(p.max_tokens, p.temperature, p.top_p) for p in teacher.params] == [(3200, 0.3, 0.95), (64, 0.3, 0.95)]
