"""Reads for the human workflow."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from statistics import median_low
from typing import Any, cast

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, NullIf, Substr

from labeling.metrics import agreement_report
from labeling.models import Corpus, Judgment, Pair
from labeling.selectors import grades_by_pair
from labeling.services.exports import CHUNK_SIZE, ORDER, QrelRow

from .models import Adjudication, AnnotatorPreference, Benchmark, BenchmarkItem, Lease, Membership, Skip

RECENT_EDITABLE = 10  # an annotator's last grades that stay editable (undo and re-grade)
RECENT_TEXT_LIMIT = 300  # characters of a query read for the recent list


def human_grade(grades: Sequence[int]) -> int:
    """The people's grade of a pair: the median, ties between the two middle grades going to the
    lower one (median_low): conservative, a pair counts as relevant only if half the judges say
    at least that much, and the result is always a grade someone actually gave."""
    return median_low(grades)


def _human_medians(benchmark: Benchmark, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[int, str, str, int, int]]:
    """(pair id, qid, docid, the people's grade, number of judgments) per judged pair, streamed.
    Pairs without judgments are skipped.
    """
    judgments = (
        Judgment.objects.filter(pair__benchmark_items__benchmark=benchmark)
        .exclude(annotator_id__in=benchmark_excluded_annotators(benchmark=benchmark))
        .order_by(*ORDER)
        .values_list("pair_id", "pair__query__external_id", "pair__document__external_id", "grade")
        .iterator(chunk_size=chunk_size)
    )
    for pair_id, group in groupby(judgments, key=itemgetter(0)):
        rows = list(group)  # one pair's judgments: a handful
        grades = [grade for *_, grade in rows]
        yield pair_id, rows[0][1], rows[0][2], human_grade(grades), len(grades)


def benchmark_adjudications(*, benchmark: Benchmark) -> dict[int, int | None]:
    """pair id -> the reviewed grade, None for a pair flagged ambiguous (reviewers decide a few
    thousand pairs at most: one dict)."""
    return dict(Adjudication.objects.filter(benchmark=benchmark).values_list("pair_id", "grade"))


def _consensus(benchmark: Benchmark, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[int, str, str, int, int]]:
    """The pair's consensus: a reviewer's adjudicated grade first, else the people's median;
    a pair flagged ambiguous has none (it leaves scoring and training). The one definition of
    "the human grade": exports, agreement and distillation all read it through the two
    selectors below."""
    adjudicated = benchmark_adjudications(benchmark=benchmark)
    seen = set()
    for pair_id, qid, docid, grade, n in _human_medians(benchmark, chunk_size):
        seen.add(pair_id)
        if pair_id in adjudicated:
            decided = adjudicated[pair_id]
            if decided is None:
                continue
            grade = decided
        yield pair_id, qid, docid, grade, n
    # A pair nobody could judge ("can't judge") that a reviewer graded: the reviewer's grade.
    unjudged = [p for p, g in adjudicated.items() if g is not None and p not in seen]
    rows = (Pair.objects.filter(pk__in=unjudged).order_by("query__external_id", "document__external_id")
            .values_list("pk", "query__external_id", "document__external_id"))
    for pair_id, qid, docid in rows:
        yield pair_id, qid, docid, cast(int, adjudicated[pair_id]), 0


def benchmark_consensus_rows(*, benchmark: Benchmark, chunk_size: int = CHUNK_SIZE) -> Iterator[QrelRow]:
    """Each judged benchmark pair's consensus grade and its number of judgments, for export."""
    for _, qid, docid, grade, n in _consensus(benchmark, chunk_size):
        yield {"qid": qid, "docid": docid, "grade": grade, "judgments": n}


def benchmark_consensus_grades(*, benchmark: Benchmark) -> dict[int, int]:
    """pair id -> consensus grade: "the human grade" for evaluation and training."""
    return {pair_id: grade for pair_id, _, _, grade, _ in _consensus(benchmark)}


def pair_human_grade(*, pair_id: int) -> int | None:
    """The people's median grade of one pair, before any review (None when nobody graded it)."""
    grades = list(Judgment.objects.filter(pair_id=pair_id).values_list("grade", flat=True))
    return human_grade(grades) if grades else None


# --- who sees what ---------------------------------------------------------------------------

def user_sees_all_benchmarks(*, user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("annotate.view_all_benchmarks"))


def benchmarks_visible_to(*, user) -> QuerySet[Benchmark]:
    """Every benchmark for admins and reviewers; an annotator's own benchmarks otherwise."""
    if not user.is_authenticated or not user.is_active:
        return Benchmark.objects.none()
    if user_sees_all_benchmarks(user=user):
        return Benchmark.objects.all()
    return Benchmark.objects.filter(memberships__user=user)


def benchmark_visible_get(*, user, name: str) -> Benchmark:
    """The benchmark if `user` may see it; Benchmark.DoesNotExist otherwise (a benchmark one
    does not belong to is indistinguishable from one that does not exist)."""
    return benchmarks_visible_to(user=user).get(name=name)


def user_can_grade(*, user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("annotate.grade_benchmark"))


def user_sees_corpora(*, user) -> bool:
    """Admins and reviewers (who may read any document); not annotators, nor users without a role."""
    return user.is_authenticated and user.is_active and (user.is_superuser or user.has_perm("labeling.view_document"))


def corpora_visible_to(*, user) -> QuerySet[Corpus]:
    return Corpus.objects.all() if user_sees_corpora(user=user) else Corpus.objects.none()


# --- the queue -------------------------------------------------------------------------------

def _judged_by(annotator) -> Exists:
    return Exists(Judgment.objects.filter(pair_id=OuterRef("pair_id"), annotator=annotator))


def _skipped_by(annotator) -> Exists:
    return Exists(Skip.objects.filter(item_id=OuterRef("pk"), annotator=annotator))


def queue_candidates_sql(*, benchmark: Benchmark, annotator_id: int, now: datetime, skipped: bool = False,
                         exclude: Sequence[int] = (), limit: int = 1, lock: bool = False) -> tuple[str, list]:
    """The queue's scan, as SQL and parameters (one text for PostgreSQL and SQLite): regular
    items the annotator may take next, in serving order. Short of the required judgments once
    live leases are counted, not judged by the annotator, and (unless `skipped`) not skipped by
    them; `skipped=True` gives only their skipped ones, for when nothing else is left.

    Most judgments first, so pairs in progress complete before new ones start, then by
    position: the order and the kind filter of the partial index benchmarkitem_queue, so the
    scan reads the index in order and stops at the first row that qualifies (no sort, no count
    over the benchmark). Per row reached, three index probes: the judgment's unique (pair,
    annotator), the skip's and the lease's unique (item, annotator). `lock` adds FOR UPDATE
    SKIP LOCKED where the database has it; the caller re-checks the row it locked.

    Hand-written because this is the hot path: the same query through the ORM costs several
    milliseconds of Python to build on every request.
    """
    q = connection.ops.quote_name
    item, judgment, skip, lease = (q(m._meta.db_table) for m in (BenchmarkItem, Judgment, Skip, Lease))
    # A concrete field always has a column (the stubs allow None for the others).
    columns = ", ".join(f"i.{q(cast(str, f.column))}" for f in BenchmarkItem._meta.concrete_fields)
    # A skip with a reason ("can't judge") never comes back, not even when nothing else is left;
    # (item, annotator) is unique, so the skipped scan needs only look at plain skips.
    plain = f" AND s.{q('reason')} = ''" if skipped else ""
    excluded = f" AND i.{q('id')} NOT IN ({', '.join(['%s'] * len(exclude))})" if exclude else ""
    sql = (
        f"SELECT {columns} FROM {item} i"
        f" WHERE i.{q('benchmark_id')} = %s AND i.{q('gold_grade')} IS NULL AND NOT i.{q('is_calibration')}"
        f" AND i.{q('judgment_count')} < %s"
        f" AND NOT EXISTS (SELECT 1 FROM {judgment} j WHERE j.{q('pair_id')} = i.{q('pair_id')}"
        f" AND j.{q('annotator_id')} = %s)"
        f" AND {'' if skipped else 'NOT '}EXISTS (SELECT 1 FROM {skip} s WHERE s.{q('item_id')} = i.{q('id')}"
        f" AND s.{q('annotator_id')} = %s{plain})"
        f" AND i.{q('judgment_count')} + (SELECT COUNT(*) FROM {lease} l WHERE l.{q('item_id')} = i.{q('id')}"
        f" AND l.{q('expires_at')} > %s AND l.{q('annotator_id')} <> %s) < %s"
        f"{excluded}"
        f" ORDER BY i.{q('judgment_count')} DESC, i.{q('position')}, i.{q('id')}"
        f" LIMIT {int(limit)}"
    )
    if lock and connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF i SKIP LOCKED"
    required = benchmark.judgments_required
    at = connection.ops.adapt_datetimefield_value(now)
    params = [benchmark.pk, required, annotator_id, annotator_id, at, annotator_id, required, *exclude]
    return sql, params


def queue_candidates(*, benchmark: Benchmark, annotator, now: datetime, skipped: bool = False,
                     exclude: Sequence[int] = (), limit: int = 1, lock: bool = False) -> list[BenchmarkItem]:
    """The first `limit` items of the queue's scan (queue_candidates_sql)."""
    sql, params = queue_candidates_sql(benchmark=benchmark, annotator_id=annotator.pk, now=now, skipped=skipped,
                                       exclude=exclude, limit=limit, lock=lock)
    return list(BenchmarkItem.objects.raw(sql, params))


def special_candidates(*, benchmark: Benchmark, annotator, kind: str) -> QuerySet[BenchmarkItem]:
    """Calibration or gold items `annotator` has not graded, in position order. Every annotator
    grades each of them once, so they have no cap and need no lock. A skipped gold pair is not
    offered again; a skipped calibration pair comes back after the others (calibration is
    not optional)."""
    cant_judge = Exists(Skip.objects.filter(item_id=OuterRef("pk"), annotator=annotator).exclude(reason=""))
    items = BenchmarkItem.objects.filter(benchmark=benchmark).filter(~_judged_by(annotator), ~cant_judge)
    if kind == BenchmarkItem.Kind.CALIBRATION:
        return (items.filter(is_calibration=True).alias(skipped=_skipped_by(annotator))
                .order_by("skipped", "position", "id"))
    if kind == BenchmarkItem.Kind.GOLD:
        return (items.filter(~_skipped_by(annotator), is_calibration=False, gold_grade__isnull=False)
                .order_by("position", "id"))
    raise ValueError(f"not a special kind: {kind!r}")


# --- what an annotator sees of their own work ------------------------------------------------

def judgments_recent(*, benchmark: Benchmark, annotator, limit: int = RECENT_EDITABLE) -> QuerySet[Judgment]:
    """The annotator's latest grades in this benchmark, newest first: read from their index on
    (annotator, -updated_at), stopped after `limit` (no sort of all their judgments)."""
    in_benchmark = BenchmarkItem.objects.filter(benchmark=benchmark, pair_id=OuterRef("pair_id"))
    return Judgment.objects.filter(annotator=annotator).filter(Exists(in_benchmark)).order_by("-updated_at")[:limit]


def grades_recent(*, benchmark: Benchmark, annotator) -> list[Mapping[str, Any]]:
    """The grading page's list of judgments_recent: id, grade, query text (its start: a query
    may be huge) and document title per row, as plain values (every grading request renders it:
    no model instances)."""
    return list(judgments_recent(benchmark=benchmark, annotator=annotator).values(
        "id", "grade", query=Substr(F("pair__query__text"), 1, RECENT_TEXT_LIMIT),
        title=Coalesce(NullIf(F("pair__document__title"), Value("")), F("pair__document__external_id")),
    ))


@dataclass(frozen=True)
class Progress:
    mine: int  # my judgments in this benchmark (every kind)
    mine_total: int  # pairs I could grade here
    done: int  # judgments toward the benchmark's required ones (regular items)
    total: int  # regular items x judgments required
    cant_judge: int = 0  # pairs I said I cannot judge (counted apart from my judgments)

    @staticmethod
    def _percent(part: int, whole: int) -> int:
        return min(100, round(100 * part / whole)) if whole else 0

    @property
    def mine_percent(self) -> int:
        return self._percent(self.mine, self.mine_total)

    @property
    def percent(self) -> int:
        return self._percent(self.done, self.total)


def progress_get(*, benchmark: Benchmark, annotator) -> Progress:
    """Both progress bars from counters: the members' rows (tens) and the benchmark's counts;
    nothing here reads the items or the judgments. One query: every page load asks."""
    counts = Membership.objects.filter(benchmark=benchmark).aggregate(
        done=Sum("judged_regular"),
        mine=Sum(F("judged_regular") + F("judged_gold") + F("judged_calibration"), filter=Q(user=annotator)),
    )
    done = counts["done"] or 0
    total = benchmark.regular_count * benchmark.judgments_required
    return Progress(
        mine=counts["mine"] or 0,
        mine_total=benchmark.regular_count + benchmark.gold_count + benchmark.calibration_count,
        done=min(done, total),
        total=total,
        cant_judge=cant_judge_count(benchmark=benchmark, annotator=annotator),
    )


def cant_judge_count(*, benchmark: Benchmark, annotator) -> int:
    """Pairs of the benchmark `annotator` said they cannot judge (from their skips: a few)."""
    return Skip.objects.filter(annotator=annotator, item__benchmark=benchmark).exclude(reason="").count()


def cant_judge_reasons(*, benchmark: Benchmark) -> dict[str, int]:
    """reason -> "can't judge" answers in the benchmark (for the dashboard)."""
    rows = (Skip.objects.filter(item__benchmark=benchmark).exclude(reason="").values_list("reason")
            .annotate(n=Count("pk")).order_by("reason"))
    return dict(rows)


# --- for the admin's dashboard ---------------------------------------------------------------

@dataclass(frozen=True)
class AnnotatorAccuracy:
    """An annotator's grades against reference grades: the gold grades, or reviewers' decisions."""

    annotator_id: int
    username: str
    graded: int  # pairs graded that have a reference grade
    exact: int  # graded exactly as the reference
    within_one: int  # at most one grade away

    @property
    def accuracy(self) -> float | None:
        return self.exact / self.graded if self.graded else None

    @property
    def within_one_rate(self) -> float | None:
        return self.within_one / self.graded if self.graded else None


def annotator_accuracies(rows: Iterable[tuple[int, str, int, int]]) -> dict[int, AnnotatorAccuracy]:
    """annotator id -> their accuracy, from (annotator id, username, grade, reference grade) rows."""
    tallies: dict[int, list] = {}
    for annotator_id, username, grade, reference in rows:
        tally = tallies.setdefault(annotator_id, [username, 0, 0, 0])
        tally[1] += 1
        tally[2] += grade == reference
        tally[3] += abs(grade - reference) <= 1
    return {a: AnnotatorAccuracy(annotator_id=a, username=u, graded=n, exact=e, within_one=w)
            for a, (u, n, e, w) in tallies.items()}


def gold_accuracy(*, benchmark: Benchmark, annotator=None) -> list[AnnotatorAccuracy]:
    """Each annotator's accuracy on the benchmark's gold pairs (calibration pairs excluded),
    by username; only `annotator`'s, if given. Reads only gold items' judgments: a small set."""
    gold = BenchmarkItem.objects.filter(
        benchmark=benchmark, is_calibration=False, gold_grade__isnull=False, pair_id=OuterRef("pair_id")
    ).values("gold_grade")[:1]
    rows = (
        Judgment.objects.filter(
            pair__benchmark_items__benchmark=benchmark,
            pair__benchmark_items__is_calibration=False,
            pair__benchmark_items__gold_grade__isnull=False,
        )
        .annotate(gold=Subquery(gold))
        .values_list("annotator_id", "annotator__username", "grade", "gold")
    )
    if annotator is not None:
        rows = rows.filter(annotator=annotator)
    accuracies = annotator_accuracies(rows.iterator(chunk_size=CHUNK_SIZE))
    return sorted(accuracies.values(), key=lambda g: g.username)


# --- a labeler against a benchmark's people, by prompt version ----------------------------------

def labeler_agreement_rows(*, labeler, benchmark: Benchmark, prompt_versions: Sequence[str]) -> list[dict]:
    """Per prompt version, the labeler's agreement with the benchmark's consensus grades on the
    pairs it labeled with that version (figures only where there are two pairs or more)."""
    consensus = benchmark_consensus_grades(benchmark=benchmark)
    rows = []
    for version in prompt_versions:
        predicted = grades_by_pair(labeler=labeler, scope={"benchmark_items__benchmark": benchmark.id},
                                   prompt_version=version)
        common = sorted(consensus.keys() & predicted.keys())
        report = None
        if len(common) >= 2:
            report = agreement_report(query_ids=[predicted[p][0] for p in common],
                                      reference=[consensus[p] for p in common],
                                      predicted=[predicted[p][1] for p in common],
                                      expected=[predicted[p][2] for p in common])
        rows.append({"prompt_version": version, "pairs": len(common), "report": report})
    return rows

# --- the gold gate ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    """Why an annotator gets no more regular pairs: their gold accuracy is below the benchmark's
    minimum, over at least its minimum number of gold pairs."""

    annotator_id: int
    username: str
    graded: int
    right: int  # gold pairs graded right, by the benchmark's measure
    threshold: float
    measure: str  # Benchmark.GoldMeasure

    @property
    def accuracy(self) -> float:
        return self.right / self.graded

    @property
    def reason(self) -> str:
        how = "exactly right" if self.measure == Benchmark.GoldMeasure.EXACT else "right within one grade"
        return (f"You graded {self.right} of {self.graded} gold pairs {how} ({self.accuracy:.0%}); this benchmark "
                f"asks for at least {self.threshold:.0%}, so it gives you no more pairs for now. An admin has been "
                "shown this: ask them about the guidelines.")


def _gate(benchmark: Benchmark, accuracy: AnnotatorAccuracy) -> Gate | None:
    threshold = benchmark.gold_min_accuracy
    if threshold is None or accuracy.graded < max(1, benchmark.gold_min_items):
        return None
    right = accuracy.exact if benchmark.gold_measure == Benchmark.GoldMeasure.EXACT else accuracy.within_one
    if right / accuracy.graded >= threshold:
        return None
    return Gate(annotator_id=accuracy.annotator_id, username=accuracy.username, graded=accuracy.graded, right=right,
                threshold=threshold, measure=benchmark.gold_measure)


def annotator_gate(*, benchmark: Benchmark, annotator) -> Gate | None:
    """The gate that stops `annotator` in `benchmark`, or None (no gate, or they pass it)."""
    if benchmark.gold_min_accuracy is None:
        return None
    found = gold_accuracy(benchmark=benchmark, annotator=annotator)
    return _gate(benchmark, found[0]) if found else None


def gated_annotators(*, benchmark: Benchmark) -> list[Gate]:
    """Every annotator the gate stops in `benchmark`, by username (for admins)."""
    if benchmark.gold_min_accuracy is None:
        return []
    gates = (_gate(benchmark, a) for a in gold_accuracy(benchmark=benchmark))
    return [g for g in gates if g is not None]


def benchmark_excluded_annotators(*, benchmark: Benchmark) -> frozenset[int]:
    """Annotators whose judgments the consensus and agreement leave out: the gated ones, when
    the benchmark's exclude_gated switch is on."""
    if not benchmark.exclude_gated:
        return frozenset()
    return frozenset(g.annotator_id for g in gated_annotators(benchmark=benchmark))


def highlight_preference(*, user) -> bool:
    """Whether `user` has the query's terms marked in documents (on unless they turned it off)."""
    found = AnnotatorPreference.objects.filter(user=user).values_list("highlight_terms", flat=True).first()
    return True if found is None else found
