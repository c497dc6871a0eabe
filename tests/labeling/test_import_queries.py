import pytest
from django.core.management import call_command

from labeling.importers import queries_import
from labeling.models import Query
from tests.factories import CorpusFactory, QueryFactory


@pytest.mark.django_db
def test_tsv_with_crlf_and_a_bom(tmp_path):
    path = tmp_path / "queries.tsv"
    path.write_bytes(b"\xef\xbb\xbf101\twhat is a qrel\r\n102\tq3 budget deck from priya \r\n\r\n")

    summary = queries_import(path=path, corpus_name="acme")

    assert (summary.read, summary.new) == (2, 2)
    assert dict(Query.objects.values_list("external_id", "text")) == {
        "101": "what is a qrel", "102": "q3 budget deck from priya",
    }
    assert set(Query.objects.values_list("origin", "kind")) == {(Query.Origin.IMPORTED, Query.Kind.UNKNOWN)}


@pytest.mark.django_db
def test_jsonl_with_kinds_updates_in_place_and_keeps_the_origin(tmp_path):
    corpus = CorpusFactory(name="acme")
    existing = QueryFactory(corpus=corpus, external_id="s1", text="old", origin=Query.Origin.SYNTHETIC)
    path = tmp_path / "queries.jsonl"
    path.write_text(
        '{"qid": "s1", "query": "new text", "kind": "metadata"}\n'
        '{"query_id": 7, "text": "expense policy", "kind": "informational"}\n'
    )

    summary = queries_import(path=path, corpus_name="acme")

    assert (summary.read, summary.new) == (2, 1)
    existing.refresh_from_db()
    assert (existing.text, existing.kind, existing.origin) == ("new text", "metadata", Query.Origin.SYNTHETIC)
    assert Query.objects.get(external_id="7").kind == Query.Kind.INFORMATIONAL


@pytest.mark.django_db
def test_import_queries_command_creates_the_corpus(tmp_path, capsys):
    (tmp_path / "q.tsv").write_text("1\tone\n")
    call_command("import_queries", str(tmp_path / "q.tsv"), corpus="fresh")
    assert capsys.readouterr().out.strip() == "1 queries read, 1 new (corpus fresh)"
    assert Query.objects.get().corpus.name == "fresh"
