"""Files to numbered records: every reader reads bytes and decodes line by line, so a bad
byte, bad JSON or a short row is reported with its line number, and memory stays constant."""

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ImportFileError

BOM = "\ufeff"
# csv refuses fields over 128 KiB by default; a document body can be longer.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def decode(path: Path, raw: bytes, line: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        raise ImportFileError(path, line, None, f"not valid UTF-8 ({where})") from None
    return text.removeprefix(BOM) if line == 1 else text


def decode_file(path: Path, raw: bytes) -> str:
    """A whole small file (a folder's document), with the line of a bad byte."""
    try:
        return raw.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(path, line, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None


def raw_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with its line end); CRLF and LF both fine."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            yield number, decode(path, raw, number)


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for every non-blank line, line end removed."""
    for number, text in raw_lines(path):
        text = text.rstrip("\r\n")
        if text.strip():
            yield number, text


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(path, number, None, f"bad JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise ImportFileError(path, number, None, f"expected a JSON object, found {type(record).__name__}")
        yield number, record


def table_records(path: Path, *, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV/TSV file with a header, as dicts; the number is the row's first line."""
    reader = csv.reader((text for _, text in raw_lines(path)), delimiter=delimiter)
    header: list[str] | None = None
    start = 1
    try:
        for row in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                missing = header[len(row)] if len(row) < len(header) else None
                raise ImportFileError(
                    path, number, missing, f"expected {len(header)} columns as in the header, found {len(row)}"
                )
            yield number, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise ImportFileError(path, reader.line_num, None, f"bad {path.suffix[1:].upper()} ({exc})") from None
