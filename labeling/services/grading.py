"""Grading pairs with a backend and keeping the labels: the step every labeling job repeats.

Labels are written with ignore_conflicts on (labeler, pair), so grading a pair twice (a
redelivered batch, a resumed job) keeps the first label and counts nothing twice.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..labelers.base import Label, LabelerBackend, PairsSetAside, SetAside
from ..models import Labeler, LabelingJob, ModelLabel, SetAsidePair
from ..selectors import pair_inputs, set_aside_reasons

# Pairs per checkpoint for a cross-encoder: it sorts each chunk by length into its own batches,
# so large chunks pad less (benchmarks/results/throughput.md: bf16 at 141 pairs/s on 48 pairs, 234 on 1,024).
CROSS_ENCODER_JOB_PAIRS = 512
MAX_ERROR_SHARE = 0.05  # of a job's pairs set aside, past which a teacher is broken, not unlucky


class TooManySetAside(RuntimeError):
    pass


def max_error_share(labeler: Labeler) -> float:
    share = labeler.params.get("max_error_share", MAX_ERROR_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ValueError(f"labeler {labeler.name!r}: max_error_share must be a number from 0 to 1, not {share!r}")
    return float(share)


def job_batch_size(labeler: Labeler) -> int:
    """Pairs a job hands the backend at a time (and commits together): a generative model's
    batch, or a large chunk for a cross-encoder or a query chunk of an anchored labeler."""
    if labeler.backend in (Labeler.Backend.CROSS_ENCODER, Labeler.Backend.ANCHORED):
        return CROSS_ENCODER_JOB_PAIRS
    return labeler.params.get("batch_size", 32)


@dataclass
class Graded:
    """What grading some pairs took."""

    pairs: int = 0
    seconds: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, other: "Graded") -> "Graded":
        return Graded(self.pairs + other.pairs, self.seconds + other.seconds, self.tokens_in + other.tokens_in,
                      self.tokens_out + other.tokens_out)

    def as_part(self, labeler: Labeler, previous: dict | None = None) -> dict:
        """A job's record of one labeler's share of the work (LabelingJob.parts), added to `previous`."""
        before = previous or {}
        return {"labeler": labeler.name, "pairs": before.get("pairs", 0) + self.pairs,
                "seconds": before.get("seconds", 0.0) + self.seconds,
                "tokens_in": before.get("tokens_in", 0) + self.tokens_in,
                "tokens_out": before.get("tokens_out", 0) + self.tokens_out}


def pairs_grade(*, backend: LabelerBackend, pair_ids: Sequence[int]) -> tuple[list[Label], Graded]:
    started = time.perf_counter()
    labels = backend.label(pair_inputs(pair_ids=pair_ids))
    if len(labels) != len(pair_ids):
        raise RuntimeError(f"the backend returned {len(labels)} labels for {len(pair_ids)} pairs")
    return labels, Graded(pairs=len(labels), seconds=time.perf_counter() - started,
                          tokens_in=sum(label.tokens_in for label in labels),
                          tokens_out=sum(label.tokens_out for label in labels))


@dataclass
class BatchGraded:
    """A batch graded leniently: the labels of the pairs graded, and the pairs set aside."""

    pair_ids: list[int]
    labels: list[Label]
    set_aside: dict[int, SetAside]  # by pair id
    graded: Graded


def pairs_grade_or_set_aside(*, backend: LabelerBackend, pair_ids: Sequence[int]) -> BatchGraded:
    """pairs_grade, keeping the labels of a batch in which the backend set some pairs aside."""
    started = time.perf_counter()
    try:
        results: list[Label | None] = list(backend.label(pair_inputs(pair_ids=pair_ids)))
        aside: dict[int, SetAside] = {}
    except PairsSetAside as partial:
        results, aside = partial.labels, partial.set_aside
    if len(results) != len(pair_ids):
        raise RuntimeError(f"the backend returned {len(results)} labels for {len(pair_ids)} pairs")
    kept = [(pair_id, label) for pair_id, label in zip(pair_ids, results, strict=True) if label is not None]
    labels = [label for _, label in kept]
    return BatchGraded(
        pair_ids=[pair_id for pair_id, _ in kept], labels=labels,
        set_aside={pair_ids[i]: reason for i, reason in aside.items()},
        graded=Graded(pairs=len(labels), seconds=time.perf_counter() - started,
                      tokens_in=sum(label.tokens_in for label in labels),
                      tokens_out=sum(label.tokens_out for label in labels)),
    )


def set_aside_write(*, job_id: int, set_aside: dict[int, SetAside]) -> None:
    """Keep why these pairs got no label (a pair this job set aside already keeps its first reason)."""
    SetAsidePair.objects.bulk_create(
        [SetAsidePair(job_id=job_id, pair_id=pair_id, reason=aside.reason, detail=aside.detail[:500])
         for pair_id, aside in set_aside.items()],
        ignore_conflicts=True,
    )


def model_labels_write(*, labeler: Labeler, prompt_version: str, pair_ids: Sequence[int], labels: Iterable[Label],
                       sources: Sequence[str] | None = None, anchor_sets: Sequence[int | None] | None = None) -> None:
    """Keep these labels (a pair this labeler already labeled keeps its label); an anchored
    labeler's say per pair whose grade it is and the anchor set behind it."""
    sources = sources or [ModelLabel.Source.MODEL] * len(pair_ids)
    sets = anchor_sets or [None] * len(pair_ids)
    ModelLabel.objects.bulk_create(
        [
            ModelLabel(
                pair_id=pair_id, labeler=labeler, grade=label.grade, distribution=label.distribution,
                expected_grade=label.expected_grade, prompt_version=prompt_version, latency_ms=label.latency_ms,
                tokens_in=label.tokens_in, tokens_out=label.tokens_out, source=source, anchor_set_id=anchor_set,
            )
            for pair_id, label, source, anchor_set in zip(pair_ids, labels, sources, sets, strict=True)
        ],
        ignore_conflicts=True,
    )


def set_aside_check(*, job_id: int, share: float) -> LabelingJob:
    """Count the job's set-aside pairs on its row; TooManySetAside once they pass `share` of its pairs."""
    LabelingJob.objects.filter(id=job_id).update(set_aside=SetAsidePair.objects.filter(job_id=job_id).count())
    job = LabelingJob.objects.get(id=job_id)
    if job.set_aside > share * job.total:
        reasons = ", ".join(f"{reason} {n}" for reason, n in set_aside_reasons(job=job).items())
        raise TooManySetAside(f"{job.set_aside} of {job.total} pairs set aside ({reasons}), past the labeler's "
                              f"max_error_share of {share:.0%}")
    return job
