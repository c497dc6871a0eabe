"""Scores to grades: global thresholds, anchors stratified over a query's scores, per-query
thresholds from the anchors' grades, and the pairs deferred to the teacher."""

import numpy as np

from labeling.calibration import (
    anchor_thresholds,
    anchors_pick,
    deferrals_pick,
    grade_shares,
    grade_thresholds,
    grades_from_thresholds,
    share_thresholds,
)


def test_thresholds_reproduce_the_teacher_grade_distribution():
    rng = np.random.default_rng(0)
    teacher = rng.choice(4, size=1000, p=[0.2, 0.3, 0.4, 0.1])
    expected = rng.normal(size=1000)
    thresholds = grade_thresholds(expected, teacher)
    assert thresholds == sorted(thresholds)
    counts = np.bincount(grades_from_thresholds(expected, thresholds), minlength=4)
    np.testing.assert_array_equal(counts, np.bincount(teacher, minlength=4))


def test_a_grade_nobody_gave_is_given_to_no_pair():
    scores = np.arange(10.0)
    grades = grades_from_thresholds(scores, share_thresholds(scores, [0.5, 0.5, 0.0, 0.0]))
    assert grades.tolist() == [0] * 5 + [1] * 5


def test_anchors_are_one_per_stratum_of_the_score_order():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=200)
    anchors = anchors_pick(scores, 10)
    assert len(anchors) == len(set(anchors)) == 10
    ranks = np.argsort(np.argsort(scores))[anchors]
    # Each anchor's rank falls in its own tenth of the order.
    assert sorted(rank // 20 for rank in ranks) == list(range(10))
    assert anchors_pick(scores, 10) == anchors  # deterministic: a resumed job picks the same


def test_a_query_with_fewer_pairs_than_anchors_is_anchored_whole():
    assert anchors_pick([0.3, 0.1, 0.2], 10) == [0, 1, 2]
    assert anchors_pick([0.3, 0.1], 0) == []


def test_per_query_thresholds_give_the_anchors_grade_shares_in_the_student_order():
    scores = np.linspace(0, 1, 100)
    anchor_grades = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]  # in score order, as anchors_pick returns them
    grades = grades_from_thresholds(scores, anchor_thresholds(scores, anchor_grades))
    assert np.bincount(grades, minlength=4).tolist() == [40, 20, 20, 20]
    assert (np.diff(grades) >= 0).all()  # the student's order decides who gets which grade


def test_the_same_student_scores_on_two_query_scales():
    """One student score range, two queries: the anchors, not the score, set each one's level."""
    scores = np.linspace(0, 1, 50)
    low = grades_from_thresholds(scores, anchor_thresholds(scores, [0, 0, 0, 0, 1]))
    high = grades_from_thresholds(scores, anchor_thresholds(scores, [1, 2, 3, 3, 3]))
    assert low.mean() < 0.3 and high.mean() > 2.0


def test_a_prior_keeps_a_single_anchor_from_giving_the_query_one_grade():
    scores = np.linspace(0, 1, 40)
    own = [0] * 20 + [1] * 10 + [2] * 10  # the student's own grades of the query
    alone = grades_from_thresholds(scores, anchor_thresholds(scores, [1]))
    assert set(alone.tolist()) == {1}
    with_prior = grades_from_thresholds(scores, anchor_thresholds(scores, [1], prior_grades=own, prior_weight=2))
    # one anchor's 1 counts as much as two pseudo-anchors spread 50/25/25 over 0, 1, 2
    assert np.bincount(with_prior, minlength=4).tolist() == [13, 20, 7, 0]


def test_deferrals_are_the_pairs_nearest_a_cut_in_rank():
    scores = np.arange(100.0)
    thresholds = share_thresholds(scores, grade_shares([0] * 5 + [3] * 5))  # one cut, in the middle
    assert deferrals_pick(scores, thresholds, 4) == [48, 49, 50, 51]
    assert deferrals_pick(scores, thresholds, 3, exclude=[50]) == [48, 49, 51]  # 50 is an anchor
    assert deferrals_pick(scores, thresholds, 0) == []
