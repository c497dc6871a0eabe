"""A labeling job's pairs from an uploaded file: one pair a line, `qid docid` or the first and
third columns of a TREC run or qrels line (`qid Q0 docid rank score tag`, `qid 0 docid grade`).
The pairs a corpus does not have yet are made; a query or document it does not have is an error
that names the line."""

from django.db import transaction

from ..importers.errors import ImportFileError, printable
from ..models import Corpus, Document, Pair, Query

MAX_PAIR_LINES = 10_000
MAX_LINE = 1000


def _ids(name: str, number: int, line: str) -> tuple[str, str]:
    columns = line.split()
    if len(columns) == 2:
        return columns[0], columns[1]
    if len(columns) in (4, 6):
        return columns[0], columns[2]
    raise ImportFileError(name, number, None, f"expected 'qid docid', a qrels or a TREC run line, got "
                                              f"{len(columns)} columns")


def pair_file_read(*, corpus: Corpus, name: str, text: str) -> list[int]:
    """The ids of the file's pairs in `corpus`, in the file's order, without repeats."""
    wanted: dict[tuple[str, str], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            raise ImportFileError(name, number, None, f"a line longer than {MAX_LINE} characters")
        wanted.setdefault(_ids(name, number, line), number)
        if len(wanted) > MAX_PAIR_LINES:
            raise ImportFileError(name, number, None, f"more than {MAX_PAIR_LINES} pairs in one file")
    if not wanted:
        raise ImportFileError(name, None, None, "no pairs in the file")
    queries = dict(Query.objects.filter(corpus=corpus, external_id__in={q for q, _ in wanted})
                   .values_list("external_id", "id"))
    documents = dict(Document.objects.filter(corpus=corpus, external_id__in={d for _, d in wanted})
                     .values_list("external_id", "id"))
    for (qid, docid), number in wanted.items():
        if qid not in queries:
            raise ImportFileError(name, number, "qid", printable(f"no query {qid[:100]!r} in corpus {corpus.name}"))
        if docid not in documents:
            raise ImportFileError(name, number, "docid",
                                  printable(f"no document {docid[:100]!r} in corpus {corpus.name}"))
    keys = [(queries[q], documents[d]) for q, d in wanted]
    with transaction.atomic():
        Pair.objects.bulk_create([Pair(query_id=q, document_id=d) for q, d in keys], ignore_conflicts=True,
                                 batch_size=2000)
    found = {(q, d): pk for pk, q, d in Pair.objects.filter(query__corpus=corpus, query_id__in={q for q, _ in keys},
                                                           document_id__in={d for _, d in keys})
             .values_list("id", "query_id", "document_id")}
    return [found[key] for key in keys]
