"""A run's life: launch, stage by stage on the workers, progress, cancel, retry.

Each stage is a service that checkpoints as it goes; the task that runs it is thin. A stage
that finishes enqueues the next (on commit), so the chain survives worker restarts.

The chain (STAGES and QUEUES in distill.config):

    run_launch: Run queued at the first stage ──enqueue on commit──▶ task distill.run_stage(run, stage)
      └▶ run_stage_execute: claim the run (labeling.workers' lease; a stale or duplicate message
         returns), run SERVICES[stage] (services.stages), which records checkpoints with
         stage_progress and stops at one with Cancelled (run_cancelled_check) once cancelled
      └▶ _stage_finish, under the run's row lock: the stage done; the next stage set and
         enqueued on commit, or the run SUCCEEDED after the last

    synthesize (gpu) ─▶ mine (default) ─▶ teach (gpu) ─▶ train (gpu) ─▶ evaluate (gpu)

A stage that raises leaves the run FAILED with the error; run_retry sends its current stage
again (its checkpoints kept). run_cancel marks it CANCELLED; the worker stops at the stage's
next checkpoint. A run no worker holds (never sent: the broker was down; or its worker died)
is sent again by runs_resume, the workers' periodic sweep.
"""

import logging
import traceback
from collections.abc import Callable

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from labeling.enqueue import job_enqueue, job_requeue
from labeling.workers import job_claim, job_was_held, jobs_stranded, resumer

from ..config import QUEUES, STAGES, config_merge
from ..models import Run

log = logging.getLogger(__name__)

RUN_STAGE_TASK = "distill.run_stage"


class Cancelled(Exception):
    pass


def run_launch(*, name: str, corpus, benchmark=None, config: dict | None = None, user=None,
               enqueue: bool = True) -> Run:
    run = Run.objects.create(
        name=name, corpus=corpus, benchmark=benchmark, config=config_merge(config or {}), created_by=user,
        status=Run.Status.QUEUED, stage=STAGES[0],
    )
    run_log(run.id, f"launched by {user or 'command line'}")
    if enqueue:
        _enqueue(run.id, STAGES[0])
    return run


def _enqueue(run_id: int, stage: str) -> None:
    job_enqueue(model=Run, pk=run_id, task=RUN_STAGE_TASK, args=(run_id, stage), queue=QUEUES[stage])


def run_log(run_id: int, message: str) -> None:
    line = f"{timezone.now():%Y-%m-%d %H:%M:%S} {message}\n"
    Run.objects.filter(id=run_id).update(log=Concat(F("log"), Value(line)))


def run_cancelled_check(*, run_id: int) -> None:
    """Raise Cancelled if the run was cancelled meanwhile: a stage calls it at each checkpoint,
    before recording it, so a cancelled stage stops there (inside a checkpoint's transaction,
    its batch is rolled back with it)."""
    if Run.objects.filter(id=run_id, status=Run.Status.CANCELLED).exists():
        raise Cancelled


def stage_progress(*, run_id: int, stage: str, done: int, total: int, extra: dict | None = None) -> None:
    """Record a stage's progress (its checkpoint, with `extra` state)."""
    run = Run.objects.only("progress").get(id=run_id)
    entry = run.progress.get(stage, {})
    entry.update(done=done, total=total, **(extra or {}))
    entry.setdefault("started_at", timezone.now().isoformat())
    Run.objects.filter(id=run_id).update(progress={**run.progress, stage: entry}, heartbeat_at=timezone.now())


def run_stage_execute(*, run_id: int, stage: str, owner: str, services: dict[str, Callable[[Run], None]],
                      chain: bool = True) -> None:
    """Run one stage (the task's body): claim the run, execute, then move to the next stage,
    enqueuing it when `chain` (the foreground command runs the stages itself)."""
    run = Run.objects.get(id=run_id)
    if run.status not in (Run.Status.QUEUED, Run.Status.RUNNING) or run.stage != stage:
        return  # a stale or duplicate message: the run has moved on
    if not job_claim(Run, run.id, me=owner):
        return
    Run.objects.filter(id=run.id).update(status=Run.Status.RUNNING, started_at=run.started_at or timezone.now())
    run_log(run.id, f"{stage}: started on {owner.partition('#')[0]}")
    try:
        services[stage](Run.objects.get(id=run.id))
    except Cancelled:
        run_log(run.id, f"{stage}: cancelled")
        return
    except Exception as exc:
        Run.objects.filter(id=run.id).update(
            status=Run.Status.FAILED, error=f"{stage}: {type(exc).__name__}: {exc}", finished_at=timezone.now(),
            owner="",
        )
        run_log(run.id, f"{stage}: failed\n{traceback.format_exc(limit=5)}")
        log.exception("run %s stage %s failed", run.id, stage)
        return
    _stage_finish(run.id, stage, chain=chain)


@transaction.atomic
def _stage_finish(run_id: int, stage: str, *, chain: bool) -> None:
    run = Run.objects.select_for_update().get(id=run_id)
    if run.status == Run.Status.CANCELLED:
        return
    entry = run.progress.get(stage, {}) | {"finished_at": timezone.now().isoformat()}
    entry.setdefault("started_at", entry["finished_at"])
    run.progress = {**run.progress, stage: entry}
    run.owner = ""
    following = STAGES.index(stage) + 1
    if following < len(STAGES):
        run.stage = STAGES[following]
    else:
        run.status, run.finished_at = Run.Status.SUCCEEDED, timezone.now()
    run.save(update_fields=["progress", "owner", "stage", "status", "finished_at"])
    if chain and following < len(STAGES):
        _enqueue(run.id, run.stage)  # after the save, which clears the owner this marks
    run_log(run.id, f"{stage}: done" + ("" if following < len(STAGES) else "; run succeeded"))


def run_cancel(*, run: Run) -> bool:
    cancelled = Run.objects.filter(id=run.id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
        status=Run.Status.CANCELLED, finished_at=timezone.now()
    )
    if cancelled:
        run_log(run.id, "cancelled")
    return bool(cancelled)


def run_retry(*, run: Run) -> bool:
    """Start a failed or cancelled run again from its current stage; its checkpoints stay. A
    worker still holding it (cancelled, not noticed yet) keeps it and goes on."""
    retried = Run.objects.filter(id=run.id, status__in=[Run.Status.FAILED, Run.Status.CANCELLED]).update(
        status=Run.Status.QUEUED, error="", finished_at=None
    )
    if retried:
        run_log(run.id, f"retry from {run.stage}")
        _enqueue(run.id, run.stage)
    return bool(retried)


@resumer
def runs_resume() -> None:
    """Send again the current stage of the runs no worker holds: never sent (the queue was
    unreachable), or whose worker died (labeling.workers)."""
    active = Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
    for run in jobs_stranded(active).only("id", "stage", "owner", "heartbeat_at"):
        sent = job_requeue(model=Run, job=run, task=RUN_STAGE_TASK, args=(run.id, run.stage), queue=QUEUES[run.stage])
        if sent is False:
            return  # the broker is down: the next sweep tries again
        if sent and job_was_held(run):
            run_log(run.id, f"{run.stage}: its worker died; resuming")
        elif sent and run.heartbeat_at is None:
            run_log(run.id, f"{run.stage}: sent to the queue, unreachable before")
