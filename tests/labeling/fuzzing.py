"""A property-based fuzzer over every importer's reader, shared by the suite's bounded run
(test_import_fuzz.py) and the long one (benchmarks/fuzz_importers.py).

Each target is one reader behind its importer; its inputs are arbitrary bytes, or records of
the right shape with wrong parts (NaN, lone surrogates, open quotes, aliases, unclosed tags,
ids and grades that are almost right). The property: an import ends in a located
ImportFileError that changed nothing, or in a summary whose rows any database stores (extra is
strict JSON, URLs are http(s)) and that a re-import leaves as they are; never another
exception, a hang (SIGALRM) or more memory than MEMORY_LIMIT (tracemalloc).
"""

import json
import re
import signal
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Model
from hypothesis import strategies as st

from labeling.importers import ImportFileError, ImportSummary, documents_import, qrels_import, queries_import
from labeling.models import Corpus, Document, Judgment, Labeler, ModelLabel, Pair, Query

CORPUS = "fuzz"
HANG_SECONDS = 30  # one example of a few kB runs in milliseconds: this long is a hang
MEMORY_LIMIT = 64 << 20  # peak Python allocation for one example (inputs are a few kB at most)


# --- values that were wrong once, or are nearly right ------------------------------------------

NASTY_TEXT = [
    "", " ", "\t", "\r\n", "\x00", "\ud800", "\udfff", "\ufeff", "NaN", "Infinity", "-Infinity", "1e400",
    "9" * 5000, "\u0663", "+1", "-1", "01", "1.5", "javascript:alert(1)", "JaVa\tScRiPt:alert(1)", "data:,x",
    "//evil.example/", "http://", "https://intranet.example/a b", "HTTP://wiki/Page", "2025-13-45",
    "2025-10-08", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x" * 300, "\u202e", "é", "😀",
]
NASTY = st.sampled_from(NASTY_TEXT)
TEXTS = st.one_of(NASTY, NASTY, st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=20))
NASTY_BYTES = [
    b'"', b"'", b",", b"\t", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\\", b"\\ud800",
    b"NaN", b"Infinity", b"1e999", b"9" * 5000, b"[" * 40, b"[" * 2000, b"{", b"}", b":", b"---", b"...",
    b"<", b">", b"<!--", b"<![", b"&#xd800;", b"&#0;", b"*a", b"&a", b"!!binary", b"\xe2\x80\xae",
]

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20, max_value=10**120),
    st.floats(allow_nan=True, allow_infinity=True), TEXTS,
)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3), max_leaves=8
)
META_KEYS = ["title", "path", "author", "url", "source", "modified", "modified_at", "date"]
DOC_KEYS = ["docid", "id", "_id", "doc", "text", "body", "contents", *META_KEYS]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """`base` with a few cuts, insertions of nasty tokens, and duplicated spans."""
    data = bytearray(base)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 4]))):  # half the inputs kept as made
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "cut", "duplicate", "truncate"]))
        if action == "insert":
            data[at:at] = draw(st.one_of(*[st.sampled_from(NASTY_BYTES)] * 3, st.binary(min_size=1, max_size=8)))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        elif action == "duplicate":
            data[at:at] = data[max(0, at - 40):at]
        else:
            del data[at:]
    return bytes(data)


def _encode(draw: st.DrawFn, text: str) -> bytes:
    """UTF-8; a lone surrogate comes out as CESU bytes (invalid UTF-8) one time in eight, else as '?'."""
    return text.encode("utf-8", "surrogatepass" if draw(st.integers(0, 7)) == 0 else "replace")


def _json_line(record: Any, ascii_only: bool, surrogates: str) -> bytes:
    # allow_nan: NaN and Infinity written out, as other tools do; surrogatepass: a lone
    # surrogate as CESU bytes (invalid UTF-8) when not escaped.
    return json.dumps(record, allow_nan=True, ensure_ascii=ascii_only).encode("utf-8", surrogates) + b"\n"


# Mostly right, so most records reach the database; now and then one of TEXTS.
GOOD_IDS = st.sampled_from(["a", "b", "c", "d1", "101", 7, 0])  # repeats, so duplicates too
IDS = st.one_of(GOOD_IDS, GOOD_IDS, TEXTS)
GOOD_WORDS = st.sampled_from(["Spend was 4% under plan.", "Close by the 5th.", "line one\nline two", "q3 deck"])
WORDS = st.one_of(GOOD_WORDS, GOOD_WORDS, TEXTS)
EXTRA_KEYS = st.sampled_from(["team", "tags", "score", "reviewed", "owner"]) | TEXTS


@st.composite
def nearly_valid(draw: st.DrawFn, id_names: list[str], text_names: list[str], others: list[str]) -> dict[str, Any]:
    """A record with an id and a text, some metadata, and one part now and then missing or wrong."""
    record: dict[str, Any] = {draw(st.sampled_from(id_names)): draw(IDS)}
    record[draw(st.sampled_from(text_names))] = draw(WORDS)
    for _ in range(draw(st.integers(0, 3))):
        record[draw(st.sampled_from(others) | EXTRA_KEYS)] = draw(st.one_of(GOOD_WORDS, JSON_VALUES))
    if record and draw(st.integers(0, 19)) == 0:
        del record[draw(st.sampled_from(sorted(record, key=repr)))]
    return record


DOCUMENT_RECORDS = nearly_valid(["docid", "id", "_id"], ["doc", "text", "body", "contents"], META_KEYS)
QUERY_RECORDS = nearly_valid(["qid", "id", "query_id"], ["query", "text"], ["kind"])


@st.composite
def jsonl_file(draw: st.DrawFn, records: st.SearchStrategy[dict[str, Any]]) -> bytes:
    surrogates = "surrogatepass" if draw(st.integers(0, 7)) == 0 else "replace"
    lines = [_json_line(draw(records), draw(st.booleans()), surrogates) for _ in range(draw(st.integers(1, 4)))]
    return draw(mutated(b"".join(lines)))


@st.composite
def table_file(draw: st.DrawFn, delimiter: str) -> bytes:
    header = [draw(st.sampled_from(["id", "docid"])), draw(st.sampled_from(["text", "body"]))]
    header += draw(st.lists(st.sampled_from(DOC_KEYS) | TEXTS, max_size=3))
    width = st.integers(len(header) - 1, len(header) + 1) if draw(st.integers(0, 4)) == 0 else st.just(len(header))
    rows = [header] + [
        [str(draw(IDS))] + [draw(WORDS) for _ in range(draw(width) - 1)] for _ in range(draw(st.integers(1, 4)))
    ]

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if draw(st.booleans()) else value

    text = "".join(delimiter.join(cell(v) for v in row) + draw(st.sampled_from(["\n", "\r\n", ""])) for row in rows)
    return draw(mutated(_encode(draw, text)))


YAML_LINES = [
    "title: Q3 budget", "author: Priya", "modified: 2025-10-08", "modified: 2025-13-45",
    "date: 0001-01-01 00:00:00+14:00", "url: https://intranet.example/x", "url: javascript:alert(1)",
    "url: 'JaVa\tScRiPt:x'", "a: &a [x, x]", "b: [*a, *a]",
    "c: &c [*c]", "n: " + "1" * 5000, "x: .nan", "y: -.inf", "z: 1e400", "blob: !!binary aGk=",
    "obj: !!python/object:os.system x", "deep: " + "[" * 60 + "]" * 60, "? [a, b]\n: c", "s: !!set {a, b}",
    "d: {k: [1, 2, {q: r}]}", "<<: {m: 1}", "- item", "'open", 'q: "\\ud800"', "nul: \"\\0\"", "key with: colon: x",
    "tags: [budget, q3]", "title: [1, 2]", "title: {a: b}", "title:", "team: finance", "\ttab: x", "k: |\n  block",
]


YAML_VALUES = [
    "Q3 budget", "2025-10-08", "2025-13-45", "0001-01-01 00:00:00+14:00", "https://intranet.example/x",
    "javascript:alert(1)", "'JaVa\tScRiPt:x'", "&a [x, x]", "*a", "&c [*c]", "1" * 5000, ".nan", "-.inf", "1e400",
    "!!binary aGk=", "!!python/object:os.system x", "[" * 60 + "]" * 60, "!!set {a, b}", "{k: [1, 2, {q: r}]}",
    "[budget, q3]", "", "'open", '"\\ud800"', '"\\0"', "{a: b}", "[1, 2]", "~", "yes", "0x1F", "1_000", "1:20:30",
]
YAML_KEYS = [*META_KEYS, "team", "tags", "a", "b", "c", "<<"]


@st.composite
def markdown_file(draw: st.DrawFn) -> bytes:
    # Mostly 'key: value' lines that parse, so the values get built; now and then a raw line.
    line = st.tuples(st.sampled_from(YAML_KEYS), st.sampled_from(YAML_VALUES)).map(": ".join)
    meta = "\n".join(draw(st.lists(st.one_of(line, line, line, st.sampled_from(YAML_LINES), TEXTS), max_size=6)))
    body = draw(st.sampled_from(["# Heading\n\nBody text.\n", "Body.\n", "", "---\n", "# \n"]) | WORDS)
    fence = draw(st.sampled_from(["---", "---", "---", "...", "--- ", ""]))
    return draw(mutated(_encode(draw, f"---\n{meta}\n{fence}\n{body}")))


HTML_PARTS = [
    "<!doctype html>", "<html>", "<head>", "</head>", "<title>", "</title>", "<body>", "</body>", "<h1>", "</h1>",
    "<p>", "</p>", "<br>", "<br/>", "<div class='a'>", "</div>", "<script>var x = '<p>';</script>", "<style>",
    "</style>", "<!-- c -->", "<!--", "-->", "<![", "<![CDATA[x]]>", "<?xml?>", "</", "<a", "<a b='", "<a b=\"",
    "<", ">", "&amp;", "&lt;", "&#xd800;", "&#0;", "&#x110000;", "&bogus;", '<meta name="author" content="A &amp; B">',
    '<meta name="url" content="javascript:alert(1)">', '<meta name="url" content="https://intranet.example/x">',
    '<meta name="modified" content="last tuesday">', '<meta name="modified" content="2025-02-14T09:30:00+01:00">',
    "<meta name=x content='\x00'>", "<svg><text>t</text></svg>", "Body text ", "\n", "<li>item</li>", "<meta",
]


@st.composite
def html_file(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(HTML_PARTS) | TEXTS, max_size=20))
    return draw(mutated(_encode(draw, "".join(parts))))


@st.composite
def queries_tsv_file(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(IDS.map(str), WORDS), min_size=1, max_size=4))
    sep = draw(st.sampled_from(["\t", "\t", "\t", " ", "\t\t"]))
    return draw(mutated(_encode(draw, "".join(f"{q}{sep}{t}\n" for q, t in lines))))


QREL_TOKENS = ["q1", "q2", "q404", "Q0", "0", "d1", "d2", "d404", "1", "2", "3", "+1", "\u0663", "-1", "4", "1.5",
               "9" * 30, "", "\u00a0", "\u2003"]


@st.composite
def qrels_file(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        tokens = [draw(st.sampled_from(["q1", "q2"])), "Q0", draw(st.sampled_from(["d1", "d2"])),
                  draw(st.sampled_from(["0", "1", "2", "3"]))]  # well formed, now and then with a token replaced
        if draw(st.integers(0, 3)) == 0:
            tokens[draw(st.integers(0, 3))] = draw(st.sampled_from(QREL_TOKENS) | TEXTS)
        if draw(st.integers(0, 9)) == 0:
            tokens = draw(st.lists(st.sampled_from(QREL_TOKENS) | TEXTS, min_size=2, max_size=6))
        lines.append(draw(st.sampled_from([" ", "\t", "  "])).join(tokens))
    return draw(mutated(_encode(draw, ("\n".join(lines) + "\n"))))


# --- targets ----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    file_name: str  # written into a fresh folder; a folder target imports the folder
    structured: st.SearchStrategy[bytes]
    run: Callable[[Path], ImportSummary]
    folder: bool = False

    @property
    def inputs(self) -> st.SearchStrategy[bytes]:
        return st.one_of(st.binary(max_size=512), self.structured, self.structured, self.structured)


def _documents(path: Path) -> ImportSummary:
    return documents_import(path=path, corpus_name=CORPUS)


TARGETS = [
    Target("documents JSONL", "docs.jsonl", jsonl_file(DOCUMENT_RECORDS), _documents),
    Target("documents CSV", "docs.csv", table_file(","), _documents),
    Target("documents TSV", "docs.tsv", table_file("\t"), _documents),
    Target("documents Markdown (folder)", "notes.md", markdown_file(), _documents, folder=True),
    Target("documents HTML (folder)", "page.html", html_file(), _documents, folder=True),
    Target("queries TSV", "queries.tsv", queries_tsv_file(), lambda p: queries_import(path=p, corpus_name=CORPUS)),
    Target("queries JSONL", "queries.jsonl", jsonl_file(QUERY_RECORDS),
           lambda p: queries_import(path=p, corpus_name=CORPUS)),
    Target("qrels (judgments)", "qrels.txt", qrels_file(),
           lambda p: qrels_import(path=p, corpus_name=CORPUS, annotator="fuzz-annotator")),
    Target("qrels (recorded run)", "run.txt", qrels_file(),
           lambda p: qrels_import(path=p, corpus_name=CORPUS, labeler="fuzz-run")),
]
TARGET_BY_NAME = {t.name: t for t in TARGETS}


def qrels_corpus() -> None:
    """The queries and documents a qrels file may name (q1, q2, d1, d2), kept across examples."""
    corpus, _ = Corpus.objects.get_or_create(name=CORPUS)
    for qid in ("q1", "q2"):
        Query.objects.get_or_create(corpus=corpus, external_id=qid, defaults={"text": f"query {qid}"})
    for docid in ("d1", "d2"):
        Document.objects.get_or_create(corpus=corpus, external_id=docid, defaults={"text": f"document {docid}"})


# --- the property -----------------------------------------------------------------------------

MODELS: list[type[Model]] = [Corpus, Document, Query, Pair, Judgment, ModelLabel, Labeler, get_user_model()]


@dataclass
class Outcomes:
    """What the examples ended in, per target: for the benchmark's report."""

    ran: Counter[str] = field(default_factory=Counter)
    imported: Counter[str] = field(default_factory=Counter)
    errors: dict[str, Counter[str]] = field(default_factory=dict)  # target -> error kind -> count
    slowest: dict[str, float] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)  # bytes


def _counts() -> dict[str, int]:
    return {m.__name__: m._default_manager.count() for m in MODELS}


def _snapshot() -> list[tuple]:
    return [
        *Document.objects.filter(corpus__name=CORPUS).order_by("id").values_list(
            "id", "external_id", "title", "text", "path", "author", "url", "source", "modified_at", "extra"),
        *Query.objects.filter(corpus__name=CORPUS).order_by("id").values_list("id", "external_id", "text", "kind"),
        *Judgment.objects.order_by("id").values_list("id", "pair_id", "grade", "updated_at"),
        *ModelLabel.objects.order_by("id").values_list("id", "pair_id", "grade"),
    ]


@contextmanager
def _no_hang(seconds: int):
    def expired(signum, frame):
        raise AssertionError(f"an import of a few kB still ran after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def error_kind(message: str) -> str:
    """An error's message without its file, line and values: "field 'url': URL … is not an absolute"."""
    where, _, detail = message.partition(": ")
    field_name = "field " + where.split(", field ", 1)[1] + ": " if ", field " in where else ""
    detail = re.sub(r"\b\d[\d,.]*\b", "N", re.sub(r"'[^']*'|\"[^\"]*\"", "…", detail.split(" (")[0]))
    return field_name + " ".join(detail.split()[:7])


def check_import(target: Target, content: bytes, outcomes: Outcomes | None = None) -> None:
    """Import `content` as `target`'s file and check the property; every write is rolled back."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / target.file_name).write_bytes(content)
        path = folder if target.folder else folder / target.file_name
        savepoint = transaction.savepoint()
        try:
            before = _counts()
            started = time.perf_counter()
            tracemalloc.start()
            try:
                with _no_hang(HANG_SECONDS):
                    summary = target.run(path)
            except ImportFileError as exc:
                message = str(exc)
                message.encode("utf-8")  # printable, whatever the input
                assert message.startswith(str(folder)), f"an error that does not name the file: {message}"
                assert _counts() == before, f"a refused import wrote rows: {message}"
                summary, kind = None, error_kind(message)
            finally:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                elapsed = time.perf_counter() - started
            assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB for an input of {len(content)} bytes"
            if summary is not None:
                assert summary.read > 0, "an import that read nothing succeeded"
                for extra, url in Document.objects.filter(corpus__name=CORPUS).values_list("extra", "url"):
                    json.dumps(extra, allow_nan=False)  # strict JSON: what PostgreSQL's jsonb takes
                    assert url == "" or url.lower().startswith(("http://", "https://")), url
                written = _snapshot()
                again = target.run(path)  # idempotent: the same rows, none new
                assert again.new == 0 and not again.new_pairs, f"a re-import made rows: {again}"
                assert _snapshot() == written, "a re-import changed rows"
            if outcomes is not None:
                outcomes.ran[target.name] += 1
                if summary is None:
                    outcomes.errors.setdefault(target.name, Counter())[kind] += 1
                else:
                    outcomes.imported[target.name] += 1
                outcomes.slowest[target.name] = max(outcomes.slowest.get(target.name, 0.0), elapsed)
                outcomes.peak[target.name] = max(outcomes.peak.get(target.name, 0), peak)
        finally:
            transaction.savepoint_rollback(savepoint)
