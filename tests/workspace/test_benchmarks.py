"""A new benchmark from a corpus (its pairs chosen by the build a worker runs: run here
directly), its guidelines' preview, its set-up page with members, and refusals."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.models import Benchmark, BenchmarkItem, Membership
from annotate.roles import ADMIN, ANNOTATOR, REVIEWER
from distill.models import BenchmarkBuild
from distill.services.benchmark_builds import benchmark_build_run, benchmark_builds_resume
from labeling.models import Pair
from labeling.workers import jobs_stranded
from tests.factories import (
    BenchmarkFactory,
    DocumentFactory,
    JudgmentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE = {"title": "", "query_ids": "", "judgments_required": 2, "gold_share": 0, "calibration": 0, "guidelines": ""}


def create(client, **fields):
    return client.post(reverse("workspace:benchmark_new"), {**BASE, "corpus": "intranet", **fields})


def built() -> BenchmarkBuild:
    return benchmark_build_run(build_id=BenchmarkBuild.objects.latest("id").id)


def pair_keys(benchmark: Benchmark) -> set[tuple[str, str]]:
    return set(BenchmarkItem.objects.filter(benchmark=benchmark)
               .values_list("pair__query__external_id", "pair__document__external_id"))


def test_all_imported_pairs_become_the_benchmark_as_a_job_with_progress(as_role, corpus):
    for q, d in [("q0", "d0"), ("q0", "d1"), ("q1", "d2")]:
        PairFactory(query=corpus.queries.get(external_id=q), document=corpus.documents.get(external_id=d))
    admin = as_role(ADMIN)
    response = create(admin, name="all", method="all", guidelines="# Grade\n\nBe *strict*.")
    build = BenchmarkBuild.objects.get()
    assert response["Location"] == reverse("workspace:build_detail", args=[build.id])
    fragment = admin.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<html" not in fragment
    assert built().status == "succeeded"
    page = admin.get(response["Location"]).content.decode()
    assert "3 pairs to grade" in page and reverse("workspace:benchmark_setup", args=["all"]) in page
    benchmark = Benchmark.objects.get(name="all")
    assert benchmark.judgments_required == 2 and benchmark.guidelines.startswith("# Grade")
    assert pair_keys(benchmark) == {("q0", "d0"), ("q0", "d1"), ("q1", "d2")}


def test_bm25_takes_the_top_k_per_query(as_role, corpus):
    DocumentFactory(corpus=corpus, external_id="cafe", title="Cafeteria", text="The cafeteria opens at eight.")
    corpus.queries.filter(external_id="q2").update(text="when does the cafeteria open")
    create(as_role(ADMIN), name="bm", method="bm25", k=1, query_ids="q2")
    build = built()
    assert build.status == "succeeded", build.error
    assert pair_keys(build.benchmark) == {("q2", "cafe")}
    pair = Pair.objects.get(query__external_id="q2")
    assert pair.bm25_rank == 1 and pair.bm25_score > 0
    assert (build.done, build.total) == (1, 1)


def test_run_files_are_pooled_top_k_and_a_bad_line_is_located(as_role, corpus, import_root, settings):
    run_a = "q0 Q0 d0 1 9.0 a\nq0 Q0 d1 2 8.0 a\nq0 Q0 d2 3 7.0 a\n"
    run_b = "q0 Q0 d2 1 5.0 b\nq0 Q0 d0 2 4.0 b\nq1 Q0 d1 1 3.0 b\n"
    admin = as_role(ADMIN)
    create(admin, name="pool", method="runs", k=2, runs=[SimpleUploadedFile("a.run", run_a.encode()),
                                                           SimpleUploadedFile("b.run", run_b.encode())])
    build = built()
    assert build.status == "succeeded", build.error
    assert pair_keys(build.benchmark) == {("q0", "d0"), ("q0", "d1"), ("q0", "d2"), ("q1", "d1")}
    assert not any(settings.UPLOAD_DIR.iterdir())  # the run files' copies are gone
    create(admin, name="badrun", method="runs", k=2, runs=[SimpleUploadedFile("bad.run", b"q0 Q0 d0 1 high a\n")])
    failed = built()
    assert failed.status == "failed"
    assert (failed.error["file"], failed.error["line"], failed.error["field"]) == ("bad.run", 1, "score")
    page = admin.get(reverse("workspace:build_detail", args=[failed.id])).content.decode()
    assert "bad.run" in page and "not a number" in page
    assert not Benchmark.objects.filter(name="badrun").exists()


def test_stratified_with_gold_and_calibration_from_a_reference(as_role, corpus):
    teacher = LabelerFactory(name="teacher")
    for i in range(12):
        pair = PairFactory(query=corpus.queries.get(external_id=f"q{i % 3}"),
                           document=DocumentFactory(corpus=corpus, external_id=f"x{i}"))
        ModelLabelFactory(pair=pair, labeler=teacher, grade=i % 4)
    create(as_role(ADMIN), name="strat", method="stratified", labeler="teacher", n=8, gold_share=0.25,
           calibration=2, reference="teacher")
    build = built()
    assert build.status == "succeeded", build.error
    benchmark = build.benchmark
    assert (benchmark.regular_count, benchmark.gold_count, benchmark.calibration_count) == (4, 2, 2)
    assert benchmark.gold_rate == 0.25
    items = BenchmarkItem.objects.filter(benchmark=benchmark)
    assert sorted(items.values_list("pair__model_labels__grade", flat=True)) == [0, 0, 1, 1, 2, 2, 3, 3]
    for item in items.exclude(gold_grade=None):
        assert item.gold_grade == item.pair.model_labels.get().grade


def test_the_form_says_what_is_missing(as_role, corpus):
    admin = as_role(ADMIN)
    page = create(admin, name="x", method="runs").content.decode()
    assert "Upload at least one run file." in page and "Give k" in page
    page = create(admin, name="x", method="stratified", gold_share=0.5).content.decode()
    assert "Choose the labeler whose grades the sample is stratified by." in page
    assert "Gold pairs need known grades" in page
    page = create(admin, name="bad name", method="all", corpus="nope", judgments_required=0).content.decode()
    assert "Use only letters" in page and "Select a valid choice" in page and "greater than or equal to 1" in page
    BenchmarkFactory(name="taken")
    assert "exists already" in create(admin, name="taken", method="all").content.decode()
    assert not BenchmarkBuild.objects.exists()


def test_the_guidelines_preview_renders_markdown_safely(as_role):
    admin = as_role(ADMIN)
    text = "# Rules\n\n**Grade 3**: answers it.\n\n<script>alert(1)</script>"
    page = admin.post(reverse("workspace:benchmark_new"), {"guidelines": text, "preview": "1"}).content.decode()
    assert "<h1>Rules</h1>" in page and "<strong>Grade 3</strong>" in page and "<script>alert" not in page
    assert "This field is required" not in page  # a preview is not a submit
    fragment = admin.post(reverse("workspace:benchmark_new"), {"guidelines": text, "preview": "1"},
                          headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="preview"') and "<h1>Rules</h1>" in fragment


def test_setting_up_is_for_admins(as_role, corpus):
    for role in (REVIEWER, ANNOTATOR, None):
        assert as_role(role).get(reverse("workspace:benchmark_new")).status_code == 403
        assert create(as_role(role, f"u-{role}-2"), name="x", method="all").status_code == 403
    build = BenchmarkBuild.objects.create(name="x", corpus=corpus, method="all")
    assert as_role(ANNOTATOR, "ann3").get(reverse("workspace:build_detail", args=[build.id])).status_code == 403
    assert as_role(ADMIN).get(reverse("workspace:build_detail", args=[build.id + 1])).status_code == 404


def test_members_are_added_removed_and_shown_with_progress_and_gold_accuracy(as_role, bench_factory):
    benchmark = bench_factory(n=4, required=2, gold={0: 3, 1: 1}, name="members")
    priya = UserFactory(username="priya")
    gold_items = list(benchmark.items.exclude(gold_grade=None).order_by("position"))
    admin = as_role(ADMIN)
    url = reverse("workspace:benchmark_setup", args=["members"])
    assert admin.post(url, {"username": "priya"}).status_code == 302
    assert Membership.objects.filter(benchmark=benchmark, user=priya).exists()
    JudgmentFactory(pair=gold_items[0].pair, annotator=priya, grade=gold_items[0].gold_grade)
    JudgmentFactory(pair=gold_items[1].pair, annotator=priya, grade=(gold_items[1].gold_grade + 2) % 4)
    Membership.objects.filter(benchmark=benchmark, user=priya).update(judged_gold=2)
    page = admin.get(url).content.decode()
    row = page.split('data-member="priya"')[1].split("</tr>")[0]
    assert "2 of 6" in row and "50% of 2" in row
    assert "No user named &#x27;ghost&#x27;" in admin.post(url, {"username": "ghost"}).content.decode()
    assert admin.post(url, {"username": "newbie", "create": "on", "password": "long-enough-pw"}).status_code == 302
    newbie = Membership.objects.get(benchmark=benchmark, user__username="newbie").user
    assert newbie.check_password("long-enough-pw") and newbie.groups.filter(name=ANNOTATOR).exists()
    short = admin.post(url, {"username": "other", "create": "on", "password": "x"}).content.decode()
    assert "at least 8 characters" in short
    admin.post(reverse("workspace:member_remove", args=["members", priya.id]))
    assert not Membership.objects.filter(benchmark=benchmark, user=priya).exists()


def test_members_page_refuses_others(as_role, bench_factory):
    bench_factory(n=2, name="theirs")
    annotator = as_role(ANNOTATOR)
    assert annotator.get(reverse("workspace:benchmark_setup", args=["theirs"])).status_code == 403
    reviewer = as_role(REVIEWER)
    assert reviewer.get(reverse("workspace:benchmark_setup", args=["theirs"])).status_code == 403
    admin = as_role(ADMIN)
    assert admin.get(reverse("workspace:benchmark_setup", args=["nope"])).status_code == 404
    assert admin.post(reverse("workspace:member_remove", args=["theirs", 999999])).status_code == 404


def test_ids_past_any_row_are_404_not_a_traceback(as_role, corpus, bench_factory):
    bench_factory(n=1, name="b")
    admin, big = as_role(ADMIN), 10**30
    for url in [reverse("workspace:import_detail", args=[big]), reverse("workspace:build_detail", args=[big]),
                reverse("workspace:document_detail", args=["intranet", big])]:
        assert admin.get(url).status_code == 404, url
    assert admin.post(reverse("workspace:member_remove", args=["b", big])).status_code == 404


def test_a_build_run_again_after_a_crash_ends_with_the_same_benchmark(as_role, corpus):
    DocumentFactory(corpus=corpus, external_id="cafe", title="Cafeteria", text="The cafeteria travel policy.")
    create(as_role(ADMIN), name="again", method="bm25", k=2)
    first = built()
    items = pair_keys(first.benchmark)
    # As if the worker died after writing the benchmark, before marking the build done.
    BenchmarkBuild.objects.filter(id=first.id).update(status="running", benchmark=None)
    second = built()
    assert second.status == "succeeded" and second.benchmark == first.benchmark
    assert pair_keys(second.benchmark) == items and second.benchmark.items.count() == len(items)
    assert Pair.objects.count() == len(items)


def test_stranded_builds_are_sent_again(as_role, corpus):
    create(as_role(ADMIN), name="stranded", method="all")
    build = BenchmarkBuild.objects.get()
    BenchmarkBuild.objects.filter(id=build.id).update(owner="dead-worker", heartbeat_at=None)
    assert jobs_stranded(BenchmarkBuild.objects.all()).exists()
    benchmark_builds_resume()
    assert not jobs_stranded(BenchmarkBuild.objects.all()).exists()  # taken and sent (the broker is a folder here)
