"""The TE group and the serving path with fake executors: least-loaded choice, the activator (waits, then 503 with
Retry-After), and one retry when a TE is lost before the first token (never after)."""

from __future__ import annotations

import asyncio

import pytest

from headwater.engine.protocol import EngineOutput, SamplingParams
from headwater.errors import EngineUnavailableError
from headwater.models.loading import load_tokenizer
from headwater.platform.cache_view import CacheView
from headwater.platform.serving import GenerationPlan, ServedModel
from headwater.platform.te_group import TEGroup


class FakeExecutor:
    """Answers with scripted outputs, or is lost after `lose_after` of them."""

    def __init__(self, name: str, outputs: list[EngineOutput], lose_after: int | None = None) -> None:
        self.name, self.outputs, self.lose_after = name, outputs, lose_after
        self.state, self.in_flight, self.calls = "ready", 0, 0
        self.cache_view = CacheView()

    async def generate(self, request):
        self.calls += 1
        for count, output in enumerate(self.outputs):
            if self.lose_after is not None and count == self.lose_after:
                raise EngineUnavailableError(f"task executor {self.name} exited")
            yield EngineOutput(request.request_id, output.token_ids, output.logprobs, output.finish_reason)


def _done(tokens: list[int]) -> list[EngineOutput]:
    return [EngineOutput("", [token], [-1.0]) for token in tokens[:-1]] + [
        EngineOutput("", [tokens[-1]], [-1.0], "length")
    ]


def _served(group: TEGroup, tiny_chat_path) -> ServedModel:
    return ServedModel("m", load_tokenizer(str(tiny_chat_path)), 512, group)


def _plan() -> GenerationPlan:
    return GenerationPlan("r", [[5, 6, 7]], [3], 1, SamplingParams(max_tokens=3), [], False)


async def _text(served: ServedModel) -> str:
    return "".join([delta.text async for delta in served.stream(_plan())])


def test_a_te_lost_before_the_first_token_is_retried_on_another(tiny_chat_path):
    group = TEGroup("m")
    lost = FakeExecutor("te-a", _done([40, 41, 42]), lose_after=0)
    healthy = FakeExecutor("te-b", _done([40, 41, 42]))
    lost.in_flight = 0
    healthy.in_flight = 5  # the lost one is picked first (least loaded)
    group.executors.extend([lost, healthy])
    text = asyncio.run(_text(_served(group, tiny_chat_path)))
    assert text and lost.calls == 1 and healthy.calls == 1


def test_after_the_first_token_the_loss_is_a_503(tiny_chat_path):
    group = TEGroup("m")
    lost = FakeExecutor("te-a", _done([40, 41, 42]), lose_after=1)
    other = FakeExecutor("te-b", _done([40, 41, 42]))
    other.in_flight = 5
    group.executors.extend([lost, other])
    with pytest.raises(EngineUnavailableError):
        asyncio.run(_text(_served(group, tiny_chat_path)))
    assert other.calls == 0


def test_the_activator_waits_for_a_te_then_gives_up_with_retry_after():
    async def scenario() -> tuple[str, EngineUnavailableError]:
        group = TEGroup("m", activator_timeout_s=0.5)
        woken = []
        group.on_demand = lambda: woken.append(True)
        late = FakeExecutor("te-late", [])
        late.state = "binding"
        group.executors.append(late)

        async def bind_soon() -> None:
            await asyncio.sleep(0.2)
            late.state = "ready"
            group.changed()

        asyncio.create_task(bind_soon())
        chosen = await group.executor()
        late.state = "draining"
        with pytest.raises(EngineUnavailableError) as refused:
            await group.executor()
        assert woken
        return chosen.name, refused.value

    name, error = asyncio.run(scenario())
    assert name == "te-late" and error.retry_after_s is not None and error.status_code == 503
