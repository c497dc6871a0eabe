"""The anchored student: the student ranks, the teacher anchors.

An anchored labeler names a student and a teacher (any backends). Labeling a query's pairs:
1. the student grades them all (its labels are kept under its own name, so a resumed job or a
   later one does not grade them again);
2. k anchors stratified over the student's scores (labeling.calibration.anchors_pick) are
   graded by the teacher through its own backend, so their cost and tokens are counted, and
   the teacher's labels are kept under its name too;
3. the anchors' grade shares place per-query thresholds on the student's scores; optionally the
   pairs nearest a threshold are deferred to the teacher as well;
4. every pair gets a label of the anchored labeler: an anchor or deferred pair the teacher's
   label, every other pair the grade its student score falls in. Each label says which it is
   (ModelLabel.source) and the AnchorSet it was calibrated with.

A pair the teacher cannot grade (labelers.base.PairsSetAside) is set aside for the job with its
reason: an anchor so set aside does not anchor (its pair gets the student's grade on the scale of
the anchors left), a deferred one keeps the student's grade; a query none of whose anchors the
teacher graded has no scale, so all its pairs are set aside. The job fails once the set-aside
pairs pass the teacher's max_error_share.

The job goes a few queries at a time. Steps 1 and 2 are kept as they finish; step 4 commits
with the query's AnchorSet and the job's counters, so a worker killed anywhere resumes without
grading a pair twice or writing a label twice (anchors are deterministic in the student's scores).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from ..calibration import anchor_thresholds, anchors_pick, deferrals_pick, grades_from_thresholds
from ..labelers import backend_for
from ..labelers.base import Label, LabelerBackend, SetAside
from ..models import AnchorSet, Labeler, LabelingJob, ModelLabel, SetAsidePair
from ..selectors import pairs_in_scope, pairs_unlabeled
from .grading import (
    Graded,
    job_batch_size,
    max_error_share,
    model_labels_write,
    pairs_grade,
    pairs_grade_or_set_aside,
    set_aside_check,
    set_aside_write,
)

PROMPT_VERSION = "anchored-v1"
MAX_ANCHORS_PER_QUERY = 1000


@dataclass(frozen=True)
class AnchoredConfig:
    """An anchored labeler's params."""

    student: str
    teacher: str
    anchors_per_query: int | None = 10
    anchor_share: float | None = None  # instead of a count: this share of each query's pairs
    defer_share: float = 0.0  # also to the teacher: up to this share of each query's pairs, nearest a threshold
    # Pseudo-anchors spread as the student's own grades of the query (calibration.anchor_thresholds):
    # a weak prior, so one or two anchors do not give a query one or two grades in all.
    prior_weight: float = 2.0

    @classmethod
    def from_params(cls, params: dict) -> AnchoredConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known - {"batch_size"}
        if unknown:
            raise ValueError(f"unknown anchored labeler params: {', '.join(sorted(unknown))}")
        for name in ("student", "teacher"):
            if not isinstance(params.get(name), str) or not params[name]:
                raise ValueError(f"an anchored labeler needs {name!r}: a labeler's name")
        config = cls(**{k: v for k, v in params.items() if k in known})
        count, share = config.anchors_per_query, config.anchor_share
        if share is not None:
            if not isinstance(share, int | float) or not 0 < share <= 1:
                raise ValueError(f"anchor_share must be a share of each query's pairs in (0, 1], not {share!r}")
            config = cls(**{**params, "anchors_per_query": None})
        elif not isinstance(count, int) or not 1 <= count <= MAX_ANCHORS_PER_QUERY:
            raise ValueError(f"anchors_per_query must be a whole number from 1 to {MAX_ANCHORS_PER_QUERY}, "
                             f"not {count!r}")
        if not isinstance(config.defer_share, int | float) or not 0 <= config.defer_share < 1:
            raise ValueError(f"defer_share must be in [0, 1), not {config.defer_share!r}")
        if not isinstance(config.prior_weight, int | float) or not 0 <= config.prior_weight <= 100:
            raise ValueError(f"prior_weight must be in [0, 100], not {config.prior_weight!r}")
        return config

    def anchors_for(self, pairs: int) -> int:
        if self.anchor_share is not None:
            return max(1, round(self.anchor_share * pairs))
        return min(self.anchors_per_query or 0, pairs)

    def deferrals_for(self, pairs: int) -> int:
        return round(self.defer_share * pairs)

    def labelers(self) -> tuple[Labeler, Labeler]:
        found = {labeler.name: labeler for labeler in Labeler.objects.filter(name__in=[self.student, self.teacher])}
        for role, name in (("student", self.student), ("teacher", self.teacher)):
            if name not in found:
                raise ValueError(f"the anchored labeler's {role} {name!r} is not a labeler")
            if found[name].backend == Labeler.Backend.ANCHORED:
                raise ValueError(f"the anchored labeler's {role} {name!r} is itself anchored")
        return found[self.student], found[self.teacher]


def anchored_labeler_create(*, name: str, student: Labeler, teacher: Labeler, anchors_per_query: int | None = 10,
                            anchor_share: float | None = None, defer_share: float = 0.0,
                            prior_weight: float = AnchoredConfig.prior_weight) -> Labeler:
    """The anchored labeler of a student and a teacher (an existing one of that name is updated).
    It starts unpromoted: the promotion gate decides whether it may label at scale."""
    budget = {"anchor_share": anchor_share} if anchor_share is not None else {"anchors_per_query": anchors_per_query}
    params = {"student": student.name, "teacher": teacher.name, "defer_share": defer_share,
              "prior_weight": prior_weight, **budget}
    AnchoredConfig.from_params(params)
    labeler, _ = Labeler.objects.update_or_create(
        name=name, defaults={"role": Labeler.Role.STUDENT, "backend": Labeler.Backend.ANCHORED, "model_ref": "",
                             "prompt_version": PROMPT_VERSION, "params": params},
    )
    return labeler


class _Backends:
    """The student's and the teacher's backends, loaded when first needed (a resumed job whose
    anchors are all graded never loads the teacher)."""

    def __init__(self, student: Labeler, teacher: Labeler, given: dict[str, LabelerBackend]):
        self.labelers = {"student": student, "teacher": teacher}
        self.loaded = dict(given)

    def __getitem__(self, role: str) -> LabelerBackend:
        if role not in self.loaded:
            self.loaded[role] = backend_for(self.labelers[role])
        return self.loaded[role]


def anchored_job_label(*, job: LabelingJob, backends: dict[str, LabelerBackend] | None = None,
                       on_batch: Callable[[LabelingJob], None] | None = None) -> bool:
    """Label the job's pairs that the anchored labeler has not labeled; False if cancelled."""
    labeler = job.labeler
    config = AnchoredConfig.from_params(labeler.params)
    student, teacher = config.labelers()
    loaded = _Backends(student, teacher, backends or {})
    share = max_error_share(teacher)
    set_aside = SetAsidePair.objects.filter(job=job).values("pair_id")
    todo = list(pairs_unlabeled(scope=job.scope, labeler=labeler).exclude(id__in=set_aside).order_by("query_id")
                .values_list("query_id", flat=True).distinct())
    for queries in _query_chunks(job.scope, todo, job.batch_size):
        if LabelingJob.objects.filter(id=job.id, status=LabelingJob.Status.CANCELLED).exists():
            return False
        started = time.perf_counter()
        pairs = list(pairs_in_scope(scope=job.scope).filter(query_id__in=queries).order_by("query_id", "id")
                     .values_list("query_id", "id"))
        by_query: dict[int, list[int]] = defaultdict(list)
        for query_id, pair_id in pairs:
            by_query[query_id].append(pair_id)
        spent = {"student": _labels_ensure(student, loaded, "student", [p for _, p in pairs]), "teacher": Graded()}
        student_labels = ModelLabel.objects.filter(labeler=student, pair_id__in=[p for _, p in pairs])
        scores = dict(student_labels.values_list("pair_id", "expected_grade"))
        own_grades = dict(student_labels.values_list("pair_id", "grade"))
        existing = {s.query_id: s for s in AnchorSet.objects.filter(labeler=labeler, query_id__in=queries)}
        plans = {q: _plan(config, ids, scores) for q, ids in by_query.items() if q not in existing}
        anchors = [p for plan in plans.values() for p in plan.anchors]
        spent["teacher"] = _labels_ensure(teacher, loaded, "teacher", anchors, job_id=job.id)
        teacher_labels = _labels_of(teacher, anchors)
        unanchored = [q for q, plan in plans.items()
                      if not plan.fit(teacher_labels, [own_grades[p] for p in plan.pair_ids], config)]
        deferred = [p for q, plan in plans.items() if q not in unanchored for p in plan.deferred]
        spent["teacher"] = spent["teacher"].add(_labels_ensure(teacher, loaded, "teacher", deferred, job_id=job.id))
        teacher_labels |= _labels_of(teacher, deferred)
        with transaction.atomic():
            aside = sum(_query_set_aside(job, plans.pop(q), by_query.pop(q)) for q in unanchored)
            sets = existing | {q: plan.anchor_set(labeler, student, teacher, q, teacher_labels)
                               for q, plan in plans.items()}
            written = _anchored_labels_write(labeler, sets, by_query, scores, teacher_labels)
            job_row = LabelingJob.objects.select_for_update().get(id=job.id)
            parts = {role: part.as_part(loaded.labelers[role], job_row.parts.get(role)) for role, part in spent.items()}
            LabelingJob.objects.filter(id=job.id).update(
                done=F("done") + written + aside, parts=parts, heartbeat_at=timezone.now(),
                tokens_in=F("tokens_in") + spent["student"].tokens_in + spent["teacher"].tokens_in,
                tokens_out=F("tokens_out") + spent["student"].tokens_out + spent["teacher"].tokens_out,
                seconds=F("seconds") + (time.perf_counter() - started),
            )
        current = set_aside_check(job_id=job.id, share=share)
        if on_batch:
            on_batch(current)
    return True


# --- the steps -----------------------------------------------------------------------------------


def _query_chunks(scope: dict, query_ids: list[int], pairs_per_chunk: int) -> list[list[int]]:
    """Whole queries, about `pairs_per_chunk` pairs a chunk (a query larger than that alone)."""
    sizes = dict(pairs_in_scope(scope=scope).filter(query_id__in=query_ids).values("query_id")
                 .annotate(n=Count("id")).values_list("query_id", "n"))
    chunks: list[list[int]] = [[]]
    size = 0
    for query_id in query_ids:
        if chunks[-1] and size + sizes[query_id] > pairs_per_chunk:
            chunks.append([])
            size = 0
        chunks[-1].append(query_id)
        size += sizes[query_id]
    return [chunk for chunk in chunks if chunk]


def _labels_ensure(labeler: Labeler, backends: _Backends, role: str, pair_ids: Sequence[int],
                   job_id: int | None = None) -> Graded:
    """Grade the pairs this labeler has not graded yet, in its batches, keeping each batch. With
    a job, a pair the labeler cannot grade is set aside for the job (and not asked again) instead
    of failing it."""
    done = set(ModelLabel.objects.filter(labeler=labeler, pair_id__in=pair_ids).values_list("pair_id", flat=True))
    if job_id is not None:
        done |= set(SetAsidePair.objects.filter(job_id=job_id, pair_id__in=pair_ids).values_list("pair_id", flat=True))
    missing = [p for p in dict.fromkeys(pair_ids) if p not in done]
    spent = Graded()
    size = job_batch_size(labeler)
    for start in range(0, len(missing), size):
        batch = missing[start : start + size]
        backend = backends[role]
        if job_id is None:
            labels, graded = pairs_grade(backend=backend, pair_ids=batch)
            model_labels_write(labeler=labeler, prompt_version=backend.prompt_version, pair_ids=batch, labels=labels)
        else:
            result = pairs_grade_or_set_aside(backend=backend, pair_ids=batch)
            graded = result.graded
            with transaction.atomic():
                model_labels_write(labeler=labeler, prompt_version=backend.prompt_version, pair_ids=result.pair_ids,
                                   labels=result.labels)
                set_aside_write(job_id=job_id, set_aside={
                    p: SetAside(a.reason, f"{role} {labeler.name}: {a.detail}") for p, a in result.set_aside.items()})
        spent = spent.add(graded)
    return spent


def _query_set_aside(job: LabelingJob, plan: _Plan, pair_ids: list[int]) -> int:
    """Set aside a query none of whose anchors the teacher graded (no scale for its pairs), for
    its anchors' first reason; its pairs, done (the anchors keep their own reasons)."""
    reason = SetAsidePair.objects.filter(job=job, pair_id__in=plan.tried).values_list("reason", flat=True).first()
    set_aside_write(job_id=job.id, set_aside={
        p: SetAside(reason or SetAsidePair.Reason.SERVER_ERROR, "no anchor of its query was graded by the teacher")
        for p in pair_ids})
    return len(pair_ids)


def _labels_of(labeler: Labeler, pair_ids: Sequence[int]) -> dict[int, Label]:
    rows = ModelLabel.objects.filter(labeler=labeler, pair_id__in=pair_ids).values_list(
        "pair_id", "grade", "distribution", "expected_grade")
    return {pair_id: Label(grade=grade, distribution=distribution, expected_grade=expected)
            for pair_id, grade, distribution, expected in rows}


class _Plan:
    """One query's anchors, thresholds and deferred pairs, before they are stored."""

    def __init__(self, pair_ids: list[int], scores: list[float], anchor_count: int):
        self.pair_ids, self.scores = pair_ids, scores
        self.tried = [pair_ids[i] for i in anchors_pick(scores, anchor_count)]  # sent to the teacher
        self.anchors = self.tried  # of those, the ones it graded (fit)
        self.thresholds: list[float] = []
        self.deferred: list[int] = []

    def fit(self, teacher_labels: dict[int, Label], own_grades: list[int], config: AnchoredConfig) -> bool:
        """Thresholds from the anchors the teacher graded, and the pairs to defer; False if it graded none."""
        self.anchors = [p for p in self.tried if p in teacher_labels]
        if not self.anchors:
            return False
        position = {pair_id: i for i, pair_id in enumerate(self.pair_ids)}
        self.thresholds = anchor_thresholds(self.scores, [teacher_labels[p].grade for p in self.anchors],
                                            prior_grades=own_grades, prior_weight=config.prior_weight)
        picked = deferrals_pick(self.scores, self.thresholds, config.deferrals_for(len(self.pair_ids)),
                                exclude=[position[p] for p in self.anchors])
        self.deferred = [self.pair_ids[i] for i in picked]
        return True

    def anchor_set(self, labeler: Labeler, student: Labeler, teacher: Labeler, query_id: int,
                   teacher_labels: dict[int, Label]) -> AnchorSet:
        score = dict(zip(self.pair_ids, self.scores, strict=True))
        return AnchorSet.objects.create(
            labeler=labeler, query_id=query_id, student=student, teacher=teacher, thresholds=self.thresholds,
            pairs=len(self.pair_ids),
            anchors=[[p, score[p], teacher_labels[p].grade] for p in self.anchors],
            # a deferred pair the teacher set aside keeps the student's grade
            deferred=[[p, score[p], teacher_labels[p].grade] for p in self.deferred if p in teacher_labels],
        )


def _plan(config: AnchoredConfig, pair_ids: list[int], scores: dict[int, float]) -> _Plan:
    return _Plan(pair_ids, [scores[p] for p in pair_ids], config.anchors_for(len(pair_ids)))


def _anchored_labels_write(labeler: Labeler, sets: dict[int, AnchorSet], by_query: dict[int, list[int]],
                           scores: dict[int, float], teacher_labels: dict[int, Label]) -> int:
    """The anchored labels of these queries' pairs not labeled yet; how many were written."""
    all_ids = [p for ids in by_query.values() for p in ids]
    labeled = set(ModelLabel.objects.filter(labeler=labeler, pair_id__in=all_ids).values_list("pair_id", flat=True))
    written = 0
    for query_id, ids in by_query.items():
        anchor_set = sets[query_id]
        teacher_graded = {row[0]: ModelLabel.Source.ANCHOR for row in anchor_set.anchors}
        teacher_graded |= {row[0]: ModelLabel.Source.DEFERRED for row in anchor_set.deferred}
        missing_teacher = [p for p in teacher_graded if p not in teacher_labels]
        teacher_labels |= _labels_of(anchor_set.teacher, missing_teacher)
        student_labels = student_scale_labels([scores[p] for p in ids], anchor_set.thresholds)
        todo = [(p, label) for p, label in zip(ids, student_labels, strict=True) if p not in labeled]
        model_labels_write(
            labeler=labeler, prompt_version=PROMPT_VERSION, pair_ids=[p for p, _ in todo],
            labels=[teacher_labels[p] if p in teacher_graded else label for p, label in todo],
            sources=[teacher_graded.get(p, ModelLabel.Source.MODEL) for p, _ in todo],
            anchor_sets=[anchor_set.id] * len(todo),
        )
        written += len(todo)
    return written


def student_scale_labels(scores: Sequence[float], thresholds: Sequence[float]) -> list[Label]:
    """Labels on the query's anchored scale: the grade the score falls in, and an expected grade
    within half a grade of it placed by the student's order among the query's pairs of that grade
    (rankings by expected grade keep the student's order). The distribution is the two grades
    around the expected grade, as for a regression head."""
    values = np.asarray(scores, dtype=float)
    grades = grades_from_thresholds(values, thresholds)
    expected = grades.astype(float)
    for grade in np.unique(grades):
        members = np.flatnonzero(grades == grade)
        order = members[np.argsort(values[members], kind="stable")]
        low = -0.49 if grade > 0 else 0.0  # the scale's ends have one neighbour
        high = 0.49 if grade < 3 else 0.0
        expected[order] = grade + low + (np.arange(len(order)) + 0.5) / len(order) * (high - low)
    return [label_from_expected(int(g), float(e)) for g, e in zip(grades, expected, strict=True)]


def label_from_expected(grade: int, expected: float) -> Label:
    distribution = [0.0] * 4
    neighbour = grade + 1 if expected > grade else grade - 1 if expected < grade else grade
    distribution[neighbour] = round(abs(expected - grade), 6)
    distribution[grade] += round(1 - abs(expected - grade), 6)
    return Label(grade=grade, distribution=distribution, expected_grade=expected)
