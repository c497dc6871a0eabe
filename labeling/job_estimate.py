"""What a labeling job will take before it starts: pairs to label, and time and cost at the
rate the labeler's last finished jobs ran (none yet: unknown, not guessed)."""

from dataclasses import dataclass

from django.db.models import Sum

from .models import Labeler, LabelingJob, labeling_cost
from .selectors import pairs_in_scope, pairs_unlabeled

HISTORY = 5  # finished jobs the rate is read from


@dataclass(frozen=True)
class Estimate:
    pairs: int  # in the scope
    to_label: int  # of those, not labeled by this labeler yet (a job skips the rest)
    pairs_per_second: float | None
    seconds: float | None
    cost: float | None
    based_on_jobs: int
    tokens_in: int | None = None
    tokens_out: int | None = None


def labeler_measured(*, labeler: Labeler) -> dict | None:
    """The labeler's last finished jobs summed: done, seconds, tokens_in, tokens_out and jobs;
    None when it never finished one."""
    recent = list(LabelingJob.objects.filter(labeler=labeler, status=LabelingJob.Status.SUCCEEDED, done__gt=0,
                                             seconds__gt=0).order_by("-finished_at")
                  .values_list("id", flat=True)[:HISTORY])
    if not recent:
        return None
    totals = LabelingJob.objects.filter(id__in=recent).aggregate(
        done=Sum("done"), seconds=Sum("seconds"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
    return totals | {"jobs": len(recent)}


def labeling_job_estimate(*, labeler: Labeler, scope: dict) -> Estimate:
    pairs = pairs_in_scope(scope=scope).count()
    to_label = pairs_unlabeled(scope=scope, labeler=labeler).count()
    totals = labeler_measured(labeler=labeler)
    if totals is None:
        return Estimate(pairs, to_label, None, None, None, 0)
    rate = totals["done"] / totals["seconds"]
    seconds = to_label / rate
    per_pair = to_label / totals["done"]
    tokens_in, tokens_out = int(totals["tokens_in"] * per_pair), int(totals["tokens_out"] * per_pair)
    cost = labeling_cost(labeler.params, tokens_in=tokens_in, tokens_out=tokens_out, seconds=seconds)
    return Estimate(pairs, to_label, rate, seconds, cost, totals["jobs"], tokens_in, tokens_out)
