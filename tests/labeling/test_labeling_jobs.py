import time

import pytest
from django.core.management import call_command

from labeling.labelers.recorded import RecordedBackend
from labeling.models import Labeler, LabelingJob, ModelLabel
from labeling.services.grading import CROSS_ENCODER_JOB_PAIRS
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from tests.factories import LabelerFactory, ModelLabelFactory, PairFactory, QueryFactory


def _run_file(tmp_path, pairs, grade_of=lambda i: i % 4, skip=()):
    lines = [f"{p.query.external_id} 0 {p.document.external_id} {grade_of(i)}"
             for i, p in enumerate(pairs) if i not in skip]
    path = tmp_path / "run.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def pairs(db):
    query = QueryFactory(external_id="q1")
    return [PairFactory(query=query) for _ in range(10)]


@pytest.mark.django_db
def test_a_job_labels_every_pair_once_and_records_its_cost(tmp_path, pairs):
    labeler = LabelerFactory(
        name="judge", params={"run_file": str(_run_file(tmp_path, pairs)), "price_per_gpu_hour": 3600.0}
    )
    job = labeling_job_create(labeler=labeler, scope={"query__external_id": "q1"}, batch_size=3, enqueue=False)
    job = labeling_job_run(job_id=job.id)
    assert job.status == LabelingJob.Status.SUCCEEDED
    assert job.done == job.total == 10
    labels = ModelLabel.objects.filter(labeler=labeler)
    assert sorted(labels.values_list("grade", flat=True)) == sorted(i % 4 for i in range(10))
    assert all(label.prompt_version == "recorded" for label in labels)
    assert job.seconds > 0 and job.pairs_per_second > 0
    assert job.cost == pytest.approx(job.seconds)  # 3600 per hour is 1 per second

    again = labeling_job_create(labeler=labeler, scope={"query__external_id": "q1"}, enqueue=False)
    assert labeling_job_run(job_id=again.id).done == 0  # nothing left to label
    assert labels.count() == 10


@pytest.mark.django_db
def test_a_failed_job_keeps_its_finished_batches_and_resumes_without_duplicates(tmp_path, pairs):
    # Pair 7 is missing from the run: the third batch fails, the first two stay written.
    labeler = LabelerFactory(name="partial", params={"run_file": str(_run_file(tmp_path, pairs, skip={7}))})
    job = labeling_job_create(labeler=labeler, scope={"query__external_id": "q1"}, batch_size=3, enqueue=False)
    with pytest.raises(KeyError):
        labeling_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == LabelingJob.Status.FAILED and "no grade" in job.error
    assert job.done == 6 == ModelLabel.objects.filter(labeler=labeler).count()

    complete = RecordedBackend.from_file(_run_file(tmp_path, pairs))
    job = labeling_job_run(job_id=job.id, backend=complete)
    assert job.status == LabelingJob.Status.SUCCEEDED and job.done == 10
    assert ModelLabel.objects.filter(labeler=labeler).count() == 10


@pytest.mark.django_db
def test_a_job_labels_around_pairs_labeled_before_it_and_leaves_their_labels(tmp_path, pairs):
    labeler = LabelerFactory(name="judge", params={"run_file": str(_run_file(tmp_path, pairs))})
    for i in (1, 2, 5, 9):  # labeled earlier (a killed worker, an earlier job): grade 3 from then
        ModelLabelFactory(pair=pairs[i], labeler=labeler, grade=3)
    job = labeling_job_create(labeler=labeler, scope={"query__external_id": "q1"}, batch_size=3, enqueue=False)
    job = labeling_job_run(job_id=job.id)
    assert job.status == LabelingJob.Status.SUCCEEDED and job.done == 6
    grades = dict(ModelLabel.objects.filter(labeler=labeler).values_list("pair_id", "grade"))
    assert grades == {p.id: 3 if i in (1, 2, 5, 9) else i % 4 for i, p in enumerate(pairs)}


@pytest.mark.django_db
def test_label_command_refuses_an_empty_scope():
    LabelerFactory(name="judge")
    with pytest.raises(Exception, match="no pairs"):
        call_command("label", labeler="judge", benchmark="nope")


@pytest.mark.worker
def test_label_background_runs_on_a_worker_process(tmp_path, celery_worker_process):
    query = QueryFactory(external_id="q1")
    pairs = [PairFactory(query=query) for _ in range(5)]
    LabelerFactory(name="judge", params={"run_file": str(_run_file(tmp_path, pairs))})
    celery_worker_process(queues="default")
    call_command("label", labeler="judge", corpus=query.corpus.name, background=True)
    job = LabelingJob.objects.get()
    deadline = time.monotonic() + 60
    while job.status != LabelingJob.Status.SUCCEEDED and time.monotonic() < deadline:
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == LabelingJob.Status.SUCCEEDED, job.error
    assert ModelLabel.objects.filter(labeler__name="judge").count() == 5


@pytest.mark.django_db
def test_agreement_command_reproduces_the_dl19_figures(dl19_dir, tmp_path):
    call_command("import_documents", str(dl19_dir / "passages.jsonl"), corpus="dl19")
    call_command("import_queries", str(dl19_dir / "queries.tsv"), corpus="dl19")
    call_command("import_qrels", str(dl19_dir / "qrels-nist.txt"), corpus="dl19", annotator="nist")
    call_command("import_qrels", str(dl19_dir / "run-llama3-70b-4prompts.txt"), corpus="dl19",
                 labeler="llama3-70b-4prompts")
    out = tmp_path / "agreement.json"
    call_command("agreement", labeler="llama3-70b-4prompts", annotator="nist", json=str(out))
    import json

    report = json.loads(out.read_text())
    assert report["n_pairs"] == 9260
    assert report["accuracy"] == pytest.approx(0.375, abs=5e-4)
    assert report["kappa"] == pytest.approx(0.167, abs=5e-4)
    assert report["quadratic_kappa"] == pytest.approx(0.461, abs=5e-4)
    assert report["alpha_ordinal"] == pytest.approx(0.391, abs=5e-4)
    for key in ("linear_kappa", "ndcg@10", "pairwise_accuracy", "confusion"):
        assert key in report

    # Restricted to a file of query ids, only their pairs count.
    qids = tmp_path / "qids.txt"
    qids.write_text("19335\n47923\n")
    call_command("agreement", labeler="llama3-70b-4prompts", annotator="nist", queries=str(qids), json=str(out))
    subset = json.loads(out.read_text())
    assert subset["n_queries"] == 2 and 0 < subset["n_pairs"] < 9260


@pytest.mark.django_db
def test_a_cross_encoder_job_hands_its_backend_large_chunks_to_sort_by_length(tmp_path, pairs):
    student = LabelerFactory(name="student", backend=Labeler.Backend.CROSS_ENCODER, params={"batch_size": 16})
    judge = LabelerFactory(name="judge", params={"run_file": str(_run_file(tmp_path, pairs)), "batch_size": 4})
    scope = {"query__external_id": "q1"}
    assert labeling_job_create(labeler=student, scope=scope, enqueue=False).batch_size == CROSS_ENCODER_JOB_PAIRS
    assert labeling_job_create(labeler=judge, scope=scope, enqueue=False).batch_size == 4
    assert labeling_job_create(labeler=student, scope=scope, batch_size=3, enqueue=False).batch_size == 3
