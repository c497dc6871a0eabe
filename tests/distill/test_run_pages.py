"""The launch form (what exists preselected, each field explained, an estimate of the run before
launch) and the run page's cost and throughput, teacher against student, measured in the run."""

import html
import re

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, user_role_set
from distill.models import Run
from labeling.models import Labeler, LabelingJob
from tests.factories import BenchmarkFactory, BenchmarkItemFactory, CorpusFactory, LabelerFactory, UserFactory

NEW = reverse("distill:run_new")


@pytest.fixture
def admin(client, db):
    user = UserFactory(username="boss")
    user_role_set(user=user, role=ADMIN)
    client.force_login(user)
    return client


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _selected(page: str, field: str) -> str | None:
    select = page.split(f'name="{field}"', 1)[1].split("</select>", 1)[0]
    found = re.search(r'<option value="([^"]*)" selected>', select)
    return found.group(1) if found else None


@pytest.mark.django_db
def test_the_form_preselects_the_one_of_each_and_explains_every_field(admin):
    corpus = CorpusFactory(name="intranet")
    bench = BenchmarkFactory(name="bench")
    LabelerFactory(name="writer", role=Labeler.Role.GENERATOR, backend=Labeler.Backend.LOCAL_LM)
    LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    page = _text(admin.get(NEW))
    assert _selected(page, "corpus") == str(corpus.id) and _selected(page, "benchmark") == str(bench.id)
    assert _selected(page, "generator") == "writer" and _selected(page, "teacher") == "judge"
    form = admin.get(NEW).context["form"]
    assert all(field.help_text for field in form.fields.values())

    CorpusFactory(name="second")
    LabelerFactory(name="judge-2", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    page = _text(admin.get(NEW))
    assert _selected(page, "corpus") in (None, "") and _selected(page, "teacher") in (None, "")  # two: the admin picks


@pytest.mark.django_db
def test_the_estimate_counts_the_pairs_and_times_them_at_the_teachers_measured_rate(admin):
    CorpusFactory(name="intranet")
    bench = BenchmarkFactory(name="bench")
    for _ in range(5):
        BenchmarkItemFactory(benchmark=bench)
    LabelerFactory(name="writer", role=Labeler.Role.GENERATOR, backend=Labeler.Backend.LOCAL_LM)
    teacher = LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                             params={"price_per_gpu_hour": 3600.0})
    page = _text(admin.get(NEW))
    # 20 seed documents x 2 queries x (the seed + 4 BM25 + 1 random negatives) = 240 pairs
    assert re.search(r'id="estimate-teach-pairs">240<', page) and "benchmark's 5 pairs" in page
    assert "<strong>unknown</strong>" in page

    LabelingJob.objects.create(labeler=teacher, scope={}, total=49, done=49, seconds=7.0,
                               status=LabelingJob.Status.SUCCEEDED)
    page = _text(admin.post(NEW, {"name": "r", "corpus": "", "generator": "writer", "teacher": "judge",
                                  "benchmark": str(bench.id), "student_base": "minilm-l6", "seed_documents": "10",
                                  "queries_per_document": "1", "bm25_negatives": "4", "random_negatives": "0",
                                  "epochs": "1", "learning_rate": "3e-5", "batch_size": "8", "max_length": "64",
                                  "gate_margin": "0.05", "action": "estimate"}))
    assert not Run.objects.exists()  # an estimate launches nothing, and the bad field is named
    assert "This field is required." in page
    page = _text(admin.post(NEW, {"name": "r", "corpus": str(CorpusFactory(name="c2").id), "generator": "writer",
                                  "teacher": "judge", "benchmark": str(bench.id), "student_base": "minilm-l6",
                                  "seed_documents": "10", "queries_per_document": "1", "bm25_negatives": "4",
                                  "random_negatives": "0", "epochs": "1", "learning_rate": "3e-5",
                                  "batch_size": "8", "max_length": "64", "gate_margin": "0.05",
                                  "action": "estimate"}))
    # 50 + 5 pairs at 7 pairs/s: about 8 s, at 3,600 an hour 7.857
    assert re.search(r'id="estimate-teach-pairs">50<', page)
    assert "about <strong>8 s</strong>" in page and "7.0 pairs/s" in page and "costing about 7.8571" in page
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_the_run_page_shows_teacher_and_student_cost_and_their_ratio(admin):
    teacher = LabelerFactory(name="judge", params={"price_per_million_input_tokens": 1.0})
    student = LabelerFactory(name="student-run-1", params={"price_per_gpu_hour": 1.8})
    teach = LabelingJob.objects.create(labeler=teacher, scope={}, total=100, done=100, seconds=50.0,
                                       tokens_in=200_000)
    judge = LabelingJob.objects.create(labeler=teacher, scope={}, total=20, done=20, seconds=10.0, tokens_in=40_000)
    learn = LabelingJob.objects.create(labeler=student, scope={}, total=20, done=20, seconds=0.5)
    run = Run.objects.create(name="r", corpus=CorpusFactory(), status=Run.Status.SUCCEEDED, progress={
        "teach": {"done": 100, "total": 100, "job": teach.id},
        "evaluate": {"done": 20, "total": 20, "teacher_job": judge.id, "student_job": learn.id}})
    page = _text(admin.get(reverse("distill:run_detail", args=[run.id])))
    table = re.sub(r">\s+<", "><", page.split('id="run-cost"', 1)[1].split("</table>", 1)[0])
    # teacher: 120 pairs in 60 s = 2.0/s, 0.24 for 240,000 tokens = 2.0 per 1,000 pairs
    assert "<th>teacher</th><td>120</td><td>60.0 s</td><td>2.0</td><td>0.2400</td><td>2.0000</td>" in table
    # student: 20 pairs in 0.5 s = 40/s, 0.5 s of a 1.8/h GPU = 0.00025, 0.0125 per 1,000 pairs
    assert "<th>student</th><td>20</td><td>0.5 s</td><td>40.0</td><td>0.0003</td><td>0.0125</td>" in table
    assert 'id="run-speedup">20.0× faster' in table and 'id="run-cost-ratio">160.0× cheaper' in table

    bare = Run.objects.create(name="new", corpus=run.corpus)
    assert 'id="run-cost"' not in _text(admin.get(reverse("distill:run_detail", args=[bare.id])))
