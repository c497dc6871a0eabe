"""Checks for single values, so every importer words its errors the same way."""

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ImportFileError
from .limits import MAX_NESTING


class Located:
    """Where a record came from, to raise errors that name the file and line."""

    def __init__(self, path: Path, line: int | None):
        self.path, self.line = path, line

    def error(self, field: str | None, message: str) -> ImportFileError:
        return ImportFileError(self.path, self.line, field, message)

    def __str__(self) -> str:
        return f"line {self.line}" if self.line else str(self.path)


def pick(record: Mapping[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    """The first of several accepted names that is present: (name, value), or (None, None)."""
    for name in names:
        if record.get(name) is not None:
            return name, record[name]
    return None, None


def text_value(at: Located, field: str, value: Any, *, max_length: int | None = None, required: bool = False) -> str:
    if value is None:
        value = ""
    if isinstance(value, float) and not math.isfinite(value):
        raise at.error(field, f"expected text, found the number {value}")
    # Numbers are fine as ids or titles (JSON docids are often integers), and so are YAML's dates.
    if not isinstance(value, (str, int, float, dt.date)) or isinstance(value, bool):
        raise at.error(field, f"expected text, found {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    if max_length is not None and len(text) > max_length:
        raise at.error(field, f"is {len(text):,} characters long, at most {max_length:,} allowed")
    check_characters(at, field, text)
    if required and not text.strip():
        raise at.error(field, "is empty")
    return text


def check_characters(at: Located, field: str, text: str) -> None:
    """Refuse what a database refuses: NUL (PostgreSQL) and lone surrogates (not Unicode text;
    JSON's "\\ud800" makes one, and neither database driver can encode it)."""
    if "\x00" in text:
        raise at.error(field, "contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise at.error(field, f"contains a lone surrogate (U+{code:04X}) at character {exc.start + 1}") from None


def identifier(at: Located, field: str, value: Any) -> str:
    if value is None or value == "":
        raise at.error(field, "missing")
    return text_value(at, field, value, max_length=255, required=True).strip()


def url_value(at: Located, field: str, value: Any, *, max_length: int) -> str:
    """An absolute http(s) URL or nothing: a document's URL becomes a link, and `javascript:`
    (browsers ignore case, tabs and newlines in it) or `data:` would run in the page."""
    url = text_value(at, field, value, max_length=max_length).strip()
    if not url:
        return ""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):  # a space is fine: intranet paths have them
        raise at.error(field, f"URL {url[:80]!r} contains a control character")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise at.error(field, f"bad URL {url[:80]!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise at.error(field, f"URL {url[:80]!r} is not an absolute http or https URL")
    return url


def datetime_value(at: Located, field: str, value: Any) -> dt.datetime | None:
    """ISO 8601 date or datetime (or the date/datetime YAML makes of one); naive means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            example = "2025-03-31 or 2025-03-31T14:00:00Z"
            raise at.error(field, f"bad date {value[:80]!r} (expected ISO 8601, e.g. {example})") from None
    else:
        raise at.error(field, f"bad date {value!r} (expected an ISO 8601 string)")
    try:  # stored in UTC: year 1 at +14:00 has no UTC time
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except OverflowError:
        raise at.error(field, f"date {value!s:.80} is out of range") from None


GRADE = re.compile(r"-?[0-9]{1,9}")  # ASCII digits: '٣' and '+1' are typing mistakes, not grades


def grade_value(at: Located, field: str, value: str, *, low: int, high: int) -> int:
    if not GRADE.fullmatch(value):
        raise at.error(field, f"grade {value[:20]!r} is not an integer (digits 0-9)")
    grade = int(value)
    if not low <= grade <= high:
        raise at.error(field, f"grade {grade} outside {low}-{high}")
    return grade


def extra_value(at: Callable[[str], Located], values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a record has beyond the Document fields, as JSON (None values dropped);
    `at(key)` locates a key (front matter keys have lines of their own)."""
    extra = {}
    for key, value in values.items():
        if value is not None:
            name = str(key)
            check_characters(at(name), name, name)
            extra[name] = json_value(at(name), name, value)
    return extra


def json_value(at: Located, field: str, value: Any, depth: int = 0) -> Any:
    """A value a JSON column stores on every database: YAML's dates become ISO text and its sets
    sorted lists; NaN, infinities, bytes and nesting past MAX_NESTING are refused."""
    if depth > MAX_NESTING:
        raise at.error(field, f"nested more than {MAX_NESTING} levels deep")
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise at.error(field, f"{value} is not a JSON number (NaN and infinities are refused)")
        return value
    if isinstance(value, str):
        check_characters(at, field, value)
        return value
    if isinstance(value, dt.date):  # datetimes included
        return value.isoformat()
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            name = str(key)
            check_characters(at, field, name)
            items[name] = json_value(at, field, item, depth + 1)
        return items
    if isinstance(value, (list, tuple)):
        return [json_value(at, field, item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_value(at, field, item, depth + 1) for item in value), key=repr)
    raise at.error(field, f"expected text, a number, a list or a mapping, found {type(value).__name__}")
