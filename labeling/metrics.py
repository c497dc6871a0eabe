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


def json_finite(value):
    """A report as strict JSON allows (PostgreSQL's jsonb refuses NaN): a figure undefined on
    these pairs (NaN, infinite) becomes null, in nested dicts and lists too."""
    if isinstance(value, dict):
        return {key: json_finite(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


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


# --- confidence intervals: a bootstrap over queries --------------------------------------------
#
# Pairs of one query are not independent (one assessor, one topic), so intervals resample
# queries, not pairs. Both figures are functions of the pooled confusion matrix, so each
# resample sums per-query matrices: a thousand resamples of thousands of pairs take milliseconds.


def _ordinal_distances(n_c: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric for grade counts n_c (batch x 4): batch x 4 x 4."""
    cumulative = np.concatenate([np.zeros((len(n_c), 1)), np.cumsum(n_c, axis=1)], axis=1)
    c, k = np.meshgrid(np.arange(N_GRADES), np.arange(N_GRADES), indexing="ij")
    low, high = np.minimum(c, k), np.maximum(c, k)
    return (cumulative[:, high + 1] - cumulative[:, low] - (n_c[:, c] + n_c[:, k]) / 2) ** 2


def alpha_ordinal_from_confusion(matrices: ArrayLike) -> np.ndarray:
    """Krippendorff's ordinal alpha of two graders who graded every unit, from their confusion
    matrices (batch x 4 x 4, or one 4 x 4): the same value as krippendorff_alpha on the pairs."""
    m = np.asarray(matrices, dtype=float).reshape(-1, N_GRADES, N_GRADES)
    coincidences = m + m.transpose(0, 2, 1)  # each unit gives both orderings of its two values
    n_c = coincidences.sum(axis=2)
    n = n_c.sum(axis=1)
    delta = _ordinal_distances(n_c)
    observed = (coincidences * delta).sum(axis=(1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2)) / np.maximum(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - observed / expected, np.nan)


def quadratic_kappa_from_confusion(matrices: ArrayLike) -> np.ndarray:
    m = np.asarray(matrices, dtype=float).reshape(-1, N_GRADES, N_GRADES)
    total = m.sum(axis=(1, 2))
    expected = m.sum(axis=2)[:, :, None] * m.sum(axis=1)[:, None, :] / np.maximum(total, 1)[:, None, None]
    i, j = np.indices((N_GRADES, N_GRADES))
    weights = (i - j) ** 2
    denominator = (weights * expected).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 1 - (weights * m).sum(axis=(1, 2)) / denominator, np.nan)


BOOTSTRAP_FIGURES = {"alpha_ordinal": alpha_ordinal_from_confusion, "quadratic_kappa": quadratic_kappa_from_confusion}


def agreement_bootstrap(*, query_ids: Sequence[Hashable], reference: ArrayLike, predicted: Mapping[str, ArrayLike],
                        base: str | None = None, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """95% intervals of alpha and quadratic kappa for each grader in `predicted`, from one set
    of query resamples shared by all, and with `base`, the intervals of each one's difference
    from it (paired: the same resampled queries): {name: {"alpha_ordinal_ci": [lo, hi], ...,
    "alpha_ordinal_diff_ci": [lo, hi], ...}}."""
    queries = sorted(set(query_ids), key=str)
    index = {q: i for i, q in enumerate(queries)}
    rows = np.array([index[q] for q in query_ids], dtype=int)
    ref = np.asarray(reference, dtype=int)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, len(queries), len(queries)), minlength=len(queries))
                       for _ in range(resamples)])  # resamples x queries
    tails = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    samples: dict[str, dict[str, np.ndarray]] = {}
    for name, grades in predicted.items():
        per_query = np.zeros((len(queries), N_GRADES * N_GRADES))
        np.add.at(per_query, (rows, ref * N_GRADES + np.asarray(grades, dtype=int)), 1)
        pooled = counts @ per_query
        samples[name] = {figure: fn(pooled) for figure, fn in BOOTSTRAP_FIGURES.items()}
    out: dict[str, dict[str, list[float]]] = {}
    for name, figures in samples.items():
        out[name] = {f"{figure}_ci": _interval(values, tails) for figure, values in figures.items()}
        if base is not None and name != base:
            for figure, values in figures.items():
                out[name][f"{figure}_diff_ci"] = _interval(values - samples[base][figure], tails)
    return out


def _interval(values: np.ndarray, tails: list[float]) -> list[float]:
    finite = values[np.isfinite(values)]
    return [float(x) for x in np.percentile(finite, tails)] if len(finite) else [math.nan, math.nan]
