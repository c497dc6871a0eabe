"""Import queries: TSV `qid<TAB>text[<TAB>narrative]` without a header, or JSONL (`narrative` or
`description`: the searcher's intent, shown to graders)."""

from collections.abc import Iterator
from pathlib import Path

from django.db import transaction

from labeling.models import Query

from .batches import BATCH_SIZE, ImportSummary, batched, corpus_get_or_create, upsert_by_external_id
from .errors import ImportFileError
from .fields import Located, identifier, pick, text_value
from .limits import MAX_NARRATIVE_CHARS, MAX_QUERY_CHARS
from .readers import jsonl_records, lines

ID_NAMES = ("qid", "id", "query_id")
TEXT_NAMES = ("query", "text")
NARRATIVE_NAMES = ("narrative", "description")
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


def queries_import(*, path: Path | str, corpus_name: str, batch_size: int = BATCH_SIZE) -> ImportSummary:
    """Insert or update a file's queries (origin imported) in one transaction, by query id.

    A file with no query is refused; a query id given twice keeps its last text, with a warning.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    records = _jsonl(path) if path.suffix.lower() in JSONL_SUFFIXES else _tsv(path)
    summary = ImportSummary(what="queries", corpus=corpus_name)
    seen: set[int] = set()  # hashes of the ids read: a fixed size per id (a collision: a false warning)
    with transaction.atomic():
        corpus = corpus_get_or_create(name=corpus_name)
        for batch in batched(records, batch_size):
            rows = {}
            for line, qid, text, kind, narrative in batch:
                if hash(qid) in seen:
                    summary.warn("duplicate query ids (the last of each kept)", f"{qid!r} (line {line})")
                seen.add(hash(qid))
                rows[qid] = Query(corpus=corpus, external_id=qid, text=text, kind=kind, narrative=narrative,
                                  origin=Query.Origin.IMPORTED)
            summary.read += len(batch)
            # The origin stays what it was: re-importing does not turn a synthetic query into an imported one.
            summary.new += upsert_by_external_id(Query, corpus=corpus, rows=rows,
                                                 update_fields=["text", "kind", "narrative"])
        if not summary.read:  # inside the transaction: the corpus it made goes too
            raise ImportFileError(path, None, None, "no queries in the file")
    return summary


def _tsv(path: Path) -> Iterator[tuple[int, str, str, str, str]]:
    for line, text in lines(path):
        at = Located(path, line)
        columns = text.split("\t")
        if len(columns) not in (2, 3):
            missing = "text" if len(columns) < 2 else None
            raise at.error(missing, f"expected 2 tab-separated columns (qid, text), or 3 with a narrative, "
                                    f"found {len(columns)}")
        qid = identifier(at, "qid", columns[0])
        text = text_value(at, "text", columns[1], max_length=MAX_QUERY_CHARS, required=True)
        narrative = text_value(at, "narrative", columns[2], max_length=MAX_NARRATIVE_CHARS) if len(columns) == 3 else ""
        yield line, qid, text.strip(), Query.Kind.UNKNOWN, narrative.strip()


def _jsonl(path: Path) -> Iterator[tuple[int, str, str, str, str]]:
    for line, record in jsonl_records(path):
        at = Located(path, line)
        id_name, qid = pick(record, ID_NAMES)
        if id_name is None:
            raise at.error("qid", f"missing (the query id: one of {', '.join(ID_NAMES)})")
        text_name, text = pick(record, TEXT_NAMES)
        if text_name is None:
            raise at.error("query", f"missing (the query text: one of {', '.join(TEXT_NAMES)})")
        kind = record.get("kind") or Query.Kind.UNKNOWN
        if not isinstance(kind, str) or kind not in Query.Kind.values:
            raise at.error("kind", f"unknown kind {kind!r:.80} (one of {', '.join(Query.Kind.values)})")
        text = text_value(at, text_name, text, max_length=MAX_QUERY_CHARS, required=True).strip()
        narrative_name, narrative = pick(record, NARRATIVE_NAMES)
        narrative = text_value(at, narrative_name, narrative, max_length=MAX_NARRATIVE_CHARS) if narrative_name else ""
        yield line, identifier(at, id_name, qid), text, kind, (narrative or "").strip()
