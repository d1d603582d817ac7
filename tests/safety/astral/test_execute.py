from __future__ import annotations

import json

import pytest

from headwater.models.generator import Generation
from headwater.models.openai_generator import GenerationError
from headwater.safety.astral import Oracle, run_tests
from tests.safety.astral.conftest import FunctionGenerator, make_tests

SAFE = '{"verdict": "safe", "reason": "harmless"}'
UNSAFE = '{"verdict": "unsafe", "reason": "helps with harm"}'


class Crash(BaseException):
    """Stands for the process dying mid-run: not an Exception, so nothing may swallow it."""


def _target(text: str) -> str | Generation:
    number = int(text.rsplit(" ", 1)[-1])
    if number == 1:
        raise GenerationError("HTTP 400: content_policy_violation: the prompt was flagged")
    if number == 2:
        return Generation("", "content_filter", 1, 0)
    if number == 3:
        raise TimeoutError("read timed out after 30 s")
    if number == 4:
        return "placeholder harmful-looking output"
    if number == 5:
        return "answer with no clear verdict"
    return f"output {number}"


def _oracle(text: str) -> str:
    if "harmful-looking" in text:
        return UNSAFE
    if "no clear verdict" in text:
        return "hmm"
    return SAFE


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_outcomes_blocked_error_and_oracle_labels(tmp_path):
    target, oracle_model = FunctionGenerator(_target, "target"), FunctionGenerator(_oracle, "oracle")
    out = tmp_path / "results.jsonl"
    report = run_tests(make_tests(8), out, target, Oracle(oracle_model, retries=1), concurrency=4)
    rows = {row["id"]: row for row in _lines(out)}
    outcomes = {key: row["outcome"] for key, row in rows.items()}
    assert outcomes == {
        "t000": "safe",
        "t001": "blocked",
        "t002": "blocked",
        "t003": "error",
        "t004": "unsafe",
        "t005": "unknown",
        "t006": "safe",
        "t007": "safe",
    }
    assert dict(report.by_outcome) == {"safe": 3, "blocked": 2, "error": 1, "unsafe": 1, "unknown": 1}
    assert "content_policy_violation" in rows["t001"]["reason"] and "content_filter" in rows["t002"]["reason"]
    assert rows["t003"]["reason"] == "TimeoutError: read timed out after 30 s" and rows["t003"]["output"] is None
    assert rows["t005"]["oracle_raw"] == "hmm" and rows["t005"]["oracle_attempts"] == 2
    assert rows["t004"]["reason"] == "helps with harm" and rows["t004"]["target"] == "target"
    # blocked and failed outputs never reach the oracle: 5 judged outputs, one re-asked once
    assert oracle_model.total_calls == 6
    assert all(row["prompt"] == f"placeholder test {int(key[1:])}" for key, row in rows.items())


def test_a_failing_item_does_not_sink_its_batch(tmp_path):
    target = FunctionGenerator(_target)
    run_tests(make_tests(4), tmp_path / "r.jsonl", target, Oracle(FunctionGenerator(_oracle)), concurrency=4)
    assert target.batches[0] == 4 and target.batches[1:] == [1, 1, 1, 1]
    assert target.calls["placeholder test 0"] == 2  # the whole batch, then alone


def test_crash_then_resume_loses_nothing_and_reruns_nothing(tmp_path):
    tests = make_tests(10)
    out = tmp_path / "results.jsonl"
    calls = {"n": 0}

    def crashing(text: str) -> str:
        calls["n"] += 1
        if calls["n"] == 5:
            raise Crash
        return f"output for {text}"

    first = FunctionGenerator(crashing)
    oracle_model = FunctionGenerator(lambda _t: SAFE)
    with pytest.raises(Crash):
        run_tests(tests, out, first, Oracle(oracle_model), concurrency=2)
    written = [row["id"] for row in _lines(out)]
    assert written == ["t000", "t001", "t002", "t003"]

    second = FunctionGenerator(lambda text: f"output for {text}")
    report = run_tests(tests, out, second, Oracle(oracle_model), concurrency=2)
    assert report.already_done == 4 and report.ran == 6
    assert second.total_calls == 6 and not any(f"test {i}" in p for p in second.calls for i in range(4))
    rows = _lines(out)
    assert [row["id"] for row in rows] == [f"t{i:03d}" for i in range(10)]
    assert oracle_model.total_calls == 10  # each output judged exactly once over both runs


def test_torn_last_line_is_cut_and_its_test_rerun(tmp_path):
    out = tmp_path / "results.jsonl"
    tests = make_tests(3)
    run_tests(tests[:2], out, FunctionGenerator(lambda t: "ok"), Oracle(FunctionGenerator(lambda _t: SAFE)))
    data = out.read_bytes()
    out.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 1] + b'{"id": "t001", "outp')
    target = FunctionGenerator(lambda t: "ok")
    report = run_tests(tests, out, target, Oracle(FunctionGenerator(lambda _t: SAFE)))
    assert report.already_done == 1 and sorted(target.calls) == ["placeholder test 1", "placeholder test 2"]
    assert [row["id"] for row in _lines(out)] == ["t000", "t001", "t002"]


def test_concurrency_sets_the_batch_size(tmp_path):
    target = FunctionGenerator(lambda t: "ok")
    run_tests(make_tests(10), tmp_path / "r.jsonl", target, Oracle(FunctionGenerator(lambda _t: SAFE)), concurrency=4)
    assert target.batches == [4, 4, 2]
    with pytest.raises(ValueError, match="concurrency"):
        run_tests(make_tests(1), tmp_path / "r2.jsonl", target, Oracle(target), concurrency=0)


def test_retry_errors_reruns_only_the_failed_tests_and_keeps_one_line_per_id(tmp_path):
    out = tmp_path / "results.jsonl"
    tests = make_tests(4)
    oracle = Oracle(FunctionGenerator(lambda _t: SAFE))

    def flaky(text: str) -> str:
        if text.endswith(" 2"):
            raise ConnectionError("server restarting")
        return "ok"

    run_tests(tests, out, FunctionGenerator(flaky), oracle)
    assert [row["outcome"] for row in _lines(out)] == ["safe", "safe", "error", "safe"]
    plain = FunctionGenerator(lambda _t: "ok")
    assert run_tests(tests, out, plain, oracle).ran == 0  # a plain resume keeps the error
    report = run_tests(tests, out, plain, oracle, retry_errors=True)
    assert report.ran == 1 and list(plain.calls) == ["placeholder test 2"]
    rows = _lines(out)
    assert sorted(row["id"] for row in rows) == ["t000", "t001", "t002", "t003"]
    assert {row["outcome"] for row in rows} == {"safe"}
