"""Drift in the labeling core's denormalised counters, found and repaired (`manage.py counters_check`).

A labeling job's `done` counts the labels the job itself wrote, so it cannot be recounted from
the labels (its labeler may have labeled some pairs of the scope before the job began); what
always holds is that a job never wrote more labels than its labeler has in the job's scope. A
job above that bound (labels deleted after it ran, or a counter written by hand) is drift, and
the repair lowers it to the bound.
"""

from dataclasses import dataclass

from django.db import transaction

from ..models import LabelingJob, ModelLabel
from ..selectors import pairs_in_scope


@dataclass(frozen=True)
class Drift:
    """One counter whose stored value is not the value its rows give."""

    model: str  # app_label.Model
    pk: int
    field: str
    stored: int
    actual: int
    row: str  # what a person recognises the row by

    def __str__(self) -> str:
        return f"{self.model} {self.pk} ({self.row}) {self.field}: stored {self.stored}, actual {self.actual}"


def _job_bound(job: LabelingJob) -> int:
    return ModelLabel.objects.filter(labeler_id=job.labeler_id,
                                     pair_id__in=pairs_in_scope(scope=job.scope).values("id")).count()


def labeling_job_counters_check(*, fix: bool = False) -> list[Drift]:
    """Jobs whose `done` exceeds the labels their labeler has in their scope; with `fix`, each
    is lowered to that count (under the job's row lock, recounted there)."""
    drift = []
    for job in LabelingJob.objects.only("id", "labeler_id", "scope", "done", "description").iterator():
        bound = _job_bound(job)
        if job.done <= bound:
            continue
        drift.append(Drift(model="labeling.LabelingJob", pk=job.pk, field="done", stored=job.done, actual=bound,
                           row=job.description or str(job.scope)))
        if fix:
            with transaction.atomic():
                locked = LabelingJob.objects.select_for_update().get(pk=job.pk)
                bound = _job_bound(locked)
                if locked.done > bound:
                    LabelingJob.objects.filter(pk=job.pk).update(done=bound)
    return drift
