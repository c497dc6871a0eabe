"""The gold gate: below the benchmark's minimum gold accuracy (over its minimum of gold pairs)
an annotator gets no regular pairs and is told why; admins see them on the dashboard, and one
switch leaves their judgments out of the consensus and the agreement figures. Calibration
feedback: after a calibration pair the annotator sees its expected grade and note."""

import pytest
from django.urls import reverse

from annotate.models import BenchmarkItem
from annotate.roles import ADMIN, REVIEWER, user_role_set
from annotate.selectors import annotator_gate, benchmark_consensus_grades, gated_annotators
from annotate.selectors.dashboard import benchmark_dashboard_compute
from annotate.services import benchmark_exclude_gated_set, pair_next_for_annotator
from tests.factories import JudgmentFactory, UserFactory

from .conftest import T0, make_annotators

HTMX = {"HTTP_HX_REQUEST": "true"}


def gated_bench(bench_factory, *, measure="exact"):
    bench = bench_factory(n=3, required=2, gold={0: 0, 1: 1, 2: 3}, gold_rate=0.0, name="gated")
    bench.gold_min_accuracy, bench.gold_min_items, bench.gold_measure = 0.6, 3, measure
    bench.save()
    return bench


def grade_gold(bench, person, grades):
    for item, grade in zip(bench.items.filter(gold_grade__isnull=False).order_by("position"), grades, strict=True):
        JudgmentFactory(pair=item.pair, annotator=person, grade=grade)
    bench.memberships.filter(user=person).update(judged_gold=len(grades))


@pytest.mark.django_db
def test_below_the_gate_no_regular_pair_is_served(bench_factory):
    bench = gated_bench(bench_factory)
    good, bad = make_annotators(2, benchmark=bench)
    grade_gold(bench, good, [0, 1, 2])  # 2 of 3 exact: 0.67 >= 0.6
    grade_gold(bench, bad, [1, 2, 2])  # 0 of 3 exact, all within one
    assert annotator_gate(benchmark=bench, annotator=good) is None
    gate = annotator_gate(benchmark=bench, annotator=bad)
    assert (gate.graded, gate.right) == (3, 0) and "0 of 3" in gate.reason and "60%" in gate.reason
    assert pair_next_for_annotator(benchmark=bench, annotator=bad, now=T0) is None
    assert pair_next_for_annotator(benchmark=bench, annotator=good, now=T0) is not None
    assert [g.username for g in gated_annotators(benchmark=bench)] == ["ann1"]
    # Within one grade, the same grades pass.
    bench.gold_measure = "within_one"
    bench.save()
    assert annotator_gate(benchmark=bench, annotator=bad) is None
    assert pair_next_for_annotator(benchmark=bench, annotator=bad, now=T0) is not None


@pytest.mark.django_db
def test_the_gate_waits_for_the_minimum_of_gold_pairs(bench_factory):
    bench = gated_bench(bench_factory)
    (person,) = make_annotators(1, benchmark=bench)
    items = list(bench.items.filter(gold_grade__isnull=False).order_by("position"))
    JudgmentFactory(pair=items[0].pair, annotator=person, grade=3)  # wrong, but one of three
    bench.memberships.filter(user=person).update(judged_gold=1)
    assert annotator_gate(benchmark=bench, annotator=person) is None
    assert pair_next_for_annotator(benchmark=bench, annotator=person, now=T0) is not None


@pytest.mark.django_db
def test_the_grading_page_tells_why_and_admins_see_and_exclude(client, bench_factory):
    bench = gated_bench(bench_factory)
    good, other, bad = make_annotators(3, benchmark=bench)
    grade_gold(bench, good, [0, 1, 3])
    grade_gold(bench, other, [0, 1, 3])
    grade_gold(bench, bad, [3, 3, 0])
    regular = bench.items.filter(gold_grade__isnull=True).order_by("position").first()
    for person, grade in ((good, 1), (other, 1), (bad, 3)):
        JudgmentFactory(pair=regular.pair, annotator=person, grade=grade)
    client.force_login(bad)
    page = client.get(reverse("annotate:grade", args=[bench.name])).content.decode()
    assert 'id="gate-reason"' in page and "0 of 3 gold pairs" in page

    figures = benchmark_dashboard_compute(benchmark=bench)
    assert [g["username"] for g in figures["gate"]["gated"]] == ["ann2"] and not figures["gate"]["excluded"]
    assert figures["judgments"] == 12
    # The median of 1, 1, 3 is 1 either way; grades from 0, 3 (bad) only would move it.
    reviewer = UserFactory(username="rev")
    user_role_set(user=reviewer, role=REVIEWER)
    client.force_login(reviewer)
    assert client.post(reverse("annotate:agreement", args=[bench.name]), {"exclude_gated": "1"}).status_code == 403
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    response = client.post(reverse("annotate:agreement", args=[bench.name]), {"exclude_gated": "1"}, follow=True)
    page = response.content.decode()
    assert "left out" in page and "gated</span>" not in page.split('id="gate-panel"')[0]
    bench.refresh_from_db()
    assert bench.exclude_gated
    figures = benchmark_dashboard_compute(benchmark=bench)
    assert figures["judgments"] == 8 and figures["gate"]["excluded"]
    assert "ann2" not in [a["username"] for a in figures["annotators"]]


@pytest.mark.django_db
def test_the_switch_takes_gated_judgments_out_of_the_consensus(bench_factory):
    bench = gated_bench(bench_factory)
    good, bad, worse = make_annotators(3, benchmark=bench)
    grade_gold(bench, good, [0, 1, 3])
    grade_gold(bench, bad, [3, 3, 0])
    grade_gold(bench, worse, [3, 3, 0])
    regular = bench.items.filter(gold_grade__isnull=True).order_by("position").first()
    for person, grade in ((good, 2), (bad, 0), (worse, 0)):
        JudgmentFactory(pair=regular.pair, annotator=person, grade=grade)
    assert benchmark_consensus_grades(benchmark=bench)[regular.pair_id] == 0
    benchmark_exclude_gated_set(benchmark=bench, exclude=True)
    assert benchmark_consensus_grades(benchmark=bench)[regular.pair_id] == 2


@pytest.mark.django_db
def test_after_a_calibration_pair_the_expected_grade_and_note_are_shown(client, bench_factory):
    bench = bench_factory(n=2, required=1, calibration=1, name="calib")
    item = bench.items.get(is_calibration=True)
    BenchmarkItem.objects.filter(pk=item.pk).update(gold_grade=2, note="It answers half the question.")
    (person,) = make_annotators(1, benchmark=bench)
    client.force_login(person)
    leased = pair_next_for_annotator(benchmark=bench, annotator=person).item
    assert leased == item
    response = client.post(reverse("annotate:grade", args=[bench.name]), {"item": item.pk, "grade": 3}, **HTMX)
    page = response.content.decode()
    assert "the expected grade is 2" in page and "It answers half the question." in page and "You gave 3" in page
    # A regular pair gets no such message.
    regular = pair_next_for_annotator(benchmark=bench, annotator=person).item
    response = client.post(reverse("annotate:grade", args=[bench.name]), {"item": regular.pk, "grade": 1}, **HTMX)
    assert "expected grade" not in response.content.decode()
