"""Bad input is refused with a message naming file, line and field, and changes nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Model

from labeling.importers import ImportFileError, documents_import, qrels_import, queries_import
from labeling.models import Corpus, Document, Judgment, Labeler, ModelLabel, Pair, Query
from tests.factories import CorpusFactory, DocumentFactory, LabelerFactory, QueryFactory

MODELS: list[type[Model]] = [Corpus, Document, Query, Pair, Judgment, ModelLabel, Labeler, get_user_model()]


def _counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in MODELS}


@pytest.fixture
def corpus():
    """A corpus holding q1 and d1, d2, so a qrels file can have valid lines."""
    corpus = CorpusFactory(name="acme")
    QueryFactory(corpus=corpus, external_id="q1")
    DocumentFactory(corpus=corpus, external_id="d1")
    DocumentFactory(corpus=corpus, external_id="d2")
    return corpus


VALID_DOC = b'{"docid": "new-1", "text": "A valid first line."}\n'
# 9 ** 9 x's from 422 bytes: safe_load built all of them (58 MB stored, 845 MB of memory).
ALIAS_BOMB = (
    "---\na: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "---\nBody.\n"
).encode()

CASES = {
    # name: (file name, content, importer, line, field, words in the message)
    "bad JSON": (
        "docs.jsonl",
        VALID_DOC + b'{"docid": "n2", "text": "ok"}\n{"docid": "n3", "text": \n',
        "documents", 3, None, "bad JSON",
    ),
    "not an object": ("docs.jsonl", VALID_DOC + b'["n2", "text"]\n', "documents", 2, None, "JSON object"),
    "missing text": (
        "docs.jsonl",
        VALID_DOC + b'{"docid": "n2", "title": "No body"}\n',
        "documents", 2, "text", "missing",
    ),
    "empty text": ("docs.jsonl", VALID_DOC + b'{"docid": "n2", "doc": "   "}\n', "documents", 2, "doc", "empty"),
    "missing id": ("docs.jsonl", VALID_DOC + b'{"text": "no id"}\n', "documents", 2, "docid", "missing"),
    "bad date": (
        "docs.jsonl",
        VALID_DOC + b'{"id": "n2", "text": "t", "modified": "last tuesday"}\n',
        "documents", 2, "modified", "bad date",
    ),
    "title too long": (
        "docs.jsonl",
        VALID_DOC + b'{"id": "n2", "text": "t", "title": "' + b"x" * 501 + b'"}\n',
        "documents", 2, "title", "at most 500",
    ),
    "invalid UTF-8": (
        "docs.jsonl",
        VALID_DOC + b'{"docid": "n2", "text": "caf\xe9"}\n',
        "documents", 2, None, "UTF-8",
    ),
    "CSV short row": (
        "docs.csv",
        b'id,title,text\nnew-1,T,"multi\nline"\nn2,T2\n',
        "documents", 4, "text", "3 columns",
    ),
    "NUL in text": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "a\\u0000b"}\n', "documents", 2, "text", "NUL"),
    "NUL in extra": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "note": ["\\u0000"]}\n', "documents", 2,
                     "note", "NUL"),
    "CSV invalid UTF-8": ("docs.csv", b"id,text\nnew-1,ok\nn2,caf\xe9\n", "documents", 3, None, "UTF-8"),
    "CSV no text column": ("docs.csv", b"id,title\nnew-1,T\n", "documents", 2, "text", "missing"),
    "TSV short row": ("docs.tsv", b"id\ttext\nnew-1\tok\nn2\n", "documents", 3, "text", "2 columns"),
    "queries column count": ("q.tsv", b"q7\tfine\r\nq8 no tab\r\n", "queries", 2, "text", "2 tab-separated"),
    "queries empty text": ("q.tsv", b"q7\tfine\nq8\t \n", "queries", 2, "text", "empty"),
    "queries bad kind": (
        "q.jsonl",
        b'{"qid": "q7", "query": "ok"}\n{"qid": "q8", "query": "x", "kind": "nav"}\n',
        "queries", 2, "kind", "unknown kind",
    ),
    "grade 5": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d2 5\n", "qrels", 2, "grade", "outside 0-3"),
    "grade not an integer": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d2 1.5\n", "qrels", 2, "grade", "not an integer"),
    "unknown docid": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d404 1\n", "qrels", 2, "docid", "unknown document id 'd404'"),
    "unknown qid": ("run.txt", b"q1 Q0 d1 2\nq9 Q0 d2 1\n", "qrels", 2, "qid", "unknown query id 'q9'"),
    "qrels column count": ("run.txt", b"q1 Q0 d1 2\n\nq1 Q0 d2\n", "qrels", 3, "grade", "4 whitespace-separated"),
    "qrels invalid UTF-8": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d\xff 1\n", "qrels", 2, None, "UTF-8"),
    # CSV quoting (issue 15, item 2): one open quote swallowed 997 rows and reported success.
    "CSV quote never closes": (
        "docs.csv",
        b'id,text\nnew-1,ok\nn2,"open\n' + b"".join(b"n%d,row %d\n" % (i, i) for i in range(4, 1000)),
        "documents", 3, None, "never closes",
    ),
    "CSV text after a closing quote": ("docs.csv", b'id,text\nnew-1,ok\nn2,"a" b\n', "documents", 3, None, "bad CSV"),
    "CSV record past 10,000 lines": (
        "docs.csv", b'id,text\nnew-1,ok\nn2,"' + b"x\n" * 10_001 + b'"\n', "documents", 3, None, "10,000 lines",
    ),
    "CSV column twice in the header": ("docs.csv", b"id,text,text\nnew-1,a,b\n", "documents", 1, "text", "twice"),
    # JSON a database refuses, or that Python cannot read without a traceback (item 9).
    "NaN": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "score": NaN}\n', "documents", 2, None, "NaN"),
    "-Infinity": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "s": -Infinity}\n', "documents", 2, None,
                  "Infinity"),
    "float overflow": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "s": 1e400}\n', "documents", 2, None,
                       "out of range"),
    "5000-digit integer": (
        "docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "n": ' + b"9" * 5000 + b"}\n", "documents", 2, None,
        "5000 digits",
    ),
    "JSON nested past the parser": (
        "docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "documents", 2, None, "nested too deeply",
    ),
    "JSON nested past 32 levels": (
        "docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "x": ' + b"[" * 40 + b"]" * 40 + b"}\n",
        "documents", 2, "x", "nested more than 32",
    ),
    "JSON key twice": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "id": "n3"}\n', "documents", 2, None,
                       "'id' appears twice"),
    "lone surrogate in text": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "a\\ud800b"}\n', "documents", 2,
                               "text", "lone surrogate (U+D800)"),
    "lone surrogate in extra": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "note": {"k": "\\udfff"}}\n',
                                "documents", 2, "note", "lone surrogate"),
    "lone surrogate in a query": ("q.jsonl", b'{"qid": "q7", "query": "ok"}\n{"qid": "q8", "query": "\\udc80"}\n',
                                  "queries", 2, "query", "lone surrogate"),
    # Only http(s) document URLs (item 12).
    "javascript URL": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "url": "javascript:alert(1)"}\n',
                       "documents", 2, "url", "not an absolute http or https URL"),
    "JaVa<TAB>ScRiPt URL": ("docs.jsonl", VALID_DOC + b'{"id": "n2", "text": "t", "url": "JaVa\\tScRiPt:alert(1)"}\n',
                            "documents", 2, "url", "control character"),
    "data URL in CSV": ("docs.csv", b"id,text,url\nnew-1,ok,\nn2,t,\"data:text/html;base64,PHNjcmlwdD4=\"\n",
                        "documents", 3, "url", "not an absolute http"),
    "javascript URL in front matter": ("x.md", b"---\ntitle: T\nurl: javascript:alert(1)\n---\nBody.\n", "documents",
                                       3, "url", "http or https"),
    "javascript URL in an HTML meta": (
        "x.html", b'<p>Body</p>\n<meta name="url" content="JaVa&#9;ScRiPt:alert(1)">', "documents", 2, "url",
        "control character",
    ),
    # Front matter through PyYAML's safe loader, bounded (item 9).
    "YAML alias bomb": (
        "x.md",
        ALIAS_BOMB, "documents", 3, "front matter", "aliases",
    ),
    "recursive YAML": ("x.md", b"---\ntitle: T\nloop: &a [*a]\n---\nBody.\n", "documents", 3, "front matter",
                       "aliases"),
    "YAML nested past 32 levels": ("x.md", b"---\nx: " + b"[" * 200 + b"]" * 200 + b"\n---\nBody.\n", "documents", 2,
                                   "front matter", "nested more than 32"),
    "YAML 5000-digit integer": ("x.md", b"---\ntitle: T\nn: " + b"1" * 5000 + b"\n---\nBody.\n", "documents", 3,
                                "front matter", "5000 digits"),
    "YAML .nan": ("x.md", b"---\ntitle: T\nscore: .nan\n---\nBody.\n", "documents", 3, "score", "NaN"),
    "YAML binary": ("x.md", b"---\nblob: !!binary aGVsbG8=\n---\nBody.\n", "documents", 2, "blob", "found bytes"),
    # Bounds (item 3) and grades (item 16).
    "query over 1,000 characters": ("q.tsv", b"q7\tfine\nq8\t" + b"w " * 600 + b"\n", "queries", 2, "text",
                                    "at most 1,000"),
    "grade in Arabic-Indic digits": ("run.txt", "q1 Q0 d1 2\nq1 Q0 d2 \u0663\n".encode(), "qrels", 2, "grade",
                                     "not an integer"),
    "grade +1": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d2 +1\n", "qrels", 2, "grade", "not an integer"),
    "grade of 5000 digits": ("run.txt", b"q1 Q0 d1 2\nq1 Q0 d2 " + b"1" * 5000 + b"\n", "qrels", 2, "grade",
                             "not an integer"),
}


def _run(kind: str, path):
    if kind == "documents":
        return documents_import(path=path, corpus_name="acme")
    if kind == "queries":
        return queries_import(path=path, corpus_name="acme")
    return qrels_import(path=path, corpus_name="acme", annotator="newcomer")


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_located_and_nothing_is_written(corpus, tmp_path, case):
    name, content, kind, line, field, words = case
    path = tmp_path / name
    path.write_bytes(content)
    before = _counts()

    with pytest.raises(ImportFileError) as caught:
        _run(kind, path)

    message = str(caught.value)
    assert message.startswith(f"{path}, line {line}")
    assert (f"field '{field}'" in message) if field else ("field" not in message.split(":")[0])
    assert words in message
    assert _counts() == before
    # The valid first line of the same file was rolled back with the rest.
    assert not Document.objects.filter(external_id="new-1").exists()
    assert not Query.objects.filter(external_id="q7").exists()
    assert not get_user_model().objects.filter(username="newcomer").exists()


@pytest.mark.django_db
def test_a_bad_date_in_front_matter_names_the_file_and_its_line(tmp_path):
    (tmp_path / "a-good.md").write_text("---\ntitle: Fine\n---\nBody.\n")
    (tmp_path / "b-bad.md").write_text("---\ntitle: Broken\nauthor: Ann\nmodified: 2025-13-45\n---\nBody.\n")
    before = _counts()

    with pytest.raises(ImportFileError) as caught:
        documents_import(path=tmp_path, corpus_name="notes")

    assert str(caught.value).startswith(f"{tmp_path / 'b-bad.md'}, line 4, field 'modified': bad date")
    assert _counts() == before  # neither a-good.md nor the new corpus was kept


@pytest.mark.django_db
def test_bad_yaml_front_matter_is_refused(tmp_path):
    (tmp_path / "x.md").write_text("---\ntitle: [unclosed\n---\nBody.\n")
    with pytest.raises(ImportFileError, match=r"x\.md, line \d, field 'front matter': bad YAML"):
        documents_import(path=tmp_path, corpus_name="notes")


@pytest.mark.django_db
def test_commands_turn_import_errors_into_command_errors(corpus, tmp_path):
    path = tmp_path / "run.txt"
    path.write_bytes(b"q1 Q0 d1 2\nq1 Q0 d2 5\n")
    before = _counts()
    with pytest.raises(CommandError, match=r"run\.txt, line 2, field 'grade': grade 5 outside 0-3"):
        call_command("import_qrels", path, corpus="acme", annotator="newcomer")
    with pytest.raises(CommandError, match="bad JSON"):
        (tmp_path / "d.jsonl").write_text("{oops\n")
        call_command("import_documents", tmp_path / "d.jsonl", corpus="acme")
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("who", [{}, {"annotator": "ann", "labeler": "run-1"}])
def test_import_qrels_needs_exactly_one_of_annotator_and_labeler(corpus, tmp_path, who):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 2\n")
    with pytest.raises(CommandError):
        call_command("import_qrels", path, corpus="acme", **who)
    assert not Pair.objects.exists()


@pytest.mark.django_db
def test_a_labeler_name_taken_by_another_role_is_refused(corpus, tmp_path):
    LabelerFactory(name="teacher-1", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 2\n")
    with pytest.raises(CommandError, match="labeler 'teacher-1' exists with role 'teacher'"):
        call_command("import_qrels", path, corpus="acme", labeler="teacher-1")
    assert not Pair.objects.exists()


@pytest.mark.django_db
def test_qrels_into_a_missing_corpus_is_refused(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 2\n")
    with pytest.raises(CommandError, match="no corpus named 'nope'"):
        call_command("import_qrels", path, corpus="nope", annotator="ann")


@pytest.mark.django_db
def test_unsupported_files_and_bad_corpus_names_are_refused(tmp_path):
    (tmp_path / "docs.xlsx").write_bytes(b"")
    with pytest.raises(CommandError, match="unsupported file type"):
        call_command("import_documents", tmp_path / "docs.xlsx", corpus="acme")
    (tmp_path / "d.jsonl").write_text('{"id": "1", "text": "t"}\n')
    with pytest.raises(CommandError, match="must be a slug"):
        call_command("import_documents", tmp_path / "d.jsonl", corpus="not a slug")
    assert not Corpus.objects.exists()
