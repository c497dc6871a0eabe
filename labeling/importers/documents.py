"""Import documents from JSONL, CSV/TSV, or a folder of text, Markdown and HTML files."""

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from django.db import transaction

from labeling.models import Document

from .batches import BATCH_SIZE, ImportSummary, batched, corpus_get_or_create, upsert_by_external_id
from .errors import ImportFileError
from .fields import Located, datetime_value, extra_value, identifier, pick, text_value, url_value
from .folders import SUFFIXES, file_record, folder_files
from .limits import BATCH_CHARS, MAX_DOCUMENT_CHARS
from .readers import jsonl_records, table_records

ID_NAMES = ("docid", "id", "_id")
TEXT_NAMES = ("doc", "text", "body", "contents")
DATE_NAMES = ("modified", "modified_at", "date")
# Metadata columns and their database lengths (checked here: SQLite would not).
META_LENGTHS = {"title": 500, "path": 1000, "author": 200, "url": 1000, "source": 100}
UPDATE_FIELDS = ["title", "text", *[f for f in META_LENGTHS if f != "title"], "modified_at", "extra"]

Record = tuple[Located, dict[str, Any]]  # (where, Document field values)


def documents_import(*, path: Path | str, corpus_name: str, batch_size: int = BATCH_SIZE) -> ImportSummary:
    """Insert or update the documents of a file or folder in one transaction.

    Re-importing updates documents in place by external id; nothing is written if any
    record is bad (the ImportFileError names the file, line and field), or if there is no
    document at all. What was let pass (an id given twice, a folder entry skipped) is counted
    in the summary's warnings.
    """
    path = Path(path)
    summary = ImportSummary(what="documents", corpus=corpus_name)
    records = _records(path, summary)
    seen: set[int] = set()  # hashes of the ids read: a fixed size per id (a collision: a false warning)
    with transaction.atomic():
        corpus = corpus_get_or_create(name=corpus_name)
        for batch in batched(records, batch_size, weight=lambda r: len(r[1]["text"]), max_weight=BATCH_CHARS):
            # Keyed by external id: the last of duplicates wins, and a batch touches a row once.
            rows = {}
            for at, values in batch:
                external_id = values["external_id"]
                if hash(external_id) in seen:
                    summary.warn("duplicate document ids (the last of each kept)", f"{external_id!r} ({at})")
                seen.add(hash(external_id))
                rows[external_id] = Document(corpus=corpus, **values)
            summary.read += len(batch)
            summary.new += upsert_by_external_id(Document, corpus=corpus, rows=rows, update_fields=UPDATE_FIELDS)
        if not summary.read:  # raised inside the transaction: the corpus it made goes too
            kinds = ", ".join(sorted(SUFFIXES))
            raise ImportFileError(path, None, None, f"no documents in the folder (no {kinds} files)"
                                  if path.is_dir() else "no documents in the file")
    return summary


def _records(path: Path, summary: ImportSummary) -> Iterator[Record]:
    if path.is_dir():
        return _folder(path, summary)
    readers: dict[str, Callable[[], Iterator[tuple[int, Mapping[str, Any]]]]] = {
        ".jsonl": lambda: jsonl_records(path),
        ".ndjson": lambda: jsonl_records(path),
        ".csv": lambda: table_records(path, delimiter=","),
        ".tsv": lambda: table_records(path, delimiter="\t"),
    }
    suffix = path.suffix.lower()
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if suffix in readers:
        return _file(path, readers[suffix]())
    if suffix in SUFFIXES:  # one text, Markdown or HTML file
        return _folder_file(path, path.name)
    kinds = ", ".join(sorted(SUFFIXES))
    raise ValueError(f"{path}: unsupported file type (use .jsonl, .csv, .tsv, or a folder of {kinds} files)")


def document_values(at: Located, record: Mapping[str, Any]) -> dict[str, Any]:
    """Document field values from one JSONL/CSV record; unknown keys go to `extra`."""
    id_name, external_id = pick(record, ID_NAMES)
    if id_name is None:
        raise at.error("docid", f"missing (the document id: one of {', '.join(ID_NAMES)})")
    text_name, text = pick(record, TEXT_NAMES)
    if text_name is None:
        raise at.error("text", f"missing (the document text: one of {', '.join(TEXT_NAMES)})")
    date_name, modified = pick(record, DATE_NAMES)
    used = {id_name, text_name, date_name, *META_LENGTHS}
    return {
        "external_id": identifier(at, id_name, external_id),
        "text": text_value(at, text_name, text, max_length=MAX_DOCUMENT_CHARS, required=True),
        "modified_at": datetime_value(at, date_name, modified) if date_name else None,
        **_meta_values(lambda name: at, record),
        "extra": extra_value(lambda name: at, {k: v for k, v in record.items() if k not in used}),
    }


def _meta_values(at: Callable[[str], Located], meta: Mapping[str, Any]) -> dict[str, str]:
    values = {
        name: text_value(at(name), name, meta.get(name), max_length=n).strip() for name, n in META_LENGTHS.items()
    }
    values["url"] = url_value(at("url"), "url", values["url"], max_length=META_LENGTHS["url"])
    return values


def _file(path: Path, records: Iterator[tuple[int, Mapping[str, Any]]]) -> Iterator[Record]:
    for line, record in records:
        at = Located(path, line)
        yield at, document_values(at, record)


def _folder(root: Path, summary: ImportSummary) -> Iterator[Record]:
    for file in folder_files(root, summary.warn):
        yield from _folder_file(file.path, file.relative, file.source)


def _folder_file(file: Path, relative: str, source: Path | None = None) -> Iterator[Record]:
    meta, lines, text = file_record(file, source)

    def at(name: str | None) -> Located:
        return Located(file, lines.get(name) if name else None)

    date_name, modified = pick(meta, DATE_NAMES)
    meta["title"] = meta.get("title") or file.stem[: META_LENGTHS["title"]]
    meta["path"] = meta.get("path") or relative
    used = {date_name, *META_LENGTHS}
    yield at(None), {
        "external_id": identifier(at(None), "path", relative),
        "text": text_value(at(None), "text", text, max_length=MAX_DOCUMENT_CHARS, required=True),
        "modified_at": datetime_value(at(date_name), date_name, modified) if date_name else None,
        **_meta_values(at, meta),
        "extra": extra_value(at, {k: v for k, v in meta.items() if k not in used}),
    }
