"""The four DL19 imports end to end, through the commands: counts, idempotence, round trip."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from labeling.models import Document, Judgment, Labeler, ModelLabel, Pair, Query

CORPUS = "dl19"


def _import_all(dl19_dir) -> str:
    out = StringIO()
    call_command("import_documents", dl19_dir / "passages.jsonl", corpus=CORPUS, stdout=out)
    call_command("import_queries", dl19_dir / "queries.tsv", corpus=CORPUS, stdout=out)
    call_command("import_qrels", dl19_dir / "qrels-nist.txt", corpus=CORPUS, annotator="nist", stdout=out)
    run = dl19_dir / "run-llama3-70b-4prompts.txt"
    call_command("import_qrels", run, corpus=CORPUS, labeler="llama3-70b-4prompts", stdout=out)
    return out.getvalue()


def _snapshot() -> dict:
    """Every row's values that an import writes, timestamps of the last change included."""
    return {
        "documents": list(Document.objects.order_by("id").values_list("id", "external_id", "title", "text", "extra")),
        "queries": list(Query.objects.order_by("id").values_list("id", "external_id", "text", "kind", "origin")),
        "pairs": list(Pair.objects.order_by("id").values_list("id", "query_id", "document_id", "origin")),
        "judgments": list(
            Judgment.objects.order_by("id").values_list(
                "id", "pair_id", "annotator_id", "grade", "input_method", "updated_at"
            )
        ),
        "labels": list(
            ModelLabel.objects.order_by("id").values_list(
                "id", "pair_id", "labeler_id", "grade", "distribution", "expected_grade"
            )
        ),
        "users": get_user_model().objects.count(),
        "labelers": Labeler.objects.count(),
    }


def _trec_set(path) -> set[tuple[str, str, int]]:
    with open(path) as fh:
        return {(qid, docid, int(grade)) for qid, _, docid, grade in (line.split() for line in fh if line.strip())}


@pytest.mark.django_db
def test_dl19_imports_are_complete_idempotent_and_round_trip(dl19_dir, tmp_path):
    printed = _import_all(dl19_dir)

    assert "10818 documents read, 10818 new (corpus dl19)" in printed
    assert "200 queries read, 200 new (corpus dl19)" in printed
    assert Document.objects.count() == 10818
    assert Query.objects.count() == 200
    assert not Query.objects.filter(text__endswith="\r").exists()  # CRLF file
    assert Pair.objects.count() == 9260
    assert Judgment.objects.filter(annotator__username="nist").count() == 9260
    nist = get_user_model().objects.get(username="nist")
    assert not nist.has_usable_password()
    labeler = Labeler.objects.get(name="llama3-70b-4prompts")
    assert (labeler.role, labeler.backend) == (Labeler.Role.RECORDED, Labeler.Backend.RECORDED)
    assert ModelLabel.objects.filter(labeler=labeler).count() == 9260
    label = ModelLabel.objects.filter(labeler=labeler, grade=2).first()
    assert (label.distribution, label.expected_grade) == ([0.0, 0.0, 1.0, 0.0], 2.0)

    before = _snapshot()
    again = _import_all(dl19_dir)
    assert "10818 documents read, 0 new" in again
    assert _snapshot() == before

    out = tmp_path / "nist.txt"
    call_command("export_qrels", annotator="nist", out=out, stdout=StringIO())
    assert _trec_set(out) == _trec_set(dl19_dir / "qrels-nist.txt")
    call_command("export_qrels", labeler="llama3-70b-4prompts", out=out, stdout=StringIO())
    assert _trec_set(out) == _trec_set(dl19_dir / "run-llama3-70b-4prompts.txt")
