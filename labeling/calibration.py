"""From a model's scores to grades: thresholds that reproduce a grade distribution, globally (a
trained student's) or per query, from a few teacher grades of that query's pairs (anchors).

A student's order within a query is worth more than its level across queries: on held-out DL19
queries its score ranks pairs like the teacher but drifts in level from query to query. So
"the student ranks, the teacher anchors": per query, anchors spread over the student's score
range are graded by the teacher; their grade shares are that query's grade distribution, and
the query's own score order is cut at those shares (benchmarks/results/dl19_distill.md has the
alternatives measured: random anchors, an ordinal model with a shared slope and a per-query
offset, nearest-anchor grades).

Pure functions over arrays: the labeling job (labeling.services.anchored) feeds them and stores what
they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike

from .grades import GRADES

N_GRADES = len(GRADES)


def grade_shares(grades: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """The share of each grade 0..3 among `grades` (weighted)."""
    counts = np.bincount(np.asarray(grades, dtype=int), weights=weights, minlength=N_GRADES)[:N_GRADES]
    total = counts.sum()
    return counts / total if total else np.full(N_GRADES, 1 / N_GRADES)


def share_thresholds(scores: ArrayLike, shares: ArrayLike) -> list[float]:
    """Thresholds on `scores` that cut their order at the cumulative `shares` of grades 0..3:
    the k-th lies between the scores just below and at the share of grades <= k."""
    ordered = np.sort(np.asarray(scores, dtype=float))
    if not len(ordered):
        raise ValueError("no scores to place thresholds among")
    cumulative = np.cumsum(np.asarray(shares, dtype=float))[:-1] / np.sum(shares)
    thresholds = []
    for share in cumulative:
        index = min(round(share * len(ordered)), len(ordered) - 1)
        if round(share * len(ordered)) >= len(ordered):  # no pair at or above this grade
            thresholds.append(float(ordered[-1] + 1.0))
            continue
        # Between two neighbouring scores, so the counts come out exact where scores are distinct.
        below = ordered[index - 1] if index > 0 else ordered[0] - 1.0
        thresholds.append(float((below + ordered[index]) / 2))
    return [float(t) for t in np.maximum.accumulate(thresholds)]


def grade_thresholds(expected: ArrayLike, teacher_grades: ArrayLike) -> list[float]:
    """Thresholds on the expected grade that give these pairs the teacher's grade distribution."""
    return share_thresholds(expected, grade_shares(teacher_grades))


def grades_from_thresholds(scores: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    return np.searchsorted(np.asarray(thresholds, dtype=float), np.asarray(scores, dtype=float), side="right")


def anchors_pick(scores: ArrayLike, k: int) -> list[int]:
    """k anchors stratified over the score range: the query's pairs in score order, cut into k
    strata of equal size, and the middle pair of each. Deterministic, so a resumed job picks the
    same anchors; each anchor stands for an equal share of the query (measured better than
    random anchors, which leave parts of the range unpinned)."""
    values = np.asarray(scores, dtype=float)
    k = min(k, len(values))
    if k <= 0:
        return []
    order = np.argsort(values, kind="stable")
    bounds = np.linspace(0, len(values), k + 1)
    return sorted(int(order[int((lo + hi) / 2)]) for lo, hi in pairwise(bounds))


def anchor_thresholds(scores: ArrayLike, anchor_grades: Sequence[int], prior_grades: ArrayLike | None = None,
                      prior_weight: float = 0.0) -> list[float]:
    """A query's thresholds: its pairs' scores cut at the anchors' grade shares (anchors picked by
    anchors_pick stand for equal strata, so they count equally). With a prior, `prior_weight`
    pseudo-anchors spread as `prior_grades` (the student's own grades of the query) join them,
    so a query with one or two anchors is not given one or two grades in all."""
    counts = grade_shares(anchor_grades) * len(anchor_grades)
    if prior_grades is not None and prior_weight > 0 and len(np.asarray(prior_grades)):
        counts = counts + prior_weight * grade_shares(prior_grades)
    return share_thresholds(scores, counts)


def deferrals_pick(scores: ArrayLike, thresholds: Sequence[float], n: int, exclude: Sequence[int] = ()) -> list[int]:
    """The n pairs whose grade is least certain: nearest a threshold in the query's rank order
    (a pair a few places from a cut could as well be on its other side). Ranks, not raw scores,
    so a query's crowded score range does not count for more."""
    values = np.asarray(scores, dtype=float)
    if n <= 0 or not len(values):
        return []
    ranks = (np.argsort(np.argsort(values, kind="stable"), kind="stable") + 0.5) / len(values)
    cut_ranks = np.searchsorted(np.sort(values), np.asarray(thresholds, dtype=float)) / len(values)
    distance = np.min(np.abs(ranks[:, None] - cut_ranks[None, :]), axis=1)
    distance[list(exclude)] = np.inf
    chosen = np.argsort(distance, kind="stable")[:n]
    return sorted(int(i) for i in chosen if np.isfinite(distance[i]))
