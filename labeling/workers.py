"""Which worker owns a long job, whether it is still alive, and resuming jobs whose worker died.

A SIGKILLed worker can take its in-flight message with it (the embedded filesystem broker
deletes a message as it is read; Redis gives it back only after a visibility timeout). So a
long job records its owner, and every worker that starts resumes the jobs whose owner is dead.
Jobs are idempotent and checkpointed, so a resumed job continues where it stopped.
"""

import os
import uuid
from collections.abc import Callable

from django.db import models, transaction
from django.utils import timezone

BOOT_ENV = "ASSESSOR_WORKER_BOOT"


def worker_boot() -> str:
    """An id for this worker process tree, set in the main process before the pool forks
    (config.celery sets it at worker init), so every child shares it."""
    return os.environ.setdefault(BOOT_ENV, uuid.uuid4().hex[:12])


def owner_identity(hostname: str) -> str:
    return f"{hostname}#{worker_boot()}"


def owner_alive(owner: str, *, me: str) -> bool:
    if not owner:
        return False
    if owner == me:
        return True
    name, _, _ = owner.partition("#")
    if name == me.partition("#")[0]:
        return False  # same node name, another boot: that process has died and been replaced
    from config.celery import app

    return bool(app.control.ping(destination=[name], timeout=1.0))


def job_claim(model: type[models.Model], pk: int, *, me: str) -> bool:
    """Take a job unless another live worker holds it (a redelivered duplicate then bows out).
    `model` is a job model with `owner` and `heartbeat_at` (LabelingJob, distill's Run)."""
    with transaction.atomic():
        owner = model._default_manager.select_for_update().values_list("owner", flat=True).get(pk=pk)
        if owner and owner != me and owner_alive(owner, me=me):
            return False
        model._default_manager.filter(pk=pk).update(owner=me, heartbeat_at=timezone.now())
    return True


def job_heartbeat(model: type[models.Model], pk: int) -> None:
    model._default_manager.filter(pk=pk).update(heartbeat_at=timezone.now())


def jobs_orphaned(queryset: models.QuerySet, *, me: str) -> list:
    """The running jobs in `queryset` whose owner is dead (each distinct owner pinged once)."""
    alive: dict[str, bool] = {}
    orphans = []
    for job in queryset:
        if job.owner not in alive:
            alive[job.owner] = owner_alive(job.owner, me=me)
        if not alive[job.owner]:
            orphans.append(job)
    return orphans


# Each app registers how to find and resume its jobs: called by every starting worker.
RESUMERS: list[Callable[[str], None]] = []


def resumer(fn: Callable[[str], None]) -> Callable[[str], None]:
    RESUMERS.append(fn)
    return fn
