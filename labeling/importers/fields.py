"""Checks for single values, so every importer words its errors the same way."""

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ImportFileError


class Located:
    """Where a record came from, to raise errors that name the file and line."""

    def __init__(self, path: Path, line: int | None):
        self.path, self.line = path, line

    def error(self, field: str | None, message: str) -> ImportFileError:
        return ImportFileError(self.path, self.line, field, message)


def pick(record: Mapping[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    """The first of several accepted names that is present: (name, value), or (None, None)."""
    for name in names:
        if record.get(name) is not None:
            return name, record[name]
    return None, None


def text_value(at: Located, field: str, value: Any, *, max_length: int | None = None, required: bool = False) -> str:
    if value is None:
        value = ""
    if isinstance(value, (dict, list, bool)):
        raise at.error(field, f"expected text, found {type(value).__name__}")
    # Numbers are fine as ids or titles (JSON docids are often integers).
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise at.error(field, "contains a NUL character")  # PostgreSQL refuses them
    if required and not text.strip():
        raise at.error(field, "is empty")
    if max_length is not None and len(text) > max_length:
        raise at.error(field, f"is {len(text)} characters long, at most {max_length} allowed")
    return text


def identifier(at: Located, field: str, value: Any) -> str:
    if value is None or value == "":
        raise at.error(field, "missing")
    return text_value(at, field, value, max_length=255, required=True).strip()


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
            raise at.error(field, f"bad date {value!r} (expected ISO 8601, e.g. {example})") from None
    else:
        raise at.error(field, f"bad date {value!r} (expected an ISO 8601 string)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


GRADE = re.compile(r"[+-]?\d+")


def grade_value(at: Located, field: str, value: str, *, low: int, high: int) -> int:
    if not GRADE.fullmatch(value):
        raise at.error(field, f"grade {value!r} is not an integer")
    grade = int(value)
    if not low <= grade <= high:
        raise at.error(field, f"grade {grade} outside {low}-{high}")
    return grade


def extra_value(at: Located, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a record has beyond the Document fields, as JSON (None values dropped)."""
    extra = {str(k): json_safe(v) for k, v in values.items() if v is not None}
    for key, value in extra.items():
        if _has_nul(key) or _has_nul(value):
            raise at.error(key, "contains a NUL character")  # PostgreSQL's jsonb refuses them
    return extra


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def json_safe(value: Any) -> Any:
    """YAML hands back dates and sets; Document.extra stores JSON."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return value
