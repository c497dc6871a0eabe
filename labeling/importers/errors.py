"""The one error every importer raises for bad input."""

from pathlib import Path


class ImportFileError(ValueError):
    """Bad input, located: the message names the file, the line and (where known) the field."""

    def __init__(self, path: Path | str, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field, self.detail = str(path), line, field, message
        where = self.path + (f", line {line}" if line else "") + (f", field '{field}'" if field else "")
        super().__init__(printable(f"{where}: {message}"))


def printable(text: str) -> str:
    """Text any terminal or database takes: a lone surrogate (from a file name that is not
    UTF-8, or a JSON escape) is written as its escape rather than failing the write."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
