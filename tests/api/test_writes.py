"""The write endpoints: corpus create, imports as jobs (202 + url; server paths held inside the
import root; uploads), pairs in bulk, labelers, labeling jobs with their estimate, runs, /judge
with its rate limit, streamed exports."""

import io
import os

import pytest

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER
from annotate.services import benchmark_create
from distill.models import Run
from labeling.models import ImportJob, Labeler, LabelingJob, ModelLabel, Pair
from labeling.services.exports import labeler_qrel_rows, qrels_export
from labeling.services.import_jobs import import_job_run
from tests.api.conftest import assert_error
from tests.factories import CorpusFactory, DocumentFactory, LabelerFactory, ModelLabelFactory, QueryFactory


@pytest.fixture
def corpus(db):
    corpus = CorpusFactory(name="intranet")
    for i in range(3):
        QueryFactory(corpus=corpus, external_id=f"q{i}", text=f"travel policy {i}")
        DocumentFactory(corpus=corpus, external_id=f"d{i}", text=f"The travel policy, part {i}.")
    return corpus


@pytest.mark.django_db
def test_corpus_create_is_for_admins(api_as):
    assert api_as(ADMIN).post("/api/v1/corpora", {"name": "wiki", "description": "d"}).status_code == 201
    assert api_as(ADMIN, "admin2").post("/api/v1/corpora", {"name": "wiki"}).status_code == 200
    assert_error(api_as(REVIEWER).post("/api/v1/corpora", {"name": "x"}), 403)
    assert assert_error(api_as(ADMIN, "a3").post("/api/v1/corpora", {"name": "no spaces"}), 422)["field"] == "name"


@pytest.mark.django_db
def test_a_server_path_import_is_a_job_answered_202_with_its_url(api_as, import_root):
    (import_root / "docs.jsonl").write_text('{"docid": "a", "text": "alpha"}\n{"docid": "b", "text": "beta"}\n')
    api = api_as(ADMIN)
    response = api.post("/api/v1/corpora/wiki/imports/documents/from-path", {"path": "docs.jsonl"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["url"].endswith(f"/api/v1/imports/{body['id']}")
    import_job_run(job_id=body["id"])  # what the worker's task does (the pipeline test uses a real worker)
    done = api.get(body["url"].split("testserver")[1]).json()
    assert done["status"] == "succeeded" and done["summary"]["read"] == 2 and done["summary"]["new"] == 2


@pytest.mark.django_db
def test_a_refused_file_is_reported_with_its_line_and_field(api_as, import_root):
    (import_root / "bad.jsonl").write_text('{"docid": "a", "text": "alpha"}\n{"docid": "b"}\n')
    api = api_as(ADMIN)
    job_id = api.post("/api/v1/corpora/wiki/imports/documents/from-path", {"path": "bad.jsonl"}).json()["id"]
    import_job_run(job_id=job_id)
    error = api.get(f"/api/v1/imports/{job_id}").json()["error"]
    assert (error["file"], error["line"], error["field"]) == ("bad.jsonl", 2, "text")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["../outside.jsonl", "/etc/passwd", "link.jsonl", "missing.jsonl", "a\x00b"])
def test_a_server_path_outside_the_import_root_is_refused(api_as, import_root, path):
    (import_root.parent / "outside.jsonl").write_text('{"docid": "a", "text": "x"}\n')
    os.symlink(import_root.parent / "outside.jsonl", import_root / "link.jsonl")
    response = api_as(ADMIN).post("/api/v1/corpora/wiki/imports/documents/from-path", {"path": path})
    assert assert_error(response, 400)["field"] == "path"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_an_upload_import_keeps_the_file_until_imported(api_as, import_root, corpus):
    api = api_as(ADMIN)
    upload = io.BytesIO(b"q0 0 d0 2\nq1 0 d1 0\n")
    upload.name = "run.txt"
    response = api.post("/api/v1/corpora/intranet/imports/qrels", data={"file": upload, "annotator": "nist"})
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(id=response.json()["id"])
    assert job.uploaded and os.path.exists(job.path) and job.path.startswith(str(import_root.parent / "uploads"))
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.summary["new_pairs"] == 2 and not os.path.exists(job.path)
    assert_error(api.post("/api/v1/corpora/intranet/imports/qrels", data={"file": io.BytesIO(b"x")}), 400)


@pytest.mark.django_db
def test_imports_are_rate_limited_per_token(api_as, import_root, settings):
    settings.API_IMPORTS_PER_HOUR = 2
    (import_root / "q.tsv").write_text("q1\tfirst\n")
    first, second = api_as(ADMIN), api_as(ADMIN, "other-admin")
    for _ in range(2):
        assert first.post("/api/v1/corpora/c/imports/queries/from-path", {"path": "q.tsv"}).status_code == 202
    refused = first.post("/api/v1/corpora/c/imports/queries/from-path", {"path": "q.tsv"})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    assert second.post("/api/v1/corpora/c/imports/queries/from-path", {"path": "q.tsv"}).status_code == 202


@pytest.mark.django_db
def test_pairs_in_bulk_all_or_nothing_and_into_a_benchmark(api_as, corpus):
    api = api_as(ADMIN)
    benchmark_create(name="top5")
    bad = api.post("/api/v1/corpora/intranet/pairs", {"pairs": [{"qid": "q0", "docid": "d0"},
                                                                {"qid": "q0", "docid": "nope"}]})
    assert assert_error(bad, 400)["field"] == "pairs.1.docid" and not Pair.objects.exists()
    keys = [{"qid": "q0", "docid": "d0"}, {"qid": "q0", "docid": "d1"}, {"qid": "q1", "docid": "d2"}]
    added = api.post("/api/v1/corpora/intranet/pairs", {"pairs": keys, "benchmark": "top5"}).json()
    assert added["new"] == 3 and added["added_to_benchmark"] == 3 and len(set(added["pair_ids"])) == 3
    again = api.post("/api/v1/corpora/intranet/pairs", {"pairs": keys}).json()
    assert again["new"] == 0 and again["pair_ids"] == added["pair_ids"]
    assert_error(api_as(REVIEWER).post("/api/v1/corpora/intranet/pairs", {"pairs": keys}), 403)


@pytest.mark.django_db
def test_labeling_job_estimate_create_and_cancel(api_as, corpus):
    labeler = LabelerFactory(name="run-a", params={"price_per_gpu_hour": 3600.0})
    pairs = [Pair.objects.create(query=q, document=d) for q, d in zip(corpus.queries.all(), corpus.documents.all(),
                                                                         strict=True)]
    LabelingJob.objects.create(labeler=labeler, scope={}, total=10, done=10, seconds=5.0,
                               status=LabelingJob.Status.SUCCEEDED)
    ModelLabelFactory(pair=pairs[0], labeler=labeler)
    api = api_as(ADMIN)
    estimate = api.post("/api/v1/labeling-jobs/estimate", {"labeler": "run-a", "corpus": "intranet"}).json()
    assert estimate == {"pairs": 3, "to_label": 2, "pairs_per_second": 2.0, "seconds": 1.0, "cost": 1.0,
                        "based_on_jobs": 1, "tokens_in": 0, "tokens_out": 0}
    created = api.post("/api/v1/labeling-jobs", {"labeler": "run-a", "corpus": "intranet", "query_ids": ["q1"]})
    assert created.status_code == 202, created.content
    job = created.json()["job"]
    assert job["status"] == "queued" and job["total"] == 1 and created.json()["estimate"]["to_label"] == 1
    cancelled = api.post(f"/api/v1/labeling-jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert_error(api.post("/api/v1/labeling-jobs", {"labeler": "run-a"}), 400)
    assert_error(api.post("/api/v1/labeling-jobs", {"labeler": "nope", "corpus": "intranet"}), 404)
    assert_error(api_as(REVIEWER).post("/api/v1/labeling-jobs", {"labeler": "run-a", "corpus": "intranet"}), 403)


@pytest.mark.django_db
def test_an_unpromoted_student_needs_force(api_as, corpus):
    Pair.objects.create(query=corpus.queries.first(), document=corpus.documents.first())
    LabelerFactory(name="stu", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
    api = api_as(ADMIN)
    refused = assert_error(api.post("/api/v1/labeling-jobs", {"labeler": "stu", "corpus": "intranet"}), 400)
    assert refused["field"] == "force" and "force: true" in refused["message"]
    assert api.post("/api/v1/labeling-jobs", {"labeler": "stu", "corpus": "intranet", "force": True}).status_code == 202


@pytest.mark.django_db
def test_judge_grades_a_batch_now_and_is_rate_limited(api_as, corpus, settings):
    settings.API_JUDGE_PER_MINUTE = 2
    labeler = LabelerFactory(name="recorded-judge")
    pair = Pair.objects.create(query=corpus.queries.get(external_id="q0"),
                               document=corpus.documents.get(external_id="d0"))
    ModelLabelFactory(pair=pair, labeler=labeler, grade=3, distribution=[0, 0, 0, 1], expected_grade=3.0)
    api = api_as(ADMIN)
    body = {"labeler": "recorded-judge", "pairs": [{"query": "travel policy 0", "document": "x", "qid": "q0",
                                                    "docid": "d0"}]}
    judged = api.post("/api/v1/judge", body).json()
    assert judged["judgments"] == [{"grade": 3, "distribution": [0.0, 0.0, 0.0, 1.0], "expected_grade": 3.0}]
    unknown = {**body, "pairs": [{"query": "q", "document": "x", "qid": "q9", "docid": "d9"}]}
    assert_error(api.post("/api/v1/judge", unknown), 409, "labeler_failed")
    assert_error(api.post("/api/v1/judge", body), 429, "rate_limited")
    too_many = {**body, "pairs": body["pairs"] * 33}
    assert assert_error(api_as(ADMIN, "a2").post("/api/v1/judge", too_many), 422)["field"] == "pairs"
    assert_error(api_as(ANNOTATOR).post("/api/v1/judge", body), 403)
    assert not ModelLabel.objects.exclude(pair=pair).exists()  # judging writes nothing


@pytest.mark.django_db
def test_labeler_create_and_test(api_as):
    api = api_as(ADMIN)
    created = api.post("/api/v1/labelers", {"name": "rec", "role": "recorded", "backend": "recorded"})
    assert created.status_code == 201 and created.json()["name"] == "rec"
    assert_error(api.post("/api/v1/labelers", {"name": "rec", "role": "recorded", "backend": "recorded"}), 400)
    assert_error(api.post("/api/v1/labelers", {"name": "x", "role": "boss", "backend": "recorded"}), 422)
    tested = api.post("/api/v1/labelers/rec/test").json()
    assert tested["ok"] is False and "no grade" in tested["error"]  # a recorded run grades only its own pairs


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["trec", "jsonl", "csv"])
def test_exports_stream_what_the_command_writes(api_as, corpus, fmt, tmp_path):
    labeler = LabelerFactory(name="judge-x")
    for q, d in zip(corpus.queries.all(), corpus.documents.all(), strict=True):
        ModelLabelFactory(pair=Pair.objects.create(query=q, document=d), labeler=labeler, grade=2,
                          distribution=[0, 0, 1, 0], expected_grade=2.0)
    response = api_as(REVIEWER).get("/api/v1/exports/qrels", labeler="judge-x", format=fmt)
    assert response.status_code == 200 and response.streaming
    streamed = b"".join(response.streaming_content).decode()
    qrels_export(rows=labeler_qrel_rows(labeler=labeler), out=tmp_path / "out", fmt=fmt)
    assert streamed == (tmp_path / "out").read_text() and streamed.count("\n") >= 3
    assert_error(api_as(ANNOTATOR).get("/api/v1/exports/qrels", labeler="judge-x"), 403)
    assert_error(api_as(ADMIN).get("/api/v1/exports/qrels"), 400)


@pytest.mark.django_db
def test_a_run_is_launched_and_cancelled(api_as, corpus):
    LabelerFactory(name="gen", role=Labeler.Role.GENERATOR, backend=Labeler.Backend.LOCAL_LM)
    LabelerFactory(name="teach", role=Labeler.Role.TEACHER, backend=Labeler.Backend.LOCAL_LM)
    api = api_as(ADMIN)
    launched = api.post("/api/v1/runs", {"name": "r", "corpus": "intranet", "generator": "gen", "teacher": "teach",
                                         "epochs": 1})
    assert launched.status_code == 202, launched.content
    run = Run.objects.get(id=launched.json()["run"]["id"])
    assert run.config["train"]["epochs"] == 1 and run.status == "queued"
    assert assert_error(api.post("/api/v1/runs", {"name": "r", "corpus": "intranet", "generator": "teach",
                                                  "teacher": "teach"}), 400)["field"] == "generator"
    assert api.post(f"/api/v1/runs/{run.id}/cancel").json()["status"] == "cancelled"
    assert_error(api.post(f"/api/v1/runs/{run.id}/cancel"), 409)
