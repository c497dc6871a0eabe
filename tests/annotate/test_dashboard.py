"""The agreement dashboard: its figures on hand-made cases, its permissions, its cache."""

from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from annotate import tasks
from annotate.models import BenchmarkItem, BenchmarkStats
from annotate.roles import REVIEWER, user_role_set
from annotate.selectors import dashboard
from annotate.services import dashboard as dashboard_services
from labeling import enqueue
from labeling.metrics import cohen_kappa, krippendorff_alpha
from tests.annotate.conftest import make_annotators
from tests.factories import JudgmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()  # the refresh throttle lives in the cache
    yield
    cache.clear()


def _sent_to(handle):
    """A stand-in for the broker: the tasks enqueue sends go to handle(task name, args)."""
    def task_send(*, task, args, queue=None):
        handle(task, args)
        return True
    return task_send


def _regular(benchmark) -> list[int]:
    return list(BenchmarkItem.objects.filter(benchmark=benchmark, is_calibration=False, gold_grade__isnull=True)
                .order_by("position", "id").values_list("pair_id", flat=True))


def _grade(pairs, annotator, grades, seconds=5.0):
    for pair_id, grade in zip(pairs, grades, strict=False):  # fewer grades: only the first pairs
        JudgmentFactory(pair_id=pair_id, annotator=annotator, grade=grade, seconds=seconds)


def test_perfect_agreement(bench_factory):
    benchmark = bench_factory(n=12, required=2)
    a, b = make_annotators(2, benchmark=benchmark)
    pairs = _regular(benchmark)
    grades = [i % 4 for i in range(12)]
    _grade(pairs, a, grades, seconds=4.0)
    _grade(pairs, b, grades, seconds=8.0)

    data = dashboard.benchmark_dashboard_compute(benchmark=benchmark)

    assert data["completion"] == {"pairs_complete": 12, "pairs_total": 12, "judgments_done": 24,
                                  "judgments_needed": 24, "pairs_percent": 100, "judgments_percent": 100}
    assert data["alpha_ordinal"] == 1.0
    assert data["distribution"] == [6, 6, 6, 6]
    [pair] = data["pairs"]
    assert (pair["a"], pair["b"], pair["n"]) == ("ann0", "ann1", 12)
    assert pair["kappa"] == 1.0 and pair["quadratic_kappa"] == 1.0 and pair["exact"] == 1.0
    by_name = {r["username"]: r for r in data["annotators"]}
    assert by_name["ann0"]["judgments"] == 12 and by_name["ann0"]["median_seconds"] == 4.0
    assert by_name["ann1"]["median_seconds"] == 8.0
    assert by_name["ann0"]["exact_vs_others"] == 1.0 and by_name["ann0"]["quadratic_kappa_vs_others"] == 1.0
    assert np.trace(np.array(by_name["ann0"]["confusion_vs_others"])) == 12
    assert [q["agreement"] for q in data["queries"]] == [1.0, 1.0, 1.0]  # 5 pairs per query
    assert sorted(q["pairs"] for q in data["queries"]) == [2, 5, 5]


def test_disagreement_partial_completion_and_gold(bench_factory):
    benchmark = bench_factory(n=12, required=2, gold={0: 3, 1: 0})
    a, b, c = make_annotators(3, benchmark=benchmark)
    pairs = _regular(benchmark)
    grades_a = [i % 4 for i in range(12)]
    grades_b = list(grades_a[:10])
    grades_b[0], grades_b[3] = 1, 2  # two disagreements on the first query ...
    _grade(pairs, a, grades_a)
    _grade(pairs, b, grades_b)  # ... and b grades only 10 of the 12 pairs
    _grade(pairs[:3], c, [0, 1, 2])  # too few shared pairs for a kappa
    gold_pairs = list(BenchmarkItem.objects.filter(benchmark=benchmark, gold_grade__isnull=False)
                      .order_by("gold_grade").values_list("pair_id", flat=True))  # grades 0, 3
    _grade(gold_pairs, a, [0, 3])  # both right
    _grade(gold_pairs, b, [1, 3])  # one right, one within one

    data = dashboard.benchmark_dashboard_compute(benchmark=benchmark)

    completion = data["completion"]
    assert (completion["pairs_complete"], completion["pairs_total"]) == (10, 12)  # 3 on the first 3, 2 on 7, 1 on 2
    assert (completion["judgments_done"], completion["judgments_needed"]) == (22, 24)
    assert data["judgments"] == 12 + 10 + 3 + 4

    # a and b share 10 regular pairs and 2 gold pairs: the figures of labeling.metrics on them
    ref = [*grades_a[:10], 0, 3]
    pred = [*grades_b, 1, 3]
    [pair] = [p for p in data["pairs"] if (p["a"], p["b"]) == ("ann0", "ann1")]
    assert pair["n"] == 12
    assert pair["kappa"] == pytest.approx(cohen_kappa(ref, pred), abs=1e-4)
    assert pair["quadratic_kappa"] == pytest.approx(cohen_kappa(ref, pred, "quadratic"), abs=1e-4)
    assert pair["exact"] == pytest.approx(9 / 12, abs=1e-4)
    assert len(data["pairs"]) == 1  # c shares 3 pairs with each: no kappa

    # alpha from counts equals alpha over annotators x pairs with NaN for missing
    judged = pairs + gold_pairs
    nan = float("nan")
    dense = [
        [*grades_a, 0, 3],
        [*grades_b, nan, nan, 1, 3],
        [0, 1, 2] + [nan] * 11,
    ]
    assert len(dense[0]) == len(judged)
    assert data["alpha_ordinal"] == pytest.approx(krippendorff_alpha(dense, "ordinal"), abs=1e-4)
    assert data["alpha_ordinal"] < 1

    by_name = {r["username"]: r for r in data["annotators"]}
    assert (by_name["ann0"]["gold_graded"], by_name["ann0"]["gold_accuracy"]) == (2, 1.0)
    assert (by_name["ann1"]["gold_accuracy"], by_name["ann1"]["gold_within_one"]) == (0.5, 1.0)
    assert by_name["ann2"]["gold_accuracy"] is None

    # worst first: the third query (its two gold pairs, a and b agree on one), then the first
    # (pairs 0-2 have three grades, 3 rater pairs each, pairs 3-4 two: 11 rater pairs, 8 agree)
    worst, second, best = data["queries"]
    assert (worst["external_id"], worst["pairs"], worst["agreement"]) == ("benchq2", 2, 0.5)
    assert (second["external_id"], second["pairs"]) == ("benchq0", 5)
    assert second["agreement"] == pytest.approx(8 / 11, abs=1e-4)
    assert (best["external_id"], best["agreement"]) == ("benchq1", 1.0)


def test_empty_benchmark(bench_factory):
    benchmark = bench_factory(n=3, required=2)
    data = dashboard.benchmark_dashboard_compute(benchmark=benchmark)
    assert data["alpha_ordinal"] is None and data["pairs"] == [] and data["annotators"] == []
    assert data["completion"]["pairs_complete"] == 0 and data["completion"]["pairs_total"] == 3


# --- the page ----------------------------------------------------------------------------------

@pytest.fixture
def reviewer(db):
    [user] = make_annotators(1, prefix="rev")
    user_role_set(user=user, role=REVIEWER)
    return user


def _url(benchmark):
    return reverse("annotate:agreement", args=[benchmark.name])


def test_annotators_are_refused(client, bench_factory):
    benchmark = bench_factory(n=3)
    [annotator] = make_annotators(1, benchmark=benchmark)
    client.force_login(annotator)
    assert client.get(_url(benchmark)).status_code == 403
    assert client.post(_url(benchmark)).status_code == 403
    assert "Agreement" not in client.get(reverse("annotate:benchmark_list")).content.decode()


def test_reviewer_first_visit_enqueues_a_refresh(client, bench_factory, reviewer, django_capture_on_commit_callbacks,
                                                 monkeypatch):
    benchmark = bench_factory(n=3)
    calls = []
    monkeypatch.setattr(enqueue, "task_send", _sent_to(lambda task, args: calls.append(*args)))
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(_url(benchmark))
    assert response.status_code == 200
    assert "Not computed yet" in response.content.decode()
    assert calls == [benchmark.pk]
    with django_capture_on_commit_callbacks(execute=True):  # a second open page within the minute: no second job
        client.get(_url(benchmark))
    assert calls == [benchmark.pk]
    assert _url(benchmark) in client.get(reverse("annotate:benchmark_list")).content.decode()


def test_cached_figures_are_shown_without_recomputing(client, bench_factory, reviewer,
                                                      django_capture_on_commit_callbacks, monkeypatch):
    benchmark = bench_factory(n=12, required=2)
    a, b = make_annotators(2, benchmark=benchmark)
    pairs = _regular(benchmark)
    _grade(pairs, a, [i % 4 for i in range(12)])
    _grade(pairs, b, [i % 4 for i in range(12)])
    tasks.dashboard_refresh(benchmark.pk)  # the task, called directly
    stats = BenchmarkStats.objects.get(benchmark=benchmark)
    assert stats.payload["alpha_ordinal"] == 1.0

    def boom(**kwargs):
        raise AssertionError("the page must not compute")

    monkeypatch.setattr(dashboard_services, "benchmark_dashboard_compute", boom)
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks() as callbacks:
        first = client.get(_url(benchmark))
        second = client.get(_url(benchmark))
    assert first.status_code == second.status_code == 200
    assert callbacks == []  # fresh figures: nothing enqueued
    assert BenchmarkStats.objects.get(benchmark=benchmark).computed_at == stats.computed_at  # unchanged
    page = second.content.decode()
    assert "Computed" in page and "ann0 · ann1" in page and "<svg" in page

    htmx = client.get(_url(benchmark), headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and 'id="stats"' in htmx.content.decode()
    assert "<html" not in htmx.content.decode()


def test_stale_figures_enqueue_and_refresh_recomputes(client, bench_factory, reviewer,
                                                      django_capture_on_commit_callbacks, monkeypatch):
    benchmark = bench_factory(n=12, required=2)
    [a] = make_annotators(1, benchmark=benchmark)
    stats = dashboard_services.benchmark_stats_refresh(benchmark_id=benchmark.pk)
    assert stats.payload["judgments"] == 0
    old = timezone.now() - timedelta(seconds=dashboard.STALE_SECONDS + 5)
    BenchmarkStats.objects.filter(pk=stats.pk).update(computed_at=old)
    _grade(_regular(benchmark), a, [2] * 12)
    monkeypatch.setattr(enqueue, "task_send", _sent_to(lambda task, args: tasks.dashboard_refresh(*args)))
    client.force_login(reviewer)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.get(_url(benchmark))
    assert response.status_code == 200 and "Refreshing in the background" in response.content.decode()
    assert len(callbacks) == 1
    stats.refresh_from_db()
    assert stats.computed_at > old and stats.payload["judgments"] == 12

    before = stats.computed_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the Refresh button: always enqueues
        response = client.post(_url(benchmark))
    assert response.status_code == 302 and len(callbacks) == 1
    stats.refresh_from_db()
    assert stats.computed_at > before


def test_task_ignores_a_deleted_benchmark(bench_factory):
    benchmark = bench_factory(n=2)
    benchmark_id = benchmark.pk
    benchmark.delete()
    tasks.dashboard_refresh(benchmark_id)
    assert not BenchmarkStats.objects.filter(benchmark_id=benchmark_id).exists()


def test_task_is_registered_on_the_default_queue(settings):
    assert tasks.dashboard_refresh.name == "annotate.dashboard_refresh"
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "default"
    assert not getattr(settings, "CELERY_TASK_ROUTES", None)


@pytest.mark.django_db(transaction=True)  # real commits: the enqueue runs within the request, as in production
def test_with_the_broker_down_the_page_says_the_queue_is_unreachable_and_asks_again_later(
        client, bench_factory, reviewer, broker_down, monkeypatch):
    benchmark = bench_factory(n=3)
    client.force_login(reviewer)
    unreachable = "The task queue is unreachable: the figures refresh once it is back."
    with broker_down():
        first = client.get(_url(benchmark))
        again = client.get(_url(benchmark))  # the failed request was not counted: it is tried again
        button = client.post(_url(benchmark), follow=True)
        htmx = client.post(_url(benchmark), headers={"HX-Request": "true"})
    for response in (first, again, button, htmx):
        assert response.status_code == 200 and unreachable in response.content.decode()
    assert "Refresh queued" not in button.content.decode()

    calls = []
    monkeypatch.setattr(enqueue, "task_send", _sent_to(lambda task, args: calls.append((task, args))))
    page = client.get(_url(benchmark)).content.decode()  # the broker is back
    assert calls == [(dashboard_services.DASHBOARD_REFRESH_TASK, (benchmark.pk,))]
    assert unreachable not in page and "Refreshing in the background" in page
