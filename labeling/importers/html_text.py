"""The visible text and metadata of an HTML file, in one linear pass.

Not html.parser: on Python 3.11.7 it is quadratic on some malformed input (80 kB of an unclosed
'<a' repeated takes 3 s, so a 16 MiB file would take days) and raises AssertionError on '<!['.
This tokenizer follows HTML5 where it matters for text: a tag, comment or declaration left open
at the end of the file ends the document (nothing is scanned twice); <script> and <style> are
raw text up to their end tag; character references are decoded with html.unescape.
"""

import html
import re
from typing import Any

BLOCKS = {
    "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article",
    "header", "footer", "main", "aside", "nav", "blockquote", "pre", "figure", "figcaption",
    "h1", "h2", "h3", "h4", "h5", "h6", "body", "form", "details", "summary",
}
HIDDEN = {"script", "style", "head", "title", "template", "noscript", "svg"}
RAW_TEXT = {"script", "style"}  # their content is text up to the end tag, never markup

WS = re.compile(r"[\t\n\f\r ]*")
WS_SLASH = re.compile(r"[\t\n\f\r /]*")
TAG_OPEN = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)")
ATTRIBUTE_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r /=>]*")
UNQUOTED_VALUE = re.compile(r"[^\t\n\f\r >]*")
RAW_TEXT_END = {tag: re.compile(rf"</{tag}[\t\n\f\r />]", re.IGNORECASE) for tag in RAW_TEXT}


class _VisibleText:
    """Visible text, one paragraph per block element; <title>, the first <h1> and named
    <meta> tags on the side."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.run: list[str] = []
        self.hidden = 0
        self.capture: str | None = None  # "title" or "h1" while inside the first of them
        self.captured: dict[str, list[str]] = {}
        self.meta: dict[str, Any] = {}
        self.lines: dict[str, int] = {}

    def start(self, tag: str, attrs: dict[str, str], line: int) -> None:
        if tag == "meta":
            name, content = (attrs.get("name") or "").strip().lower(), attrs.get("content")
            if name and content is not None:
                self.meta[name] = content
                self.lines[name] = line
            return
        if tag in ("title", "h1") and tag not in self.captured:
            self.capture, self.captured[tag] = tag, []
            self.lines[tag] = line
        if tag in HIDDEN:
            self.hidden += 1
        if tag in BLOCKS:
            self.flush()

    def end(self, tag: str) -> None:
        if tag == self.capture:
            self.capture = None
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in BLOCKS:
            self.flush()

    def data(self, data: str) -> None:
        if self.capture:
            self.captured[self.capture].append(data)
        if not self.hidden:
            self.run.append(data)

    def flush(self) -> None:
        if text := " ".join("".join(self.run).split()):
            self.blocks.append(text)
        self.run = []


def _skip(pattern: re.Pattern[str], content: str, i: int) -> int:
    """Where a match of `pattern` (one that may be empty) at `i` ends."""
    match = pattern.match(content, i)
    return match.end() if match else i


def _tokenize(content: str, out: _VisibleText) -> None:
    """Feed `out` the start tags, end tags and text of `content`; every position is read once."""
    n, i = len(content), 0
    line, counted = 1, 0  # the line number at position `counted`, advanced lazily

    def line_at(position: int) -> int:
        nonlocal line, counted
        line += content.count("\n", counted, position)
        counted = position
        return line

    while i < n:
        lt = content.find("<", i)
        if lt < 0:
            out.data(html.unescape(content[i:]))
            return
        if lt > i:
            out.data(html.unescape(content[i:lt]))
        i = lt
        if content.startswith("<!--", i):
            if content.startswith((">", "->"), i + 4):
                i += 5 if content[i + 4] == ">" else 6  # <!--> and <!---> are empty comments
                continue
            end = content.find("-->", i + 4)
            if end < 0:
                return  # a comment left open runs to the end of the file
            i = end + 3
            continue
        if content.startswith(("<!", "<?"), i) or (content.startswith("</", i) and not TAG_OPEN.match(content, i)):
            end = content.find(">", i + 2)
            if end < 0:
                return
            i = end + 1  # a declaration, processing instruction or '</ ...>': ignored
            continue
        tag = TAG_OPEN.match(content, i)
        if not tag:
            out.data("<")  # a '<' that starts no tag is text
            i += 1
            continue
        closing, name, start_line = tag.group(1), tag.group(2).lower(), line_at(i)
        i = tag.end()
        attrs: dict[str, str] = {}
        self_closing = False
        while True:
            i = _skip(WS_SLASH, content, i)
            if i >= n:
                return  # a tag left open at the end of the file is dropped
            if content[i] == ">":
                self_closing = content[i - 1] == "/"
                i += 1
                break
            attribute = ATTRIBUTE_NAME.match(content, i)
            assert attribute  # content[i] is none of whitespace, '/' and '>'
            i = _skip(WS, content, attribute.end())
            value = ""
            if content.startswith("=", i):
                i = _skip(WS, content, i + 1)
                if i < n and content[i] in "\"'":
                    close = content.find(content[i], i + 1)
                    if close < 0:
                        return
                    value, i = content[i + 1:close], close + 1
                else:
                    end = _skip(UNQUOTED_VALUE, content, i)
                    value, i = content[i:end], end
            attrs.setdefault(attribute.group().lower(), html.unescape(value))  # the first one counts
        if closing:
            out.end(name)
            continue
        if self_closing:  # <br/>, <meta .../>: no content, and no end tag to come
            if name == "meta" or name in BLOCKS:
                out.start(name, attrs, start_line)
            continue
        out.start(name, attrs, start_line)
        if name in RAW_TEXT:
            end_tag = RAW_TEXT_END[name].search(content, i)
            if not end_tag:
                return
            out.data(content[i:end_tag.start()])  # hidden: <script> and <style> are in HIDDEN
            i = end_tag.start()


def html_record(content: str) -> tuple[dict[str, Any], dict[str, int], str]:
    """(metadata, line of each metadata key, visible text) of an HTML document."""
    parser = _VisibleText()
    _tokenize(content, parser)
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
