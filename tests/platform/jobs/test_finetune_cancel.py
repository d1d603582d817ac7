"""A cancel requested during a fine-tuning job's evaluate stage stops the judging at once (its generations are
cancelled, not run to their end), takes the model registered for it out of the catalogue again, and ends the job
`cancelled`; a `ServedGenerator` cancelled from another thread stops its call in progress and every later one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from headwater.config import Settings
from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.finetune import FineTuneService
from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner, StageCancelled
from headwater.platform.served_generator import GenerationCancelled, ServedGenerator
from headwater.platform.store import Store

TASKS = "tests.platform.jobs.tasks"
BOUND_S = 60.0
"""A bound, not a measure: without the cancel, the hanging fakes below would never end."""


class HangingModel:
    """A served model whose every prompt hangs (a judge that takes for ever); counts the prompts cancelled."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0

    async def encode_chat(self, messages: list[dict]) -> list[int]:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return []

    encode_text = encode_chat


class FakeControl:
    """The catalogue's control plane, recording what is added and removed."""

    def __init__(self, models: dict[str, object]) -> None:
        self.models = models
        self.entries: dict[str, object] = {}
        self.removed: list[str] = []

    async def add(self, entry) -> None:
        self.entries[entry.name] = self.models[entry.name] = entry

    async def remove(self, name: str) -> None:
        self.removed.append(name)
        self.entries.pop(name)
        self.models.pop(name)


def fake_gateway(tmp_path: Path) -> SimpleNamespace:
    model = HangingModel()
    models: dict[str, object] = {}
    settings = Settings(data_dir=tmp_path, eval_judge="judge", eval_max_items=4)
    return SimpleNamespace(
        settings=settings, models=models, control=FakeControl(models), model=lambda name, tenant: model, hanging=model
    )


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield store
    store.engine.dispose()


def test_a_cancel_during_evaluation_stops_it_and_unregisters_the_model(store, tmp_path):
    jobs = JobStore(store)
    files = FileStore(store, LocalFileStorage(tmp_path / "files"), max_bytes=1 << 20)
    lines = [{"prompt": f"What is {a}+{a}?", "response": str(2 * a)} for a in range(3)]
    validation = files.create("acme", "valid.jsonl", "fine-tune", "\n".join(map(json.dumps, lines)).encode())
    params = {"method": {"type": "supervised"}, "validation_file": validation.id, "seed": 0, "suffix": "s"}
    job = jobs.create("acme", "finetune", "tiny", params, [TaskSpec("train", "x:y", {})], prefix="ftjob-")
    [task] = jobs.tasks(job.id)
    jobs.update_task(task.id, "succeeded", result={"model_path": str(tmp_path / "final"), "train_loss": 1.5})
    jobs.transition(job.id, "running")
    gateway = fake_gateway(tmp_path)
    service = FineTuneService(gateway, jobs, files, runner=None)

    async def scenario() -> None:
        finish = asyncio.ensure_future(service._finish(jobs.get(job.id)))
        while gateway.hanging.started < len(lines):  # every "before" answer is being generated
            assert not finish.done(), finish
            await asyncio.sleep(0.05)
        await asyncio.to_thread(jobs.request_cancel, job.id, "acme", "finetune")
        with pytest.raises(StageCancelled, match="the fine-tuned model is not served"):
            await asyncio.wait_for(finish, BOUND_S)

    asyncio.run(scenario())
    name = f"ft:tiny:s:{job.id.removeprefix('ftjob-')[:8]}"
    assert gateway.control.removed == [name] and name not in gateway.models
    assert gateway.hanging.cancelled == gateway.hanging.started == len(lines)  # stopped, not run to the end
    result = jobs.get(job.id).result
    assert result["fine_tuned_model"] is None and result["evaluation"] == "cancelled" and result["train_loss"] == 1.5
    messages = [e.message for e in jobs.events(job.id)]
    assert "evaluation cancelled: the job's cancel was requested" in messages
    assert f"unregistered {name}: the job was cancelled" in messages


def test_a_cancelled_served_generator_stops_its_call_and_every_later_one(tmp_path):
    gateway = fake_gateway(tmp_path)

    async def scenario() -> None:
        generator = ServedGenerator(gateway, "judge", "acme")
        call = asyncio.ensure_future(asyncio.to_thread(generator.generate, ["a", "b"]))
        while gateway.hanging.started < 2:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(generator.cancel)  # from another thread, as the evaluate stage's watcher may
        with pytest.raises(GenerationCancelled):
            await asyncio.wait_for(call, BOUND_S)
        with pytest.raises(GenerationCancelled):
            await asyncio.to_thread(generator.generate, ["c"])

    asyncio.run(scenario())
    assert gateway.hanging.cancelled == gateway.hanging.started == 2


def test_a_stage_cancelled_after_the_tasks_ends_the_job_cancelled(store, tmp_path):
    jobs = JobStore(store)
    job = jobs.create("acme", "test", "none", {}, [TaskSpec("t", f"{TASKS}:count", {"numbers": [1]})])

    def evaluate(record) -> None:
        raise StageCancelled("cancelled after training: the fine-tuned model is not served")

    done = LocalWorkerRunner(jobs, tmp_path / "work", poll_s=0.02).run(job.id, evaluate)
    assert (done.state, done.error) == ("cancelled", None)
    assert "cancelled after training: the fine-tuned model is not served" in [e.message for e in jobs.events(job.id)]
