"""Labeling as a job: a labeler grades a set of pairs in batches on a worker.

Each batch's labels and the job's counters are written in one transaction, so a worker killed
at any point resumes from the pairs still without a label: no duplicates, nothing lost.
"""

import time
from collections.abc import Callable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .labelers import backend_for
from .labelers.base import LabelerBackend
from .models import Labeler, LabelingJob, ModelLabel
from .selectors import pair_inputs, pairs_in_scope, pairs_unlabeled
from .workers import job_claim, jobs_orphaned, resumer


def labeling_queue(*, labeler: Labeler) -> str:
    # Replaying a recorded run is bookkeeping; every other backend runs a model.
    return "default" if labeler.backend == Labeler.Backend.RECORDED else "gpu"


# Pairs per checkpoint for a cross-encoder: it sorts each chunk by length into its own batches,
# so large chunks pad less (benchmarks/results/throughput.md: bf16 at 141 pairs/s on 48 pairs, 234 on 1,024).
CROSS_ENCODER_JOB_PAIRS = 512


def job_batch_size(labeler: Labeler) -> int:
    """Pairs a job hands the backend at a time (and commits together): a generative model's
    batch, or a large chunk for a cross-encoder."""
    if labeler.backend == Labeler.Backend.CROSS_ENCODER:
        return CROSS_ENCODER_JOB_PAIRS
    return labeler.params.get("batch_size", 32)


def labeling_job_create(*, labeler: Labeler, scope: dict, description: str = "", batch_size: int | None = None,
                        enqueue: bool = True) -> LabelingJob:
    total = pairs_in_scope(scope=scope).count()
    if not total:
        raise ValueError(f"no pairs match {description or scope}")
    job = LabelingJob.objects.create(
        labeler=labeler, scope=scope, description=description, total=total,
        batch_size=batch_size or job_batch_size(labeler),
    )
    if enqueue:
        from .tasks import label_job  # tasks import this module

        transaction.on_commit(lambda: label_job.apply_async((job.id,), queue=labeling_queue(labeler=labeler)))
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
    labeler = job.labeler
    try:
        backend = backend or backend_for(labeler)
        todo = pairs_unlabeled(scope=job.scope, labeler=labeler).order_by("id").values_list("id", flat=True)
        while batch := list(todo[: job.batch_size]):
            if LabelingJob.objects.filter(id=job.id, status=LabelingJob.Status.CANCELLED).exists():
                return LabelingJob.objects.get(id=job.id)
            started = time.perf_counter()
            labels = backend.label(pair_inputs(pair_ids=batch))
            with transaction.atomic():
                ModelLabel.objects.bulk_create(
                    [
                        ModelLabel(
                            pair_id=pair_id, labeler=labeler, grade=label.grade, distribution=label.distribution,
                            expected_grade=label.expected_grade, prompt_version=backend.prompt_version,
                            latency_ms=label.latency_ms, tokens_in=label.tokens_in, tokens_out=label.tokens_out,
                        )
                        for pair_id, label in zip(batch, labels, strict=True)
                    ],
                    ignore_conflicts=True,  # a redelivered batch finds its labels already there
                )
                LabelingJob.objects.filter(id=job.id).update(
                    done=F("done") + len(batch),
                    tokens_in=F("tokens_in") + sum(label.tokens_in for label in labels),
                    tokens_out=F("tokens_out") + sum(label.tokens_out for label in labels),
                    seconds=F("seconds") + (time.perf_counter() - started),
                    heartbeat_at=timezone.now(),
                )
            if on_batch:
                on_batch(LabelingJob.objects.get(id=job.id))
    except Exception as exc:
        LabelingJob.objects.filter(id=job.id).update(
            status=LabelingJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    LabelingJob.objects.filter(id=job.id).update(status=LabelingJob.Status.SUCCEEDED, finished_at=timezone.now())
    return LabelingJob.objects.get(id=job.id)


@resumer
def labeling_jobs_resume(me: str) -> None:
    """Enqueue again the running jobs whose worker died."""
    from .tasks import label_job

    running = LabelingJob.objects.filter(status=LabelingJob.Status.RUNNING).exclude(owner="").select_related("labeler")
    for job in jobs_orphaned(running, me=me):
        label_job.apply_async((job.id,), queue=labeling_queue(labeler=job.labeler))


def labeling_job_cancel(*, job: LabelingJob) -> None:
    LabelingJob.objects.filter(id=job.id, status__in=[LabelingJob.Status.QUEUED, LabelingJob.Status.RUNNING]).update(
        status=LabelingJob.Status.CANCELLED, finished_at=timezone.now()
    )
