"""Import documents from JSONL, CSV/TSV, or a folder of text, Markdown and HTML files."""

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from django.db import transaction

from labeling.models import Document

from .batches import BATCH_SIZE, ImportSummary, batched, corpus_get_or_create, upsert_by_external_id
from .fields import Located, datetime_value, extra_value, identifier, pick, text_value
from .folders import SUFFIXES, file_record, folder_files
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
    record is bad (the ImportFileError names the file, line and field).
    """
    path = Path(path)
    records = _records(path)
    summary = ImportSummary(what="documents", corpus=corpus_name)
    with transaction.atomic():
        corpus = corpus_get_or_create(name=corpus_name)
        for batch in batched(records, batch_size):
            # Keyed by external id: the last of duplicates wins, and a batch touches a row once.
            rows = {values["external_id"]: Document(corpus=corpus, **values) for _, values in batch}
            summary.read += len(batch)
            summary.new += upsert_by_external_id(Document, corpus=corpus, rows=rows, update_fields=UPDATE_FIELDS)
    return summary


def _records(path: Path) -> Iterator[Record]:
    if path.is_dir():
        return _folder(path)
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
        "text": text_value(at, text_name, text, required=True),
        "modified_at": datetime_value(at, date_name, modified) if date_name else None,
        **{name: text_value(at, name, record.get(name), max_length=n).strip() for name, n in META_LENGTHS.items()},
        "extra": extra_value(at, {k: v for k, v in record.items() if k not in used}),
    }


def _file(path: Path, records: Iterator[tuple[int, Mapping[str, Any]]]) -> Iterator[Record]:
    for line, record in records:
        at = Located(path, line)
        yield at, document_values(at, record)


def _folder(root: Path) -> Iterator[Record]:
    for file, relative in folder_files(root):
        yield from _folder_file(file, relative)


def _folder_file(file: Path, relative: str) -> Iterator[Record]:
    meta, lines, text = file_record(file)

    def at(name: str | None) -> Located:
        return Located(file, lines.get(name) if name else None)

    date_name, modified = pick(meta, DATE_NAMES)
    meta["title"] = meta.get("title") or file.stem[: META_LENGTHS["title"]]
    meta["path"] = meta.get("path") or relative
    used = {date_name, *META_LENGTHS}
    yield at(None), {
        "external_id": identifier(at(None), "path", relative),
        "text": text_value(at(None), "text", text, required=True),
        "modified_at": datetime_value(at(date_name), date_name, modified) if date_name else None,
        **{name: text_value(at(name), name, meta.get(name), max_length=n).strip() for name, n in META_LENGTHS.items()},
        "extra": extra_value(at(None), {k: v for k, v in meta.items() if k not in used}),
    }
