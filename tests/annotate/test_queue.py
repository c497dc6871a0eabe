"""The queue on the real database (SQLite by default; PostgreSQL with DATABASE_URL)."""

import random
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from annotate.models import BenchmarkItem, Lease, Membership, Skip
from annotate.selectors import gold_accuracy, judgments_recent, progress_get, queue_candidates, queue_candidates_sql
from annotate.services import (
    NotEditable,
    PairFull,
    judgment_regrade,
    judgment_submit,
    judgment_undo,
    lease_renew,
    pair_next_for_annotator,
    pair_skip,
)
from labeling.models import Judgment
from tests.factories import JudgmentFactory, UserFactory

from .conftest import T0, make_annotators

LATER = T0 + timedelta(minutes=6)  # past the default 5-minute lease


def take(benchmark, user, now=T0, **kwargs):
    lease = pair_next_for_annotator(benchmark=benchmark, annotator=user, now=now, **kwargs)
    return lease.item if lease else None


def grade(benchmark, user, item, g=2, now=T0, **kwargs):
    return judgment_submit(benchmark=benchmark, annotator=user, item_id=item.pk, grade=g, now=now, **kwargs)


def assert_invariants(benchmark, now=T0):
    """Stored counts equal the real ones; judgments + live leases never exceed the cap."""
    for item in BenchmarkItem.objects.filter(benchmark=benchmark):
        judged = Judgment.objects.filter(pair_id=item.pair_id).count()
        assert item.judgment_count == judged, item
        if item.kind == BenchmarkItem.Kind.REGULAR:
            leased = Lease.objects.filter(item=item, expires_at__gt=now).count()
            assert judged + leased <= benchmark.judgments_required, (item, judged, leased)


@pytest.mark.django_db
def test_overlap_fills_a_pair_before_the_next_and_never_over_the_cap(bench_factory):
    bench = bench_factory(n=6, required=2)
    a, b, c = make_annotators(3, benchmark=bench)
    first = take(bench, a)
    assert take(bench, b) == first  # room for two judgments: both may hold it
    second = take(bench, c)
    assert second != first  # two leases fill it
    assert_invariants(bench)
    assert take(bench, a) == first  # a reload resumes the lease, it does not take another
    assert Lease.objects.filter(annotator=a).count() == 1


@pytest.mark.django_db
def test_pairs_in_progress_come_first_and_nobody_grades_a_pair_twice(bench_factory):
    bench = bench_factory(n=6, required=3)
    a, b, c = make_annotators(3, benchmark=bench)
    items = list(BenchmarkItem.objects.filter(benchmark=bench).order_by("position"))
    # a grades the first three pairs
    for expected in items[:3]:
        assert take(bench, a) == expected
        grade(bench, a, expected)
    # b is offered the pairs a started (the most judged first, then by position)
    got = take(bench, b)
    assert got in items[:3]
    grade(bench, b, got)
    assert take(bench, c) == got  # now the most advanced pair: finish it first
    grade(bench, c, got)
    assert BenchmarkItem.objects.get(pk=got.pk).judgment_count == 3
    # a never gets a pair it graded
    for _ in range(3):
        item = take(bench, a)
        assert item not in items[:3]
        grade(bench, a, item)
    assert take(bench, a) is None
    assert_invariants(bench)


@pytest.mark.django_db
def test_a_lapsed_lease_frees_its_slot_and_a_late_grade_is_kept_only_if_there_is_room(bench_factory):
    bench = bench_factory(n=2, required=1)
    a, b, c = make_annotators(3, benchmark=bench)
    held = take(bench, a)
    other = take(bench, b)
    assert other != held
    assert take(bench, c) is None  # both pairs held
    assert take(bench, c, now=LATER) in {held, other}  # a's and b's leases lapsed
    # c took one of them; its former holder may no longer grade it, the other still may
    taken = Lease.objects.get(annotator=c).item
    loser = a if taken == held else b
    winner, free = (b, other) if loser == a else (a, held)
    with pytest.raises(PairFull):
        grade(bench, loser, taken, now=LATER)
    assert grade(bench, winner, free, now=LATER).created  # lapsed, but nobody took it: kept
    assert_invariants(bench, now=LATER)


@pytest.mark.django_db
def test_lease_renew_keeps_a_pair_held(bench_factory):
    bench = bench_factory(n=1, required=1)
    a, b = make_annotators(2, benchmark=bench)
    item = take(bench, a)
    assert lease_renew(benchmark=bench, annotator=a, item_id=item.pk, now=T0 + timedelta(minutes=4))
    assert take(bench, b, now=T0 + timedelta(minutes=6)) is None  # renewed until 9:09
    assert take(bench, b, now=T0 + timedelta(minutes=10)) == item
    assert not lease_renew(benchmark=bench, annotator=a, item_id=item.pk, now=T0 + timedelta(minutes=10))


@pytest.mark.django_db
def test_a_double_submit_is_harmless(bench_factory):
    bench = bench_factory(n=3, required=2)
    (a,) = make_annotators(1, benchmark=bench)
    item = take(bench, a)
    first = grade(bench, a, item, g=3, input_method="key")
    again = grade(bench, a, item, g=1)
    assert first.created and not again.created
    assert again.judgment.pk == first.judgment.pk
    judgment = Judgment.objects.get(annotator=a)
    assert (judgment.grade, judgment.input_method) == (3, "key")
    assert judgment.seconds == 0.0  # shown and graded at T0
    assert Membership.objects.get(user=a).judged_regular == 1
    assert BenchmarkItem.objects.get(pk=item.pk).judgment_count == 1
    assert_invariants(bench)


@pytest.mark.django_db
def test_time_spent_counts_from_when_the_pair_was_shown(bench_factory):
    bench = bench_factory(n=2, required=1)
    (a,) = make_annotators(1, benchmark=bench)
    item = take(bench, a)
    take(bench, a, now=T0 + timedelta(seconds=20))  # a reload does not restart the clock
    grade(bench, a, item, now=T0 + timedelta(seconds=42.5), input_method="click", comment="  tricky  ")
    judgment = Judgment.objects.get()
    assert (judgment.seconds, judgment.input_method, judgment.comment) == (42.5, "click", "tricky")


@pytest.mark.django_db
def test_skip_releases_the_pair_and_it_returns_only_when_nothing_else_is_left(bench_factory):
    bench = bench_factory(n=3, required=1)
    a, b = make_annotators(2, benchmark=bench)
    skipped = take(bench, a)
    pair_skip(benchmark=bench, annotator=a, item_id=skipped.pk, now=T0)
    assert not Lease.objects.filter(item=skipped).exists()
    assert take(bench, b) == skipped  # released for others at once
    pair_skip(benchmark=bench, annotator=b, item_id=skipped.pk, now=T0)
    seen = []
    while (item := take(bench, a)) is not None:
        seen.append(item)
        grade(bench, a, item)
    assert seen[-1] == skipped and len(seen) == 3  # last, not never
    assert not Skip.objects.filter(annotator=a).exists()
    assert take(bench, b) is None


@pytest.mark.django_db
def test_undo_brings_the_pair_back_first_and_keeps_the_counts(bench_factory):
    bench = bench_factory(n=3, required=2)
    a, b = make_annotators(2, benchmark=bench)
    first = take(bench, a)
    grade(bench, a, first, g=1)
    current = take(bench, a)
    assert current != first
    undone = judgment_undo(benchmark=bench, annotator=a, now=T0 + timedelta(seconds=5))
    assert (undone.item, undone.grade) == (first, 1)
    assert not Judgment.objects.filter(annotator=a).exists()
    assert Membership.objects.get(user=a).judged_regular == 0
    assert_invariants(bench, now=T0 + timedelta(seconds=5))
    assert take(bench, a, now=T0 + timedelta(seconds=5)) == first  # the undone pair, ahead of the current one
    grade(bench, a, first, g=3, now=T0 + timedelta(seconds=9))
    assert Judgment.objects.get(annotator=a).grade == 3
    assert Judgment.objects.get(annotator=a).seconds == 4.0
    assert take(bench, a, now=T0 + timedelta(seconds=9)) == current  # then back to where a was
    assert judgment_undo(benchmark=bench, annotator=b) is None


@pytest.mark.django_db
def test_only_the_last_ten_grades_can_be_changed(bench_factory):
    bench = bench_factory(n=12, required=1)
    (a,) = make_annotators(1, benchmark=bench)
    for i in range(12):
        grade(bench, a, take(bench, a, now=T0 + timedelta(seconds=i)), g=0, now=T0 + timedelta(seconds=i))
    recent = list(judgments_recent(benchmark=bench, annotator=a))
    assert len(recent) == 10
    oldest = Judgment.objects.filter(annotator=a).exclude(pk__in=[j.pk for j in recent]).first()
    with pytest.raises(NotEditable):
        judgment_regrade(benchmark=bench, annotator=a, judgment_id=oldest.pk, grade=3)
    changed = judgment_regrade(benchmark=bench, annotator=a, judgment_id=recent[-1].pk, grade=3)
    assert changed.grade == 3
    assert next(iter(judgments_recent(benchmark=bench, annotator=a))).pk == changed.pk
    other = UserFactory(username="someone-else")
    with pytest.raises(NotEditable):
        judgment_regrade(benchmark=bench, annotator=other, judgment_id=changed.pk, grade=0)


@pytest.mark.django_db
def test_calibration_first_then_gold_at_its_rate_and_gold_accuracy(bench_factory):
    bench = bench_factory(n=4, required=1, gold={0: 3, 1: 0}, calibration=2, gold_rate=1.0)
    a, b = make_annotators(2, benchmark=bench)
    kinds = []
    while (item := take(bench, a)) is not None:
        kinds.append(item.kind)
        grade(bench, a, item, g=3)
    assert kinds == ["calibration"] * 2 + ["gold"] * 2 + ["regular"] * 4
    membership = Membership.objects.get(user=a)
    assert (membership.judged_calibration, membership.judged_gold, membership.judged_regular) == (2, 2, 4)
    # b: calibration and gold are graded by everyone (no cap), the regular pairs are all done
    kinds = []
    while (item := take(bench, b, rng=random.Random(1))) is not None:
        kinds.append(item.kind)
        grade(bench, b, item, g=1)
    assert kinds == ["calibration"] * 2 + ["gold"] * 2
    accuracy = {g.username: g for g in gold_accuracy(benchmark=bench)}
    assert (accuracy["ann0"].graded, accuracy["ann0"].exact, accuracy["ann0"].accuracy) == (2, 1, 0.5)
    assert (accuracy["ann1"].exact, accuracy["ann1"].within_one) == (0, 1)  # 1 for gold 3 and gold 0


@pytest.mark.django_db
def test_no_gold_at_rate_zero(bench_factory):
    bench = bench_factory(n=3, required=1, gold={0: 3}, gold_rate=0.0)
    (a,) = make_annotators(1, benchmark=bench)
    kinds = []
    while (item := take(bench, a)) is not None:
        kinds.append(item.kind)
        grade(bench, a, item)
    assert kinds == ["regular"] * 3


@pytest.mark.django_db
def test_progress_comes_from_counters(bench_factory, django_assert_max_num_queries):
    bench = bench_factory(n=4, required=2)
    a, b = make_annotators(2, benchmark=bench)
    for user in (a, b, a):
        grade(bench, user, take(bench, user))
    with django_assert_max_num_queries(2):
        progress = progress_get(benchmark=bench, annotator=a)
    assert (progress.mine, progress.mine_total, progress.done, progress.total, progress.percent) == (2, 4, 3, 8, 38)


@pytest.mark.django_db
def test_a_judgment_made_outside_the_queue_still_counts(bench_factory):
    """Judgments imported (qrels_import --annotator) bypass the counters: the queue's re-count
    under the lock still keeps the cap, and corrects the stored count."""
    bench = bench_factory(n=1, required=2)
    a, b, c = make_annotators(3, benchmark=bench)
    item = BenchmarkItem.objects.get(benchmark=bench)
    JudgmentFactory(pair=item.pair, annotator=c)
    assert take(bench, a) == item
    assert take(bench, b) is None  # one imported judgment + a's lease fill it
    assert BenchmarkItem.objects.get(pk=item.pk).judgment_count == 1
    assert take(bench, c) is None  # c already judged it
    assert_invariants(bench)


@pytest.mark.django_db(transaction=True)
def test_only_lease_transactions_commit_without_waiting_for_the_disk(bench_factory):
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    bench = bench_factory(n=3, required=1)
    (a,) = make_annotators(1, benchmark=bench)

    def asynchronous(captured) -> bool:
        return any("synchronous_commit" in q["sql"] for q in captured.captured_queries)

    with CaptureQueriesContext(connection) as taking:
        item = take(bench, a)
    with CaptureQueriesContext(connection) as grading:
        grade(bench, a, item)
    assert asynchronous(taking) and not asynchronous(grading)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # SET LOCAL ended with the lease's transaction
    with transaction.atomic(), CaptureQueriesContext(connection) as nested:
        take(bench, a)
    assert not asynchronous(nested)  # a caller's transaction keeps its durability


@pytest.mark.django_db
def test_the_queue_query_can_use_its_partial_index(bench_factory):
    """The candidate scan reads benchmarkitem_queue in serving order (no sort, no count over
    the benchmark): the filter on kind matches the index's condition."""
    bench = bench_factory(n=30, required=2)
    (a,) = make_annotators(1, benchmark=bench)
    sql, params = queue_candidates_sql(benchmark=bench, annotator_id=a.pk, now=T0, lock=True)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: make the planner show its options
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "benchmarkitem_queue" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
    assert [i.pk for i in queue_candidates(benchmark=bench, annotator=a, now=T0, limit=3)] == list(
        BenchmarkItem.objects.filter(benchmark=bench).order_by("position").values_list("pk", flat=True)[:3]
    )


@pytest.mark.django_db
def test_one_annotator_can_finish_a_benchmark_alone_and_every_judgment_is_kept(bench_factory):
    bench = bench_factory(n=25, required=3)
    users = make_annotators(3, benchmark=bench)
    for user in users:
        while (item := take(bench, user)) is not None:
            grade(bench, user, item)
    per_pair = Judgment.objects.values("pair_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert sorted(set(per_pair)) == [3] and len(per_pair) == 25
    assert progress_get(benchmark=bench, annotator=users[0]).percent == 100
    assert_invariants(bench)


@pytest.mark.django_db
def test_calibration_cannot_be_skipped_away(bench_factory):
    bench = bench_factory(n=2, required=1, calibration=2)
    (a,) = make_annotators(1, benchmark=bench)
    first = take(bench, a)
    assert first.kind == "calibration"
    pair_skip(benchmark=bench, annotator=a, item_id=first.pk, now=T0)
    second = take(bench, a)
    assert second.kind == "calibration" and second != first
    grade(bench, a, second)
    assert take(bench, a) == first  # the skipped calibration pair, before any regular one
    grade(bench, a, first)
    assert take(bench, a).kind == "regular"
