import datetime as dt
import json

import pytest
from django.core.management import call_command

from labeling.importers import documents_import
from labeling.models import Document

UTC = dt.UTC


def _doc(external_id: str) -> Document:
    return Document.objects.get(corpus__name="acme", external_id=external_id)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "corpus"
    (root / "finance" / "budgets").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "finance" / "budgets" / "q3-review.md").write_text(
        "---\n"
        "title: Q3 budget review\n"
        "author: Priya Raman\n"
        "modified: 2025-10-08\n"  # unquoted: YAML makes a date of it
        "source: gdrive\n"
        "url: https://intranet.example/finance/q3\n"
        "team: finance\n"
        "reviewed: 2025-10-09T12:00:00Z\n"
        "tags: [budget, q3]\n"
        "---\n"
        "# Ignored heading\n\nSpend was 4% under plan.\n"
    )
    (root / "finance" / "notes.txt").write_text("# Month-end notes\n\nClose by the 5th.\n")
    (root / "plain.txt").write_text("No heading here.\n")
    (root / "moved.md").write_text('---\npath: "/old/share/moved.md"\nmodified: "2024-01-02 03:04:05"\n---\nText.\n')
    (root / "policy.html").write_text(
        "<!doctype html><html><head><title>Travel &amp; Expense Policy</title>"
        '<meta name="author" content="Isabel Nunes"><meta name="modified" content="2025-02-14T09:30:00+01:00">'
        '<meta name="source" content="sharepoint"><meta name="url" content="https://intranet.example/travel">'
        '<meta name="department" content="finance"><style>p { color: red }</style>'
        "<script>var hidden = 'no';</script></head>\n<body><h1>Travel policy</h1>\n"
        "<p>Book flights\n   through <b>Navan</b>.</p><ul><li>Economy under 6 hours</li><li>Hotels &lt; $250</li></ul>"
        "<script>alert('x')</script></body></html>"
    )
    (root / ".git" / "HEAD.md").write_text("hidden folder")
    (root / "image.png").write_bytes(b"\x89PNG")
    return root


@pytest.mark.django_db
def test_a_folder_keeps_metadata_paths_and_visible_text(folder):
    summary = documents_import(path=folder, corpus_name="acme")

    assert (summary.read, summary.new) == (5, 5)
    assert set(Document.objects.values_list("external_id", flat=True)) == {
        "finance/budgets/q3-review.md", "finance/notes.txt", "plain.txt", "moved.md", "policy.html",
    }
    md = _doc("finance/budgets/q3-review.md")
    assert (md.title, md.author, md.source, md.url) == (
        "Q3 budget review", "Priya Raman", "gdrive", "https://intranet.example/finance/q3",
    )
    assert md.modified_at == dt.datetime(2025, 10, 8, tzinfo=UTC)
    assert md.path == "finance/budgets/q3-review.md"
    assert md.extra == {"team": "finance", "reviewed": "2025-10-09T12:00:00+00:00", "tags": ["budget", "q3"]}
    assert md.text == "# Ignored heading\n\nSpend was 4% under plan."

    assert _doc("finance/notes.txt").title == "Month-end notes"
    assert _doc("plain.txt").title == "plain"
    moved = _doc("moved.md")
    assert (moved.path, moved.modified_at) == ("/old/share/moved.md", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))

    html = _doc("policy.html")
    assert (html.title, html.author, html.source, html.url) == (
        "Travel & Expense Policy", "Isabel Nunes", "sharepoint", "https://intranet.example/travel",
    )
    assert html.modified_at == dt.datetime(2025, 2, 14, 8, 30, tzinfo=UTC)
    assert html.extra == {"department": "finance"}
    assert html.text == "Travel policy\n\nBook flights through Navan.\n\nEconomy under 6 hours\n\nHotels < $250"


@pytest.mark.django_db
def test_jsonl_fields_aliases_and_extra(tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [
        {"docid": 101, "doc": "Body one", "title": "One", "modified_at": "2025-03-01T10:00:00", "team": "sre"},
        {"_id": "b", "contents": "Body two", "date": "2025-03-02", "author": "Ann", "id": "other-id"},
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(json.dumps(r) for r in rows).encode() + b"\r\n\r\n")

    documents_import(path=path, corpus_name="acme")

    one = _doc("101")
    assert (one.text, one.title, one.extra) == ("Body one", "One", {"team": "sre"})
    assert one.modified_at == dt.datetime(2025, 3, 1, 10, tzinfo=UTC)  # naive means UTC
    # "id" comes before "_id": the first accepted name present wins.
    two = _doc("other-id")
    assert (two.text, two.author, two.extra) == ("Body two", "Ann", {"_id": "b"})
    assert two.modified_at == dt.datetime(2025, 3, 2, tzinfo=UTC)


@pytest.mark.django_db
def test_csv_with_quoted_multi_line_fields_and_tsv(tmp_path):
    (tmp_path / "docs.csv").write_text('id,title,text,owner\nc1,"Deck, final","line one\nline two",ops\nc2,,Short,\n')
    (tmp_path / "docs.tsv").write_text("docid\tbody\tsource\nt1\tTab text\twiki\n")

    documents_import(path=tmp_path / "docs.csv", corpus_name="acme")
    documents_import(path=tmp_path / "docs.tsv", corpus_name="acme")

    c1 = _doc("c1")
    assert (c1.title, c1.text, c1.extra) == ("Deck, final", "line one\nline two", {"owner": "ops"})
    assert _doc("c2").title == ""
    assert (_doc("t1").text, _doc("t1").source) == ("Tab text", "wiki")


@pytest.mark.django_db
def test_reimport_updates_in_place_without_duplicates(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "Body", "title": "Old title"}\n{"id": "b", "text": "Other"}\n')
    first = documents_import(path=path, corpus_name="acme")
    pk = _doc("a").pk

    path.write_text(
        '{"id": "a", "text": "Body", "title": "New title"}\n{"id": "a", "text": "Body", "title": "Newest"}\n'
    )
    second = documents_import(path=path, corpus_name="acme")

    assert (first.new, second.read, second.new) == (2, 2, 0)
    assert Document.objects.count() == 2
    assert (_doc("a").pk, _doc("a").title) == (pk, "Newest")  # in place; the last duplicate wins


@pytest.mark.django_db
def test_small_batches_give_the_same_result(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i % 7}", "text": f"v{i}"}) + "\n" for i in range(20)))
    summary = documents_import(path=path, corpus_name="acme", batch_size=3)
    assert (summary.read, summary.new, Document.objects.count()) == (20, 7, 7)
    assert _doc("d5").text == "v19"


@pytest.mark.django_db
def test_import_documents_command_prints_the_summary(folder, capsys):
    call_command("import_documents", str(folder), corpus="acme")
    assert capsys.readouterr().out.strip() == "5 documents read, 5 new (corpus acme)"
