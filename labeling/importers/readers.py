"""Files to numbered records: every reader reads bytes and decodes line by line, so a bad
byte, bad JSON or a short row is reported with its line number, and memory stays bounded
(limits.py: no line, record or file past MAX_RECORD_BYTES is held)."""

import csv
import json
import math
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from .errors import ImportFileError
from .limits import MAX_INTEGER_DIGITS, MAX_RECORD_BYTES, MAX_RECORD_LINES, MIB

BOM = "\ufeff"
# csv refuses fields over 128 KiB by default; a document body can be longer (records are
# bounded by MAX_RECORD_BYTES below instead).
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def open_regular(path: Path, *, follow_links: bool = True) -> BinaryIO:
    """A regular file opened for reading; anything else (a FIFO, a device, a folder) is refused
    without blocking: O_NONBLOCK, so opening a FIFO with no writer returns at once."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImportFileError(path, None, None, "no such file") from None
    except OSError as exc:
        raise ImportFileError(path, None, None, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ImportFileError(path, None, None, "not a regular file (a FIFO, device or folder)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(path: Path, *, follow_links: bool = True) -> bytes:
    """A whole regular file (a folder's document), at most MAX_RECORD_BYTES."""
    chunks, size = [], 0
    with open_regular(path, follow_links=follow_links) as fh:
        # In chunks: read(MAX_RECORD_BYTES + 1) would allocate 16 MiB for every small file.
        while size <= MAX_RECORD_BYTES and (chunk := fh.read(min(MIB, MAX_RECORD_BYTES + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    if size > MAX_RECORD_BYTES:
        raise ImportFileError(path, None, None, f"file is over {MAX_RECORD_BYTES // MIB} MiB")
    return b"".join(chunks)


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
    """(line number, text with its line end); CRLF and LF both fine; a line is at most
    MAX_RECORD_BYTES (a file with no line ends is not read whole into memory)."""
    with open_regular(path) as fh:
        number = 0
        while raw := fh.readline(MAX_RECORD_BYTES + 1):
            number += 1
            if len(raw) > MAX_RECORD_BYTES:
                raise ImportFileError(path, number, None, f"line is over {MAX_RECORD_BYTES // MIB} MiB long")
            yield number, decode(path, raw, number)


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for every non-blank line, line end removed."""
    for number, text in raw_lines(path):
        text = text.rstrip("\r\n")
        if text.strip():
            yield number, text


def json_record(path: Path, number: int, text: str) -> Any:
    """One line of JSON, strictly: NaN and Infinity (which jsonb refuses), numbers past float
    or MAX_INTEGER_DIGITS, a key given twice, or nesting past the parser's stack are located errors."""

    def refuse(message: str) -> NoReturn:
        raise ImportFileError(path, number, None, message)

    def constant(name: str) -> NoReturn:
        refuse(f"{name} is not a JSON number (NaN and Infinity are refused)")

    def real(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            refuse(f"number {literal[:40]} is out of range")
        return value

    def integer(literal: str) -> int:
        if len(literal) > MAX_INTEGER_DIGITS:
            refuse(f"a number of {len(literal)} digits (at most {MAX_INTEGER_DIGITS})")
        return int(literal)

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        if len(record) < len(pairs):
            refuse(f"key {_first_repeat(key for key, _ in pairs)!r} appears twice in one object")
        return record

    try:
        return json.loads(text, parse_constant=constant, parse_float=real, parse_int=integer, object_pairs_hook=mapping)
    except json.JSONDecodeError as exc:
        refuse(f"bad JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        refuse("bad JSON (nested too deeply)")


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in lines(path):
        record = json_record(path, number, text)
        if not isinstance(record, dict):
            raise ImportFileError(path, number, None, f"expected a JSON object, found {type(record).__name__}")
        yield number, record


def table_records(path: Path, *, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV/TSV file with a header, as dicts; the number is the row's first line.

    Strict quoting: a quote that never closes, or text after a closing quote, is an error at the
    line its record starts on, not a field that swallows the rest of the file. A record is at
    most MAX_RECORD_LINES lines and MAX_RECORD_BYTES characters.
    """
    kind = path.suffix[1:].upper()
    record = {"start": 1, "size": 0}  # the record being read: its first line, its characters so far

    def physical_lines() -> Iterator[str]:
        for number, text in raw_lines(path):
            record["size"] += len(text)
            if number - record["start"] >= MAX_RECORD_LINES or record["size"] > MAX_RECORD_BYTES:
                span = f"{MAX_RECORD_LINES:,} lines" if number - record["start"] >= MAX_RECORD_LINES else (
                    f"{MAX_RECORD_BYTES // MIB} MiB")
                raise ImportFileError(
                    path, record["start"], None, f"a {kind} record starting on this line runs past {span} "
                    "(a quote left open?)"
                )
            yield text

    reader = csv.reader(physical_lines(), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    try:
        for row in reader:
            number = record["start"]
            record["start"], record["size"] = reader.line_num + 1, 0
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                if len(set(header)) < len(header):
                    twice = _first_repeat(header)
                    raise ImportFileError(path, number, twice, "column appears twice in the header")
                continue
            if len(row) != len(header):
                missing = header[len(row)] if len(row) < len(header) else None
                raise ImportFileError(
                    path, number, missing, f"expected {len(header)} columns as in the header, found {len(row)}"
                )
            yield number, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise ImportFileError(
                path, record["start"], None, f"bad {kind}: a quote opened in the record starting on this line "
                "never closes"
            ) from None
        raise ImportFileError(path, reader.line_num, None, f"bad {kind} ({exc})") from None


def _first_repeat(names: Iterable[str]) -> str:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    raise ValueError("no name repeats")
