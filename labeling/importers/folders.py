"""A folder of .txt, .md and .html files to document records.

Markdown and text files may start with YAML front matter; HTML files carry their metadata
in <title> and <meta name=... content=...>. The external id is the path relative to the
folder, so re-importing the same folder updates in place.
"""

import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from .errors import ImportFileError
from .readers import decode_file

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES

HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
YAML_KEY = re.compile(r"^([^\s#:][^:]*):")


def folder_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, path relative to root with forward slashes), sorted, hidden entries skipped.
    os.walk rather than a sorted rglob, so a huge folder is never listed in memory at once."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            file = Path(folder, name)
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                yield file, file.relative_to(root).as_posix()


def file_record(file: Path) -> tuple[dict[str, Any], dict[str, int], str]:
    """(metadata, line of each metadata key, text) of one file."""
    content = decode_file(file, file.read_bytes())
    if file.suffix.lower() in HTML_SUFFIXES:
        return html_record(content)
    meta, lines, body = front_matter(file, content)
    if "title" not in meta and (heading := HEADING.search(body)):
        meta["title"] = heading.group(1)[:500]  # derived, so cut to the column rather than refused
    return meta, lines, body.strip()


def front_matter(file: Path, content: str) -> tuple[dict[str, Any], dict[str, int], str]:
    """YAML between a first line '---' and the next '---' (or '...'); none is fine."""
    lines = content.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, {}, content
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:  # a leading horizontal rule, not front matter
        return {}, {}, content
    source = "".join(lines[1:end])
    try:
        meta = yaml.safe_load(source) or {}
    except ValueError:
        # An impossible date (2025-13-45) fails inside PyYAML without a position: read again
        # with dates as text, so the date check names the key and its line.
        meta = yaml.load(source, Loader=_TextDatesLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problem = getattr(exc, "problem", None) or exc
        raise ImportFileError(file, line, "front matter", f"bad YAML ({problem})") from None
    if not isinstance(meta, dict):
        raise ImportFileError(file, 2, "front matter", "expected 'key: value' lines")
    key_lines = {m.group(1).strip(): i + 1 for i in range(1, end) if (m := YAML_KEY.match(lines[i]))}
    return {str(k): v for k, v in meta.items()}, key_lines, "".join(lines[end + 1:])


class _TextDatesLoader(yaml.SafeLoader):
    """safe_load's loader, minus the implicit date and datetime conversion."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


BLOCKS = {
    "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article",
    "header", "footer", "main", "aside", "nav", "blockquote", "pre", "figure", "figcaption",
    "h1", "h2", "h3", "h4", "h5", "h6", "body", "form", "details", "summary",
}
HIDDEN = {"script", "style", "head", "title", "template", "noscript", "svg"}


class _VisibleText(HTMLParser):
    """Visible text, one paragraph per block element; <title>, the first <h1> and named
    <meta> tags on the side."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.run: list[str] = []
        self.hidden = 0
        self.capture: str | None = None  # "title" or "h1" while inside the first of them
        self.captured: dict[str, list[str]] = {}
        self.meta: dict[str, Any] = {}
        self.lines: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            attributes = dict(attrs)
            name, content = (attributes.get("name") or "").strip().lower(), attributes.get("content")
            if name and content is not None:
                self.meta[name] = content
                self.lines[name] = self.getpos()[0]
            return
        if tag in ("title", "h1") and tag not in self.captured:
            self.capture, self.captured[tag] = tag, []
            self.lines[tag] = self.getpos()[0]
        if tag in HIDDEN:
            self.hidden += 1
        if tag in BLOCKS:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta" or tag in BLOCKS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == self.capture:
            self.capture = None
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.capture:
            self.captured[self.capture].append(data)
        if not self.hidden:
            self.run.append(data)

    def flush(self) -> None:
        if text := " ".join("".join(self.run).split()):
            self.blocks.append(text)
        self.run = []


def html_record(content: str) -> tuple[dict[str, Any], dict[str, int], str]:
    parser = _VisibleText()
    parser.feed(content)
    parser.close()
    parser.flush()
    meta = dict(parser.meta)
    # <title> first, then <meta name="title">, then the first <h1>.
    for tag in ("title", "h1"):
        title = " ".join("".join(parser.captured.get(tag, [])).split())
        if title and (tag == "title" or "title" not in meta):
            meta["title"] = title
            parser.lines["title"] = parser.lines[tag]
            break
    return meta, parser.lines, "\n\n".join(parser.blocks)
