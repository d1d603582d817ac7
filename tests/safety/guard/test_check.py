"""`check_file`: examples moderated as trained, thresholds, fail closed, and bad lines named."""

from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.guard import LLMGuard, Verdict, check_file, thresholded


def _write(path, rows):
    path.write_text("\n".join(json.dumps(row) if not isinstance(row, str) else row for row in rows) + "\n")
    return path


def test_both_line_shapes_are_moderated_as_conversations(tmp_path, scripted_generator):
    path = _write(
        tmp_path / "train.jsonl",
        [
            {"prompt": "Name a river.", "completion": "The Nile."},
            "",
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                ]
            },
            {"prompt": "q", "completion": "a"},
        ],
    )
    generator = scripted_generator(["safe", "unsafe\nS2", "not a verdict"])
    report = check_file(path, LLMGuard(generator))
    assert (report.total, report.flagged, report.flagged_fraction) == (3, 2, pytest.approx(2 / 3))
    assert [item.line for item in report.items] == [1, 3, 4]
    assert [item.verdict for item in report.items] == ["safe", "unsafe", "unsafe"]
    assert report.items[1].categories == ["S2"] and report.items[2].error
    assert "User: Name a river.\n\nAgent: The Nile." in generator.prompts[0][0]["content"]
    assert "System: Be brief." in generator.prompts[1][0]["content"]
    assert set(report.to_dict()) == {"total", "flagged", "flagged_fraction", "items"}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": "q"}, "line 1.messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "line 1.messages[0].role"),
        ({"messages": [{"role": "user"}]}, "line 1.messages[0].content"),
        ([1, 2], "line 1"),
    ],
)
def test_bad_lines_name_the_line_and_field(tmp_path, scripted_generator, row, field):
    with pytest.raises(InvalidRequestError) as caught:
        check_file(_write(tmp_path / "bad.jsonl", [row]), LLMGuard(scripted_generator([])))
    assert caught.value.param == field and "line 1" in caught.value.message


def test_threshold_decides_by_score_but_never_passes_an_unparsed_reply():
    assert thresholded(Verdict("safe", (), 0.8), 0.5).verdict == "unsafe"
    assert thresholded(Verdict("unsafe", ("S1",), 0.2), 0.5) == Verdict("safe", (), 0.2)
    failed = Verdict("unsafe", (), 0.01, "empty reply")
    assert thresholded(failed, 0.5) is failed
    assert thresholded(Verdict("safe"), 0.5).verdict == "safe"  # no score: the reply decides


def test_threshold_out_of_range_is_refused(tmp_path, scripted_generator):
    path = _write(tmp_path / "t.jsonl", [{"prompt": "q", "completion": "a"}])
    with pytest.raises(InvalidRequestError, match="threshold"):
        check_file(path, LLMGuard(scripted_generator(["safe"])), threshold=1.5)


def test_guards_take_texts_chats_and_fine_tuning_rows_alike():
    from headwater.safety.guard import as_conversation

    row = {"prompt": "Name a river.", "completion": "The Nile."}
    chat = [{"role": "user", "content": "Name a river."}, {"role": "assistant", "content": "The Nile."}]
    assert as_conversation(row) == chat == as_conversation({"messages": chat})
    assert as_conversation("hello") == [{"role": "user", "content": "hello"}]
    with pytest.raises(InvalidRequestError, match="prompt"):
        as_conversation({"completion": "only"})


def test_messages_that_is_a_string_is_refused_not_read_as_text(tmp_path):
    path = _write(tmp_path / "ft.jsonl", [{"messages": "Hello there"}])
    with pytest.raises(InvalidRequestError, match="line 1: `messages` must be a non-empty list") as caught:
        check_file(path, LLMGuard(_never()))
    assert caught.value.param == "line 1.messages"


def test_a_wrong_role_is_named_with_the_value_found(tmp_path):
    path = _write(tmp_path / "ft.jsonl", [{"messages": [{"role": "human", "content": "hi"}]}])
    with pytest.raises(
        InvalidRequestError, match="messages\\[0\\] needs a role among system, user, assistant, got 'human'"
    ):
        check_file(path, LLMGuard(_never()))


def _never():
    class Never:
        name = "never"

        def generate(self, prompts, params=None):
            raise AssertionError("a bad file must be refused before the guard runs")

    return Never()
