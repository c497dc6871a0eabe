"""counters_check: drift made by hand is reported by a dry run (which changes nothing), then repaired."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Benchmark, BenchmarkItem, Membership
from annotate.services.counters import counters_check
from labeling.models import LabelingJob
from tests.factories import JudgmentFactory, LabelerFactory, ModelLabelFactory

from .conftest import make_annotators


def stored(benchmark):
    benchmark = Benchmark.objects.get(pk=benchmark.pk)
    items = dict(BenchmarkItem.objects.filter(benchmark=benchmark).values_list("pk", "judgment_count"))
    members = {m.user_id: (m.judged_regular, m.judged_gold, m.judged_calibration)
               for m in Membership.objects.filter(benchmark=benchmark)}
    return (benchmark.regular_count, benchmark.gold_count, benchmark.calibration_count), items, members


@pytest.fixture
def graded(bench_factory):
    """A benchmark of 4 regular, 1 gold and 1 calibration pair; ann0 graded one of each kind, ann1 one regular."""
    bench = bench_factory(n=4, gold={0: 2}, calibration=1, required=2)
    a, b = make_annotators(2, benchmark=bench)
    items = {item.kind: item for item in bench.items.order_by("position")}
    for item in items.values():
        JudgmentFactory(pair=item.pair, annotator=a)
    JudgmentFactory(pair=items[BenchmarkItem.Kind.REGULAR].pair, annotator=b)
    # The judgments were made outside the queue: counters_check's first fix puts the counters right.
    counters_check(fix=True)
    assert counters_check() == []
    return bench, a, b, items


@pytest.mark.django_db
def test_no_drift_when_the_counters_match_the_rows(graded):
    bench, a, b, items = graded
    totals, judged, members = stored(bench)
    assert totals == (4, 1, 1)
    assert judged[items[BenchmarkItem.Kind.REGULAR].pk] == 2
    assert members[a.pk] == (1, 1, 1) and members[b.pk] == (1, 0, 0)


@pytest.mark.django_db
def test_drift_in_every_counter_is_reported_then_repaired(graded):
    bench, a, b, items = graded
    right = stored(bench)
    regular = items[BenchmarkItem.Kind.REGULAR]
    Benchmark.objects.filter(pk=bench.pk).update(regular_count=9, calibration_count=0)
    BenchmarkItem.objects.filter(pk=regular.pk).update(judgment_count=0)
    Membership.objects.filter(benchmark=bench, user=a).update(judged_gold=5)
    Membership.objects.filter(benchmark=bench, user=b).update(judged_regular=0)

    found = {(d.model, d.pk, d.field): (d.stored, d.actual) for d in counters_check()}
    member_a = Membership.objects.get(benchmark=bench, user=a).pk
    member_b = Membership.objects.get(benchmark=bench, user=b).pk
    assert found == {
        ("annotate.Benchmark", bench.pk, "regular_count"): (9, 4),
        ("annotate.Benchmark", bench.pk, "calibration_count"): (0, 1),
        ("annotate.BenchmarkItem", regular.pk, "judgment_count"): (0, 2),
        ("annotate.Membership", member_a, "judged_gold"): (5, 1),
        ("annotate.Membership", member_b, "judged_regular"): (0, 1),
    }
    assert stored(bench) != right  # a dry run writes nothing

    assert len(counters_check(fix=True)) == 5
    assert stored(bench) == right
    assert counters_check() == []


@pytest.mark.django_db
def test_only_the_named_benchmark_is_checked_and_fixed(graded, bench_factory):
    bench, *_ = graded
    other = bench_factory(n=2, name="other")
    Benchmark.objects.filter(pk__in=[bench.pk, other.pk]).update(regular_count=7)
    assert [d.pk for d in counters_check(fix=True, benchmark=other)] == [other.pk]
    assert [d.pk for d in counters_check()] == [bench.pk]


@pytest.mark.django_db
def test_a_job_that_counts_more_labels_than_its_labeler_has_is_lowered(graded):
    bench, *_ = graded
    labeler = LabelerFactory()
    for item in bench.items.all()[:3]:
        ModelLabelFactory(pair=item.pair, labeler=labeler)
    scope = {"benchmarks__name": bench.name}
    fine = LabelingJob.objects.create(labeler=labeler, scope=scope, total=6, done=3)
    over = LabelingJob.objects.create(labeler=labeler, scope=scope, total=6, done=6, description="too many")
    assert [(d.pk, d.stored, d.actual, d.row) for d in counters_check()] == [(over.pk, 6, 3, "too many")]
    counters_check(fix=True)
    assert LabelingJob.objects.get(pk=over.pk).done == 3 and LabelingJob.objects.get(pk=fine.pk).done == 3


@pytest.mark.django_db
def test_command_is_a_dry_run_unless_fix(graded):
    bench, *_ = graded
    Benchmark.objects.filter(pk=bench.pk).update(gold_count=3)
    out = StringIO()
    call_command("counters_check", stdout=out)
    assert "gold_count: stored 3, actual 1" in out.getvalue()
    assert "1 counters have drifted; run with --fix" in out.getvalue()
    assert Benchmark.objects.get(pk=bench.pk).gold_count == 3
    call_command("counters_check", "--fix", f"--benchmark={bench.name}", stdout=(out := StringIO()))
    assert "1 counters repaired." in out.getvalue()
    call_command("counters_check", stdout=(out := StringIO()))
    assert out.getvalue().strip() == "No counter has drifted."
    with pytest.raises(CommandError, match="no benchmark with name 'nope'"):
        call_command("counters_check", "--benchmark=nope")
