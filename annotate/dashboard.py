"""The agreement dashboard of a benchmark (issue 4, item 5): its figures, computed in the
background (task annotate.dashboard_refresh) and kept in BenchmarkStats, so grading never pays
for them and the page reads one row.

Agreement is over every judged pair of the benchmark (regular, gold and calibration alike: a
grade is a grade); completion counts regular pairs only. "Consensus of the others" is the
median of the other annotators' grades on the same pair, ties to the lower grade (median_low,
as annotate.selectors' consensus).
"""

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import combinations
from statistics import median
from typing import Any

import krippendorff
import numpy as np
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from labeling.enqueue import Sending, task_enqueue
from labeling.grades import GRADES
from labeling.metrics import cohen_kappa
from labeling.models import Judgment, Query
from labeling.services.exports import CHUNK_SIZE

from .models import Benchmark, BenchmarkStats
from .review import adjudicated_accuracy, spot_check_estimates
from .selectors import cant_judge_reasons, gated_annotators, gold_accuracy, human_grade

DASHBOARD_REFRESH_TASK = "annotate.dashboard_refresh"
STALE_SECONDS = 60  # older figures are refreshed in the background when the page is opened
MIN_SHARED = 10  # annotator pairs with fewer shared pairs get no kappa
TOP_QUERIES = 20
N = len(GRADES)


def _number(value: float | None) -> float | None:
    """JSON has no NaN: undefined figures are None (shown as a dash)."""
    return None if value is None or math.isnan(value) else round(float(value), 4)


def _kappas(matrix: np.ndarray) -> tuple[float | None, float | None]:
    """Unweighted and quadratic Cohen's kappa of a 4x4 confusion matrix (rows = reference)."""
    cells = np.arange(N * N)
    counts = matrix.ravel()
    reference, predicted = np.repeat(cells // N, counts), np.repeat(cells % N, counts)
    return _number(cohen_kappa(reference, predicted)), _number(cohen_kappa(reference, predicted, "quadratic"))


def _alpha(value_counts: np.ndarray) -> float | None:
    """Krippendorff's alpha (ordinal) from a units x grades table of counts: the same figure as
    labeling.metrics.krippendorff_alpha over annotators x pairs with NaN for missing, without
    the dense annotators x pairs matrix."""
    counts = value_counts[value_counts.sum(1) >= 2]  # a unit with one grade pairs with nothing
    if not len(counts) or np.count_nonzero(counts.sum(0)) < 2:  # undefined when every grade is the same
        return None
    return _number(krippendorff.alpha(value_counts=counts, level_of_measurement="ordinal", value_domain=list(GRADES)))


def benchmark_dashboard_compute(*, benchmark: Benchmark) -> dict:
    """Every figure of the dashboard, JSON-ready. Reads the benchmark's judgments once
    (values_list, streamed), then the gold accuracy, the usernames and the worst queries' texts."""
    gated = gated_annotators(benchmark=benchmark)
    excluded = frozenset(g.annotator_id for g in gated) if benchmark.exclude_gated else frozenset()
    rows = (
        Judgment.objects.filter(pair__benchmark_items__benchmark=benchmark)
        .exclude(annotator_id__in=excluded)
        .values_list("pair_id", "pair__query_id", "annotator_id", "grade", "seconds",
                     "pair__benchmark_items__is_calibration", "pair__benchmark_items__gold_grade")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    by_pair: dict[int, dict[int, int]] = defaultdict(dict)  # pair -> annotator -> grade
    query_of: dict[int, int] = {}
    regular: set[int] = set()
    distribution = [0] * N
    seconds: dict[int, list[float]] = defaultdict(list)
    judged: Counter[int] = Counter()
    for pair_id, query_id, annotator_id, grade, secs, is_calibration, gold_grade in rows:
        by_pair[pair_id][annotator_id] = grade
        query_of[pair_id] = query_id
        if not is_calibration and gold_grade is None:
            regular.add(pair_id)
        distribution[grade] += 1
        judged[annotator_id] += 1
        if secs is not None:
            seconds[annotator_id].append(secs)

    required = benchmark.judgments_required
    pair_confusion: dict[tuple[int, int], np.ndarray] = defaultdict(lambda: np.zeros((N, N), dtype=np.int64))
    vs_others: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((N, N), dtype=np.int64))
    query_agree: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # agreeing rater pairs, rater pairs, pairs
    value_counts = np.zeros((len(by_pair), N), dtype=np.int64)
    complete = done = 0
    for unit, (pair_id, grades) in enumerate(by_pair.items()):
        for grade in grades.values():
            value_counts[unit, grade] += 1
        if pair_id in regular:
            complete += len(grades) >= required
            done += min(len(grades), required)
        if len(grades) < 2:
            continue
        tally = query_agree[query_of[pair_id]]
        tally[2] += 1
        for (a, ga), (b, gb) in combinations(sorted(grades.items()), 2):
            pair_confusion[a, b][ga, gb] += 1
            tally[0] += ga == gb
            tally[1] += 1
        for a, ga in grades.items():
            others = human_grade([g for b, g in grades.items() if b != a])
            vs_others[a][others, ga] += 1

    annotator_ids = sorted(judged)
    names = dict(get_user_model().objects.filter(pk__in=annotator_ids).values_list("pk", "username"))
    gold = {g.annotator_id: g for g in gold_accuracy(benchmark=benchmark)}
    reviewed = adjudicated_accuracy(benchmark=benchmark)

    annotators: list[dict[str, Any]] = []
    for a in annotator_ids:
        matrix = vs_others.get(a, np.zeros((N, N), dtype=np.int64))
        shared = int(matrix.sum())
        g = gold.get(a)
        r = reviewed.get(a)
        annotators.append({
            "id": a,
            "username": names.get(a, str(a)),
            "judgments": judged[a],
            "median_seconds": _number(median(seconds[a])) if seconds[a] else None,
            "shared": shared,
            "exact_vs_others": _number(np.trace(matrix) / shared) if shared else None,
            "quadratic_kappa_vs_others": _kappas(matrix)[1] if shared else None,
            "confusion_vs_others": matrix.tolist() if shared else None,
            "gold_graded": g.graded if g else 0,
            "gold_accuracy": _number(g.accuracy) if g and g.accuracy is not None else None,
            "gold_within_one": _number(g.within_one_rate) if g and g.within_one_rate is not None else None,
            # Against the reviewers' decisions (annotate.review): to coach or retire an annotator.
            "adjudicated_graded": r.graded if r else 0,
            "adjudicated_accuracy": _number(r.accuracy) if r else None,
            "gated": a in {g.annotator_id for g in gated},
        })
    annotators.sort(key=lambda r: r["username"])

    pairs = []
    for (a, b), matrix in pair_confusion.items():
        n = int(matrix.sum())
        if n < MIN_SHARED:
            continue
        kappa, quadratic = _kappas(matrix)
        pairs.append({"a": names.get(a, str(a)), "b": names.get(b, str(b)), "n": n,
                      "exact": _number(np.trace(matrix) / n), "kappa": kappa, "quadratic_kappa": quadratic,
                      "confusion": matrix.tolist()})
    pairs.sort(key=lambda p: (p["a"], p["b"]))

    by_query: list[dict[str, Any]] = [
        {"query_id": q, "agreement": _number(agree / total), "pairs": n_pairs}
        for q, (agree, total, n_pairs) in query_agree.items()
    ]
    queries = sorted(by_query, key=lambda r: (r["agreement"], -r["pairs"], r["query_id"]))[:TOP_QUERIES]
    texts = {q: (ext, text) for q, ext, text in Query.objects.filter(pk__in=[r["query_id"] for r in queries])
             .values_list("pk", "external_id", "text")}
    for row in queries:
        row["external_id"], row["text"] = texts.get(row["query_id"], ("", ""))

    total_pairs = benchmark.regular_count
    needed = total_pairs * required
    return {
        "completion": {
            "pairs_complete": complete, "pairs_total": total_pairs,
            "judgments_done": done, "judgments_needed": needed,
            "pairs_percent": round(100 * complete / total_pairs) if total_pairs else 0,
            "judgments_percent": round(100 * done / needed) if needed else 0,
        },
        "judgments": sum(distribution),
        "pairs_judged": len(by_pair),
        "alpha_ordinal": _alpha(value_counts),
        "distribution": distribution,
        "annotators": annotators,
        "pairs": pairs,
        "min_shared": MIN_SHARED,
        "queries": queries,
        # The gold gate: who it stops, and whether their judgments are left out of the figures above.
        "gate": {"threshold": benchmark.gold_min_accuracy, "min_items": benchmark.gold_min_items,
                 "measure": benchmark.gold_measure, "excluded": bool(excluded),
                 "gated": [{"username": g.username, "graded": g.graded, "right": g.right,
                            "accuracy": _number(g.accuracy)} for g in gated]},
        "cant_judge": cant_judge_reasons(benchmark=benchmark),
        "spot_checks": spot_check_estimates(benchmark=benchmark),
    }


# --- the cache ---------------------------------------------------------------------------------

def benchmark_stats_get(*, benchmark: Benchmark) -> BenchmarkStats | None:
    return BenchmarkStats.objects.filter(benchmark=benchmark).first()


def benchmark_stats_is_stale(*, stats: BenchmarkStats | None, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return stats is None or stats.computed_at < now - timedelta(seconds=STALE_SECONDS)


def benchmark_stats_refresh(*, benchmark_id: int) -> BenchmarkStats | None:
    """Compute the figures and store them (idempotent: the last run wins). None when the
    benchmark no longer exists."""
    benchmark = Benchmark.objects.filter(pk=benchmark_id).first()
    if benchmark is None:
        return None
    payload = benchmark_dashboard_compute(benchmark=benchmark)
    stats, _ = BenchmarkStats.objects.update_or_create(
        benchmark=benchmark, defaults={"payload": payload, "computed_at": timezone.now()}
    )
    return stats


def benchmark_stats_enqueue(*, benchmark: Benchmark, force: bool = False) -> Sending | None:
    """Ask the worker for fresh figures once the current transaction commits. Without `force`
    at most one request per benchmark per STALE_SECONDS (many open pages, one computation).
    None when none was asked for; else whether the queue took it (a failed request is not
    counted, so the next open page asks again)."""
    key = f"annotate:dashboard-refresh:{benchmark.pk}"
    if not force and not cache.add(key, 1, timeout=STALE_SECONDS):
        return None
    return task_enqueue(task=DASHBOARD_REFRESH_TASK, args=(benchmark.pk,), on_failure=lambda: cache.delete(key))
