"""The evaluate stage of a fine-tuning job, run by the gateway once the model is trained and served: the judge named
by HEADWATER_EVAL_JUDGE (a served model) scores the base and the fine-tuned model on the validation file (or the
slice of the training file held out at create), through the serving TEs like any request of the job's tenant.

Before vs after goes to the job's `result.evaluation` and to events; the per-example answers, scores and reasons to
a result file. With no judge configured the stage is skipped, and an event and the result say so. The model is
already trained: an evaluation that cannot run (the judge is not served, the engine fails) is a warning and a
line in the result, never a failed job.

The job's cancel is honoured here too (`run_or_cancel`): within `CANCEL_POLL_S` of the request the stage's
generations are cancelled (their requests leave the TEs) and it ends with `result.evaluation` "cancelled".
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING

from headwater.errors import HeadwaterError
from headwater.judge.judge import Judge
from headwater.platform.files import FileStore
from headwater.platform.jobs.finetune_eval import EvalItem, delta, eval_item, evaluate, records, report, summary
from headwater.platform.jobs.records import JobRecord, JobStore
from headwater.platform.served_generator import GenerationCancelled, ServedGenerator

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

logger = logging.getLogger(__name__)

CANCEL_POLL_S = 0.25
"""How often the evaluate stage looks for its job's cancel request."""
CANCEL_GRACE_S = 10.0
"""How long a cancelled stage may take to wind down (its generations fail at once) before its task is cancelled."""


def evaluation_items(files: FileStore, job: JobRecord, limit: int) -> tuple[str, list[EvalItem]]:
    """Which split is judged (`validation_file` or `held_out`) and its examples, at most `limit`."""
    method = job.params["method"]["type"]
    validation = job.params.get("validation_file")
    if validation:
        lines = records(files.content(job.tenant, validation))[:limit]
        return "validation_file", [eval_item(record, method) for record in lines]
    training = records(files.content(job.tenant, job.params["training_file"]))
    held = job.params.get("held_out") or []
    return "held_out", [eval_item(training[index], method) for index in held]


class EvaluateStage:
    """The stage for one job (see the module's docstring)."""

    def __init__(self, gateway: Gateway, jobs: JobStore, files: FileStore, job: JobRecord) -> None:
        self.gateway, self.jobs, self.files, self.job = gateway, jobs, files, job
        self.cancelled = False
        self._generators: list[ServedGenerator] = []

    def cancel(self) -> None:
        """Stop the stage at once (on the gateway's loop): the generations in progress and any later one raise
        `GenerationCancelled`, which `run` records as a cancelled evaluation."""
        self.cancelled = True
        for generator in self._generators:
            generator.cancel()

    async def run_or_cancel(self, poll_s: float = CANCEL_POLL_S) -> bool:
        """`run`, looking for the job's cancel request every `poll_s` seconds; on one, `cancel`. Returns False when
        the stage was cancelled (the caller then cancels the job), True when it ran to its end."""
        work = asyncio.ensure_future(self.run())
        while not work.done():
            await asyncio.wait({work}, timeout=poll_s)
            if work.done() or self.cancelled:
                continue
            if (await asyncio.to_thread(self.jobs.get, self.job.id)).cancel_requested_at is not None:
                self.cancel()
                await asyncio.wait({work}, timeout=CANCEL_GRACE_S)
                work.cancel()  # a no-op once it has ended, as it does at once
        if not work.cancelled():
            work.result()  # an unexpected error of the stage propagates
        return not self.cancelled

    async def _note(self, message: str, level: str = "info", **data: object) -> None:
        await asyncio.to_thread(self.jobs.add_event, self.job.id, message, level, dict(data))

    async def _result(self, evaluation: object) -> None:
        await asyncio.to_thread(self.jobs.update, self.job.id, None, {"evaluation": evaluation})

    async def run(self) -> None:
        """Judge before vs after once (a restarted job keeps its evaluation)."""
        if "evaluation" in self.job.result:
            return
        judge = self.gateway.settings.eval_judge
        if judge is None:
            await self._skip("skipped: no judge configured (HEADWATER_EVAL_JUDGE)")
            return
        try:
            split, items = await asyncio.to_thread(
                evaluation_items, self.files, self.job, self.gateway.settings.eval_max_items
            )
            if not items:
                await self._skip(
                    "skipped: no validation_file, and no example held out at create (too few, or no judge then)"
                )
                return
            await self._judge(judge, split, items)
        except GenerationCancelled:
            await self._note("evaluation cancelled: the job's cancel was requested", "warning")
            await self._result("cancelled")
        except HeadwaterError as error:  # the trained model stays registered: the evaluation is what is missing
            logger.warning("evaluation of %s failed: %s", self.job.id, error)
            await self._skip(f"failed: {error}")

    async def _skip(self, note: str) -> None:
        """No before vs after: a warning event and the reason as `result.evaluation`."""
        await self._note(f"evaluation {note}", "warning")
        await self._result(note)

    async def _judge(self, judge_name: str, split: str, items: list[EvalItem]) -> None:
        job = self.job
        tuned = job.result["fine_tuned_model"]
        await self._note(
            f"evaluating {job.model} (before) and {tuned} (after) on {len(items)} {split} examples, judged by "
            f"{judge_name}"
        )
        models = {
            "before": ServedGenerator(self.gateway, job.model, job.tenant, kind="evaluation", fit_window=True),
            "after": ServedGenerator(self.gateway, tuned, job.tenant, kind="evaluation", fit_window=True),
        }
        judging = ServedGenerator(self.gateway, judge_name, job.tenant, kind="evaluation", fit_window=True)
        self._generators = [*models.values(), judging]
        if self.cancelled:
            raise GenerationCancelled("the evaluation was cancelled before it started")
        judge = Judge(judging, seed=job.params["seed"])
        results = await asyncio.to_thread(evaluate, judge, models, items)
        before = summary(job.model, results["before"])
        after = summary(tuned, results["after"])
        written = await asyncio.to_thread(
            self.files.add_output,
            job.tenant,
            f"{job.id}-evaluation.json",
            "fine-tune-results",
            json.dumps(report(items, results), indent=1).encode(),
        )
        await asyncio.to_thread(self.jobs.set_file, job.id, "evaluation_report", written.id)
        change = delta(before, after)
        evaluation = {
            "judge": judge_name,
            "split": split,
            "examples": len(items),
            "before": asdict(before),
            "after": asdict(after),
            "delta": change,
            "report_file": written.id,
        }
        await self._result(evaluation)
        await self._note(
            f"evaluation: mean score {before.describe()} before, {after.describe()} after (judged by {judge_name})",
            before_mean_score=before.mean_score,
            after_mean_score=after.mean_score,
            delta=change,
        )
