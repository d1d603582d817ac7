"""The job system as the gateway holds it: files, the job records and the batch runner, started and stopped
with the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.batches import BatchRunner
from headwater.platform.jobs.finetune import FineTuneService
from headwater.platform.jobs.records import JobStore
from headwater.platform.jobs.safety_jobs import SafetyJobs
from headwater.platform.jobs.service_jobs import ServiceJobs
from headwater.platform.jobs.workers import worker_runner

if TYPE_CHECKING:
    from headwater.platform.app import Gateway


class JobServices:
    """What the files, batches and jobs routes reach through `gateway.jobs`."""

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        self.records = JobStore(gateway.store)
        storage = LocalFileStorage(settings.data_dir / "files")
        self.files = FileStore(gateway.store, storage, settings.max_file_bytes)
        self.batches = BatchRunner(gateway, self.records, self.files)
        # one runner for every service's worker tasks: one Ray connection, and a stop interrupts them all at once
        runner = worker_runner(settings, self.records, settings.data_dir / "jobs")
        self.finetune = FineTuneService(gateway, self.records, self.files, runner)
        self.safety = SafetyJobs(gateway, self.records, self.files, runner)
        self.service_jobs = ServiceJobs(gateway, self.records, self.files, runner)

    def start(self) -> None:
        """Resume the work a stopped gateway left (call inside the running event loop)."""
        self.batches.start()
        self.finetune.start()
        self.safety.start()
        self.service_jobs.start()

    async def stop(self) -> None:
        await self.batches.stop()
        await self.finetune.stop()
        await self.safety.stop()
        await self.service_jobs.stop()
