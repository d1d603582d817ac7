"""The attack job's checks that need no server: which guard is attacked (a classifier guard has no gradients
Virus could follow), and how the uploaded pairs split into training and held-out lines."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.platform.jobs.attack_tasks import held_out_split
from headwater.platform.jobs.attacks import AttackService, _pair_lines


def _service(guard: str | None, served: dict[str, str]) -> AttackService:
    entries = {name: SimpleNamespace(model=source) for name, source in served.items()}
    gateway = SimpleNamespace(
        settings=SimpleNamespace(moderation_guard=guard), control=SimpleNamespace(entries=entries)
    )
    service = AttackService.__new__(AttackService)
    service.gateway = gateway  # type: ignore[assignment]
    return service


def test_the_guard_attacked_is_the_configured_one_or_a_served_model(tmp_path):
    assert _service("org/guard-model", {})._guard(None) == ("org/guard-model", "org/guard-model")
    assert _service("org/guard-model", {"g": "/models/g"})._guard("g") == ("g", "/models/g")
    with pytest.raises(NotFoundError, match="served model \\(g\\)") as missing:
        _service("org/guard-model", {"g": "/models/g"})._guard("other")
    assert missing.value.param == "guard"
    with pytest.raises(InvalidRequestError, match="HEADWATER_MODERATION_GUARD"):
        _service(None, {})._guard(None)


def test_a_classifier_guard_is_refused_naming_the_field(tmp_path):
    (tmp_path / "classifier.json").write_text("{}")
    with pytest.raises(InvalidRequestError, match="gradients") as refused:
        _service(str(tmp_path), {})._guard(None)
    assert refused.value.param == "guard"


@pytest.mark.parametrize(("count", "train"), [(2, 1), (3, 2), (6, 4), (10, 7)])
def test_a_third_of_the_pairs_at_least_one_are_held_out(count, train):
    assert held_out_split(count) == train


def test_pair_lines_are_counted_and_a_bad_one_is_named():
    line = b'{"instruction": "a", "response": "b", "harmful": "c", "harmful_instruction": "d"}\n'
    assert _pair_lines(line * 3, needs_instruction=True) == 3
    with pytest.raises(InvalidRequestError, match="line 2: `harmful_instruction`"):
        _pair_lines(line + b'{"instruction": "a", "response": "b", "harmful": "c"}\n', needs_instruction=True)
    assert _pair_lines(line + b'{"instruction": "a", "response": "b", "harmful": "c"}\n', needs_instruction=False) == 2
    with pytest.raises(InvalidRequestError, match="line 1: not JSON"):
        _pair_lines(b"nope\n" + line, needs_instruction=False)
