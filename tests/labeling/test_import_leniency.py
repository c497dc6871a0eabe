"""What imports once let pass without a word (issue 15, item 16), and the bounds they hold
(items 3 and 9): an empty file is an error, a duplicate or a skipped file a counted warning,
and a name too long for its column a clear error on every database."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labeling.importers import ImportFileError, documents_import, qrels_import, queries_import
from labeling.importers.limits import MAX_DOCUMENT_CHARS, MAX_RECORD_BYTES
from labeling.models import Corpus, Document, Judgment, Labeler, Query
from tests.factories import CorpusFactory, DocumentFactory, QueryFactory


@pytest.fixture
def corpus():
    corpus = CorpusFactory(name="acme")
    QueryFactory(corpus=corpus, external_id="q1")
    for docid in ("d1", "d2"):
        DocumentFactory(corpus=corpus, external_id=docid)
    return corpus


EMPTY = {
    # name: (file name, content, importer, message)
    "empty JSONL": ("docs.jsonl", b"", "documents", "no documents in the file"),
    "blank lines only": ("docs.jsonl", b"\n  \r\n\n", "documents", "no documents in the file"),
    "CSV header only": ("docs.csv", b"id,text\n", "documents", "no documents in the file"),
    "empty queries": ("q.tsv", b"", "queries", "no queries in the file"),
    "empty qrels": ("run.txt", b"\n", "qrels", "no qrels lines in the file"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", EMPTY.values(), ids=EMPTY.keys())
def test_an_empty_file_is_an_error_and_creates_nothing(tmp_path, case):
    name, content, kind, words = case
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ImportFileError, match=rf"^{path}: {words}$"):
        if kind == "qrels":
            CorpusFactory(name="acme")
            qrels_import(path=path, corpus_name="acme", annotator="newcomer")
        elif kind == "queries":
            queries_import(path=path, corpus_name="fresh")
        else:
            documents_import(path=path, corpus_name="fresh")

    assert not Corpus.objects.filter(name="fresh").exists()
    assert not get_user_model().objects.filter(username="newcomer").exists()


@pytest.mark.django_db
def test_a_folder_with_no_documents_is_an_error_and_creates_no_corpus(tmp_path):
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.md").write_text("hidden")
    with pytest.raises(CommandError, match=r"no documents in the folder \(no \.htm, \.html, \.markdown, \.md, \.txt"):
        call_command("import_documents", str(tmp_path), corpus="fresh")
    assert not Corpus.objects.exists()


@pytest.mark.django_db
def test_unsupported_files_in_a_folder_are_counted_and_named(tmp_path, capsys):
    (tmp_path / "deck.pptx").write_bytes(b"PK")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "photo.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "sub" / "notes.md").write_text("Notes.\n")
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # hidden entries are left out silently

    call_command("import_documents", str(tmp_path), corpus="acme")

    out, err = capsys.readouterr()
    assert out.strip() == "1 documents read, 1 new (corpus acme)"
    assert err.strip() == "warning: 2 files skipped, not .htm, .html, .markdown, .md, .txt: deck.pptx, sub/photo.jpg"


@pytest.mark.django_db
def test_duplicate_document_ids_are_counted_across_batches(tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    ids = ["a", "b", "a", "c", "b", "a"]
    path.write_text("".join(json.dumps({"id": i, "text": f"v{n}"}) + "\n" for n, i in enumerate(ids)))

    summary = documents_import(path=path, corpus_name="acme", batch_size=2)

    assert (summary.read, summary.new) == (6, 3)
    assert dict(Document.objects.values_list("external_id", "text")) == {"a": "v5", "b": "v4", "c": "v3"}
    assert summary.warning_lines() == [
        "warning: 3 duplicate document ids (the last of each kept): 'a' (line 3), 'b' (line 5), 'a' (line 6)"
    ]


@pytest.mark.django_db
def test_duplicate_query_ids_and_pairs_are_counted_and_printed(corpus, tmp_path, capsys):
    (tmp_path / "q.tsv").write_text("q1\tfirst\nq2\tsecond\nq1\tfirst again\n")
    (tmp_path / "run.txt").write_text("q1 Q0 d1 2\nq1 Q0 d2 1\nq1 Q0 d1 3\n")

    call_command("import_queries", str(tmp_path / "q.tsv"), corpus="acme")
    call_command("import_qrels", str(tmp_path / "run.txt"), corpus="acme", annotator="ann")

    err = capsys.readouterr().err
    assert err.splitlines() == [
        "warning: 1 duplicate query ids (the last of each kept): 'q1' (line 3)",
        "warning: 1 duplicate pairs (the last grade of each kept): q1 d1 (line 3)",
    ]
    assert Query.objects.get(external_id="q1").text == "first again"
    assert Judgment.objects.get(pair__document__external_id="d1").grade == 3


@pytest.mark.django_db
def test_good_urls_are_kept(tmp_path):
    urls = ["https://intranet.example/a?b=c#d", "HTTP://wiki/Page", "http://10.0.0.7:8080/x y"]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"id": n, "text": "t", "url": u}) + "\n"
                                              for n, u in enumerate(urls)))
    documents_import(path=tmp_path / "d.jsonl", corpus_name="acme")
    assert sorted(Document.objects.values_list("url", flat=True)) == sorted(urls)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/relative/path", "//evil.example/x", "mailto:a@b.example", "https://", "file:///etc"])
def test_other_urls_are_refused(tmp_path, url):
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "1", "text": "t", "url": url}) + "\n")
    with pytest.raises(ImportFileError, match=r"line 1, field 'url': URL .* is not an absolute http or https URL"):
        documents_import(path=tmp_path / "d.jsonl", corpus_name="acme")


@pytest.mark.django_db
def test_a_line_over_the_bound_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "docs.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "')
        fh.write(b"x" * MAX_RECORD_BYTES)
        fh.write(b'"}\n')
    with pytest.raises(ImportFileError, match=r"docs\.jsonl, line 2: line is over 16 MiB long"):
        documents_import(path=path, corpus_name="acme")
    assert not Corpus.objects.exists()


@pytest.mark.django_db
def test_a_document_over_the_bound_is_refused(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "x" * (MAX_DOCUMENT_CHARS + 1)}) + "\n")
    with pytest.raises(ImportFileError, match=r"line 1, field 'text': is 5,000,001 characters long, at most 5,000,000"):
        documents_import(path=path, corpus_name="acme")


@pytest.mark.django_db
def test_names_too_long_for_their_column_are_refused(corpus, tmp_path):
    (tmp_path / "run.txt").write_text("q1 Q0 d1 2\n")
    with pytest.raises(CommandError, match=r"annotator name 'aaaa.*at most 150 characters"):
        call_command("import_qrels", str(tmp_path / "run.txt"), corpus="acme", annotator="a" * 200)
    with pytest.raises(CommandError, match=r"annotator name 'ann ann'.*letters, numbers"):
        call_command("import_qrels", str(tmp_path / "run.txt"), corpus="acme", annotator="ann ann")
    with pytest.raises(CommandError, match="labeler name is 200 characters long, at most 100"):
        call_command("import_qrels", str(tmp_path / "run.txt"), corpus="acme", labeler="r" * 200)
    with pytest.raises(CommandError, match="corpus name is 101 characters long, at most 100"):
        call_command("import_queries", str(tmp_path / "run.txt"), corpus="c" * 101)
    assert not Judgment.objects.exists() and not Labeler.objects.exists()
    assert get_user_model().objects.count() == 0


@pytest.mark.django_db
def test_an_error_naming_a_lone_surrogate_prints(tmp_path):
    """A file name that is not UTF-8 reaches Python as a lone surrogate; the message still prints."""
    name = b"bad-\xff.md".decode("utf-8", "surrogateescape")
    (tmp_path / name).write_text("Body.\n")
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_documents", str(tmp_path), corpus="acme", stdout=out)
    message = str(caught.value)
    message.encode("utf-8")  # printable
    assert "bad-\\udcff.md" in message and "field 'path': contains a lone surrogate (U+DCFF)" in message
