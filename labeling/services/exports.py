"""Qrels export: rows of (qid, docid, grade, extra columns) to TREC, JSONL or CSV.

Rows come from lazy selectors (a person's judgments, a labeler's labels, a benchmark's
consensus) and are written as they arrive, so memory stays constant at a million rows.
"""

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..models import Judgment, Labeler, ModelLabel

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL

FORMATS = ("trec", "jsonl", "csv")
CONTENT_TYPES = {"trec": "text/plain; charset=utf-8", "jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
SUFFIXES = {"trec": "txt", "jsonl": "jsonl", "csv": "csv"}  # a downloaded export's file name
CHUNK_SIZE = 20_000  # rows a fetch brings: 50 round trips a million on a server-side cursor
# Sorted like a qrels file; pair id breaks ties between corpora that share external ids.
ORDER = ("pair__query__external_id", "pair__document__external_id", "pair_id")

QrelRow = Mapping[str, Any]  # "qid", "docid", "grade", then any extra columns
SPACE = re.compile(r"\s")  # what str.isspace() calls whitespace; a regex scans ids 10x faster


def annotator_qrel_rows(*, annotator: "User", chunk_size: int = CHUNK_SIZE) -> Iterator[QrelRow]:
    rows = (
        Judgment.objects.filter(annotator=annotator)
        .order_by(*ORDER)
        .values_list("pair__query__external_id", "pair__document__external_id", "grade")
        .iterator(chunk_size=chunk_size)
    )
    for qid, docid, grade in rows:
        yield {"qid": qid, "docid": docid, "grade": grade}


def labeler_qrel_rows(*, labeler: Labeler, extra: bool = True, chunk_size: int = CHUNK_SIZE) -> Iterator[QrelRow]:
    """`extra`: with expected_grade and distribution; TREC has no column for them, and decoding
    a million distributions' JSON was most of a TREC export's time."""
    if not extra:
        graded = (ModelLabel.objects.filter(labeler=labeler).order_by(*ORDER)
                  .values_list("pair__query__external_id", "pair__document__external_id", "grade")
                  .iterator(chunk_size=chunk_size))
        for qid, docid, grade in graded:
            yield {"qid": qid, "docid": docid, "grade": grade}
        return
    rows = (
        ModelLabel.objects.filter(labeler=labeler)
        .order_by(*ORDER)
        .values_list(
            "pair__query__external_id", "pair__document__external_id", "grade", "expected_grade", "distribution"
        )
        .iterator(chunk_size=chunk_size)
    )
    for qid, docid, grade, expected, distribution in rows:
        yield {"qid": qid, "docid": docid, "grade": grade, "expected_grade": expected, "distribution": distribution}


def qrels_export(*, rows: Iterable[QrelRow], out: Path | str | TextIO, fmt: str = "trec") -> int:
    """Write rows in `fmt`; returns how many. A path is written all or nothing (a temporary
    file renamed at the end), so a failed export never leaves half a qrels file behind."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if not isinstance(out, (str, Path)):
        return _write(rows, out, fmt)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            count = _write(rows, fh, fmt)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write(rows: Iterable[QrelRow], out: TextIO, fmt: str) -> int:
    count = 0
    for text, is_row in _texts(rows, fmt):
        out.write(text)
        count += is_row
    return count


def qrels_stream(*, rows: Iterable[QrelRow], fmt: str = "trec") -> Iterator[str]:
    """The export as text pieces, as the rows arrive (a streamed HTTP response)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    for text, _ in _texts(rows, fmt):
        yield text


class _Line:
    """A file-like sink for csv.writer that hands back what one call wrote."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def take(self) -> str:
        text, self.text = self.text, ""
        return text


def _texts(rows: Iterable[QrelRow], fmt: str) -> Iterator[tuple[str, bool]]:
    """(text, whether it is a row rather than a header) per piece of the export."""
    writer = None
    line = _Line()
    for row in rows:
        if fmt == "trec":
            yield _trec_line(row), True
        elif fmt == "jsonl":
            yield json.dumps(row, ensure_ascii=False) + "\n", True
        else:
            if writer is None:
                writer = csv.DictWriter(line, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
                yield line.take(), False
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
            yield line.take(), True
    if fmt == "csv" and writer is None:  # no rows: still a header
        csv.writer(line, lineterminator="\n").writerow(["qid", "docid", "grade"])
        yield line.take(), False


def _trec_line(row: QrelRow) -> str:
    qid, docid = str(row["qid"]), str(row["docid"])
    # TREC columns are whitespace separated: such an id would shift every column after it.
    if not qid or not docid or SPACE.search(qid) or SPACE.search(docid):
        name, value = ("qid", qid) if not qid or SPACE.search(qid) else ("docid", docid)
        raise ValueError(f"{name} {value!r} is empty or holds whitespace; export as jsonl or csv instead")
    return f"{qid} Q0 {docid} {row['grade']}\n"
