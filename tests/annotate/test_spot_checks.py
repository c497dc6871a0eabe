"""Spot-checks: a share of the pairs whose graders agreed (the model and the people's median,
or every annotator), drawn per grade, shown in the review queue marked as such; the reviewers'
verdicts estimate how often agreed pairs are wrong, with a Wilson interval."""

import random

import pytest
from django.urls import reverse

from annotate.models import SpotCheck
from annotate.selectors.dashboard import benchmark_dashboard_compute
from annotate.selectors.review import agreed_pairs, spot_check_estimates, wilson_interval
from annotate.services.review import ReviewError, adjudication_decide, adjudication_undo, spot_checks_draw
from tests.factories import JudgmentFactory

from .conftest import make_annotators

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_wilson_interval_matches_its_formula():
    low, high = wilson_interval(2, 20)
    assert (round(low, 4), round(high, 4)) == (0.0279, 0.3010)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.django_db
def test_people_agreed_pairs_are_drawn_per_grade(bench_factory):
    bench = bench_factory(n=12, required=2, name="spot")
    people = make_annotators(2, benchmark=bench)
    items = list(bench.items.order_by("position"))
    # 8 agreed on 0, 2 agreed on 3, 2 disagree
    for i, item in enumerate(items):
        grades = [0, 0] if i < 8 else [3, 3] if i < 10 else [1, 2]
        for person, grade in zip(people, grades, strict=True):
            JudgmentFactory(pair=item.pair, annotator=person, grade=grade)
    agreed = agreed_pairs(benchmark=bench, labeler=None)
    assert sorted(agreed.values()) == [0] * 8 + [3] * 2
    drawn = spot_checks_draw(benchmark=bench, labeler=None, share=0.25, rng=random.Random(1))
    assert sorted(c.agreed_grade for c in drawn) == [0, 0, 3]  # round(0.25 x 8) = 2, at least 1 of 2
    assert {c.stratum_size for c in drawn if c.agreed_grade == 0} == {8}
    assert spot_checks_draw(benchmark=bench, labeler=None, share=0.25) == []  # the share is met already
    with pytest.raises(ReviewError):
        spot_checks_draw(benchmark=bench, labeler=None, share=2)


@pytest.mark.django_db
def test_verdicts_give_a_weighted_error_rate_and_an_undo_takes_a_verdict_back(review_setup):
    s = review_setup
    bench = s["benchmark"]
    # The student agrees with the median on "agree" (1) and "split" (2).
    assert agreed_pairs(benchmark=bench, labeler=s["student"]) == {s["pairs"]["agree"].id: 1, s["pairs"]["split"].id: 2}
    drawn = spot_checks_draw(benchmark=bench, labeler=s["student"], share=1.0, drawn_by=s["reviewer"])
    assert len(drawn) == 2
    adjudication_decide(benchmark=bench, pair_id=s["pairs"]["agree"].id, reviewer=s["reviewer"], action="keep_human")
    adjudication_decide(benchmark=bench, pair_id=s["pairs"]["split"].id, reviewer=s["reviewer"], action="set_grade",
                        grade=3)
    assert dict(SpotCheck.objects.values_list("pair_id", "wrong")) == {
        s["pairs"]["agree"].id: False, s["pairs"]["split"].id: True}
    (estimate,) = spot_check_estimates(benchmark=bench)
    assert (estimate["source"], estimate["checked"], estimate["wrong"], estimate["rate"]) == ("student-x", 2, 1, 0.5)
    assert 0 < estimate["low"] < 0.5 < estimate["high"] < 1
    adjudication_undo(benchmark=bench, reviewer=s["reviewer"])
    assert SpotCheck.objects.get(pair=s["pairs"]["split"]).wrong is None
    (estimate,) = spot_check_estimates(benchmark=bench)
    assert (estimate["checked"], estimate["rate"]) == (1, 0.0)
    assert benchmark_dashboard_compute(benchmark=bench)["spot_checks"][0]["checked"] == 1


@pytest.mark.django_db
def test_the_queue_marks_spot_checks_after_the_disagreements(client, review_setup):
    s = review_setup
    bench = s["benchmark"]
    client.force_login(s["reviewer"])
    url = reverse("annotate:review", args=[bench.name])
    client.post(reverse("annotate:review_spot_draw", args=[bench.name]), {"share": "1"})
    assert SpotCheck.objects.count() == 2
    page = client.get(url).content.decode()
    assert '<strong id="remaining">5</strong>' in page and 'id="spot-count">2<' in page
    assert 'id="spot-badge"' not in page  # the disagreements come first
    page = client.get(url + "?mode=spot").content.decode()
    assert 'id="spot-badge"' in page and '<strong id="remaining">2</strong>' in page
    assert client.post(reverse("annotate:review_spot_draw", args=[bench.name]), {"share": "x"}).status_code == 302
    assert SpotCheck.objects.count() == 2
