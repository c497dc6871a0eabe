"""Reads for the review: the disagreement queue of a benchmark and a model (labeler), the
people-vs-people queue (annotators who disagree among themselves, no model needed), one
pair's evidence, and annotators' accuracy against the adjudicated grades.

The queue is computed per request from the benchmark's judgments and the labeler's labels
(one streamed pass over each). Both are bounded by what people graded, thousands of pairs,
not by the corpus; the decisions themselves are in annotate.services.review.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import cast

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from labeling.models import Judgment, Labeler, ModelLabel, Pair
from labeling.services.exports import CHUNK_SIZE

from .models import Adjudication, Benchmark, ReviewDecision, Skip, SpotCheck
from .selectors import AnnotatorAccuracy, annotator_accuracies, human_grade

CONSENSUS, ANY = "consensus", "any"  # the model disagrees with the people's median, or with anyone
MODES = (CONSENSUS, ANY)
PEOPLE = "people"  # annotators disagree among themselves, by SPREADS (no model involved)
CANT_JUDGE = "cant_judge"  # pairs an annotator said they cannot judge
SPOT = "spot"  # spot-checks: agreed pairs drawn for a second look
QUEUES = (*MODES, PEOPLE, CANT_JUDGE, SPOT)
Z95 = 1.959964  # the normal quantile of a 95% interval
NO_MAJORITY = "no_majority"
SPREADS = ("1", "2", "3", NO_MAJORITY)  # grades at least N apart, or no grade given by more than half
DEFAULT_SPREAD = "2"


@dataclass(frozen=True)
class Disagreement:
    pair_id: int
    human_grade: int | None  # the people's grade (annotate.selectors.human_grade); None: nobody graded it
    model_grade: int | None  # None in the people's queues
    expected_grade: float | None
    confidence: float  # the model's probability of its own grade (1 without a distribution)
    grades: tuple[tuple[int, int], ...]  # (annotator id, grade) of every judgment

    cant_judge: int = 0  # annotators who said they cannot judge it
    spot_check: bool = False  # drawn although its graders agreed (SpotCheck)

    @property
    def spread(self) -> int:
        values = [g for _, g in self.grades]
        return max(values) - min(values) if values else 0

    @property
    def priority(self) -> float:
        """A confident model far from the people first: |expected - median| x confidence; in the
        people's queue, the widest spread first."""
        if self.expected_grade is None or self.human_grade is None:
            return float(self.spread + self.cant_judge)
        return abs(self.expected_grade - self.human_grade) * self.confidence


def review_labelers(*, benchmark: Benchmark) -> QuerySet[Labeler]:
    """Labelers that graded pairs of the benchmark: students first, the newest first."""
    labeled = ModelLabel.objects.filter(labeler=OuterRef("pk"), pair__benchmark_items__benchmark=benchmark)
    return (Labeler.objects.filter(Exists(labeled))
            .alias(is_student=Q(role=Labeler.Role.STUDENT))
            .order_by("-is_student", "-created_at", "-id"))


def _confidence(distribution: list, grade: int) -> float:
    return float(distribution[grade]) if distribution and len(distribution) > grade else 1.0


def _undecided_pairs(*, benchmark: Benchmark, query: str = "", annotator=None) -> QuerySet[Pair]:
    """The benchmark's pairs no reviewer has decided; `query` (its external id, or words of its
    text) and `annotator` (pairs they graded) narrow them."""
    pairs = Pair.objects.filter(benchmark_items__benchmark=benchmark).exclude(adjudications__benchmark=benchmark)
    if query:
        pairs = pairs.filter(Q(query__external_id=query) | Q(query__text__icontains=query))
    if annotator is not None:
        pairs = pairs.filter(judgments__annotator=annotator)
    return pairs


def _grades_by_pair(pairs, exclude: frozenset[int]) -> Iterator[tuple[int, tuple[tuple[int, int], ...]]]:
    """(pair id, ((annotator id, grade), ...)) for each of `pairs` with judgments, in pair
    order, leaving out the judgments of `exclude` (annotator ids)."""
    judgments = (Judgment.objects.filter(pair__in=pairs).exclude(annotator_id__in=exclude)
                 .order_by("pair_id", "annotator_id")
                 .values_list("pair_id", "annotator_id", "grade").iterator(chunk_size=CHUNK_SIZE))
    for pair_id, rows in groupby(judgments, key=itemgetter(0)):
        yield pair_id, tuple((a, g) for _, a, g in rows)


def disagreements(*, benchmark: Benchmark, labeler: Labeler, mode: str = CONSENSUS, query: str = "",
                  grade: int | None = None, model_grade: int | None = None, annotator=None,
                  exclude: frozenset[int] = frozenset()) -> list[Disagreement]:
    """The pairs still to review, most telling first: judged pairs of the benchmark that no
    reviewer decided yet, where `labeler`'s grade differs from the people's median (mode
    "consensus") or from any one annotator's grade (mode "any"; with `annotator`, from theirs).

    Filters: `query` (its external id, or words of its text), `grade` (the people's median),
    `model_grade`, and `annotator` (pairs they graded); judgments of `exclude` (annotator ids:
    the gated ones, when the benchmark leaves them out) do not count.
    """
    if mode not in MODES:
        raise ValueError(f"mode is one of {MODES}, not {mode!r}")
    pairs = _undecided_pairs(benchmark=benchmark, query=query, annotator=annotator)
    labels = {
        pair_id: (g, e, d) for pair_id, g, e, d in ModelLabel.objects.filter(labeler=labeler, pair__in=pairs)
        .values_list("pair_id", "grade", "expected_grade", "distribution").iterator(chunk_size=CHUNK_SIZE)
    }
    found = []
    for pair_id, grades in _grades_by_pair(pairs, exclude):
        if pair_id not in labels:
            continue
        human = human_grade([g for _, g in grades])
        label_grade, expected, distribution = labels[pair_id]
        if mode == CONSENSUS:
            differs = label_grade != human
        else:
            differs = any(g != label_grade for a, g in grades if annotator is None or a == annotator.pk)
        if (not differs or (grade is not None and human != grade)
                or (model_grade is not None and label_grade != model_grade)):
            continue
        found.append(Disagreement(pair_id=pair_id, human_grade=human, model_grade=label_grade,
                                  expected_grade=float(expected), confidence=_confidence(distribution, label_grade),
                                  grades=grades))
    found.sort(key=lambda d: (-d.priority, d.pair_id))
    return found


def _spread_matches(grades: list[int], spread: str) -> bool:
    if spread == NO_MAJORITY:
        return max(grades.count(g) for g in set(grades)) * 2 <= len(grades)
    return max(grades) - min(grades) >= int(spread)


def people_disagreements(*, benchmark: Benchmark, spread: str = DEFAULT_SPREAD, query: str = "",
                         grade: int | None = None, annotator=None, exclude: frozenset[int] = frozenset()
                         ) -> list[Disagreement]:
    """Pairs not yet decided whose annotators disagree among themselves: grades at least
    `spread` apart ("1".."3"), or no grade given by more than half of them ("no_majority").
    Needs two judgments or more; no model is read. Widest spread first. Filters as in
    `disagreements` (`grade`: the people's median); judgments of `exclude` (annotator ids,
    the gated ones when the benchmark leaves them out) do not count."""
    if spread not in SPREADS:
        raise ValueError(f"spread is one of {SPREADS}, not {spread!r}")
    found = []
    for pair_id, grades in _grades_by_pair(_undecided_pairs(benchmark=benchmark, query=query, annotator=annotator),
                                           exclude):
        values = [g for _, g in grades]
        if len(values) < 2 or not _spread_matches(values, spread):
            continue
        human = human_grade(values)
        if grade is not None and human != grade:
            continue
        found.append(Disagreement(pair_id=pair_id, human_grade=human, model_grade=None, expected_grade=None,
                                  confidence=1.0, grades=grades))
    found.sort(key=lambda d: (-d.priority, d.pair_id))
    return found


def cant_judge_pairs(*, benchmark: Benchmark, query: str = "", exclude: frozenset[int] = frozenset()
                     ) -> list[Disagreement]:
    """Pairs not yet decided that an annotator said they cannot judge (Skip with a reason):
    for a reviewer to grade, or flag ambiguous. Those most annotators gave up on first."""
    skips = Skip.objects.filter(item__benchmark=benchmark).exclude(reason="").exclude(
        item__pair__adjudications__benchmark=benchmark)
    if query:
        skips = skips.filter(Q(item__pair__query__external_id=query) | Q(item__pair__query__text__icontains=query))
    counts = dict(skips.values_list("item__pair_id").annotate(n=Count("pk")).order_by())
    judgments = (Judgment.objects.filter(pair_id__in=list(counts)).exclude(annotator_id__in=exclude)
                 .order_by("pair_id", "annotator_id").values_list("pair_id", "annotator_id", "grade"))
    grades = {pair_id: tuple((a, g) for _, a, g in rows) for pair_id, rows in groupby(judgments, key=itemgetter(0))}
    found = []
    for pair_id, n in counts.items():
        given = grades.get(pair_id, ())
        found.append(Disagreement(pair_id=pair_id, human_grade=human_grade([g for _, g in given]) if given else None,
                                  model_grade=None, expected_grade=None, confidence=1.0, grades=given, cant_judge=n))
    found.sort(key=lambda d: (-d.cant_judge, d.pair_id))
    return found


def agreed_pairs(*, benchmark: Benchmark, labeler: Labeler | None, exclude: frozenset[int] = frozenset()
                 ) -> dict[int, int]:
    """pair id -> grade, for the benchmark's undecided pairs whose graders agree: `labeler`'s
    grade equals the people's median, or (labeler None) two or more annotators all gave the
    same grade. The population spot-checks are drawn from."""
    pairs = _undecided_pairs(benchmark=benchmark)
    labels = {}
    if labeler is not None:
        labels = dict(ModelLabel.objects.filter(labeler=labeler, pair__in=pairs).values_list("pair_id", "grade")
                      .iterator(chunk_size=CHUNK_SIZE))
    agreed = {}
    for pair_id, given in _grades_by_pair(pairs, exclude):
        grades = [g for _, g in given]
        if labeler is not None:
            if pair_id in labels and labels[pair_id] == human_grade(grades):
                agreed[pair_id] = labels[pair_id]
        elif len(grades) >= 2 and len(set(grades)) == 1:
            agreed[pair_id] = grades[0]
    return agreed


def spot_check_queue(*, benchmark: Benchmark, labeler: Labeler | None = None, any_source: bool = True,
                     exclude: frozenset[int] = frozenset()) -> list[Disagreement]:
    """Spot-checks drawn and not yet decided, oldest first: all of them (`any_source`), or
    those where `labeler` agreed (labeler None: where the people agreed)."""
    checks = SpotCheck.objects.filter(benchmark=benchmark, decision__isnull=True).exclude(
        pair__adjudications__benchmark=benchmark)
    if not any_source:
        checks = checks.filter(labeler=labeler)
    rows = list(checks.order_by("drawn_at", "id").values_list("pair_id", "labeler_id", "agreed_grade"))
    judgments = (Judgment.objects.filter(pair_id__in=[r[0] for r in rows]).exclude(annotator_id__in=exclude)
                 .order_by("pair_id", "annotator_id").values_list("pair_id", "annotator_id", "grade"))
    grades = {pair_id: tuple((a, g) for _, a, g in group) for pair_id, group in groupby(judgments, key=itemgetter(0))}
    labels = {(p, lab): (g, e) for p, lab, g, e in ModelLabel.objects.filter(
        pair_id__in=[r[0] for r in rows], labeler_id__in={r[1] for r in rows if r[1]})
        .values_list("pair_id", "labeler_id", "grade", "expected_grade")}
    found = []
    for pair_id, labeler_id, agreed in rows:
        given = grades.get(pair_id, ())
        model_grade, expected = labels.get((pair_id, labeler_id), (None, None)) if labeler_id else (None, None)
        found.append(Disagreement(
            pair_id=pair_id, human_grade=human_grade([g for _, g in given]) if given else agreed,
            model_grade=model_grade, expected_grade=float(expected) if expected is not None else None,
            confidence=1.0, grades=given, spot_check=True))
    return found


def wilson_interval(wrong: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (`wrong` may be a weighted count)."""
    if n <= 0:
        return 0.0, 1.0
    p = wrong / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def spot_check_estimates(*, benchmark: Benchmark) -> list[dict]:
    """Per source (a model, or the people), the estimated share of agreed pairs whose agreed
    grade is wrong, from the reviewers' verdicts on spot-checks: each grade stratum's share of
    wrong ones weighted by the stratum's size when drawn (so over-drawn small strata do not
    tilt it), with a 95% Wilson interval over the pairs checked."""
    rows = (SpotCheck.objects.filter(benchmark=benchmark).values_list("labeler__name", "agreed_grade", "stratum_size",
                                                                     "wrong"))
    sources: dict[str, dict[int, list[int]]] = {}
    for name, grade, size, verdict in rows:
        # size, drawn, checked, wrong
        tally = sources.setdefault(name or "people", {}).setdefault(grade, [size, 0, 0, 0])
        tally[0] = max(tally[0], size)
        tally[1] += 1
        if verdict is not None:
            tally[2] += 1
            tally[3] += bool(verdict)
    estimates = []
    for name, strata in sorted(sources.items()):
        checked = sum(t[2] for t in strata.values())
        drawn = sum(t[1] for t in strata.values())
        wrong = sum(t[3] for t in strata.values())
        population = sum(t[0] for t in strata.values() if t[2])
        rate = (sum(t[0] * t[3] / t[2] for t in strata.values() if t[2]) / population) if population else None
        low, high = wilson_interval(rate * checked, checked) if rate is not None else (None, None)
        estimates.append({"source": name, "drawn": drawn, "checked": checked, "wrong": wrong, "rate": rate,
                          "low": low, "high": high,
                          "by_grade": {g: {"size": t[0], "checked": t[2], "wrong": t[3]}
                                       for g, t in sorted(strata.items())}})
    return estimates


@dataclass(frozen=True)
class Evidence:
    """What the reviewer sees of one pair."""

    pair: Pair
    judgments: list[Judgment]  # with annotator, seconds and comment
    model: ModelLabel | None  # the reviewed labeler's label
    teachers: list[ModelLabel]  # every teacher's label of the pair
    cant_judge: list[Skip]  # who said they cannot judge it, why


def pair_evidence(*, pair_id: int, labeler: Labeler | None) -> Evidence:
    pair = Pair.objects.select_related("query", "document").get(pk=pair_id)
    reviewed = Q(labeler=labeler) if labeler is not None else Q(pk__in=[])
    labels = list(ModelLabel.objects.filter(pair=pair)
                  .filter(reviewed | Q(labeler__role=Labeler.Role.TEACHER))
                  .select_related("labeler").order_by("labeler__name"))
    return Evidence(
        pair=pair,
        judgments=list(Judgment.objects.filter(pair=pair).select_related("annotator").order_by("created_at", "id")),
        model=next((label for label in labels if labeler and label.labeler_id == labeler.pk), None),
        teachers=[label for label in labels if not labeler or label.labeler_id != labeler.pk],
        cant_judge=list(Skip.objects.filter(item__pair=pair).exclude(reason="").select_related("annotator")
                        .order_by("created_at", "id")),
    )


def review_log(*, benchmark: Benchmark) -> QuerySet[ReviewDecision]:
    """The benchmark's audit log, newest first."""
    return (ReviewDecision.objects.filter(benchmark=benchmark)
            .select_related("decided_by", "labeler", "pair__query", "pair__document").order_by("-decided_at", "-id"))


def review_counts(*, benchmark: Benchmark) -> dict[str, int]:
    return Adjudication.objects.filter(benchmark=benchmark).aggregate(
        decided=Count("pk"), ambiguous=Count("pk", filter=Q(ambiguous=True)))


def adjudicated_accuracy(*, benchmark: Benchmark) -> dict[int, AnnotatorAccuracy]:
    """annotator id -> how often their grade matched the reviewers' decision: the figure to
    coach (or retire) an annotator by. Pairs flagged ambiguous are left out."""
    rows = (
        Judgment.objects.filter(pair__adjudications__benchmark=benchmark, pair__adjudications__ambiguous=False)
        .values_list("annotator_id", "annotator__username", "grade", "pair__adjudications__grade")
    )
    # Not ambiguous: the decision has a grade (constraint adjudication_grade_or_ambiguous).
    return annotator_accuracies(cast(Iterator[tuple[int, str, int, int]], rows.iterator(chunk_size=CHUNK_SIZE)))
