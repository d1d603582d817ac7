"""The safety jobs as the gateway holds them (`gateway.jobs.safety`): red-teaming runs and admin-only attacks,
started and stopped together with the other job services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.platform.files import FileStore
from headwater.platform.jobs.attacks import AttackService
from headwater.platform.jobs.records import JobStore
from headwater.platform.jobs.redteam import RedteamService
from headwater.platform.jobs.workers import WorkerRunner

if TYPE_CHECKING:
    from headwater.platform.app import Gateway


class SafetyJobs:
    """`redteam` (`/v1/redteam/runs`) and `attacks` (`/v1/attacks`)."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore, runner: WorkerRunner) -> None:
        self.redteam = RedteamService(gateway, jobs, files)
        self.attacks = AttackService(gateway, jobs, files, runner)

    def start(self) -> None:
        self.redteam.start()
        self.attacks.start()

    async def stop(self) -> None:
        await self.redteam.stop()
        await self.attacks.stop()
