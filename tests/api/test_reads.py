"""The read endpoints: what each role sees (as in the browser), pagination and ids filters,
benchmark progress and agreement figures, labeling job and run status, a run's frontier."""

import pytest
from django.utils import timezone

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER
from annotate.services import benchmark_create, benchmark_items_add, membership_add
from annotate.services.dashboard import benchmark_stats_refresh
from distill.models import Run
from labeling.models import LabelingJob
from tests.api.conftest import assert_error
from tests.factories import CorpusFactory, JudgmentFactory, LabelerFactory, PairFactory, UserFactory


@pytest.fixture
def two_benchmarks(db):
    pairs = [PairFactory().id for _ in range(4)]
    mine, other = benchmark_create(name="mine", judgments_required=2), benchmark_create(name="other")
    benchmark_items_add(benchmark=mine, pair_ids=pairs[:2])
    benchmark_items_add(benchmark=other, pair_ids=pairs[2:])
    return mine, other


@pytest.mark.django_db
def test_an_annotator_sees_only_their_benchmarks_and_another_is_a_404(api_as, two_benchmarks):
    mine, _ = two_benchmarks
    api = api_as(ANNOTATOR)
    membership_add(benchmark=mine, users=[api.user])
    assert [b["name"] for b in api.get("/api/v1/benchmarks").json()["items"]] == ["mine"]
    assert api.get("/api/v1/benchmarks/mine").json()["regular_count"] == 2
    assert_error(api.get("/api/v1/benchmarks/other"), 404)
    assert_error(api.get("/api/v1/benchmarks/other/progress"), 404)
    assert_error(api.get("/api/v1/benchmarks/mine/agreement"), 403)  # reviewers' figures
    assert_error(api.get("/api/v1/benchmarks/mine/members"), 403)
    for path in ("/api/v1/labelers", "/api/v1/labeling-jobs", "/api/v1/runs", "/api/v1/corpora"):
        assert_error(api.get(path), 403)


@pytest.mark.django_db
def test_pagination_and_the_ids_filter(api_as):
    corpora = [CorpusFactory(name=f"c{i:02}") for i in range(7)]
    api = api_as(REVIEWER)
    first = api.get("/api/v1/corpora", limit=3).json()
    assert (first["count"], first["limit"], first["offset"]) == (7, 3, 0)
    assert [c["name"] for c in first["items"]] == ["c00", "c01", "c02"]
    last = api.get("/api/v1/corpora", limit=3, offset=6).json()
    assert [c["name"] for c in last["items"]] == ["c06"]
    picked = api.get("/api/v1/corpora", ids=[corpora[1].id, corpora[5].id]).json()
    assert [c["name"] for c in picked["items"]] == ["c01", "c05"] and picked["count"] == 2
    assert_error(api.get("/api/v1/corpora", ids=list(range(101))), 422)
    assert_error(api.get("/api/v1/corpora", ids="x"), 422)


@pytest.mark.django_db
def test_progress_and_agreement_figures(api_as, two_benchmarks):
    mine, _ = two_benchmarks
    api = api_as(REVIEWER)
    people = [UserFactory(username=f"p{i}") for i in range(2)]
    membership_add(benchmark=mine, users=people)
    for pair in mine.pairs.all():
        for person in people:
            JudgmentFactory(pair=pair, annotator=person, grade=2)
    before = api.get("/api/v1/benchmarks/mine/agreement").json()
    assert before["figures"] is None and before["stale"]
    benchmark_stats_refresh(benchmark_id=mine.id)  # what the worker's task does
    after = api.get("/api/v1/benchmarks/mine/agreement").json()
    assert not after["stale"] and after["figures"]["judgments"] == 4
    assert after["figures"]["completion"]["pairs_complete"] == 2
    progress = api.get("/api/v1/benchmarks/mine/progress").json()
    assert progress["judgments_total"] == 4 and progress["mine"] == 0
    admin = api_as(ADMIN)
    assert [m["username"] for m in admin.get("/api/v1/benchmarks/mine/members").json()["items"]] == ["p0", "p1"]


@pytest.mark.django_db
def test_labelers_jobs_and_runs_status(api_as):
    labeler = LabelerFactory(name="judge-a", promotion={"passed": True, "reason": "ok", "by": "t"})
    job = LabelingJob.objects.create(labeler=labeler, scope={}, total=10, done=4, seconds=2.0,
                                     status=LabelingJob.Status.RUNNING)
    run = Run.objects.create(name="r1", corpus=CorpusFactory(name="c"), status=Run.Status.SUCCEEDED, stage="evaluate",
                             finished_at=timezone.now(),
                             metrics={"evaluate": {"frontier": [{"budget": "student", "teacher_share": 0.0}],
                                                   "gate": {"margin": 0.05, "promoted": "x"}}})
    reviewer, admin = api_as(REVIEWER), api_as(ADMIN)
    assert reviewer.get("/api/v1/labelers/judge-a").json()["promotion"]["passed"] is True
    assert_error(reviewer.get("/api/v1/labelers/nope"), 404)
    assert_error(reviewer.get(f"/api/v1/labeling-jobs/{job.id}"), 403)  # the browser's admins only
    status = admin.get(f"/api/v1/labeling-jobs/{job.id}").json()
    assert (status["status"], status["done"], status["total"], status["pairs_per_second"]) == ("running", 4, 10, 2.0)
    assert_error(admin.get("/api/v1/labeling-jobs/999999"), 404)
    detail = admin.get(f"/api/v1/runs/{run.id}").json()
    assert detail["status"] == "succeeded" and detail["stages"][0]["name"] == "synthesize"
    frontier = admin.get(f"/api/v1/runs/{run.id}/frontier").json()
    assert frontier["frontier"][0]["budget"] == "student" and frontier["gate"]["margin"] == 0.05
    assert_error(reviewer.get(f"/api/v1/runs/{run.id}"), 403)
