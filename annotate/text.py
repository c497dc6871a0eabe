"""Safe text for the grading page: guidelines in Markdown without raw HTML, and a document's
text with the query's terms highlighted (escaped first, then marked)."""

import functools
import re
import unicodedata
from urllib.parse import urlsplit

import markdown
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

SAFE_SCHEMES = {"", "http", "https", "mailto"}
STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "how", "i", "in", "is", "it", "of",
        "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which", "who", "why", "will",
        "with", "my", "our", "me", "we", "you", "your", "do", "does", "did", "can",
    ]
)
DOCUMENT_TEXT_LIMIT = 200_000  # characters shown; longer documents are cut with a note


class _SafeLinks(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not _safe_url(value):
                    del element.attrib[attribute]


def _safe_url(url: str) -> bool:
    # Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
    cleaned = "".join(c for c in url if not (c.isspace() or unicodedata.category(c).startswith("C")))
    try:
        return urlsplit(cleaned).scheme.lower() in SAFE_SCHEMES
    except ValueError:
        return False


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


def highlight(text: str, query: str, *, limit: int | None = None) -> SafeString:
    """`text` escaped, with each word that starts with a query term wrapped in <mark>.

    Matching runs on the raw text and each piece is escaped on its own, so a term can never
    match inside an entity the escaping made (a query for "amp" and the text "&")."""
    text = text or ""
    if limit is not None and len(text) > limit:
        text = text[:limit]
    terms = query_terms(query or "")
    if not terms:
        return mark_safe(escape(text))
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, terms)) + r")\w*", re.IGNORECASE)
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append(escape(text[pos:match.start()]))
        out.append(f"<mark>{escape(match.group(0))}</mark>")
        pos = match.end()
    out.append(escape(text[pos:]))
    return mark_safe("".join(out))
