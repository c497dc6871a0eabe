"""Qrels downloads, streamed, of an annotator, a labeler and a benchmark's consensus; every
name checked against what the user may see."""

import json

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER
from tests.factories import JudgmentFactory, LabelerFactory, ModelLabelFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("workspace:qrels_download")


def body(response) -> str:
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_a_benchmarks_consensus_in_three_formats(as_role, bench_factory):
    benchmark = bench_factory(n=2, required=3, name="consensus")
    items = list(benchmark.items.order_by("position").select_related("pair__query", "pair__document"))
    people = [UserFactory(username=f"p{i}") for i in range(3)]
    for person, grade in zip(people, [1, 2, 2], strict=True):
        JudgmentFactory(pair=items[0].pair, annotator=person, grade=grade)
    admin = as_role(ADMIN)
    qid, docid = items[0].pair.query.external_id, items[0].pair.document.external_id
    assert body(admin.get(URL, {"benchmark": "consensus"})) == f"{qid} Q0 {docid} 2\n"
    jsonl = body(admin.get(URL, {"benchmark": "consensus", "format": "jsonl"}))
    assert [json.loads(line) for line in jsonl.splitlines()] == [
        {"qid": qid, "docid": docid, "grade": 2, "judgments": 3}]
    response = admin.get(URL, {"benchmark": "consensus", "format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="benchmark-consensus.csv"'
    assert body(response).splitlines()[0] == "qid,docid,grade,judgments"


def test_an_annotators_and_a_labelers_grades(as_role):
    pair = PairFactory()
    JudgmentFactory(pair=pair, annotator=UserFactory(username="priya"), grade=3)
    ModelLabelFactory(pair=pair, labeler=LabelerFactory(name="teacher"), grade=1)
    reviewer = as_role(REVIEWER)
    assert body(reviewer.get(URL, {"annotator": "priya"})).endswith(" 3\n")
    assert body(reviewer.get(URL, {"labeler": "teacher", "format": "jsonl"})).count('"expected_grade"') == 1


def test_refusals(as_role, bench_factory):
    bench_factory(n=1, name="hidden")
    annotator = as_role(ANNOTATOR)
    assert annotator.get(URL, {"benchmark": "hidden"}).status_code == 403  # annotators read no one's qrels
    admin = as_role(ADMIN)
    assert admin.get(URL, {"benchmark": "nope"}).status_code == 404
    assert admin.get(URL, {"annotator": "ghost"}).status_code == 404
    assert admin.get(URL, {"labeler": "ghost"}).status_code == 404
    assert admin.get(URL, {"benchmark": "hidden", "format": "xml"}).status_code == 400
    assert admin.get(URL, {"benchmark": "hidden", "labeler": "x"}).status_code == 400
    assert admin.get(URL).status_code == 400
    assert admin.get(URL, {"benchmark": "x" * 10_000}).status_code == 404


def test_the_corpus_page_links_each_graders_qrels(as_role, corpus):
    pair = PairFactory(query=corpus.queries.first(), document=corpus.documents.first())
    JudgmentFactory(pair=pair, annotator=UserFactory(username="priya"))
    ModelLabelFactory(pair=pair, labeler=LabelerFactory(name="teacher"))
    JudgmentFactory(annotator=UserFactory(username="elsewhere"))  # another corpus's grader
    page = as_role(ADMIN).get(reverse("workspace:corpus_detail", args=["intranet"])).content.decode()
    downloads = page.split('id="downloads"')[1].split("</section>")[0]
    assert f"{URL}?annotator=priya&amp;format=csv" in downloads
    assert f"{URL}?labeler=teacher&amp;format=trec" in downloads
    assert "elsewhere" not in downloads
