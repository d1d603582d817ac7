"""Critique fine-tuning (Wang, Yue, Chen, TIGER-AI-Lab, arXiv 2501.17703): learn log P(critique | question,
noisy response), loss on the critique only; and the SFT baseline on (question, answer).

Templates follow the paper's Alpaca-style data as one ChatML user turn (instruction, newline, input) and one
assistant turn; the teacher's critique ends with `Conclusion: right/wrong [END]` and `parse_verdict` reads it.
"""

from __future__ import annotations

import re
from typing import Literal

Verdict = Literal["right", "wrong"]

CRITIQUE_INSTRUCTION = "Please critique whether the following solution to the question is correct."
TEACHER_SYSTEM = (
    "You are a science expert. A student was given a question and wrote a solution. Check the solution step by "
    "step, say briefly whether it is correct, and end with exactly `Conclusion: right [END]` or "
    "`Conclusion: wrong [END]`."
)
_CONCLUSION = re.compile(r"\bconclusions?\b", re.IGNORECASE)
_END = re.compile(r"\[\s*end\s*\]", re.IGNORECASE)
_POSITIVE, _NEGATIVE = {"right", "correct"}, {"wrong", "incorrect"}
_ALTERNATIVES = r"\s*(?:/|\||\bor\b)\s*"
_ECHO = re.compile(
    rf"\b(?:right|correct){_ALTERNATIVES}(?:wrong|incorrect)\b|\b(?:wrong|incorrect){_ALTERNATIVES}(?:right|correct)\b"
)
_CLAUSE = re.compile(r"[.,;:!?()\n]+")
_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")
_NEGATION_WINDOW = 3
"""A verdict word is negated by "not", "never", "cannot" or an n't-word at most this many words before it, in its
clause ("not correct", "isn't quite right", "not entirely correct")."""


def critique_input(question: str, response: str) -> str:
    """The paper's input field."""
    return f"Question:\n{question}\n\nSolution:\n{response}"


def critique_prompt(question: str, response: str) -> list[dict[str, str]]:
    """The student's training prompt: one user turn, instruction then input."""
    return [{"role": "user", "content": f"{CRITIQUE_INSTRUCTION}\n{critique_input(question, response)}"}]


def teacher_prompt(question: str, response: str) -> list[dict[str, str]]:
    """What the teacher Generator is asked."""
    return [
        {"role": "system", "content": TEACHER_SYSTEM},
        {"role": "user", "content": critique_input(question, response)},
    ]


def parse_verdict(critique: str) -> Verdict | None:
    """The verdict after the last "Conclusion" (also "Critique Conclusion: Correct/Incorrect"), read up to `[END]`.

    The paper's teacher ends with `Conclusion: right/wrong [END]`; real critiques also say "The solution is not
    correct." or "isn't right", so each verdict word is read with its negation: a negated "right"/"correct" is
    wrong, a negated "wrong"/"incorrect" is right. Any wrong reading wins (negative words first, as the paper's
    parser checks wrong/incorrect before right/correct): "incorrect; the correct answer is 12" is wrong. An echo of
    the instruction's template ("right/wrong", "correct or incorrect") is no verdict, nor is a conclusion without a
    verdict word: both give None, so the builder asks again.
    """
    matches = list(_CONCLUSION.finditer(critique))
    if not matches:
        return None
    tail = _END.split(critique[matches[-1].end() :], maxsplit=1)[0][:300].lower()
    if _ECHO.search(tail):
        return None
    readings = [reading for clause in _CLAUSE.split(tail) for reading in _clause_readings(_WORD.findall(clause))]
    if "wrong" in readings:
        return "wrong"
    return "right" if readings else None


def _negates(word: str) -> bool:
    return word in ("not", "never", "cannot") or word.endswith(("n't", "n’t"))


def _clause_readings(words: list[str]) -> list[Verdict]:
    """The verdict each verdict word of one clause states, its negation taken into account."""
    readings: list[Verdict] = []
    for index, word in enumerate(words):
        if word not in _POSITIVE | _NEGATIVE:
            continue
        negated = any(_negates(w) for w in words[max(0, index - _NEGATION_WINDOW) : index])
        readings.append("right" if (word in _POSITIVE) != negated else "wrong")
    return readings


def cft_row(question: str, response: str, critique: str) -> dict[str, list[dict[str, str]]]:
    """A TRL conversational prompt/completion row: the completion (critique + end of turn) is all that is learned."""
    return {"prompt": critique_prompt(question, response), "completion": [{"role": "assistant", "content": critique}]}


def sft_row(question: str, answer: str) -> dict[str, list[dict[str, str]]]:
    """The SFT baseline's row: same format, the target is the answer instead of a critique."""
    return {"prompt": [{"role": "user", "content": question}], "completion": [{"role": "assistant", "content": answer}]}


_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def final_answer(text: str) -> str | None:
    """The final answer of a solution: the last \\boxed{…}, else the last number."""
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def same_answer(a: str | None, b: str | None) -> bool:
    """Answers equal as numbers when both parse, else as trimmed strings."""
    if a is None or b is None:
        return False
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a.strip() == b.strip()
