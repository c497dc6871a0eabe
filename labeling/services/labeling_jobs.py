"""Labeling as a job: a labeler grades a set of pairs in batches on a worker.

Each batch's labels and the job's counters are written in one transaction, so a worker killed
at any point resumes from the pairs still without a label: no duplicates, nothing lost. An
anchored labeler's job goes query by query instead (labeling.services.anchored).

A pair the labeler cannot grade (a reply with no grade, a refusal, a content filter, a timeout
after the retries: labelers.base.PairsSetAside) is set aside with its reason and the job goes
on; the job fails only once its set-aside pairs pass the labeler's params["max_error_share"]
(default grading.MAX_ERROR_SHARE) of its pairs, since a teacher that fails that often is broken.
"""

from collections.abc import Callable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..enqueue import job_enqueue, job_requeue
from ..labelers import backend_for
from ..labelers.base import LabelerBackend
from ..models import Labeler, LabelingJob
from ..selectors import pair_ids_in_scope, pair_ids_unlabeled, pairs_in_scope
from ..workers import job_claim, jobs_stranded, resumer
from .anchored import anchored_job_label
from .grading import (
    job_batch_size,
    max_error_share,
    model_labels_write,
    pairs_grade_or_set_aside,
    set_aside_check,
    set_aside_write,
)
from .promotion import NotPromoted, promotion_refusal

LABEL_JOB_TASK = "labeling.label_job"


def labeling_queue(*, labeler: Labeler) -> str:
    # Replaying a recorded run is bookkeeping; every other backend runs a model.
    return "default" if labeler.backend == Labeler.Backend.RECORDED else "gpu"


def labeling_job_create(*, labeler: Labeler, scope: dict, description: str = "", batch_size: int | None = None,
                        enqueue: bool = True, gated: bool = True) -> LabelingJob:
    """A job of a labeler over the pairs in `scope`. `gated`: refuse a student that has not passed
    its promotion gate (labeling.services.promotion); evaluations, which decide the gate, pass False."""
    refusal = promotion_refusal(labeler) if gated else None
    if refusal:
        raise NotPromoted(refusal)
    total = pairs_in_scope(scope=scope).count()
    if not total:
        raise ValueError(f"no pairs match {description or scope}")
    job = LabelingJob.objects.create(
        labeler=labeler, scope=scope, description=description, total=total,
        batch_size=batch_size or job_batch_size(labeler),
    )
    if enqueue:
        job_enqueue(model=LabelingJob, pk=job.id, task=LABEL_JOB_TASK, args=(job.id,),
                    queue=labeling_queue(labeler=labeler))
    return job


def labeling_job_run(*, job_id: int, backend: LabelerBackend | None = None, owner: str = "",
                     on_batch: Callable[[LabelingJob], None] | None = None) -> LabelingJob:
    """Label every pair of the job's scope that this labeler has not labeled yet.

    `owner` is the worker running it (labeling.workers); empty when run in the foreground.
    """
    job = LabelingJob.objects.select_related("labeler").get(id=job_id)
    if job.status in (LabelingJob.Status.SUCCEEDED, LabelingJob.Status.CANCELLED):
        return job
    if owner and not job_claim(LabelingJob, job.id, me=owner):
        return job  # a live worker has it already
    LabelingJob.objects.filter(id=job.id).update(
        status=LabelingJob.Status.RUNNING, started_at=job.started_at or timezone.now(), error=""
    )
    try:
        if job.labeler.backend == Labeler.Backend.ANCHORED:
            finished = anchored_job_label(job=job, backends={"student": backend} if backend else None,
                                          on_batch=on_batch)
        else:
            finished = _job_label(job, backend or backend_for(job.labeler), on_batch)
    except Exception as exc:
        LabelingJob.objects.filter(id=job.id).update(
            status=LabelingJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    if finished:
        LabelingJob.objects.filter(id=job.id).update(status=LabelingJob.Status.SUCCEEDED, finished_at=timezone.now())
    return LabelingJob.objects.get(id=job.id)


def _job_label(job: LabelingJob, backend: LabelerBackend, on_batch: Callable[[LabelingJob], None] | None) -> bool:
    """Label the job's unlabeled pairs in batches; False if the job was cancelled meanwhile."""
    share = max_error_share(job.labeler)
    scope_ids = pair_ids_in_scope(scope=job.scope)
    for start in range(0, len(scope_ids), job.batch_size):
        batch = pair_ids_unlabeled(job=job, pair_ids=scope_ids[start : start + job.batch_size])
        if not batch:  # labeled before a restart
            continue
        if LabelingJob.objects.filter(id=job.id, status=LabelingJob.Status.CANCELLED).exists():
            return False
        result = pairs_grade_or_set_aside(backend=backend, pair_ids=batch)
        graded = result.graded
        with transaction.atomic():
            model_labels_write(labeler=job.labeler, prompt_version=backend.prompt_version, pair_ids=result.pair_ids,
                               labels=result.labels)
            set_aside_write(job_id=job.id, set_aside=result.set_aside)
            LabelingJob.objects.filter(id=job.id).update(
                done=F("done") + len(batch), tokens_in=F("tokens_in") + graded.tokens_in,
                tokens_out=F("tokens_out") + graded.tokens_out, seconds=F("seconds") + graded.seconds,
                heartbeat_at=timezone.now(),
            )
        current = set_aside_check(job_id=job.id, share=share)
        if on_batch:
            on_batch(current)
    return True


@resumer
def labeling_jobs_resume() -> None:
    """Send again the jobs no worker holds: never sent (the queue was unreachable), or whose
    worker died (labeling.workers)."""
    active = LabelingJob.objects.filter(status__in=LabelingJob.ACTIVE)
    for job in jobs_stranded(active).select_related("labeler"):
        queue = labeling_queue(labeler=job.labeler)
        if job_requeue(model=LabelingJob, job=job, task=LABEL_JOB_TASK, args=(job.id,), queue=queue) is False:
            return  # the broker is down: the next sweep tries again


def labeling_job_cancel(*, job: LabelingJob) -> None:
    LabelingJob.objects.filter(id=job.id, status__in=LabelingJob.ACTIVE).update(
        status=LabelingJob.Status.CANCELLED, finished_at=timezone.now()
    )
