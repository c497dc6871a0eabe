"""Every task is enqueued here, by its name: services never import tasks (tasks import services),
and a broker that cannot be reached costs a logged warning, never the request or the command.

A job (a LabelingJob, a distill Run) is marked waiting in the transaction that starts it and sent
when that commits; a send that fails leaves it marked unsent, and the workers' sweep
(labeling.workers) sends it when a worker is up and reaches the broker. The job rows are the
outbox: nothing else needs storing. A plain task (a dashboard refresh) is only tried; its caller
tells the user and asks again later.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from celery import current_app
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from .workers import WAITING, job_mark_waiting

log = logging.getLogger(__name__)

QUEUE_UNREACHABLE = "The task queue is unreachable: the work is saved and starts when a worker next reaches the queue."


def task_send(*, task: str, args: tuple, queue: str | None = None) -> bool:
    """Publish now (kombu retries a few times, under a second in all); False when the broker
    did not take it."""
    try:
        current_app.send_task(task, args=args, queue=queue)
    except OperationalError as exc:  # the broker is down or refuses us
        log.warning("could not enqueue %s%r on queue %s: %s", task, args, queue or "default", exc)
        return False
    except Exception:  # anything else is a bug, but the caller's work is saved: keep it
        log.exception("could not enqueue %s%r on queue %s", task, args, queue or "default")
        return False
    return True


@dataclass
class Sending:
    """Whether the broker took a task: None until the transaction that asked for it commits."""

    sent: bool | None = None

    @property
    def failed(self) -> bool:
        return self.sent is False


def task_enqueue(*, task: str, args: tuple, queue: str | None = None,
                 on_failure: Callable[[], object] | None = None) -> Sending:
    """Send the task once the current transaction commits (at once outside one)."""
    sending = Sending()

    def send() -> None:
        sending.sent = task_send(task=task, args=args, queue=queue)
        if not sending.sent and on_failure is not None:
            on_failure()

    transaction.on_commit(send)
    return sending


def job_enqueue(*, model: type[models.Model], pk: int, task: str, args: tuple, queue: str) -> Sending:
    """Mark the job waiting for a worker and send its task on commit; if the send fails the job
    stays marked unsent (labeling.workers.job_unsent) for the sweep."""
    sent_at = timezone.now()
    job_mark_waiting(model, pk, sent_at=sent_at)

    def unsent() -> None:
        model._default_manager.filter(pk=pk, owner=WAITING, heartbeat_at=sent_at).update(heartbeat_at=None)

    return task_enqueue(task=task, args=args, queue=queue, on_failure=unsent)


def job_requeue(*, model: type[models.Model], job, task: str, args: tuple, queue: str) -> bool | None:
    """Send a stranded job again (labeling.workers.jobs_stranded). It is taken by a conditional
    UPDATE on the owner and heartbeat it was read with, so of several workers sweeping at once
    one sends it. True: sent; None: another worker took it first; False: the broker refused it
    (the job is left unsent, and a sweep should stop trying for now)."""
    sent_at = timezone.now()
    taken = model._default_manager.filter(pk=job.pk, owner=job.owner, heartbeat_at=job.heartbeat_at).update(
        owner=WAITING, heartbeat_at=sent_at
    )
    if not taken:
        return None
    if task_send(task=task, args=args, queue=queue):
        return True
    model._default_manager.filter(pk=job.pk, owner=WAITING, heartbeat_at=sent_at).update(heartbeat_at=None)
    return False
