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


@dataclass(frozen=True)
class Projection:
    """Some pairs at the labeler's measured rate: how long, how many tokens, what cost."""

    pairs_per_second: float
    seconds: float
    tokens_in: int
    tokens_out: int
    cost: float
    based_on_jobs: int


def labeler_projection(*, labeler: Labeler, pairs: int) -> Projection | None:
    """`pairs` graded at the rate and tokens per pair of the labeler's last finished jobs (at
    most HISTORY), priced by its params; None when it never finished one."""
    recent = list(LabelingJob.objects.filter(labeler=labeler, status=LabelingJob.Status.SUCCEEDED, done__gt=0,
                                             seconds__gt=0).order_by("-finished_at")
                  .values_list("id", flat=True)[:HISTORY])
    if not recent:
        return None
    totals = LabelingJob.objects.filter(id__in=recent).aggregate(
        done=Sum("done"), seconds=Sum("seconds"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
    rate = totals["done"] / totals["seconds"]
    per_pair = pairs / totals["done"]
    tokens_in, tokens_out = int(totals["tokens_in"] * per_pair), int(totals["tokens_out"] * per_pair)
    cost = labeling_cost(labeler.params, tokens_in=tokens_in, tokens_out=tokens_out, seconds=pairs / rate)
    return Projection(rate, pairs / rate, tokens_in, tokens_out, cost, len(recent))


def labeling_job_estimate(*, labeler: Labeler, scope: dict) -> Estimate:
    pairs = pairs_in_scope(scope=scope).count()
    to_label = pairs_unlabeled(scope=scope, labeler=labeler).count()
    p = labeler_projection(labeler=labeler, pairs=to_label)
    if p is None:
        return Estimate(pairs, to_label, None, None, None, 0)
    return Estimate(pairs, to_label, p.pairs_per_second, p.seconds, p.cost, p.based_on_jobs, p.tokens_in,
                    p.tokens_out)
