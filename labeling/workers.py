"""Who runs a long job: a lease one process holds, and the sweep that resends jobs no worker holds.

A job row (a LeasedJob: LabelingJob, ImportJob, distill's Run) carries `owner` and `heartbeat_at`:

- owner "": the queue has no part in it (run in the foreground, or finished);
- owner WAITING: waiting for a worker; heartbeat_at is when its message was last sent, null when
  the send failed (the broker was unreachable);
- any other owner: a lease, held by one task execution under a token unique to it (the node name
  in it is only for reading: two workers may share a name). job_lease renews it every
  LEASE/4 seconds from a thread while the task runs; it expires LEASE seconds after the last
  renewal, and only then may another process take it. Taking it is one conditional UPDATE, so
  of two processes asking at once exactly one gets it, on SQLite and on PostgreSQL.

A SIGKILLed worker can take its in-flight message with it (the filesystem broker deletes a
message as it is read; Redis gives it back only after a visibility timeout), and a broker outage
leaves jobs that were never sent. So every worker sweeps, when it starts and every LEASE/4
seconds: it resends the jobs waiting unsent (or sent long ago, RESEND seconds) and those whose
lease expired. Jobs are idempotent and checkpointed: a duplicate message finds the lease held or
the job done and returns, and a resumed job continues where it stopped.
"""

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, models
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

WAITING = "waiting"
# A job a worker should be running: JobStatus.QUEUED and RUNNING (this module loads before the
# models do: config.celery imports it with the settings).
ACTIVE = ("queued", "running")


def lease_seconds() -> float:
    return float(settings.JOB_LEASE_SECONDS)


def renew_seconds() -> float:
    """How often a holder renews its lease, and how often a worker sweeps."""
    return max(lease_seconds() / 4, 0.5)


def resend_seconds() -> float:
    """After this long waiting in the queue, a job is sent again (its message may be lost)."""
    return lease_seconds() * 10


def lease_token(hostname: str) -> str:
    return f"{hostname}#{uuid.uuid4().hex[:16]}"


def _lease_free() -> Q:
    expired = timezone.now() - timedelta(seconds=lease_seconds())
    return Q(owner__in=["", WAITING]) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=expired)


def job_claim(model: type[models.Model], pk: int, *, me: str) -> bool:
    """Take the job's lease if it is free, waiting, expired or already ours (a redelivered
    duplicate of a live job then bows out). `model` has `owner` and `heartbeat_at`."""
    free = _lease_free() | Q(owner=me)
    return bool(model._default_manager.filter(free, pk=pk).update(owner=me, heartbeat_at=timezone.now()))


def job_renew(model: type[models.Model], pk: int, *, me: str) -> bool:
    """Extend our lease; False when it is no longer ours."""
    return bool(model._default_manager.filter(pk=pk, owner=me).update(heartbeat_at=timezone.now()))


def job_release(model: type[models.Model], pk: int, *, me: str) -> None:
    """Give the lease up as the task ends. A job it leaves still active (it bowed out while
    retried, say) waits for a worker again, its message taken for lost: the next sweep sends it."""
    lost_at = timezone.now() - timedelta(seconds=resend_seconds() + 1)
    mine = model._default_manager.filter(pk=pk, owner=me)
    if not mine.filter(status__in=ACTIVE).update(owner=WAITING, heartbeat_at=lost_at):
        mine.update(owner="")


def job_mark_waiting(model: type[models.Model], pk: int, *, sent_at) -> int:
    """Mark a job as waiting for a worker (labeling.enqueue), unless a live process holds it."""
    return model._default_manager.filter(_lease_free(), pk=pk).update(owner=WAITING, heartbeat_at=sent_at)


def job_unsent(model: type[models.Model], pk: int) -> bool:
    """Whether the job waits for a worker with no message sent: the broker was unreachable."""
    return model._default_manager.filter(pk=pk, owner=WAITING, heartbeat_at__isnull=True).exists()


def _renew_until(model: type[models.Model], pk: int, me: str, stop: threading.Event) -> None:
    held = False
    try:
        while not stop.wait(renew_seconds()):
            try:
                renewed = job_renew(model, pk, me=me)
            except DatabaseError as exc:  # the next tick tries again; the lease lasts LEASE seconds
                log.warning("could not renew the lease on %s %s: %s", model.__name__, pk, exc)
                continue
            if held and not renewed:
                log.error("%s %s: lease %s lost (not renewed for %.0f s); another worker may run it",
                          model.__name__, pk, me, lease_seconds())
            held = renewed
    finally:
        connections.close_all()  # this thread's connections


@contextmanager
def job_lease(model: type[models.Model], pk: int, *, hostname: str) -> Iterator[str]:
    """A lease token for one task execution: pass it to job_claim. While the block runs, a
    thread renews the lease (once claimed); at the end it is released."""
    me = lease_token(hostname)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew_until, args=(model, pk, me, stop), daemon=True,
                               name=f"lease-{model.__name__}-{pk}")
    renewer.start()
    try:
        yield me
    finally:
        stop.set()
        renewer.join()
        try:
            job_release(model, pk, me=me)
        except DatabaseError as exc:  # it expires by itself
            log.warning("could not release the lease on %s %s: %s", model.__name__, pk, exc)


def jobs_stranded(queryset: models.QuerySet) -> models.QuerySet:
    """The jobs in `queryset` (those that should be on a worker: queued or running) that need
    a message: waiting unsent or for longer than RESEND, or whose holder's lease expired."""
    now = timezone.now()
    stale = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=resend_seconds()))
    expired = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=lease_seconds()))
    return queryset.filter((Q(owner=WAITING) & stale) | (~Q(owner__in=["", WAITING]) & expired))


def job_was_held(job: models.Model) -> bool:
    """Whether a stranded job (jobs_stranded) had a holder, which died; else it was unsent."""
    return getattr(job, "owner", "") not in ("", WAITING)


# Each app registers how to find and resend its stranded jobs: called by every worker's sweep.
RESUMERS: list[Callable[[], None]] = []


def resumer(fn: Callable[[], None]) -> Callable[[], None]:
    RESUMERS.append(fn)
    return fn


def jobs_sweep() -> None:
    for resume in RESUMERS:
        try:
            resume()
        except Exception:  # a failed sweep must not stop the worker from serving
            log.exception("resuming jobs with %s failed", resume.__qualname__)
