"""Agreement between graders: one module for the whole app.

Inputs are plain sequences (or arrays), so the same code scores a labeler against people, a person against
people, or two labelers. Grades are the integers 0..3 (labeling.grades).
"""

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import krippendorff
import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .grades import GRADES

N_GRADES = len(GRADES)
Level = Literal["nominal", "ordinal", "interval", "ratio"]  # krippendorff's levels of measurement


def confusion(reference: ArrayLike, predicted: ArrayLike) -> np.ndarray:
    """Counts, rows = reference grade, columns = predicted grade."""
    matrix = np.zeros((N_GRADES, N_GRADES), dtype=np.int64)
    np.add.at(matrix, (np.asarray(reference, dtype=int), np.asarray(predicted, dtype=int)), 1)
    return matrix


def accuracy(reference: ArrayLike, predicted: ArrayLike) -> float:
    ref, pred = np.asarray(reference), np.asarray(predicted)
    return float((ref == pred).mean()) if len(ref) else math.nan


def cohen_kappa(reference: ArrayLike, predicted: ArrayLike, weights: str | None = None) -> float:
    """Cohen's kappa; weights None (unweighted), "linear" or "quadratic"."""
    observed = confusion(reference, predicted).astype(float)
    total = observed.sum()
    if not total:
        return math.nan
    expected = np.outer(observed.sum(1), observed.sum(0)) / total
    i, j = np.indices(observed.shape)
    if weights is None:
        disagreement = (i != j).astype(float)
    elif weights == "linear":
        disagreement = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        disagreement = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"unknown weights {weights!r}")
    denominator = (disagreement * expected).sum()
    return float(1 - (disagreement * observed).sum() / denominator) if denominator else math.nan


def krippendorff_alpha(ratings: ArrayLike, level: Level = "ordinal") -> float:
    """Alpha over raters x units; missing grades are NaN (any number of raters per unit)."""
    data = np.asarray(ratings, dtype=float)
    if data.ndim != 2 or data.shape[1] == 0 or np.count_nonzero(~np.isnan(data)) < 2:
        return math.nan
    values = np.unique(data[~np.isnan(data)])
    if len(values) < 2:  # alpha is undefined when every grade is the same
        return math.nan
    return float(
        krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=list(GRADES))
    )


def ndcg_at_k(gains: ArrayLike, scores: ArrayLike, k: int = 10) -> float:
    """NDCG@k of one query: documents ranked by score, gains are the reference grades.

    Linear gains and log2 discounts (trec_eval's convention); ties in score keep input order.
    """
    gains = np.asarray(gains, dtype=float)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    discounts = 1 / np.log2(np.arange(2, k + 2))
    dcg = float((gains[order] * discounts[: len(order)]).sum())
    ideal = np.sort(gains)[::-1][:k]
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    return dcg / idcg if idcg else math.nan


def pairwise_accuracy(gains: ArrayLike, scores: ArrayLike) -> tuple[float, int]:
    """Over document pairs whose reference grades differ: the share the scores order the same
    way (a tie in score counts half). Returns (correct, number of pairs)."""
    gains, scores = np.asarray(gains, dtype=float), np.asarray(scores, dtype=float)
    dg = np.sign(gains[:, None] - gains[None, :])
    ds = np.sign(scores[:, None] - scores[None, :])
    mask = np.triu(dg != 0, k=1)
    n = int(mask.sum())
    correct = float(((dg == ds) & mask).sum() + 0.5 * ((ds == 0) & mask).sum())
    return correct, n


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two rankings of the same systems (e.g. by NDCG under two judges)."""
    return float(stats.kendalltau(x, y).statistic) if len(x) > 1 else math.nan


def agreement_report(
    *,
    query_ids: Sequence[Hashable],
    reference: ArrayLike,
    predicted: ArrayLike,
    expected: ArrayLike | None = None,
    k: int = 10,
) -> dict:
    """Every figure for a labeler against a reference (people's grades), pair by pair.

    `expected` is the labeler's expected grade, used to rank (NDCG, pairwise accuracy);
    without it the grade itself ranks.
    """
    reference = np.asarray(reference, dtype=int)
    predicted = np.asarray(predicted, dtype=int)
    scores = np.asarray(expected if expected is not None else predicted, dtype=float)
    by_query: Mapping[Hashable, list[int]] = defaultdict(list)
    for index, qid in enumerate(query_ids):
        by_query[qid].append(index)
    ndcgs, pair_correct, pair_total = [], 0.0, 0
    for indices in by_query.values():
        value = ndcg_at_k(reference[indices], scores[indices], k)
        if not math.isnan(value):
            ndcgs.append(value)
        correct, n = pairwise_accuracy(reference[indices], scores[indices])
        pair_correct, pair_total = pair_correct + correct, pair_total + n
    return {
        "n_pairs": len(reference),
        "n_queries": len(by_query),
        "accuracy": accuracy(reference, predicted),
        "kappa": cohen_kappa(reference, predicted),
        "linear_kappa": cohen_kappa(reference, predicted, "linear"),
        "quadratic_kappa": cohen_kappa(reference, predicted, "quadratic"),
        "alpha_ordinal": krippendorff_alpha([reference, predicted], "ordinal"),
        "alpha_interval": krippendorff_alpha([reference, predicted], "interval"),
        f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else math.nan,
        "pairwise_accuracy": pair_correct / pair_total if pair_total else math.nan,
        "confusion": confusion(reference, predicted).tolist(),
    }
