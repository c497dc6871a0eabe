"""Safe text for the grading page: guidelines in Markdown without raw HTML, and a document's
text as written (Markdown and HTML rendered, then sanitized by nh3; plain text escaped) with
the query's terms highlighted."""

import functools
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import markdown
import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from labeling.stopwords import STOPWORDS

SAFE_SCHEMES = {"", "http", "https", "mailto"}
DOCUMENT_TEXT_LIMIT = 200_000  # characters shown; longer documents are cut with a note
TITLE_LIMIT = 1_000  # characters of a title shown
QUERY_TEXT_LIMIT = 500  # characters of a query shown (and highlighted); longer ones are cut with a note
MAX_TERM_LENGTH = 64  # a longer "word" in a query is not a term anyone searches for: never highlighted
WORD = re.compile(r"\w+")
HTTP_SCHEMES = {"http", "https"}
URL_LIMIT = 2_000  # a longer URL is shown as text, never as a link


class _SafeLinks(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not _safe_url(value):
                    del element.attrib[attribute]


def _url_parts(url: str) -> SplitResult | None:
    """`url` split as a browser would read its scheme, or None if it cannot be. Browsers drop
    tabs and newlines anywhere and controls around a URL ("JaVa\tScRiPt:"); dropping every
    space and control first errs on the safe side."""
    cleaned = "".join(c for c in url if not (c.isspace() or unicodedata.category(c).startswith("C")))
    try:
        return urlsplit(cleaned)
    except ValueError:
        return None


def _safe_url(url: str) -> bool:
    parts = _url_parts(url)
    return parts is not None and parts.scheme.lower() in SAFE_SCHEMES


class _NoRawHtml(Extension):
    """Raw HTML is shown as text, and links keep only http(s), mailto and relative URLs."""

    def extendMarkdown(self, md):
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


@functools.lru_cache(maxsize=256)
def markdown_safe(text: str) -> SafeString:
    """Cached: the grading page renders its benchmark's guidelines on every load, and a Markdown
    converter is slow to build."""
    html = markdown.markdown(text or "", extensions=[_NoRawHtml(), "tables", "sane_lists", "fenced_code"])
    return mark_safe(html)  # raw HTML is escaped by _NoRawHtml


def _stem(token: str) -> str:
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3]
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def query_terms(query: str) -> list[str]:
    """The query's words worth marking: no stopwords, crudely stemmed (a prefix match then
    finds "report" in "reports" and "reporting"), longest first."""
    tokens = {t for t in re.findall(r"\w+", query.lower()) if t not in STOPWORDS and (len(t) > 1 or t.isdigit())}
    return sorted({_stem(t) for t in tokens}, key=lambda t: (-len(t), t))


def _starts_with_term(word: str, terms: frozenset[str], lengths: list[int]) -> bool:
    """Does `word` start with one of `terms` (whose lengths, ascending, are `lengths`)?"""
    word = word.lower()
    for n in lengths:
        if n > len(word):
            return False
        if word[:n] in terms:
            return True
    return False


def highlight(text: str, query: str, *, limit: int | None = None) -> SafeString:
    """`text` escaped, with each word that starts with a query term wrapped in <mark>.

    Linear in the text: each word is looked up by its prefixes of the terms' lengths in a set
    (one regular expression alternating over the terms tried every term at every word: a
    100k-word query over the shown text took 54 s). Matching runs on the raw text and each
    piece is escaped on its own, so a term can never match inside an entity the escaping made
    (a query for "amp" and the text "&")."""
    text = text or ""
    if limit is not None and len(text) > limit:
        text = text[:limit]
    terms = frozenset(t for t in query_terms(query or "") if len(t) <= MAX_TERM_LENGTH)
    if not terms:
        return mark_safe(escape(text))
    lengths = sorted({len(t) for t in terms})
    out: list[str] = []
    pos = 0
    for match in WORD.finditer(text):
        if _starts_with_term(match.group(0), terms, lengths):
            out.append(escape(text[pos:match.start()]))
            out.append(f"<mark>{escape(match.group(0))}</mark>")
            pos = match.end()
    out.append(escape(text[pos:]))
    return mark_safe("".join(out))


@dataclass(frozen=True)
class Shown:
    """What a page shows of a text that may be huge: a bounded prefix, as HTML, and a note
    saying how much was left out (empty when nothing was)."""

    html: SafeString
    length: int  # characters in the whole text
    shown: int  # characters shown

    @property
    def note(self) -> str:
        if self.shown >= self.length:
            return ""
        return f"only the first {self.shown:,} of its {self.length:,} characters are shown."


def text_shown(text: str, *, query: str = "", limit: int) -> Shown:
    """The first `limit` characters of `text`, escaped, the terms of `query` marked. Terms come
    from the part of the query a page shows (QUERY_TEXT_LIMIT): what the reader can see."""
    text = text or ""
    html = highlight(text, (query or "")[:QUERY_TEXT_LIMIT], limit=limit) if query else escape(text[:limit])
    return Shown(mark_safe(html), len(text), min(len(text), limit))


def http_url(url: str) -> str | None:
    """`url` if it is an absolute http(s) URL, else None: a document's link is rendered live only
    then (never javascript:, data: or a link relative to this site)."""
    parts = _url_parts(url) if url and len(url) <= URL_LIMIT else None
    return url if parts is not None and parts.scheme.lower() in HTTP_SCHEMES and parts.netloc else None


# --- documents as written ----------------------------------------------------------------------

MARKDOWN, HTML, TEXT = "markdown", "html", "text"
FORMAT_NAMES = {"markdown": MARKDOWN, "md": MARKDOWN, "text/markdown": MARKDOWN, "html": HTML, "text/html": HTML,
                "text": TEXT, "plain": TEXT, "txt": TEXT, "text/plain": TEXT}
SUFFIX_FORMATS = {"md": MARKDOWN, "markdown": MARKDOWN, "html": HTML, "htm": HTML}
LOOKS_LIKE_HTML = re.compile(r"<(?:p|div|h[1-6]|ul|ol|table|br|a|b|strong|em|span|pre|code|article|section)\b", re.I)
# What a document may keep: structure and emphasis. No images, media, frames, forms, styles or
# scripts (no remote loads, nothing runs); links only to absolute http(s) URLs.
DOCUMENT_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "small", "span", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
DOCUMENT_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"},
                       "th": {"colspan", "rowspan"}, "ol": {"start"}}
TAG_OR_ENTITY = re.compile(r"(<[^>]*>|&#?\w+;)")


def document_format(*, path: str = "", extra: object = None, text: str = "") -> str:
    """How a document is written: its `format` (or `content_type`) metadata if it names one,
    else its path's suffix (.md, .markdown; .html only if the text still holds tags: the folder
    importer keeps an HTML file's text, not its markup); plain text otherwise."""
    if isinstance(extra, dict):
        named = str(extra.get("format") or extra.get("content_type") or "").strip().lower()
        if named in FORMAT_NAMES:
            return FORMAT_NAMES[named]
    suffix = path.rsplit(".", 1)[-1].lower() if "." in (path or "") else ""
    found = SUFFIX_FORMATS.get(suffix, TEXT)
    if found == HTML and not LOOKS_LIKE_HTML.search(text[:5000]):
        return TEXT
    return found


def _http_href(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return value if http_url(value) else None
    return value


def html_sanitized(html: str) -> str:
    """`html` with only DOCUMENT_TAGS and their attributes kept; scripts and styles dropped with
    their content; links absolute http(s) only, opened apart (noopener, no referrer)."""
    return nh3.clean(
        html, tags=DOCUMENT_TAGS, attributes=DOCUMENT_ATTRIBUTES, clean_content_tags={"script", "style"},
        url_schemes=HTTP_SCHEMES, url_relative="deny", attribute_filter=_http_href,
        link_rel="noopener noreferrer nofollow", set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def highlight_html(html: str, query: str) -> str:
    """Sanitized `html` with each word that starts with a query term wrapped in <mark>: only
    the text between tags is touched, and never an entity (escaped text holds no < > or &)."""
    terms = frozenset(t for t in query_terms(query or "") if len(t) <= MAX_TERM_LENGTH)
    if not terms:
        return html
    lengths = sorted({len(t) for t in terms})
    out: list[str] = []
    for piece in TAG_OR_ENTITY.split(html):
        if not piece or piece[0] in "<&":
            out.append(piece)
            continue
        pos = 0
        for match in WORD.finditer(piece):
            if _starts_with_term(match.group(0), terms, lengths):
                out.append(piece[pos:match.start()])
                out.append(f"<mark>{match.group(0)}</mark>")
                pos = match.end()
        out.append(piece[pos:])
    return "".join(out)


def document_shown(text: str, *, format: str, query: str = "", limit: int, highlight_terms: bool = True) -> Shown:
    """The first `limit` characters of a document as written: Markdown or HTML rendered and
    sanitized (html_sanitized), plain text escaped; the query's terms marked unless
    `highlight_terms` is off."""
    text = text or ""
    terms = (query or "")[:QUERY_TEXT_LIMIT] if highlight_terms else ""
    if format == TEXT:
        return text_shown(text, query=terms, limit=limit)
    cut = text[:limit]
    html = markdown.markdown(cut, extensions=["tables", "sane_lists", "fenced_code"]) if format == MARKDOWN else cut
    html = highlight_html(html_sanitized(html), terms)
    return Shown(mark_safe(html), len(text), min(len(text), limit))  # sanitized by nh3 above
