"""Making benchmarks: from imported pairs, by a stratified sample of a run, and their counts."""

from collections import Counter

import pytest

from annotate.models import Benchmark, BenchmarkItem, Membership
from annotate.services import (
    benchmark_counts_refresh,
    benchmark_import,
    benchmark_items_add,
    benchmark_sample_stratified,
    judgment_submit,
    pair_next_for_annotator,
)
from annotate.text import highlight, markdown_safe, query_terms
from labeling.models import ModelLabel
from tests.factories import CorpusFactory, DocumentFactory, JudgmentFactory, LabelerFactory, QueryFactory

from .conftest import make_annotators, make_pairs


@pytest.fixture
def labeled_run(db):
    """60 pairs a teacher graded, most of them 0: 40 x 0, 12 x 1, 6 x 2, 2 x 3."""
    labeler = LabelerFactory(name="teacher")
    pair_ids = make_pairs(60, prefix="run", per_query=6)
    grades = [0] * 40 + [1] * 12 + [2] * 6 + [3] * 2
    ModelLabel.objects.bulk_create([
        ModelLabel(pair_id=pid, labeler=labeler, grade=g, distribution=[0, 0, 0, 0], expected_grade=g)
        for pid, g in zip(pair_ids, grades, strict=True)
    ])
    return labeler, pair_ids


def test_stratified_sample_covers_every_grade_evenly_where_it_can(labeled_run):
    labeler, pair_ids = labeled_run
    bench = benchmark_sample_stratified(name="strat", labeler=labeler, scope={"id__in": pair_ids}, n=20,
                                        judgments_required=2, seed=7)
    grade_of = dict(ModelLabel.objects.values_list("pair_id", "grade"))
    got = Counter(grade_of[pid] for pid in bench.items.values_list("pair_id", flat=True))
    assert got == {0: 6, 1: 6, 2: 6, 3: 2}  # grade 3 has only two: the rest goes to the others
    assert (bench.judgments_required, bench.regular_count) == (2, 20)
    # deterministic for a seed; a re-run (a task retried) leaves the benchmark as it is
    again = benchmark_sample_stratified(name="strat", labeler=labeler, scope={"id__in": pair_ids}, n=5, seed=1)
    assert again.pk == bench.pk and again.items.count() == 20
    other = benchmark_sample_stratified(name="strat2", labeler=labeler, scope={"id__in": pair_ids}, n=20, seed=7)
    assert set(other.items.values_list("pair_id", flat=True)) == set(bench.items.values_list("pair_id", flat=True))
    # grouped by query, so an annotator reads one query's documents in a row
    queries = [i.pair.query_id for i in bench.items.select_related("pair").order_by("position")]
    assert queries == sorted(queries)


def test_stratified_sample_needs_room_for_every_grade(labeled_run):
    labeler, pair_ids = labeled_run
    with pytest.raises(ValueError, match="too small to cover the 4 grades"):
        benchmark_sample_stratified(name="tiny", labeler=labeler, scope={"id__in": pair_ids}, n=3)


@pytest.mark.django_db
def test_benchmark_from_a_qrels_file_with_gold_and_calibration(tmp_path):
    corpus = CorpusFactory(name="acme")
    for q in ("q1", "q2"):
        QueryFactory(corpus=corpus, external_id=q)
    for d in range(8):
        DocumentFactory(corpus=corpus, external_id=f"d{d}")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"q{1 + d % 2} 0 d{d} {d % 4}\n" for d in range(8)))
    bench = benchmark_import(name="from-qrels", corpus_name="acme", qrels_path=qrels, judgments_required=3,
                             gold=4, calibration=2, gold_rate=0.2, guidelines="# Read me")
    assert bench.items.count() == 8
    assert (bench.regular_count, bench.gold_count, bench.calibration_count) == (2, 4, 2)
    known = {i.pair.document.external_id: i.gold_grade
             for i in bench.items.exclude(gold_grade=None).select_related("pair__document")}
    assert all(grade == int(doc[1:]) % 4 for doc, grade in known.items())  # the file's grades
    assert len(set(known.values())) == 4  # spread over the grades
    # importing again changes nothing
    benchmark_import(name="from-qrels", corpus_name="acme", qrels_path=qrels, gold=4, calibration=2)
    assert BenchmarkItem.objects.filter(benchmark=bench).count() == 8


@pytest.mark.django_db
def test_adding_items_is_idempotent_and_counts_existing_judgments(bench_factory):
    bench = bench_factory(n=2, required=3)
    new = make_pairs(3, prefix="more")
    JudgmentFactory(pair_id=new[0], grade=1)
    assert benchmark_items_add(benchmark=bench, pair_ids=new) == 3
    assert benchmark_items_add(benchmark=bench, pair_ids=new, gold={new[1]: 2}) == 0
    items = {i.pair_id: i for i in bench.items.all()}
    assert items[new[0]].judgment_count == 1 and items[new[1]].gold_grade == 2
    assert [items[p].position for p in new] == sorted(items[p].position for p in new)
    bench.refresh_from_db()
    assert (bench.regular_count, bench.gold_count) == (4, 1)


@pytest.mark.django_db
def test_saving_a_row_never_writes_a_stale_counter(bench_factory):
    """The admin saves whole rows; counters move only through F() updates."""
    bench = bench_factory(n=2, required=1)
    (a,) = make_annotators(1, benchmark=bench)
    stale_membership = Membership.objects.get(user=a)
    stale_bench = Benchmark.objects.get(pk=bench.pk)
    stale_item = BenchmarkItem.objects.filter(benchmark=bench).first()
    lease = pair_next_for_annotator(benchmark=bench, annotator=a)
    judgment_submit(benchmark=bench, annotator=a, item_id=lease.item.pk, grade=2)
    stale_membership.save()
    stale_bench.title = "Renamed"
    stale_bench.save()
    stale_item.position = 99
    stale_item.save()
    assert Membership.objects.get(user=a).judged_regular == 1
    assert Benchmark.objects.get(pk=bench.pk).title == "Renamed"
    assert BenchmarkItem.objects.get(pk=lease.item.pk).judgment_count == 1
    benchmark_counts_refresh(benchmark=bench, judgment_counts=True)
    assert BenchmarkItem.objects.get(pk=lease.item.pk).judgment_count == 1


def test_markdown_shows_raw_html_as_text_and_drops_unsafe_links():
    html = markdown_safe("**ok** <img src=x onerror=alert(1)>\n\n[a](javascript:alert(1)) [b](java\tscript:x) "
                         "[c](https://example.com) [d](/relative)\n\n| k | v |\n|---|---|\n| `0` | no |")
    assert "<strong>ok</strong>" in html and "&lt;img" in html and "<img" not in html
    assert "javascript" not in html.replace("&lt;", "")
    assert 'href="https://example.com"' in html and 'href="/relative"' in html
    assert "<table>" in html


def test_highlight_escapes_first_and_marks_whole_words():
    assert query_terms("Q3 budget deck from Priya") == ["budget", "priya", "deck", "q3"]
    out = highlight("AT&T budgets & <amp> Q3", "amp budget q3 t")
    assert out == "AT&amp;T <mark>budgets</mark> &amp; &lt;<mark>amp</mark>&gt; <mark>Q3</mark>"
    assert highlight("plain <b>", "") == "plain &lt;b&gt;"


@pytest.mark.django_db
def test_commands_make_a_benchmark_and_add_members(tmp_path, capsys):
    from django.core.management import CommandError, call_command

    from tests.factories import UserFactory

    corpus = CorpusFactory(name="cmd")
    QueryFactory(corpus=corpus, external_id="q1")
    for d in range(4):
        DocumentFactory(corpus=corpus, external_id=f"d{d}")
    (tmp_path / "qrels.txt").write_text("".join(f"q1 0 d{d} {d}\n" for d in range(4)))
    (tmp_path / "guide.md").write_text("# How to grade")
    call_command("create_benchmark", "cmd-bench", corpus="cmd", qrels=tmp_path / "qrels.txt", gold=1,
                 guidelines=tmp_path / "guide.md", required=2)
    assert "3 pairs, 1 gold" in capsys.readouterr().out
    bench = Benchmark.objects.get(name="cmd-bench")
    assert (bench.guidelines, bench.judgments_required) == ("# How to grade", 2)
    UserFactory(username="newbie")
    call_command("benchmark_members", "cmd-bench", "newbie", role="annotator")
    assert Membership.objects.filter(benchmark=bench, user__username="newbie").exists()
    with pytest.raises(CommandError, match="no such user: ghost"):
        call_command("benchmark_members", "cmd-bench", "ghost")
    with pytest.raises(CommandError, match="give --corpus and --qrels"):
        call_command("create_benchmark", "other")
