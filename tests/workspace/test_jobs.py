"""Labeling jobs in the browser: the estimate before launch, the promotion gate, a file of pairs,
the job's page with its cost, Cancel, and who may do what."""

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.roles import ANNOTATOR, REVIEWER
from labeling.models import Labeler, LabelingJob, Pair, SetAsidePair
from labeling.services.promotion import promotion_record
from tests.factories import (
    BenchmarkFactory,
    BenchmarkItemFactory,
    CorpusFactory,
    DocumentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    QueryFactory,
)

NEW = reverse("workspace:job_new")


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def setup(db):
    """A corpus of 2 queries x 3 documents; a benchmark of 4 of its 6 pairs; a priced teacher."""
    corpus = CorpusFactory(name="intranet")
    queries = [QueryFactory(corpus=corpus, external_id=f"q{i}") for i in range(2)]
    docs = [DocumentFactory(corpus=corpus, external_id=f"d{i}") for i in range(3)]
    pairs = [PairFactory(query=q, document=d) for q in queries for d in docs]
    bench = BenchmarkFactory(name="bench")
    for pair in pairs[:4]:
        BenchmarkItemFactory(benchmark=bench, pair=pair)
    teacher = LabelerFactory(name="teacher", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                             params={"base_url": "http://127.0.0.1:9/v1", "price_per_million_input_tokens": 2.0,
                                     "price_per_million_output_tokens": 10.0})
    return {"corpus": corpus, "pairs": pairs, "bench": bench, "teacher": teacher}


@pytest.mark.django_db
def test_the_estimate_is_unknown_until_the_labeler_was_measured_then_from_its_rate(admin_client, setup):
    form = {"labeler": "teacher", "source": "benchmark", "benchmark": "bench", "action": "estimate"}
    page = _text(admin_client.post(NEW, form))
    assert re.search(r'id="estimate-pairs">4<', page) and re.search(r'id="estimate-to-label">4<', page)
    assert "<strong>unknown</strong>" in page and 'id="launch"' in page
    assert not LabelingJob.objects.exists()  # an estimate launches nothing

    # Measured: 10 pairs in 5 s, 1,000 tokens in and 10 out per pair.
    LabelingJob.objects.create(labeler=setup["teacher"], scope={}, total=10, done=10, seconds=5.0, tokens_in=10_000,
                               tokens_out=100, status=LabelingJob.Status.SUCCEEDED)
    ModelLabelFactory(pair=setup["pairs"][0], labeler=setup["teacher"])  # one pair labeled already: skipped
    page = _text(admin_client.post(NEW, form))
    assert re.search(r'id="estimate-to-label">3<', page)
    assert "2.0 pairs/s" in page and "about 2 s" in page and "3000 in, 30 out" in page
    cost = 3000 / 1e6 * 2.0 + 30 / 1e6 * 10.0
    assert f'id="estimate-cost">{cost:.4f}<' in page


@pytest.mark.django_db
def test_launch_makes_the_job_and_its_page_shows_progress_rate_and_cost(admin_client, setup):
    response = admin_client.post(NEW, {"labeler": "teacher", "source": "corpus", "corpus": "intranet",
                                       "batch_size": "2", "action": "launch"})
    job = LabelingJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("workspace:job_detail", args=[job.id])
    assert (job.scope, job.total, job.batch_size) == ({"query__corpus__name": "intranet"}, 6, 2)

    # The worker's counters, as after three of its batches, one pair set aside.
    LabelingJob.objects.filter(id=job.id).update(status=LabelingJob.Status.RUNNING, done=4, seconds=2.0,
                                                 tokens_in=4000, tokens_out=40, set_aside=1)
    SetAsidePair.objects.create(job=job, pair=setup["pairs"][5], reason=SetAsidePair.Reason.REFUSAL,
                                detail="I cannot help with that")
    page = _text(admin_client.get(response.url))
    assert 'id="job-done">4<' in page and 'aria-valuenow="66"' in page
    assert 'id="job-rate">2.00<' in page
    cost = 4000 / 1e6 * 2.0 + 40 / 1e6 * 10.0
    assert f'id="job-cost-total">{cost:.4f}<' in page and f"{1000 * cost / 4:.4f}" in page
    assert "1 pair set aside" in page and "refusal 1" in page and "I cannot help with that" in page
    assert 'hx-trigger="every 2s"' in page and 'http-equiv="refresh"' in page
    fragment = _text(admin_client.get(response.url, headers={"HX-Request": "true"}))
    assert fragment.lstrip().startswith('<section id="job-status"')

    listing = _text(admin_client.get(reverse("workspace:job_list")))
    assert f'href="{response.url}"' in listing and "4 / 6" in listing

    admin_client.post(reverse("workspace:job_cancel", args=[job.id]))
    job.refresh_from_db()
    assert job.status == LabelingJob.Status.CANCELLED
    page = _text(admin_client.get(response.url))
    assert 'id="cancel"' not in page and "every 2s" not in page
    again = admin_client.post(reverse("workspace:job_cancel", args=[job.id]), follow=True)
    assert "The job had already ended." in _text(again)


@pytest.mark.django_db
def test_a_student_not_promoted_is_refused_unless_forced(admin_client, setup):
    student = LabelerFactory(name="student", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER,
                             model_ref="minilm-l6")
    form = {"labeler": "student", "source": "benchmark", "benchmark": "bench"}
    page = _text(admin_client.post(NEW, {**form, "action": "estimate"}))
    assert "no evaluation has promoted yet" in page and "--force" not in page
    page = _text(admin_client.post(NEW, {**form, "action": "launch"}))
    assert "has not passed its promotion gate: tick “Label anyway”" in page
    assert not LabelingJob.objects.exists()
    assert admin_client.post(NEW, {**form, "action": "launch", "force": "on"}).status_code == 302
    promotion_record(labeler=student, passed=True, reason="within the margin", by="run 1")
    assert admin_client.post(NEW, {**form, "action": "launch"}).status_code == 302
    assert LabelingJob.objects.filter(labeler=student).count() == 2


@pytest.mark.django_db
def test_a_file_of_pairs_is_read_at_the_estimate_and_launched_without_a_second_upload(admin_client, setup):
    def upload(text: str):
        return SimpleUploadedFile("top10.run", text.encode())

    run = "q0 Q0 d1 1 9.5 bm25\nq1 Q0 d2 1 9.1 bm25\nq1 Q0 d0 2 8.0 bm25\nq0 Q0 d1 1 9.5 bm25\n"
    Pair.objects.filter(query__external_id="q1", document__external_id="d2").delete()  # made from the file
    response = admin_client.post(NEW, {"labeler": "teacher", "source": "file", "corpus": "intranet",
                                       "pair_file": upload(run), "action": "estimate"})
    page = _text(response)
    assert "3 pairs of top10.run in corpus intranet" in page and re.search(r'id="estimate-pairs">3<', page)
    token = re.search(r'name="pairs_token" value="([^"]+)"', page).group(1)
    assert Pair.objects.filter(query__external_id="q1", document__external_id="d2").exists()

    launch = {"labeler": "teacher", "source": "file", "corpus": "intranet", "pairs_token": token, "action": "launch"}
    assert admin_client.post(NEW, launch).status_code == 302
    job = LabelingJob.objects.get()
    assert job.total == 3 and len(job.scope["id__in"]) == 3

    tampered = _text(admin_client.post(NEW, {**launch, "pairs_token": token[:-3] + "abc"}))
    assert "The pairs read before were altered" in tampered
    bad = _text(admin_client.post(NEW, {"labeler": "teacher", "source": "file", "corpus": "intranet",
                                        "pair_file": upload("q0 Q0 d1 1 9.5 bm25\nq0 Q0 nowhere 2 1 bm25\n"),
                                        "action": "estimate"}))
    assert "top10.run, line 2, field 'docid': no document 'nowhere' in corpus intranet" in bad
    bad = _text(admin_client.post(NEW, {"labeler": "teacher", "source": "file", "corpus": "intranet",
                                        "pair_file": upload("q0 d1 extra\n"), "action": "estimate"}))
    assert "top10.run, line 1: expected 'qid docid', a qrels or a TREC run line, got 3 columns" in bad
    assert LabelingJob.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("form", "field", "message"), [
    ({"source": "benchmark"}, "benchmark", "Pick the benchmark"),
    ({"source": "corpus"}, "corpus", "Pick the corpus."),
    ({"source": "file", "corpus": "intranet"}, "pair_file", "Upload the file of pairs."),
    ({"source": "benchmark", "benchmark": "nope"}, "benchmark", "Select a valid choice."),
    ({"source": "elsewhere"}, "source", "Select a valid choice."),
    ({"source": "corpus", "corpus": "intranet", "batch_size": "0"}, "batch_size", "greater than or equal to 1"),
])
def test_bad_input_is_named_by_its_field(admin_client, setup, form, field, message):
    response = admin_client.post(NEW, {"labeler": "teacher", "action": "launch", **form})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not LabelingJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [REVIEWER, ANNOTATOR])
def test_only_admins_see_or_launch_jobs(as_role, setup, role):
    job = LabelingJob.objects.create(labeler=setup["teacher"], scope={}, total=1)
    client = as_role(role)
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {"labeler": "teacher", "source": "corpus", "corpus": "intranet",
                             "action": "launch"}).status_code == 403
    assert client.get(reverse("workspace:job_list")).status_code == 403
    assert client.get(reverse("workspace:job_detail", args=[job.id])).status_code == 403
    assert client.post(reverse("workspace:job_cancel", args=[job.id])).status_code == 403
    job.refresh_from_db()
    assert job.status == LabelingJob.Status.QUEUED and LabelingJob.objects.count() == 1


@pytest.mark.django_db
def test_a_job_that_is_not_there(admin_client):
    assert admin_client.get(reverse("workspace:job_detail", args=[999])).status_code == 404
    assert admin_client.post(reverse("workspace:job_cancel", args=[999])).status_code == 404
