import pytest
from django.core.management import call_command

from labeling.importers import qrels_import
from labeling.models import Judgment, Labeler, ModelLabel, Pair
from tests.factories import CorpusFactory, DocumentFactory, PairFactory, QueryFactory, UserFactory


@pytest.fixture
def corpus():
    corpus = CorpusFactory(name="acme")
    for qid in ("q1", "q2"):
        QueryFactory(corpus=corpus, external_id=qid)
    for docid in ("d1", "d2", "d3"):
        DocumentFactory(corpus=corpus, external_id=docid)
    return corpus


def _grades(queryset) -> dict[tuple[str, str], int]:
    return {
        (qid, docid): grade
        for qid, docid, grade in queryset.values_list(
            "pair__query__external_id", "pair__document__external_id", "grade"
        )
    }


@pytest.mark.django_db
def test_annotator_judgments_and_reimport_with_a_changed_grade(corpus, tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 Q0 d1 3\nq1 0 d2 0\r\nq2\tQ0\td1  1\n")

    summary = qrels_import(path=path, corpus_name="acme", annotator="nist")

    assert str(summary) == "3 judgments by nist read, 3 new, 3 new pairs (corpus acme)"
    assert _grades(Judgment.objects.all()) == {("q1", "d1"): 3, ("q1", "d2"): 0, ("q2", "d1"): 1}
    assert set(Judgment.objects.values_list("input_method", flat=True)) == {Judgment.InputMethod.IMPORT}
    assert set(Pair.objects.values_list("origin", flat=True)) == {Pair.Origin.IMPORTED}
    ids = set(Judgment.objects.values_list("id", flat=True))

    path.write_text("q1 Q0 d1 2\nq1 Q0 d3 1\n")
    again = qrels_import(path=path, corpus_name="acme", annotator="nist")

    assert (again.read, again.new, again.new_pairs) == (2, 1, 1)
    assert _grades(Judgment.objects.all())[("q1", "d1")] == 2
    assert ids < set(Judgment.objects.values_list("id", flat=True))  # updated in place, one added


@pytest.mark.django_db
def test_an_existing_user_and_pair_are_reused(corpus, tmp_path):
    user = UserFactory(username="ann")
    user.set_password("secret")
    user.save()
    pair = PairFactory(query=corpus.queries.get(external_id="q1"), document=corpus.documents.get(external_id="d1"),
                       origin=Pair.Origin.BM25_NEGATIVE)
    (tmp_path / "q.txt").write_text("q1 Q0 d1 1\n")

    qrels_import(path=tmp_path / "q.txt", corpus_name="acme", annotator="ann")

    user.refresh_from_db()
    pair.refresh_from_db()
    assert user.check_password("secret")
    assert pair.origin == Pair.Origin.BM25_NEGATIVE  # a mined pair keeps its origin
    assert Judgment.objects.get().pair == pair


@pytest.mark.django_db
def test_labeler_run_gets_one_hot_labels(corpus, tmp_path):
    (tmp_path / "run.txt").write_text("q1 0 d1 2\nq2 0 d3 0\nq1 0 d1 1\n")  # a duplicate: the last wins

    call_command("import_qrels", str(tmp_path / "run.txt"), corpus="acme", labeler="judge-run")

    labeler = Labeler.objects.get(name="judge-run")
    assert (labeler.role, labeler.backend) == (Labeler.Role.RECORDED, Labeler.Backend.RECORDED)
    label = ModelLabel.objects.get(pair__document__external_id="d1")
    assert (label.grade, label.distribution, label.expected_grade) == (1, [0.0, 1.0, 0.0, 0.0], 1.0)
    assert ModelLabel.objects.count() == 2


@pytest.mark.django_db
def test_pairs_only_hands_back_grades_for_gold_items(corpus, tmp_path):
    (tmp_path / "gold.txt").write_text("q1 Q0 d1 3\nq2 Q0 d2 0\n")

    summary = qrels_import(path=tmp_path / "gold.txt", corpus_name="acme", return_grades=True)

    pairs = {
        (p.query.external_id, p.document.external_id): p.id for p in Pair.objects.select_related("query", "document")
    }
    assert sorted(summary.grades) == sorted([(pairs["q1", "d1"], 3), (pairs["q2", "d2"], 0)])
    assert (summary.read, summary.new) == (2, 2)  # new pairs
    assert not Judgment.objects.exists() and not ModelLabel.objects.exists()
