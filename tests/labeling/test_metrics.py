import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from labeling import metrics


def test_kappa_by_hand():
    # p_o = 3/4; p_e = (2*1 + 2*3) / 16 = 1/2; kappa = (3/4 - 1/2) / (1/2)
    assert metrics.cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)
    assert metrics.cohen_kappa([0, 1, 2, 3], [0, 1, 2, 3], "quadratic") == pytest.approx(1.0)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_scikit_learn(weights):
    rng = np.random.default_rng(7)
    reference = rng.integers(0, 4, 500)
    predicted = np.clip(reference + rng.integers(-1, 2, 500), 0, 3)
    ours = metrics.cohen_kappa(reference, predicted, weights)
    assert ours == pytest.approx(cohen_kappa_score(reference, predicted, weights=weights, labels=[0, 1, 2, 3]))


def test_confusion_matches_scikit_learn_and_keeps_absent_grades():
    reference, predicted = [0, 0, 1, 3, 3], [0, 1, 1, 2, 3]
    assert metrics.confusion(reference, predicted).tolist() == confusion_matrix(
        reference, predicted, labels=[0, 1, 2, 3]
    ).tolist()
    assert metrics.confusion([1], [1]).shape == (4, 4)


def test_ndcg_by_hand():
    # Ranked: gain 0, then 2, then 3. DCG = 2/log2(3) + 3/2; ideal = 3 + 2/log2(3).
    expected = (2 / math.log2(3) + 1.5) / (3 + 2 / math.log2(3))
    assert metrics.ndcg_at_k([3, 0, 2], [0.1, 0.9, 0.5]) == pytest.approx(expected)
    assert math.isnan(metrics.ndcg_at_k([0, 0], [1, 2]))  # no relevant document: undefined
    assert metrics.ndcg_at_k([1, 2, 3], [3, 2, 1], k=1) == pytest.approx(1 / 3)


def test_pairwise_accuracy_counts_ties_half():
    # (0,1): tie in score -> 0.5; (0,2) and (1,2) ordered right.
    assert metrics.pairwise_accuracy([2, 1, 0], [1, 1, 0]) == (2.5, 3)
    assert metrics.pairwise_accuracy([1, 1], [0, 1]) == (0.0, 0)  # equal human grades: not a pair


def test_krippendorff_alpha_handles_many_raters_and_missing_grades():
    nan = math.nan
    perfect = [[0, 1, 2, 3, nan], [0, 1, 2, 3, 2], [nan, 1, 2, 3, 2]]
    assert metrics.krippendorff_alpha(perfect) == pytest.approx(1.0)
    opposed = [[0, 3, 0, 3, 0, 3], [3, 0, 3, 0, 3, 0]]  # systematic disagreement: below chance
    assert metrics.krippendorff_alpha(opposed) < 0
    assert math.isnan(metrics.krippendorff_alpha([[1, 1], [1, 1]]))


def test_kendall_tau_between_system_rankings():
    assert metrics.kendall_tau([0.1, 0.2, 0.3], [0.1, 0.3, 0.2]) == pytest.approx(1 / 3)


def _read_grades(path):
    grades = {}
    for line in path.read_text().splitlines():
        qid, _, docid, grade = line.split()
        grades[qid, docid] = int(grade)
    return grades


@pytest.mark.parametrize(
    "run, figures",
    [
        ("run-llama3-70b-4prompts.txt",
         {"accuracy": 0.375, "kappa": 0.167, "quadratic_kappa": 0.461, "alpha_ordinal": 0.391}),
        ("run-flant5-large-4prompts.txt",
         {"accuracy": 0.479, "kappa": 0.227, "quadratic_kappa": 0.448, "alpha_ordinal": 0.452}),
    ],
)
def test_dl19_recorded_runs_reproduce_the_published_agreement(dl19_dir, run, figures):
    nist = _read_grades(dl19_dir / "qrels-nist.txt")
    judge = _read_grades(dl19_dir / run)
    keys = sorted(nist)
    report = metrics.agreement_report(
        query_ids=[qid for qid, _ in keys], reference=[nist[k] for k in keys], predicted=[judge[k] for k in keys]
    )
    assert report["n_pairs"] == 9260 and report["n_queries"] == 43
    for name, value in figures.items():
        assert report[name] == pytest.approx(value, abs=5e-4), name
    assert 0 < report["ndcg@10"] <= 1 and 0.5 < report["pairwise_accuracy"] <= 1
    assert np.sum(report["confusion"]) == 9260


def test_alpha_and_kappa_from_a_confusion_matrix_equal_the_pairwise_figures():
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 4, 500)
    predicted = np.clip(reference + rng.integers(-2, 3, 500), 0, 3)
    predicted[predicted == 2] = 1  # a grade never given
    matrix = metrics.confusion(reference, predicted)
    alpha = metrics.krippendorff_alpha([reference, predicted])
    assert metrics.alpha_ordinal_from_confusion(matrix)[0] == pytest.approx(alpha)
    kappa = metrics.cohen_kappa(reference, predicted, "quadratic")
    assert metrics.quadratic_kappa_from_confusion(matrix)[0] == pytest.approx(kappa)


def test_the_bootstrap_over_queries_brackets_the_figure_and_pairs_the_difference():
    rng = np.random.default_rng(4)
    query_ids = np.repeat(np.arange(30), 40)
    reference = rng.integers(0, 4, len(query_ids))
    good = np.where(rng.random(len(query_ids)) < 0.7, reference, rng.integers(0, 4, len(query_ids)))
    worse = np.where(rng.random(len(query_ids)) < 0.4, reference, rng.integers(0, 4, len(query_ids)))
    out = metrics.agreement_bootstrap(query_ids=query_ids, reference=reference,
                                      predicted={"good": good, "worse": worse}, base="good", resamples=500)
    for name, grades in (("good", good), ("worse", worse)):
        low, high = out[name]["alpha_ordinal_ci"]
        assert low < metrics.krippendorff_alpha([reference, grades]) < high
        low, high = out[name]["quadratic_kappa_ci"]
        assert low < metrics.cohen_kappa(reference, grades, "quadratic") < high
    low, high = out["worse"]["alpha_ordinal_diff_ci"]
    assert high < 0  # clearly worse, on the same resampled queries
    assert "alpha_ordinal_diff_ci" not in out["good"]
    again = metrics.agreement_bootstrap(query_ids=query_ids, reference=reference, predicted={"good": good},
                                        resamples=500)
    assert again["good"] == out["good"]  # seeded: the same intervals
