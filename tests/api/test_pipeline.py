"""The whole pipeline through the API alone, with a real worker process: create a corpus,
upload documents and queries, add a ranker's top-k pairs, register a student and label them,
export the qrels, and compare the export with the database."""

import io
import os
import time

import pytest

from annotate.roles import ADMIN, user_role_set
from api.services.tokens import token_create
from labeling.models import ModelLabel
from tests.api.conftest import ApiClient
from tests.factories import UserFactory, seeded_student_save

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads, here or in the worker
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytestmark = [pytest.mark.worker, pytest.mark.slow]

DOCUMENTS = "\n".join(
    f'{{"docid": "d{i}", "title": "Policy {i}", "text": "{text}"}}' for i, text in enumerate([
        "Travel expenses are reimbursed within 30 days of filing the expense report.",
        "The cafeteria opens at 8am and serves lunch until 2pm.",
        "Expense reports need a receipt for every item over 25 dollars.",
        "Parking permits are renewed each January at the front desk.",
        "Per diem rates for travel abroad are listed in the finance wiki.",
    ])) + "\n"
QUERIES = "q1\thow are travel expenses reimbursed\nq2\twhen does the cafeteria open\n"
TOP_K = [("q1", "d0"), ("q1", "d2"), ("q1", "d4"), ("q2", "d1"), ("q2", "d3"), ("q2", "d0")]


@pytest.fixture
def student_dir(tmp_path):
    """A small "fine-tuned" student, saved as a model folder the worker loads."""
    return seeded_student_save(tmp_path / "student")


def upload(text: str, name: str) -> io.BytesIO:
    data = io.BytesIO(text.encode())
    data.name = name
    return data


def wait_for(api: ApiClient, path: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(path).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{path} still {body['status']} after {timeout}s")


def local(url: str) -> str:
    return url.split("testserver", 1)[1]


def test_the_whole_pipeline_through_the_api(transactional_db, celery_worker_process, student_dir):
    user = UserFactory(username="pipeline")
    user_role_set(user=user, role=ADMIN)
    api = ApiClient(token_create(user=user, name="nightly").secret)
    celery_worker_process("default,gpu")

    assert api.post("/api/v1/corpora", {"name": "intranet"}).status_code == 201
    for kind, text, name in (("documents", DOCUMENTS, "docs.jsonl"), ("queries", QUERIES, "queries.tsv")):
        accepted = api.post(f"/api/v1/corpora/intranet/imports/{kind}", data={"file": upload(text, name)})
        assert accepted.status_code == 202, accepted.content
        done = wait_for(api, local(accepted.json()["url"]))
        assert done["status"] == "succeeded", done
    assert api.get("/api/v1/corpora/intranet").json() | {"id": 0} == {
        "id": 0, "name": "intranet", "description": "", "documents": 5, "queries": 2}

    added = api.post("/api/v1/corpora/intranet/pairs",
                     {"pairs": [{"qid": q, "docid": d} for q, d in TOP_K]}).json()
    assert added["new"] == len(TOP_K)

    created = api.post("/api/v1/labelers", {"name": "student", "role": "student", "backend": "cross_encoder",
                                            "model_ref": str(student_dir), "params": {"batch_size": 4}})
    assert created.status_code == 201, created.content
    job = api.post("/api/v1/labeling-jobs", {"labeler": "student", "corpus": "intranet", "force": True})
    assert job.status_code == 202, job.content
    assert job.json()["estimate"]["to_label"] == len(TOP_K)
    finished = wait_for(api, local(job.json()["url"]))
    assert (finished["status"], finished["done"], finished["total"]) == ("succeeded", 6, 6), finished

    exported = api.get("/api/v1/exports/qrels", labeler="student", format="trec")
    assert exported.status_code == 200
    lines = b"".join(exported.streaming_content).decode().splitlines()
    stored = {(label.pair.query.external_id, label.pair.document.external_id): label.grade
              for label in ModelLabel.objects.filter(labeler__name="student").select_related("pair__query",
                                                                                               "pair__document")}
    assert {(qid, docid): int(grade) for qid, _, docid, grade in (line.split() for line in lines)} == stored
    assert set(stored) == set(TOP_K) and len(lines) == len(TOP_K)
